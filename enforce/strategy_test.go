package enforce_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
)

const (
	addressAvro = `{"type":"record","name":"Address","namespace":"com.acme.common","fields":[{"name":"city","type":"string"}]}`
	// customerAvro uses com.acme.common.Address, defined in another subject.
	customerAvro = `{"type":"record","name":"Customer","namespace":"com.acme.crm","fields":[
		{"name":"home","type":"com.acme.common.Address"},
		{"name":"work","type":["null","com.acme.common.Address"],"default":null}]}`

	moneyProto = `syntax = "proto3";
package acme.common.v1;
message Money { string currency = 1; int64 units = 2; }
`
	// ordersProto imports a file from another subject and a well-known type
	// that, as Confluent's serializers do, is not registered as a reference.
	ordersProto = `syntax = "proto3";
package acme.orders.v1;
import "acme/common/v1/money.proto";
import "google/protobuf/timestamp.proto";
message Order {
  string id = 1;
  acme.common.v1.Money total = 2;
  google.protobuf.Timestamp created = 3;
  message Line { string sku = 1; }
  repeated Line lines = 4;
}
message Shipment {
  message Parcel {
    message Label { string text = 1; }
    Label label = 1;
  }
  repeated Parcel parcels = 1;
}
`
)

// named registers schemas and looks one up through a CachedRegistry.
type named struct {
	srv *enforcetest.Registry
	reg *enforce.CachedRegistry
}

func newNamed(t *testing.T) *named {
	srv := enforcetest.NewRegistry(t)
	return &named{srv: srv, reg: enforce.NewRegistry(srv.Client)}
}

func (n *named) schema(t *testing.T, ss sr.SubjectSchema) *enforce.Schema {
	t.Helper()
	s, err := n.reg.SchemaByID(context.Background(), ss.ID)
	if err != nil {
		t.Fatalf("SchemaByID(%d): %v", ss.ID, err)
	}
	return s
}

func TestSubjectTopicStrategy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		topic string
		isKey bool
		want  string
	}{
		{"orders", false, "orders-value"},
		{"orders", true, "orders-key"},
		{"acme.orders.v1", false, "acme.orders.v1-value"},
	}
	for _, tt := range tests {
		got, err := enforce.Subject(enforce.StrategyTopic, tt.topic, tt.isKey, nil, nil)
		if got != tt.want || err != nil {
			t.Errorf("Subject(topic, %s, key=%v): got %q, %v; want %q", tt.topic, tt.isKey, got, err, tt.want)
		}
	}
	if _, err := enforce.Subject("associated", "orders", false, nil, nil); err == nil {
		t.Errorf("an unknown strategy: got no error")
	}
	if _, err := enforce.Subject(enforce.StrategyRecord, "orders", false, nil, nil); !errors.Is(err, enforce.ErrNoRecordName) {
		t.Errorf("record strategy without a schema: got %v, want ErrNoRecordName", err)
	}
}

