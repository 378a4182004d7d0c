package payload_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	"github.com/bufbuild/protocompile/protoutil"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/schemaproxy/schemaproxy/enforce/payload"
)

// protoSources are the schemas of the Protobuf tests: test/all.proto
// (proto3, importing shared/common.proto and well-known types),
// test/legacy.proto (proto2: groups, required, closed enums, extensions)
// and test/editions.proto (edition 2023 features).
var protoSources = map[string]string{
	"shared/common.proto": `
syntax = "proto3";
package shared;
message Money {
  string currency = 1;
  int64 units = 2;
  int32 nanos = 3;
}
enum Status {
  STATUS_UNSPECIFIED = 0;
  STATUS_OPEN = 1;
  STATUS_SHIPPED = 2;
}
`,
	"test/all.proto": `
syntax = "proto3";
package test;
import "shared/common.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/wrappers.proto";

enum Color {
  COLOR_UNSPECIFIED = 0;
  RED = 1;
  GREEN = 2;
}
message Scalars {
  double d = 1;
  float f = 2;
  int32 i32 = 3;
  int64 i64 = 4;
  uint32 u32 = 5;
  uint64 u64 = 6;
  sint32 s32 = 7;
  sint64 s64 = 8;
  fixed32 fx32 = 9;
  fixed64 fx64 = 10;
  sfixed32 sfx32 = 11;
  sfixed64 sfx64 = 12;
  bool b = 13;
  string s = 14;
  bytes by = 15;
  Color color = 16;
  optional int32 opt = 17;
  string far = 5000;
}
message Item {
  string name = 1;
  int32 qty = 2;
  shared.Money price = 3;
}
message Repeated {
  repeated int32 packed_i32 = 1;
  repeated sint64 packed_s64 = 2;
  repeated fixed32 packed_fx32 = 3;
  repeated double packed_d = 4;
  repeated int32 unpacked_i32 = 5 [packed = false];
  repeated fixed64 unpacked_fx64 = 6 [packed = false];
  repeated string names = 7;
  repeated Item items = 8;
  repeated Color colors = 9;
  repeated bool flags = 10;
}
message Maps {
  map<string, string> labels = 1;
  map<int32, Item> items = 2;
  map<bool, bytes> blobs = 3;
  map<uint64, Color> colors = 4;
}
message Oneofs {
  oneof choice {
    string text = 1;
    int64 number = 2;
    Item item = 3;
  }
  int32 after = 4;
}
message Tree {
  string name = 1;
  repeated Tree children = 2;
  Tree parent = 3;
}
message Outer {
  message Inner {
    int32 x = 1;
    message Deepest {
      string s = 1;
    }
    Deepest deepest = 2;
  }
  Inner inner = 1;
}
message WellKnown {
  google.protobuf.Timestamp at = 1;
  google.protobuf.Duration took = 2;
  google.protobuf.Struct attrs = 3;
  google.protobuf.StringValue note = 4;
  shared.Status status = 5;
}
message Order {
  message LineItem {
    string sku = 1;
    string title = 2;
    int32 quantity = 3;
    shared.Money unit_price = 4;
    repeated string options = 5;
  }
  message Address {
    string name = 1;
    string street = 2;
    string city = 3;
    string postal_code = 4;
    string country = 5;
  }
  string order_id = 1;
  string customer_id = 2;
  google.protobuf.Timestamp created_at = 3;
  shared.Status status = 4;
  repeated LineItem items = 5;
  shared.Money total = 6;
  map<string, string> attributes = 7;
  Address shipping = 8;
  repeated int64 tags = 9;
  double discount = 10;
  bool gift = 11;
  bytes signature = 12;
}
`,
	"test/legacy.proto": `
syntax = "proto2";
package legacy;
enum Kind {
  A = 1;
  B = 2;
}
message Child {
  required string tag = 1;
}
message Record {
  required int64 id = 1;
  optional string name = 2;
  repeated group Entry = 3 {
    required string key = 4;
    optional int32 value = 5;
  }
  optional group Meta = 6 {
    optional string note = 7;
    optional Kind kind = 8;
  }
  optional Kind kind = 9;
  repeated int32 nums = 10;
  repeated int32 packed_nums = 11 [packed = true];
  repeated Child children = 12;
  map<string, Child> by_tag = 13;
  extensions 100 to 199;
}
extend Record {
  optional string ext_note = 100;
  repeated sint32 ext_nums = 101;
}
// Holder's child is a singular message with a required field: protobuf-go
// merges split occurrences of it, the validator does not.
message Holder {
  optional Child child = 1;
}
`,
	"test/editions.proto": `
edition = "2023";
package ed;
message E {
  message Sub {
    int32 a = 1;
    string s = 2;
  }
  string checked = 1;
  string unchecked = 2 [features.utf8_validation = NONE];
  Sub delimited = 3 [features.message_encoding = DELIMITED];
  int32 must = 4 [features.field_presence = LEGACY_REQUIRED];
  repeated int32 expanded = 5 [features.repeated_field_encoding = EXPANDED];
}
`,
}

// protoTestFiles are protoSources compiled once, shared by the tests.
type protoTestFiles struct {
	files map[string]linker.File
	types *protoregistry.Types // extensions, for prototext and proto.Unmarshal
	// shadow holds the same files rebuilt with protodesc and changed so
	// that protobuf-go's verdict becomes the validator's, without changing
	// which bytes parse:
	//   - each map entry is a plain nested message, so protobuf-go keeps a
	//     map entry's unknown and wrong-wire-type fields as unknown fields
	//     instead of dropping them;
	//   - oneofs are dissolved into plain fields, so that a later member
	//     does not discard an earlier one whose bytes held unknown fields;
	//   - each singular message field whose type has required fields, at
	//     any depth, is repeated, so that its occurrences are checked one
	//     by one instead of merged.
	// The shadow types keep their names.
	shadow      *protoregistry.Files
	shadowTypes *protoregistry.Types
	mapEntries  map[protoreflect.FullName]bool
}

var (
	protoOnce     sync.Once
	protoFilesVal *protoTestFiles
	protoFilesErr error
)

func protoTestSchemas(tb testing.TB) *protoTestFiles {
	tb.Helper()
	protoOnce.Do(func() { protoFilesVal, protoFilesErr = protoCompileSources() })
	if protoFilesErr != nil {
		tb.Fatal(protoFilesErr)
	}
	return protoFilesVal
}

