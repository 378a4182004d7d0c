package payload

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"
)

// NewAvro compiles a validator for Avro binary payloads written with s.
//
// The validator is a skip-decoder: it walks the bytes as a reader of s
// would, keeps no values and allocates nothing unless the payload is
// invalid. It accepts exactly the binary encodings of values of s, with
// these choices where the specification leaves room or real decoders
// differ:
//
//   - Strings are not checked for valid UTF-8, as Java's Avro and
//     hamba/avro do not check it either (Java replaces bad sequences when
//     it converts to a String): refusing them here would refuse records
//     that every JVM and Go consumer reads.
//   - An int varint must fit in 32 bits and a long in 64. Java's Avro and
//     hamba/avro silently drop the excess bits of a fifth (tenth) byte;
//     such bytes are not an encoding of any int (long), so they are errors.
//     Over-long encodings of small values (0x80 0x00 for zero) are
//     accepted, as decoders accept them. Union branch and enum symbol
//     indexes are ints, as the specification says.
//   - A negative array or map block count is followed by the block's size
//     in bytes; the size must be exactly the bytes the block's items take,
//     because readers that skip the array (a reader schema without the
//     field) trust it. Decoders that read the items ignore it.
//   - One array or map holds at most 2^31-9 items, Java's Avro default
//     collection limit (SystemLimitException). Only arrays of zero-byte
//     items (null, fixed of size 0, records of those) can reach it.
//   - Logical types add no check beyond their underlying type (the schema
//     parser drops logical types whose underlying type does not fit, as the
//     specification says), except that a decimal stored as bytes needs at
//     least one byte: Java's decimal conversion refuses zero bytes.
//   - Records, arrays and maps nest at most MaxDepth deep, the top-level
//     record counting as one.
//
// Error paths name record fields ("field metadata"), array elements by
// their index counted from 0 across blocks ("field tags: array item 3"),
// map keys and values ("field metadata: map key", "field metadata: map
// value"), joined by ": "; unions add nothing to the path. A nil schema
// is an error; schemas with references must be parsed into one
// avro.SchemaCache before the call, so that every name resolves. The
// validator is safe for concurrent use.
func NewAvro(s avro.Schema) (Validator, error) {
	if s == nil {
		return nil, errors.New("payload: nil avro schema")
	}
	c := avroCompiler{named: make(map[string]*avroNode)}
	root, err := c.compile(s)
	if err != nil {
		return nil, err
	}
	avroSetWidths(root, make(map[*avroNode]bool))
	return &avroValidator{root: root}, nil
}

// avroKind is how a compiled node is encoded.
type avroKind uint8

const (
	avroNull avroKind = iota
	avroBoolean
	avroInt
	avroLong
	avroFloat
	avroDouble
	avroBytes
	avroDecimalBytes // bytes with a decimal logical type: at least one byte
	avroString
	avroFixed
	avroEnum
	avroRecord
	avroArray
	avroMap
	avroUnion
)

// avroNode is one compiled schema node. Named types are compiled once,
// so recursive schemas become cycles in the graph.
type avroNode struct {
	kind     avroKind
	n        int         // fixed: size; enum: symbol count; union: branch count
	width    int         // encoded size when it is the same for every value, else -1
	elem     *avroNode   // array items, map values
	fields   []avroField // record fields, in order
	branches []*avroNode // union branches, in order
}

// avroField is a compiled record field.
type avroField struct {
	seg  string // path segment: "field <name>"
	node *avroNode
}

// avroCompiler turns a hamba schema tree into an avroNode graph.
type avroCompiler struct {
	named map[string]*avroNode // by full name, for references and recursion
}