func TestSubjectRecordStrategies(t *testing.T) {
	t.Parallel()
	n := newNamed(t)
	addr := n.srv.Avro(t, "com.acme.common.Address", addressAvro)
	money := n.srv.Protobuf(t, "acme-common-money", moneyProto)
	schemas := map[string]sr.SubjectSchema{
		"avro record":      n.srv.Avro(t, "orders-value", orderAvro),
		"avro dotted name": n.srv.Avro(t, "a", `{"type":"record","name":"com.acme.billing.Invoice","fields":[]}`),
		"avro namespace overridden by dotted name": n.srv.Avro(t, "b",
			`{"type":"record","name":"x.y.Z","namespace":"ignored.ns","fields":[]}`),
		"avro enum":  n.srv.Avro(t, "c", `{"type":"enum","name":"Color","namespace":"com.acme","symbols":["RED"]}`),
		"avro fixed": n.srv.Avro(t, "d", `{"type":"fixed","name":"com.acme.MD5","size":16}`),
		"avro no namespace": n.srv.Avro(t, "e",
			`{"type":"record","name":"Plain","fields":[{"name":"a","type":"int"}]}`),
		"avro reference": n.srv.Avro(t, "customers-value", customerAvro,
			sr.SchemaReference{Name: "com.acme.common.Address", Subject: "com.acme.common.Address", Version: addr.Version}),
		"avro primitive":     n.srv.Avro(t, "f", `"string"`),
		"avro union":         n.srv.Avro(t, "g", `["null","string"]`),
		"avro missing ref":   n.srv.Avro(t, "h", `{"type":"record","name":"Broken","fields":[{"name":"a","type":"com.acme.Nowhere"}]}`),
		"avro invalid":       n.srv.Avro(t, "i", `{"type":"record","fields":[]}`),
		"json title":         n.srv.JSON(t, "j", `{"title":"com.acme.Event","type":"object"}`),
		"json no title":      n.srv.JSON(t, "k", `{"type":"object"}`),
		"json boolean":       n.srv.JSON(t, "l", `true`),
		"proto":              n.srv.Protobuf(t, "orders-proto-value", ordersProto, sr.SchemaReference{Name: "acme/common/v1/money.proto", Subject: "acme-common-money", Version: money.Version}),
		"proto missing ref":  n.srv.Protobuf(t, "m", ordersProto),
		"proto no package":   n.srv.Protobuf(t, "n", "syntax = \"proto3\";\nmessage Bare { message In {} }\n"),
		"proto syntax error": n.srv.Protobuf(t, "o", "syntax = \"proto3\";\nmessage {\n"),
		"proto no message":   n.srv.Protobuf(t, "p", "syntax = \"proto3\";\nenum E { E_ZERO = 0; }\n"),
	}
	tests := []struct {
		schema  string
		indexes []int
		want    string // the record name; "" when there is none
	}{
		{schema: "avro record", want: "com.acme.Order"},
		{schema: "avro record", indexes: []int{3, 1}, want: "com.acme.Order"}, // indexes are for protobuf only
		{schema: "avro dotted name", want: "com.acme.billing.Invoice"},
		{schema: "avro namespace overridden by dotted name", want: "x.y.Z"},
		{schema: "avro enum", want: "com.acme.Color"},
		{schema: "avro fixed", want: "com.acme.MD5"},
		{schema: "avro no namespace", want: "Plain"},
		{schema: "avro reference", want: "com.acme.crm.Customer"},
		{schema: "avro primitive"},
		{schema: "avro union"},
		{schema: "avro missing ref"},
		{schema: "avro invalid"},
		{schema: "json title", want: "com.acme.Event"},
		{schema: "json no title"},
		{schema: "json boolean"},
		{schema: "proto", want: "acme.orders.v1.Order"},
		{schema: "proto", indexes: []int{0}, want: "acme.orders.v1.Order"},
		{schema: "proto", indexes: []int{0, 0}, want: "acme.orders.v1.Order.Line"},
		{schema: "proto", indexes: []int{1}, want: "acme.orders.v1.Shipment"},
		{schema: "proto", indexes: []int{1, 0}, want: "acme.orders.v1.Shipment.Parcel"},
		{schema: "proto", indexes: []int{1, 0, 0}, want: "acme.orders.v1.Shipment.Parcel.Label"},
		{schema: "proto", indexes: []int{2}},
		{schema: "proto", indexes: []int{0, 1}},
		{schema: "proto", indexes: []int{1, 0, 0, 0}},
		{schema: "proto missing ref"},
		{schema: "proto no package", indexes: []int{0, 0}, want: "Bare.In"},
		{schema: "proto syntax error"},
		{schema: "proto no message"},
	}
	for _, tt := range tests {
		name := tt.schema
		if tt.indexes != nil {
			name += fmt.Sprint(tt.indexes)
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := n.schema(t, schemas[tt.schema]) // parsing failures never fail the look-up
			for _, isKey := range []bool{false, true} {
				// The topic strategy needs no record name.
				if got, err := enforce.Subject(enforce.StrategyTopic, "orders", isKey, s, tt.indexes); err != nil || !strings.HasPrefix(got, "orders-") {
					t.Errorf("topic strategy: got %q, %v", got, err)
				}
				rec, err := enforce.Subject(enforce.StrategyRecord, "orders", isKey, s, tt.indexes)
				topicRec, err2 := enforce.Subject(enforce.StrategyTopicRecord, "orders", isKey, s, tt.indexes)
				if tt.want == "" {
					if !errors.Is(err, enforce.ErrNoRecordName) || !errors.Is(err2, enforce.ErrNoRecordName) {
						t.Errorf("got %q, %v and %q, %v; want ErrNoRecordName", rec, err, topicRec, err2)
					}
					continue
				}
				if rec != tt.want || err != nil {
					t.Errorf("record strategy: got %q, %v; want %q", rec, err, tt.want)
				}
				if want := "orders-" + tt.want; topicRec != want || err2 != nil {
					t.Errorf("topic_record strategy: got %q, %v; want %q", topicRec, err2, want)
				}
			}
		})
	}
}

// A reference that cannot be fetched because the registry is unavailable
// fails the look-up (retriable) instead of caching a schema without
// names; once the registry answers, the schema resolves.
func TestSchemaReferenceUnavailable(t *testing.T) {
	t.Parallel()
	n := newNamed(t)
	addr := n.srv.Avro(t, "com.acme.common.Address", addressAvro)
	cust := n.srv.Avro(t, "customers-value", customerAvro,
		sr.SchemaReference{Name: "com.acme.common.Address", Subject: "com.acme.common.Address", Version: addr.Version})
	fail := enforcetest.FailWith(http.StatusServiceUnavailable, 0)
	n.srv.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		return strings.HasPrefix(r.URL.Path, "/subjects/") && fail(w, r)
	})
	if _, err := n.reg.SchemaByID(context.Background(), cust.ID); !errors.Is(err, enforce.ErrRegistryUnavailable) {
		t.Fatalf("SchemaByID with references unavailable: got %v, want ErrRegistryUnavailable", err)
	}
	n.srv.SetFault(nil)
	s := n.schema(t, cust)
	if name, err := s.RecordName(nil); name != "com.acme.crm.Customer" || err != nil {
		t.Errorf("RecordName: got %q, %v", name, err)
	}
}

// Two schemas defining the same Avro full name differently do not see
// each other's types: each is parsed in its own namespace of names.
func TestSchemaAvroNamesIsolated(t *testing.T) {
	t.Parallel()
	n := newNamed(t)
	a := n.srv.Avro(t, "a", `{"type":"record","name":"com.acme.T","fields":[{"name":"x","type":"int"}]}`)
	b := n.srv.Avro(t, "b", `{"type":"record","name":"com.acme.U","fields":[{"name":"t","type":"com.acme.T"}]}`)
	if name, err := n.schema(t, a).RecordName(nil); name != "com.acme.T" || err != nil {
		t.Errorf("a: got %q, %v", name, err)
	}
	if _, err := n.schema(t, b).RecordName(nil); !errors.Is(err, enforce.ErrNoRecordName) {
		t.Errorf("b uses a type it does not reference: got %v, want ErrNoRecordName", err)
	}
}