func protoCompileSources() (*protoTestFiles, error) {
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: protocompile.SourceAccessorFromMap(protoSources),
		}),
	}
	names := []string{"test/all.proto", "test/legacy.proto", "test/editions.proto"}
	compiled, err := c.Compile(context.Background(), names...)
	if err != nil {
		return nil, err
	}
	p := &protoTestFiles{
		files:       make(map[string]linker.File),
		types:       new(protoregistry.Types),
		shadowTypes: new(protoregistry.Types),
		mapEntries:  make(map[protoreflect.FullName]bool),
	}
	set := &descriptorpb.FileDescriptorSet{}
	seen := make(map[string]bool)
	needsInit := make(map[protoreflect.FullName]bool)
	var shadowErr error
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		for i := 0; i < fd.Imports().Len(); i++ {
			add(fd.Imports().Get(i).FileDescriptor)
		}
		protoNeedsInit(fd.Messages(), needsInit)
		fdp := protoutil.ProtoFromFileDescriptor(fd)
		fdp = proto.Clone(fdp).(*descriptorpb.FileDescriptorProto)
		if err := protoShadow(fdp.GetPackage(), fdp.MessageType, p.mapEntries, needsInit); err != nil && shadowErr == nil {
			shadowErr = fmt.Errorf("%s: %w", fd.Path(), err)
		}
		set.File = append(set.File, fdp)
	}
	for i, f := range compiled {
		p.files[names[i]] = f
		add(f)
		for j := 0; j < f.Extensions().Len(); j++ {
			if err := p.types.RegisterExtension(dynamicpb.NewExtensionType(f.Extensions().Get(j))); err != nil {
				return nil, err
			}
		}
	}
	if shadowErr != nil {
		return nil, shadowErr
	}
	p.shadow, err = protodesc.NewFiles(set)
	if err != nil {
		return nil, fmt.Errorf("shadow files: %w", err)
	}
	fd, err := p.shadow.FindFileByPath("test/legacy.proto")
	if err != nil {
		return nil, err
	}
	for j := 0; j < fd.Extensions().Len(); j++ {
		if err := p.shadowTypes.RegisterExtension(dynamicpb.NewExtensionType(fd.Extensions().Get(j))); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// protoNeedsInit records, for msgs and the types they use, whether a
// message of the type can lack a required field at any depth.
func protoNeedsInit(msgs protoreflect.MessageDescriptors, memo map[protoreflect.FullName]bool) {
	var needs func(md protoreflect.MessageDescriptor) bool
	needs = func(md protoreflect.MessageDescriptor) bool {
		if v, ok := memo[md.FullName()]; ok {
			return v
		}
		memo[md.FullName()] = false // a cycle adds nothing
		v := false
		for i := 0; i < md.Fields().Len(); i++ {
			fd := md.Fields().Get(i)
			if fd.Cardinality() == protoreflect.Required || (fd.Message() != nil && needs(fd.Message())) {
				v = true
			}
		}
		memo[md.FullName()] = v
		return v
	}
	for i := 0; i < msgs.Len(); i++ {
		needs(msgs.Get(i))
		protoNeedsInit(msgs.Get(i).Messages(), memo)
	}
}

// protoShadow makes msgs shadow types (see protoTestFiles.shadow),
// recording the names of former map entries.
func protoShadow(scope string, msgs []*descriptorpb.DescriptorProto, entries, needsInit map[protoreflect.FullName]bool) error {
	for _, m := range msgs {
		name := scope + "." + m.GetName()
		if m.GetOptions().GetMapEntry() {
			m.Options.MapEntry = nil
			entries[protoreflect.FullName(name)] = true
		}
		m.OneofDecl = nil
		for _, f := range m.Field {
			f.OneofIndex, f.Proto3Optional = nil, nil
			t := protoreflect.FullName(strings.TrimPrefix(f.GetTypeName(), "."))
			if f.GetLabel() == descriptorpb.FieldDescriptorProto_LABEL_REPEATED || !needsInit[t] {
				continue
			}
			if f.GetLabel() == descriptorpb.FieldDescriptorProto_LABEL_REQUIRED {
				return fmt.Errorf("field %s.%s: the shadow cannot unmerge a required message field", name, f.GetName())
			}
			f.Label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
		}
		if err := protoShadow(name, m.NestedType, entries, needsInit); err != nil {
			return err
		}
	}
	return nil
}

// message returns the descriptor named name and the indexes that select it.
func (p *protoTestFiles) message(tb testing.TB, name string) (protoreflect.MessageDescriptor, []int) {
	tb.Helper()
	for _, fd := range p.files {
		if md, ok := fd.FindDescriptorByName(protoreflect.FullName(name)).(protoreflect.MessageDescriptor); ok {
			return md, protoIndexes(md)
		}
	}
	tb.Fatalf("no message %s", name)
	return nil, nil
}

func (p *protoTestFiles) shadowMessage(tb testing.TB, name string) protoreflect.MessageDescriptor {
	tb.Helper()
	d, err := p.shadow.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		tb.Fatal(err)
	}
	return d.(protoreflect.MessageDescriptor)
}

// protoIndexes are Confluent's message indexes of md in its file.
func protoIndexes(md protoreflect.MessageDescriptor) []int {
	var ix []int
	for d := protoreflect.Descriptor(md); ; {
		ix = append([]int{d.Index()}, ix...)
		parent, ok := d.Parent().(protoreflect.MessageDescriptor)
		if !ok {
			return ix
		}
		d = parent
	}
}