func (c *avroCompiler) compile(s avro.Schema) (*avroNode, error) {
	switch s := s.(type) {
	case *avro.RefSchema:
		if s.Schema() == nil {
			return nil, fmt.Errorf("%w: unresolved avro reference", ErrUnsupported)
		}
		return c.compile(s.Schema())
	case *avro.NullSchema:
		return &avroNode{kind: avroNull}, nil
	case *avro.PrimitiveSchema:
		return c.primitive(s)
	case *avro.RecordSchema:
		if n, ok := c.named[s.FullName()]; ok {
			return n, nil
		}
		n := &avroNode{kind: avroRecord}
		c.named[s.FullName()] = n
		for _, f := range s.Fields() {
			fn, err := c.compile(f.Type())
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, avroField{seg: "field " + f.Name(), node: fn})
		}
		return n, nil
	case *avro.EnumSchema:
		if n, ok := c.named[s.FullName()]; ok {
			return n, nil
		}
		n := &avroNode{kind: avroEnum, n: len(s.Symbols())}
		c.named[s.FullName()] = n
		return n, nil
	case *avro.FixedSchema:
		if n, ok := c.named[s.FullName()]; ok {
			return n, nil
		}
		if s.Size() < 0 {
			return nil, fmt.Errorf("payload: avro fixed %s has negative size %d", s.FullName(), s.Size())
		}
		n := &avroNode{kind: avroFixed, n: s.Size()}
		c.named[s.FullName()] = n
		return n, nil
	case *avro.ArraySchema:
		elem, err := c.compile(s.Items())
		if err != nil {
			return nil, err
		}
		return &avroNode{kind: avroArray, elem: elem}, nil
	case *avro.MapSchema:
		elem, err := c.compile(s.Values())
		if err != nil {
			return nil, err
		}
		return &avroNode{kind: avroMap, elem: elem}, nil
	case *avro.UnionSchema:
		n := &avroNode{kind: avroUnion}
		for _, b := range s.Types() {
			bn, err := c.compile(b)
			if err != nil {
				return nil, err
			}
			n.branches = append(n.branches, bn)
		}
		n.n = len(n.branches)
		return n, nil
	default:
		return nil, fmt.Errorf("%w: avro schema type %T", ErrUnsupported, s)
	}
}

func (c *avroCompiler) primitive(s *avro.PrimitiveSchema) (*avroNode, error) {
	var k avroKind
	switch s.Type() {
	case avro.Boolean:
		k = avroBoolean
	case avro.Int:
		k = avroInt
	case avro.Long:
		k = avroLong
	case avro.Float:
		k = avroFloat
	case avro.Double:
		k = avroDouble
	case avro.Bytes:
		k = avroBytes
		if l := s.Logical(); l != nil && l.Type() == avro.Decimal {
			k = avroDecimalBytes
		}
	case avro.String:
		k = avroString
	case avro.Null:
		k = avroNull
	default:
		return nil, fmt.Errorf("%w: avro primitive type %q", ErrUnsupported, s.Type())
	}
	return &avroNode{kind: k}, nil
}

// avroSetWidths sets the width of every node reachable from n. A record
// in a cycle back to itself is an infinite type whose values cannot end
// (only payloads deeper than MaxDepth reach it); it gets width -1, like
// every other variable-size node, so nothing skips it arithmetically.
//
// Every node of width -1 takes at least one byte: only null, fixed and
// records can take zero, and those have a constant width. Loops over
// variable-size items therefore consume input on every iteration.
func avroSetWidths(n *avroNode, seen map[*avroNode]bool) int {
	if seen[n] {
		return n.width
	}
	seen[n] = true
	n.width = -1 // while in progress: a cycle reaching n sees a variable size
	w := -1
	switch n.kind {
	case avroNull:
		w = 0
	case avroFloat:
		w = 4
	case avroDouble:
		w = 8
	case avroFixed:
		w = n.n
	case avroRecord:
		w = 0
		for _, f := range n.fields {
			fw := avroSetWidths(f.node, seen)
			if fw < 0 || w < 0 {
				w = -1
				continue
			}
			if w += fw; w > math.MaxInt32 {
				w = -1 // still at least one byte: skipped item by item
			}
		}
	case avroArray, avroMap:
		avroSetWidths(n.elem, seen)
	case avroUnion:
		for _, b := range n.branches {
			avroSetWidths(b, seen)
		}
	}
	n.width = w
	return w
}

