// Package enforcetest helps tests of schemaproxy packages that need a
// schema registry or Confluent-framed records: an in-process registry
// (franz-go's srfake) with a client, request counting and fault
// injection; registration of Avro, Protobuf and JSON schemas; and
// builders for the Confluent wire formats and for protocol.Record values.
//
// It does not import package enforce, so enforce's own internal tests can
// use it. Nothing here is for production use: helpers fail the test (or
// panic, for malformed fixtures) instead of returning errors.
package enforcetest

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/schemaproxy/schemaproxy/protocol"
)

// Confluent's schema-ID header names (as enforce.KeySchemaIDHeader and
// enforce.ValueSchemaIDHeader).
const (
	KeySchemaIDHeader   = "__key_schema_id"
	ValueSchemaIDHeader = "__value_schema_id"
)

// Registry is an in-process schema registry for one test: srfake behind
// an httptest server, closed when the test ends. Every request is counted
// before the fault (if any) sees it. Safe for concurrent use.
type Registry struct {
	Fake   *srfake.Registry
	URL    string
	Client *sr.Client

	requests atomic.Int64
	mu       sync.Mutex
	fault    srfake.Interceptor
}

// NewRegistry starts a registry and a client for it.
func NewRegistry(t testing.TB, opts ...srfake.Option) *Registry {
	t.Helper()
	r := &Registry{Fake: srfake.New(opts...)}
	t.Cleanup(r.Fake.Close)
	r.URL = r.Fake.URL()
	r.Fake.Intercept(r.intercept)
	cl, err := sr.NewClient(sr.URLs(r.URL))
	if err != nil {
		t.Fatalf("sr.NewClient(%s): %v", r.URL, err)
	}
	r.Client = cl
	return r
}

func (r *Registry) intercept(w http.ResponseWriter, req *http.Request) bool {
	r.requests.Add(1)
	r.mu.Lock()
	f := r.fault
	r.mu.Unlock()
	return f != nil && f(w, req)
}

// Requests returns how many HTTP requests the registry has received.
func (r *Registry) Requests() int64 { return r.requests.Load() }

// SetFault makes f see every request first (after counting); f returns
// true when it answered. nil removes the fault.
func (r *Registry) SetFault(f srfake.Interceptor) {
	r.mu.Lock()
	r.fault = f
	r.mu.Unlock()
}

// FailWith is a fault that answers every request with HTTP status and a
// registry error body carrying code (for example 500 and 50001, or 404
// and 40403).
func FailWith(status, code int) srfake.Interceptor {
	return func(w http.ResponseWriter, _ *http.Request) bool {
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(sr.ResponseError{ErrorCode: code, Message: http.StatusText(status)})
		return true
	}
}

// Hang is a fault that never answers: it holds each request until the
// client gives up (its context ends), as a registry that stopped
// responding would.
func Hang() srfake.Interceptor {
	return func(_ http.ResponseWriter, req *http.Request) bool {
		<-req.Context().Done()
		return true
	}
}

// Gate is a fault that holds each request until release is closed (or the
// client gives up), then lets the registry answer it.
func Gate(release <-chan struct{}) srfake.Interceptor {
	return func(_ http.ResponseWriter, req *http.Request) bool {
		select {
		case <-release:
			return false
		case <-req.Context().Done():
			return true
		}
	}
}

// Register registers s under subject, as a producer with
// auto.register.schemas would, and returns what the registry stored
// (ID, version, GUID). Registering identical schema text under a second
// subject yields the same ID.
func (r *Registry) Register(t testing.TB, subject string, s sr.Schema) sr.SubjectSchema {
	t.Helper()
	_, version, err := r.Fake.RegisterSchema(subject, s)
	if err != nil {
		t.Fatalf("registering under %s: %v", subject, err)
	}
	ss, ok := r.Fake.GetSchema(subject, version)
	if !ok {
		t.Fatalf("subject %s version %d vanished after registering", subject, version)
	}
	return ss
}

// Avro registers an Avro schema; refs name the subjects whose named types
// it uses.
func (r *Registry) Avro(t testing.TB, subject, schema string, refs ...sr.SchemaReference) sr.SubjectSchema {
	t.Helper()
	return r.Register(t, subject, sr.Schema{Schema: schema, Type: sr.TypeAvro, References: refs})
}

