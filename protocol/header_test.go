package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fmtHeader renders h with the client ID's value rather than its address.
func fmtHeader(h RequestHeader) string {
	cid := "null"
	if h.ClientID != nil {
		cid = fmt.Sprintf("%q", *h.ClientID)
	}
	return fmt.Sprintf("{key %d v%d corr %d client %s flexible %v len %d}", h.Key, h.Version, h.CorrelationID, cid, h.Flexible, h.Len)
}

func strPtr(s string) *string { return &s }

// appendRequestHeader encodes a request header independently of the parser:
// v0 for ControlledShutdown v0, then the int16-length client ID, then tags
// (copied verbatim) for flexible versions.
func appendRequestHeader(dst []byte, h RequestHeader, tags []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(h.Key))
	dst = binary.BigEndian.AppendUint16(dst, uint16(h.Version))
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.CorrelationID))
	if h.Key == 7 && h.Version == 0 {
		return dst
	}
	if h.ClientID == nil {
		dst = append(dst, 0xff, 0xff)
	} else {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(*h.ClientID)))
		dst = append(dst, *h.ClientID...)
	}
	if h.Flexible {
		dst = append(dst, tags...)
	}
	return dst
}

// kmsgFrame builds a whole request frame with kmsg's formatter. kmsg writes
// only the header for ControlledShutdown v0 and leaves its size at zero, so
// the body and size are added here for that one case.
func kmsgFrame(clientID *string, req kmsg.Request, corr int32) []byte {
	f := kmsg.NewRequestFormatter()
	if clientID != nil {
		f = kmsg.NewRequestFormatter(kmsg.FormatterClientID(*clientID))
	}
	frame := f.AppendRequest(nil, req, corr)
	if req.Key() == 7 && req.GetVersion() == 0 {
		frame = req.AppendTo(frame)
		PatchSize(frame)
	}
	return frame
}

func TestParseRequestHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		frame   []byte
		want    RequestHeader
		wantErr error  // matched with errors.Is
		errText string // substring of the message, for errors with no sentinel
	}{
		{
			name: "produce v7, client id",
			frame: []byte{
				0x00, 0x00, // api_key 0 (Produce)
				0x00, 0x07, // api_version 7: header v1
				0x00, 0x00, 0x00, 0x2a, // correlation_id 42
				0x00, 0x03, 'c', 'l', 'i', // client_id "cli"
				0xff, 0xff, // body: transactional_id null
			},
			want: RequestHeader{Key: 0, Version: 7, CorrelationID: 42, ClientID: strPtr("cli"), Len: 13},
		},
		{
			name: "null client id",
			frame: []byte{
				0x00, 0x03, // api_key 3 (Metadata)
				0x00, 0x04, // api_version 4
				0xff, 0xff, 0xff, 0xff, // correlation_id -1
				0xff, 0xff, // client_id null (-1)
			},
			want: RequestHeader{Key: 3, Version: 4, CorrelationID: -1, Len: 10},
		},
		{
			name: "empty client id",
			frame: []byte{
				0x00, 0x03, 0x00, 0x04, // Metadata v4
				0x00, 0x00, 0x00, 0x01, // correlation_id 1
				0x00, 0x00, // client_id ""
			},
			want: RequestHeader{Key: 3, Version: 4, CorrelationID: 1, ClientID: strPtr(""), Len: 10},
		},
		{
			name: "flexible, no tags",
			frame: []byte{
				0x00, 0x03, // api_key 3 (Metadata)
				0x00, 0x0c, // api_version 12: flexible, header v2
				0x00, 0x00, 0x00, 0x07, // correlation_id 7
				0x00, 0x01, 'x', // client_id "x", int16 length even when flexible
				0x00, // no tagged fields
				0x01, // body: compact topics array
			},
			want: RequestHeader{Key: 3, Version: 12, CorrelationID: 7, ClientID: strPtr("x"), Flexible: true, Len: 12},
		},
		{
			name: "flexible with tagged fields",
			frame: []byte{
				0x00, 0x00, // api_key 0 (Produce)
				0x00, 0x0b, // api_version 11: flexible
				0x00, 0x00, 0x01, 0x00, // correlation_id 256
				0xff, 0xff, // client_id null
				0x02,                   // 2 tagged fields
				0x00, 0x02, 0xaa, 0xbb, // tag 0, 2 bytes
				0x05, 0x00, // tag 5, 0 bytes
				0x00, // body: transactional_id null (compact)
			},
			want: RequestHeader{Key: 0, Version: 11, CorrelationID: 256, Flexible: true, Len: 17},
		},
		{
			name: "flexible with a multi-byte tag size",
			frame: append([]byte{
				0x00, 0x12, 0x00, 0x03, // ApiVersions v3
				0x00, 0x00, 0x00, 0x01, // correlation_id 1
				0x00, 0x00, // client_id ""
				0x01,       // 1 tagged field
				0x81, 0x01, // tag 129
				0x80, 0x01, // 128 bytes
			}, make([]byte, 128)...),
			want: RequestHeader{Key: 18, Version: 3, CorrelationID: 1, ClientID: strPtr(""), Flexible: true, Len: 15 + 128},
		},
		{
			name: "ControlledShutdown v0 uses header v0",
			frame: []byte{
				0x00, 0x07, // api_key 7 (ControlledShutdown)
				0x00, 0x00, // api_version 0: header v0, no client_id
				0x00, 0x00, 0x00, 0x09, // correlation_id 9
				0x00, 0x00, 0x00, 0x01, // body: broker_id 1
			},
			want: RequestHeader{Key: 7, Version: 0, CorrelationID: 9, Len: 8},
		},
		{
			name: "ControlledShutdown v1 uses header v1",
			frame: []byte{
				0x00, 0x07, 0x00, 0x01, // ControlledShutdown v1
				0x00, 0x00, 0x00, 0x09, // correlation_id 9
				0x00, 0x01, 'b', // client_id "b"
			},
			want: RequestHeader{Key: 7, Version: 1, CorrelationID: 9, ClientID: strPtr("b"), Len: 11},
		},
		{
			name: "SaslHandshake v1 is never flexible",
			frame: []byte{
				0x00, 0x11, 0x00, 0x01, // SaslHandshake v1
				0x00, 0x00, 0x00, 0x02, // correlation_id 2
				0xff, 0xff, // client_id null
				0x00, 0x05, 'P', 'L', 'A', 'I', 'N', // body: mechanism
			},
			want: RequestHeader{Key: 17, Version: 1, CorrelationID: 2, Len: 10},
		},
		{
			name:    "empty frame",
			frame:   nil,
			wantErr: ErrShortHeader,
		},
		{
			name:    "seven bytes",
			frame:   []byte{0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00},
			wantErr: ErrShortHeader,
		},
		{
			name:    "no client id length",
			frame:   []byte{0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x05, 0x00},
			want:    RequestHeader{Key: 3, Version: 4, CorrelationID: 5},
			wantErr: ErrShortHeader,
		},
		{
			name: "client id length -2",
			frame: []byte{
				0x00, 0x03, 0x00, 0x04, // Metadata v4
				0x00, 0x00, 0x00, 0x05, // correlation_id 5
				0xff, 0xfe, // client_id length -2
			},
			want:    RequestHeader{Key: 3, Version: 4, CorrelationID: 5},
			errText: "client id length -2",
		},
		{
			name: "client id length min int16",
			frame: []byte{
				0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x05,
				0x80, 0x00, // client_id length -32768
			},
			want:    RequestHeader{Key: 3, Version: 4, CorrelationID: 5},
			errText: "client id length -32768",
		},
		{
			name: "truncated client id",
			frame: []byte{
				0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x05,
				0x00, 0x05, 'a', 'b', // client_id claims 5 bytes, has 2
			},
			want:    RequestHeader{Key: 3, Version: 4, CorrelationID: 5},
			wantErr: ErrShortHeader,
		},
		{
			name: "client id claims 32767 bytes",
			frame: []byte{
				0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x05,
				0x7f, 0xff, 'a',
			},
			want:    RequestHeader{Key: 3, Version: 4, CorrelationID: 5},
			wantErr: ErrShortHeader,
		},
		{
			name: "flexible, tag section missing",
			frame: []byte{
				0x00, 0x03, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x05,
				0x00, 0x00, // client_id "", then nothing
			},
			want:    RequestHeader{Key: 3, Version: 12, CorrelationID: 5, ClientID: strPtr(""), Flexible: true},
			wantErr: ErrShortHeader,
		},
		{
			name: "flexible, tag data truncated",
			frame: []byte{
				0x00, 0x03, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x05,
				0xff, 0xff,
				0x01, 0x00, 0x04, 0xaa, // tag 0 claims 4 bytes, has 1
			},
			want:    RequestHeader{Key: 3, Version: 12, CorrelationID: 5, Flexible: true},
			wantErr: ErrShortHeader,
		},
		{
			name: "unknown api key 9999",
			frame: []byte{
				0x27, 0x0f, // api_key 9999
				0x00, 0x01, // api_version 1
				0x00, 0x00, 0x00, 0x63, // correlation_id 99
				0xff, 0xff,
			},
			want:    RequestHeader{Key: 9999, Version: 1, CorrelationID: 99},
			wantErr: ErrUnknownAPI,
		},
		{
			name: "negative api key",
			frame: []byte{
				0xff, 0xff, 0x00, 0x00, // api_key -1, api_version 0
				0x00, 0x00, 0x00, 0x01,
			},
			want:    RequestHeader{Key: -1, Version: 0, CorrelationID: 1},
			wantErr: ErrUnknownAPI,
		},
		{
			name: "version above kmsg max",
			frame: []byte{
				0x00, 0x12, // api_key 18 (ApiVersions)
				0x00, 0x63, // api_version 99
				0x00, 0x00, 0x00, 0x03, // correlation_id 3
			},
			want:    RequestHeader{Key: 18, Version: 99, CorrelationID: 3},
			wantErr: ErrUnsupportedVersion,
		},
		{
			name: "negative version",
			frame: []byte{
				0x00, 0x00, 0xff, 0xff, // Produce v-1
				0x00, 0x00, 0x00, 0x03,
			},
			want:    RequestHeader{Key: 0, Version: -1, CorrelationID: 3},
			wantErr: ErrUnsupportedVersion,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRequestHeader(tt.frame)
			switch {
			case tt.wantErr == nil && tt.errText == "":
				if err != nil {
					t.Fatalf("got error %v, want nil", err)
				}
			case err == nil:
				t.Fatalf("got %s, nil; want an error", fmtHeader(got))
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("got error %v, want errors.Is %v", err, tt.wantErr)
			case !strings.Contains(err.Error(), tt.errText):
				t.Errorf("got error %v, want it to contain %q", err, tt.errText)
			}
			if err != nil {
				// On error only the fixed prefix is promised.
				got = RequestHeader{Key: got.Key, Version: got.Version, CorrelationID: got.CorrelationID}
				tt.want = RequestHeader{Key: tt.want.Key, Version: tt.want.Version, CorrelationID: tt.want.CorrelationID}
			}
			if fmtHeader(got) != fmtHeader(tt.want) {
				t.Errorf("got %s, want %s", fmtHeader(got), fmtHeader(tt.want))
			}
		})
	}
}

