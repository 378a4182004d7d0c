package enforce_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/protocol"
)

const (
	addressSchema  = `{"type":"record","name":"Address","namespace":"com.shop","fields":[{"name":"city","type":"string"}]}`
	customerSchema = `{"type":"record","name":"Customer","namespace":"com.shop","fields":[{"name":"name","type":"string"},{"name":"home","type":"com.shop.Address"},{"name":"tier","type":{"type":"enum","name":"Tier","symbols":["BASIC","GOLD"]}}]}`

	amountSchema = `{"$schema":"http://json-schema.org/draft-07/schema#","title":"Payment","type":"object",
		"properties":{"amount":{"type":"number","minimum":0},"payer":{"$ref":"party.json"}},"required":["amount"]}`
	partySchema = `{"type":"object","properties":{"id":{"type":"string"}},"required":["id"]}`

	shopMoneyProto = `syntax = "proto3";
package shop;
message Money { string currency = 1; int64 units = 2; }`
	shopInvoiceProto = `syntax = "proto3";
package shop;
import "shop/money.proto";
import "google/protobuf/timestamp.proto";
message Invoice {
  string id = 1;
  shop.Money total = 2;
  google.protobuf.Timestamp at = 3;
  message Line { string sku = 1; }
}`
)

// payloadFixture registers one schema of each format, each using a
// reference to another subject:
//
//	customers-value  Avro Customer, using com.shop.Address
//	payments-value   JSON Schema Payment, $ref party.json
//	invoices-value   Protobuf shop.Invoice, importing shop/money.proto and a well-known type
type payloadFixture struct {
	*fixture
	customer, payment, invoice int
}

func newPayloadFixture(t *testing.T) *payloadFixture {
	t.Helper()
	f := &payloadFixture{fixture: newFixture(t)}
	f.srv.Avro(t, "com.shop.Address", addressSchema)
	f.customer = f.srv.Avro(t, "customers-value", customerSchema,
		sr.SchemaReference{Name: "com.shop.Address", Subject: "com.shop.Address", Version: 1}).ID
	f.srv.JSON(t, "party", partySchema)
	f.payment = f.srv.JSON(t, "payments-value", amountSchema,
		sr.SchemaReference{Name: "party.json", Subject: "party", Version: 1}).ID
	f.srv.Protobuf(t, "shop/money.proto", shopMoneyProto)
	f.invoice = f.srv.Protobuf(t, "invoices-value", shopInvoiceProto,
		sr.SchemaReference{Name: "shop/money.proto", Subject: "shop/money.proto", Version: 1}).ID
	return f
}

// avroString is an Avro string: zigzag length, then the bytes.
func avroString(s string) []byte {
	return append(protowire.AppendVarint(nil, protowire.EncodeZigZag(int64(len(s)))), s...)
}

func customer(name, city string, tier int) []byte {
	b := append(avroString(name), avroString(city)...)
	return append(b, byte(protowire.EncodeZigZag(int64(tier))))
}

// invoice encodes shop.Invoice{id, total: {currency, units}} plus extra.
func invoice(id string, units int64, extra ...byte) []byte {
	var money []byte
	money = protowire.AppendTag(money, 1, protowire.BytesType)
	money = protowire.AppendString(money, "EUR")
	money = protowire.AppendTag(money, 2, protowire.VarintType)
	money = protowire.AppendVarint(money, uint64(units))
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, id)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, money)
	return append(b, extra...)
}

