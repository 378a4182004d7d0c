package proxy_test

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
)

// payloadOrder encodes an Order (orderAvro) whose id is tag: a payload
// that decodes exactly, unlike framed's, which has the tag trailing.
func payloadOrder(id int, tag string) []byte {
	body := protowire.AppendVarint(nil, protowire.EncodeZigZag(int64(len(tag))))
	return enforcetest.Value(id, append(body, tag...))
}

// In mode payload, records whose bytes decode against their schema land;
// a record with the right schema ID but bytes that do not decode gets its
// partition INVALID_RECORD naming the record, the schema and the field,
// and the other partitions of the same request land (PV-01).
func TestEnforcePayloadMode(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	order := reg.Avro(t, "orders-value", orderAvro).ID
	invoice := reg.Protobuf(t, "invoices-value", `syntax = "proto3"; package shop; message Invoice { string id = 1; int64 cents = 2; }`).ID
	payment := reg.JSON(t, "payments-value", `{"title":"Payment","type":"object","properties":{"amount":{"type":"number","minimum":0}},"required":["amount"]}`).ID
	e := enforced(t, reg, `defaults: {value: {mode: payload}}`, kfake.NumBrokers(1), kfake.SeedTopics(2, "orders", "invoices", "payments"))

	t.Run("kgo", func(t *testing.T) {
		cl := e.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
		inv := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "inv-1")
		good := []*kgo.Record{
			{Topic: "orders", Partition: 0, Value: payloadOrder(order, "o-1")},
			{Topic: "invoices", Partition: 0, Value: enforcetest.ProtobufValue(invoice, []int{0}, inv)},
			{Topic: "payments", Partition: 0, Value: enforcetest.Value(payment, []byte(`{"amount": 3}`))},
		}
		if err := produceSync(t, cl, good...); err != nil {
			t.Fatalf("valid records: %v", err)
		}
		bad := map[string][]byte{
			"orders":   append(payloadOrder(order, "o-2"), 0), // a trailing byte
			"invoices": enforcetest.ProtobufValue(invoice, []int{0}, protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 7)),
			"payments": enforcetest.Value(payment, []byte(`{"amount": -3}`)),
		}
		for topic, v := range bad {
			if err := produceSync(t, cl, &kgo.Record{Topic: topic, Partition: 0, Value: v}); !isInvalidRecord(err) {
				t.Errorf("%s: produce error %v, want INVALID_RECORD", topic, err)
			}
		}
		for _, r := range good {
			got := landed(t, e, r.Topic, 0)
			if len(got) != 1 || !bytes.Equal(got[0].Value, r.Value) {
				t.Errorf("%s/0 holds %d records, want exactly the valid one", r.Topic, len(got))
			}
		}
	})

	t.Run("raw, partition scope", func(t *testing.T) {
		raw := leaderRaw(t, e, "orders")
		for i, v := range []int16{3, 8, 12} {
			tag := strconv.Itoa(i)
			good := valueBatch(payloadOrder(order, "a"+tag), payloadOrder(order, "b"+tag))
			bad := valueBatch(payloadOrder(order, "c"+tag), payloadOrder(order, "d"+tag)[:7])
			resp := raw.roundTrip(rawProduce(v, -1, part{"orders", 0, good}, part{"orders", 1, bad}))
			parts := produced(t, resp)["orders"]
			if p := parts[0]; p.ErrorCode != 0 {
				t.Errorf("v%d: valid partition got error %d", v, p.ErrorCode)
			}
			wantRejected(t, v, parts[1], []int32{1}, "orders[1]", "record 1", "value does not match schema id "+strconv.Itoa(order), "payload_invalid")
		}
		if n := len(landed(t, e, "orders", 1)); n != 0 {
			t.Errorf("orders/1 holds %d records, want none", n)
		}
	})
}
