package enforce_test

// The tests of README's "What is checked" bullets, one per bullet, named
// after its label, each subtest after one of its claims.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/protocol"
)

// wantReason fails unless err is a *ValidationError with reason want
// ("" for accepted), and returns it.
func wantReason(t *testing.T, err error, want enforce.Reason) *enforce.ValidationError {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Errorf("got %v, want accepted", err)
		}
		return nil
	}
	var ve *enforce.ValidationError
	if !errors.As(err, &ve) {
		t.Errorf("got %v, want a %s rejection", err, want)
		return nil
	}
	if ve.Reason != want {
		t.Errorf("got reason %s (%v), want %s", ve.Reason, ve, want)
	}
	return ve
}

// reCRC rewrites the CRC-32C of batch b after a test edited it.
func reCRC(b []byte) []byte {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// rebatch returns uncompressed batch b with its records section replaced
// by records and its codec set to codec, lengths and CRC fixed.
func rebatch(b []byte, codec int, records []byte) []byte {
	out := append(bytes.Clone(b[:protocol.BatchHeaderLen]), records...)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint16(out[21:], uint16(codec))
	return reCRC(out)
}

// xerial frames src as the Java client's snappy output: the xerial header,
// then length-prefixed raw snappy blocks of at most block bytes.
func xerial(src []byte, block int) []byte {
	out := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}
	for len(src) > 0 {
		n := min(block, len(src))
		c := s2.EncodeSnappy(nil, src[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(c)))
		out = append(out, c...)
		src = src[n:]
	}
	return out
}

