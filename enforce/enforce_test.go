package enforce_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/protocol"
)

const orderSchema = `{"type":"record","name":"Order","namespace":"com.shop","fields":[{"name":"id","type":"string"}]}`
const otherSchema = `{"type":"record","name":"Other","namespace":"com.shop","fields":[{"name":"n","type":"long"}]}`

func policy(t *testing.T, yaml string) enforce.PolicySource {
	t.Helper()
	if yaml == "" {
		return enforce.FixedPolicy(enforce.DefaultPolicy())
	}
	p, err := enforce.ParsePolicy([]byte(yaml))
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	return enforce.FixedPolicy(p)
}

// fixture is a registry with:
//
//	orders-value:    Order (id order)
//	other-value:     Other (id other)
//	com.shop.Order:  Order (same id as orders-value)
type fixture struct {
	srv          *enforcetest.Registry
	order, other int
	orderGUID    string
	m            *metrics.Metrics
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{srv: enforcetest.NewRegistry(t), m: metrics.New()}
	o := f.srv.Avro(t, "orders-value", orderSchema)
	f.order, f.orderGUID = o.ID, o.GUID
	f.other = f.srv.Avro(t, "other-value", otherSchema).ID
	f.srv.Avro(t, "com.shop.Order", orderSchema)
	f.srv.Avro(t, "orders-com.shop.Order", orderSchema)
	return f
}

func (f *fixture) enforcer(t *testing.T, yaml string) *enforce.Enforcer {
	t.Helper()
	reg := enforce.NewRegistry(f.srv.Client)
	return enforce.New(policy(t, yaml), reg, enforce.WithMetrics(f.m.Enforce))
}

func avroValue(id int) []byte { return enforcetest.Value(id, []byte{0x06, 'a', 'b', 'c'}) }

func recs(vals ...[]byte) []enforcetest.Rec {
	out := make([]enforcetest.Rec, len(vals))
	for i, v := range vals {
		out[i] = enforcetest.Rec{Value: v}
	}
	return out
}

