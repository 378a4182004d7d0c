package protocol

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fixed request header offsets, valid for every header version.
const (
	// RequestPrefixLen is the length of api_key, api_version and correlation_id.
	RequestPrefixLen = 8
)

// RequestHeader is a decoded request header.
type RequestHeader struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      *string // nil when the header has none (v0) or sends null
	Flexible      bool    // the request body uses flexible (compact, tagged) encoding
	Len           int     // header length in bytes; the body starts at this offset
}

// APIName returns kmsg's name for the key, or "Unknown".
func (h RequestHeader) APIName() string { return kmsg.NameForKey(h.Key) }

// ParsePrefix reads the fixed part of a request header (key, version,
// correlation ID) from the first eight bytes of a frame body.
func ParsePrefix(b []byte) (key, version int16, correlationID int32, err error) {
	if len(b) < RequestPrefixLen {
		return 0, 0, 0, ErrShortHeader
	}
	return int16(binary.BigEndian.Uint16(b)), int16(binary.BigEndian.Uint16(b[2:])), int32(binary.BigEndian.Uint32(b[4:])), nil
}

// ParseRequestHeader decodes the request header at the start of frame (the
// bytes after the size prefix). The header version follows from (key,
// version) as in Kafka: v0 for ControlledShutdown v0 only, v2 when the
// request is flexible, v1 otherwise; the client ID is never compact.
// ParseRequestHeader returns ErrUnknownAPI or ErrUnsupportedVersion, with
// Key, Version and CorrelationID filled, when kmsg cannot say how the rest
// of the header is laid out.
func ParseRequestHeader(frame []byte) (RequestHeader, error) {
	var h RequestHeader
	var err error
	h.Key, h.Version, h.CorrelationID, err = ParsePrefix(frame)
	if err != nil {
		return h, err
	}
	flex, err := RequestFlexible(h.Key, h.Version)
	if err != nil {
		return h, err
	}
	h.Flexible = flex
	off := RequestPrefixLen
	if h.Key == 7 && h.Version == 0 { // ControlledShutdown v0: header v0
		h.Len = off
		return h, nil
	}
	if len(frame) < off+2 {
		return h, ErrShortHeader
	}
	n := int(int16(binary.BigEndian.Uint16(frame[off:])))
	off += 2
	if n >= 0 {
		if len(frame) < off+n {
			return h, fmt.Errorf("client id of %d bytes: %w", n, ErrShortHeader)
		}
		s := string(frame[off : off+n])
		h.ClientID = &s
		off += n
	} else if n != -1 {
		return h, fmt.Errorf("client id length %d is invalid", n)
	}
	if flex {
		m, err := SkipTags(frame[off:])
		if err != nil {
			return h, fmt.Errorf("request header tags: %w", err)
		}
		off += m
	}
	h.Len = off
	return h, nil
}

// SkipTags returns the length of the tagged-field section at the start of b.
func SkipTags(b []byte) (int, error) {
	off := 0
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, ErrShortHeader
	}
	off += n
	if count > uint64(len(b)) { // each tag takes at least two bytes
		return 0, fmt.Errorf("%d tags in %d bytes: %w", count, len(b), ErrShortHeader)
	}
	for range count {
		_, n = binary.Uvarint(b[off:])
		if n <= 0 {
			return 0, ErrShortHeader
		}
		off += n
		size, n := binary.Uvarint(b[off:])
		if n <= 0 {
			return 0, ErrShortHeader
		}
		off += n
		if size > uint64(len(b)-off) {
			return 0, fmt.Errorf("tag of %d bytes: %w", size, ErrShortHeader)
		}
		off += int(size)
	}
	return off, nil
}

// ResponseHeaderLen returns the length of the response header at the start
// of frame for a response to (key, version): four bytes for header v0, plus
// the tagged fields for header v1. ApiVersions responses always use v0.
func ResponseHeaderLen(key, version int16, frame []byte) (int, error) {
	if len(frame) < 4 {
		return 0, ErrShortHeader
	}
	if key == 18 {
		return 4, nil
	}
	flex, err := RequestFlexible(key, version)
	if err != nil {
		return 0, err
	}
	if !flex {
		return 4, nil
	}
	n, err := SkipTags(frame[4:])
	if err != nil {
		return 0, fmt.Errorf("response header tags: %w", err)
	}
	return 4 + n, nil
}

// AppendResponseHeader appends a response header for (key, version) with no
// tagged fields: v1 for flexible responses, v0 otherwise and for ApiVersions.
func AppendResponseHeader(dst []byte, key, version int16, correlationID int32) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if key != 18 {
		if flex, err := RequestFlexible(key, version); err == nil && flex {
			dst = append(dst, 0)
		}
	}
	return dst
}

// AppendResponse appends a whole response frame (size, header, body) for resp.
func AppendResponse(dst []byte, correlationID int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = AppendResponseHeader(dst, resp.Key(), resp.GetVersion(), correlationID)
	dst = resp.AppendTo(dst)
	PatchSize(dst[start:])
	return dst
}

// flexTable[key][version] says whether that request version is flexible.
var flexTable = sync.OnceValue(func() [][]bool {
	var t [][]bool
	for k := int16(0); k < 1<<10; k++ {
		r := kmsg.RequestForKey(k)
		if r == nil {
			t = append(t, nil)
			continue
		}
		vs := make([]bool, r.MaxVersion()+1)
		for v := range vs {
			r.SetVersion(int16(v))
			vs[v] = r.IsFlexible()
		}
		t = append(t, vs)
	}
	for len(t) > 0 && t[len(t)-1] == nil {
		t = t[:len(t)-1]
	}
	return t
})

// RequestFlexible reports whether (key, version) uses flexible encoding. It
// returns ErrUnknownAPI for keys kmsg does not know and ErrUnsupportedVersion
// for versions above kmsg's maximum.
func RequestFlexible(key, version int16) (bool, error) {
	t := flexTable()
	if key < 0 || int(key) >= len(t) || t[key] == nil {
		return false, fmt.Errorf("key %d: %w", key, ErrUnknownAPI)
	}
	if version < 0 || int(version) >= len(t[key]) {
		return false, fmt.Errorf("%s v%d: %w", kmsg.NameForKey(key), version, ErrUnsupportedVersion)
	}
	return t[key][version], nil
}

// MaxVersion returns the highest version of key that kmsg can decode, or
// -1 for keys kmsg does not know.
func MaxVersion(key int16) int16 {
	t := flexTable()
	if key < 0 || int(key) >= len(t) || t[key] == nil {
		return -1
	}
	return int16(len(t[key]) - 1)
}
