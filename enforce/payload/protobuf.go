package payload

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bufbuild/protocompile/protoutil"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// NewProtobuf compiles a validator for the messages of fd (a file compiled
// with its imports, by protocompile or protodesc). Validate's indexes
// select the message as Confluent's wire format does: nil or empty is the
// first top-level message, [1, 0] the first message nested in the second;
// map entry messages count, being nested types of the descriptor. The
// validator is safe for concurrent use. A message using the MessageSet
// wire format makes NewProtobuf return an error wrapping ErrUnsupported.
//
// Validate walks the wire format against tables compiled here, without
// building a message, and allocates only to report a failure. It accepts
// a payload when proto.Unmarshal (without AllowPartial) accepts it and,
// unless Options.AllowUnknownFields, no message of the tree keeps unknown
// fields; with these deliberate differences, all of them stricter and all
// about bytes that no serializer writes:
//
//   - A known field number with the wrong wire type is an error, with or
//     without AllowUnknownFields. protobuf-go keeps it as an unknown field.
//   - Inside a map entry, fields other than key (1) and value (2), and a
//     key or value with the wrong wire type, are unknown or wrong-type
//     fields as anywhere else. protobuf-go drops them without a trace.
//   - Required fields (proto2, editions LEGACY_REQUIRED) must be present in
//     each occurrence of their message. protobuf-go checks messages after
//     merging: occurrences of a singular message field merge, a later
//     oneof member or map entry with the same key replaces an earlier one.
//     So a message split across occurrences passes there, not here.
//   - Messages, groups and map entries, unknown groups included, each count
//     one level; at most MaxDepth levels nest. protobuf-go allows 10000.
//
// Enums, open or closed, accept any varint: protobuf-go stores a number a
// closed enum does not declare as the field's value (other runtimes keep
// it as an unknown field), and any reader decodes the payload, so such a
// number is never rejected, whatever AllowUnknownFields says.
//
// Extensions declared in fd or its imports are known fields of the
// messages they extend; other numbers in extension ranges are unknown.
// Strings must be valid UTF-8 in proto3 and where the editions feature
// utf8_validation is VERIFY, never in proto2. Varints may be non-minimal
// (up to 10 bytes), as in protowire.
//
// Error paths name fields from the selected message down, separated by
// ": ": "field name" is a singular field, "field name[i]" element i (from
// 0, in wire order, each packed element counted) of a repeated field or
// entry i of a map field, whose parts are "key" and "value"; extensions
// read "field [full.name]", skipped unknown fields "unknown field 17".
// Errors about a message as a whole (unknown fields, malformed tags,
// missing required fields) carry the message's path and name the field or
// the byte offset in data they mean.
func NewProtobuf(fd protoreflect.FileDescriptor) (Validator, error) {
	if fd == nil {
		return nil, errors.New("protobuf validator: nil file descriptor")
	}
	if fd.Messages().Len() == 0 {
		return nil, fmt.Errorf("protobuf file %s defines no message", fd.Path())
	}
	c := &protoCompiler{
		msgs: make(map[protoreflect.FullName]*protoMsg),
		exts: make(map[protoreflect.FullName][]protoreflect.FieldDescriptor),
	}
	c.collectExtensions(fd, make(map[string]bool))
	top := c.messages(fd.Messages())
	if c.err != nil {
		return nil, c.err
	}
	return &protoValidator{top: top}, nil
}

// protoValidator is a compiled Protobuf file; immutable once built.
type protoValidator struct {
	top []*protoMsg // the file's top-level messages, in declaration order
}

// protoDenseMax bounds the field numbers a message looks up by slice index;
// fields numbered above it are found by binary search.
const protoDenseMax = 1024

// protoMsg is one compiled message type.
type protoMsg struct {
	name     protoreflect.FullName
	fields   []protoField // sorted by number
	dense    []int32      // number -> index into fields + 1; 0: not a field
	far      []protoField // fields numbered beyond dense, sorted by number
	required []int        // indexes into fields of required fields
	reqMask  uint64       // a bit per required field, for the first 64
	mapEntry bool
	nested   []*protoMsg // declared nested messages, for message indexes
}