func TestCheck(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ten := func(bad int, badVal []byte) []enforcetest.Rec {
		var r []enforcetest.Rec
		for i := range 10 {
			v := avroValue(f.order)
			if i == bad {
				v = badVal
			}
			r = append(r, enforcetest.Rec{Value: v})
		}
		return r
	}
	corrupt := enforcetest.Batch(protocol.CodecNone, recs(avroValue(f.order))...)
	corrupt[len(corrupt)-1] ^= 0xff
	tests := []struct {
		name    string
		policy  string
		topic   string
		batch   []byte
		reason  enforce.Reason // "" = accepted
		index   int
		subject string
		inMsg   string
	}{
		{name: "valid", topic: "orders", batch: enforcetest.Batch(0, recs(avroValue(f.order))...)},
		{name: "no magic byte", topic: "orders", batch: enforcetest.Batch(0, recs([]byte(`{"id":"x"}`))...), reason: enforce.ReasonNoSchemaID, index: 0},
		{name: "unknown id", topic: "orders", batch: enforcetest.Batch(0, recs(avroValue(99999))...), reason: enforce.ReasonUnknownID, index: 0, inMsg: "schema id 99999 is not registered"},
		{name: "wrong subject", topic: "orders", batch: enforcetest.Batch(0, recs(avroValue(f.other))...), reason: enforce.ReasonWrongSubject, index: 0, subject: "orders-value",
			inMsg: fmt.Sprintf("record 0: value schema id %d is not registered under subject orders-value", f.other)},
		{name: "one bad among ten", topic: "orders", batch: enforcetest.Batch(0, ten(7, avroValue(f.other))...), reason: enforce.ReasonWrongSubject, index: 7, inMsg: "record 7:"},
		{name: "tombstone allowed by default", topic: "orders", batch: enforcetest.Batch(0, enforcetest.Rec{Key: []byte("k")})},
		{name: "tombstone refused", topic: "orders", policy: "defaults: {value: {mode: id, allow_null: false}}", batch: enforcetest.Batch(0, enforcetest.Rec{Key: []byte("k")}), reason: enforce.ReasonNullNotAllowed, index: 0},
		{name: "corrupt batch", topic: "orders", batch: corrupt, reason: enforce.ReasonBatchCorrupt, index: -1},
		{name: "two batches", topic: "orders", batch: append(enforcetest.Batch(0, recs(avroValue(f.order))...), enforcetest.Batch(0, recs(avroValue(f.order))...)...), reason: enforce.ReasonBatchInvalid, index: -1},
		{name: "gzip", topic: "orders", batch: enforcetest.Batch(protocol.CodecGzip, ten(-1, nil)...)},
		{name: "snappy", topic: "orders", batch: enforcetest.Batch(protocol.CodecSnappy, ten(-1, nil)...)},
		{name: "lz4", topic: "orders", batch: enforcetest.Batch(protocol.CodecLZ4, ten(-1, nil)...)},
		{name: "zstd", topic: "orders", batch: enforcetest.Batch(protocol.CodecZstd, ten(-1, nil)...)},
		{name: "lz4 with bad record", topic: "orders", batch: enforcetest.Batch(protocol.CodecLZ4, ten(3, []byte("plain"))...), reason: enforce.ReasonNoSchemaID, index: 3},
		{name: "internal topic unchecked", topic: "__consumer_offsets", batch: enforcetest.Batch(0, recs([]byte("garbage"))...)},
		{name: "schemas topic unchecked", topic: "_schemas", batch: enforcetest.Batch(0, recs([]byte("garbage"))...)},
		{name: "topic off", topic: "logs", policy: "rules: [{topics: [logs], value: {mode: off}}]", batch: enforcetest.Batch(0, recs([]byte("garbage"))...)},
		{name: "record strategy", topic: "orders", policy: "defaults: {value: {strategy: record}}", batch: enforcetest.Batch(0, recs(avroValue(f.order))...)},
		{name: "record strategy wrong", topic: "orders", policy: "defaults: {value: {strategy: record}}", batch: enforcetest.Batch(0, recs(avroValue(f.other))...), reason: enforce.ReasonWrongSubject, index: 0, subject: "com.shop.Other"},
		{name: "topic_record strategy", topic: "orders", policy: "defaults: {value: {strategy: topic_record}}", batch: enforcetest.Batch(0, recs(avroValue(f.order))...)},
		{name: "key checked", topic: "orders", policy: "defaults: {key: {mode: id}}", batch: enforcetest.Batch(0, enforcetest.Rec{Key: avroValue(f.order), Value: avroValue(f.order)}), reason: enforce.ReasonWrongSubject, index: 0, subject: "orders-key"},
		{name: "guid header", topic: "orders", batch: enforcetest.Batch(0, enforcetest.Rec{Value: []byte{0x06, 'a', 'b', 'c'}, Headers: []protocol.Header{enforcetest.Header(enforcetest.ValueSchemaIDHeader, enforcetest.GUIDHeader(f.orderGUID))}})},
		{name: "duplicate guid headers", topic: "orders", batch: enforcetest.Batch(0, enforcetest.Rec{Value: []byte{0x06, 'a', 'b', 'c'}, Headers: []protocol.Header{
			enforcetest.Header(enforcetest.ValueSchemaIDHeader, enforcetest.GUIDHeader(f.orderGUID)),
			enforcetest.Header(enforcetest.ValueSchemaIDHeader, enforcetest.GUIDHeader(f.orderGUID))}}), reason: enforce.ReasonBadHeader, index: 0},
		{name: "guid header with magic 2", topic: "orders", batch: enforcetest.Batch(0, enforcetest.Rec{Value: []byte{0x06, 'a', 'b', 'c'}, Headers: []protocol.Header{
			enforcetest.Header(enforcetest.ValueSchemaIDHeader, append([]byte{2}, enforcetest.GUIDHeader(f.orderGUID)[1:]...))}}),
			reason: enforce.ReasonBadHeader, index: 0, inMsg: "record 0: value schema-id header starts with magic byte 2; want 1 (a guid)"},
		{name: "log instead of reject", topic: "orders", policy: "defaults: {on_failure: log}", batch: enforcetest.Batch(0, recs(avroValue(f.other))...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := f.enforcer(t, tt.policy)
			err := e.Check(context.Background(), tt.topic, 2, tt.batch)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("got %v, want accepted", err)
				}
				return
			}
			var ve *enforce.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a *ValidationError with reason %s", err, tt.reason)
			}
			if ve.Reason != tt.reason || ve.Index != tt.index || ve.Topic != tt.topic || ve.Partition != 2 {
				t.Errorf("got reason %s index %d topic %s partition %d, want %s %d %s 2", ve.Reason, ve.Index, ve.Topic, ve.Partition, tt.reason, tt.index, tt.topic)
			}
			if tt.subject != "" && ve.Subject != tt.subject {
				t.Errorf("subject: got %q, want %q", ve.Subject, tt.subject)
			}
			if tt.inMsg != "" && !strings.Contains(ve.Error(), tt.inMsg) {
				t.Errorf("message: got %q, want it to contain %q", ve.Error(), tt.inMsg)
			}
		})
	}
}