// validator compiles the file of md.
func (p *protoTestFiles) validator(tb testing.TB, md protoreflect.MessageDescriptor) payload.Validator {
	tb.Helper()
	v, err := payload.NewProtobuf(md.ParentFile())
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// fromText marshals the text-format message text of type md.
func (p *protoTestFiles) fromText(tb testing.TB, md protoreflect.MessageDescriptor, text string) []byte {
	tb.Helper()
	m := dynamicpb.NewMessage(md)
	if err := (prototext.UnmarshalOptions{Resolver: p.types}).Unmarshal([]byte(text), m); err != nil {
		tb.Fatalf("text of %s: %v", md.FullName(), err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		tb.Fatalf("marshal %s: %v", md.FullName(), err)
	}
	return b
}

// oracle is protobuf-go's verdict on data as a message of the shadow type
// md: proto.Unmarshal must succeed (required fields included), and no
// message in the tree may keep unknown fields, unless allow; even then a
// field kept as unknown though its number is known (protobuf-go's way
// with a wrong wire type) fails.
func (p *protoTestFiles) oracle(md protoreflect.MessageDescriptor, data []byte, allow bool) error {
	m := dynamicpb.NewMessage(md)
	if err := (proto.UnmarshalOptions{Resolver: p.shadowTypes}).Unmarshal(data, m); err != nil {
		return err
	}
	return p.oracleTree(m, allow)
}

func (p *protoTestFiles) oracleTree(m protoreflect.Message, allow bool) error {
	md := m.Descriptor()
	for u := m.GetUnknown(); len(u) > 0; {
		num, typ, n := protowire.ConsumeField(u)
		if n < 0 {
			return fmt.Errorf("%s: unparsable unknown fields", md.FullName())
		}
		if !allow {
			return fmt.Errorf("%s: unknown field %d", md.FullName(), num)
		}
		if md.Fields().ByNumber(num) != nil {
			return fmt.Errorf("%s: known field %d kept as unknown (wire type %d)", md.FullName(), num, typ)
		}
		if _, err := p.shadowTypes.FindExtensionByNumber(md.FullName(), num); err == nil {
			return fmt.Errorf("%s: known extension %d kept as unknown (wire type %d)", md.FullName(), num, typ)
		}
		u = u[n:]
	}
	if p.mapEntries[md.FullName()] {
		// A real map gives a missing message value an empty message,
		// whose required fields then fail.
		if v := md.Fields().ByNumber(2); v.Message() != nil && !m.Has(v) && v.Message().RequiredNumbers().Len() > 0 {
			return fmt.Errorf("%s: no value, and an empty value lacks required fields", md.FullName())
		}
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		if fd.IsList() {
			for i := 0; i < v.List().Len() && err == nil; i++ {
				err = p.oracleTree(v.List().Get(i).Message(), allow)
			}
			return err == nil
		}
		err = p.oracleTree(v.Message(), allow)
		return err == nil
	})
	return err
}

func TestProtobufValid(t *testing.T) {
	t.Parallel()
	p := protoTestSchemas(t)
	tests := []struct {
		name, msg, text string
	}{
		{"empty", "test.Scalars", ``},
		{"scalars", "test.Scalars", `d: 1.5 f: -2.25 i32: -7 i64: -9000000000 u32: 4000000000 u64: 18446744073709551615
			s32: -123 s64: -1234567890123 fx32: 4294967295 fx64: 1 sfx32: -1 sfx64: -2 b: true
			s: "héllo" by: "\x00\xff" color: GREEN opt: 0 far: "x"`},
		{"open enum value not declared", "test.Scalars", `color: 99`},
		{"negative int32 as ten bytes", "test.Scalars", `i32: -1`},
		{"repeated packed and unpacked", "test.Repeated", `packed_i32: [1, -1, 300] packed_s64: [-5, 5]
			packed_fx32: [1, 2] packed_d: [0.5] unpacked_i32: [7, 8] unpacked_fx64: [9]
			names: ["a", ""] items: [{name: "x" qty: 1 price: {currency: "EUR" units: 3}}, {}]
			colors: [RED, 7] flags: [true, false]`},
		{"maps", "test.Maps", `labels: [{key: "k" value: "v"}, {key: "" value: ""}]
			items: [{key: -1 value: {name: "n"}}, {key: 2}] blobs: [{key: true value: "\x01"}]
			colors: [{key: 18446744073709551615 value: GREEN}]`},
		{"oneof text", "test.Oneofs", `text: "t" after: 1`},
		{"oneof message", "test.Oneofs", `item: {name: "i"}`},
		{"nested message types", "test.Outer", `inner: {x: 1 deepest: {s: "d"}}`},
		{"selected nested message", "test.Outer.Inner", `x: 2 deepest: {s: "d"}`},
		{"recursive", "test.Tree", `name: "root" children: [{name: "a" children: [{name: "b"}]}] parent: {name: "p"}`},
		{"well-known types", "test.WellKnown", `at: {seconds: 1700000000 nanos: 5} took: {seconds: 3}
			attrs: {fields: [{key: "a" value: {list_value: {values: [{number_value: 1}, {string_value: "s"}, {null_value: NULL_VALUE}]}}},
			                 {key: "b" value: {struct_value: {fields: [{key: "c" value: {bool_value: true}}]}}}]}
			note: {value: "n"} status: STATUS_SHIPPED`},
		{"proto2 groups and required", "legacy.Record", `id: 1 name: "\xff not utf-8 in proto2"
			Entry: [{key: "a" value: 1}, {key: "b"}] Meta: {note: "m" kind: B} kind: A nums: [1, 2]
			packed_nums: [3, 4] children: [{tag: "c"}] by_tag: [{key: "x" value: {tag: "y"}}]`},
		{"proto2 extensions", "legacy.Record", `id: 1 [legacy.ext_note]: "e" [legacy.ext_nums]: [-1, 2]`},
		{"proto2 closed enum value not declared", "legacy.Record", `id: 1 kind: 7 Meta: {kind: 42}`},
		{"editions", "ed.E", `checked: "ok" unchecked: "\xfe" delimited: {a: 1 s: "s"} must: 0 expanded: [1, 2]`},
		{"order", "test.Order", protoOrderText},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			md, ix := p.message(t, tt.msg)
			v := p.validator(t, md)
			data := p.fromText(t, md, tt.text)
			for _, allow := range []bool{false, true} {
				if err := v.Validate(data, ix, payload.Options{AllowUnknownFields: allow}); err != nil {
					t.Errorf("allow=%v: got %v, want nil (payload %x)", allow, err, data)
				}
				if err := p.oracle(p.shadowMessage(t, tt.msg), data, allow); err != nil {
					t.Errorf("allow=%v: protobuf-go disagrees: %v", allow, err)
				}
			}
		})
	}
}

// protoB builds wire-format fixtures one annotated piece at a time.
type protoB []byte

func (b protoB) tag(num protowire.Number, typ protowire.Type) protoB {
	return protowire.AppendTag(b, num, typ)
}
func (b protoB) varint(v uint64) protoB  { return protowire.AppendVarint(b, v) }
func (b protoB) fixed32(v uint32) protoB { return protowire.AppendFixed32(b, v) }
func (b protoB) fixed64(v uint64) protoB { return protowire.AppendFixed64(b, v) }
func (b protoB) bytes(v []byte) protoB   { return protowire.AppendBytes(b, v) }
func (b protoB) str(s string) protoB     { return protowire.AppendString(b, s) }
func (b protoB) raw(v ...byte) protoB    { return append(b, v...) }