func TestReadmeBatches(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.enforcer(t, "")
	check := func(b []byte) error { return e.Check(context.Background(), "orders", 0, b) }
	good := func() []byte {
		return enforcetest.Batch(protocol.CodecNone, recs(avroValue(f.order), avroValue(f.order))...)
	}
	edit := func(fn func(b []byte)) []byte {
		b := good()
		fn(b)
		return reCRC(b)
	}

	t.Run("a well-formed batch is accepted", func(t *testing.T) {
		wantReason(t, check(good()), "")
	})
	t.Run("exactly one batch per partition", func(t *testing.T) {
		wantReason(t, check(append(good(), good()...)), enforce.ReasonBatchInvalid)
	})
	t.Run("offset deltas 0, 1, 2, ... in order, the refused record named", func(t *testing.T) {
		v := avroValue(f.order)
		for _, deltas := range [][]int{{0, 1, 2}, {0, 2, 3}, {1, 2, 3}, {0, 0, 1}} {
			var recs []byte
			for _, d := range deltas {
				recs = enforcetest.AppendRecord(recs, d, nil, v)
			}
			err := check(enforcetest.BatchOf(protocol.CodecNone, len(deltas), recs))
			bad := -1
			for i, d := range deltas {
				if d != i {
					bad = i
					break
				}
			}
			if bad < 0 {
				wantReason(t, err, "")
				continue
			}
			wantReason(t, err, enforce.ReasonBatchInvalid)
			var ve *enforce.ValidationError
			if !errors.As(err, &ve) || len(ve.Records) != 1 || ve.Records[0].Index != bad {
				t.Errorf("deltas %v: got %v, want record %d named", deltas, err, bad)
			}
		}
	})
	t.Run("magic 2 only", func(t *testing.T) {
		wantReason(t, check(edit(func(b []byte) { b[16] = 1 })), enforce.ReasonBatchInvalid)
	})
	t.Run("lengths consistent", func(t *testing.T) {
		b := good()
		binary.BigEndian.PutUint32(b[8:], binary.BigEndian.Uint32(b[8:])+1)
		wantReason(t, check(b), enforce.ReasonBatchCorrupt)
	})
	t.Run("CRC-32C", func(t *testing.T) {
		b := good()
		b[len(b)-1] ^= 0x01
		wantReason(t, check(b), enforce.ReasonBatchCorrupt)
	})
	t.Run("known codec", func(t *testing.T) {
		wantReason(t, check(edit(func(b []byte) { b[22] |= 5 })), enforce.ReasonBatchInvalid)
	})
	t.Run("no control batch", func(t *testing.T) {
		wantReason(t, check(edit(func(b []byte) { b[22] |= 0x20 })), enforce.ReasonBatchInvalid)
	})
	t.Run("every record's declared lengths", func(t *testing.T) {
		// The first record's length varint (one byte, zigzag) grows by one.
		wantReason(t, check(edit(func(b []byte) { b[protocol.BatchHeaderLen] += 2 })), enforce.ReasonBatchCorrupt)
	})
	t.Run("the record count", func(t *testing.T) {
		wantReason(t, check(edit(func(b []byte) {
			binary.BigEndian.PutUint32(b[23:], 2) // last offset delta
			binary.BigEndian.PutUint32(b[57:], 3) // three records declared, two held
		})), enforce.ReasonBatchCorrupt)
	})
	t.Run("nothing trailing after the batch", func(t *testing.T) {
		wantReason(t, check(append(good(), 0)), enforce.ReasonBatchInvalid)
	})
	t.Run("nothing trailing after the last record", func(t *testing.T) {
		b := good()
		wantReason(t, check(rebatch(b, protocol.CodecNone, append(bytes.Clone(b[protocol.BatchHeaderLen:]), 0))), enforce.ReasonBatchCorrupt)
	})

	// Each codec's batch holds a bad record at index 1: finding it proves
	// the records were decompressed and read.
	plain := enforcetest.Batch(protocol.CodecNone, recs(avroValue(f.order), []byte("no schema id"), avroValue(f.order))...)
	codecs := []struct {
		name  string
		batch []byte
	}{
		{"gzip", enforcetest.Batch(protocol.CodecGzip, recs(avroValue(f.order), []byte("no schema id"), avroValue(f.order))...)},
		{"snappy raw", enforcetest.Batch(protocol.CodecSnappy, recs(avroValue(f.order), []byte("no schema id"), avroValue(f.order))...)},
		{"snappy xerial", rebatch(plain, protocol.CodecSnappy, xerial(plain[protocol.BatchHeaderLen:], 8))},
		{"lz4", enforcetest.Batch(protocol.CodecLZ4, recs(avroValue(f.order), []byte("no schema id"), avroValue(f.order))...)},
		{"zstd", enforcetest.Batch(protocol.CodecZstd, recs(avroValue(f.order), []byte("no schema id"), avroValue(f.order))...)},
	}
	for _, c := range codecs {
		t.Run(c.name+" is decompressed and its records checked", func(t *testing.T) {
			if ve := wantReason(t, check(c.batch), enforce.ReasonNoSchemaID); ve != nil && ve.Index != 1 {
				t.Errorf("got record %d, want record 1", ve.Index)
			}
		})
	}
	t.Run("snappy xerial, valid, is accepted", func(t *testing.T) {
		p := good()
		wantReason(t, check(rebatch(p, protocol.CodecSnappy, xerial(p[protocol.BatchHeaderLen:], 5))), "")
	})

	t.Run("decompression is capped by --max-decompressed-bytes, 64 MiB by default", func(t *testing.T) {
		if enforce.DefaultMaxDecompressed != 67108864 {
			t.Errorf("DefaultMaxDecompressed: got %d, want 67108864 as README says", enforce.DefaultMaxDecompressed)
		}
	})
	t.Run("a compression bomb is a rejection, not an out-of-memory", func(t *testing.T) {
		capped := enforce.New(policy(t, ""), enforce.NewRegistry(f.srv.Client), enforce.WithMaxDecompressed(1<<20))
		bomb := enforcetest.Batch(protocol.CodecGzip, enforcetest.Rec{Value: append(avroValue(f.order), make([]byte, 4<<20)...)})
		if len(bomb) > 64<<10 {
			t.Fatalf("the bomb is %d bytes compressed; want it small", len(bomb))
		}
		wantReason(t, capped.Check(context.Background(), "orders", 0, bomb), enforce.ReasonTooLarge)
		small := enforcetest.Batch(protocol.CodecGzip, enforcetest.Rec{Value: append(avroValue(f.order), make([]byte, 1<<10)...)})
		wantReason(t, capped.Check(context.Background(), "orders", 0, small), "")
	})
	t.Run("accepted batches are left unchanged", func(t *testing.T) {
		for _, codec := range []int{protocol.CodecNone, protocol.CodecLZ4, protocol.CodecZstd} {
			b := enforcetest.Batch(codec, recs(avroValue(f.order), avroValue(f.order))...)
			before := bytes.Clone(b)
			wantReason(t, check(b), "")
			if !bytes.Equal(b, before) {
				t.Errorf("codec %d: Check changed the batch it accepted", codec)
			}
		}
	})
}

