package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"testing/iotest"
)

// heapAllocBytes returns the bytes allocated on the heap, by the whole
// process, while f runs. Allocations larger than 32 KiB are counted at once;
// smaller ones are counted when their span fills, so a single call can be
// charged tens of KiB of earlier allocations. Callers use it with bounds far
// above that noise and far below any allocation sized by a wire length.
func heapAllocBytes(f func()) uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	before := s[0].Value.Uint64()
	f()
	metrics.Read(s)
	return s[0].Value.Uint64() - before
}

// allocatedBytes returns the bytes allocated on the heap, by the whole
// process, while f runs. runtime.ReadMemStats flushes every P's allocation
// cache, so unlike heapAllocBytes it charges f with nothing allocated
// before f began; what other goroutines allocate meanwhile still counts.
// It stops the world twice, which suits tests, not fuzz targets.
func allocatedBytes(f func()) uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	before := m.TotalAlloc
	f()
	runtime.ReadMemStats(&m)
	return m.TotalAlloc - before
}

// maxFuzzAlloc bounds what one call of a decoder may allocate for an input
// of n bytes: a copy of the input plus counter noise, never a claimed length.
func maxFuzzAlloc(n int) uint64 { return 1<<20 + 2*uint64(n) }

func TestReadSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        []byte
		limit     int32
		wantSize  int32
		wantErr   error  // matched with errors.Is; nil means no sentinel
		sizeErr   bool   // a *SizeError is expected
		wantCause string // substring of SizeError.Cause; "" means Cause is empty
	}{
		{name: "valid", in: []byte{0x00, 0x00, 0x00, 0x10}, limit: 100, wantSize: 16},
		{name: "zero", in: []byte{0x00, 0x00, 0x00, 0x00}, limit: 100, wantSize: 0},
		{name: "exactly limit", in: []byte{0x00, 0x00, 0x00, 0x64}, limit: 100, wantSize: 100},
		{name: "one over limit", in: []byte{0x00, 0x00, 0x00, 0x65}, limit: 100, wantSize: 101, sizeErr: true},
		{name: "default max request bytes", in: []byte{0x06, 0x40, 0x00, 0x00}, limit: DefaultMaxRequestBytes, wantSize: DefaultMaxRequestBytes},
		{name: "default max plus one", in: []byte{0x06, 0x40, 0x00, 0x01}, limit: DefaultMaxRequestBytes, wantSize: DefaultMaxRequestBytes + 1, sizeErr: true},
		{name: "pre-auth limit plus one", in: []byte{0x00, 0x08, 0x00, 0x01}, limit: PreAuthMaxBytes, wantSize: PreAuthMaxBytes + 1, sizeErr: true},
		{name: "max int32", in: []byte{0x7f, 0xff, 0xff, 0xff}, limit: DefaultMaxRequestBytes, wantSize: math.MaxInt32, sizeErr: true},
		{name: "minus one", in: []byte{0xff, 0xff, 0xff, 0xff}, limit: 100, wantSize: -1, wantErr: ErrNegativeSize, sizeErr: true},
		{name: "min int32", in: []byte{0x80, 0x00, 0x00, 0x00}, limit: math.MaxInt32, wantSize: math.MinInt32, wantErr: ErrNegativeSize, sizeErr: true},
		{name: "EOF before first byte", in: nil, limit: 100, wantErr: io.EOF},
		{name: "one byte", in: []byte{0x00}, limit: 100, wantErr: io.ErrUnexpectedEOF},
		{name: "three bytes", in: []byte{0x00, 0x00, 0x00}, limit: 100, wantErr: io.ErrUnexpectedEOF},
		{name: "HTTP GET", in: []byte("GET / HTTP/1.1\r\n"), limit: DefaultMaxRequestBytes, wantSize: 0x47455420, sizeErr: true, wantCause: "HTTP request"},
		{name: "HTTP POST", in: []byte("POST /metrics"), limit: DefaultMaxRequestBytes, wantSize: 0x504f5354, sizeErr: true, wantCause: "HTTP request"},
		{name: "HTTP response", in: []byte("HTTP/1.1 400 Bad Request"), limit: DefaultMaxRequestBytes, wantSize: 0x48545450, sizeErr: true, wantCause: "HTTP response"},
		{name: "HTTP/2 preface", in: []byte("PRI * HTTP/2.0"), limit: DefaultMaxRequestBytes, wantSize: 0x50524920, sizeErr: true, wantCause: "HTTP request"},
		{name: "TLS ClientHello", in: []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}, limit: DefaultMaxRequestBytes, wantSize: 0x16030102, sizeErr: true, wantCause: "TLS handshake"},
		{name: "TLS alert", in: []byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28}, limit: DefaultMaxRequestBytes, wantSize: 0x15030300, sizeErr: true, wantCause: "TLS alert"},
		// Upstream responses are read with a 2 GiB limit: the guess must
		// still reject what the size check alone would let through.
		{name: "TLS alert within limit", in: []byte{0x15, 0x03, 0x03, 0x00}, limit: math.MaxInt32, wantSize: 0x15030300, sizeErr: true, wantCause: "TLS alert"},
		{name: "HTTP GET within limit", in: []byte("GET "), limit: math.MaxInt32, wantSize: 0x47455420, sizeErr: true, wantCause: "HTTP request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := bytes.NewReader(tt.in)
			var buf [4]byte
			size, err := ReadSize(r, &buf, tt.limit)
			if tt.wantErr == nil && !tt.sizeErr {
				if err != nil {
					t.Fatalf("got error %v, want nil", err)
				}
			} else if err == nil {
				t.Fatalf("got nil error, want one")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("got error %v, want errors.Is %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && errors.Is(err, ErrNegativeSize) {
				t.Errorf("got error %v matching ErrNegativeSize, want no match", err)
			}
			if tt.wantErr == io.EOF && err != io.EOF {
				t.Errorf("got error %#v, want io.EOF itself", err)
			}
			if size != tt.wantSize {
				t.Errorf("got size %d, want %d", size, tt.wantSize)
			}
			if len(tt.in) >= 4 {
				if got := r.Len(); got != len(tt.in)-4 {
					t.Errorf("got %d bytes left unread, want %d", got, len(tt.in)-4)
				}
				if !bytes.Equal(buf[:], tt.in[:4]) {
					t.Errorf("got buf %x, want %x", buf, tt.in[:4])
				}
			}
			var se *SizeError
			if got := errors.As(err, &se); got != tt.sizeErr {
				t.Fatalf("got *SizeError %v (err %v), want %v", got, err, tt.sizeErr)
			}
			if se == nil {
				return
			}
			if se.Size != tt.wantSize || se.Limit != tt.limit {
				t.Errorf("got Size %d Limit %d, want %d %d", se.Size, se.Limit, tt.wantSize, tt.limit)
			}
			if !bytes.Equal(se.Raw, tt.in[:4]) {
				t.Errorf("got Raw %x, want %x", se.Raw, tt.in[:4])
			}
			buf[0] ^= 0xff
			if !bytes.Equal(se.Raw, tt.in[:4]) {
				t.Errorf("Raw aliases the caller's buffer: got %x after it changed, want %x", se.Raw, tt.in[:4])
			}
			if tt.wantCause == "" && se.Cause != "" {
				t.Errorf("got Cause %q, want none", se.Cause)
			}
			if !strings.Contains(se.Cause, tt.wantCause) {
				t.Errorf("got Cause %q, want it to contain %q", se.Cause, tt.wantCause)
			}
			if se.Cause != "" && !strings.HasSuffix(err.Error(), ": "+se.Cause) {
				t.Errorf("got message %q, want it to end with the cause", err)
			}
		})
	}
}