// TestParseRequestHeaderAllAPIs builds a default request for every (key,
// version) kmsg knows, with a client ID, an empty one and none (null), and
// checks the parsed header against kmsg's encoding: the body must start
// exactly at h.Len, which is checked by length arithmetic and by decoding
// and re-encoding the body with kmsg.
func TestParseRequestHeaderAllAPIs(t *testing.T) {
	t.Parallel()
	clientIDs := []*string{nil, strPtr(""), strPtr("schemaproxy-test")}
	keys := 0
	for k := int16(0); k < 1<<10; k++ {
		if kmsg.RequestForKey(k) == nil {
			continue
		}
		keys++
		t.Run(kmsg.NameForKey(k), func(t *testing.T) {
			t.Parallel()
			maxV := kmsg.RequestForKey(k).MaxVersion()
			if got := MaxVersion(k); got != maxV {
				t.Errorf("MaxVersion: got %d, want %d", got, maxV)
			}
			for v := int16(0); v <= maxV; v++ {
				for i, cid := range clientIDs {
					req := kmsg.RequestForKey(k)
					req.SetVersion(v)
					corr := int32(k)<<16 | int32(v)<<4 | int32(i)
					if i == 1 {
						corr = -corr - 1
					}
					frame := kmsgFrame(cid, req, corr)
					body := req.AppendTo(nil)
					hdrLen := len(frame) - 4 - len(body)

					wantCID, wantLen := cid, 10
					if cid != nil {
						wantLen += len(*cid)
					}
					if req.IsFlexible() {
						wantLen++
					}
					if k == 7 && v == 0 {
						wantCID, wantLen = nil, 8
					}
					want := RequestHeader{Key: k, Version: v, CorrelationID: corr, ClientID: wantCID, Flexible: req.IsFlexible(), Len: wantLen}
					if hdrLen != wantLen {
						t.Fatalf("v%d: kmsg wrote a %d-byte header, want %d", v, hdrLen, wantLen)
					}

					h, err := ParseRequestHeader(frame[4:])
					if err != nil {
						t.Errorf("v%d client %d: got error %v", v, i, err)
						continue
					}
					if fmtHeader(h) != fmtHeader(want) {
						t.Errorf("v%d client %d: got %s, want %s", v, i, fmtHeader(h), fmtHeader(want))
						continue
					}
					if flex, err := RequestFlexible(k, v); err != nil || flex != req.IsFlexible() {
						t.Errorf("v%d: RequestFlexible: got %v, %v, want %v, nil", v, flex, err, req.IsFlexible())
					}
					dec := kmsg.RequestForKey(k)
					dec.SetVersion(v)
					if err := dec.ReadFrom(frame[4+h.Len:]); err != nil {
						t.Errorf("v%d: body at h.Len does not decode: %v", v, err)
						continue
					}
					if got := dec.AppendTo(nil); !bytes.Equal(got, body) {
						t.Errorf("v%d: body re-encodes as %x, want %x", v, got, body)
					}
				}
			}
		})
	}
	if keys < 90 {
		t.Errorf("got %d api keys from kmsg, want at least 90", keys)
	}
}