// TestOneRegistryLookupPerSchema: a batch of records sharing a schema asks
// the registry once, and a second batch not at all.
func TestOneRegistryLookupPerSchema(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.enforcer(t, "")
	var many []enforcetest.Rec
	for range 200 {
		many = append(many, enforcetest.Rec{Value: avroValue(f.order)})
	}
	batch := enforcetest.Batch(protocol.CodecLZ4, many...)
	before := f.srv.Requests()
	if err := e.Check(context.Background(), "orders", 0, batch); err != nil {
		t.Fatal(err)
	}
	first := f.srv.Requests() - before
	if first < 1 || first > 2 {
		t.Errorf("first batch: %d registry requests, want 1 or 2 (schema and subject membership)", first)
	}
	if err := e.Check(context.Background(), "orders", 0, batch); err != nil {
		t.Fatal(err)
	}
	if again := f.srv.Requests() - before - first; again != 0 {
		t.Errorf("second batch: %d registry requests, want 0", again)
	}
	if got := testutil.ToFloat64(f.m.Enforce.Validated.WithLabelValues("orders", "accepted")); got != 400 {
		t.Errorf("records_validated_total accepted: got %v, want 400", got)
	}
}

// TestRegistryOutage: with the registry failing, a schema already cached
// is still judged; an unknown one is unavailable (retry), rejected, or
// allowed as the policy says; and nothing is judged invalid for the outage.
func TestRegistryOutage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	cached := enforcetest.Batch(0, recs(avroValue(f.order))...)
	unknown := enforcetest.Batch(0, recs(avroValue(f.other))...)
	tests := []struct {
		policy  string
		wantErr func(error) bool
		desc    string
	}{
		{"", func(err error) bool { return errors.Is(err, enforce.ErrRegistryUnavailable) }, "ErrRegistryUnavailable"},
		{"registry_unavailable: reject", func(err error) bool {
			var ve *enforce.ValidationError
			return errors.As(err, &ve) && ve.Reason == enforce.ReasonUnavailable
		}, "a registry_unavailable rejection"},
		{"registry_unavailable: allow", func(err error) bool { return err == nil }, "nil"},
	}
	for _, tt := range tests {
		e := f.enforcer(t, tt.policy)
		f.srv.SetFault(nil)
		if err := e.Check(ctx, "orders", 0, cached); err != nil {
			t.Fatalf("%q warm-up: %v", tt.policy, err)
		}
		f.srv.SetFault(enforcetest.FailWith(http.StatusInternalServerError, 50001))
		if err := e.Check(ctx, "orders", 0, cached); err != nil {
			t.Errorf("%q: cached schema during outage: got %v, want accepted", tt.policy, err)
		}
		if err := e.Check(ctx, "orders", 0, unknown); !tt.wantErr(err) {
			t.Errorf("%q: uncached schema during outage: got %v, want %s", tt.policy, err, tt.desc)
		}
		f.srv.SetFault(nil)
	}
	// Back up: the record is judged for what it is.
	e := f.enforcer(t, "")
	var ve *enforce.ValidationError
	if err := e.Check(ctx, "orders", 0, unknown); !errors.As(err, &ve) || ve.Reason != enforce.ReasonWrongSubject {
		t.Errorf("after outage: got %v, want wrong_subject", err)
	}
}

