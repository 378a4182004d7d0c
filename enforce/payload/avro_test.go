package payload

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/schemaproxy/schemaproxy/examples"
)

// avroParse parses schemas into one fresh cache, as callers resolve
// references, and returns the last.
func avroParse(tb testing.TB, schemas ...string) avro.Schema {
	tb.Helper()
	cache := &avro.SchemaCache{}
	var s avro.Schema
	for _, text := range schemas {
		var err error
		if s, err = avro.ParseWithCache(text, "", cache); err != nil {
			tb.Fatalf("parsing %s: %v", text, err)
		}
	}
	return s
}

func avroCompile(tb testing.TB, schemas ...string) Validator {
	tb.Helper()
	v, err := NewAvro(avroParse(tb, schemas...))
	if err != nil {
		tb.Fatalf("NewAvro: %v", err)
	}
	return v
}

func avroMarshal(tb testing.TB, s avro.Schema, v any) []byte {
	tb.Helper()
	b, err := avro.Marshal(s, v)
	if err != nil {
		tb.Fatalf("avro.Marshal: %v", err)
	}
	return b
}

// avroVarints appends the zig-zag varint encoding of each v: the raw
// material of hand-built payloads.
func avroVarints(dst []byte, vs ...int64) []byte {
	for _, v := range vs {
		u := uint64(v<<1) ^ uint64(v>>63)
		for u >= 0x80 {
			dst = append(dst, byte(u)|0x80)
			u >>= 7
		}
		dst = append(dst, byte(u))
	}
	return dst
}

// avroStr appends an encoded string.
func avroStr(dst []byte, s string) []byte {
	return append(avroVarints(dst, int64(len(s))), s...)
}