func TestProtobufInvalid(t *testing.T) {
	t.Parallel()
	p := protoTestSchemas(t)
	item := protoB{}.tag(1, 2).str("ok")
	badItem := protoB{}.tag(1, 2).str("\xc3")
	tree := func(depth int) []byte { // Tree{children: [Tree{children: ...}]}
		var b []byte
		for range depth - 1 {
			b = protoB{}.tag(2, 2).bytes(b)
		}
		return b
	}
	unknownGroups := func(depth int) []byte {
		var b protoB
		for i := range depth {
			b = b.tag(protowire.Number(20+i), protowire.StartGroupType)
		}
		for i := depth - 1; i >= 0; i-- {
			b = b.tag(protowire.Number(20+i), protowire.EndGroupType)
		}
		return b
	}
	tests := []protoCase{
		{name: "wrong wire type for string", msg: "test.Scalars",
			data: protoB{}.tag(14, 0).varint(1),
			want: "field s: wire type 0 (varint) for a string field"},
		{name: "wrong wire type even with unknown fields allowed", msg: "test.Scalars", allow: true,
			data: protoB{}.tag(3, 5).fixed32(1),
			want: "field i32: wire type 5 (fixed32) for an int32 field"},
		{name: "message as group", msg: "test.Repeated", allow: true,
			data: protoB{}.tag(8, 3).tag(8, 4),
			want: "field items[0]: wire type 3 (start group) for a repeated message field"},
		{name: "unknown field rejected", msg: "test.Scalars",
			data: protoB{}.tag(3, 0).varint(1).tag(17000, 2).str("x"),
			want: "unknown field 17000 (wire type 2) at byte 2"},
		{name: "unknown field allowed", msg: "test.Scalars", allow: true,
			data: protoB{}.tag(3, 0).varint(1).tag(17000, 2).str("x").tag(19500, 0).varint(3)},
		{name: "unknown field allowed but truncated", msg: "test.Scalars", allow: true,
			data: protoB{}.tag(99, 2).varint(40).raw(1, 2, 3),
			want: "unknown field 99: truncated: length 40 but 3 bytes left"},
		{name: "unknown field in nested message", msg: "test.Repeated",
			data: protoB{}.tag(8, 2).bytes(item).tag(8, 2).bytes(protoB{}.tag(9, 0).varint(1)),
			want: "field items[1]: unknown field 9 (wire type 0) at byte 8"},
		{name: "unknown field in map entry", msg: "test.Maps",
			data: protoB{}.tag(1, 2).bytes(protoB{}.tag(1, 2).str("k").tag(3, 0).varint(1)),
			want: "field labels[0]: unknown field 3 (wire type 0) at byte 5"},
		{name: "unknown field in map entry allowed", msg: "test.Maps", allow: true,
			data: protoB{}.tag(1, 2).bytes(protoB{}.tag(1, 2).str("k").tag(3, 0).varint(1))},
		{name: "map key with wrong wire type", msg: "test.Maps", allow: true,
			data: protoB{}.tag(2, 2).bytes(protoB{}.tag(1, 2).str("k")),
			want: "field items[0]: key: wire type 2 (length-delimited) for an int32 field"},
		{name: "bad UTF-8 in proto3 string", msg: "test.Scalars",
			data: protoB{}.tag(14, 2).str("ab\xffc"),
			want: "field s: invalid UTF-8 at byte 2 of the string"},
		{name: "bad UTF-8 deep in a list", msg: "test.Repeated",
			data: protoB{}.tag(8, 2).bytes(item).tag(1, 0).varint(5).tag(8, 2).bytes(item).tag(8, 2).bytes(badItem),
			want: "field items[2]: field name: invalid UTF-8 at byte 0 of the string"},
		{name: "bad UTF-8 in map key", msg: "test.Maps",
			data: protoB{}.tag(1, 2).bytes(protoB{}.tag(1, 2).str("\x80")),
			want: "field labels[0]: key: invalid UTF-8 at byte 0 of the string"},
		{name: "bad UTF-8 in a well-known type", msg: "test.WellKnown",
			data: protoB{}.tag(4, 2).bytes(protoB{}.tag(1, 2).str("\xed\xa0\x80")),
			want: "field note: field value: invalid UTF-8 at byte 0 of the string"},
		{name: "bad UTF-8 in editions VERIFY", msg: "ed.E",
			data: protoB{}.tag(1, 2).str("\xff").tag(4, 0).varint(0),
			want: "field checked: invalid UTF-8 at byte 0 of the string"},
		{name: "bad UTF-8 in editions NONE", msg: "ed.E",
			data: protoB{}.tag(2, 2).str("\xff").tag(4, 0).varint(0)},
		{name: "editions delimited is a group", msg: "ed.E",
			data: protoB{}.tag(3, 2).bytes(nil).tag(4, 0).varint(0),
			want: "field delimited: wire type 2 (length-delimited) for a group field"},
		{name: "editions legacy required", msg: "ed.E",
			data: protoB{}.tag(3, 3).tag(1, 0).varint(1).tag(3, 4),
			want: "missing required field must"},
		{name: "over-long varint", msg: "test.Scalars",
			data: protoB{}.tag(4, 0).raw(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01),
			want: "field i64: varint longer than 10 bytes"},
		{name: "tenth varint byte overflows", msg: "test.Scalars",
			data: protoB{}.tag(4, 0).raw(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02),
			want: "field i64: varint longer than 10 bytes"},
		{name: "non-minimal varint", msg: "test.Scalars",
			data: protoB{}.tag(4, 0).raw(0x81, 0x80, 0x80, 0x00)},
		{name: "truncated varint", msg: "test.Scalars",
			data: protoB{}.tag(4, 0).raw(0x81, 0x80),
			want: "field i64: truncated: data ends inside a varint"},
		{name: "truncated length", msg: "test.Scalars",
			data: protoB{}.tag(14, 2).varint(40).raw('a', 'b', 'c'),
			want: "field s: truncated: length 40 but 3 bytes left"},
		{name: "negative length", msg: "test.Scalars",
			data: protoB{}.tag(15, 2).varint(^uint64(0)).raw(1, 2, 3),
			want: "field by: truncated: length 18446744073709551615 but 3 bytes left (a negative number written as a length?)"},
		{name: "huge length", msg: "test.Scalars",
			data: protoB{}.tag(15, 2).varint(1 << 62).raw(1),
			want: "field by: truncated: length 4611686018427387904 but 1 byte left"},
		{name: "truncated fixed64", msg: "test.Scalars",
			data: protoB{}.tag(1, 1).raw(0, 0, 0),
			want: "field d: truncated: 8-byte value but 3 bytes left"},
		{name: "packed fixed32 not whole", msg: "test.Repeated",
			data: protoB{}.tag(3, 5).fixed32(1).tag(3, 2).bytes([]byte{1, 2, 3, 4, 5, 6}),
			want: "field packed_fx32[2]: truncated: packed run of 6 bytes is not a whole number of 4-byte elements"},
		{name: "packed varint truncated", msg: "test.Repeated",
			data: protoB{}.tag(1, 2).bytes([]byte{1, 0x96, 0x01, 0x80}),
			want: "field packed_i32[2]: truncated: data ends inside a varint"},
		{name: "packed and unpacked mixed", msg: "test.Repeated",
			data: protoB{}.tag(1, 0).varint(1).tag(1, 2).bytes([]byte{2, 3}).tag(5, 2).bytes([]byte{4}).tag(6, 1).fixed64(5).tag(9, 2).bytes(nil).tag(10, 2).bytes([]byte{1, 0})},
		{name: "packed string is no such thing", msg: "test.Repeated",
			data: protoB{}.tag(7, 0).varint(1),
			want: "field names[0]: wire type 0 (varint) for a repeated string field"},
		{name: "trailing zero padding", msg: "test.Scalars",
			data: protoB{}.tag(3, 0).varint(1).raw(0, 0, 0),
			want: "tag at byte 2 has field number 0 (3 zero bytes of padding after the message?)"},
		{name: "trailing garbage", msg: "test.Scalars",
			data: protoB{}.tag(3, 0).varint(1).raw(0xff),
			want: "truncated: tag at byte 2 ends inside its varint"},
		{name: "field number above the maximum", msg: "test.Scalars", allow: true,
			data: protoB{}.varint(uint64(protowire.MaxValidNumber+1) << 3).varint(1), // wire type 0
			want: "tag at byte 0 has field number 536870912, above the maximum 536870911"},
		{name: "field number beyond int32", msg: "test.Scalars", allow: true,
			data: protoB{}.varint(1 << 40).varint(1),
			want: "tag at byte 0 has field number 137438953472, above the maximum 536870911"},
		{name: "field number beyond the maximum in an unknown group", msg: "test.Scalars", allow: true,
			data: protoB{}.tag(50, 3).varint(uint64(protowire.MaxValidNumber+1)<<3).varint(1).tag(50, 4)},
		{name: "reserved wire type", msg: "test.Scalars", allow: true,
			data: protoB{}.tag(50, 6),
			want: "unknown field 50: wire type 6 (invalid) is reserved"},
		{name: "end group at top level", msg: "test.Scalars", allow: true,
			data: protoB{}.tag(50, 4),
			want: "end-group tag for field 50 at byte 0 outside any group"},
		{name: "missing required", msg: "legacy.Record",
			data: protoB{}.tag(2, 2).str("n"),
			want: "missing required field id"},
		{name: "missing required in group", msg: "legacy.Record",
			data: protoB{}.tag(1, 0).varint(1).tag(3, 3).tag(4, 2).str("k").tag(3, 4).tag(3, 3).tag(5, 0).varint(1).tag(3, 4),
			want: "field entry[1]: missing required field key"},
		{name: "missing required in list", msg: "legacy.Record",
			data: protoB{}.tag(12, 2).bytes(nil).tag(1, 0).varint(1),
			want: "field children[0]: missing required field tag"},
		{name: "map value missing lacks required", msg: "legacy.Record",
			data: protoB{}.tag(1, 0).varint(1).tag(13, 2).bytes(protoB{}.tag(1, 2).str("k")),
			want: "field by_tag[0]: value: missing required field tag"},
		{name: "group end mismatch", msg: "legacy.Record",
			data: protoB{}.tag(1, 0).varint(1).tag(6, 3).tag(7, 2).str("n").tag(5, 4),
			want: "field meta: end-group tag for field 5 at byte 6 inside group 6"},
		{name: "group without end", msg: "legacy.Record",
			data: protoB{}.tag(1, 0).varint(1).tag(6, 3).tag(7, 2).str("n"),
			want: "field meta: truncated: group 6 has no end-group tag"},
		{name: "non-minimal end-group tag", msg: "legacy.Record",
			data: protoB{}.tag(1, 0).varint(1).tag(6, 3).tag(7, 2).str("n").raw(0xb4, 0x80, 0x00)},
		{name: "proto2 list accepts packed", msg: "legacy.Record",
			data: protoB{}.tag(1, 0).varint(1).tag(10, 2).bytes([]byte{1, 2}).tag(11, 0).varint(3)},
		{name: "extension with wrong wire type", msg: "legacy.Record",
			data: protoB{}.tag(1, 0).varint(1).tag(101, 5).fixed32(1),
			want: "field [legacy.ext_nums][0]: wire type 5 (fixed32) for a repeated sint32 field"},
		{name: "extension range number undeclared", msg: "legacy.Record",
			data: protoB{}.tag(1, 0).varint(1).tag(150, 0).varint(1),
			want: "unknown field 150 (wire type 0) at byte 2"},
		{name: "split required message", msg: "legacy.Holder",
			data: protoB{}.tag(1, 2).bytes(nil).tag(1, 2).bytes(protoB{}.tag(1, 2).str("t")),
			want: "field child: missing required field tag", diff: true},
		{name: "depth 100", msg: "test.Tree", data: tree(100)},
		{name: "depth bomb", msg: "test.Tree", data: tree(101),
			want: strings.Repeat("field children[0]: ", 99) + "field children[0]: messages nest deeper than 100 levels", diff: true},
		{name: "unknown groups 99 deep", msg: "test.Scalars", allow: true, data: unknownGroups(99)},
		{name: "unknown group bomb", msg: "test.Scalars", allow: true, data: unknownGroups(100),
			want: protoUnknownChain(20, 119) + "messages nest deeper than 100 levels", diff: true},
		{name: "indexes past the top", msg: "test.Scalars", indexes: []int{99},
			want: "message indexes [99] select none of 9 messages"},
		{name: "indexes negative", msg: "test.Scalars", indexes: []int{-1},
			want: "message indexes [-1] select none of 9 messages"},
		{name: "indexes past nested", msg: "test.Scalars", indexes: []int{6, 0, 5},
			want: "message indexes [6 0 5] select none of the 1 messages nested in test.Outer.Inner"},
		{name: "indexes into a map entry", msg: "test.Scalars", indexes: []int{3, 0},
			data: protoB{}.tag(1, 2).str("k").tag(2, 2).str("v")},
		{name: "empty indexes select the first", msg: "test.Scalars", indexes: []int{},
			data: protoB{}.tag(16, 0).varint(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.check(t, p)
		})
	}
}

