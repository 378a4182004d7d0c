package enforce

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/schemaproxy/schemaproxy/protocol"
)

// The record headers that carry Confluent header-based schema IDs
// (Confluent Platform 8.x serializers): magic 1, a 16-byte GUID, then, for
// Protobuf, the message indexes. The part itself is then unprefixed.
const (
	KeySchemaIDHeader   = "__key_schema_id"
	ValueSchemaIDHeader = "__value_schema_id"
)

// MaxMessageIndexes bounds how many Protobuf message indexes one record
// may carry: a message nested 64 deep. Real schemas stay far below it.
const MaxMessageIndexes = 64

const (
	magicID   = 0 // payload prefix: magic 0 + 4-byte big-endian schema ID
	magicGUID = 1 // payload prefix or header: magic 1 + 16-byte GUID
	idPrefix  = 1 + 4
	guidLen   = 1 + 16
)

// Ref is the schema reference of one record part (key or value) in
// Confluent's wire formats, read by ParseConfluent. Exactly one of ID and
// GUID is set. Its slices alias the bytes it was read from.
type Ref struct {
	// ID is the schema ID of a magic-0 payload prefix; 0 when GUID is set.
	ID int
	// GUID is the schema GUID of a schema-ID header or of a magic-1 payload
	// prefix, in the registry's 8-4-4-4-12 lowercase hex form; "" when ID
	// is set.
	GUID string
	// InHeader says the reference came from a schema-ID header.
	InHeader bool
	// Payload is what follows the prefix, or the whole part when the
	// reference is in a header. For Protobuf with a payload prefix it still
	// begins with the message indexes: use Message to split them off.
	Payload []byte
	// HeaderIndexes is what follows the GUID in a schema-ID header (the
	// Protobuf message indexes); nil for payload prefixes.
	HeaderIndexes []byte
}

// RefError is a record part whose schema reference cannot be read.
type RefError struct {
	// Reason is ReasonNoSchemaID (no or unreadable payload prefix),
	// ReasonBadHeader (malformed or repeated schema-ID header),
	// ReasonBadIndexes (malformed Protobuf message indexes) or
	// ReasonNullNotAllowed (a null part has no reference).
	Reason Reason
	Msg    string
}

func (e *RefError) Error() string { return e.Msg }