func TestRejectionMetrics(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.enforcer(t, "")
	f.m.Enforce.NoteTopic("orders") // as the proxy does when a broker's Metadata lists it
	for range 3 {
		e.Check(context.Background(), "orders", 0, enforcetest.Batch(0, recs(avroValue(99999))...))
		e.Check(context.Background(), "nowhere", 0, enforcetest.Batch(0, recs(avroValue(99999))...))
	}
	if got := testutil.ToFloat64(f.m.Enforce.Rejections.WithLabelValues("orders", string(enforce.ReasonUnknownID))); got != 3 {
		t.Errorf("rejections_total{topic=orders}: got %v, want 3", got)
	}
	// A topic never listed by a broker, none of whose records passed,
	// takes no label.
	if got := testutil.ToFloat64(f.m.Enforce.Rejections.WithLabelValues(metrics.OtherTopic, string(enforce.ReasonUnknownID))); got != 3 {
		t.Errorf("rejections_total{topic=_other}: got %v, want 3", got)
	}
}

// A topic whose records passed a check is known: its later rejections
// count under its own name.
func TestPassedTopicLabelled(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.enforcer(t, "")
	ctx := context.Background()
	bad := enforcetest.Batch(0, recs(avroValue(99999))...)
	e.Check(ctx, "orders", 0, bad)
	if err := e.Check(ctx, "orders", 0, enforcetest.Batch(0, recs(avroValue(f.order))...)); err != nil {
		t.Fatalf("good batch: %v", err)
	}
	e.Check(ctx, "orders", 0, bad)
	for _, w := range []struct {
		topic string
		want  float64
	}{{metrics.OtherTopic, 1}, {"orders", 1}} {
		if got := testutil.ToFloat64(f.m.Enforce.Rejections.WithLabelValues(w.topic, string(enforce.ReasonUnknownID))); got != w.want {
			t.Errorf("rejections_total{topic=%s}: got %v, want %v", w.topic, got, w.want)
		}
	}
}

// TestEveryFailingRecordListed: a rejection lists each failing record, so
// clients that read record_errors (Java, librdkafka) give each its reason.
func TestEveryFailingRecordListed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.enforcer(t, "")
	var rs []enforcetest.Rec
	for i := range 8 {
		v := avroValue(f.order)
		switch i {
		case 2:
			v = avroValue(f.other)
		case 5:
			v = []byte("plain")
		}
		rs = append(rs, enforcetest.Rec{Value: v})
	}
	f.m.Enforce.NoteTopic("orders") // as the proxy does when a broker's Metadata lists it
	err := e.Check(context.Background(), "orders", 0, enforcetest.Batch(protocol.CodecZstd, rs...))
	var ve *enforce.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a *ValidationError", err)
	}
	if ve.Index != 2 || ve.Reason != enforce.ReasonWrongSubject {
		t.Errorf("first failure: got record %d %s, want record 2 wrong_subject", ve.Index, ve.Reason)
	}
	if len(ve.Records) != 2 || ve.Records[0].Index != 2 || ve.Records[1].Index != 5 {
		t.Fatalf("records: got %+v, want records 2 and 5", ve.Records)
	}
	if !strings.HasPrefix(ve.Records[1].Message, "record 5: value ") {
		t.Errorf("record 5 message: got %q", ve.Records[1].Message)
	}
	if got := testutil.ToFloat64(f.m.Enforce.Validated.WithLabelValues("orders", "rejected")); got != 2 {
		t.Errorf("records_validated_total rejected: got %v, want 2", got)
	}
}