func avroCat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func avroExample(tb testing.TB, name string) string {
	tb.Helper()
	b, err := examples.Schemas.ReadFile("schemas/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// avroMemoryCreated is a realistic memory.created event.
func avroMemoryCreated() map[string]any {
	return map[string]any{
		"event_id":        "5f1c2a9e-8d7b-4c3a-9e21-0b6f4d2c8a17",
		"event_type":      "memory.created",
		"timestamp":       "2025-03-14T09:26:53.589Z",
		"source_service":  "memory-service",
		"memory_id":       "mem_01HQ3Z8K5V7WJ2N4R6T8Y0B1C3",
		"user_id":         "user_7c9e6679",
		"agent_id":        nil,
		"content_preview": "The user prefers concise answers, works in Berlin (CET), and is migrating a Kafka cluster from ZooKeeper to KRaft this quarter.",
		"metadata": map[string]any{
			"source":     "conversation",
			"turn":       17,
			"pinned":     false,
			"session_id": "sess_42",
			"expires":    nil,
		},
	}
}

const avroAllTypes = `{"type": "record", "name": "All", "namespace": "test", "fields": [
	{"name": "n", "type": "null"},
	{"name": "b", "type": "boolean"},
	{"name": "i", "type": "int"},
	{"name": "l", "type": "long"},
	{"name": "f", "type": "float"},
	{"name": "d", "type": "double"},
	{"name": "by", "type": "bytes"},
	{"name": "s", "type": "string"},
	{"name": "e", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN", "BLUE"]}},
	{"name": "fx", "type": {"type": "fixed", "name": "MD5", "size": 16}},
	{"name": "a", "type": {"type": "array", "items": "int"}},
	{"name": "m", "type": {"type": "map", "values": ["null", "string", "long"]}},
	{"name": "u", "type": ["null", {"type": "record", "name": "Inner", "fields": [
		{"name": "x", "type": "long"},
		{"name": "tags", "type": {"type": "array", "items": "string"}}
	]}]},
	{"name": "dec", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
	{"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
	{"name": "nulls", "type": {"type": "array", "items": "null"}},
	{"name": "ds", "type": {"type": "array", "items": "double"}}
]}`

func avroAllValue() map[string]any {
	return map[string]any{
		"n":     nil,
		"b":     true,
		"i":     -42,
		"l":     int64(math.MaxInt64),
		"f":     float32(1.5),
		"d":     math.Pi,
		"by":    []byte{0, 1, 2, 0xff},
		"s":     "héllo",
		"e":     "BLUE",
		"fx":    [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		"a":     []any{1, -1, math.MaxInt32, math.MinInt32},
		"m":     map[string]any{"k": "v", "n": nil, "l": int64(7)},
		"u":     map[string]any{"test.Inner": map[string]any{"x": int64(-3), "tags": []any{"a", "bc"}}},
		"dec":   big.NewRat(12345, 100),
		"ts":    time.UnixMilli(1_700_000_000_123).UTC(),
		"nulls": []any{nil, nil, nil},
		"ds":    []any{0.5, -2.25},
	}
}

// avroList is a recursive schema: a linked list through a union.
const avroList = `{"type": "record", "name": "Node", "fields": [
	{"name": "value", "type": "long"},
	{"name": "next", "type": ["null", "Node"]}
]}`

// avroListBytes encodes a list of n nodes by hand.
func avroListBytes(n int) []byte {
	var b []byte
	for i := range n {
		b = avroVarints(b, int64(i))
		if i == n-1 {
			b = avroVarints(b, 0)
		} else {
			b = avroVarints(b, 1)
		}
	}
	return b
}

// avroTree recurses through an array and a map.
const avroTree = `{"type": "record", "name": "Tree", "fields": [
	{"name": "label", "type": "string"},
	{"name": "children", "type": {"type": "array", "items": "Tree"}},
	{"name": "attrs", "type": {"type": "map", "values": "Tree"}}
]}`

func TestAvroValid(t *testing.T) {
	t.Parallel()
	memory := avroExample(t, "memory.created.avsc")
	tests := []struct {
		name    string
		schemas []string // references first, the schema validated last
		value   any      // encoded with avro.Marshal, unless data is set
		data    []byte
	}{
		{name: "null", schemas: []string{`"null"`}, data: []byte{}},
		{name: "boolean false", schemas: []string{`"boolean"`}, value: false},
		{name: "boolean true", schemas: []string{`"boolean"`}, value: true},
		{name: "int zero", schemas: []string{`"int"`}, value: 0},
		{name: "int max", schemas: []string{`"int"`}, value: math.MaxInt32},
		{name: "int min", schemas: []string{`"int"`}, value: math.MinInt32},
		{name: "int over-long zero", schemas: []string{`"int"`}, data: []byte{0x80, 0x80, 0x80, 0x80, 0x00}},
		{name: "long max", schemas: []string{`"long"`}, value: int64(math.MaxInt64)},
		{name: "long min", schemas: []string{`"long"`}, value: int64(math.MinInt64)},
		{name: "float", schemas: []string{`"float"`}, value: float32(-0.25)},
		{name: "double NaN", schemas: []string{`"double"`}, value: math.NaN()},
		{name: "bytes empty", schemas: []string{`"bytes"`}, value: []byte{}},
		{name: "bytes", schemas: []string{`"bytes"`}, value: []byte{0, 0xff}},
		{name: "string empty", schemas: []string{`"string"`}, value: ""},
		{name: "string", schemas: []string{`"string"`}, value: "grüße, 世界"},
		// Invalid UTF-8 is accepted on purpose: see NewAvro.
		{name: "string invalid utf-8", schemas: []string{`"string"`}, data: avroStr(nil, "\xff\xfe")},
		{name: "enum first", schemas: []string{`{"type": "enum", "name": "E", "symbols": ["A", "B"]}`}, value: "A"},
		{name: "enum last", schemas: []string{`{"type": "enum", "name": "E", "symbols": ["A", "B"]}`}, value: "B"},
		{name: "fixed", schemas: []string{`{"type": "fixed", "name": "F", "size": 3}`}, value: [3]byte{1, 2, 3}},
		{name: "fixed empty", schemas: []string{`{"type": "fixed", "name": "F", "size": 0}`}, data: []byte{}},
		{name: "array empty", schemas: []string{`{"type": "array", "items": "long"}`}, value: []any{}},
		{name: "array", schemas: []string{`{"type": "array", "items": "long"}`}, value: []any{int64(1), int64(-300)}},
		{
			name:    "array in two blocks",
			schemas: []string{`{"type": "array", "items": "string"}`},
			data:    avroCat(avroVarints(nil, 1), avroStr(nil, "a"), avroVarints(nil, 2), avroStr(nil, "b"), avroStr(nil, "c"), avroVarints(nil, 0)),
		},
		{
			name:    "array negative block count",
			schemas: []string{`{"type": "array", "items": "string"}`},
			data:    avroCat(avroVarints(nil, -2, 5), avroStr(nil, "ab"), avroStr(nil, "c"), avroVarints(nil, 0)),
		},
		{
			name:    "array negative block count of fixed-size items",
			schemas: []string{`{"type": "array", "items": "double"}`},
			data:    avroCat(avroVarints(nil, -2, 16), make([]byte, 16), avroVarints(nil, 1), make([]byte, 8), avroVarints(nil, 0)),
		},
		{
			name:    "array of nulls at the item limit",
			schemas: []string{`{"type": "array", "items": "null"}`},
			data:    avroVarints(nil, avroMaxItems-1, 1, 0),
		},
		{name: "map empty", schemas: []string{`{"type": "map", "values": "int"}`}, value: map[string]any{}},
		{name: "map", schemas: []string{`{"type": "map", "values": "int"}`}, value: map[string]any{"a": 1, "b": 2}},
		{
			name:    "map negative block count",
			schemas: []string{`{"type": "map", "values": "int"}`},
			data:    avroCat(avroVarints(nil, -2, 6), avroStr(nil, "a"), avroVarints(nil, 1), avroStr(nil, ""), avroVarints(nil, -70), avroVarints(nil, 0)),
		},
		{name: "union null", schemas: []string{`["null", "string"]`}, value: nil},
		{name: "union string", schemas: []string{`["null", "string"]`}, value: "x"},
		{name: "decimal bytes", schemas: []string{`{"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}`}, value: big.NewRat(-1, 4)},
		{name: "decimal fixed", schemas: []string{`{"type": "fixed", "name": "D", "size": 8, "logicalType": "decimal", "precision": 18, "scale": 3}`}, value: big.NewRat(7, 8)},
		{name: "uuid", schemas: []string{`{"type": "string", "logicalType": "uuid"}`}, value: "5f1c2a9e-8d7b-4c3a-9e21-0b6f4d2c8a17"},
		{name: "date", schemas: []string{`{"type": "int", "logicalType": "date"}`}, value: time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{name: "time-millis", schemas: []string{`{"type": "int", "logicalType": "time-millis"}`}, value: 3 * time.Hour},
		{name: "time-micros", schemas: []string{`{"type": "long", "logicalType": "time-micros"}`}, value: 3 * time.Hour},
		{name: "timestamp-micros", schemas: []string{`{"type": "long", "logicalType": "timestamp-micros"}`}, value: time.UnixMicro(1_700_000_000_123_456).UTC()},
		{name: "local-timestamp-millis", schemas: []string{`{"type": "long", "logicalType": "local-timestamp-millis"}`}, value: time.UnixMilli(1_700_000_000_123).UTC()},
		{name: "duration", schemas: []string{`{"type": "fixed", "name": "Dur", "size": 12, "logicalType": "duration"}`}, value: avro.LogicalDuration{Months: 1, Days: 2, Milliseconds: 3}},
		{name: "all types", schemas: []string{avroAllTypes}, value: avroAllValue()},
		{name: "memory.created", schemas: []string{memory}, value: avroMemoryCreated()},
		{name: "list of one", schemas: []string{avroList}, data: avroListBytes(1)},
		{name: "list at the depth limit", schemas: []string{avroList}, data: avroListBytes(MaxDepth)},
		{
			name:    "tree",
			schemas: []string{avroTree},
			value: map[string]any{"label": "root", "attrs": map[string]any{}, "children": []any{
				map[string]any{"label": "a", "children": []any{}, "attrs": map[string]any{
					"k": map[string]any{"label": "leaf", "children": []any{}, "attrs": map[string]any{}},
				}},
			}},
		},
		{
			name: "named types from a reference",
			schemas: []string{
				`{"type": "record", "name": "Address", "namespace": "com.example", "fields": [
					{"name": "city", "type": "string"},
					{"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["HOME", "WORK"]}}
				]}`,
				`{"type": "record", "name": "Person", "namespace": "com.example.people", "fields": [
					{"name": "home", "type": "com.example.Address"},
					{"name": "others", "type": {"type": "array", "items": "com.example.Address"}},
					{"name": "last_kind", "type": ["null", "com.example.Kind"]}
				]}`,
			},
			value: map[string]any{
				"home":      map[string]any{"city": "Berlin", "kind": "HOME"},
				"others":    []any{map[string]any{"city": "Paris", "kind": "WORK"}},
				"last_kind": map[string]any{"com.example.Kind": "WORK"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := avroParse(t, tt.schemas...)
			v, err := NewAvro(s)
			if err != nil {
				t.Fatalf("NewAvro: %v", err)
			}
			data := tt.data
			if data == nil {
				data = avroMarshal(t, s, tt.value)
			}
			if err := v.Validate(data, nil, Options{}); err != nil {
				t.Errorf("Validate(%x) = %v, want nil", data, err)
			}
		})
	}
}

// avroInvalidCase is a payload the validator refuses, with its error; in
// avroBoundaryCases, want is "" for a payload it accepts.
type avroInvalidCase struct {
	name   string
	schema string
	data   []byte
	want   string
}

func avroInvalidCases(t testing.TB) []avroInvalidCase {
	const (
		name    = `{"type": "record", "name": "R", "fields": [{"name": "name", "type": "string"}]}`
		metrics = `{"type": "record", "name": "R", "fields": [{"name": "i", "type": "int"}, {"name": "l", "type": "long"}]}`
		tags    = `{"type": "record", "name": "R", "fields": [{"name": "tags", "type": {"type": "array", "items": "string"}}]}`
		doubles = `{"type": "record", "name": "R", "fields": [{"name": "ds", "type": {"type": "array", "items": "double"}}]}`
		nulls   = `{"type": "record", "name": "R", "fields": [{"name": "nulls", "type": {"type": "array", "items": "null"}}]}`
		counts  = `{"type": "record", "name": "R", "fields": [{"name": "counts", "type": {"type": "map", "values": "long"}}]}`
		misc    = `{"type": "record", "name": "R", "fields": [
			{"name": "ok", "type": "boolean"},
			{"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}},
			{"name": "f", "type": "float"},
			{"name": "fx", "type": {"type": "fixed", "name": "F", "size": 16}},
			{"name": "dec", "type": {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 1}}
		]}`
		wrapped = `{"type": "record", "name": "Outer", "fields": [{"name": "inner", "type": {"type": "record", "name": "Inner", "fields": [{"name": "u", "type": ["null", "long"]}]}}]}`
		double  = `{"type": "record", "name": "R", "fields": [{"name": "a", "type": "double"}]}`
		str     = `{"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}`
	)
	validMisc := []byte{1, 4, 0, 0, 0x80, 0x3f}
	validMisc = append(validMisc, make([]byte, 16)...)
	validMisc = append(validMisc, 2, 5)
	return []avroInvalidCase{
		{"string truncated", name, avroCat(avroVarints(nil, 40), []byte("abc")), "field name: truncated: string length 40 but 3 bytes left"},
		{"string negative length", name, avroVarints(nil, -1), "field name: negative string length -1"},
		{"empty input", name, nil, "field name: truncated: no bytes left for string length"},
		{"length varint cut off", name, []byte{0x80}, "field name: truncated: string length varint cut off after 1 byte"},
		{"trailing bytes", name, avroCat(avroStr(nil, "x"), []byte{1, 2, 3, 4, 5}), "5 bytes left after the end of the record"},
		{"trailing byte after a value", `"int"`, []byte{2, 0}, "1 byte left after the end of the value"},
		{"wrong type: a double read as a string", str, avroCat([]byte{0, 0, 0, 0, 0, 0, 0xf8, 0x3f}), "7 bytes left after the end of the record"},
		{"wrong type: a string read as a double", double, avroStr(nil, "abc"), "field a: truncated: double needs 8 bytes but 4 bytes left"},
		{
			"union index in a map value",
			avroExample(t, "memory.created.avsc"),
			avroCat(avroStr(nil, "e"), avroStr(nil, "t"), avroStr(nil, "ts"), avroStr(nil, "s"), avroStr(nil, "m"),
				avroVarints(nil, 0, 0), avroStr(nil, "c"), avroVarints(nil, 1), avroStr(nil, "k"), avroVarints(nil, 7)),
			"field metadata: map value: union index 7 out of range (union has 4 branches)",
		},
		{"union index negative", `["null", "long"]`, avroVarints(nil, -1), "union index -1 out of range (union has 2 branches)"},
		{"union in a nested record", wrapped, avroVarints(nil, 2), "field inner: field u: union index 2 out of range (union has 2 branches)"},
		{"map key truncated", counts, avroCat(avroVarints(nil, 1, 10), []byte("ab")), "field counts: map key: truncated: string length 10 but 2 bytes left"},
		{"bad boolean", misc, []byte{2}, "field ok: boolean byte 0x02 is neither 0 nor 1"},
		{"enum index too big", misc, avroVarints([]byte{1}, 9), "field e: enum index 9 out of range (3 symbols)"},
		{"enum index negative", misc, avroVarints([]byte{1}, -1), "field e: enum index -1 out of range (3 symbols)"},
		{"float truncated", misc, []byte{1, 4, 0, 0, 0x80}, "field f: truncated: float needs 4 bytes but 3 bytes left"},
		{"fixed truncated", misc, avroCat([]byte{1, 4, 0, 0, 0x80, 0x3f}, make([]byte, 15)), "field fx: truncated: fixed needs 16 bytes but 15 bytes left"},
		{"decimal without bytes", misc, append(bytes.Clone(validMisc[:len(validMisc)-2]), 0), "field dec: decimal with 0 bytes: its two's-complement value needs at least 1"},
		{"int varint too long", metrics, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0}, "field i: int overflows: varint longer than 5 bytes"},
		{"int beyond 32 bits", metrics, []byte{0xfe, 0xff, 0xff, 0xff, 0x1f, 0}, "field i: int overflows 32 bits"},
		{"long varint too long", metrics, []byte{0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, "field l: long overflows: varint longer than 10 bytes"},
		{"long beyond 64 bits", metrics, []byte{0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x03}, "field l: long overflows 64 bits"},
		{"array item", tags, avroCat(avroVarints(nil, 3), avroStr(nil, "a"), avroStr(nil, "b"), avroVarints(nil, 5)), "field tags: array item 2: truncated: string length 5 but 0 bytes left"},
		{"array item index counts across blocks", tags, avroCat(avroVarints(nil, 1), avroStr(nil, "a"), avroVarints(nil, 1, -1)), "field tags: array item 1: negative string length -1"},
		{"array negative block size", tags, avroVarints(nil, -1, -4), "field tags: negative array block size -4"},
		{"array block size beyond the input", tags, avroCat(avroVarints(nil, -1, 9), avroStr(nil, "a")), "field tags: truncated: array block size 9 but 2 bytes left"},
		{"array block size mismatch", tags, avroCat(avroVarints(nil, -1, 1), avroStr(nil, "a"), avroVarints(nil, 0)), "field tags: array block size 1 but its 1 items took 2 bytes"},
		{"array block count of minimum long", tags, avroVarints(nil, math.MinInt64), "field tags: array block count -9223372036854775808 out of range"},
		{"array of fixed-size items truncated", doubles, avroCat(avroVarints(nil, 3), make([]byte, 20)), "field ds: truncated: array block of 3 items of 8 bytes each but 20 bytes left"},
		{"array of nulls too long", nulls, avroVarints(nil, avroMaxItems, 1, 0), "field nulls: array has more than 2147483639 items"},
		{"map block size mismatch", counts, avroCat(avroVarints(nil, -1, 4), avroStr(nil, "a"), avroVarints(nil, 1, 0)), "field counts: map block size 4 but its 1 entries took 3 bytes"},
	}
}

func TestAvroInvalid(t *testing.T) {
	t.Parallel()
	for _, tt := range avroInvalidCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := avroCompile(t, tt.schema)
			err := v.Validate(tt.data, nil, Options{})
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Validate(%x) = %v, want *Error %q", tt.data, err, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Validate(%x) = %q, want %q", tt.data, got, tt.want)
			}
		})
	}
}

