package protocol

import (
	"encoding/binary"
	"io"
	"math/bits"
	"sync"
)

// Size limits that mirror the broker's defaults.
const (
	// DefaultMaxRequestBytes is the broker's socket.request.max.bytes default (100 MiB).
	DefaultMaxRequestBytes = 100 << 20
	// PreAuthMaxBytes is the broker's sasl.server.max.receive.size default (512 KiB),
	// the limit for frames read while a SASL exchange is under way.
	PreAuthMaxBytes = 512 << 10
)

// ReadSize reads a four-byte size prefix from r into buf and checks it
// against limit. A negative size, a size above limit, or a prefix that is
// recognisably not Kafka (HTTP, a TLS record) returns a *SizeError that
// names the likely cause. io.EOF is returned unchanged when r ends before
// the first byte, so callers can tell a clean close from a truncated frame.
func ReadSize(r io.Reader, buf *[4]byte, limit int32) (int32, error) {
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return 0, err
	}
	size := int32(binary.BigEndian.Uint32(buf[:]))
	if cause := GuessCause(*buf); cause != "" {
		return size, &SizeError{Size: size, Limit: limit, Raw: append([]byte(nil), buf[:]...), Cause: cause}
	}
	if size < 0 || size > limit {
		return size, &SizeError{Size: size, Limit: limit, Raw: append([]byte(nil), buf[:]...)}
	}
	return size, nil
}

// GuessCause names what a peer probably is when its first four bytes are
// not a plausible Kafka size prefix, or returns "" when they could be one.
func GuessCause(p [4]byte) string {
	switch string(p[:]) {
	case "GET ", "POST", "PUT ", "HEAD", "DELE", "OPTI", "PATC", "CONN", "PRI ":
		return "looks like an HTTP request: is this the metrics port, or a proxy setting?"
	case "HTTP":
		return "looks like an HTTP response: the peer is an HTTP server, not a Kafka broker"
	}
	// A TLS record: content type 0x16 (handshake) or 0x15 (alert), then
	// major version 3. As a size this is > 350 MB, never a real frame.
	if (p[0] == 0x16 || p[0] == 0x15) && p[1] == 0x03 && p[2] <= 0x04 {
		if p[0] == 0x16 {
			return "looks like a TLS handshake on a plaintext listener: enable TLS on this side, or use PLAINTEXT in the client"
		}
		return "looks like a TLS alert: the peer speaks TLS, this side does not"
	}
	return ""
}

// AppendSize appends a four-byte big-endian size.
func AppendSize(dst []byte, size int32) []byte {
	return binary.BigEndian.AppendUint32(dst, uint32(size))
}

// PatchSize writes len(frame)-4 into the first four bytes of frame, which
// must have been reserved by the caller.
func PatchSize(frame []byte) {
	binary.BigEndian.PutUint32(frame[:4], uint32(len(frame)-4))
}

// Frame buffers are pooled by power-of-two size class, from 4 KiB (smaller
// frames share it) to 16 MiB; larger frames are allocated and left to the
// garbage collector.
const (
	minFrameShift = 12
	maxFrameShift = 24
)

// frameBufs[i] holds *[]byte of capacity exactly 1<<(minFrameShift+i).
var frameBufs [maxFrameShift - minFrameShift + 1]sync.Pool

// GetFrame returns a buffer of length n (n > 0) for one whole frame, from
// the pool of its size class when there is one. Its contents are
// undefined. Safe for concurrent use.
func GetFrame(n int) *[]byte {
	shift := max(bits.Len(uint(n-1)), minFrameShift)
	if shift > maxFrameShift {
		b := make([]byte, n)
		return &b
	}
	if bp, ok := frameBufs[shift-minFrameShift].Get().(*[]byte); ok {
		*bp = (*bp)[:n]
		return bp
	}
	b := make([]byte, n, 1<<shift)
	return &b
}

// PutFrame gives a buffer from GetFrame back for reuse. The caller must
// hold nothing that aliases it: no slice of it, and no string made from
// it without a copy (kmsg's Unsafe decoders make such strings). A buffer
// whose capacity is not a pooled size class is dropped. Safe for
// concurrent use.
func PutFrame(bp *[]byte) {
	c := cap(*bp)
	shift := bits.Len(uint(c - 1))
	if c != 1<<shift || shift < minFrameShift || shift > maxFrameShift {
		return
	}
	frameBufs[shift-minFrameShift].Put(bp)
}