func TestRequestFlexible(t *testing.T) {
	t.Parallel()
	// Flexible-from versions of client APIs, from the Kafka message specs.
	flexFrom := []struct {
		key  int16
		from int16
	}{
		{0, 9}, {1, 12}, {2, 6}, {3, 9}, {8, 8}, {9, 6}, {10, 3}, {11, 6}, {12, 4},
		{13, 4}, {14, 4}, {15, 5}, {16, 3}, {18, 3}, {19, 5}, {20, 4}, {21, 2},
		{22, 2}, {23, 4}, {24, 3}, {25, 3}, {26, 3}, {28, 3}, {32, 4}, {36, 2},
		{60, 0}, {75, 0}, {68, 0},
	}
	for _, tt := range flexFrom {
		t.Run(kmsg.NameForKey(tt.key), func(t *testing.T) {
			t.Parallel()
			if tt.from > 0 {
				if got, err := RequestFlexible(tt.key, tt.from-1); err != nil || got {
					t.Errorf("v%d: got %v, %v, want false, nil", tt.from-1, got, err)
				}
			}
			if got, err := RequestFlexible(tt.key, tt.from); err != nil || !got {
				t.Errorf("v%d: got %v, %v, want true, nil", tt.from, got, err)
			}
		})
	}
	t.Run("never flexible", func(t *testing.T) {
		t.Parallel()
		for _, k := range []int16{17, 47} {
			for v := int16(0); v <= MaxVersion(k); v++ {
				if got, err := RequestFlexible(k, v); err != nil || got {
					t.Errorf("%s v%d: got %v, %v, want false, nil", kmsg.NameForKey(k), v, got, err)
				}
			}
		}
	})
	errTests := []struct {
		name         string
		key, version int16
		want         error
	}{
		{"negative key", -1, 0, ErrUnknownAPI},
		{"key 9999", 9999, 0, ErrUnknownAPI},
		{"max int16 key", 32767, 0, ErrUnknownAPI},
		{"negative version", 0, -1, ErrUnsupportedVersion},
		{"one above max", 0, MaxVersion(0) + 1, ErrUnsupportedVersion},
		{"max int16 version", 3, 32767, ErrUnsupportedVersion},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := RequestFlexible(tt.key, tt.version); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	for _, k := range []int16{-1, 9999, 32767} {
		if got := MaxVersion(k); got != -1 {
			t.Errorf("MaxVersion(%d): got %d, want -1", k, got)
		}
	}
	if got, want := (RequestHeader{Key: 0}).APIName(), "Produce"; got != want {
		t.Errorf("APIName: got %q, want %q", got, want)
	}
}

func TestSkipTags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []byte
		want    int
		wantErr bool
	}{
		{name: "no tags", in: []byte{0x00}, want: 1},
		{name: "no tags, trailing body", in: []byte{0x00, 0xaa, 0xbb}, want: 1},
		{name: "one empty tag", in: []byte{0x01, 0x00, 0x00}, want: 3},
		{
			name: "two tags",
			in: []byte{
				0x02,                   // 2 tagged fields
				0x00, 0x02, 0xaa, 0xbb, // tag 0, 2 bytes
				0x03, 0x01, 0xcc, // tag 3, 1 byte
				0xdd, // not part of the tags
			},
			want: 8,
		},
		{
			name: "multi-byte tag number and size",
			in: append([]byte{
				0x01,             // 1 tagged field
				0xff, 0xff, 0x03, // tag 65535
				0xc8, 0x01, // 200 bytes
			}, make([]byte, 200)...),
			want: 206,
		},
		{name: "empty", in: nil, wantErr: true},
		{name: "count varint unterminated", in: []byte{0x80}, wantErr: true},
		{name: "count varint overflows", in: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, wantErr: true},
		{name: "tag missing", in: []byte{0x01}, wantErr: true},
		{name: "size missing", in: []byte{0x01, 0x00}, wantErr: true},
		{name: "size unterminated", in: []byte{0x01, 0x00, 0x80}, wantErr: true},
		{name: "data truncated", in: []byte{0x01, 0x00, 0x03, 0xaa, 0xbb}, wantErr: true},
		{name: "second tag truncated", in: []byte{0x02, 0x00, 0x00, 0x01}, wantErr: true},
		{name: "size max uint64", in: []byte{0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, wantErr: true},
		{name: "size max int64 plus one", in: []byte{0x01, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, wantErr: true},
		{name: "count max uint32", in: []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x00}, wantErr: true},
		{name: "count max uint64", in: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x00}, wantErr: true},
		// A count no larger than the buffer, but more than its empty tags
		// can hold: the loop ends when the bytes do.
		{name: "count above tags present", in: append([]byte{0xe8, 0x07}, make([]byte, 1000)...), wantErr: true},
		{name: "count equal to tags present", in: append([]byte{0xf4, 0x03}, make([]byte, 1000)...), want: 1002},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := SkipTags(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %d, nil; want an error", got)
				}
				if !errors.Is(err, ErrShortHeader) {
					t.Errorf("got %v, want errors.Is ErrShortHeader", err)
				}
				if got != 0 {
					t.Errorf("got %d with an error, want 0", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

// TestSkipTagsHugeCount checks that a tag count far beyond the input is
// rejected without walking it, however large the input.
func TestSkipTagsHugeCount(t *testing.T) {
	t.Parallel()
	b := binary.AppendUvarint(nil, 1<<62)
	b = append(b, make([]byte, 1<<20)...)
	if n, err := SkipTags(b); err == nil {
		t.Errorf("got %d, nil; want an error", n)
	}
}

func TestResponseHeaderLen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		key, version int16
		frame        []byte
		want         int
		wantErr      error
	}{
		{
			name: "produce v8, header v0",
			key:  0, version: 8,
			frame: []byte{
				0x00, 0x00, 0x00, 0x01, // correlation_id 1
				0x00, 0x00, 0x00, 0x00, // body: topics array
			},
			want: 4,
		},
		{
			name: "produce v9, header v1 with no tags",
			key:  0, version: 9,
			frame: []byte{
				0x00, 0x00, 0x00, 0x01, // correlation_id 1
				0x00, // no tagged fields
				0x01, // body: compact topics array
			},
			want: 5,
		},
		{
			name: "metadata v12 with tags",
			key:  3, version: 12,
			frame: []byte{
				0x00, 0x00, 0x00, 0x01, // correlation_id 1
				0x02,                   // 2 tagged fields
				0x00, 0x02, 0xaa, 0xbb, // tag 0, 2 bytes
				0x01, 0x00, // tag 1, 0 bytes
				0x00, 0x00, 0x00, 0x00, // body: throttle_time_ms
			},
			want: 11,
		},
		{
			name: "ApiVersions v0",
			key:  18, version: 0,
			frame: []byte{0x00, 0x00, 0x00, 0x01, 0x00, 0x00},
			want:  4,
		},
		{
			name: "ApiVersions v3 has no header tags",
			key:  18, version: 3,
			frame: []byte{
				0x00, 0x00, 0x00, 0x01, // correlation_id 1
				0x00, 0x00, // body: error_code 0, not a tag count
				0x02, // compact api_keys array
			},
			want: 4,
		},
		{
			name: "ApiVersions v4 body starting with a would-be bad tag count",
			key:  18, version: 4,
			frame: []byte{0x00, 0x00, 0x00, 0x01, 0x00, 0x23},
			want:  4,
		},
		{
			name: "ApiVersions above kmsg max (KIP-511 v0 reply)",
			key:  18, version: 99,
			frame: []byte{0x00, 0x00, 0x00, 0x01, 0x00, 0x23},
			want:  4,
		},
		{
			name: "SaslHandshake v1 never flexible",
			key:  17, version: 1,
			frame: []byte{0x00, 0x00, 0x00, 0x01, 0x00, 0x00},
			want:  4,
		},
		{
			name: "short", key: 0, version: 9,
			frame:   []byte{0x00, 0x00, 0x00},
			wantErr: ErrShortHeader,
		},
		{
			name: "ApiVersions short", key: 18, version: 3,
			frame:   []byte{0x00, 0x00, 0x00},
			wantErr: ErrShortHeader,
		},
		{
			name: "flexible, tags missing", key: 0, version: 9,
			frame:   []byte{0x00, 0x00, 0x00, 0x01},
			wantErr: ErrShortHeader,
		},
		{
			name: "flexible, tag truncated", key: 3, version: 12,
			frame:   []byte{0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x05, 0xaa},
			wantErr: ErrShortHeader,
		},
		{
			name: "unknown key", key: 9999, version: 0,
			frame:   []byte{0x00, 0x00, 0x00, 0x01},
			wantErr: ErrUnknownAPI,
		},
		{
			name: "version above kmsg max", key: 3, version: 99,
			frame:   []byte{0x00, 0x00, 0x00, 0x01},
			wantErr: ErrUnsupportedVersion,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ResponseHeaderLen(tt.key, tt.version, tt.frame)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("got %d, %v; want errors.Is %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %d, %v; want %d, nil", got, err, tt.want)
			}
		})
	}
}

func TestAppendResponseHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		key, version int16
		corr         int32
		want         []byte
	}{
		{"produce v8", 0, 8, 7, []byte{0x00, 0x00, 0x00, 0x07}},
		{"produce v9", 0, 9, 7, []byte{0x00, 0x00, 0x00, 0x07, 0x00}},
		{"metadata v12 negative correlation", 3, 12, -2, []byte{0xff, 0xff, 0xff, 0xfe, 0x00}},
		{"ApiVersions v3", 18, 3, 1, []byte{0x00, 0x00, 0x00, 0x01}},
		{"ApiVersions v99", 18, 99, 1, []byte{0x00, 0x00, 0x00, 0x01}},
		{"unknown key", 9999, 0, 1, []byte{0x00, 0x00, 0x00, 0x01}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := AppendResponseHeader([]byte{0xee}, tt.key, tt.version, tt.corr)
			if want := append([]byte{0xee}, tt.want...); !bytes.Equal(got, want) {
				t.Errorf("got %x, want %x", got, want)
			}
		})
	}
}

// TestAppendResponseAllAPIs writes a default response for every (key,
// version) kmsg knows and checks that ResponseHeaderLen finds the body
// where kmsg can decode it again.
func TestAppendResponseAllAPIs(t *testing.T) {
	t.Parallel()
	for k := int16(0); k < 1<<10; k++ {
		if kmsg.ResponseForKey(k) == nil {
			continue
		}
		t.Run(kmsg.NameForKey(k), func(t *testing.T) {
			t.Parallel()
			for v := int16(0); v <= MaxVersion(k); v++ {
				resp := kmsg.ResponseForKey(k)
				resp.SetVersion(v)
				corr := int32(k)<<8 | int32(v)
				prefix := []byte{0xee, 0xee}
				frame := AppendResponse(prefix, corr, resp)
				if !bytes.Equal(frame[:2], prefix) {
					t.Fatalf("v%d: prefix overwritten: got %x", v, frame[:2])
				}
				frame = frame[2:]
				if got, want := int32(binary.BigEndian.Uint32(frame)), int32(len(frame)-4); got != want {
					t.Errorf("v%d: got size %d, want %d", v, got, want)
				}
				if got := int32(binary.BigEndian.Uint32(frame[4:])); got != corr {
					t.Errorf("v%d: got correlation ID %d, want %d", v, got, corr)
				}
				hlen, err := ResponseHeaderLen(k, v, frame[4:])
				if err != nil {
					t.Errorf("v%d: got error %v", v, err)
					continue
				}
				wantLen := 4
				if resp.IsFlexible() && k != 18 {
					wantLen = 5
				}
				if hlen != wantLen {
					t.Errorf("v%d: got header length %d, want %d", v, hlen, wantLen)
				}
				body := resp.AppendTo(nil)
				if got := frame[4+hlen:]; !bytes.Equal(got, body) {
					t.Errorf("v%d: got body %x, want %x", v, got, body)
				}
				dec := kmsg.ResponseForKey(k)
				dec.SetVersion(v)
				if err := dec.ReadFrom(frame[4+hlen:]); err != nil {
					t.Errorf("v%d: body does not decode: %v", v, err)
				}
			}
		})
	}
}

