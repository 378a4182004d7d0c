package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestProduceAcks(t *testing.T) {
	t.Parallel()
	long := bytes.Repeat([]byte{'t'}, 200)
	tests := []struct {
		name     string
		body     []byte
		flexible bool
		want     int16
		wantErr  string // substring of the message; "" means no error
	}{
		{
			name: "null transactional id",
			body: []byte{
				0xff, 0xff, // transactional_id null (-1)
				0xff, 0xff, // acks -1
				0x00, 0x00, 0x75, 0x30, // timeout_ms 30000
			},
			want: -1,
		},
		{
			name: "transactional id",
			body: []byte{
				0x00, 0x02, 't', 'x', // transactional_id "tx"
				0x00, 0x01, // acks 1
			},
			want: 1,
		},
		{
			name: "empty transactional id",
			body: []byte{
				0x00, 0x00, // transactional_id ""
				0x00, 0x00, // acks 0
			},
			want: 0,
		},
		{
			name:     "flexible null transactional id",
			flexible: true,
			body: []byte{
				0x00,       // transactional_id null (compact: 0)
				0xff, 0xff, // acks -1
				0x00, 0x00, 0x75, 0x30, // timeout_ms 30000
			},
			want: -1,
		},
		{
			name:     "flexible transactional id",
			flexible: true,
			body: []byte{
				0x03, 't', 'x', // transactional_id "tx" (compact: length+1)
				0x00, 0x01, // acks 1
			},
			want: 1,
		},
		{
			name:     "flexible empty transactional id",
			flexible: true,
			body: []byte{
				0x01,       // transactional_id ""
				0x00, 0x00, // acks 0
			},
			want: 0,
		},
		{
			name:     "flexible 200-byte transactional id",
			flexible: true,
			body:     append(append([]byte{0xc9, 0x01}, long...), 0x00, 0x01), // length 201 as a two-byte uvarint
			want:     1,
		},
		{
			name: "200-byte transactional id",
			body: append(append([]byte{0x00, 0xc8}, long...), 0xff, 0xff),
			want: -1,
		},
		{name: "empty", body: nil, wantErr: "transactional id"},
		{name: "one byte", body: []byte{0xff}, wantErr: "transactional id"},
		{name: "acks missing", body: []byte{0xff, 0xff}, wantErr: "acks"},
		{name: "acks one byte", body: []byte{0xff, 0xff, 0x00}, wantErr: "acks"},
		{name: "transactional id truncated", body: []byte{0x00, 0x05, 't', 'x'}, wantErr: "transactional id of 5 bytes"},
		{name: "transactional id fills body", body: []byte{0x00, 0x02, 't', 'x'}, wantErr: "acks"},
		{name: "transactional id 32767", body: []byte{0x7f, 0xff, 0x00, 0x01}, wantErr: "transactional id of 32767 bytes"},
		{name: "transactional id length -2", body: []byte{0xff, 0xfe, 0x00, 0x01}, wantErr: "length -2"},
		{name: "flexible empty", flexible: true, body: nil, wantErr: "transactional id"},
		{name: "flexible length unterminated", flexible: true, body: []byte{0x80}, wantErr: "transactional id"},
		{name: "flexible acks missing", flexible: true, body: []byte{0x00}, wantErr: "acks"},
		{name: "flexible acks one byte", flexible: true, body: []byte{0x01, 0x00}, wantErr: "acks"},
		{name: "flexible transactional id truncated", flexible: true, body: []byte{0x06, 't', 'x'}, wantErr: "transactional id of 5 bytes"},
		{name: "flexible length max uint32", flexible: true, body: []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x01}, wantErr: "transactional id of"},
		{name: "flexible length max uint64", flexible: true, body: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x01}, wantErr: "transactional id of"},
		{name: "flexible length varint overflows", flexible: true, body: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, wantErr: "transactional id"},
		// The same bytes read differently by mode: 0x00 0x01 is an empty
		// string then a one-byte acks when flexible, and cut short when not.
		{name: "mode matters, flexible", flexible: true, body: []byte{0x01, 0x00, 0x01}, want: 1},
		{name: "mode matters, not flexible", body: []byte{0x01, 0x00, 0x01}, wantErr: "transactional id of 256 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ProduceAcks(tt.body, tt.flexible)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Errorf("got %d, %v; want %d, nil", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %d, nil; want an error containing %q", got, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(tt.name, "truncated") || strings.Contains(tt.name, "missing") {
				if !errors.Is(err, ErrShortHeader) {
					t.Errorf("got %v, want errors.Is ErrShortHeader", err)
				}
			}
		})
	}
}