// protoCase is a payload of message msg and the validator's verdict on it.
type protoCase struct {
	name    string
	msg     string
	indexes []int // nil: the message's own
	data    []byte
	allow   bool
	want    string // the error's text; "" is valid
	diff    bool   // a documented difference from protobuf-go
}

// check validates tt.data and compares the verdict with tt.want and, when
// the message is selected by its own indexes, with protobuf-go's.
func (tt protoCase) check(t *testing.T, p *protoTestFiles) {
	t.Helper()
	md, ix := p.message(t, tt.msg)
	if tt.indexes != nil {
		ix = tt.indexes
	}
	v := p.validator(t, md)
	err := v.Validate(tt.data, ix, payload.Options{AllowUnknownFields: tt.allow})
	got := ""
	if err != nil {
		got = err.Error()
		var pe *payload.Error
		if !errors.As(err, &pe) {
			t.Errorf("got %T, want *payload.Error", err)
		}
	}
	if got != tt.want {
		t.Errorf("got  %q\nwant %q\n(payload %x)", got, tt.want, tt.data)
	}
	if tt.indexes != nil {
		return
	}
	if tt.diff {
		// protobuf-go itself, on the real schema, accepts it.
		if err := proto.Unmarshal(tt.data, dynamicpb.NewMessage(md)); err != nil {
			t.Errorf("marked as a difference from protobuf-go, but proto.Unmarshal fails too: %v", err)
		}
		return
	}
	if oracle := p.oracle(p.shadowMessage(t, tt.msg), tt.data, tt.allow); (oracle == nil) != (err == nil) {
		t.Errorf("protobuf-go disagrees: %v", oracle)
	}
}