// protoField is one compiled field (or extension) of a message.
type protoField struct {
	num    protowire.Number
	kind   protoreflect.Kind
	wt     protowire.Type // wire type of one element
	list   bool           // repeated or map: paths carry an element index
	packed bool           // repeated numeric scalar: also accepts packed (bytes)
	utf8   bool           // string whose bytes must be valid UTF-8
	req    int            // bit in the required set; -1 when not required
	msg    *protoMsg      // message, group or map entry type
	name   string         // as declared; "[full.name]" for extensions
	seg    string         // path segment: "field name", "key", "value"
	desc   string         // for wrong wire types: "a string field"
}

// lookupFar finds a field numbered beyond the dense table, or returns nil.
func (m *protoMsg) lookupFar(num protowire.Number) *protoField {
	i, ok := slices.BinarySearchFunc(m.far, num, func(f protoField, num protowire.Number) int { return int(f.num) - int(num) })
	if !ok {
		return nil
	}
	return &m.far[i]
}

// Validate implements Validator.
func (v *protoValidator) Validate(data []byte, indexes []int, opts Options) error {
	m, err := v.selectMessage(indexes)
	if err != nil {
		return err
	}
	if _, e := m.walk(data, 0, 1, 0, opts.AllowUnknownFields); e != nil {
		return e
	}
	return nil
}

// selectMessage follows Confluent's message indexes.
func (v *protoValidator) selectMessage(indexes []int) (*protoMsg, error) {
	if len(indexes) == 0 {
		return v.top[0], nil
	}
	list := v.top
	var m *protoMsg
	for _, ix := range indexes {
		if ix < 0 || ix >= len(list) {
			msg := fmt.Sprintf("message indexes %v select none of %d messages", indexes, len(list))
			if m != nil {
				msg = fmt.Sprintf("message indexes %v select none of the %d messages nested in %s", indexes, len(list), m.name)
			}
			return nil, &Error{Msg: msg}
		}
		m = list[ix]
		list = m.nested
	}
	return m, nil
}