func refErrorf(reason Reason, format string, args ...any) *RefError {
	return &RefError{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// IDHeaders is what ParseConfluent needs of a record's headers: how many
// schema-ID headers of the part's name it has, and the first one's value.
type IDHeaders struct {
	Count int
	First []byte // nil when the header's value is null
}

// FindIDHeaders returns the headers named KeySchemaIDHeader (isKey) or
// ValueSchemaIDHeader of rec. It does not allocate.
func FindIDHeaders(rec *protocol.Record, isKey bool) IDHeaders {
	var h IDHeaders
	if rec.NumHeaders == 0 {
		return h
	}
	name := ValueSchemaIDHeader
	if isKey {
		name = KeySchemaIDHeader
	}
	rec.EachHeader(func(hd protocol.Header) bool {
		if string(hd.Key) == name {
			if h.Count == 0 {
				h.First = hd.Value
			}
			h.Count++
		}
		return true
	})
	return h
}

// ParseConfluentRecord reads the schema reference of rec's key (isKey) or
// value: ParseConfluent of the part and its FindIDHeaders.
func ParseConfluentRecord(rec *protocol.Record, isKey bool) (Ref, error) {
	part := rec.Value
	if isKey {
		part = rec.Key
	}
	return ParseConfluent(part, FindIDHeaders(rec, isKey))
}

// ParseConfluent reads the schema reference of one record part in
// Confluent's formats (FormatConfluent), with the precedence of
// Confluent's default "dual" deserializer, made strict:
//
//   - One schema-ID header: it must be magic 1 and a 16-byte GUID,
//     optionally followed by Protobuf message indexes (HeaderIndexes); the
//     part is the unprefixed payload. A null, short or wrong-magic header
//     is a ReasonBadHeader error: the deserializer would fall back to the
//     payload, but a record whose header says one thing must not be judged
//     by another.
//   - More than one schema-ID header: ReasonBadHeader. Deserializers differ
//     on which one wins (the Go serde takes the first, Java the last), so
//     such a record could be checked against one schema and read with
//     another.
//   - No header: the part must start with magic 0 and a 4-byte big-endian
//     schema ID (1 to 2^31-1: 0 is never assigned and Java reads the ID as
//     a signed int), or magic 1 and a 16-byte GUID. Anything else is
//     ReasonNoSchemaID.
//
// A null part (nil) is ReasonNullNotAllowed: whether a null needs a schema
// is the caller's policy, checked first. An empty part is not null, and
// carries no prefix. When a header and a payload prefix both seem present
// nothing is compared: an unprefixed payload may begin with any bytes.
//
// Errors are *RefError. The ID path does not allocate; a GUID is
// formatted into a new 36-byte string.
func ParseConfluent(part []byte, h IDHeaders) (Ref, error) {
	if part == nil {
		return Ref{}, refErrorf(ReasonNullNotAllowed, "is null, so it carries no schema id")
	}
	switch {
	case h.Count > 1:
		return Ref{}, refErrorf(ReasonBadHeader, "has %d schema-id headers; at most one is allowed", h.Count)
	case h.Count == 1:
		v := h.First
		switch {
		case v == nil:
			return Ref{}, refErrorf(ReasonBadHeader, "schema-id header is null")
		case len(v) < guidLen:
			return Ref{}, refErrorf(ReasonBadHeader, "schema-id header has %d bytes; want magic 1 and a 16-byte guid (17 bytes)%s", len(v), guessHeader(v))
		case v[0] != magicGUID:
			return Ref{}, refErrorf(ReasonBadHeader, "schema-id header starts with magic byte %d; want 1 (a guid)", v[0])
		}
		return Ref{GUID: formatGUID(v[1:guidLen]), InHeader: true, Payload: part, HeaderIndexes: v[guidLen:]}, nil
	}
	if len(part) == 0 {
		return Ref{}, refErrorf(ReasonNoSchemaID, "is empty: no schema id prefix and no schema-id header")
	}
	switch part[0] {
	case magicID:
		if len(part) < idPrefix {
			return Ref{}, refErrorf(ReasonNoSchemaID, "has %d bytes; a schema id prefix is magic 0 and 4 bytes", len(part))
		}
		id := binary.BigEndian.Uint32(part[1:idPrefix])
		switch {
		case id == 0:
			return Ref{}, refErrorf(ReasonNoSchemaID, "has schema id 0, which is never assigned")
		case id > math.MaxInt32:
			return Ref{}, refErrorf(ReasonNoSchemaID, "has schema id %d, negative as the Java int it is read as", int32(id))
		}
		return Ref{ID: int(id), Payload: part[idPrefix:]}, nil
	case magicGUID:
		if len(part) < guidLen {
			return Ref{}, refErrorf(ReasonNoSchemaID, "has %d bytes; a schema guid prefix is magic 1 and 16 bytes", len(part))
		}
		return Ref{GUID: formatGUID(part[1:guidLen]), Payload: part[guidLen:]}, nil
	default:
		return Ref{}, refErrorf(ReasonNoSchemaID, "starts with byte 0x%02x, not a schema registry magic byte (0 or 1)%s", part[0], guessPayload(part))
	}
}

// guessPayload names what an unframed payload looks like, for the error.
func guessPayload(b []byte) string {
	switch b[0] {
	case '{', '[', '"':
		return ": it looks like plain JSON; is the producer using a schema registry serializer?"
	case 0x0a, 0x08, 0x12:
		return ": it may be bare Protobuf; is the producer using a schema registry serializer?"
	default:
		return ""
	}
}

// guessHeader names what a short schema-ID header looks like.
func guessHeader(v []byte) string {
	if len(v) == 16 {
		return ": the magic byte is missing?"
	}
	if len(v) == idPrefix && v[0] == magicID {
		return ": a 4-byte schema id belongs in the payload prefix, not the header"
	}
	return ""
}

// formatGUID formats 16 bytes as a registry GUID, 8-4-4-4-12 lowercase hex.
func formatGUID(b []byte) string {
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

// Message splits r, for a schema of type typ known from the registry, into
// the Protobuf message indexes (appended to dst; nil for other types) and
// the serialized message. Errors are *RefError: ReasonBadIndexes for
// malformed indexes, ReasonBadHeader for a header holding bytes the type
// does not allow (anything after the indexes, or after the GUID for Avro
// and JSON Schema).
//
// It does not allocate when dst has room for MaxMessageIndexes indexes.
func (r *Ref) Message(typ sr.SchemaType, dst []int) (indexes []int, msg []byte, err error) {
	if typ != sr.TypeProtobuf {
		if len(r.HeaderIndexes) > 0 {
			return nil, nil, refErrorf(ReasonBadHeader, "schema-id header has %d bytes after the guid, and a %s schema has no message indexes", len(r.HeaderIndexes), typ)
		}
		return nil, r.Payload, nil
	}
	if !r.InHeader {
		return ReadMessageIndexes(r.Payload, dst)
	}
	indexes, rest, err := ReadMessageIndexes(r.HeaderIndexes, dst)
	if err != nil {
		return nil, nil, err
	}
	if len(rest) > 0 {
		return nil, nil, refErrorf(ReasonBadHeader, "schema-id header has %d bytes after the message indexes", len(rest))
	}
	return indexes, r.Payload, nil
}

// ReadMessageIndexes reads Confluent's Protobuf message indexes from the
// start of b, appending them to dst, and returns them with the bytes that
// follow. The encoding is a zigzag varint count, then that many zigzag
// varint indexes; a count of 0 is the shortcut for [0], the first message.
// Read them only once the schema is known to be Protobuf: for other types
// these bytes are payload.
//
// A count must be at most MaxMessageIndexes and at most the bytes left
// (each index takes one byte or more), so nothing is sized by a claimed
// count: a count of 2^40 is an error, not an allocation. Negative counts
// and indexes, indexes past 2^31-1 and truncated or overlong varints are
// errors (*RefError, ReasonBadIndexes).
func ReadMessageIndexes(b []byte, dst []int) (indexes []int, rest []byte, err error) {
	count, n := binary.Varint(b)
	switch {
	case n == 0:
		return nil, nil, refErrorf(ReasonBadIndexes, "message indexes missing or truncated (%d bytes)", len(b))
	case n < 0:
		return nil, nil, refErrorf(ReasonBadIndexes, "message index count is not a valid varint")
	case count < 0:
		return nil, nil, refErrorf(ReasonBadIndexes, "message index count %d is negative", count)
	case count == 0:
		return append(dst, 0), b[n:], nil
	case count > MaxMessageIndexes:
		return nil, nil, refErrorf(ReasonBadIndexes, "message index count %d exceeds the limit of %d", count, MaxMessageIndexes)
	case count > int64(len(b)-n):
		return nil, nil, refErrorf(ReasonBadIndexes, "message index count %d exceeds the %d bytes left", count, len(b)-n)
	}
	b = b[n:]
	for i := range int(count) {
		ix, n := binary.Varint(b)
		switch {
		case n == 0:
			return nil, nil, refErrorf(ReasonBadIndexes, "message index %d of %d is truncated", i, count)
		case n < 0:
			return nil, nil, refErrorf(ReasonBadIndexes, "message index %d of %d is not a valid varint", i, count)
		case ix < 0:
			return nil, nil, refErrorf(ReasonBadIndexes, "message index %d of %d is negative (%d)", i, count, ix)
		case ix > math.MaxInt32:
			return nil, nil, refErrorf(ReasonBadIndexes, "message index %d of %d is %d, past any message", i, count, ix)
		}
		dst = append(dst, int(ix))
		b = b[n:]
	}
	return dst, b, nil
}