// protoBoundaryCases are payloads exactly at each bound the walker checks,
// and one past it, so that an off-by-one in a comparison fails one of the
// two. Nesting depth (depth 100 and depth bomb, unknown groups 99 deep and
// unknown group bomb) and required-field words (TestProtobufManyRequired)
// are met from both sides elsewhere.
func protoBoundaryCases() []protoCase {
	ten := func(last byte) []byte { return append(bytes.Repeat([]byte{0x80}, 9), last) }
	const maxInt32 = 1<<31 - 1
	return []protoCase{
		// test.Scalars declares fields 1 to 17 (and 5000): its dense table
		// of field numbers has 18 entries.
		{name: "one-byte tag of field 1", msg: "test.Scalars",
			data: protoB{}.raw(0x09).fixed64(0)}, // field 1, wire type 1
		{name: "one-byte tag of field 0, wire type 5", msg: "test.Scalars", allow: true,
			data: protoB{}.raw(0x05).fixed32(0),
			want: "tag at byte 0 has field number 0"},
		{name: "one-byte tag of field 0, wire type 7", msg: "test.Scalars", allow: true,
			data: protoB{}.raw(0x07),
			want: "tag at byte 0 has field number 0"},
		{name: "two-byte tag of field 1", msg: "test.Scalars",
			data: protoB{}.raw(0x89, 0x00).fixed64(0)}, // non-minimal: field 1, wire type 1
		{name: "two-byte tag of field 0", msg: "test.Scalars", allow: true,
			data: protoB{}.raw(0x80, 0x00).varint(1),
			want: "tag at byte 0 has field number 0"},
		{name: "last field of the dense table", msg: "test.Scalars",
			data: protoB{}.tag(17, 0).varint(1)},
		{name: "first number past the dense table", msg: "test.Scalars",
			data: protoB{}.tag(18, 0).varint(1),
			want: "unknown field 18 (wire type 0) at byte 0"},
		{name: "field number 2^29-1", msg: "test.Scalars", allow: true,
			data: protoB{}.tag(protowire.MaxValidNumber, 0).varint(1)},
		{name: "field number 2^29-1 unknown", msg: "test.Scalars",
			data: protoB{}.tag(protowire.MaxValidNumber, 0).varint(1),
			want: "unknown field 536870911 (wire type 0) at byte 0"},
		{name: "field number 2^29", msg: "test.Scalars", allow: true,
			data: protoB{}.varint(uint64(protowire.MaxValidNumber+1) << 3).varint(1),
			want: "tag at byte 0 has field number 536870912, above the maximum 536870911"},
		// Inside an unknown group only the tag's own limit, 2^31-1, applies.
		{name: "field number 2^31-1 in an unknown group", msg: "test.Scalars", allow: true,
			data: protoB{}.tag(50, 3).varint(maxInt32<<3).varint(1).tag(50, 4)},
		{name: "field number 2^31 in an unknown group", msg: "test.Scalars", allow: true,
			data: protoB{}.tag(50, 3).varint((maxInt32+1)<<3).varint(1).tag(50, 4),
			want: "unknown field 50: tag at byte 2 has field number 2147483648, above the maximum 536870911"},
		{name: "varint of 1 byte, 0x7f", msg: "test.Scalars",
			data: protoB{}.tag(4, 0).raw(0x7f)},
		{name: "varint cut after 0x80", msg: "test.Scalars",
			data: protoB{}.tag(4, 0).raw(0x80),
			want: "field i64: truncated: data ends inside a varint"},
		{name: "varint of 10 bytes", msg: "test.Scalars",
			data: protoB{}.tag(4, 0).raw(ten(0x01)...)},
		{name: "varint of 10 bytes, tenth above 1", msg: "test.Scalars",
			data: protoB{}.tag(4, 0).raw(ten(0x02)...),
			want: "field i64: varint longer than 10 bytes"},
		{name: "varint of 11 bytes", msg: "test.Scalars",
			data: protoB{}.tag(4, 0).raw(ten(0x80)...).raw(0x00),
			want: "field i64: varint longer than 10 bytes"},
		{name: "fixed32 exact", msg: "test.Scalars",
			data: protoB{}.tag(2, 5).raw(0, 0, 0, 0)},
		{name: "fixed32 one byte short", msg: "test.Scalars",
			data: protoB{}.tag(2, 5).raw(0, 0, 0),
			want: "field f: truncated: 4-byte value but 3 bytes left"},
		{name: "fixed64 exact", msg: "test.Scalars",
			data: protoB{}.tag(1, 1).raw(0, 0, 0, 0, 0, 0, 0, 0)},
		{name: "fixed64 one byte short", msg: "test.Scalars",
			data: protoB{}.tag(1, 1).raw(0, 0, 0, 0, 0, 0, 0),
			want: "field d: truncated: 8-byte value but 7 bytes left"},
		{name: "length equal to the bytes left", msg: "test.Scalars",
			data: protoB{}.tag(15, 2).varint(3).raw(1, 2, 3)},
		{name: "length one past the bytes left", msg: "test.Scalars",
			data: protoB{}.tag(15, 2).varint(4).raw(1, 2, 3),
			want: "field by: truncated: length 4 but 3 bytes left"},
		{name: "two-byte length equal to the bytes left", msg: "test.Scalars",
			data: protoB{}.tag(15, 2).varint(128).raw(make([]byte, 128)...)},
		{name: "two-byte length one past the bytes left", msg: "test.Scalars",
			data: protoB{}.tag(15, 2).varint(129).raw(make([]byte, 128)...),
			want: "field by: truncated: length 129 but 128 bytes left"},
		{name: "message length equal to the bytes left", msg: "test.Repeated",
			data: protoB{}.tag(8, 2).varint(3).tag(1, 2).str("x")},
		{name: "message length one past the bytes left", msg: "test.Repeated",
			data: protoB{}.tag(8, 2).varint(4).tag(1, 2).str("x"),
			want: "field items[0]: truncated: length 4 but 3 bytes left"},
		{name: "packed run length equal to the bytes left", msg: "test.Repeated",
			data: protoB{}.tag(1, 2).varint(3).raw(1, 2, 3)},
		{name: "packed run length one past the bytes left", msg: "test.Repeated",
			data: protoB{}.tag(1, 2).varint(4).raw(1, 2, 3),
			want: "field packed_i32[0]: truncated: length 4 but 3 bytes left"},
		{name: "unknown length equal to the bytes left", msg: "test.Scalars", allow: true,
			data: protoB{}.tag(99, 2).varint(3).raw(1, 2, 3)},
		{name: "unknown length one past the bytes left", msg: "test.Scalars", allow: true,
			data: protoB{}.tag(99, 2).varint(4).raw(1, 2, 3),
			want: "unknown field 99: truncated: length 4 but 3 bytes left"},
		{name: "unknown fixed32 exact", msg: "test.Scalars", allow: true,
			data: protoB{}.tag(99, 5).raw(0, 0, 0, 0)},
		{name: "unknown fixed32 one byte short", msg: "test.Scalars", allow: true,
			data: protoB{}.tag(99, 5).raw(0, 0, 0),
			want: "unknown field 99: truncated: 4-byte value but 3 bytes left"},
		{name: "unknown fixed64 exact", msg: "test.Scalars", allow: true,
			data: protoB{}.tag(99, 1).raw(0, 0, 0, 0, 0, 0, 0, 0)},
		{name: "unknown fixed64 one byte short", msg: "test.Scalars", allow: true,
			data: protoB{}.tag(99, 1).raw(0, 0, 0, 0, 0, 0, 0),
			want: "unknown field 99: truncated: 8-byte value but 7 bytes left"},
		// test/all.proto has 9 top-level messages; test.Outer (6) nests
		// Inner, which nests one message, Deepest.
		{name: "index of the first message", msg: "test.Scalars", indexes: []int{0}},
		{name: "index of the last message", msg: "test.Scalars", indexes: []int{8}},
		{name: "index one past the last message", msg: "test.Scalars", indexes: []int{9},
			want: "message indexes [9] select none of 9 messages"},
		{name: "index of the last nested message", msg: "test.Scalars", indexes: []int{6, 0, 0},
			data: protoB{}.tag(1, 2).str("d")},
		{name: "index one past the last nested message", msg: "test.Scalars", indexes: []int{6, 0, 1},
			want: "message indexes [6 0 1] select none of the 1 messages nested in test.Outer.Inner"},
	}
}