// walk validates b as the fields of one message of type m at nesting depth
// depth (the selected message is 1); base is b's offset in the payload.
// A group body (group != 0) ends at the end-group tag of field group, and
// walk returns the bytes consumed including that tag; any other body is
// all of b. The returned *Error's path is relative to this message.
func (m *protoMsg) walk(b []byte, group protowire.Number, depth, base int, allow bool) (int, *Error) {
	if depth > MaxDepth {
		return 0, &Error{Msg: "messages nest deeper than " + strconv.Itoa(MaxDepth) + " levels"}
	}
	var seen uint64 // required fields present, by bit
	i := 0
	for i < len(b) {
		start := i
		var num protowire.Number
		var typ protowire.Type
		if c := b[i]; c < 0x80 && c >= 8 {
			num, typ = protowire.Number(c>>3), protowire.Type(c&7)
			i++
		} else {
			var n int
			var e *Error
			num, typ, n, e = protoTag(b[i:], base+i)
			if e != nil {
				return 0, e
			}
			if num > protowire.MaxValidNumber {
				return 0, &Error{Msg: fmt.Sprintf("tag at byte %d has field number %d, above the maximum %d", base+i, num, protowire.MaxValidNumber)}
			}
			i += n
		}
		if typ == protowire.EndGroupType {
			if num == group {
				return i, m.checkRequired(b[:start], seen)
			}
			return 0, protoEndGroupError(num, group, base+start)
		}
		var f *protoField // m.dense by hand: a method would not be inlined
		if uint64(num) < uint64(len(m.dense)) {
			if k := m.dense[num]; k != 0 {
				f = &m.fields[k-1]
			}
		} else {
			f = m.lookupFar(num)
		}
		if f == nil {
			if !allow {
				return 0, &Error{Msg: fmt.Sprintf("unknown field %d (wire type %d) at byte %d", num, typ, base+start)}
			}
			n, e := protoSkip(num, typ, b[i:], depth+1, base+i)
			if e != nil {
				return 0, e.under(fmt.Sprintf("unknown field %d", num))
			}
			i += n
			continue
		}
		if typ != f.wt {
			if !f.packed || typ != protowire.BytesType {
				return 0, m.fieldError(b, start, f, 0, &Error{Msg: protoWireName(typ) + " for " + f.desc})
			}
			n, e := f.packedRun(b[i:])
			if e != nil {
				return 0, m.fieldError(b, start, f, e.index, e.err)
			}
			i += n
			continue
		}
		switch typ {
		case protowire.VarintType:
			if i < len(b) && b[i] < 0x80 {
				i++
				break
			}
			_, n := protowire.ConsumeVarint(b[i:])
			if n < 0 {
				return 0, m.fieldError(b, start, f, 0, protoVarintError(n))
			}
			i += n
		case protowire.Fixed32Type:
			if len(b)-i < 4 {
				return 0, m.fieldError(b, start, f, 0, protoFixedError(4, len(b)-i))
			}
			i += 4
		case protowire.Fixed64Type:
			if len(b)-i < 8 {
				return 0, m.fieldError(b, start, f, 0, protoFixedError(8, len(b)-i))
			}
			i += 8
		case protowire.BytesType:
			var l uint64
			if i < len(b) && b[i] < 0x80 {
				l = uint64(b[i])
				i++
			} else {
				var n int
				l, n = protowire.ConsumeVarint(b[i:])
				if n < 0 {
					return 0, m.fieldError(b, start, f, 0, protoLengthError(n))
				}
				i += n
			}
			if l > uint64(len(b)-i) {
				return 0, m.fieldError(b, start, f, 0, protoTruncated(l, len(b)-i))
			}
			v := b[i : i+int(l)]
			switch f.kind {
			case protoreflect.StringKind:
				if f.utf8 && !utf8.Valid(v) {
					return 0, m.fieldError(b, start, f, 0, protoUTF8Error(v))
				}
			case protoreflect.MessageKind:
				if _, e := f.msg.walk(v, 0, depth+1, base+i, allow); e != nil {
					return 0, m.fieldError(b, start, f, 0, e)
				}
			}
			i += int(l)
		case protowire.StartGroupType:
			n, e := f.msg.walk(b[i:], num, depth+1, base+i, allow)
			if e != nil {
				return 0, m.fieldError(b, start, f, 0, e)
			}
			i += n
		}
		if f.req >= 0 {
			seen |= 1 << uint(f.req)
		}
	}
	if group != 0 {
		return 0, &Error{Msg: fmt.Sprintf("truncated: group %d has no end-group tag", group)}
	}
	return i, m.checkRequired(b, seen)
}

// checkRequired reports the first required field missing from the message
// body b, given the bits of those seen while walking it.
func (m *protoMsg) checkRequired(b []byte, seen uint64) *Error {
	if seen == m.reqMask && len(m.required) <= 64 {
		return nil
	}
	for k, fi := range m.required {
		f := &m.fields[fi]
		if k < 64 && seen&(1<<uint(k)) != 0 {
			continue
		}
		if k >= 64 && protoHasField(b, f.num) {
			continue
		}
		if m.mapEntry {
			// protobuf-go gives a map entry without its value an empty
			// message, which then lacks that message's required fields.
			return &Error{Path: "value", Msg: "missing required field " + f.msg.fields[f.msg.required[0]].name}
		}
		return &Error{Msg: "missing required field " + f.name}
	}
	return nil
}

// protoHasField reports whether the well-formed message body b has a
// field numbered num.
func protoHasField(b []byte, num protowire.Number) bool {
	for len(b) > 0 {
		n, _, l := protowire.ConsumeField(b)
		if l < 0 {
			return false
		}
		if n == num {
			return true
		}
		b = b[l:]
	}
	return false
}

// protoPackedError is an error in a packed run, at element index (counted
// from the run's first element).
type protoPackedError struct {
	index int
	err   *Error
}