func TestPayloadMode(t *testing.T) {
	t.Parallel()
	f := newPayloadFixture(t)
	const payloadPolicy = `defaults: {value: {mode: payload}}`
	cust := func(p []byte) []byte { return enforcetest.Value(f.customer, p) }
	pay := func(p string) []byte { return enforcetest.Value(f.payment, []byte(p)) }
	inv := func(p []byte, indexes ...int) []byte {
		if indexes == nil {
			indexes = []int{0}
		}
		return enforcetest.ProtobufValue(f.invoice, indexes, p)
	}
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 1)
	wrongType := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1) // id is a string
	tests := []struct {
		name   string
		policy string
		topic  string
		values [][]byte
		reason enforce.Reason // "" = accepted
		index  int
		inMsg  string
	}{
		{name: "avro valid", topic: "customers", values: [][]byte{cust(customer("ann", "Oslo", 1))}},
		{name: "avro valid, many records, one schema", topic: "customers",
			values: [][]byte{cust(customer("ann", "Oslo", 1)), cust(customer("bob", "Rome", 0)), cust(customer("cy", "", 1))}},
		{name: "avro bad record after a good one with the same id", topic: "customers",
			values: [][]byte{cust(customer("ann", "Oslo", 1)), cust(customer("bob", "Rome", 7))},
			reason: enforce.ReasonPayload, index: 1, inMsg: "record 1: value does not match schema id"},
		{name: "avro trailing bytes", topic: "customers", values: [][]byte{cust(append(customer("ann", "Oslo", 1), 0))},
			reason: enforce.ReasonPayload, index: 0},
		{name: "avro truncated in referenced type", topic: "customers", values: [][]byte{cust(customer("ann", "Oslo", 1)[:6])},
			reason: enforce.ReasonPayload, index: 0},
		{name: "avro garbage passes in mode id", policy: `defaults: {value: {mode: id}}`, topic: "customers",
			values: [][]byte{cust([]byte{0xff, 0xff})}},
		{name: "avro garbage logged, not rejected, with on_failure log", policy: `defaults: {value: {mode: payload}, on_failure: log}`,
			topic: "customers", values: [][]byte{cust([]byte{0xff, 0xff})}},
		{name: "json valid", topic: "payments", values: [][]byte{pay(`{"amount": 12.5, "payer": {"id": "p1"}}`)}},
		{name: "json below minimum", topic: "payments", values: [][]byte{pay(`{"amount": -1}`)},
			reason: enforce.ReasonPayload, index: 0, inMsg: "$.amount"},
		{name: "json referenced schema violated", topic: "payments", values: [][]byte{pay(`{"amount": 1, "payer": {}}`)},
			reason: enforce.ReasonPayload, index: 0, inMsg: "$.payer"},
		{name: "json missing required", topic: "payments", values: [][]byte{pay(`{}`)},
			reason: enforce.ReasonPayload, index: 0, inMsg: "amount"},
		{name: "json trailing bytes", topic: "payments", values: [][]byte{pay(`{"amount": 1} x`)},
			reason: enforce.ReasonPayload, index: 0},
		{name: "protobuf valid", topic: "invoices", values: [][]byte{inv(invoice("i-1", 100))}},
		{name: "protobuf nested message by indexes", topic: "invoices",
			values: [][]byte{inv(protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "sku-9"), 0, 0)}},
		{name: "protobuf unknown field rejected by default", topic: "invoices", values: [][]byte{inv(invoice("i-1", 100, unknown...))},
			reason: enforce.ReasonPayload, index: 0, inMsg: "9"},
		{name: "protobuf unknown field allowed", policy: `defaults: {value: {mode: payload, unknown_fields: allow}}`,
			topic: "invoices", values: [][]byte{inv(invoice("i-1", 100, unknown...))}},
		{name: "protobuf wrong wire type rejected even when unknown fields are allowed",
			policy: `defaults: {value: {mode: payload, unknown_fields: allow}}`, topic: "invoices",
			values: [][]byte{inv(wrongType)}, reason: enforce.ReasonPayload, index: 0},
		{name: "protobuf truncated", topic: "invoices", values: [][]byte{inv(invoice("i-1", 100)[:8])},
			reason: enforce.ReasonPayload, index: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pol := tc.policy
			if pol == "" {
				pol = payloadPolicy
			}
			e := f.enforcer(t, pol)
			for _, codec := range []int{protocol.CodecNone, protocol.CodecLZ4} {
				err := e.Check(context.Background(), tc.topic, 0, enforcetest.Batch(codec, recs(tc.values...)...))
				if tc.reason == "" {
					if err != nil {
						t.Fatalf("codec %d: got %v, want accepted", codec, err)
					}
					continue
				}
				var ve *enforce.ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("codec %d: got %v, want a %s rejection", codec, err, tc.reason)
				}
				if codec == protocol.CodecNone {
					t.Log(ve.Error())
				}
				if ve.Reason != tc.reason || ve.Index != tc.index || !strings.Contains(ve.Error(), tc.inMsg) {
					t.Errorf("codec %d: got %s at record %d: %q; want %s at record %d containing %q", codec, ve.Reason, ve.Index, ve.Error(), tc.reason, tc.index, tc.inMsg)
				}
			}
		})
	}
}

// TestPayloadErrorPointsAtField: the rejection names the record, the part,
// the schema ID and the field, in one line.
func TestPayloadErrorPointsAtField(t *testing.T) {
	t.Parallel()
	f := newPayloadFixture(t)
	e := f.enforcer(t, `defaults: {value: {mode: payload}}`)
	f.m.Enforce.NoteTopic("customers") // as the proxy does when a broker's Metadata lists it
	err := e.Check(context.Background(), "customers", 0, enforcetest.Batch(0, recs(
		enforcetest.Value(f.customer, customer("ann", "Oslo", 1)),
		enforcetest.Value(f.customer, customer("ann", "Oslo", 1)),
		enforcetest.Value(f.customer, customer("ann", "Oslo", 9)))...))
	var ve *enforce.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a rejection", err)
	}
	msg := ve.Error()
	for _, want := range []string{"record 2: value does not match schema id", "field tier", "enum"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("message %q spans lines", msg)
	}
	if ve.SchemaID != f.customer || ve.Part != "value" {
		t.Errorf("got schema id %d part %q, want %d value", ve.SchemaID, ve.Part, f.customer)
	}
	if got := testutil.ToFloat64(f.m.Enforce.Rejections.WithLabelValues("customers", string(enforce.ReasonPayload))); got != 1 {
		t.Errorf("rejections_total{reason=payload_invalid}: got %v, want 1", got)
	}
}