func TestReadSizeReader(t *testing.T) {
	t.Parallel()
	t.Run("one byte at a time", func(t *testing.T) {
		t.Parallel()
		var buf [4]byte
		size, err := ReadSize(iotest.OneByteReader(bytes.NewReader([]byte{0x00, 0x00, 0x01, 0x00})), &buf, 1<<10)
		if err != nil || size != 256 {
			t.Errorf("got %d, %v, want 256, nil", size, err)
		}
	})
	t.Run("read error is returned as is", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("boom")
		var buf [4]byte
		_, err := ReadSize(iotest.ErrReader(boom), &buf, 1<<10)
		if err != boom {
			t.Errorf("got %v, want %v", err, boom)
		}
	})
	t.Run("error after two bytes", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("boom")
		var buf [4]byte
		_, err := ReadSize(io.MultiReader(bytes.NewReader([]byte{0, 0}), iotest.ErrReader(boom)), &buf, 1<<10)
		if err != boom {
			t.Errorf("got %v, want %v", err, boom)
		}
	})
}

func TestGuessCause(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // substring; "" means no guess
	}{
		{"GET ", "HTTP request"},
		{"POST", "HTTP request"},
		{"PUT ", "HTTP request"},
		{"HEAD", "HTTP request"},
		{"DELE", "HTTP request"},
		{"OPTI", "HTTP request"},
		{"PATC", "HTTP request"},
		{"CONN", "HTTP request"},
		{"PRI ", "HTTP request"},
		{"HTTP", "HTTP response"},
		{"\x16\x03\x00\x10", "TLS handshake"},
		{"\x16\x03\x01\x02", "TLS handshake"},
		{"\x16\x03\x03\x00", "TLS handshake"},
		{"\x16\x03\x04\x00", "TLS handshake"},
		{"\x15\x03\x01\x00", "TLS alert"},
		{"\x15\x03\x03\x00", "TLS alert"},
		{"\x16\x03\x05\x00", ""}, // no such TLS version
		{"\x16\x02\x01\x00", ""},
		{"\x17\x03\x03\x00", ""}, // application data is never a first record
		{"get ", ""},
		{"GET", ""},
		{"\x00\x00\x00\x10", ""},
		{"\x06\x40\x00\x00", ""},
		{"\xff\xff\xff\xff", ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			t.Parallel()
			var p [4]byte
			copy(p[:], tt.in)
			got := GuessCause(p)
			if tt.want == "" && got != "" {
				t.Errorf("got %q, want no guess", got)
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

func TestSizeErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *SizeError
		want string
	}{
		{"negative", &SizeError{Size: -1, Limit: 100, Raw: []byte{0xff, 0xff, 0xff, 0xff}}, "negative frame size -1"},
		{"over limit", &SizeError{Size: 101, Limit: 100, Raw: []byte{0, 0, 0, 0x65}}, "frame size 101 exceeds limit 100"},
		{"over limit with cause", &SizeError{Size: 0x47455420, Limit: 100, Raw: []byte("GET "), Cause: "http"}, "frame size 1195725856 exceeds limit 100: http"},
		{"within limit with cause", &SizeError{Size: 0x15030300, Limit: math.MaxInt32, Raw: []byte{0x15, 0x03, 0x03, 0x00}, Cause: "tls"}, "size prefix 15 03 03 00 is not a Kafka frame: tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAppendAndPatchSize(t *testing.T) {
	t.Parallel()
	if got, want := AppendSize([]byte{0xaa}, 0x01020304), []byte{0xaa, 0x01, 0x02, 0x03, 0x04}; !bytes.Equal(got, want) {
		t.Errorf("got %x, want %x", got, want)
	}
	if got, want := AppendSize(nil, -1), []byte{0xff, 0xff, 0xff, 0xff}; !bytes.Equal(got, want) {
		t.Errorf("got %x, want %x", got, want)
	}
	frame := []byte{0xee, 0xee, 0xee, 0xee, 1, 2, 3}
	PatchSize(frame)
	if got, want := frame, []byte{0, 0, 0, 3, 1, 2, 3}; !bytes.Equal(got, want) {
		t.Errorf("got %x, want %x", got, want)
	}
	empty := []byte{0xee, 0xee, 0xee, 0xee}
	PatchSize(empty)
	if got, want := empty, []byte{0, 0, 0, 0}; !bytes.Equal(got, want) {
		t.Errorf("got %x, want %x", got, want)
	}
}

func FuzzReadSize(f *testing.F) {
	f.Add([]byte{0x00, 0x00, 0x00, 0x10}, int32(100))
	f.Add([]byte("GET / HTTP/1.1\r\n"), int32(math.MaxInt32))
	f.Fuzz(func(t *testing.T, in []byte, limit int32) {
		var buf [4]byte
		var size int32
		var err error
		alloc := heapAllocBytes(func() { size, err = ReadSize(bytes.NewReader(in), &buf, limit) })
		if alloc > maxFuzzAlloc(0) {
			t.Errorf("allocated %d bytes for a %d-byte input", alloc, len(in))
		}
		switch {
		case len(in) == 0:
			if err != io.EOF {
				t.Fatalf("got %v, want io.EOF", err)
			}
			return
		case len(in) < 4:
			if err != io.ErrUnexpectedEOF {
				t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
			}
			return
		}
		if want := int32(binary.BigEndian.Uint32(in)); size != want {
			t.Errorf("got size %d, want %d", size, want)
		}
		var p [4]byte
		copy(p[:], in)
		cause := GuessCause(p)
		wantOK := cause == "" && size >= 0 && size <= limit
		if (err == nil) != wantOK {
			t.Fatalf("got error %v for size %d limit %d cause %q", err, size, limit, cause)
		}
		if err == nil {
			return
		}
		var se *SizeError
		if !errors.As(err, &se) {
			t.Fatalf("got %T %v, want *SizeError", err, err)
		}
		if se.Size != size || se.Limit != limit || se.Cause != cause || !bytes.Equal(se.Raw, in[:4]) {
			t.Errorf("got %+v, want Size %d Limit %d Cause %q Raw %x", se, size, limit, cause, in[:4])
		}
		if got := errors.Is(err, ErrNegativeSize); got != (size < 0) {
			t.Errorf("got errors.Is(ErrNegativeSize) %v for size %d", got, size)
		}
		if se.Error() == "" {
			t.Error("got an empty message")
		}
	})
}

func BenchmarkReadSize(b *testing.B) {
	in := []byte{0x00, 0x00, 0x10, 0x00}
	r := bytes.NewReader(in)
	var buf [4]byte
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		r.Reset(in)
		if _, err := ReadSize(r, &buf, DefaultMaxRequestBytes); err != nil {
			b.Fatal(err)
		}
	}
}

func TestGetFrame(t *testing.T) {
	for _, tc := range []struct{ n, wantCap int }{
		{1, 4 << 10},
		{4 << 10, 4 << 10},
		{4<<10 + 1, 8 << 10},
		{1 << 20, 1 << 20},
		{16 << 20, 16 << 20},
		{16<<20 + 1, 16<<20 + 1}, // past the largest class: exact, not pooled
	} {
		bp := GetFrame(tc.n)
		if len(*bp) != tc.n || cap(*bp) != tc.wantCap {
			t.Errorf("GetFrame(%d): len %d cap %d, want len %d cap %d", tc.n, len(*bp), cap(*bp), tc.n, tc.wantCap)
		}
		PutFrame(bp)
	}
	// A buffer that is not a size class is dropped, never handed out.
	odd := make([]byte, 5000)
	PutFrame(&odd)
	for range 100 {
		if bp := GetFrame(5000); cap(*bp) != 8<<10 {
			t.Fatalf("GetFrame(5000) returned capacity %d", cap(*bp))
		}
	}
}

func BenchmarkGetFrame(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		PutFrame(GetFrame(48 << 10))
	}
}
