// Package payload checks that a record payload decodes exactly against
// the writer schema its schema ID names: Avro binary, JSON against a JSON
// Schema, and Protobuf as the message its indexes select.
//
// A Validator is compiled once per schema (with its references already
// resolved by the caller) and is then safe for concurrent use. Validators
// never panic on any input and bound their recursion, because payloads are
// data from the network. The Avro and Protobuf validators allocate nothing
// on a valid payload; the JSON one allocates, since JSON Schema evaluation
// works on a parsed value. The package does not talk to a registry and does not read
// Confluent's wire-format prefix: callers pass the bytes after it (and,
// for Protobuf, the message indexes already split off).
package payload

import (
	"errors"
	"strconv"
)

// Validator checks payloads against one compiled schema.
type Validator interface {
	// Validate returns nil when data decodes exactly as the schema, with
	// no bytes left over, or an *Error saying where it does not. indexes
	// select the Protobuf message (nil or empty: the first top-level
	// message); the other formats ignore them.
	Validate(data []byte, indexes []int, opts Options) error
}

// Options are per-rule choices applied at validation time, so one
// compiled validator serves every rule that names its schema.
type Options struct {
	// AllowUnknownFields lets Protobuf payloads carry field numbers the
	// message does not declare (skipped, as proto3 parsers keep them as
	// unknown fields). The default, false, rejects them: bytes written
	// with the schema they name have none. A known field number with the
	// wrong wire type is always an error.
	AllowUnknownFields bool
}

// MaxDepth bounds the nesting of records, arrays, maps, messages and JSON
// values a payload may use; deeper payloads are errors, not stack overflows.
const MaxDepth = 100

// Error is a payload that does not decode against its schema.
type Error struct {
	// Path points at the field, in the format's own notation: for Avro
	// "field metadata: map value", for JSON "$.amount", for Protobuf
	// "field items[2]: field name". Empty at the top level, except for
	// JSON, where the root is "$".
	Path string
	// Msg says what is wrong there: "union index 7 out of range",
	// "must be >= 0", "wire type 2 for an int32 field".
	Msg string
}

// Error reads "<path>: <msg>", or just msg at the top level.
func (e *Error) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// ErrUnsupported marks a schema the package cannot compile into a
// validator (a construct it does not implement); errors from the New
// functions wrap it or describe an invalid schema.
var ErrUnsupported = errors.New("schema not supported for payload validation")

// nBytes reads "1 byte" or "n bytes", for error messages.
func nBytes(n int) string {
	if n == 1 {
		return "1 byte"
	}
	return strconv.Itoa(n) + " bytes"
}
