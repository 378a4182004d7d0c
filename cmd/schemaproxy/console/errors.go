package console

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrNoPartitions is returned by Produce when the topic's metadata lists
// no partition.
var ErrNoPartitions = errors.New("topic has no partitions")

// RefusedError is a record the broker, or the proxy answering for it,
// did not take: a non-retriable error code on its partition.
type RefusedError struct {
	Topic     string
	Partition int32
	// Err is the error code's *kerr.Error, such as kerr.InvalidRecord.
	Err error
	// Message is the partition's error_message (Produce v8+), or the
	// first record error's message; empty if the response had none.
	Message string
}

func (e *RefusedError) Error() string {
	code := e.Err.Error()
	var ke *kerr.Error
	if errors.As(e.Err, &ke) {
		code = ke.Message
	}
	if e.Message == "" {
		return fmt.Sprintf("%s[%d]: %s", e.Topic, e.Partition, code)
	}
	return fmt.Sprintf("%s[%d]: %s: %s", e.Topic, e.Partition, code, e.Message)
}

func (e *RefusedError) Unwrap() error { return e.Err }