// avroNested is n arrays (kind "array") or maps (kind "map") nested in one
// another around null, and a payload that holds one item at every level.
func avroNested(kind string, n int) (schema string, data []byte) {
	schema = `"null"`
	for range n {
		if kind == "array" {
			schema = `{"type": "array", "items": ` + schema + `}`
			data = avroVarints(data, 1) // a block of one item
		} else {
			schema = `{"type": "map", "values": ` + schema + `}`
			data = avroVarints(data, 1, 0) // a block of one entry, key ""
		}
	}
	return schema, append(data, make([]byte, n)...) // the end of each level
}

// avroBoundaryCases are payloads exactly at each bound the validator
// checks, and one past it; want is "" for a valid payload. Each bound is
// met from both sides so that an off-by-one in its comparison fails one
// of the two.
func avroBoundaryCases() []avroInvalidCase {
	const (
		enum3   = `{"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}`
		union2  = `["null", "long"]`
		fixed   = `{"type": "fixed", "name": "F", "size": 16}`
		dec     = `{"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 1}`
		texts   = `{"type": "array", "items": "string"}`
		floats  = `{"type": "array", "items": "double"}`
		nulls   = `{"type": "array", "items": "null"}`
		nullMap = `{"type": "map", "values": "null"}`
	)
	arrays100, arrays100Data := avroNested("array", MaxDepth)
	arrays101, arrays101Data := avroNested("array", MaxDepth+1)
	maps100, maps100Data := avroNested("map", MaxDepth)
	maps101, maps101Data := avroNested("map", MaxDepth+1)
	nested := "nested deeper than 100 records, arrays and maps"
	ten := func(last byte) []byte { return append(bytes.Repeat([]byte{0x80}, 9), last) }
	return []avroInvalidCase{
		{"enum index 0", enum3, avroVarints(nil, 0), ""},
		{"enum index 2, the last symbol", enum3, avroVarints(nil, 2), ""},
		{"enum index 3, one past the last", enum3, avroVarints(nil, 3), "enum index 3 out of range (3 symbols)"},
		{"enum index -1", enum3, avroVarints(nil, -1), "enum index -1 out of range (3 symbols)"},
		{"union index 1, the last branch", union2, avroVarints(nil, 1, 7), ""},
		{"union index 2, one past the last", union2, avroVarints(nil, 2, 7), "union index 2 out of range (union has 2 branches)"},
		{"fixed one byte short", fixed, make([]byte, 15), "truncated: fixed needs 16 bytes but 15 bytes left"},
		{"fixed exact", fixed, make([]byte, 16), ""},
		{"fixed one byte long", fixed, make([]byte, 17), "1 byte left after the end of the value"},
		{"float one byte short", `"float"`, make([]byte, 3), "truncated: float needs 4 bytes but 3 bytes left"},
		{"float exact", `"float"`, make([]byte, 4), ""},
		{"double one byte short", `"double"`, make([]byte, 7), "truncated: double needs 8 bytes but 7 bytes left"},
		{"double exact", `"double"`, make([]byte, 8), ""},
		{"boolean 1", `"boolean"`, []byte{1}, ""},
		{"boolean 2", `"boolean"`, []byte{2}, "boolean byte 0x02 is neither 0 nor 1"},
		// ints: the fifth varint byte holds 4 bits, so 0x0f is its largest.
		{"int 2^31-1", `"int"`, avroVarints(nil, math.MaxInt32), ""},                      // fe ff ff ff 0f
		{"int 2^31", `"int"`, avroVarints(nil, math.MaxInt32+1), "int overflows 32 bits"}, // 80 80 80 80 10
		{"int -2^31", `"int"`, avroVarints(nil, math.MinInt32), ""},                       // ff ff ff ff 0f
		{"int -2^31-1", `"int"`, avroVarints(nil, math.MinInt32-1), "int overflows 32 bits"},
		{"int in 5 bytes", `"int"`, []byte{0x80, 0x80, 0x80, 0x80, 0x00}, ""},
		{"int in 6 bytes", `"int"`, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, "int overflows: varint longer than 5 bytes"},
		{"enum index 2^31", enum3, avroVarints(nil, math.MaxInt32+1), "enum index overflows 32 bits"},
		// longs: the tenth varint byte holds 1 bit.
		{"long 2^63-1", `"long"`, avroVarints(nil, math.MaxInt64), ""}, // fe ff ff ff ff ff ff ff ff 01
		{"long -2^63", `"long"`, avroVarints(nil, math.MinInt64), ""},  // ff ff ff ff ff ff ff ff ff 01
		{"long tenth byte 0x01", `"long"`, ten(0x01), ""},
		{"long tenth byte 0x02", `"long"`, ten(0x02), "long overflows 64 bits"},
		{"long in 10 bytes", `"long"`, ten(0x00), ""},
		{"long in 11 bytes", `"long"`, append(ten(0x80), 0x00), "long overflows: varint longer than 10 bytes"},
		{"string length equal to the bytes left", `"string"`, avroStr(nil, "abc"), ""},
		{"string length one past the bytes left", `"string"`, avroCat(avroVarints(nil, 4), []byte("abc")), "truncated: string length 4 but 3 bytes left"},
		{"bytes length equal to the bytes left", `"bytes"`, avroStr(nil, "abc"), ""},
		{"bytes length one past the bytes left", `"bytes"`, avroCat(avroVarints(nil, 4), []byte("abc")), "truncated: bytes length 4 but 3 bytes left"},
		{"decimal of 1 byte", dec, avroStr(nil, "\x05"), ""},
		{"decimal of 0 bytes", dec, avroStr(nil, ""), "decimal with 0 bytes: its two's-complement value needs at least 1"},
		{"array block size equal to the bytes left", texts, avroCat(avroVarints(nil, -1, 3), avroStr(nil, "a"), avroVarints(nil, 0)),
			"array block size 3 but its 1 items took 2 bytes"},
		{"array block size one past the bytes left", texts, avroCat(avroVarints(nil, -1, 4), avroStr(nil, "a"), avroVarints(nil, 0)),
			"truncated: array block size 4 but 3 bytes left"},
		{"array block size exact", texts, avroCat(avroVarints(nil, -1, 2), avroStr(nil, "a"), avroVarints(nil, 0)), ""},
		{"array block of fixed-size items, exact", floats, avroCat(avroVarints(nil, 3), make([]byte, 24), avroVarints(nil, 0)), ""},
		{"array block of fixed-size items, one byte short", floats, avroCat(avroVarints(nil, 3), make([]byte, 23)),
			"truncated: array block of 3 items of 8 bytes each but 23 bytes left"},
		{"array of nulls, one block at the item limit", nulls, avroVarints(nil, avroMaxItems, 0), ""},
		{"array of nulls, one block past the item limit", nulls, avroVarints(nil, avroMaxItems+1, 0), "array has more than 2147483639 items"},
		// Every map entry takes a byte, so a map count is refused either way;
		// only the message shows which check refused it.
		{"map block count at the item limit", nullMap, avroVarints(nil, avroMaxItems), "map key: truncated: no bytes left for string length"},
		{"map block count past the item limit", nullMap, avroVarints(nil, avroMaxItems+1), "map has more than 2147483639 items"},
		{"arrays nested at the depth limit", arrays100, arrays100Data, ""},
		{"arrays nested one past the depth limit", arrays101, arrays101Data, strings.Repeat("array item 0: ", MaxDepth) + nested},
		{"maps nested at the depth limit", maps100, maps100Data, ""},
		{"maps nested one past the depth limit", maps101, maps101Data, strings.Repeat("map value: ", MaxDepth) + nested},
		{"records nested at the depth limit", avroList, avroListBytes(MaxDepth), ""},
		{"records nested one past the depth limit", avroList, avroListBytes(MaxDepth + 1), strings.Repeat("field next: ", MaxDepth) + nested},
	}
}