// packedRun validates the length-prefixed packed run of f at the start of
// b and returns its length.
func (f *protoField) packedRun(b []byte) (int, *protoPackedError) {
	l, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, &protoPackedError{err: protoLengthError(n)}
	}
	if l > uint64(len(b)-n) {
		return 0, &protoPackedError{err: protoTruncated(l, len(b)-n)}
	}
	v := b[n : n+int(l)]
	switch f.wt {
	case protowire.Fixed32Type:
		if len(v)%4 != 0 {
			return 0, &protoPackedError{index: len(v) / 4, err: protoPackedFixedError(len(v), 4)}
		}
	case protowire.Fixed64Type:
		if len(v)%8 != 0 {
			return 0, &protoPackedError{index: len(v) / 8, err: protoPackedFixedError(len(v), 8)}
		}
	default:
		for k := 0; len(v) > 0; k++ {
			if v[0] < 0x80 {
				v = v[1:]
				continue
			}
			_, m := protowire.ConsumeVarint(v)
			if m < 0 {
				return 0, &protoPackedError{index: k, err: protoVarintError(m)}
			}
			v = v[m:]
		}
	}
	return n + int(l), nil
}

// fieldError puts e under f's path segment: field f, whose tag starts at
// b[start], holds it at element offset within its occurrence. List
// indexes are counted again from the message start, only on failure.
func (m *protoMsg) fieldError(b []byte, start int, f *protoField, offset int, e *Error) *Error {
	seg := f.seg
	if f.list {
		seg += "[" + strconv.Itoa(protoCountBefore(b[:start], f)+offset) + "]"
	}
	return e.under(seg)
}

// protoCountBefore counts the elements of list field f in the well-formed
// message body b.
func protoCountBefore(b []byte, f *protoField) int {
	count := 0
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			break
		}
		l := protowire.ConsumeFieldValue(num, typ, b[n:])
		if l < 0 {
			break
		}
		if num == f.num {
			if typ == protowire.BytesType && f.packed {
				v, _ := protowire.ConsumeBytes(b[n:])
				count += protoPackedCount(v, f.wt)
			} else {
				count++
			}
		}
		b = b[n+l:]
	}
	return count
}

// protoPackedCount counts the elements of a whole packed run.
func protoPackedCount(v []byte, wt protowire.Type) int {
	switch wt {
	case protowire.Fixed32Type:
		return len(v) / 4
	case protowire.Fixed64Type:
		return len(v) / 8
	}
	k := 0
	for _, c := range v {
		if c < 0x80 {
			k++
		}
	}
	return k
}

// under puts e below the path segment seg.
func (e *Error) under(seg string) *Error {
	if e.Path == "" {
		e.Path = seg
	} else {
		e.Path = seg + ": " + e.Path
	}
	return e
}

// protoSkip checks the value of an unknown field numbered num at the start
// of b, as protowire.ConsumeFieldValue would, and returns its length. An
// unknown group counts as a nesting level at depth.
func protoSkip(num protowire.Number, typ protowire.Type, b []byte, depth, base int) (int, *Error) {
	switch typ {
	case protowire.VarintType:
		_, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return 0, protoVarintError(n)
		}
		return n, nil
	case protowire.Fixed32Type:
		if len(b) < 4 {
			return 0, protoFixedError(4, len(b))
		}
		return 4, nil
	case protowire.Fixed64Type:
		if len(b) < 8 {
			return 0, protoFixedError(8, len(b))
		}
		return 8, nil
	case protowire.BytesType:
		l, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return 0, protoLengthError(n)
		}
		if l > uint64(len(b)-n) {
			return 0, protoTruncated(l, len(b)-n)
		}
		return n + int(l), nil
	case protowire.StartGroupType:
		if depth > MaxDepth {
			return 0, &Error{Msg: "messages nest deeper than " + strconv.Itoa(MaxDepth) + " levels"}
		}
		i := 0
		for {
			if i == len(b) {
				return 0, &Error{Msg: fmt.Sprintf("truncated: group %d has no end-group tag", num)}
			}
			// Inside a group protowire checks only the tag itself, not
			// the field number's upper bound; neither do we.
			num2, typ2, n, e := protoTag(b[i:], base+i)
			if e != nil {
				return 0, e
			}
			i += n
			if typ2 == protowire.EndGroupType {
				if num2 != num {
					return 0, protoEndGroupError(num2, num, base+i-n)
				}
				return i, nil
			}
			n, e = protoSkip(num2, typ2, b[i:], depth+1, base+i)
			if e != nil {
				return 0, e.under(fmt.Sprintf("unknown field %d", num2))
			}
			i += n
		}
	case protowire.EndGroupType:
		return 0, protoEndGroupError(num, 0, base)
	default:
		return 0, &Error{Msg: protoWireName(typ) + " is reserved"}
	}
}