// TestNoAllocationFromClaimedLengths feeds each decoder inputs whose length
// fields claim far more than is there, and checks what it allocates.
//
// A decoder that sizes anything by a claim allocates at least the claim on
// every call; one that checks the claim first allocates only its error.
// Each case makes enough calls that its claims add up to claimedTotal
// (256 MiB; one call when a single claim is larger), and fails when those
// calls allocate a sixteenth of that: two orders of magnitude above what
// the error paths and the rest of the process allocate meanwhile (tens of
// KiB), and far below what honouring the claims would cost. Not parallel:
// allocatedBytes counts the whole process.
func TestNoAllocationFromClaimedLengths(t *testing.T) {
	const (
		claimedTotal = 256 << 20
		limit        = claimedTotal / 16
	)
	huge := binary.AppendUvarint(nil, 1<<63)
	tests := []struct {
		name  string
		claim uint64 // bytes (or tags) the input claims
		f     func() error
	}{
		{"ReadSize max int32", math.MaxInt32, func() error {
			var buf [4]byte
			_, err := ReadSize(bytes.NewReader([]byte{0x7f, 0xff, 0xff, 0xff}), &buf, DefaultMaxRequestBytes)
			return err
		}},
		{"ReadSize TLS", 0x16030102, func() error {
			var buf [4]byte
			_, err := ReadSize(bytes.NewReader([]byte{0x16, 0x03, 0x01, 0x02}), &buf, DefaultMaxRequestBytes)
			return err
		}},
		{"client id 32767", math.MaxInt16, func() error {
			_, err := ParseRequestHeader([]byte{0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x05, 0x7f, 0xff})
			return err
		}},
		{"header tag count 2^63", 1 << 63, func() error {
			_, err := ParseRequestHeader(append([]byte{0x00, 0x03, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x05, 0xff, 0xff}, huge...))
			return err
		}},
		{"tag size 2^63", 1 << 63, func() error {
			_, err := SkipTags(append([]byte{0x01, 0x00}, huge...))
			return err
		}},
		{"response tag count 2^63", 1 << 63, func() error {
			_, err := ResponseHeaderLen(0, 9, append([]byte{0, 0, 0, 1}, huge...))
			return err
		}},
		{"transactional id 32767", math.MaxInt16, func() error {
			_, err := ProduceAcks([]byte{0x7f, 0xff, 0x00}, false)
			return err
		}},
		{"compact transactional id 2^63", 1 << 63, func() error {
			_, err := ProduceAcks(huge, true)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runs := max(1, claimedTotal/tt.claim)
			var err error
			alloc := allocatedBytes(func() {
				for range runs {
					err = tt.f()
				}
			})
			if err == nil {
				t.Fatal("got nil error, want one")
			}
			if alloc >= limit {
				t.Errorf("got %d bytes allocated in %d calls (%d per call, claiming %d), want less than %d",
					alloc, runs, alloc/runs, tt.claim, limit)
			}
		})
	}
}