func TestAvroBoundaries(t *testing.T) {
	t.Parallel()
	for _, tt := range avroBoundaryCases() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := avroCompile(t, tt.schema)
			got := ""
			if err := v.Validate(tt.data, nil, Options{}); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate(%x) = %q, want %q", tt.data, got, tt.want)
			}
		})
	}
}

func TestAvroErrorPath(t *testing.T) {
	t.Parallel()
	v := avroCompile(t, avroExample(t, "memory.created.avsc"))
	data := avroCat(avroStr(nil, "e"), avroStr(nil, "t"), avroStr(nil, "ts"), avroStr(nil, "s"), avroStr(nil, "m"),
		avroVarints(nil, 0, 0), avroStr(nil, "c"), avroVarints(nil, 1), avroStr(nil, "k"), avroVarints(nil, 7))
	var pe *Error
	if err := v.Validate(data, nil, Options{}); !errors.As(err, &pe) {
		t.Fatalf("Validate = %v, want *Error", err)
	}
	want := Error{Path: "field metadata: map value", Msg: "union index 7 out of range (union has 4 branches)"}
	if *pe != want {
		t.Errorf("got %+v, want %+v", *pe, want)
	}
}

func TestAvroDepthBomb(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		schema string
		data   []byte
		seg    string
	}{
		{"record through a union", avroList, avroListBytes(MaxDepth + 1), "field next"},
		{"records through arrays", avroTree, bytes.Repeat(avroCat(avroStr(nil, ""), avroVarints(nil, 1)), 1000), "field children: array item 0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := avroCompile(t, tt.schema)
			err := v.Validate(tt.data, nil, Options{})
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Validate = %v, want *Error", err)
			}
			if want := "nested deeper than 100 records, arrays and maps"; pe.Msg != want {
				t.Errorf("Msg = %q, want %q", pe.Msg, want)
			}
			if !strings.HasPrefix(pe.Path, tt.seg) {
				t.Errorf("Path = %.80q..., want it to start with %q", pe.Path, tt.seg)
			}
		})
	}
}

