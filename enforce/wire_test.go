package enforce_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/protocol"
)

const testGUID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"

// varints is zigzag varints back to back, for annotated index fixtures.
func varints(vs ...int64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.AppendVarint(b, v)
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestParseConfluent(t *testing.T) {
	t.Parallel()
	guid := enforcetest.AppendGUID(nil, testGUID)
	payload := []byte("avro-bytes")
	tests := []struct {
		name    string
		part    []byte
		headers enforce.IDHeaders
		want    enforce.Ref
		reason  enforce.Reason // "" when no error is expected
	}{
		{
			name: "valid id prefix",
			part: cat([]byte{0x00}, []byte{0x00, 0x00, 0x01, 0x02}, payload), // magic 0, id 258
			want: enforce.Ref{ID: 258, Payload: payload},
		},
		{
			name: "largest id",
			part: []byte{0x00, 0x7f, 0xff, 0xff, 0xff},
			want: enforce.Ref{ID: 1<<31 - 1, Payload: []byte{}},
		},
		{
			name:   "id with the sign bit",
			part:   []byte{0x00, 0x80, 0x00, 0x00, 0x01},
			reason: enforce.ReasonNoSchemaID,
		},
		{
			name: "prefix with empty payload",
			part: []byte{0x00, 0x00, 0x00, 0x00, 0x07},
			want: enforce.Ref{ID: 7, Payload: []byte{}},
		},
		{name: "magic 2", part: []byte{0x02, 0x00, 0x00, 0x00, 0x07}, reason: enforce.ReasonNoSchemaID},
		{name: "plain json", part: []byte(`{"a":1}`), reason: enforce.ReasonNoSchemaID},
		{name: "id 0", part: []byte{0x00, 0x00, 0x00, 0x00, 0x00, 0x01}, reason: enforce.ReasonNoSchemaID},
		{name: "4 bytes", part: []byte{0x00, 0x00, 0x00, 0x07}, reason: enforce.ReasonNoSchemaID},
		{name: "1 byte", part: []byte{0x00}, reason: enforce.ReasonNoSchemaID},
		{name: "tombstone", part: nil, reason: enforce.ReasonNullNotAllowed},
		{name: "empty value", part: []byte{}, reason: enforce.ReasonNoSchemaID},
		{
			name: "magic 1 guid prefix",
			part: cat(guid, payload),
			want: enforce.Ref{GUID: testGUID, Payload: payload},
		},
		{
			name: "magic 1 guid prefix with empty payload",
			part: guid,
			want: enforce.Ref{GUID: testGUID, Payload: []byte{}},
		},
		{name: "magic 1 short", part: guid[:16], reason: enforce.ReasonNoSchemaID},
		{
			name:    "guid header, raw payload",
			part:    payload,
			headers: enforce.IDHeaders{Count: 1, First: guid},
			want:    enforce.Ref{GUID: testGUID, InHeader: true, Payload: payload, HeaderIndexes: []byte{}},
		},
		{
			name:    "guid header wins over a payload that looks prefixed",
			part:    enforcetest.Value(9, payload),
			headers: enforce.IDHeaders{Count: 1, First: guid},
			want:    enforce.Ref{GUID: testGUID, InHeader: true, Payload: enforcetest.Value(9, payload), HeaderIndexes: []byte{}},
		},
		{
			name:    "guid header with protobuf indexes",
			part:    payload,
			headers: enforce.IDHeaders{Count: 1, First: cat(guid, varints(2, 1, 0))},
			want:    enforce.Ref{GUID: testGUID, InHeader: true, Payload: payload, HeaderIndexes: varints(2, 1, 0)},
		},
		{
			name:    "guid header on an empty value",
			part:    []byte{},
			headers: enforce.IDHeaders{Count: 1, First: guid},
			want:    enforce.Ref{GUID: testGUID, InHeader: true, Payload: []byte{}, HeaderIndexes: []byte{}},
		},
		{
			name:    "two headers, valid then invalid",
			part:    payload,
			headers: enforce.IDHeaders{Count: 2, First: guid},
			reason:  enforce.ReasonBadHeader,
		},
		{
			name:    "two headers, invalid then valid",
			part:    enforcetest.Value(9, payload),
			headers: enforce.IDHeaders{Count: 2, First: guid[1:]},
			reason:  enforce.ReasonBadHeader,
		},
		{
			name:    "16-byte header (no magic)",
			part:    payload,
			headers: enforce.IDHeaders{Count: 1, First: guid[1:]},
			reason:  enforce.ReasonBadHeader,
		},
		{
			name:    "header with magic 0",
			part:    payload,
			headers: enforce.IDHeaders{Count: 1, First: cat([]byte{0}, guid[1:])},
			reason:  enforce.ReasonBadHeader,
		},
		{
			name:    "header holding a 4-byte id",
			part:    payload,
			headers: enforce.IDHeaders{Count: 1, First: enforcetest.AppendID(nil, 9)},
			reason:  enforce.ReasonBadHeader,
		},
		{
			name:    "null header value",
			part:    enforcetest.Value(9, payload),
			headers: enforce.IDHeaders{Count: 1, First: nil},
			reason:  enforce.ReasonBadHeader,
		},
		{
			name:    "empty header value",
			part:    payload,
			headers: enforce.IDHeaders{Count: 1, First: []byte{}},
			reason:  enforce.ReasonBadHeader,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := enforce.ParseConfluent(tt.part, tt.headers)
			if tt.reason != "" {
				var re *enforce.RefError
				if !errors.As(err, &re) || re.Reason != tt.reason {
					t.Fatalf("ParseConfluent: got %+v, %v; want a RefError with reason %s", got, err, tt.reason)
				}
				if re.Msg == "" {
					t.Errorf("RefError has no message")
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseConfluent: %v", err)
			}
			if !refEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestParseConfluentHeaderMagic: a schema-ID header is magic 1 and a
// 16-byte GUID, optionally followed by message indexes. Every other magic
// byte, and every length short of 17 bytes, is ReasonBadHeader, whatever
// the payload holds: the part below starts with a valid ID prefix, which
// must not be read instead.
func TestParseConfluentHeaderMagic(t *testing.T) {
	t.Parallel()
	guid := enforcetest.AppendGUID(nil, testGUID)
	withMagic := func(m byte, b []byte) []byte { return cat([]byte{m}, b[1:]) }
	part := enforcetest.Value(9, []byte("avro-bytes"))
	tests := []struct {
		name    string
		header  []byte
		indexes []byte // for a valid header: what follows the GUID
		inMsg   string // for an invalid one: part of the message
	}{
		{name: "magic 0", header: withMagic(0x00, guid), inMsg: "magic byte 0; want 1"},
		{name: "magic 1", header: guid, indexes: []byte{}},
		{name: "magic 2", header: withMagic(0x02, guid), inMsg: "magic byte 2; want 1"},
		{name: "magic 0x7f", header: withMagic(0x7f, guid), inMsg: "magic byte 127; want 1"},
		{name: "magic 0xff", header: withMagic(0xff, guid), inMsg: "magic byte 255; want 1"},
		{name: "magic 1, 18 bytes", header: cat(guid, varints(0)), indexes: varints(0)},
		{name: "magic 2, 18 bytes", header: withMagic(0x02, cat(guid, varints(0))), inMsg: "magic byte 2; want 1"},
		{name: "magic 0xff, 18 bytes", header: withMagic(0xff, cat(guid, varints(0))), inMsg: "magic byte 255; want 1"},
		{name: "magic 1, 16 bytes", header: guid[:16], inMsg: "has 16 bytes"},
		{name: "magic 2, 16 bytes", header: withMagic(0x02, guid[:16]), inMsg: "has 16 bytes"},
		{name: "16 bytes, no magic", header: guid[1:], inMsg: "has 16 bytes; want magic 1 and a 16-byte guid (17 bytes): the magic byte is missing?"},
		{name: "magic 0, 5 bytes", header: enforcetest.AppendID(nil, 9), inMsg: "has 5 bytes"},
		{name: "magic 1 alone", header: []byte{0x01}, inMsg: "has 1 byte"},
		{name: "empty", header: []byte{}, inMsg: "has 0 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := enforcetest.Record(nil, part, enforcetest.Header(enforcetest.ValueSchemaIDHeader, tt.header))
			got, err := enforce.ParseConfluentRecord(&rec, false)
			if tt.inMsg == "" {
				want := enforce.Ref{GUID: testGUID, InHeader: true, Payload: part, HeaderIndexes: tt.indexes}
				if err != nil || !refEqual(got, want) {
					t.Errorf("got %+v, %v; want %+v", got, err, want)
				}
				return
			}
			var re *enforce.RefError
			if !errors.As(err, &re) || re.Reason != enforce.ReasonBadHeader {
				t.Fatalf("got %+v, %v; want a RefError with reason %s", got, err, enforce.ReasonBadHeader)
			}
			if !strings.Contains(re.Msg, tt.inMsg) {
				t.Errorf("got message %q, want it to contain %q", re.Msg, tt.inMsg)
			}
		})
	}
}

func refEqual(a, b enforce.Ref) bool {
	return a.ID == b.ID && a.GUID == b.GUID && a.InHeader == b.InHeader &&
		bytes.Equal(a.Payload, b.Payload) && (a.Payload == nil) == (b.Payload == nil) &&
		bytes.Equal(a.HeaderIndexes, b.HeaderIndexes) && (a.HeaderIndexes == nil) == (b.HeaderIndexes == nil)
}

func TestReadMessageIndexes(t *testing.T) {
	t.Parallel()
	msg := []byte{0x0a, 0x01, 'x'}
	tests := []struct {
		name string
		in   []byte
		want []int
		rest []byte
		fail bool
		msg  string // when failing: part of the message, if set
	}{
		{name: "[0] shortcut", in: cat(varints(0), msg), want: []int{0}, rest: msg},
		{name: "[0] written in full", in: cat(varints(1, 0), msg), want: []int{0}, rest: msg},
		{name: "[1,0] nested", in: cat(varints(2, 1, 0), msg), want: []int{1, 0}, rest: msg},
		{name: "[3] nothing after", in: varints(1, 3), want: []int{3}, rest: []byte{}},
		{name: "64 deep", in: varints(slices.Repeat([]int64{64}, 65)...), want: slices.Repeat([]int{64}, 64), rest: []byte{}},
		{name: "65 deep", in: varints(slices.Repeat([]int64{65}, 66)...), fail: true},
		{name: "count -1", in: cat(varints(-1), msg), fail: true},
		{name: "count 2^40", in: cat(varints(1<<40), msg), fail: true},
		{name: "count past the bytes left", in: varints(3, 1, 0), fail: true, msg: "message index count 3 exceeds the 2 bytes left"},
		{name: "index -3", in: cat(varints(1, -3), msg), fail: true},
		{name: "index 2^31-1", in: varints(1, 1<<31-1), want: []int{1<<31 - 1}, rest: []byte{}},
		{name: "index 2^31", in: varints(1, 1<<31), fail: true},
		{name: "count equal to the bytes left", in: varints(2, 1, 0), want: []int{1, 0}, rest: []byte{}},
		{name: "truncated count varint", in: []byte{0x80}, fail: true},
		{name: "truncated index varint", in: []byte{0x04, 0x02, 0x80}, fail: true},
		{name: "overlong varint", in: bytes.Repeat([]byte{0xff}, 11), fail: true},
		{name: "empty", in: []byte{}, fail: true},
		{name: "nil", in: nil, fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, rest, err := enforce.ReadMessageIndexes(tt.in, nil)
			if tt.fail {
				var re *enforce.RefError
				if !errors.As(err, &re) || re.Reason != enforce.ReasonBadIndexes {
					t.Fatalf("got %v, %v; want a RefError with reason %s", got, err, enforce.ReasonBadIndexes)
				}
				if !strings.Contains(re.Msg, tt.msg) {
					t.Errorf("got message %q, want it to contain %q", re.Msg, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadMessageIndexes: %v", err)
			}
			if !slices.Equal(got, tt.want) || !bytes.Equal(rest, tt.rest) {
				t.Errorf("got %v, rest %x; want %v, rest %x", got, rest, tt.want, tt.rest)
			}
		})
	}
}

func TestRefMessage(t *testing.T) {
	t.Parallel()
	guid := enforcetest.AppendGUID(nil, testGUID)
	msg := []byte{0x0a, 0x01, 'x'}
	tests := []struct {
		name    string
		part    []byte
		header  []byte // nil: no header
		typ     sr.SchemaType
		indexes []int
		msg     []byte
		reason  enforce.Reason
	}{
		{name: "avro prefix", part: enforcetest.Value(7, msg), typ: sr.TypeAvro, msg: msg},
		{name: "json prefix", part: enforcetest.Value(7, msg), typ: sr.TypeJSON, msg: msg},
		{name: "protobuf prefix [0]", part: enforcetest.ProtobufValue(7, []int{0}, msg), typ: sr.TypeProtobuf, indexes: []int{0}, msg: msg},
		{name: "protobuf prefix [1,0]", part: enforcetest.ProtobufValue(7, []int{1, 0}, msg), typ: sr.TypeProtobuf, indexes: []int{1, 0}, msg: msg},
		{name: "protobuf prefix, bad indexes", part: cat(enforcetest.AppendID(nil, 7), varints(-1), msg), typ: sr.TypeProtobuf, reason: enforce.ReasonBadIndexes},
		{name: "protobuf prefix, no indexes", part: enforcetest.AppendID(nil, 7), typ: sr.TypeProtobuf, reason: enforce.ReasonBadIndexes},
		{name: "protobuf magic-1 prefix", part: cat(guid, varints(2, 1, 0), msg), typ: sr.TypeProtobuf, indexes: []int{1, 0}, msg: msg},
		{name: "avro header", part: msg, header: guid, typ: sr.TypeAvro, msg: msg},
		{name: "avro header with trailing bytes", part: msg, header: cat(guid, varints(0)), typ: sr.TypeAvro, reason: enforce.ReasonBadHeader},
		{name: "protobuf header [0]", part: msg, header: cat(guid, varints(0)), typ: sr.TypeProtobuf, indexes: []int{0}, msg: msg},
		{name: "protobuf header [1,0]", part: msg, header: enforcetest.GUIDHeader(testGUID, 1, 0), typ: sr.TypeProtobuf, indexes: []int{1, 0}, msg: msg},
		{name: "protobuf header without indexes", part: msg, header: guid, typ: sr.TypeProtobuf, reason: enforce.ReasonBadIndexes},
		{name: "protobuf header, bytes after indexes", part: msg, header: cat(guid, varints(0), []byte{1}), typ: sr.TypeProtobuf, reason: enforce.ReasonBadHeader},
		{name: "protobuf header, index -3", part: msg, header: cat(guid, varints(1, -3)), typ: sr.TypeProtobuf, reason: enforce.ReasonBadIndexes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := enforce.IDHeaders{}
			if tt.header != nil {
				h = enforce.IDHeaders{Count: 1, First: tt.header}
			}
			ref, err := enforce.ParseConfluent(tt.part, h)
			if err != nil {
				t.Fatalf("ParseConfluent: %v", err)
			}
			indexes, got, err := ref.Message(tt.typ, nil)
			if tt.reason != "" {
				var re *enforce.RefError
				if !errors.As(err, &re) || re.Reason != tt.reason {
					t.Fatalf("Message: got %v, %v; want a RefError with reason %s", indexes, err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("Message: %v", err)
			}
			if !slices.Equal(indexes, tt.indexes) || !bytes.Equal(got, tt.msg) {
				t.Errorf("got %v, %x; want %v, %x", indexes, got, tt.indexes, tt.msg)
			}
		})
	}
}

func TestParseConfluentRecord(t *testing.T) {
	t.Parallel()
	guid := enforcetest.GUIDHeader(testGUID)
	tests := []struct {
		name    string
		rec     protocol.Record
		isKey   bool
		wantID  int
		wantGUI string
		reason  enforce.Reason
	}{
		{name: "value id", rec: enforcetest.Record(nil, enforcetest.Value(5, nil)), wantID: 5},
		{name: "key id", rec: enforcetest.Record(enforcetest.Value(6, nil), enforcetest.Value(5, nil)), isKey: true, wantID: 6},
		{
			name: "value header ignores key header",
			rec: enforcetest.Record(nil, []byte("raw"),
				enforcetest.Header("other", []byte("x")),
				enforcetest.Header(enforcetest.KeySchemaIDHeader, []byte("junk")),
				enforcetest.Header(enforcetest.ValueSchemaIDHeader, guid)),
			wantGUI: testGUID,
		},
		{
			name:    "key header",
			rec:     enforcetest.Record([]byte("k"), enforcetest.Value(5, nil), enforcetest.Header(enforcetest.KeySchemaIDHeader, guid)),
			isKey:   true,
			wantGUI: testGUID,
		},
		{
			name: "duplicate value headers",
			rec: enforcetest.Record(nil, []byte("raw"),
				enforcetest.Header(enforcetest.ValueSchemaIDHeader, guid),
				enforcetest.Header(enforcetest.ValueSchemaIDHeader, guid)),
			reason: enforce.ReasonBadHeader,
		},
		{
			name:   "null value header",
			rec:    enforcetest.Record(nil, enforcetest.Value(5, nil), enforcetest.Header(enforcetest.ValueSchemaIDHeader, nil)),
			reason: enforce.ReasonBadHeader,
		},
		{name: "null key", rec: enforcetest.Record(nil, enforcetest.Value(5, nil)), isKey: true, reason: enforce.ReasonNullNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ref, err := enforce.ParseConfluentRecord(&tt.rec, tt.isKey)
			if tt.reason != "" {
				var re *enforce.RefError
				if !errors.As(err, &re) || re.Reason != tt.reason {
					t.Fatalf("got %+v, %v; want a RefError with reason %s", ref, err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseConfluentRecord: %v", err)
			}
			if ref.ID != tt.wantID || ref.GUID != tt.wantGUI {
				t.Errorf("got id %d guid %q, want id %d guid %q", ref.ID, ref.GUID, tt.wantID, tt.wantGUI)
			}
		})
	}
}

// TestParseConfluentAllocs checks the per-record path allocates nothing
// for payload-prefixed IDs, headers scanned, and indexes read into a
// caller's buffer. Not parallel: AllocsPerRun counts process-wide.
func TestParseConfluentAllocs(t *testing.T) {
	rec := enforcetest.Record([]byte("key"), enforcetest.ProtobufValue(42, []int{1, 0}, []byte{0x0a, 0x00}),
		enforcetest.Header("trace", []byte("abc")))
	var buf [enforce.MaxMessageIndexes]int
	allocs := testing.AllocsPerRun(100, func() {
		ref, err := enforce.ParseConfluentRecord(&rec, false)
		if err != nil || ref.ID != 42 {
			t.Fatalf("ParseConfluentRecord: %+v, %v", ref, err)
		}
		if _, _, err := ref.Message(sr.TypeProtobuf, buf[:0]); err != nil {
			t.Fatalf("Message: %v", err)
		}
	})
	if allocs != 0 {
		t.Errorf("got %v allocations per record, want 0", allocs)
	}
}

func BenchmarkParseConfluentRecord(b *testing.B) {
	rec := enforcetest.Record([]byte("key"), enforcetest.ProtobufValue(42, []int{1, 0}, make([]byte, 100)),
		enforcetest.Header("trace", []byte("abc")))
	var buf [enforce.MaxMessageIndexes]int
	b.ReportAllocs()
	b.SetBytes(int64(len(rec.Value)))
	for b.Loop() {
		ref, _ := enforce.ParseConfluentRecord(&rec, false)
		_, _, _ = ref.Message(sr.TypeProtobuf, buf[:0])
	}
}

// FuzzParseConfluent: never panic; a success has exactly one of ID and
// GUID, is read from a header only when there is exactly one, of magic 1
// and at least 17 bytes, payload and header indexes alias the input, and
// Message splits without panicking or growing a full-capacity buffer.
func FuzzParseConfluent(f *testing.F) {
	f.Fuzz(func(t *testing.T, part []byte, nullPart bool, headers int, header []byte, nullHeader bool) {
		if nullPart {
			part = nil
		}
		if nullHeader {
			header = nil
		}
		h := enforce.IDHeaders{Count: headers & 3, First: header}
		if h.Count == 0 {
			h.First = nil
		}
		ref, err := enforce.ParseConfluent(part, h)
		if err != nil {
			var re *enforce.RefError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a *RefError", err)
			}
			return
		}
		if (ref.ID == 0) == (ref.GUID == "") || ref.ID < 0 || (ref.GUID != "" && len(ref.GUID) != 36) {
			t.Fatalf("bad ref %+v", ref)
		}
		if !bytes.HasSuffix(part, ref.Payload) || !bytes.HasSuffix(header, ref.HeaderIndexes) {
			t.Fatalf("ref %+v is not made of its input", ref)
		}
		if ref.InHeader != (h.Count == 1) || ref.InHeader && (len(header) < 17 || header[0] != 1) {
			t.Fatalf("ref %+v from %d headers, the first %x: want a header read only when it is the one, of magic 1 and 17 bytes or more", ref, h.Count, header)
		}
		for _, typ := range []sr.SchemaType{sr.TypeAvro, sr.TypeProtobuf, sr.TypeJSON} {
			buf := make([]int, 0, enforce.MaxMessageIndexes)
			indexes, msg, err := ref.Message(typ, buf)
			if err != nil {
				continue
			}
			if len(indexes) > 0 && &indexes[0] != &buf[:1][0] {
				t.Fatalf("Message grew the index buffer to %d", len(indexes))
			}
			if !bytes.HasSuffix(part, msg) {
				t.Fatalf("message %x is not the end of the part %x", msg, part)
			}
		}
	})
}

// FuzzMessageIndexes: never panic; never more indexes than the limit or
// the bytes read; all indexes non-negative; rest is a suffix of the input.
func FuzzMessageIndexes(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		buf := make([]int, 0, enforce.MaxMessageIndexes)
		indexes, rest, err := enforce.ReadMessageIndexes(b, buf)
		if err != nil {
			var re *enforce.RefError
			if !errors.As(err, &re) || re.Reason != enforce.ReasonBadIndexes {
				t.Fatalf("error %v is not a RefError with reason %s", err, enforce.ReasonBadIndexes)
			}
			return
		}
		if len(indexes) == 0 || len(indexes) > enforce.MaxMessageIndexes || len(indexes) > len(b) {
			t.Fatalf("%d indexes from %d bytes", len(indexes), len(b))
		}
		if &indexes[0] != &buf[:1][0] {
			t.Fatalf("grew the buffer")
		}
		for _, ix := range indexes {
			if ix < 0 {
				t.Fatalf("negative index in %v", indexes)
			}
		}
		if !bytes.HasSuffix(b, rest) || len(rest) >= len(b) {
			t.Fatalf("rest %x is not a proper suffix of %x", rest, b)
		}
	})
}