// avroValidator is the compiled Validator for one Avro schema.
type avroValidator struct {
	root *avroNode
}

// Validate checks that data is exactly one value of the schema; indexes
// and opts do not apply to Avro. It is safe for concurrent use.
func (v *avroValidator) Validate(data []byte, _ []int, _ Options) error {
	d := avroDecoder{buf: data}
	if e := d.value(v.root, 0); e != nil {
		return e.payloadError()
	}
	if left := len(data) - d.off; left > 0 {
		what := "value"
		if v.root.kind == avroRecord {
			what = "record"
		}
		return &Error{Msg: fmt.Sprintf("%s left after the end of the %s", nBytes(left), what)}
	}
	return nil
}

// avroMaxItems is the most items one array or map may hold: Java's Avro
// default collection limit, org.apache.avro.SystemLimitException.
const avroMaxItems = math.MaxInt32 - 8

// avroWhat names what a varint encodes, for error messages.
type avroWhat uint8

const (
	avroWhatInt avroWhat = iota
	avroWhatLong
	avroWhatStringLength
	avroWhatBytesLength
	avroWhatEnumIndex
	avroWhatUnionIndex
	avroWhatArrayCount
	avroWhatArraySize
	avroWhatMapCount
	avroWhatMapSize
)

var avroWhatNames = [...]string{
	avroWhatInt:          "int",
	avroWhatLong:         "long",
	avroWhatStringLength: "string length",
	avroWhatBytesLength:  "bytes length",
	avroWhatEnumIndex:    "enum index",
	avroWhatUnionIndex:   "union index",
	avroWhatArrayCount:   "array block count",
	avroWhatArraySize:    "array block size",
	avroWhatMapCount:     "map block count",
	avroWhatMapSize:      "map block size",
}

func (w avroWhat) String() string { return avroWhatNames[w] }

// avroError is an invalid payload on its way up the decoder: the path is
// collected innermost segment first, only once something is wrong.
type avroError struct {
	msg  string
	path []string
}

func avroErrorf(format string, args ...any) *avroError {
	return &avroError{msg: fmt.Sprintf(format, args...)}
}

// in adds the segment of the enclosing field, item or value.
func (e *avroError) in(seg string) *avroError {
	e.path = append(e.path, seg)
	return e
}

func (e *avroError) payloadError() *Error {
	var b strings.Builder
	for i := len(e.path) - 1; i >= 0; i-- {
		b.WriteString(e.path[i])
		if i > 0 {
			b.WriteString(": ")
		}
	}
	return &Error{Path: b.String(), Msg: e.msg}
}

// avroDecoder is the read position in one payload. It lives on the stack
// of one Validate call.
type avroDecoder struct {
	buf []byte
	off int
}