// TestCheckOffsetDeltas: a record whose offset delta is not its index is
// refused as batch_invalid and named like any failing record, in
// record_errors after the records that failed before it; record 0 is
// named too, not taken for the batch.
func TestCheckOffsetDeltas(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	good := avroValue(f.order)
	// section encodes one record per value, record i with offset delta deltas[i].
	section := func(deltas []int, vals ...[]byte) []byte {
		var b []byte
		for i, v := range vals {
			b = enforcetest.AppendRecord(b, deltas[i], nil, v)
		}
		return b
	}
	tests := []struct {
		name    string
		codec   int
		deltas  []int
		vals    [][]byte
		reason  enforce.Reason
		index   int
		records []int // record_errors batch_index
	}{
		{"in order", protocol.CodecNone, []int{0, 1, 2}, [][]byte{good, good, good}, "", 0, nil},
		{"one record at delta 3", protocol.CodecNone, []int{3}, [][]byte{good}, enforce.ReasonBatchInvalid, 0, []int{0}},
		{"one record at delta 100000", protocol.CodecNone, []int{100000}, [][]byte{good}, enforce.ReasonBatchInvalid, 0, []int{0}},
		{"starting at 1", protocol.CodecNone, []int{1, 2, 3}, [][]byte{good, good, good}, enforce.ReasonBatchInvalid, 0, []int{0}},
		{"gap", protocol.CodecNone, []int{0, 1, 3}, [][]byte{good, good, good}, enforce.ReasonBatchInvalid, 2, []int{2}},
		{"gap, zstd", protocol.CodecZstd, []int{0, 1, 3}, [][]byte{good, good, good}, enforce.ReasonBatchInvalid, 2, []int{2}},
		{"duplicate, lz4", protocol.CodecLZ4, []int{0, 0, 1}, [][]byte{good, good, good}, enforce.ReasonBatchInvalid, 1, []int{1}},
		{"after a record with no schema id", protocol.CodecNone, []int{0, 1, 3, 3}, [][]byte{good, []byte("plain"), good, good}, enforce.ReasonNoSchemaID, 1, []int{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := f.enforcer(t, "")
			batch := enforcetest.BatchOf(tt.codec, len(tt.vals), section(tt.deltas, tt.vals...))
			err := e.Check(context.Background(), "orders", 0, batch)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("got %v, want accepted", err)
				}
				return
			}
			var ve *enforce.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a *ValidationError with reason %s", err, tt.reason)
			}
			if ve.Reason != tt.reason || ve.Index != tt.index {
				t.Errorf("got reason %s index %d, want %s %d (%v)", ve.Reason, ve.Index, tt.reason, tt.index, err)
			}
			var got []int
			for _, re := range ve.Records {
				got = append(got, re.Index)
				if want := fmt.Sprintf("record %d: ", re.Index); !strings.HasPrefix(re.Message, want) || strings.Contains(re.Message[len(want):], want) {
					t.Errorf("record error %q: want it to start %q, once", re.Message, want)
				}
			}
			if !slices.Equal(got, tt.records) {
				t.Errorf("got record errors at %v, want %v", got, tt.records)
			}
			if n := len(ve.Records); n > 0 && !strings.Contains(ve.Records[n-1].Message, "offset delta") {
				t.Errorf("last record error %q does not name the offset delta", ve.Records[n-1].Message)
			}
		})
	}
}