// Protobuf registers a Protobuf schema; each ref's Name is the import path
// it satisfies.
func (r *Registry) Protobuf(t testing.TB, subject, schema string, refs ...sr.SchemaReference) sr.SubjectSchema {
	t.Helper()
	return r.Register(t, subject, sr.Schema{Schema: schema, Type: sr.TypeProtobuf, References: refs})
}

// JSON registers a JSON Schema.
func (r *Registry) JSON(t testing.TB, subject, schema string, refs ...sr.SchemaReference) sr.SubjectSchema {
	t.Helper()
	return r.Register(t, subject, sr.Schema{Schema: schema, Type: sr.TypeJSON, References: refs})
}

// SoftDelete soft-deletes one version of subject through the REST API.
func (r *Registry) SoftDelete(t testing.TB, subject string, version int) {
	t.Helper()
	if err := r.Client.DeleteSchema(context.Background(), subject, version, sr.SoftDelete); err != nil {
		t.Fatalf("soft-deleting %s version %d: %v", subject, version, err)
	}
}

// AppendID appends Confluent's payload prefix: magic 0 and the 4-byte
// big-endian schema ID.
func AppendID(dst []byte, id int) []byte {
	dst = append(dst, 0)
	return binary.BigEndian.AppendUint32(dst, uint32(id))
}

// AppendGUID appends magic 1 and the 16 bytes of guid (8-4-4-4-12 hex, as
// the registry reports it), the content of a schema-ID header or of a
// magic-1 payload prefix. It panics on a malformed guid.
func AppendGUID(dst []byte, guid string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(guid, "-", ""))
	if err != nil || len(b) != 16 {
		panic(fmt.Sprintf("enforcetest: malformed guid %q", guid))
	}
	return append(append(dst, 1), b...)
}

// AppendIndexes appends Protobuf message indexes as Confluent's
// serializers write them: [0] as the single-byte shortcut, otherwise a
// zigzag varint count and zigzag varint indexes.
func AppendIndexes(dst []byte, indexes ...int) []byte {
	if len(indexes) == 1 && indexes[0] == 0 {
		return append(dst, 0)
	}
	dst = binary.AppendVarint(dst, int64(len(indexes)))
	for _, ix := range indexes {
		dst = binary.AppendVarint(dst, int64(ix))
	}
	return dst
}

// Value returns a Confluent-framed Avro or JSON part: magic 0, id, payload.
func Value(id int, payload []byte) []byte {
	return append(AppendID(nil, id), payload...)
}

// ProtobufValue returns a Confluent-framed Protobuf part: magic 0, id,
// message indexes, payload.
func ProtobufValue(id int, indexes []int, payload []byte) []byte {
	return append(AppendIndexes(AppendID(nil, id), indexes...), payload...)
}

// GUIDHeader returns a schema-ID header value: magic 1, the GUID and, for
// Protobuf, the message indexes (pass none for Avro and JSON Schema).
func GUIDHeader(guid string, indexes ...int) []byte {
	b := AppendGUID(nil, guid)
	if len(indexes) > 0 {
		b = AppendIndexes(b, indexes...)
	}
	return b
}

// Header returns a record header; a nil value is a null header.
func Header(key string, value []byte) protocol.Header {
	return protocol.Header{Key: []byte(key), Value: value}
}

// AppendRecord appends one v2 record (length-prefixed, timestamp delta 0)
// to a records section. nil key, value or header value are null.
func AppendRecord(dst []byte, offsetDelta int, key, value []byte, headers ...protocol.Header) []byte {
	var body []byte
	body = append(body, 0)              // attributes
	body = binary.AppendVarint(body, 0) // timestamp delta
	body = binary.AppendVarint(body, int64(offsetDelta))
	body = appendVarBytes(body, key)
	body = appendVarBytes(body, value)
	body = binary.AppendVarint(body, int64(len(headers)))
	for _, h := range headers {
		body = appendVarBytes(body, h.Key)
		body = appendVarBytes(body, h.Value)
	}
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

func appendVarBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	return append(binary.AppendVarint(dst, int64(len(b))), b...)
}

// Record returns the protocol.Record the record iterator yields for a
// record with this key, value and headers. It panics if the iterator
// rejects it.
func Record(key, value []byte, headers ...protocol.Header) protocol.Record {
	it := protocol.NewRecords(AppendRecord(nil, 0, key, value, headers...), 1)
	var r protocol.Record
	if !it.Next(&r) {
		panic(fmt.Sprintf("enforcetest: record iterator rejected the record: %v", it.Err()))
	}
	return r
}
