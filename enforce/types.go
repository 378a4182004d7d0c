package enforce

import (
	"context"
	"fmt"

	"github.com/schemaproxy/schemaproxy/enforce/payload"
	"github.com/twmb/franz-go/pkg/sr"
)

// Mode says how much of a record part (key or value) is checked.
type Mode string

// Modes.
const (
	ModeOff     Mode = "off"     // not checked
	ModeID      Mode = "id"      // the schema ID must be registered under the subject
	ModePayload Mode = "payload" // as id, and the payload must decode against the schema
)

// Strategy names the subject a record part's schema must be registered under.
type Strategy string

// Subject-name strategies, as Confluent's serializers name them.
const (
	StrategyTopic       Strategy = "topic"        // <topic>-key | <topic>-value
	StrategyRecord      Strategy = "record"       // <fully-qualified record name>
	StrategyTopicRecord Strategy = "topic_record" // <topic>-<fully-qualified record name>
)

// Format is the wire format that carries a record part's schema reference.
type Format string

// Formats.
const (
	// FormatConfluent: a payload prefix of magic 0 and a 4-byte big-endian
	// schema ID (Protobuf message indexes follow), or Confluent's
	// header-based ID: a __value_schema_id / __key_schema_id header of
	// magic 1 and a 16-byte GUID, with an unprefixed payload.
	FormatConfluent Format = "confluent"
)

// WireFormat says where a record part may carry its schema reference.
type WireFormat string

// Wire formats.
const (
	// WireFormatAny accepts either a payload prefix or a schema-ID header
	// (the default). A consumer whose deserializer ignores headers then
	// reads a header-carried record as raw bytes without a magic prefix
	// and fails with "unknown magic byte".
	WireFormatAny    WireFormat = "any"
	WireFormatPrefix WireFormat = "prefix" // magic 0 + ID in the payload; a schema-ID header is refused
	WireFormatHeader WireFormat = "header" // a schema-ID header; a part without one is refused
)

// OnFailure says what happens to a record that fails its check.
type OnFailure string

// Failure actions.
const (
	OnFailureReject OnFailure = "reject" // INVALID_RECORD for its partition
	OnFailureLog    OnFailure = "log"    // forward it; count and log (rate-limited)
)

// Scope says how much of a Produce request a rejection fails.
type Scope string

// Rejection scopes.
const (
	ScopePartition Scope = "partition" // only the partition with the bad record (brokers do the same)
	ScopeRequest   Scope = "request"   // every partition of the request
)

// Unavailable says what happens to a record whose schema the registry
// cannot be asked about (down, slow, 5xx) and that the cache cannot judge.
type Unavailable string

// Actions when the registry cannot answer.
const (
	UnavailableRetry  Unavailable = "retry"  // a retriable error: the producer retries (default)
	UnavailableReject Unavailable = "reject" // INVALID_RECORD (fail closed, data is lost)
	UnavailableAllow  Unavailable = "allow"  // forward unchecked (fail open)
)

// PartRule is the check for one record part, key or value.
type PartRule struct {
	Mode     Mode
	Strategy Strategy
	Format   Format
	// WireFormat says whether the reference must be a payload prefix, a
	// schema-ID header, or either (default any).
	WireFormat WireFormat
	AllowNull  bool // a null part (a tombstone, for values) passes without a schema ID
	// UnknownFields says whether, in mode payload, a Protobuf payload may
	// carry field numbers its message does not declare (default reject).
	UnknownFields UnknownFields
}

// UnknownFields says what mode payload does with Protobuf field numbers
// the message does not declare.
type UnknownFields string

// Unknown-field actions.
const (
	UnknownFieldsReject UnknownFields = "reject" // the payload is invalid (default)
	UnknownFieldsAllow  UnknownFields = "allow"  // skipped, as Protobuf parsers keep them
)

// Rule is the policy for one topic.
type Rule struct {
	Pattern   string // the rule's topic pattern that matched, or "defaults"
	Key       PartRule
	Value     PartRule
	OnFailure OnFailure
}

// Schema is what the proxy needs of a registered schema. Immutable.
type Schema struct {
	ID         int
	GUID       string // empty when the registry does not report one
	Type       sr.SchemaType
	Text       string
	References []sr.SchemaReference
	names      recordNamer
	compile    func() (payload.Validator, error) // once; nil for schemas not built by a registry
}

// Validator returns the schema's payload validator, compiled on first use
// and kept for the schema's life in the cache, or why it cannot be built.
func (s *Schema) Validator() (payload.Validator, error) {
	if s.compile == nil {
		return nil, fmt.Errorf("%w: schema id %d was not parsed", payload.ErrUnsupported, s.ID)
	}
	return s.compile()
}

// recordNamer resolves the fully-qualified record name a record uses, for
// the record and topic_record strategies. For Protobuf, indexes are the
// message indexes from the wire; other types ignore them.
type recordNamer interface {
	RecordName(indexes []int) (string, error)
}

// RecordName returns the fully-qualified record name selected by indexes
// (Avro: the top-level named type; Protobuf: the message the indexes
// select; JSON Schema: the title).
func (s *Schema) RecordName(indexes []int) (string, error) {
	if s.names == nil {
		return "", ErrNoRecordName
	}
	return s.names.RecordName(indexes)
}

// Registry answers the questions the Enforcer asks of a schema registry.
// Implementations cache; all methods are safe for concurrent use. Errors
// that mean "could not ask" wrap ErrRegistryUnavailable; a definite "no
// such schema" is ErrUnknownSchema.
type Registry interface {
	// SchemaByID returns the schema with this ID.
	SchemaByID(ctx context.Context, id int) (*Schema, error)
	// SchemaByGUID returns the schema with this GUID (Confluent header IDs).
	SchemaByGUID(ctx context.Context, guid string) (*Schema, error)
	// InSubject reports whether schema id is registered (not deleted)
	// under subject. A false answer has been checked live, not only cached.
	InSubject(ctx context.Context, id int, subject string) (bool, error)
}