func TestProtobufBoundaries(t *testing.T) {
	t.Parallel()
	p := protoTestSchemas(t)
	for _, tt := range protoBoundaryCases() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.check(t, p)
		})
	}
}

func protoUnknownChain(from, to int) string {
	var sb strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&sb, "unknown field %d: ", i)
	}
	return sb.String()
}

// TestProtobufTruncatedAndFlipped cuts valid payloads at every byte and
// flips every byte of them: the verdict must always be protobuf-go's.
func TestProtobufTruncatedAndFlipped(t *testing.T) {
	t.Parallel()
	p := protoTestSchemas(t)
	tests := []struct{ msg, text string }{
		{"test.Scalars", `d: 1.5 f: 2 i32: -7 i64: 300 s: "héllo" by: "\x00" color: GREEN opt: 0 far: "x"`},
		{"test.Repeated", `packed_i32: [1, -1, 300] packed_fx32: [1, 2] unpacked_i32: [7, 8] names: ["a"] items: [{name: "x" price: {units: 3}}]`},
		{"test.Maps", `labels: [{key: "k" value: "v"}] items: [{key: -1 value: {name: "n"}}] colors: [{key: 5 value: GREEN}]`},
		{"test.WellKnown", `at: {seconds: 1700000000 nanos: 5} attrs: {fields: [{key: "a" value: {list_value: {values: [{number_value: 1}]}}}]}`},
		{"legacy.Record", `id: 1 Entry: [{key: "a" value: 1}] Meta: {note: "m"} children: [{tag: "c"}] by_tag: [{key: "x" value: {tag: "y"}}] [legacy.ext_nums]: [3]`},
		{"ed.E", `checked: "ok" delimited: {a: 1 s: "s"} must: 3 expanded: [1]`},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			t.Parallel()
			md, ix := p.message(t, tt.msg)
			v := p.validator(t, md)
			shadow := p.shadowMessage(t, tt.msg)
			data := p.fromText(t, md, tt.text)
			check := func(what string, b []byte) {
				for _, allow := range []bool{false, true} {
					err := v.Validate(b, ix, payload.Options{AllowUnknownFields: allow})
					if oracle := p.oracle(shadow, b, allow); (err == nil) != (oracle == nil) {
						t.Errorf("%s, allow=%v: got %v, protobuf-go %v (payload %x)", what, allow, err, oracle, b)
					}
				}
			}
			for n := range len(data) {
				check(fmt.Sprintf("cut at %d", n), data[:n])
			}
			b := make([]byte, len(data))
			for i := range data {
				for _, mask := range []byte{0x01, 0x07, 0x80, 0xff} {
					copy(b, data)
					b[i] ^= mask
					check(fmt.Sprintf("byte %d ^ %#x", i, mask), b)
				}
			}
		})
	}
}

func TestProtobufNewErrors(t *testing.T) {
	t.Parallel()
	if _, err := payload.NewProtobuf(nil); err == nil {
		t.Error("nil file: got nil error")
	}
	compile := func(src string) protoreflect.FileDescriptor {
		c := protocompile.Compiler{Resolver: &protocompile.SourceResolver{
			Accessor: protocompile.SourceAccessorFromMap(map[string]string{"x.proto": src}),
		}}
		res, err := c.Compile(context.Background(), "x.proto")
		if err != nil {
			t.Fatal(err)
		}
		return res[0]
	}
	if _, err := payload.NewProtobuf(compile(`syntax = "proto3"; package x; enum E { Z = 0; }`)); err == nil {
		t.Error("no messages: got nil error")
	}
	_, err := payload.NewProtobuf(compile(`syntax = "proto2"; package x;
		message S { option message_set_wire_format = true; extensions 4 to max; }`))
	if !errors.Is(err, payload.ErrUnsupported) {
		t.Errorf("message set: got %v, want ErrUnsupported", err)
	}
}

