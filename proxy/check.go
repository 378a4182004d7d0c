package proxy

import (
	"context"

	"github.com/schemaproxy/schemaproxy/enforce"
)

// Checker judges the records of Produce partitions before they are
// forwarded; *enforce.Enforcer is the implementation.
type Checker interface {
	// Check returns nil to forward the partition, a *enforce.ValidationError
	// to answer INVALID_RECORD, or any other error (registry unavailable)
	// to answer a retriable error so the producer retries. The error is
	// kept, and formatted into the partition's error_message, after Check
	// returns and after records is reused, so it must not alias records.
	Check(ctx context.Context, topic string, partition int32, records []byte) error
	// RejectScope says whether a rejection fails its partition only or
	// the whole request.
	RejectScope() enforce.Scope
	// Protected reports whether clients may not produce to topic, delete
	// it or its records, add partitions to it or change its
	// configuration; HasProtected whether any topic is protected.
	Protected(topic string) bool
	HasProtected() bool
}