// TestPayloadModeKey: keys are checked in mode payload like values.
func TestPayloadModeKey(t *testing.T) {
	t.Parallel()
	f := newPayloadFixture(t)
	key := f.srv.Avro(t, "customers-key", addressSchema).ID
	e := f.enforcer(t, `defaults: {key: {mode: payload}, value: {mode: off}}`)
	good := enforcetest.Rec{Key: enforcetest.Value(key, avroString("Oslo")), Value: []byte("anything")}
	if err := e.Check(context.Background(), "customers", 0, enforcetest.Batch(0, good)); err != nil {
		t.Fatalf("valid key: %v", err)
	}
	bad := enforcetest.Rec{Key: enforcetest.Value(key, []byte{0x08, 'O'}), Value: []byte("anything")}
	var ve *enforce.ValidationError
	if err := e.Check(context.Background(), "customers", 0, enforcetest.Batch(0, bad)); !errors.As(err, &ve) || ve.Part != "key" || ve.Reason != enforce.ReasonPayload {
		t.Fatalf("truncated key: got %v, want a payload_invalid rejection of the key", err)
	}
}

// TestPayloadModeUnusableSchema: a schema that cannot be compiled into a
// validator (a $ref no reference satisfies) rejects its records with a
// reason of its own, and nothing is fetched from the network: the $ref
// names a server that would serve the document and counts requests.
func TestPayloadModeUnusableSchema(t *testing.T) {
	t.Parallel()
	var fetched atomic.Int32
	doc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetched.Add(1)
		w.Header().Set("Content-Type", "application/schema+json")
		_, _ = io.WriteString(w, `{"type":"integer"}`)
	}))
	defer doc.Close()
	f := newPayloadFixture(t)
	id := f.srv.JSON(t, "loose-value", `{"title":"Loose","type":"object","properties":{"x":{"$ref":"`+doc.URL+`/x.json"}}}`).ID
	e := f.enforcer(t, `defaults: {value: {mode: payload}}`)
	err := e.Check(context.Background(), "loose", 0, enforcetest.Batch(0, recs(enforcetest.Value(id, []byte(`{"x":1}`)))...))
	var ve *enforce.ValidationError
	if !errors.As(err, &ve) || ve.Reason != enforce.ReasonSchemaUnusable || !strings.Contains(ve.Error(), doc.URL+"/x.json") {
		t.Fatalf("got %v, want a schema_unusable rejection naming the unresolvable $ref", err)
	}
	if n := fetched.Load(); n != 0 {
		t.Errorf("the $ref's document was fetched %d times, want never", n)
	}
	// In mode id the same schema is fine: only payload checks need it compiled.
	e = f.enforcer(t, `defaults: {value: {mode: id}}`)
	if err := e.Check(context.Background(), "loose", 0, enforcetest.Batch(0, recs(enforcetest.Value(id, []byte(`{"x":1}`)))...)); err != nil {
		t.Fatalf("mode id: %v", err)
	}
}

// TestPayloadModePolicy: unknown_fields parses, defaults to reject, and
// bad values are errors naming the field.
func TestPayloadModePolicy(t *testing.T) {
	t.Parallel()
	p, err := enforce.ParsePolicy([]byte("defaults: {value: {mode: payload}}\nrules: [{topics: [a], value: {unknown_fields: allow}}]"))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.RuleFor("a").Value; got.Mode != enforce.ModePayload || got.UnknownFields != enforce.UnknownFieldsAllow {
		t.Errorf("rule a: got %+v, want mode payload, unknown_fields allow", got)
	}
	if got := p.RuleFor("b").Value.UnknownFields; got != enforce.UnknownFieldsReject {
		t.Errorf("defaults: unknown_fields %q, want reject", got)
	}
	_, err = enforce.ParsePolicy([]byte("defaults: {value: {mode: payload, unknown_fields: keep}}"))
	if err == nil || !strings.Contains(err.Error(), "value.unknown_fields") || !strings.Contains(err.Error(), "reject or allow") {
		t.Errorf("bad unknown_fields: got %v, want an error naming value.unknown_fields and its values", err)
	}
}