func FuzzParseRequestHeader(f *testing.F) {
	f.Add(kmsgFrame(strPtr("seed"), kmsg.NewPtrProduceRequest(), 1)[4:])
	f.Fuzz(func(t *testing.T, frame []byte) {
		var h RequestHeader
		var err error
		alloc := heapAllocBytes(func() { h, err = ParseRequestHeader(frame) })
		if alloc > maxFuzzAlloc(len(frame)) {
			t.Errorf("allocated %d bytes for a %d-byte frame", alloc, len(frame))
		}
		if len(frame) >= RequestPrefixLen {
			key, version, corr, _ := ParsePrefix(frame)
			if h.Key != key || h.Version != version || h.CorrelationID != corr {
				t.Errorf("got %s, want key %d v%d corr %d", fmtHeader(h), key, version, corr)
			}
		} else if !errors.Is(err, ErrShortHeader) {
			t.Errorf("got %v for %d bytes, want ErrShortHeader", err, len(frame))
		}
		if err != nil {
			return
		}
		if h.Len < RequestPrefixLen || h.Len > len(frame) {
			t.Fatalf("got Len %d for a %d-byte frame", h.Len, len(frame))
		}
		flex, ferr := RequestFlexible(h.Key, h.Version)
		if ferr != nil || flex != h.Flexible {
			t.Errorf("got Flexible %v, RequestFlexible says %v, %v", h.Flexible, flex, ferr)
		}
		// The header is self-delimiting: the bytes after it change
		// nothing, and it cannot be parsed one byte short.
		again, err := ParseRequestHeader(frame[:h.Len])
		if err != nil || fmtHeader(again) != fmtHeader(h) {
			t.Errorf("header alone: got %s, %v, want %s", fmtHeader(again), err, fmtHeader(h))
		}
		if _, err := ParseRequestHeader(frame[:h.Len-1]); err == nil {
			t.Errorf("header minus one byte parsed, want an error")
		}
		// Re-encoding the parsed fields, with the tag section copied,
		// gives back the original bytes.
		tagStart := RequestPrefixLen + 2
		if h.ClientID != nil {
			tagStart += len(*h.ClientID)
		}
		var tags []byte
		if h.Flexible && !(h.Key == 7 && h.Version == 0) {
			tags = frame[tagStart:h.Len]
		}
		if got := appendRequestHeader(nil, h, tags); !bytes.Equal(got, frame[:h.Len]) {
			t.Errorf("re-encoded header %x, want %x", got, frame[:h.Len])
		}
	})
}

