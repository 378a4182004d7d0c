package protocol

import (
	"errors"
	"fmt"
)

var (
	// ErrNegativeSize is returned for a size prefix below zero.
	ErrNegativeSize = errors.New("negative frame size")
	// ErrShortHeader is returned when a frame ends inside its header.
	ErrShortHeader = errors.New("frame ends inside its header")
	// ErrUnknownAPI is returned when kmsg knows no request for an api key.
	ErrUnknownAPI = errors.New("unknown api key")
	// ErrUnsupportedVersion is returned for a version above what kmsg can decode.
	ErrUnsupportedVersion = errors.New("unsupported api version")
)

// SizeError describes a size prefix that cannot start a Kafka frame. Cause,
// when not empty, is a guess at what the peer really is ("an HTTP client",
// "a TLS handshake on a plaintext port").
type SizeError struct {
	Size  int32  // the size prefix as read
	Limit int32  // the limit in force
	Raw   []byte // the four prefix bytes
	Cause string // a guess at the cause; may be empty
}

func (e *SizeError) Error() string {
	var msg string
	switch {
	case e.Size < 0:
		msg = fmt.Sprintf("negative frame size %d", e.Size)
	case e.Size > e.Limit:
		msg = fmt.Sprintf("frame size %d exceeds limit %d", e.Size, e.Limit)
	default:
		// Within the limit, but the bytes are recognisably not Kafka.
		msg = fmt.Sprintf("size prefix % x is not a Kafka frame", e.Raw)
	}
	if e.Cause != "" {
		msg += ": " + e.Cause
	}
	return msg
}

// Unwrap lets errors.Is(err, ErrNegativeSize) match negative sizes.
func (e *SizeError) Unwrap() error {
	if e.Size < 0 {
		return ErrNegativeSize
	}
	return nil
}

// Batch error reasons.
const (
	// ReasonCorrupt: the bytes contradict themselves (CRC, lengths).
	ReasonCorrupt = "corrupt"
	// ReasonInvalid: well-formed, but not something a client may produce.
	ReasonInvalid = "invalid"
	// ReasonTooLarge: decompression would exceed the configured cap.
	ReasonTooLarge = "too_large"
)

// BatchError describes a record batch that cannot be accepted.
type BatchError struct {
	Reason string // ReasonCorrupt, ReasonInvalid or ReasonTooLarge
	Index  int    // the record concerned (its batch_index); -1 when the batch as a whole is at fault
	Msg    string // what is wrong, without the record's index
}

// Error reads like "record 2: offset delta 3, want 2 ..." for a record,
// and is Msg alone for the batch.
func (e *BatchError) Error() string {
	if e.Index < 0 {
		return e.Msg
	}
	return fmt.Sprintf("record %d: %s", e.Index, e.Msg)
}