// protoWireName names a wire type for messages: "wire type 2 (length-delimited)".
func protoWireName(typ protowire.Type) string {
	var s string
	switch typ {
	case protowire.VarintType:
		s = "varint"
	case protowire.Fixed64Type:
		s = "fixed64"
	case protowire.BytesType:
		s = "length-delimited"
	case protowire.StartGroupType:
		s = "start group"
	case protowire.EndGroupType:
		s = "end group"
	case protowire.Fixed32Type:
		s = "fixed32"
	default:
		s = "invalid"
	}
	return "wire type " + strconv.Itoa(int(typ)) + " (" + s + ")"
}

// protoTag reads the tag at the start of b, at byte at of the payload, as
// protowire.ConsumeTag does, explaining what is wrong with a bad one.
func protoTag(b []byte, at int) (protowire.Number, protowire.Type, int, *Error) {
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		if protoIsTruncated(n) {
			return 0, 0, 0, &Error{Msg: fmt.Sprintf("truncated: tag at byte %d ends inside its varint", at)}
		}
		return 0, 0, 0, &Error{Msg: fmt.Sprintf("tag at byte %d is a varint longer than 10 bytes", at)}
	}
	if v>>3 > math.MaxInt32 { // protowire.DecodeTag's limit
		return 0, 0, 0, &Error{Msg: fmt.Sprintf("tag at byte %d has field number %d, above the maximum %d", at, v>>3, protowire.MaxValidNumber)}
	}
	num, typ := protowire.DecodeTag(v)
	if num < protowire.MinValidNumber {
		msg := fmt.Sprintf("tag at byte %d has field number 0", at)
		if n == 1 && strings.Trim(string(b), "\x00") == "" {
			msg += fmt.Sprintf(" (%d zero bytes of padding after the message?)", len(b))
		}
		return 0, 0, 0, &Error{Msg: msg}
	}
	return num, typ, n, nil
}

// protoEndGroupError explains an end-group tag for field num where the
// group of field open (0: none) was expected to end.
func protoEndGroupError(num, open protowire.Number, at int) *Error {
	if open == 0 {
		return &Error{Msg: fmt.Sprintf("end-group tag for field %d at byte %d outside any group", num, at)}
	}
	return &Error{Msg: fmt.Sprintf("end-group tag for field %d at byte %d inside group %d", num, at, open)}
}

// protoIsTruncated reports whether protowire error code n means the data
// ended early.
func protoIsTruncated(n int) bool {
	return protowire.ParseError(n) == io.ErrUnexpectedEOF
}

func protoVarintError(n int) *Error {
	if protoIsTruncated(n) {
		return &Error{Msg: "truncated: data ends inside a varint"}
	}
	return &Error{Msg: "varint longer than 10 bytes"}
}

func protoLengthError(n int) *Error {
	if protoIsTruncated(n) {
		return &Error{Msg: "truncated: data ends inside a length"}
	}
	return &Error{Msg: "length is a varint longer than 10 bytes"}
}

func protoFixedError(size, left int) *Error {
	return &Error{Msg: fmt.Sprintf("truncated: %d-byte value but %s left", size, nBytes(left))}
}

func protoTruncated(l uint64, left int) *Error {
	msg := fmt.Sprintf("truncated: length %d but %s left", l, nBytes(left))
	if int64(l) < 0 {
		msg += " (a negative number written as a length?)"
	}
	return &Error{Msg: msg}
}

func protoPackedFixedError(l, size int) *Error {
	return &Error{Msg: fmt.Sprintf("truncated: packed run of %d bytes is not a whole number of %d-byte elements", l, size)}
}