// value skips one value of n, nested depth records, arrays and maps deep.
func (d *avroDecoder) value(n *avroNode, depth int) *avroError {
	switch n.kind {
	case avroNull:
		return nil
	case avroBoolean:
		if d.off >= len(d.buf) {
			return avroErrorf("truncated: no bytes left for boolean")
		}
		if b := d.buf[d.off]; b > 1 {
			return avroErrorf("boolean byte 0x%02x is neither 0 nor 1", b)
		}
		d.off++
		return nil
	case avroInt:
		_, e := d.int(avroWhatInt)
		return e
	case avroLong:
		_, e := d.long(avroWhatLong)
		return e
	case avroFloat:
		return d.skip(4, "float needs")
	case avroDouble:
		return d.skip(8, "double needs")
	case avroString:
		return d.lengthPrefixed(avroWhatStringLength, 0)
	case avroBytes:
		return d.lengthPrefixed(avroWhatBytesLength, 0)
	case avroDecimalBytes:
		return d.lengthPrefixed(avroWhatBytesLength, 1)
	case avroFixed:
		return d.skip(n.n, "fixed needs")
	case avroEnum:
		i, e := d.int(avroWhatEnumIndex)
		if e != nil {
			return e
		}
		if i < 0 || int(i) >= n.n {
			return avroErrorf("enum index %d out of range (%d symbols)", i, n.n)
		}
		return nil
	case avroUnion:
		i, e := d.int(avroWhatUnionIndex)
		if e != nil {
			return e
		}
		if i < 0 || int(i) >= n.n {
			return avroErrorf("union index %d out of range (union has %d branches)", i, n.n)
		}
		return d.value(n.branches[i], depth)
	case avroRecord:
		if depth >= MaxDepth {
			return avroErrorf("nested deeper than %d records, arrays and maps", MaxDepth)
		}
		for i := range n.fields {
			f := &n.fields[i]
			if e := d.value(f.node, depth+1); e != nil {
				return e.in(f.seg)
			}
		}
		return nil
	case avroArray:
		if depth >= MaxDepth {
			return avroErrorf("nested deeper than %d records, arrays and maps", MaxDepth)
		}
		return d.array(n.elem, depth+1)
	case avroMap:
		if depth >= MaxDepth {
			return avroErrorf("nested deeper than %d records, arrays and maps", MaxDepth)
		}
		return d.mapValue(n.elem, depth+1)
	}
	return avroErrorf("unknown compiled avro kind %d", n.kind)
}

// skip consumes n bytes of a fixed-size value; what describes it in the
// truncation message ("float needs", "fixed needs").
func (d *avroDecoder) skip(n int, what string) *avroError {
	if left := len(d.buf) - d.off; n > left {
		return avroErrorf("truncated: %s %d bytes but %s left", what, n, nBytes(left))
	}
	d.off += n
	return nil
}

// lengthPrefixed skips a string or bytes value of at least minLen bytes.
func (d *avroDecoder) lengthPrefixed(what avroWhat, minLen int64) *avroError {
	l, e := d.long(what)
	if e != nil {
		return e
	}
	if l < minLen {
		if l < 0 {
			return avroErrorf("negative %s %d", what, l)
		}
		return avroErrorf("decimal with %d bytes: its two's-complement value needs at least %d", l, minLen)
	}
	if left := len(d.buf) - d.off; l > int64(left) {
		return avroErrorf("truncated: %s %d but %s left", what, l, nBytes(left))
	}
	d.off += int(l)
	return nil
}

// blockHeader reads an array or map block header: its item count and,
// for a negative count, the byte size that follows (else -1). A count of
// 0 ends the array or map.
func (d *avroDecoder) blockHeader(countWhat, sizeWhat avroWhat) (count, size int64, e *avroError) {
	count, e = d.long(countWhat)
	if e != nil || count >= 0 {
		return count, -1, e
	}
	if count == math.MinInt64 {
		return 0, 0, avroErrorf("%s %d out of range", countWhat, count)
	}
	size, e = d.long(sizeWhat)
	if e != nil {
		return 0, 0, e
	}
	if size < 0 {
		return 0, 0, avroErrorf("negative %s %d", sizeWhat, size)
	}
	if left := len(d.buf) - d.off; size > int64(left) {
		return 0, 0, avroErrorf("truncated: %s %d but %s left", sizeWhat, size, nBytes(left))
	}
	return -count, size, nil
}

