package enforce

import (
	"errors"
	"fmt"
)

var (
	// ErrRegistryUnavailable wraps every error that means the registry
	// could not be asked (connection refused, timeout, HTTP 5xx).
	ErrRegistryUnavailable = errors.New("schema registry unavailable")
	// ErrLookupRefused means a record was not judged because asking the
	// registry would pass a bound (the request's or the connection's
	// look-up budget, or the process's registry requests in flight). It
	// is always answered with a retriable error, whatever the policy says
	// for an unavailable registry: it is neither an outage (forwarding
	// unchecked would let anyone past the bound skip the check) nor a
	// verdict (an honest burst of new schemas must pass on retry).
	ErrLookupRefused = errors.New("schema registry look-up refused")
	// ErrUnknownSchema means the registry answered that no such schema exists.
	ErrUnknownSchema = errors.New("schema not found in registry")
	// ErrNoRecordName means a schema has no record name (for example an
	// Avro primitive, or a JSON Schema without a title).
	ErrNoRecordName = errors.New("schema has no record name")
)

// transient reports whether err means a question went unanswered (the
// registry could not answer, or was not asked for a bound), as opposed to
// an answer: nothing derived from it may be cached.
func transient(err error) bool {
	return errors.Is(err, ErrRegistryUnavailable) || errors.Is(err, ErrLookupRefused)
}

// Reason classifies a rejection; its values are the reason label of
// schemaproxy_rejections_total and never grow at run time.
type Reason string

// Rejection reasons.
const (
	ReasonBatchCorrupt   Reason = "batch_corrupt" // CRC, lengths or varints contradict themselves
	ReasonBatchInvalid   Reason = "batch_invalid" // well-formed but not producible (magic, control, two batches)
	ReasonTooLarge       Reason = "decompressed_too_large"
	ReasonNoSchemaID     Reason = "no_schema_id"      // no wire-format header where one is required
	ReasonBadHeader      Reason = "bad_schema_header" // malformed or duplicate schema-ID header
	ReasonNullNotAllowed Reason = "null_not_allowed"
	ReasonUnknownID      Reason = "unknown_schema_id"
	ReasonWrongSubject   Reason = "wrong_subject"
	ReasonNoRecordName   Reason = "no_record_name"
	ReasonBadIndexes     Reason = "bad_message_indexes"
	ReasonPayload        Reason = "payload_invalid"      // mode payload: the bytes do not decode as the schema
	ReasonSchemaUnusable Reason = "schema_unusable"      // mode payload: the schema cannot be compiled into a validator
	ReasonUnavailable    Reason = "registry_unavailable" // only with the reject action for outages
	ReasonWireFormat     Reason = "wire_format"          // a prefix where the rule wants a header, or the reverse
)

// Reasons lists every Reason, for metrics that pre-create their series.
var Reasons = []Reason{ReasonBatchCorrupt, ReasonBatchInvalid, ReasonTooLarge, ReasonNoSchemaID,
	ReasonBadHeader, ReasonNullNotAllowed, ReasonUnknownID, ReasonWrongSubject, ReasonNoRecordName,
	ReasonBadIndexes, ReasonPayload, ReasonSchemaUnusable, ReasonUnavailable, ReasonWireFormat}

// ValidationError is a record, or a batch, that may not reach the broker.
type ValidationError struct {
	Topic     string
	Partition int32
	Index     int    // the record's index in its batch; -1 when the batch itself is at fault
	Part      string // "key" or "value"; empty for batch errors
	SchemaID  int    // 0 when none was read
	Subject   string // empty when no subject was involved
	Reason    Reason
	Detail    string
	// Records lists every record of the batch that failed its check, in
	// order, the first being this error's; at most MaxRecordErrors. Empty
	// when the batch itself is at fault.
	Records []RecordError
}

// MaxRecordErrors bounds how many failing records one rejection lists.
const MaxRecordErrors = 100

// RecordError is one failing record of a rejected batch.
type RecordError struct {
	Index   int    // position in the batch (the Produce response's batch_index)
	Message string // as ValidationError.Error
}

// Error reads like "record 3: value schema id 7 is not registered under
// subject orders-value"; the topic and partition are left to the caller's
// context (Produce responses are already per partition).
func (e *ValidationError) Error() string {
	if e.Index < 0 {
		return "record batch: " + e.Detail
	}
	return fmt.Sprintf("record %d: %s", e.Index, e.Detail)
}