func TestReadmeSchemaReferences(t *testing.T) {
	t.Parallel()
	f := newPayloadFixture(t)
	key := f.srv.Avro(t, "orders-key", keySchemaText)
	orderGUID := f.orderGUID
	ctx := context.Background()
	check := func(t *testing.T, pol string, r enforcetest.Rec) error {
		t.Helper()
		return f.enforcer(t, pol).Check(ctx, "orders", 0, enforcetest.Batch(protocol.CodecNone, r))
	}
	valueHeader := func(v []byte) protocol.Header { return enforcetest.Header(enforcetest.ValueSchemaIDHeader, v) }
	body := []byte{0x06, 'a', 'b', 'c'}

	t.Run("payload prefix: magic 0 and a 4-byte schema ID", func(t *testing.T) {
		wantReason(t, check(t, "", enforcetest.Rec{Value: avroValue(f.order)}), "")
		// The four bytes are the ID: another subject's ID is judged as that ID.
		if ve := wantReason(t, check(t, "", enforcetest.Rec{Value: avroValue(f.other)}), enforce.ReasonWrongSubject); ve != nil && ve.SchemaID != f.other {
			t.Errorf("got schema id %d, want %d", ve.SchemaID, f.other)
		}
	})
	t.Run("a value with neither prefix nor header has no schema ID", func(t *testing.T) {
		wantReason(t, check(t, "", enforcetest.Rec{Value: []byte(`{"id":"abc"}`)}), enforce.ReasonNoSchemaID)
	})
	t.Run("Protobuf message indexes follow the ID", func(t *testing.T) {
		inv := func(indexes ...int) enforcetest.Rec {
			return enforcetest.Rec{Value: enforcetest.ProtobufValue(f.invoice, indexes, invoice("i-1", 1))}
		}
		e := f.enforcer(t, "")
		for _, ix := range [][]int{{0}, {0, 0}} {
			wantReason(t, e.Check(ctx, "invoices", 0, enforcetest.Batch(0, inv(ix...))), "")
		}
		// One index (zigzag 1 = 0x02), and it is -1 (zigzag 0x01).
		negative := append(enforcetest.AppendID(nil, f.invoice), append([]byte{0x02, 0x01}, invoice("i-1", 1)...)...)
		wantReason(t, e.Check(ctx, "invoices", 0, enforcetest.Batch(0, enforcetest.Rec{Value: negative})), enforce.ReasonBadIndexes)
	})
	t.Run("__value_schema_id header: 0x01 and a 16-byte GUID", func(t *testing.T) {
		wantReason(t, check(t, "", enforcetest.Rec{Value: body, Headers: []protocol.Header{valueHeader(enforcetest.GUIDHeader(orderGUID))}}), "")
		wantReason(t, check(t, "", enforcetest.Rec{Value: body, Headers: []protocol.Header{valueHeader(enforcetest.GUIDHeader(key.GUID))}}), enforce.ReasonWrongSubject)
	})
	t.Run("__key_schema_id header names the key's schema", func(t *testing.T) {
		pol := "defaults: {key: {mode: id}}"
		rec := func(guid string) enforcetest.Rec {
			return enforcetest.Rec{Key: []byte("k"), Value: avroValue(f.order), Headers: []protocol.Header{
				enforcetest.Header(enforcetest.KeySchemaIDHeader, enforcetest.GUIDHeader(guid))}}
		}
		wantReason(t, check(t, pol, rec(key.GUID)), "")
		if ve := wantReason(t, check(t, pol, rec(orderGUID)), enforce.ReasonWrongSubject); ve != nil && ve.Subject != "orders-key" {
			t.Errorf("got subject %q, want orders-key", ve.Subject)
		}
	})
	t.Run("a header ID that is not 0x01 and a 16-byte GUID is rejected", func(t *testing.T) {
		guid := enforcetest.GUIDHeader(orderGUID)
		for name, v := range map[string][]byte{
			"magic 0":        append([]byte{0}, guid[1:]...),
			"magic 2":        append([]byte{2}, guid[1:]...),
			"a 10-byte GUID": guid[:11],
			"null":           nil,
		} {
			if ve := wantReason(t, check(t, "", enforcetest.Rec{Value: body, Headers: []protocol.Header{valueHeader(v)}}), enforce.ReasonBadHeader); ve == nil {
				t.Errorf("header %s: not rejected as a bad header", name)
			}
		}
	})
	t.Run("more than one such header is rejected", func(t *testing.T) {
		h := valueHeader(enforcetest.GUIDHeader(orderGUID))
		wantReason(t, check(t, "", enforcetest.Rec{Value: body, Headers: []protocol.Header{h, h}}), enforce.ReasonBadHeader)
		wantReason(t, check(t, "", enforcetest.Rec{Value: avroValue(f.order), Headers: []protocol.Header{h, h}}), enforce.ReasonBadHeader)
	})
}

// keySchemaText is an Avro key schema, distinct from every value schema.
const keySchemaText = `{"type":"record","name":"OrderKey","namespace":"com.shop","fields":[{"name":"k","type":"string"}]}`