// A schema nested deeper than MaxDepth is valid; only its payloads that go
// as deep are not.
func TestAvroDepthOfSchema(t *testing.T) {
	t.Parallel()
	schema := `"null"`
	for range MaxDepth + 1 {
		schema = `{"type": "array", "items": ` + schema + `}`
	}
	v := avroCompile(t, schema)
	if err := v.Validate(avroVarints(nil, 0), nil, Options{}); err != nil {
		t.Errorf("empty outer array: %v, want nil", err)
	}
	err := v.Validate(bytes.Repeat(avroVarints(nil, 1), MaxDepth+1), nil, Options{})
	var pe *Error
	if !errors.As(err, &pe) || !strings.HasPrefix(pe.Msg, "nested deeper than") {
		t.Errorf("Validate = %v, want nesting error", err)
	}
}

// TestAvroTruncated cuts valid payloads at every byte: no proper prefix of
// an Avro value is a value of the same schema.
func TestAvroTruncated(t *testing.T) {
	t.Parallel()
	memory := avroExample(t, "memory.created.avsc")
	tree := map[string]any{"label": "r", "attrs": map[string]any{"x": map[string]any{"label": "", "children": []any{}, "attrs": map[string]any{}}}, "children": []any{}}
	for _, tt := range []struct {
		name   string
		schema string
		value  any
		data   []byte
	}{
		{name: "memory.created", schema: memory, value: avroMemoryCreated()},
		{name: "all types", schema: avroAllTypes, value: avroAllValue()},
		{name: "tree", schema: avroTree, value: tree},
		{name: "list", schema: avroList, data: avroListBytes(5)},
		{
			name:   "negative block counts",
			schema: `{"type": "map", "values": {"type": "array", "items": "float"}}`,
			data:   avroCat(avroVarints(nil, -1, 9), avroStr(nil, "k"), avroVarints(nil, -1, 4), make([]byte, 4), avroVarints(nil, 0, 0)),
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := avroParse(t, tt.schema)
			v, err := NewAvro(s)
			if err != nil {
				t.Fatal(err)
			}
			data := tt.data
			if data == nil {
				data = avroMarshal(t, s, tt.value)
			}
			if err := v.Validate(data, nil, Options{}); err != nil {
				t.Fatalf("whole payload: %v", err)
			}
			for i := range len(data) {
				err := v.Validate(data[:i], nil, Options{})
				var pe *Error
				if !errors.As(err, &pe) || !strings.HasPrefix(pe.Msg, "truncated") {
					t.Errorf("cut at %d of %d: %v, want a truncation *Error", i, len(data), err)
				}
			}
		})
	}
}

