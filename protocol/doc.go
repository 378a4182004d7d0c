// Package protocol reads and writes the Kafka wire formats that schemaproxy
// needs on its data path: the int32 size prefix and pooled frame buffers,
// request headers v0-v2 and response headers v0-v1 chosen per (api key,
// version) exactly as Kafka chooses them, the acks field of a Produce
// request, strict magic-2 record batches and their records, and capped
// decompression of gzip, snappy, lz4 and zstd batches.
//
// It deliberately does not define per-version message structs: message
// bodies are decoded and encoded with github.com/twmb/franz-go/pkg/kmsg, and
// varints read with kbin. Codecs come from klauspost/compress and
// pierrec/lz4. Nothing here does I/O beyond reading a size prefix, and
// nothing here imports other schemaproxy packages.
package protocol
