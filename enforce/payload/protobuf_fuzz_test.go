package payload_test

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/schemaproxy/schemaproxy/enforce/payload"
)

// protoFuzzTypes are the messages FuzzProtobufValidate picks from, each
// with a valid payload for the seed corpus; protoBoundaryCases of these
// messages seed it too.
var protoFuzzTypes = []struct{ msg, text string }{
	{"test.Scalars", `d: 1.5 f: -2.25 i32: -7 i64: 300 u32: 4 u64: 5 s32: -1 s64: 2 fx32: 3 fx64: 4 sfx32: -5 sfx64: 6
		b: true s: "héllo" by: "\x00\xff" color: GREEN opt: 0 far: "x"`},
	{"test.Repeated", `packed_i32: [1, -1, 300] packed_s64: [-5] packed_fx32: [1, 2] packed_d: [0.5]
		unpacked_i32: [7, 8] unpacked_fx64: [9] names: ["a", ""] items: [{name: "x" price: {units: 3}}] colors: [RED, 7] flags: [true]`},
	{"test.Maps", `labels: [{key: "k" value: "v"}] items: [{key: -1 value: {name: "n"}}] blobs: [{key: true value: "\x01"}] colors: [{key: 5 value: GREEN}]`},
	{"test.Oneofs", `item: {name: "i" qty: 2} after: 1`},
	{"test.Tree", `name: "root" children: [{name: "a" children: [{name: "b"}]}] parent: {name: "p"}`},
	{"test.WellKnown", `at: {seconds: 1700000000 nanos: 5} took: {seconds: 3}
		attrs: {fields: [{key: "a" value: {list_value: {values: [{number_value: 1}, {string_value: "s"}]}}}]} note: {value: "n"} status: STATUS_SHIPPED`},
	{"test.Order", protoOrderText},
	{"legacy.Record", `id: 1 name: "n" Entry: [{key: "a" value: 1}] Meta: {note: "m" kind: B} kind: A nums: [1, 2]
		packed_nums: [3] children: [{tag: "c"}] by_tag: [{key: "x" value: {tag: "y"}}] [legacy.ext_note]: "e" [legacy.ext_nums]: [-1]`},
	{"legacy.Holder", `child: {tag: "t"}`},
	{"ed.E", `checked: "ok" unchecked: "\xfe" delimited: {a: 1 s: "s"} must: 3 expanded: [1, 2]`},
}

// FuzzProtobufValidate compares the validator's verdict on random bytes
// with protobuf-go's (see protoTestFiles.oracle, on the shadow schema
// that makes protobuf-go's rules the validator's). The one difference left
// is depth: the validator stops at payload.MaxDepth. The validator must
// also agree with itself on the shadow schema, which protodesc built,
// except where map semantics give a missing value required fields.
func FuzzProtobufValidate(f *testing.F) {
	p := protoTestSchemas(f)
	type target struct {
		md, shadow protoreflect.MessageDescriptor
		indexes    []int
		v, vShadow payload.Validator
	}
	targets := make([]target, len(protoFuzzTypes))
	for i, ft := range protoFuzzTypes {
		md, ix := p.message(f, ft.msg)
		shadow := p.shadowMessage(f, ft.msg)
		vShadow, err := payload.NewProtobuf(shadow.ParentFile())
		if err != nil {
			f.Fatal(err)
		}
		targets[i] = target{md: md, shadow: shadow, indexes: ix, v: p.validator(f, md), vShadow: vShadow}
		data := p.fromText(f, md, ft.text)
		f.Add(data, uint8(i), false)
		f.Add(data, uint8(i), true)
		if len(data) > 3 {
			f.Add(data[:len(data)/2], uint8(i), false)
		}
	}
	for _, tt := range protoBoundaryCases() {
		i := slices.IndexFunc(protoFuzzTypes, func(ft struct{ msg, text string }) bool { return ft.msg == tt.msg })
		if i >= 0 && tt.indexes == nil {
			f.Add(tt.data, uint8(i), tt.allow)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, sel uint8, allow bool) {
		tg := targets[int(sel)%len(targets)]
		opts := payload.Options{AllowUnknownFields: allow}
		err := tg.v.Validate(data, tg.indexes, opts)
		pe, ok := err.(*payload.Error)
		if err != nil && !ok {
			t.Fatalf("got %T, want *payload.Error", err)
		}
		// Only a real map gives a missing value an empty message, whose
		// required fields then fail.
		mapValue := err != nil && strings.HasSuffix(pe.Path, ": value") && strings.HasPrefix(pe.Msg, "missing required field")
		shadowErr := tg.vShadow.Validate(data, tg.indexes, opts)
		if (err == nil) != (shadowErr == nil) && !mapValue {
			t.Fatalf("%s, allow=%v: validator says %v, on the shadow schema %v", tg.md.FullName(), allow, err, shadowErr)
		}
		if err != nil && strings.Contains(err.Error(), "messages nest deeper than") {
			return // protobuf-go allows 10000 levels
		}
		oracle := p.oracle(tg.shadow, data, allow)
		if (err == nil) != (oracle == nil) {
			t.Fatalf("%s, allow=%v: validator says %v, protobuf-go %v (payload %x)", tg.md.FullName(), allow, err, oracle, data)
		}
	})
}