func TestReadmeSubjects(t *testing.T) {
	t.Parallel()
	f := newPayloadFixture(t)
	ctx := context.Background()
	// wantSubject checks a batch of one record against policy pol on
	// topic: accepted when subject is "", else rejected for wrong_subject
	// naming subject.
	wantSubject := func(t *testing.T, pol, topic string, r enforcetest.Rec, subject string) {
		t.Helper()
		err := f.enforcer(t, pol).Check(ctx, topic, 0, enforcetest.Batch(0, r))
		if subject == "" {
			wantReason(t, err, "")
			return
		}
		if ve := wantReason(t, err, enforce.ReasonWrongSubject); ve != nil && ve.Subject != subject {
			t.Errorf("got subject %q, want %q", ve.Subject, subject)
		}
	}
	const record = "defaults: {value: {strategy: record}}"

	t.Run("topic: <topic>-value", func(t *testing.T) {
		wantSubject(t, "", "orders", enforcetest.Rec{Value: avroValue(f.order)}, "")
		wantSubject(t, "", "orders", enforcetest.Rec{Value: avroValue(f.other)}, "orders-value")
	})
	t.Run("topic: <topic>-key", func(t *testing.T) {
		k := f.srv.Avro(t, "orders-key", keySchemaText).ID
		pol := "defaults: {key: {mode: id}}"
		wantSubject(t, pol, "orders", enforcetest.Rec{Key: avroValue(k), Value: avroValue(f.order)}, "")
		wantSubject(t, pol, "orders", enforcetest.Rec{Key: avroValue(f.order), Value: avroValue(f.order)}, "orders-key")
	})
	t.Run("record: Avro namespace.name of the top-level type", func(t *testing.T) {
		wantSubject(t, record, "anything", enforcetest.Rec{Value: avroValue(f.order)}, "")               // com.shop.Order is registered
		wantSubject(t, record, "anything", enforcetest.Rec{Value: avroValue(f.other)}, "com.shop.Other") // com.shop.Other is not
	})
	t.Run("record: Protobuf, the message the indexes select", func(t *testing.T) {
		f.srv.Protobuf(t, "shop.Invoice", shopInvoiceProto,
			sr.SchemaReference{Name: "shop/money.proto", Subject: "shop/money.proto", Version: 1})
		wantSubject(t, record, "invoices", enforcetest.Rec{Value: enforcetest.ProtobufValue(f.invoice, []int{0}, nil)}, "")
		wantSubject(t, record, "invoices", enforcetest.Rec{Value: enforcetest.ProtobufValue(f.invoice, []int{0, 0}, nil)}, "shop.Invoice.Line")
	})
	t.Run("record: JSON Schema title", func(t *testing.T) {
		id := f.srv.JSON(t, "refunds-value", `{"title":"com.shop.Refund","type":"object"}`).ID
		wantSubject(t, record, "refunds", enforcetest.Rec{Value: enforcetest.Value(id, []byte(`{}`))}, "com.shop.Refund")
		f.srv.JSON(t, "com.shop.Refund", `{"title":"com.shop.Refund","type":"object"}`)
		wantSubject(t, record, "refunds", enforcetest.Rec{Value: enforcetest.Value(id, []byte(`{}`))}, "")
	})
	t.Run("topic_record: <topic>-<record name>", func(t *testing.T) {
		pol := "defaults: {value: {strategy: topic_record}}"
		wantSubject(t, pol, "orders", enforcetest.Rec{Value: avroValue(f.order)}, "") // orders-com.shop.Order is registered
		wantSubject(t, pol, "orders", enforcetest.Rec{Value: avroValue(f.other)}, "orders-com.shop.Other")
	})
}

// shapeSchema has one field of each Avro kind README's Payloads bullet
// names.
const shapeSchema = `{"type":"record","name":"Shape","namespace":"com.shop","fields":[
	{"name":"u","type":["null","string"]},
	{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
	{"name":"f","type":{"type":"fixed","name":"F","size":4}},
	{"name":"s","type":"string"},
	{"name":"n","type":"long"}]}`

// shape encodes a Shape from its fields' raw encodings.
func shape(u, e, fixed, s, n []byte) []byte { return bytes.Join([][]byte{u, e, fixed, s, n}, nil) }

