package payload

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
)

// avroFuzzSchemas are schemas FuzzAvro picks from with the first byte of
// its input, after which come those of avroInvalidCases.
func avroFuzzSchemas(tb testing.TB) []string {
	return []string{
		avroExample(tb, "memory.created.avsc"),
		avroAllTypes,
		avroList,
		avroTree,
		`["null", "int", "string", {"type": "array", "items": "long"}, {"type": "map", "values": "boolean"}]`,
		`{"type": "record", "name": "Logical", "fields": [
			{"name": "dec", "type": {"type": "fixed", "name": "Dec", "size": 4, "logicalType": "decimal", "precision": 8, "scale": 2}},
			{"name": "dur", "type": {"type": "fixed", "name": "Dur", "size": 12, "logicalType": "duration"}},
			{"name": "day", "type": {"type": "int", "logicalType": "date"}},
			{"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
			{"name": "amounts", "type": {"type": "array", "items": {"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 1}}},
			{"name": "pairs", "type": {"type": "array", "items": {"type": "record", "name": "Pair", "fields": [
				{"name": "k", "type": "float"}, {"name": "v", "type": "Dec"}
			]}}}
		]}`,
	}
}

// avroFuzzValues are valid values of avroFuzzSchemas, the seed corpus.
func avroFuzzValues() [][]any {
	leaf := map[string]any{"label": "leaf", "children": []any{}, "attrs": map[string]any{}}
	return [][]any{
		{avroMemoryCreated()},
		{avroAllValue()},
		{map[string]any{"value": int64(1), "next": map[string]any{"Node": map[string]any{"value": int64(-2), "next": nil}}}},
		{leaf, map[string]any{"label": "r", "children": []any{leaf, leaf}, "attrs": map[string]any{"a": leaf}}},
		{nil, 7, "s", map[string]any{"array": []any{int64(1), int64(-1)}}, map[string]any{"map": map[string]any{"t": true, "f": false}}},
		{map[string]any{
			"dec":     big.NewRat(-314, 100),
			"dur":     avro.LogicalDuration{Months: 1, Days: 2, Milliseconds: 3},
			"day":     time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC),
			"id":      "5f1c2a9e-8d7b-4c3a-9e21-0b6f4d2c8a17",
			"amounts": []any{big.NewRat(1, 10), big.NewRat(-5, 1)},
			"pairs":   []any{map[string]any{"k": float32(0.5), "v": big.NewRat(1, 4)}},
		}},
	}
}

// avroHambaConfig decodes with hamba/avro under small allocation limits:
// its generic decoder sizes slices by the counts it reads.
var avroHambaConfig = avro.Config{
	TagKey:            "avro",
	BlockLength:       100,
	MaxByteSliceSize:  1 << 16,
	MaxSliceAllocSize: 1 << 12,
}.Freeze()

// avroHambaCrasher is the only encoding hamba/avro reads as the minimum
// long (it drops the excess bits of the tenth byte, so any odd tenth byte
// below 0x80 will do): as an array block count, its generic decoder grows
// a slice by a negative length and faults, which no recover catches.
var avroHambaCrasher = bytes.Repeat([]byte{0xff}, 9)

// avroHambaSafe reports whether data can be given to hamba/avro: it holds
// no possible minimum-long varint, wherever it might be read.
func avroHambaSafe(data []byte) bool {
	for i := 0; ; {
		j := bytes.Index(data[i:], avroHambaCrasher)
		if j < 0 {
			return true
		}
		i += j + len(avroHambaCrasher)
		if i < len(data) && data[i] < 0x80 && data[i]&1 == 1 {
			return false
		}
		i -= len(avroHambaCrasher) - 1 // a longer run of 0xff may still match
	}
}

// avroHambaDecode decodes data into an any with hamba/avro and reports
// bytes left over. A panic in hamba is an error.
func avroHambaDecode(s avro.Schema, data []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("hamba panicked: %v", p)
		}
	}()
	r := avro.NewReader(nil, 0, avro.WithReaderConfig(avroHambaConfig))
	r.Reset(data)
	var v any
	r.ReadVal(s, &v)
	if r.Error != nil {
		return r.Error
	}
	if r.Peek(); r.Error == nil {
		return errors.New("bytes left after the value")
	}
	return nil
}

// avroStricterOnPurpose lists where the validator refuses what hamba/avro
// decodes, each for a reason given in NewAvro's doc:
//   - an int whose fifth varint byte (a long whose tenth) carries bits
//     beyond 32 (64), which hamba drops;
//   - a negative block count whose byte size is wrong, which hamba skips;
//   - nesting deeper than MaxDepth, which hamba does not bound;
//   - a decimal stored in zero bytes, which hamba reads as 0.
//
// The validator accepts invalid UTF-8 in strings, as hamba does.
var avroStricterOnPurpose = []string{
	"overflows 32 bits",
	"overflows 64 bits",
	"block size",
	"nested deeper than",
	"decimal with 0 bytes",
}