// TestProtobufManyRequired covers messages with more required fields than
// the validator tracks in one word.
func TestProtobufManyRequired(t *testing.T) {
	t.Parallel()
	var src strings.Builder
	src.WriteString("syntax = \"proto2\"; package many; message M {\n")
	for i := 1; i <= 70; i++ {
		fmt.Fprintf(&src, "required int32 f%d = %d;\n", i, i)
	}
	src.WriteString("}\n")
	c := protocompile.Compiler{Resolver: &protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{"m.proto": src.String()}),
	}}
	res, err := c.Compile(context.Background(), "m.proto")
	if err != nil {
		t.Fatal(err)
	}
	v, err := payload.NewProtobuf(res[0])
	if err != nil {
		t.Fatal(err)
	}
	all := func(skip int) []byte {
		var b protoB
		for i := 70; i >= 1; i-- { // reverse order: presence is not positional
			if i != skip {
				b = b.tag(protowire.Number(i), 0).varint(uint64(i))
			}
		}
		return b
	}
	for _, tt := range []struct {
		skip int
		want string
	}{{0, ""}, {3, "missing required field f3"}, {64, "missing required field f64"}, {65, "missing required field f65"}, {70, "missing required field f70"}} {
		got := ""
		if err := v.Validate(all(tt.skip), nil, payload.Options{}); err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("without f%d: got %q, want %q", tt.skip, got, tt.want)
		}
	}
}

// TestProtobufNoAllocs checks that valid payloads cost no allocation.
func TestProtobufNoAllocs(t *testing.T) {
	p := protoTestSchemas(t)
	for _, name := range []string{"test.Order", "legacy.Record"} {
		md, ix := p.message(t, name)
		v := p.validator(t, md)
		text := protoOrderText
		if name == "legacy.Record" {
			text = `id: 1 Entry: [{key: "a" value: 1}] Meta: {note: "m"} children: [{tag: "c"}] by_tag: [{key: "x" value: {tag: "y"}}]`
		}
		data := p.fromText(t, md, text)
		if n := testing.AllocsPerRun(100, func() {
			if err := v.Validate(data, ix, payload.Options{}); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: got %v allocations per Validate, want 0", name, n)
		}
	}
}

// protoOrderText is a realistic order of about 1 KiB.
const protoOrderText = `
order_id: "ord-2024-000184467" customer_id: "cust-5521-eu-west"
created_at: {seconds: 1718000000 nanos: 123000000} status: STATUS_OPEN
items: [
  {sku: "SKU-100-RED-M" title: "Merino crew neck sweater" quantity: 2 unit_price: {currency: "EUR" units: 89 nanos: 900000000} options: ["gift-wrap", "size:M"]},
  {sku: "SKU-221-BLK" title: "Leather belt, brushed buckle" quantity: 1 unit_price: {currency: "EUR" units: 45}},
  {sku: "SKU-310-NVY-32" title: "Chino trousers slim fit" quantity: 1 unit_price: {currency: "EUR" units: 79 nanos: 500000000} options: ["hem:32"]},
  {sku: "SKU-412" title: "Cotton socks, 5 pairs" quantity: 3 unit_price: {currency: "EUR" units: 19 nanos: 990000000}},
  {sku: "SKU-533-WHT-L" title: "Oxford shirt button-down" quantity: 2 unit_price: {currency: "EUR" units: 59}},
  {sku: "SKU-640" title: "Canvas tote bag" quantity: 1 unit_price: {currency: "EUR" units: 25}},
  {sku: "SKU-777-GRY" title: "Wool scarf, herringbone" quantity: 1 unit_price: {currency: "EUR" units: 39 nanos: 950000000} options: ["monogram:JD"]},
  {sku: "SKU-812" title: "Leather care kit" quantity: 1 unit_price: {currency: "EUR" units: 14 nanos: 500000000}},
  {sku: "SKU-905-BRN-43" title: "Suede chelsea boots" quantity: 1 unit_price: {currency: "EUR" units: 149} options: ["size:43", "insole:memory-foam"]},
  {sku: "SKU-918" title: "Travel umbrella, compact" quantity: 2 unit_price: {currency: "EUR" units: 22 nanos: 900000000}},
  {sku: "SKU-930-OLV" title: "Quilted gilet" quantity: 1 unit_price: {currency: "EUR" units: 99 nanos: 990000000} options: ["size:L"]}
]
total: {currency: "EUR" units: 612 nanos: 700000000}
attributes: [{key: "channel" value: "web"}, {key: "campaign" value: "summer-sale-2024"}, {key: "locale" value: "de-DE"}, {key: "device" value: "ios-app/7.4.1"}]
shipping: {name: "Jane Doe" street: "Hauptstrasse 12, 3. OG" city: "Berlin" postal_code: "10115" country: "DE"}
tags: [17, 4242, 99999, 1, 123456789]
discount: 0.15 gift: true
signature: "\x8a\x1f\x03\x77\x91\xc2\x00\x5e\x41\xaa\xbb\xcc\xdd\xee\xff\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0\xc0\xd0\xe0\xf0\x01\x02"
`

func BenchmarkProtobufValidate(b *testing.B) {
	p := protoTestSchemas(b)
	md, ix := p.message(b, "test.Order")
	v := p.validator(b, md)
	data := p.fromText(b, md, protoOrderText)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Validate(data, ix, payload.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProtobufUnmarshal is the cost of the alternative, decoding into
// a dynamic message, for comparison.
func BenchmarkProtobufUnmarshal(b *testing.B) {
	p := protoTestSchemas(b)
	md, _ := p.message(b, "test.Order")
	data := p.fromText(b, md, protoOrderText)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	m := dynamicpb.NewMessage(md)
	for b.Loop() {
		if err := proto.Unmarshal(data, m); err != nil {
			b.Fatal(err)
		}
	}
}

// TestProtobufConcurrent shares one validator between goroutines (run
// with -race).
func TestProtobufConcurrent(t *testing.T) {
	t.Parallel()
	p := protoTestSchemas(t)
	md, ix := p.message(t, "test.Order")
	v := p.validator(t, md)
	good := p.fromText(t, md, protoOrderText)
	bad := append(append([]byte(nil), good...), 0)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for range 50 {
				if err := v.Validate(good, ix, payload.Options{AllowUnknownFields: g%2 == 0}); err != nil {
					t.Errorf("valid payload: got %v", err)
					return
				}
				if err := v.Validate(bad, ix, payload.Options{}); err == nil {
					t.Error("trailing zero: got nil error")
					return
				}
			}
		})
	}
	wg.Wait()
}