func TestNewAvroErrors(t *testing.T) {
	t.Parallel()
	if _, err := NewAvro(nil); err == nil {
		t.Error("NewAvro(nil) = nil error")
	}
}

func TestAvroIgnoresIndexesAndOptions(t *testing.T) {
	t.Parallel()
	v := avroCompile(t, `"long"`)
	if err := v.Validate(avroVarints(nil, 5), []int{3, 1}, Options{AllowUnknownFields: true}); err != nil {
		t.Errorf("Validate = %v, want nil", err)
	}
}

func TestAvroNoAllocs(t *testing.T) {
	s := avroParse(t, avroExample(t, "memory.created.avsc"))
	v, err := NewAvro(s)
	if err != nil {
		t.Fatal(err)
	}
	data := avroMarshal(t, s, avroMemoryCreated())
	all := avroParse(t, avroAllTypes)
	va, err := NewAvro(all)
	if err != nil {
		t.Fatal(err)
	}
	allData := avroMarshal(t, all, avroAllValue())
	allocs := testing.AllocsPerRun(100, func() {
		if err := v.Validate(data, nil, Options{}); err != nil {
			t.Fatal(err)
		}
		if err := va.Validate(allData, nil, Options{}); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Validate allocates %v times per call, want 0", allocs)
	}
}

// TestAvroConcurrent shares one validator between goroutines, for -race.
func TestAvroConcurrent(t *testing.T) {
	t.Parallel()
	s := avroParse(t, avroAllTypes)
	v, err := NewAvro(s)
	if err != nil {
		t.Fatal(err)
	}
	data := avroMarshal(t, s, avroAllValue())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range 200 {
				err := v.Validate(data[:len(data)-i%2], nil, Options{})
				if (err == nil) != (i%2 == 0) {
					t.Errorf("Validate of %d bytes: %v", len(data)-i%2, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkAvroValidate(b *testing.B) {
	s := avroParse(b, avroExample(b, "memory.created.avsc"))
	v, err := NewAvro(s)
	if err != nil {
		b.Fatal(err)
	}
	data := avroMarshal(b, s, avroMemoryCreated())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Validate(data, nil, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