func FuzzSkipTags(f *testing.F) {
	f.Add([]byte{0x01, 0x00, 0x02, 0xaa, 0xbb})
	f.Fuzz(func(t *testing.T, b []byte) {
		var n int
		var err error
		alloc := heapAllocBytes(func() { n, err = SkipTags(b) })
		if alloc > maxFuzzAlloc(0) {
			t.Errorf("allocated %d bytes for a %d-byte input", alloc, len(b))
		}
		if err != nil {
			if n != 0 {
				t.Errorf("got %d with error %v, want 0", n, err)
			}
			return
		}
		if n < 1 || n > len(b) {
			t.Fatalf("got %d for %d bytes", n, len(b))
		}
		if again, err := SkipTags(b[:n]); err != nil || again != n {
			t.Errorf("tags alone: got %d, %v, want %d, nil", again, err, n)
		}
		if _, err := SkipTags(b[:n-1]); err == nil {
			t.Errorf("tags minus one byte skipped, want an error")
		}
	})
}

func FuzzResponseHeaderLen(f *testing.F) {
	f.Add(int16(3), int16(12), []byte{0x00, 0x00, 0x00, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, key, version int16, frame []byte) {
		var n int
		var err error
		alloc := heapAllocBytes(func() { n, err = ResponseHeaderLen(key, version, frame) })
		if alloc > maxFuzzAlloc(0) {
			t.Errorf("allocated %d bytes for a %d-byte frame", alloc, len(frame))
		}
		if len(frame) < 4 && !errors.Is(err, ErrShortHeader) {
			t.Errorf("got %d, %v for %d bytes, want ErrShortHeader", n, err, len(frame))
		}
		flex, ferr := RequestFlexible(key, version)
		switch {
		case err != nil:
			if key == 18 && len(frame) >= 4 {
				t.Errorf("ApiVersions: got error %v, want 4", err)
			}
			if ferr == nil && !flex && len(frame) >= 4 {
				t.Errorf("header v0: got error %v, want 4", err)
			}
			return
		case n < 4 || n > len(frame):
			t.Fatalf("got %d for a %d-byte frame", n, len(frame))
		case key == 18 || !flex:
			if n != 4 {
				t.Errorf("header v0: got %d, want 4", n)
			}
		default:
			if tags, err := SkipTags(frame[4:]); err != nil || n != 4+tags {
				t.Errorf("header v1: got %d, want 4 + %d (%v)", n, tags, err)
			}
		}
		if ferr != nil && key != 18 {
			t.Errorf("got %d for %s", n, ferr)
		}
		// A header we write ourselves must measure as what we wrote.
		if ferr == nil || key == 18 {
			own := AppendResponseHeader(nil, key, version, 1)
			if got, err := ResponseHeaderLen(key, version, own); err != nil || got != len(own) {
				t.Errorf("own header %x: got %d, %v, want %d", own, got, err, len(own))
			}
		}
	})
}

func BenchmarkParseRequestHeader(b *testing.B) {
	produce := func(v int16) kmsg.Request {
		r := kmsg.NewPtrProduceRequest()
		r.Version = v
		return r
	}
	metadata := kmsg.NewPtrMetadataRequest()
	metadata.Version = 12
	cases := []struct {
		name     string
		clientID *string
		req      kmsg.Request
	}{
		{"produce v8", strPtr("bench-client"), produce(8)},
		{"produce v11 flexible", strPtr("bench-client"), produce(11)},
		{"metadata v12 null client id", nil, metadata},
	}
	for _, c := range cases {
		frame := kmsgFrame(c.clientID, c.req, 1)[4:]
		h, err := ParseRequestHeader(frame)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(h.Len))
			for b.Loop() {
				if _, err := ParseRequestHeader(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