// TestProduceAcksKmsg reads acks from Produce requests built by kmsg, for
// every version that has a transactional ID.
func TestProduceAcksKmsg(t *testing.T) {
	t.Parallel()
	maxV := kmsg.NewPtrProduceRequest().MaxVersion()
	if maxV < 13 {
		t.Fatalf("kmsg Produce max version %d, want at least 13", maxV)
	}
	for v := int16(3); v <= maxV; v++ {
		for _, txn := range []*string{nil, strPtr(""), strPtr("txn-1"), strPtr(strings.Repeat("t", 300))} {
			for _, acks := range []int16{-1, 0, 1} {
				name := fmt.Sprintf("v%d txn %d acks %d", v, -1, acks)
				if txn != nil {
					name = fmt.Sprintf("v%d txn %d acks %d", v, len(*txn), acks)
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					req := kmsg.NewPtrProduceRequest()
					req.Version = v
					req.TransactionID = txn
					req.Acks = acks
					req.TimeoutMillis = 30000
					topic := kmsg.NewProduceRequestTopic()
					topic.Topic = "orders"
					topic.TopicID = [16]byte{1, 2, 3}
					part := kmsg.NewProduceRequestTopicPartition()
					part.Records = []byte{0xde, 0xad, 0xbe, 0xef}
					topic.Partitions = append(topic.Partitions, part)
					req.Topics = append(req.Topics, topic)

					frame := kmsgFrame(strPtr("producer-1"), req, 5)
					h, err := ParseRequestHeader(frame[4:])
					if err != nil {
						t.Fatalf("header: got %v", err)
					}
					got, err := ProduceAcks(frame[4+h.Len:], h.Flexible)
					if err != nil || got != acks {
						t.Errorf("got %d, %v; want %d, nil", got, err, acks)
					}
				})
			}
		}
	}
}

func FuzzProduceAcks(f *testing.F) {
	f.Add([]byte{0xff, 0xff, 0x00, 0x01}, false)
	f.Add([]byte{0x00, 0x00, 0x01}, true)
	f.Fuzz(func(t *testing.T, body []byte, flexible bool) {
		var acks int16
		var err error
		alloc := heapAllocBytes(func() { acks, err = ProduceAcks(body, flexible) })
		if alloc > maxFuzzAlloc(0) {
			t.Errorf("allocated %d bytes for a %d-byte body", alloc, len(body))
		}
		if err == nil {
			// acks is the int16 after the transactional ID, and the
			// transactional ID is what kmsg decodes it as.
			off := 0
			if flexible {
				n, m := binary.Uvarint(body)
				off = m + max(int(n)-1, 0)
			} else {
				off = 2 + max(int(int16(binary.BigEndian.Uint16(body))), 0)
			}
			if off+2 > len(body) {
				t.Fatalf("got acks %d from a %d-byte body with acks at %d", acks, len(body), off)
			}
			if want := int16(binary.BigEndian.Uint16(body[off:])); acks != want {
				t.Errorf("got acks %d, want %d at offset %d", acks, want, off)
			}
		}
		// Whenever kmsg decodes the body as a whole request, ProduceAcks
		// must agree with it. kmsg reads an int16 length below -1 as null,
		// which ProduceAcks refuses; that is the one allowed difference.
		req := kmsg.NewPtrProduceRequest()
		req.Version = 3
		if flexible {
			req.Version = 9
		}
		if req.ReadFrom(body) != nil {
			return
		}
		if !flexible && int16(binary.BigEndian.Uint16(body)) < -1 {
			return
		}
		if err != nil || acks != req.Acks {
			t.Errorf("got %d, %v; kmsg decodes acks %d", acks, err, req.Acks)
		}
	})
}
