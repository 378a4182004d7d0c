package proxy_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
)

// A rule's wire_format through the proxy: under prefix a record whose
// schema ID is in a __value_schema_id header is refused with
// INVALID_RECORD while a prefixed one lands; under the default (any) the
// same header record lands, so the refusal is the wire format's alone.
func TestEnforceWireFormat(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	ss := reg.Avro(t, "wf-value", orderAvro)
	inHeader := func() *kgo.Record {
		return &kgo.Record{
			Value:   append(append([]byte(nil), avroBody...), "hdr"...),
			Headers: []kgo.RecordHeader{{Key: enforcetest.ValueSchemaIDHeader, Value: enforcetest.GUIDHeader(ss.GUID)}},
		}
	}

	t.Run("prefix", func(t *testing.T) {
		t.Parallel()
		e := enforced(t, reg, "rules: [{topics: [wf], value: {wire_format: prefix}}]", kfake.SeedTopics(1, "wf"))
		ctx := waitCtx(t)
		cl := e.Client(t, kgo.DefaultProduceTopic("wf"))
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: framed(ss.ID, "pre")}).FirstErr(); err != nil {
			t.Fatalf("prefixed record: %v, want it to land", err)
		}
		if err := cl.ProduceSync(ctx, inHeader()).FirstErr(); !isInvalidRecord(err) {
			t.Errorf("record with a schema-ID header: got %v, want INVALID_RECORD", err)
		}
		wantLanded(t, e, "wf", 0, "pre")
		if n := counter(t, e, "schemaproxy_rejections_total", "reason", "wire_format"); n != 1 {
			t.Errorf("rejections with reason wire_format: got %v, want 1", n)
		}
	})
	t.Run("any", func(t *testing.T) {
		t.Parallel()
		e := enforced(t, reg, "", kfake.SeedTopics(1, "wf"))
		ctx := waitCtx(t)
		cl := e.Client(t, kgo.DefaultProduceTopic("wf"))
		if err := cl.ProduceSync(ctx, inHeader()).FirstErr(); err != nil {
			t.Errorf("record with a schema-ID header under wire_format any: got %v, want it to land", err)
		}
		if n := len(landedTags(t, e, "wf", 0)); n != 1 {
			t.Errorf("wf/0 holds %d records, want 1", n)
		}
	})
}
