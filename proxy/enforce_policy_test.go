package proxy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/protocol"
)

// The topic policy decides what is checked and how, end to end: on_failure
// log forwards and counts; mode off passes anything; internal topics are
// not checked unless a rule names them; keys are checked against
// <topic>-key; the record and topic_record strategies look the schema up
// under its Avro record name.
func TestEnforcePolicy(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	order := reg.Avro(t, "checked-value", orderAvro).ID
	reg.Avro(t, "keyed-value", orderAvro)
	reg.Avro(t, "__audit-value", orderAvro)
	key := reg.Avro(t, "keyed-key", keyAvro).ID
	reg.Avro(t, "com.shop.Order", orderAvro)
	reg.Avro(t, "by-topic-record-com.shop.Order", orderAvro)
	// Refund is registered under the topic strategy's subjects only.
	refund := reg.Avro(t, "by-record-value", refundAvro).ID
	reg.Avro(t, "by-topic-record-value", refundAvro)

	topics := []string{"checked", "logged", "raw-bytes", "_schemas", "__internal_thing", "__audit", "keyed", "by-record", "by-topic-record"}
	e := enforced(t, reg, `
rules:
  - topics: ["logged"]
    on_failure: log
  - topics: ["raw-*"]
    value: {mode: off}
  - topics: ["__audit"]
    value: {mode: id}
  - topics: ["keyed"]
    key: {mode: id, strategy: topic, allow_null: false}
  - topics: ["by-record"]
    value: {strategy: record}
  - topics: ["by-topic-record"]
    value: {strategy: topic_record}
`, kfake.SeedTopics(1, topics...))
	cl := e.Client(t)

	produce := func(t *testing.T, topic string, key, value []byte) error {
		t.Helper()
		return produceSync(t, cl, &kgo.Record{Topic: topic, Key: key, Value: value})
	}
	// rejection sends one record raw on Produce v9 and returns the
	// partition message of the INVALID_RECORD it must get.
	rejection := func(t *testing.T, topic string, key, value []byte) string {
		t.Helper()
		raw := leaderRaw(t, e, topic)
		p := onlyPartition(t, raw.roundTrip(rawProduce(9, -1, part{topic, 0,
			enforcetest.Batch(protocol.CodecNone, enforcetest.Rec{Key: key, Value: value})})))
		if p.ErrorCode != kerr.InvalidRecord.Code || p.ErrorMessage == nil {
			t.Fatalf("%s: code %d (%v), message %v; want INVALID_RECORD with a message", topic, p.ErrorCode, kerr.ErrorForCode(p.ErrorCode), p.ErrorMessage)
		}
		return *p.ErrorMessage
	}
	wantIn := func(t *testing.T, what, msg string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: message %q does not mention %q", what, msg, w)
			}
		}
	}

	t.Run("default rule checks", func(t *testing.T) {
		if err := produce(t, "checked", nil, []byte("garbage")); !isInvalidRecord(err) {
			t.Errorf("garbage on a checked topic: %v, want INVALID_RECORD", err)
		}
		wantLanded(t, e, "checked", 0)
	})

	t.Run("on_failure log", func(t *testing.T) {
		if err := produce(t, "logged", nil, []byte("garbage")); err != nil {
			t.Errorf("on_failure: log: %v, want the record forwarded", err)
		}
		if err := produce(t, "logged", nil, framed(order+1000, "unknown")); err != nil {
			t.Errorf("on_failure: log: %v, want the record forwarded", err)
		}
		wantLanded(t, e, "logged", 0, "garbage", "unknown")
		if got := metricSum(t, e.Metrics, "schemaproxy_rejections_total", "topic", "logged", "reason", "no_schema_id"); got != 1 {
			t.Errorf("rejections_total{topic=logged,reason=no_schema_id} = %v, want 1", got)
		}
		if got := metricSum(t, e.Metrics, "schemaproxy_rejections_total", "topic", "logged", "reason", "unknown_schema_id"); got != 1 {
			t.Errorf("rejections_total{topic=logged,reason=unknown_schema_id} = %v, want 1", got)
		}
	})

	t.Run("mode off", func(t *testing.T) {
		if err := produce(t, "raw-bytes", nil, []byte("garbage")); err != nil {
			t.Errorf("mode off: %v, want the record forwarded", err)
		}
		wantLanded(t, e, "raw-bytes", 0, "garbage")
	})

	t.Run("internal topics", func(t *testing.T) {
		if err := produce(t, "__internal_thing", nil, []byte("garbage")); err != nil {
			t.Errorf("internal topic __internal_thing: %v, want it unchecked", err)
		}
		wantLanded(t, e, "__internal_thing", 0, "garbage")
		// _schemas is protected by default (protected_topics), so not
		// written at all.
		if err := produce(t, "_schemas", nil, []byte("garbage")); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("_schemas: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		wantLanded(t, e, "_schemas", 0)
		// A rule naming an internal topic exactly applies to it.
		wantIn(t, "__audit", rejection(t, "__audit", nil, []byte("garbage")), "__audit[0]", "no_schema_id")
		if err := produce(t, "__audit", nil, framed(order, "ok")); err != nil {
			t.Errorf("valid record on __audit: %v", err)
		}
		wantLanded(t, e, "__audit", 0, "ok")
	})

	t.Run("key strategy topic", func(t *testing.T) {
		if err := produce(t, "keyed", framed(key, "k"), framed(order, "ok")); err != nil {
			t.Errorf("key registered under keyed-key: %v", err)
		}
		// The value's schema is registered under keyed-value, not keyed-key.
		wantIn(t, "key with the value's schema", rejection(t, "keyed", framed(order, "k"), framed(order, "v")),
			"keyed[0]", "record 0", "key schema id", "subject keyed-key", "wrong_subject")
		wantIn(t, "null key", rejection(t, "keyed", nil, framed(order, "v")), "keyed[0]", "key is null", "null_not_allowed")
		// The value is still checked against keyed-value.
		wantIn(t, "value with the key's schema", rejection(t, "keyed", framed(key, "k"), framed(key, "v")),
			"value schema id", "subject keyed-value", "wrong_subject")
		wantLanded(t, e, "keyed", 0, "ok")
	})

	t.Run("strategy record", func(t *testing.T) {
		if err := produce(t, "by-record", nil, framed(order, "ok")); err != nil {
			t.Errorf("Order under com.shop.Order: %v", err)
		}
		wantIn(t, "Refund", rejection(t, "by-record", nil, framed(refund, "r")),
			"by-record[0]", "subject com.shop.Refund", "wrong_subject")
		wantLanded(t, e, "by-record", 0, "ok")
	})

	t.Run("strategy topic_record", func(t *testing.T) {
		if err := produce(t, "by-topic-record", nil, framed(order, "ok")); err != nil {
			t.Errorf("Order under by-topic-record-com.shop.Order: %v", err)
		}
		wantIn(t, "Refund", rejection(t, "by-topic-record", nil, framed(refund, "r")),
			"by-topic-record[0]", "subject by-topic-record-com.shop.Refund", "wrong_subject")
		wantLanded(t, e, "by-topic-record", 0, "ok")
	})
}
