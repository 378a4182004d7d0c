// Package protocol reads and writes the Kafka wire framing that schemaproxy
// needs on its data path: the int32 size prefix, request headers v0-v2 and
// response headers v0-v1, chosen per (api key, version) exactly as Kafka
// chooses them.
//
// It deliberately does not define per-version message structs: message
// bodies are decoded and encoded with github.com/twmb/franz-go/pkg/kmsg.
// Nothing here does I/O beyond reading a size prefix, and nothing here
// imports other schemaproxy packages.
package protocol
