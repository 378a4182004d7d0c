package protocol_test

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/protocol"
)

// benchBufSize is the proxy's per-connection read buffer (proxy.connBufSize).
const benchBufSize = 4 << 10

// frameStream returns count back-to-back frames whose bodies are size
// bytes, each starting with a Produce v9 request prefix.
func frameStream(size, count int) []byte {
	frame := protocol.AppendSize(nil, int32(size))
	frame = append(frame, 0, 0, 0, 9, 0, 0, 0, 1) // Produce v9, correlation id 1
	for i := len(frame); i < 4+size; i++ {
		frame = append(frame, byte(i*7))
	}
	out := make([]byte, 0, len(frame)*count)
	for range count {
		out = append(out, frame...)
	}
	return out
}

// loopReader serves b over and over; b holds whole frames, so every wrap
// falls on a frame boundary.
type loopReader struct {
	b   []byte
	off int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.off:])
	r.off += n
	if r.off == len(r.b) {
		r.off = 0
	}
	return n, nil
}

var frameSizes = []struct {
	name string
	size int
}{{"1KiB", 1 << 10}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20}}

// BenchmarkReadFrame reads whole frames the way the proxy's Produce path
// does: size prefix through a 4 KiB bufio.Reader, then a pooled buffer
// (GetFrame) of 4+size bytes filled with io.ReadFull and given back. "mem" reads from memory, so it
// measures framing and copying alone; "tcp" reads from a loopback TCP
// connection fed by a writer goroutine, so it includes syscalls (and the
// writer competes for CPU).
func BenchmarkReadFrame(b *testing.B) {
	for _, fs := range frameSizes {
		stream := frameStream(fs.size, max(1, (4<<20)/(fs.size+4)))
		b.Run("mem/"+fs.name, func(b *testing.B) {
			benchReadFrames(b, &loopReader{b: stream}, fs.size)
		})
		b.Run("tcp/"+fs.name, func(b *testing.B) {
			c := loopbackSource(b, stream)
			benchReadFrames(b, c, fs.size)
		})
	}
}

func benchReadFrames(b *testing.B, src io.Reader, size int) {
	br := bufio.NewReaderSize(src, benchBufSize)
	var sizeBuf [4]byte
	b.SetBytes(int64(4 + size))
	b.ReportAllocs()
	for b.Loop() {
		n, err := protocol.ReadSize(br, &sizeBuf, protocol.DefaultMaxRequestBytes)
		if err != nil {
			b.Fatal(err)
		}
		bp := protocol.GetFrame(4 + int(n))
		frame := *bp
		copy(frame, sizeBuf[:])
		if _, err := io.ReadFull(br, frame[4:]); err != nil {
			b.Fatal(err)
		}
		protocol.PutFrame(bp)
	}
}

// loopbackSource returns the reading end of a loopback TCP connection
// whose other end writes stream over and over until the benchmark ends.
func loopbackSource(b *testing.B, stream []byte) net.Conn {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	w, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	r, ok := <-accepted
	if !ok {
		b.Fatal("accept failed")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := w.Write(stream); err != nil {
				return
			}
		}
	}()
	b.Cleanup(func() {
		r.Close()
		w.Close()
		<-done
	})
	return r
}

// BenchmarkParsePrefix measures the eight-byte peek every request gets.
// The full header parse is BenchmarkParseRequestHeader (header_test.go).
func BenchmarkParsePrefix(b *testing.B) {
	frame := requestFrame(b, kmsg.NewPtrProduceRequest(), 9)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := protocol.ParsePrefix(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProduceAcks measures the acks peek that decides whether a
// Produce request takes a response slot.
func BenchmarkProduceAcks(b *testing.B) {
	for _, v := range []int16{7, 9} {
		req := kmsg.NewPtrProduceRequest()
		req.Acks = 1
		tid := "txn-orders-producer-1"
		req.TransactionID = &tid
		frame := requestFrame(b, req, v)
		h, err := protocol.ParseRequestHeader(frame)
		if err != nil {
			b.Fatal(err)
		}
		body := frame[h.Len:]
		b.Run("v"+strconv.Itoa(int(v)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if acks, err := protocol.ProduceAcks(body, h.Flexible); err != nil || acks != 1 {
					b.Fatalf("acks %d, err %v", acks, err)
				}
			}
		})
	}
}

// requestFrame encodes req at version with a typical client ID and returns
// the frame body (without its size prefix).
func requestFrame(b *testing.B, req kmsg.Request, version int16) []byte {
	b.Helper()
	req.SetVersion(version)
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("orders-service-producer-1"))
	frame := f.AppendRequest(nil, req, 42)
	if _, err := protocol.ParseRequestHeader(frame[4:]); err != nil {
		b.Fatalf("%s v%d: %v", kmsg.NameForKey(req.Key()), version, err)
	}
	return frame[4:]
}
