// Package console produces single records and reads records back, so
// that schemaproxy can be tried by hand with nothing but its own binary:
// "schemaproxy produce" and "schemaproxy consume" are thin over it.
//
// Produce sends each record in a Produce request of its own, straight to
// the partition's leader, so that a refusal comes back with the broker's
// (or the proxy's) error message, which franz-go's producer does not
// expose. It does not batch, compress, or produce idempotently, and it
// retries only errors Kafka calls retriable. Consume reads without a
// group and commits nothing. Nothing here is for throughput.
package console