// array skips the blocks of an array of elem.
func (d *avroDecoder) array(elem *avroNode, depth int) *avroError {
	var total int64
	for {
		count, size, e := d.blockHeader(avroWhatArrayCount, avroWhatArraySize)
		if e != nil {
			return e
		}
		if count == 0 {
			return nil
		}
		if count > avroMaxItems-total {
			return avroErrorf("array has more than %d items", avroMaxItems)
		}
		start := d.off
		if w := elem.width; w >= 0 {
			// Items of one size: skip the block without visiting them.
			if left := len(d.buf) - d.off; w > 0 && count > int64(left/w) {
				return avroErrorf("truncated: array block of %d items of %s each but %s left",
					count, nBytes(w), nBytes(left))
			}
			d.off += int(count) * w
		} else {
			for i := range count {
				if e := d.value(elem, depth); e != nil {
					return e.in("array item " + strconv.FormatInt(total+i, 10))
				}
			}
		}
		total += count
		if size >= 0 && int64(d.off-start) != size {
			return avroErrorf("array block size %d but its %d items took %d bytes", size, count, d.off-start)
		}
	}
}

// mapValue skips the blocks of a map of elem values.
func (d *avroDecoder) mapValue(elem *avroNode, depth int) *avroError {
	var total int64
	for {
		count, size, e := d.blockHeader(avroWhatMapCount, avroWhatMapSize)
		if e != nil {
			return e
		}
		if count == 0 {
			return nil
		}
		if count > avroMaxItems-total {
			return avroErrorf("map has more than %d items", avroMaxItems)
		}
		// Every entry takes at least one byte (its key's length), so the
		// loop ends by the end of the input whatever count claims.
		start := d.off
		for range count {
			if e := d.lengthPrefixed(avroWhatStringLength, 0); e != nil {
				return e.in("map key")
			}
			if e := d.value(elem, depth); e != nil {
				return e.in("map value")
			}
		}
		total += count
		if size >= 0 && int64(d.off-start) != size {
			return avroErrorf("map block size %d but its %d entries took %d bytes", size, count, d.off-start)
		}
	}
}

// int reads a zig-zag varint that must fit in 32 bits (at most 5 bytes).
func (d *avroDecoder) int(what avroWhat) (int32, *avroError) {
	if d.off < len(d.buf) {
		if b := d.buf[d.off]; b < 0x80 {
			d.off++
			return int32(b>>1) ^ -int32(b&1), nil
		}
	}
	return d.intSlow(what)
}

func (d *avroDecoder) intSlow(what avroWhat) (int32, *avroError) {
	var v uint32
	for i := 0; ; i++ {
		if d.off+i >= len(d.buf) {
			return 0, d.truncatedVarint(what, i)
		}
		b := d.buf[d.off+i]
		if i == 4 {
			if b >= 0x80 {
				return 0, avroErrorf("%s overflows: varint longer than 5 bytes", what)
			}
			if b > 0x0f {
				return 0, avroErrorf("%s overflows 32 bits", what)
			}
		}
		v |= uint32(b&0x7f) << (7 * i)
		if b < 0x80 {
			d.off += i + 1
			return int32(v>>1) ^ -int32(v&1), nil
		}
	}
}

// long reads a zig-zag varint that must fit in 64 bits (at most 10 bytes).
func (d *avroDecoder) long(what avroWhat) (int64, *avroError) {
	if d.off < len(d.buf) {
		if b := d.buf[d.off]; b < 0x80 {
			d.off++
			return int64(b>>1) ^ -int64(b&1), nil
		}
	}
	return d.longSlow(what)
}

func (d *avroDecoder) longSlow(what avroWhat) (int64, *avroError) {
	var v uint64
	for i := 0; ; i++ {
		if d.off+i >= len(d.buf) {
			return 0, d.truncatedVarint(what, i)
		}
		b := d.buf[d.off+i]
		if i == 9 {
			if b >= 0x80 {
				return 0, avroErrorf("%s overflows: varint longer than 10 bytes", what)
			}
			if b > 0x01 {
				return 0, avroErrorf("%s overflows 64 bits", what)
			}
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			d.off += i + 1
			return int64(v>>1) ^ -int64(v&1), nil
		}
	}
}

func (d *avroDecoder) truncatedVarint(what avroWhat, n int) *avroError {
	if n == 0 {
		return avroErrorf("truncated: no bytes left for %s", what)
	}
	return avroErrorf("truncated: %s varint cut off after %s", what, nBytes(n))
}