func TestReadmePayloads(t *testing.T) {
	t.Parallel()
	f := newPayloadFixture(t)
	ctx := context.Background()
	const payload = "defaults: {value: {mode: payload}}"
	check := func(t *testing.T, pol, topic string, values ...[]byte) error {
		t.Helper()
		if pol == "" {
			pol = payload
		}
		return f.enforcer(t, pol).Check(ctx, topic, 0, enforcetest.Batch(0, recs(values...)...))
	}

	shapeID := f.srv.Avro(t, "shapes-value", shapeSchema).ID
	u, en, fx, s, n := []byte{0x02, 0x02, 'x'}, []byte{0x02}, []byte("abcd"), avroString("hi"), []byte{0x0a}
	sh := func(p []byte) []byte { return enforcetest.Value(shapeID, p) }
	t.Run("Avro: a valid record is accepted", func(t *testing.T) {
		wantReason(t, check(t, "", "shapes", sh(shape(u, en, fx, s, n))), "")
	})
	t.Run("Avro: nothing left over", func(t *testing.T) {
		wantReason(t, check(t, "", "shapes", sh(append(shape(u, en, fx, s, n), 0))), enforce.ReasonPayload)
	})
	avroBad := []struct {
		name, inMsg string
		p           []byte
	}{
		{"union branch", "union", shape([]byte{0x0e}, en, fx, s, n)},
		{"enum symbol", "enum", shape(u, []byte{0x04}, fx, s, n)},
		{"length", "field s", shape(u, en, fx, []byte{0xc8, 0x01, 'h', 'i'}, n)},
		{"fixed size", "field f", shape(u, en, fx[:3], nil, nil)},
		{"varint", "field n", shape(u, en, fx, s, bytes.Repeat([]byte{0xff}, 11))},
	}
	for _, c := range avroBad {
		t.Run("Avro: every "+c.name+" valid", func(t *testing.T) {
			if ve := wantReason(t, check(t, "", "shapes", sh(c.p)), enforce.ReasonPayload); ve != nil && !strings.Contains(ve.Error(), c.inMsg) {
				t.Errorf("got %q, want it to mention %q", ve.Error(), c.inMsg)
			}
		})
	}
	t.Run("mode id does not decode the payload", func(t *testing.T) {
		wantReason(t, check(t, "defaults: {value: {mode: id}}", "shapes", sh([]byte{0x0e})), "")
	})

	pay := func(p string) []byte { return enforcetest.Value(f.payment, []byte(p)) }
	t.Run("JSON: one JSON value", func(t *testing.T) {
		wantReason(t, check(t, "", "payments", pay(`{"amount": 1, "payer": {"id": "p"}}`)), "")
		wantReason(t, check(t, "", "payments", pay(`{"amount": 1} {"amount": 2}`)), enforce.ReasonPayload)
	})
	t.Run("JSON: valid against its JSON Schema", func(t *testing.T) {
		wantReason(t, check(t, "", "payments", pay(`{"amount": -1}`)), enforce.ReasonPayload)
	})
	// Each draft is shown by a keyword it has and another draft lacks.
	jsonDraft := func(t *testing.T, topic, schema, value string, want enforce.Reason) {
		t.Helper()
		id := f.srv.JSON(t, topic+"-value", schema).ID
		wantReason(t, check(t, "", topic, enforcetest.Value(id, []byte(value))), want)
	}
	t.Run("JSON: draft 4 by $schema", func(t *testing.T) {
		// Draft 4's exclusiveMinimum is a boolean beside minimum.
		jsonDraft(t, "d4", `{"$schema":"http://json-schema.org/draft-04/schema#","type":"number","minimum":5,"exclusiveMinimum":true}`, `5`, enforce.ReasonPayload)
		jsonDraft(t, "d4ok", `{"$schema":"http://json-schema.org/draft-04/schema#","type":"number","minimum":5,"exclusiveMinimum":true}`, `6`, "")
	})
	t.Run("JSON: draft 6 by $schema", func(t *testing.T) {
		// if/then came with draft 7: draft 6 ignores them; const is draft 6's.
		jsonDraft(t, "d6", `{"$schema":"http://json-schema.org/draft-06/schema#","if":{"type":"number"},"then":{"minimum":10}}`, `3`, "")
		jsonDraft(t, "d6const", `{"$schema":"http://json-schema.org/draft-06/schema#","const":3}`, `4`, enforce.ReasonPayload)
	})
	t.Run("JSON: draft 7 when it has no $schema", func(t *testing.T) {
		jsonDraft(t, "d7", `{"if":{"type":"number"},"then":{"minimum":10}}`, `3`, enforce.ReasonPayload)
		// dependentRequired is 2019-09's: draft 7 ignores it.
		jsonDraft(t, "d7dep", `{"dependentRequired":{"a":["b"]}}`, `{"a":1}`, "")
	})
	t.Run("JSON: draft 2019-09 by $schema", func(t *testing.T) {
		jsonDraft(t, "d2019", `{"$schema":"https://json-schema.org/draft/2019-09/schema","dependentRequired":{"a":["b"]}}`, `{"a":1}`, enforce.ReasonPayload)
		// prefixItems is 2020-12's: 2019-09 ignores it.
		jsonDraft(t, "d2019pi", `{"$schema":"https://json-schema.org/draft/2019-09/schema","prefixItems":[{"type":"string"}]}`, `[1]`, "")
	})
	t.Run("JSON: draft 2020-12 by $schema", func(t *testing.T) {
		jsonDraft(t, "d2020", `{"$schema":"https://json-schema.org/draft/2020-12/schema","prefixItems":[{"type":"string"}]}`, `[1]`, enforce.ReasonPayload)
	})

	inv := func(p []byte, indexes ...int) []byte { return enforcetest.ProtobufValue(f.invoice, indexes, p) }
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 1)
	t.Run("Protobuf: decoded as the message the indexes select", func(t *testing.T) {
		wantReason(t, check(t, "", "invoices", inv(invoice("i-1", 100), 0)), "")
		// Invoice's field 2 (total) is not a field of Invoice.Line.
		wantReason(t, check(t, "", "invoices", inv(invoice("i-1", 100), 0, 0)), enforce.ReasonPayload)
	})
	t.Run("Protobuf: every known field has its declared wire type", func(t *testing.T) {
		wrongType := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1)
		wantReason(t, check(t, "defaults: {value: {mode: payload, unknown_fields: allow}}", "invoices", inv(wrongType, 0)), enforce.ReasonPayload)
	})
	t.Run("Protobuf: undeclared field numbers are rejected unless unknown_fields: allow", func(t *testing.T) {
		wantReason(t, check(t, "", "invoices", inv(invoice("i-1", 100, unknown...), 0)), enforce.ReasonPayload)
		wantReason(t, check(t, "defaults: {value: {mode: payload, unknown_fields: allow}}", "invoices", inv(invoice("i-1", 100, unknown...), 0)), "")
	})

	t.Run("references: Avro named types from other subjects", func(t *testing.T) {
		cust := func(p []byte) []byte { return enforcetest.Value(f.customer, p) }
		wantReason(t, check(t, "", "customers", cust(customer("ann", "Oslo", 1))), "")
		wantReason(t, check(t, "", "customers", cust(customer("ann", "Oslo", 1)[:6])), enforce.ReasonPayload)
	})
	t.Run("references: Protobuf imports and the well-known types", func(t *testing.T) {
		var ts []byte
		ts = protowire.AppendTag(ts, 1, protowire.VarintType)
		ts = protowire.AppendVarint(ts, 1700000000)
		at := protowire.AppendBytes(protowire.AppendTag(nil, 3, protowire.BytesType), ts)
		wantReason(t, check(t, "", "invoices", inv(invoice("i-1", 100, at...), 0)), "")
		// units (Money field 2, from the import) with the wrong wire type.
		badMoney := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType),
			protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), []byte("x")))
		wantReason(t, check(t, "", "invoices", inv(badMoney, 0)), enforce.ReasonPayload)
	})
	t.Run("references: JSON Schema $ref by reference name", func(t *testing.T) {
		if ve := wantReason(t, check(t, "", "payments", pay(`{"amount": 1, "payer": {}}`)), enforce.ReasonPayload); ve != nil && !strings.Contains(ve.Error(), "$.payer") {
			t.Errorf("got %q, want it to point at $.payer", ve.Error())
		}
	})
	t.Run("each schema's validator is compiled once and cached with it", func(t *testing.T) {
		reg := enforce.NewRegistry(f.srv.Client)
		e := enforce.New(policy(t, payload), reg)
		for range 2 {
			wantReason(t, e.Check(ctx, "shapes", 0, enforcetest.Batch(0, recs(sh(shape(u, en, fx, s, n)))...)), "")
		}
		s1, err := reg.SchemaByID(ctx, shapeID)
		if err != nil {
			t.Fatal(err)
		}
		s2, _ := reg.SchemaByID(ctx, shapeID)
		v1, err1 := s1.Validator()
		v2, err2 := s2.Validator()
		if s1 != s2 || err1 != nil || err2 != nil || v1 != v2 {
			t.Errorf("got schemas %p, %p and validators %p (%v), %p (%v); want one schema with one validator", s1, s2, v1, err1, v2, err2)
		}
	})
	t.Run("the error points at the field", func(t *testing.T) {
		id := f.srv.Avro(t, "events-value", `{"type":"record","name":"Event","fields":[{"name":"metadata","type":{"type":"map","values":["null","string"]}}]}`).ID
		good := enforcetest.Value(id, []byte{0x00})
		bad := enforcetest.Value(id, []byte{0x02, 0x02, 'k', 0x0e, 0x00})
		ve := wantReason(t, check(t, "", "events", good, good, bad), enforce.ReasonPayload)
		want := fmt.Sprintf("record 2: value does not match schema id %d: field metadata: map value: union index 7 out of range", id)
		if ve != nil && !strings.HasPrefix(ve.Error(), want) {
			t.Errorf("got %q, want it to start %q", ve.Error(), want)
		}
	})
	t.Run("a schema that cannot be compiled is schema_unusable, and nothing is fetched", func(t *testing.T) {
		var fetched atomic.Int32
		doc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fetched.Add(1)
			_, _ = io.WriteString(w, `{"type":"integer"}`)
		}))
		defer doc.Close()
		id := f.srv.JSON(t, "loose-value", `{"type":"object","properties":{"x":{"$ref":"`+doc.URL+`/x.json"}}}`).ID
		wantReason(t, check(t, "", "loose", enforcetest.Value(id, []byte(`{"x":1}`))), enforce.ReasonSchemaUnusable)
		if n := fetched.Load(); n != 0 {
			t.Errorf("the $ref was fetched %d times, want never", n)
		}
	})
}

func TestReadmeRegistryCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("schemas by ID: LRU of 10,000 by default", func(t *testing.T) {
		if enforce.DefaultRegistryCacheSize != 10000 {
			t.Errorf("DefaultRegistryCacheSize: got %d, want 10000", enforce.DefaultRegistryCacheSize)
		}
		e := newEnv(t, enforce.WithCacheSize(2))
		ids := make([]int, 3)
		for i := range ids {
			ids[i] = e.srv.Avro(t, fmt.Sprintf("s%d-value", i), fmt.Sprintf(`{"type":"fixed","name":"F%d","size":1}`, i)).ID
		}
		get := func(id int) int64 {
			return e.requests(func() {
				if _, err := e.reg.SchemaByID(ctx, id); err != nil {
					t.Fatalf("SchemaByID(%d): %v", id, err)
				}
			})
		}
		// a, b, a again (a hit: now b is the least recently used), then c
		// evicts b, not a.
		for i, step := range []struct {
			id   int
			reqs int64
		}{{ids[0], 1}, {ids[1], 1}, {ids[0], 0}, {ids[2], 1}, {ids[0], 0}, {ids[1], 1}} {
			if got := get(step.id); got != step.reqs {
				t.Errorf("step %d, SchemaByID(%d): got %d requests, want %d", i, step.id, got, step.reqs)
			}
		}
	})
	t.Run(`"ID is in subject" answers kept 5 minutes`, func(t *testing.T) {
		e := newEnv(t)
		ss := e.srv.Avro(t, "orders-value", orderAvro)
		in := func() int64 {
			return e.requests(func() {
				if ok, err := e.reg.InSubject(ctx, ss.ID, "orders-value"); !ok || err != nil {
					t.Fatalf("InSubject: got %v, %v", ok, err)
				}
			})
		}
		if n := in(); n != 1 {
			t.Errorf("first: got %d requests, want 1", n)
		}
		e.clock.Advance(5*time.Minute - time.Nanosecond)
		if n := in(); n != 0 {
			t.Errorf("just under 5 minutes later: got %d requests, want 0", n)
		}
		e.clock.Advance(time.Nanosecond)
		if n := in(); n != 1 {
			t.Errorf("5 minutes later: got %d requests, want 1", n)
		}
	})
	t.Run("an ID not found is re-checked live before a record is rejected", func(t *testing.T) {
		f := newFixture(t)
		clock := newFakeClock()
		e := enforce.New(policy(t, ""), enforce.NewRegistry(f.srv.Client, enforce.WithClock(clock.Now)))
		batch := func(id int) []byte { return enforcetest.Batch(0, recs(avroValue(id))...) }
		// The cache is warm with the subject's other schema.
		wantReason(t, e.Check(ctx, "orders", 0, batch(f.order)), "")
		// An auto-registering producer registers and produces at once.
		id := f.srv.Avro(t, "orders-value", orderV2Schema).ID
		before := f.srv.Requests()
		wantReason(t, e.Check(ctx, "orders", 0, batch(id)), "")
		if f.srv.Requests() == before {
			t.Errorf("the new ID was accepted without asking the registry")
		}
	})
	t.Run("a no for an ID in its subject is re-checked live, not kept like a yes", func(t *testing.T) {
		f := newFixture(t)
		clock := newFakeClock()
		e := enforce.New(policy(t, ""), enforce.NewRegistry(f.srv.Client, enforce.WithClock(clock.Now)))
		batch := enforcetest.Batch(0, recs(avroValue(f.other))...)
		wantReason(t, e.Check(ctx, "orders", 0, batch), enforce.ReasonWrongSubject)
		// The same schema is now registered under orders-value too (same ID).
		if id := f.srv.Avro(t, "orders-value", otherSchema).ID; id != f.other {
			t.Fatalf("re-registering got id %d, want %d", id, f.other)
		}
		clock.Advance(2 * time.Second)
		wantReason(t, e.Check(ctx, "orders", 0, batch), "")
	})
	t.Run("a not-found answer is kept 2 seconds", func(t *testing.T) {
		if enforce.DefaultRegistryNegativeTTL != 2*time.Second {
			t.Errorf("DefaultRegistryNegativeTTL: got %v, want 2s", enforce.DefaultRegistryNegativeTTL)
		}
		e := newEnv(t)
		const id = 4242
		if _, err := e.reg.SchemaByID(ctx, id); !errors.Is(err, enforce.ErrUnknownSchema) {
			t.Fatalf("got %v, want ErrUnknownSchema", err)
		}
		e.srv.Fake.SeedSchema("orders-value", 1, id, sr.Schema{Schema: orderAvro})
		e.clock.Advance(2*time.Second - time.Nanosecond)
		if n := e.requests(func() { _, _ = e.reg.SchemaByID(ctx, id) }); n != 0 {
			t.Errorf("within 2s: got %d requests, want 0", n)
		}
		e.clock.Advance(time.Nanosecond)
		if n := e.requests(func() {
			if _, err := e.reg.SchemaByID(ctx, id); err != nil {
				t.Errorf("after 2s: got %v, want the schema", err)
			}
		}); n != 1 {
			t.Errorf("after 2s: got %d requests, want 1", n)
		}
	})
	t.Run("a not-found asked before the Produce request arrived is asked again", func(t *testing.T) {
		srv := enforcetest.NewRegistry(t)
		reg := enforce.NewRegistry(srv.Client)
		const id = 4343
		if _, err := reg.SchemaByID(ctx, id); !errors.Is(err, enforce.ErrUnknownSchema) {
			t.Fatalf("got %v, want ErrUnknownSchema", err)
		}
		// Registered, then produced: the cached "no" predates the request.
		srv.Fake.SeedSchema("orders-value", 1, id, sr.Schema{Schema: orderAvro})
		req := enforce.WithLookups(ctx, enforce.NewRequestLookups(enforce.DefaultLookupsPerRequest, nil))
		before := srv.Requests()
		if _, err := reg.SchemaByID(req, id); err != nil {
			t.Errorf("a request that arrived after the cached no: got %v, want the schema", err)
		}
		if srv.Requests() == before {
			t.Errorf("the registry was not asked again")
		}
	})
	t.Run("look-ups the cache cannot answer are bounded per request", func(t *testing.T) {
		if enforce.DefaultLookupsPerRequest != 32 || enforce.DefaultLookupsPerConnection != 256 || enforce.DefaultRegistryMaxInFlight != 16 {
			t.Errorf("defaults: got %d per request, %d per connection, %d in flight; want 32, 256, 16",
				enforce.DefaultLookupsPerRequest, enforce.DefaultLookupsPerConnection, enforce.DefaultRegistryMaxInFlight)
		}
		srv := enforcetest.NewRegistry(t)
		reg := enforce.NewRegistry(srv.Client)
		req := enforce.WithLookups(ctx, enforce.NewRequestLookups(enforce.DefaultLookupsPerRequest, enforce.NewConnLookups(enforce.DefaultLookupsPerConnection)))
		before := srv.Requests()
		var refused int
		for id := 9000; id < 9000+2*enforce.DefaultLookupsPerRequest; id++ {
			_, err := reg.SchemaByID(req, id)
			switch {
			case errors.Is(err, enforce.ErrLookupRefused):
				refused++ // the proxy answers it NOT_ENOUGH_REPLICAS (TestEnforceLookupsPerRequest)
			case !errors.Is(err, enforce.ErrUnknownSchema):
				t.Errorf("id %d: got %v, want unknown or refused", id, err)
			}
		}
		if got := srv.Requests() - before; got > enforce.DefaultLookupsPerRequest {
			t.Errorf("%d unknown IDs in one request made %d registry requests, want at most %d",
				2*enforce.DefaultLookupsPerRequest, got, enforce.DefaultLookupsPerRequest)
		}
		if refused != enforce.DefaultLookupsPerRequest {
			t.Errorf("%d look-ups refused, want %d", refused, enforce.DefaultLookupsPerRequest)
		}
	})
	t.Run("concurrent look-ups are merged", func(t *testing.T) {
		const callers = 20
		srv := enforcetest.NewRegistry(t)
		ss := srv.Avro(t, "orders-value", orderAvro)
		var arrived sync.WaitGroup
		arrived.Add(callers)
		reg := enforce.NewRegistry(srv.Client, enforce.WithRegistryObserver(enforce.RegistryObserver{
			CacheLookup: func(r string) {
				if r == enforce.CacheMiss {
					arrived.Done()
				}
			},
		}))
		release := make(chan struct{})
		srv.SetFault(enforcetest.Gate(release))
		before := srv.Requests()
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				if _, err := reg.SchemaByID(ctx, ss.ID); err != nil {
					t.Errorf("SchemaByID: %v", err)
				}
			})
		}
		arrived.Wait()
		close(release)
		wg.Wait()
		if got := srv.Requests() - before; got != 1 {
			t.Errorf("%d concurrent look-ups made %d requests, want 1", callers, got)
		}
	})
}

// orderV2Schema is a second Order schema, so it gets its own ID.
const orderV2Schema = `{"type":"record","name":"Order","namespace":"com.shop","fields":[{"name":"id","type":"string"},{"name":"note","type":"string","default":""}]}`