// avroLaxerOnPurpose lists where hamba/avro refuses what the validator
// accepts: only hamba's allocation limits, above which it stops (an array
// of a few thousand nulls fits in a few bytes).
var avroLaxerOnPurpose = []string{
	"MaxSliceAllocSize",
	"MaxByteSliceSize",
}

// avroDifferential fails t when v and hamba/avro disagree on data, except
// where avroStricterOnPurpose or avroLaxerOnPurpose say why.
func avroDifferential(t *testing.T, s avro.Schema, v Validator, data []byte) {
	ours := v.Validate(data, nil, Options{})
	if ours != nil {
		var pe *Error
		if !errors.As(ours, &pe) {
			t.Fatalf("Validate(%x) = %T %v, want *Error", data, ours, ours)
		}
	}
	if !avroHambaSafe(data) {
		return // no verdict from hamba, which would fault if it read a count here
	}
	theirs := avroHambaDecode(s, data)
	switch {
	case (ours == nil) == (theirs == nil):
	case ours != nil:
		for _, m := range avroStricterOnPurpose {
			if strings.Contains(ours.Error(), m) {
				return
			}
		}
		t.Fatalf("Validate(%x) = %v, hamba/avro decodes it", data, ours)
	default:
		for _, m := range avroLaxerOnPurpose {
			if strings.Contains(theirs.Error(), m) {
				return
			}
		}
		t.Fatalf("Validate(%x) = nil, hamba/avro: %v", data, theirs)
	}
}

// FuzzAvro checks that the validator never panics and agrees with
// hamba/avro's decoder, with a trailing-bytes check added, on which
// payloads are values of a few schemas. The first byte picks the schema.
func FuzzAvro(f *testing.F) {
	texts := avroFuzzSchemas(f)
	schemas := make([]avro.Schema, len(texts))
	validators := make([]Validator, len(texts))
	for i, text := range texts {
		schemas[i] = avroParse(f, text)
		validators[i] = avroCompile(f, text)
	}
	for i, values := range avroFuzzValues() {
		for _, value := range values {
			data := avroMarshal(f, schemas[i], value)
			f.Add(append([]byte{byte(i)}, data...))
			if len(data) > 0 {
				f.Add(append([]byte{byte(i)}, data[:len(data)-1]...))
			}
		}
	}
	f.Add(append([]byte{2}, avroListBytes(MaxDepth+1)...))
	f.Add(append([]byte{4}, avroVarints(nil, 3, -2, 2, 4, 0)...))
	// The hand-built invalid and boundary payloads seed too, with their
	// own schemas added to the set.
	for _, tt := range append(avroInvalidCases(f), avroBoundaryCases()...) {
		i := slices.Index(texts, tt.schema)
		if i < 0 {
			i = len(texts)
			texts = append(texts, tt.schema)
			schemas = append(schemas, avroParse(f, tt.schema))
			validators = append(validators, avroCompile(f, tt.schema))
		}
		f.Add(append([]byte{byte(i)}, tt.data...))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		i := int(in[0]) % len(schemas)
		avroDifferential(t, schemas[i], validators[i], in[1:])
	})
}

// TestAvroAgreesWithHamba runs the fuzz comparison on the hand-built
// and boundary cases, so each documented exception shows up in a plain
// test run, and checks that the comparison sees trailing bytes.
func TestAvroAgreesWithHamba(t *testing.T) {
	t.Parallel()
	for _, tt := range append(avroInvalidCases(t), avroBoundaryCases()...) {
		t.Run(tt.name, func(t *testing.T) {
			s := avroParse(t, tt.schema)
			v, err := NewAvro(s)
			if err != nil {
				t.Fatal(err)
			}
			avroDifferential(t, s, v, tt.data)
		})
	}
	s := avroParse(t, avroAllTypes)
	data := avroMarshal(t, s, avroAllValue())
	if err := avroHambaDecode(s, data); err != nil {
		t.Errorf("hamba/avro on a valid payload: %v", err)
	}
	if err := avroHambaDecode(s, append(data, 0)); err == nil {
		t.Error("hamba/avro with a trailing byte: nil error, want one")
	}
	for _, in := range [][]byte{avroVarints(nil, math.MinInt64), {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x31}} {
		if avroHambaSafe(in) {
			t.Errorf("avroHambaSafe(%x) = true, want false", in)
		}
	}
	if in := avroVarints(nil, math.MaxInt64, math.MinInt64+1); !avroHambaSafe(in) {
		t.Errorf("avroHambaSafe(%x) = false, want true", in)
	}
}