// TestCheckWireFormat: wire_format prefix refuses a schema-ID header,
// header refuses a part without one, any takes either; nulls still follow
// allow_null.
func TestCheckWireFormat(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	prefixed := enforcetest.Rec{Value: avroValue(f.order)}
	inHeader := enforcetest.Rec{Value: []byte{0x06, 'a', 'b', 'c'}, Headers: []protocol.Header{
		enforcetest.Header(enforcetest.ValueSchemaIDHeader, enforcetest.GUIDHeader(f.orderGUID))}}
	keyInHeader := enforcetest.Rec{Key: []byte{0x06, 'a', 'b', 'c'}, Value: avroValue(f.order), Headers: []protocol.Header{
		enforcetest.Header(enforcetest.KeySchemaIDHeader, enforcetest.GUIDHeader(f.orderGUID))}}
	tombstone := enforcetest.Rec{Key: []byte("k")}
	for _, tc := range []struct {
		name   string
		policy string
		recs   []enforcetest.Rec
		reason enforce.Reason // "" = accepted
		index  int
		inMsg  string
	}{
		{name: "any takes a prefix", recs: []enforcetest.Rec{prefixed}},
		{name: "any takes a header", recs: []enforcetest.Rec{inHeader}},
		{name: "prefix takes a prefix", policy: "defaults: {value: {wire_format: prefix}}", recs: []enforcetest.Rec{prefixed}},
		{name: "prefix refuses a header", policy: "defaults: {value: {wire_format: prefix}}", recs: []enforcetest.Rec{prefixed, inHeader},
			reason: enforce.ReasonWireFormat, index: 1,
			inMsg: "record 1: value carries a __value_schema_id header; the topic's rule wants the schema ID in the payload prefix (wire_format: prefix)"},
		{name: "header takes a header", policy: "rules: [{topics: [orders], value: {wire_format: header}}]", recs: []enforcetest.Rec{inHeader}},
		{name: "header refuses a prefix", policy: "rules: [{topics: [orders], value: {wire_format: header}}]", recs: []enforcetest.Rec{inHeader, prefixed},
			reason: enforce.ReasonWireFormat, index: 1,
			inMsg: "record 1: value has no __value_schema_id header; the topic's rule wants the schema ID in a header (wire_format: header)"},
		{name: "header passes an allowed null", policy: "defaults: {value: {wire_format: header}}", recs: []enforcetest.Rec{tombstone}},
		{name: "header refuses a null not allowed", policy: "defaults: {value: {wire_format: header, allow_null: false}}", recs: []enforcetest.Rec{tombstone},
			reason: enforce.ReasonNullNotAllowed, index: 0},
		{name: "key side prefix refuses a key header", policy: "defaults: {key: {mode: id, wire_format: prefix}}", recs: []enforcetest.Rec{keyInHeader},
			reason: enforce.ReasonWireFormat, index: 0, inMsg: "key carries a __key_schema_id header"},
		{name: "key rule does not apply to values", policy: "defaults: {key: {wire_format: prefix}}", recs: []enforcetest.Rec{inHeader}},
		{name: "mode off ignores wire_format", policy: "defaults: {value: {mode: off, wire_format: header}}", recs: []enforcetest.Rec{prefixed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := f.enforcer(t, tc.policy).Check(context.Background(), "orders", 0, enforcetest.Batch(0, tc.recs...))
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("got %v, want accepted", err)
				}
				return
			}
			var ve *enforce.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a *ValidationError with reason %s", err, tc.reason)
			}
			if ve.Reason != tc.reason || ve.Index != tc.index {
				t.Errorf("got reason %s index %d, want %s %d", ve.Reason, ve.Index, tc.reason, tc.index)
			}
			if tc.inMsg != "" && !strings.Contains(ve.Error(), tc.inMsg) {
				t.Errorf("message: got %q, want it to contain %q", ve.Error(), tc.inMsg)
			}
		})
	}
}