func protoUTF8Error(v []byte) *Error {
	at := 0
	for at < len(v) {
		r, size := utf8.DecodeRune(v[at:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		at += size
	}
	return &Error{Msg: fmt.Sprintf("invalid UTF-8 at byte %d of the string", at)}
}

// protoCompiler builds protoMsg tables, each message type once.
type protoCompiler struct {
	msgs map[protoreflect.FullName]*protoMsg
	exts map[protoreflect.FullName][]protoreflect.FieldDescriptor // by extended message
	err  error
}

// collectExtensions indexes the extensions declared in fd and its imports.
func (c *protoCompiler) collectExtensions(fd protoreflect.FileDescriptor, done map[string]bool) {
	if done[fd.Path()] {
		return
	}
	done[fd.Path()] = true
	for i := 0; i < fd.Imports().Len(); i++ {
		if imp := fd.Imports().Get(i).FileDescriptor; imp != nil && !imp.IsPlaceholder() {
			c.collectExtensions(imp, done)
		}
	}
	c.addExtensions(fd.Extensions())
	c.addNestedExtensions(fd.Messages())
}

func (c *protoCompiler) addNestedExtensions(msgs protoreflect.MessageDescriptors) {
	for i := 0; i < msgs.Len(); i++ {
		c.addExtensions(msgs.Get(i).Extensions())
		c.addNestedExtensions(msgs.Get(i).Messages())
	}
}

func (c *protoCompiler) addExtensions(xs protoreflect.ExtensionDescriptors) {
	for i := 0; i < xs.Len(); i++ {
		x := xs.Get(i)
		name := x.ContainingMessage().FullName()
		c.exts[name] = append(c.exts[name], x)
	}
}

func (c *protoCompiler) messages(mds protoreflect.MessageDescriptors) []*protoMsg {
	if mds.Len() == 0 {
		return nil
	}
	out := make([]*protoMsg, mds.Len())
	for i := range out {
		out[i] = c.message(mds.Get(i))
	}
	return out
}

// message compiles md, its field types and its nested messages.
func (c *protoCompiler) message(md protoreflect.MessageDescriptor) *protoMsg {
	if m := c.msgs[md.FullName()]; m != nil {
		return m
	}
	m := &protoMsg{name: md.FullName(), mapEntry: md.IsMapEntry()}
	c.msgs[md.FullName()] = m // before the fields: types may be recursive
	if opts, ok := md.Options().(*descriptorpb.MessageOptions); ok && opts.GetMessageSetWireFormat() {
		if c.err == nil {
			c.err = fmt.Errorf("%w: message %s uses the MessageSet wire format", ErrUnsupported, md.FullName())
		}
	}
	fds := md.Fields()
	var all []protoreflect.FieldDescriptor
	for i := 0; i < fds.Len(); i++ {
		all = append(all, fds.Get(i))
	}
	for _, x := range c.exts[md.FullName()] {
		if fds.ByNumber(x.Number()) == nil {
			all = append(all, x)
		}
	}
	slices.SortFunc(all, func(a, b protoreflect.FieldDescriptor) int { return int(a.Number()) - int(b.Number()) })
	all = slices.CompactFunc(all, func(a, b protoreflect.FieldDescriptor) bool { return a.Number() == b.Number() })
	fields := make([]protoField, len(all))
	for i, fd := range all {
		fields[i] = c.field(m, fd)
	}
	// Required fields in declaration order, as protobuf-go reports them.
	// Cardinality, not RequiredNumbers: descriptors from protocompile
	// leave editions' LEGACY_REQUIRED fields out of the latter.
	for k := 0; k < fds.Len(); k++ {
		if fds.Get(k).Cardinality() != protoreflect.Required {
			continue
		}
		for i := range fields {
			if fields[i].num == fds.Get(k).Number() {
				if len(m.required) < 64 {
					fields[i].req = len(m.required)
					m.reqMask |= 1 << uint(len(m.required))
				}
				m.required = append(m.required, i)
			}
		}
	}
	if m.mapEntry {
		// A map entry needs no key or value; but a missing message value
		// is an empty message, which must have no required fields.
		for i := range fields {
			if fields[i].num == 2 && fields[i].msg != nil && len(fields[i].msg.required) > 0 {
				fields[i].req = len(m.required)
				m.reqMask |= 1 << uint(len(m.required))
				m.required = append(m.required, i)
			}
		}
	}
	m.fields = fields
	dense := 0
	for dense < len(fields) && fields[dense].num <= protoDenseMax {
		dense++
	}
	if dense > 0 {
		m.dense = make([]int32, fields[dense-1].num+1)
		for i := range fields[:dense] {
			m.dense[fields[i].num] = int32(i + 1)
		}
	}
	m.far = fields[dense:]
	m.nested = c.messages(md.Messages())
	return m
}

// field compiles fd, a field or extension of m.
func (c *protoCompiler) field(m *protoMsg, fd protoreflect.FieldDescriptor) protoField {
	f := protoField{num: fd.Number(), kind: fd.Kind(), req: -1, name: string(fd.Name())}
	if fd.IsExtension() {
		f.name = "[" + string(fd.FullName()) + "]"
	}
	f.seg = "field " + f.name
	if m.mapEntry {
		switch fd.Number() {
		case 1:
			f.seg = "key"
		case 2:
			f.seg = "value"
		}
	}
	repeated := fd.Cardinality() == protoreflect.Repeated
	f.list = repeated
	switch fd.Kind() {
	case protoreflect.BoolKind, protoreflect.EnumKind,
		protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Uint32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Uint64Kind:
		f.wt = protowire.VarintType
		f.packed = repeated
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		f.wt = protowire.Fixed32Type
		f.packed = repeated
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		f.wt = protowire.Fixed64Type
		f.packed = repeated
	case protoreflect.StringKind:
		f.wt = protowire.BytesType
		f.utf8 = protoEnforceUTF8(fd)
	case protoreflect.BytesKind:
		f.wt = protowire.BytesType
	case protoreflect.MessageKind:
		f.wt = protowire.BytesType
		f.msg = c.message(fd.Message())
	case protoreflect.GroupKind:
		f.wt = protowire.StartGroupType
		f.msg = c.message(fd.Message())
	default:
		if c.err == nil {
			c.err = fmt.Errorf("%w: field %s has kind %v", ErrUnsupported, fd.FullName(), fd.Kind())
		}
		f.wt = 7 // never matches: every occurrence is a wrong wire type
	}
	kind := fd.Kind().String()
	switch {
	case fd.IsMap():
		f.desc = "a map field"
	case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind || fd.Kind() == protoreflect.BytesKind:
		f.desc = "a " + kind + " field"
		if repeated {
			f.desc = "a repeated " + kind + " field"
		}
	case repeated:
		f.desc = "a repeated " + kind + " field"
	default:
		f.desc = protoArticle(kind) + " " + kind + " field"
	}
	return f
}

// protoArticle is the indefinite article for a kind name as read aloud:
// "an int32", "an sint64", "a uint32".
func protoArticle(kind string) string {
	switch kind[0] {
	case 'i', 'e', 's':
		if kind == "string" {
			return "a"
		}
		return "an"
	}
	return "a"
}

// protoEnforceUTF8 reports whether string field fd must hold valid UTF-8:
// in proto3, and in editions where the utf8_validation feature resolves to
// VERIFY (the default); never in proto2.
func protoEnforceUTF8(fd protoreflect.FieldDescriptor) bool {
	if fd.Syntax() != protoreflect.Editions {
		return fd.Syntax() == protoreflect.Proto3
	}
	if x, ok := fd.(interface{ EnforceUTF8() bool }); ok {
		return x.EnforceUTF8() // descriptors built by protodesc resolve features
	}
	feature := descriptorpb.File_google_protobuf_descriptor_proto.Messages().ByName("FeatureSet").Fields().ByName("utf8_validation")
	v, err := protoutil.ResolveFeature(fd, feature)
	if err != nil || !v.IsValid() {
		return true
	}
	return descriptorpb.FeatureSet_Utf8Validation(v.Enum()) != descriptorpb.FeatureSet_NONE
}
