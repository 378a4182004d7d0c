package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kgo"
)

// textRecords returns n records of about size bytes each, made of words
// drawn from a fixed seed: compressible like JSON or log lines, not like
// runs of one byte.
func textRecords(n, size int) []rec {
	words := strings.Fields("the quick brown fox jumps over a lazy dog order_id customer amount currency EUR USD status shipped pending " +
		"created_at 2026-11-29T17:06:52Z sku quantity price warehouse region eu-west-1 us-east-2 true false null")
	rng := rand.New(rand.NewPCG(1, 2))
	recs := make([]rec, n)
	for i := range recs {
		var sb strings.Builder
		for sb.Len() < size {
			sb.WriteString(words[rng.IntN(len(words))])
			sb.WriteByte(' ')
			if rng.IntN(8) == 0 {
				fmt.Fprintf(&sb, "%d ", rng.Uint32())
			}
		}
		recs[i] = rec{Key: []byte(fmt.Sprintf("key-%d", i)), Value: []byte(sb.String()[:size])}
	}
	return recs
}

func TestDecompressRoundTrip(t *testing.T) {
	t.Parallel()
	raw := appendRecords(nil, textRecords(100, 1<<10)...)
	for _, c := range codecs {
		for _, tc := range []struct {
			name string
			in   []byte
		}{
			{"empty", []byte{}},
			{"one byte", []byte{0x2a}},
			{"records", raw},
		} {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				src := compressAs(t, c.codec, tc.in)
				got, err := NewDecompressor(1<<20).Decompress(nil, c.codec, src)
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				if !bytes.Equal(got, tc.in) {
					t.Errorf("got %d bytes, want %d", len(got), len(tc.in))
				}
			})
		}
	}
}

// TestDecompressExactCap decodes output of exactly the cap, then one byte
// more.
func TestDecompressExactCap(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	in := bytes.Repeat([]byte("0123456789abcdef"), limit/16)
	over := append(slices.Clone(in), 'x')
	for _, c := range codecs[1:] {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := NewDecompressor(limit)
			got, err := d.Decompress(nil, c.codec, compressAs(t, c.codec, in))
			if err != nil || !bytes.Equal(got, in) {
				t.Errorf("at the cap: got %d bytes, %v; want %d, nil", len(got), err, len(in))
			}
			if got, err := d.Decompress(nil, c.codec, compressAs(t, c.codec, over)); batchReason(err) != ReasonTooLarge {
				t.Errorf("one over the cap: got %d bytes, %v; want %s", len(got), err, ReasonTooLarge)
			}
			if c.codec != CodecSnappy {
				return
			}
			if got, err := d.Decompress(nil, c.codec, xerialFrame(in, 32<<10)); err != nil || !bytes.Equal(got, in) {
				t.Errorf("xerial at the cap: got %d bytes, %v; want %d, nil", len(got), err, len(in))
			}
			if got, err := d.Decompress(nil, c.codec, xerialFrame(over, 32<<10)); batchReason(err) != ReasonTooLarge {
				t.Errorf("xerial one over the cap: got %d bytes, %v; want %s", len(got), err, ReasonTooLarge)
			}
		})
	}
}

// TestDecompressXerial decodes xerial framing built from the spec: the
// 16-byte header, then [int32 length][raw snappy block] chunks.
func TestDecompressXerial(t *testing.T) {
	t.Parallel()
	// Two blocks written out byte by byte: "hello, " and "world".
	fixture := []byte{
		0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0x00, // magic
		0x00, 0x00, 0x00, 0x01, // version 1
		0x00, 0x00, 0x00, 0x01, // minimum compatible version 1

		0x00, 0x00, 0x00, 0x09, // block 1: 9 bytes
		0x07, // snappy: decoded length 7 (uvarint)
		0x18, // snappy: a literal of 7 bytes, tag (7-1)<<2
		'h', 'e', 'l', 'l', 'o', ',', ' ',

		0x00, 0x00, 0x00, 0x07, // block 2: 7 bytes
		0x05, // decoded length 5
		0x10, // a literal of 5 bytes
		'w', 'o', 'r', 'l', 'd',
	}
	if got := xerialFrame([]byte("hello, world"), 7); !bytes.Equal(got, fixture) {
		t.Fatalf("xerialFrame gives % x, want the fixture % x", got, fixture)
	}
	raw := appendRecords(nil, textRecords(100, 1<<10)...)
	tests := []struct {
		name string
		in   []byte
		want []byte // nil: an error with reason
		why  string
	}{
		{name: "fixture", in: fixture, want: []byte("hello, world")},
		{name: "header only", in: slices.Clone(xerialHeader), want: []byte{}},
		{name: "records in 32 KiB blocks", in: xerialFrame(raw, 32<<10), want: raw},
		{name: "records in 1-byte blocks", in: xerialFrame(raw[:4096], 1), want: raw[:4096]},
		{name: "header cut short", in: xerialHeader[:12], why: ReasonCorrupt},
		{name: "block length cut short", in: append(slices.Clone(xerialHeader), 0, 0, 0), why: ReasonCorrupt},
		{name: "block length past the end", in: fixture[:len(fixture)-1], why: ReasonCorrupt},
		{name: "block length 2^31", in: append(slices.Clone(xerialHeader), 0x80, 0, 0, 0, 0x01, 0x00), why: ReasonCorrupt},
		{name: "empty block", in: append(slices.Clone(xerialHeader), 0, 0, 0, 0), why: ReasonCorrupt},
		{name: "corrupt block", in: append(slices.Clone(xerialHeader), 0, 0, 0, 2, 0x05, 0x10), why: ReasonCorrupt},
		{name: "trailing garbage", in: append(slices.Clone(fixture), 0xde, 0xad), why: ReasonCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := NewDecompressor(1<<20).Decompress(nil, CodecSnappy, tt.in)
			if tt.want != nil {
				if err != nil || !bytes.Equal(got, tt.want) {
					t.Errorf("got %q, %v; want %d bytes, nil", fmtBytes(got), err, len(tt.want))
				}
				return
			}
			if batchReason(err) != tt.why {
				t.Errorf("got %d bytes, %v; want reason %s", len(got), err, tt.why)
			}
		})
	}
}

// lz4With compresses raw into an lz4 frame written with opts.
func lz4With(t *testing.T, raw []byte, opts ...lz4.Option) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := lz4.NewWriter(&buf)
	if err := w.Apply(opts...); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestDecompressLZ4Frames decodes the frame options producers use, and
// refuses what the Java broker does not read as one standard frame.
func TestDecompressLZ4Frames(t *testing.T) {
	t.Parallel()
	raw := appendRecords(nil, textRecords(300, 1<<10)...) // 300 KiB: several 64 KiB blocks
	frame := lz4With(t, raw)
	incompressible := make([]byte, 100<<10)
	rand.NewChaCha8([32]byte{1}).Read(incompressible)
	skippable := []byte{0x50, 0x2a, 0x4d, 0x18, 0x02, 0x00, 0x00, 0x00, 0xaa, 0xbb} // magic 0x184D2A50, 2 bytes
	withVersion := func(v byte) []byte {
		f := slices.Clone(frame)
		f[4] = f[4]&0x3f | v<<6 // the header checksum no longer matches either
		return f
	}
	// frame64 is what the Java client writes: 64 KiB independent blocks,
	// here with a content checksum (the Java client writes none).
	frame64 := lz4With(t, raw, lz4.BlockSizeOption(lz4.Block64Kb))
	withFlags := func(f []byte, flg byte) []byte { // the header checksum recomputed
		f = slices.Clone(f)
		f[4] = flg
		f[6] = byte(xxh32Short(f[4:6]) >> 8)
		return f
	}
	badContentSum := slices.Clone(frame64)
	badContentSum[len(badContentSum)-1] ^= 0xff
	badHeaderSum := slices.Clone(frame64)
	badHeaderSum[6] ^= 0xff
	sized := lz4With(t, raw, lz4.BlockSizeOption(lz4.Block64Kb), lz4.SizeOption(uint64(len(raw))))
	badSize := slices.Clone(sized)
	badSize[6]++ // the content size, little-endian
	badSize[14] = byte(xxh32Short(badSize[4:14]) >> 8)
	tests := []struct {
		name string
		in   []byte
		want []byte // nil: ReasonCorrupt
	}{
		{"pierrec defaults (4 MiB blocks, content checksum)", frame, raw},
		{"64 KiB blocks, as the Java client writes", lz4With(t, raw, lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false)), raw},
		{"256 KiB blocks", lz4With(t, raw, lz4.BlockSizeOption(lz4.Block256Kb)), raw},
		{"1 MiB blocks", lz4With(t, raw, lz4.BlockSizeOption(lz4.Block1Mb)), raw},
		{"block checksums", lz4With(t, raw, lz4.BlockSizeOption(lz4.Block64Kb), lz4.BlockChecksumOption(true)), raw},
		{"content size", lz4With(t, raw, lz4.SizeOption(uint64(len(raw)))), raw},
		{"stored blocks", lz4With(t, incompressible, lz4.BlockSizeOption(lz4.Block64Kb)), incompressible},
		{"empty content", lz4With(t, nil), []byte{}},
		{"legacy frame", lz4With(t, raw, lz4.LegacyOption(true)), nil},
		{"content checksum wrong: read unchecked, as Java does", badContentSum, raw},
		{"content checksum flag cleared", withoutContentChecksum(frame64), raw},
		{"dependent blocks (pierrec's reader)", withFlags(frame64, frame64[4]&^0x20), raw},
		{"header checksum wrong", badHeaderSum, nil},
		{"content size wrong", badSize, nil},
		{"reserved bit set", withFlags(frame64, frame64[4]|0x02), nil},
		{"skippable frame first", append(slices.Clone(skippable), frame...), nil},
		{"skippable frame after", append(slices.Clone(frame), skippable...), nil},
		{"two frames", append(slices.Clone(frame), frame...), nil},
		{"version 0", withVersion(0), nil},
		{"version 2", withVersion(2), nil},
		{"block size code 3", append(slices.Clone(frame[:5]), 0x30), nil},
		{"end mark missing", frame[:len(frame)-8], nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := NewDecompressor(1<<20).Decompress(nil, CodecLZ4, tt.in)
			if tt.want != nil {
				if err != nil || !bytes.Equal(got, tt.want) {
					t.Errorf("got %d bytes, %v; want %d, nil", len(got), err, len(tt.want))
				}
				return
			}
			if batchReason(err) != ReasonCorrupt {
				t.Errorf("got %d bytes, %v; want reason %s", len(got), err, ReasonCorrupt)
			}
		})
	}
}

// withoutContentChecksum returns src, one lz4 frame that lz4Frame accepts,
// with its content checksum flag cleared, the header checksum recomputed
// and the content checksum removed.
func withoutContentChecksum(src []byte) []byte {
	if len(src) < 11 || src[4]&0x04 == 0 {
		return src
	}
	f := slices.Clone(src[:len(src)-4])
	f[4] &^= 0x04
	end := 6
	if f[4]&0x08 != 0 {
		end += 8
	}
	f[end] = byte(xxh32Short(f[4:end]) >> 8)
	return f
}

// TestXXH32Short checks the header-checksum hash against XXH32 reference
// values (seed 0).
func TestXXH32Short(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint32
	}{
		{"", 0x02cc5d05},
		{"a", 0x550d7456},
		{"abc", 0x32d153ff},
	} {
		if got := xxh32Short([]byte(tc.in)); got != tc.want {
			t.Errorf("xxh32Short(%q) = %08x, want %08x", tc.in, got, tc.want)
		}
	}
}

// TestDecompressCorrupt checks that bytes a codec cannot decode are
// ReasonCorrupt, never a panic, a partial result or another reason.
func TestDecompressCorrupt(t *testing.T) {
	t.Parallel()
	raw := appendRecords(nil, textRecords(20, 200)...)
	for _, c := range codecs[1:] {
		good := compressAs(t, c.codec, raw)
		flipped := slices.Clone(good)
		flipped[len(flipped)/2] ^= 0xff
		tests := []struct {
			name string
			in   []byte
		}{
			{"nil", nil},
			{"garbage", []byte("this is not compressed at all")},
			{"truncated to half", good[:len(good)/2]},
			{"last byte missing", good[:len(good)-1]},
			{"byte flipped", flipped},
			{"trailing garbage", append(slices.Clone(good), "garbage"...)},
		}
		if c.codec == CodecSnappy {
			tests = tests[1:] // a nil snappy block is tested below
		}
		for _, tt := range tests {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				got, err := NewDecompressor(1<<20).Decompress(nil, c.codec, tt.in)
				if batchReason(err) != ReasonCorrupt {
					t.Errorf("got %d bytes, %v; want reason %s", len(got), err, ReasonCorrupt)
				}
				if err != nil && got != nil {
					t.Errorf("got %d bytes with the error, want nil", len(got))
				}
			})
		}
	}
	t.Run("snappy/nil", func(t *testing.T) {
		t.Parallel()
		if _, err := NewDecompressor(1<<20).Decompress(nil, CodecSnappy, nil); batchReason(err) != ReasonCorrupt {
			t.Errorf("got %v, want reason %s", err, ReasonCorrupt)
		}
	})
	for _, codec := range []int{5, 6, 7, -1} {
		t.Run(fmt.Sprintf("codec %d", codec), func(t *testing.T) {
			t.Parallel()
			if _, err := NewDecompressor(1<<20).Decompress(nil, codec, []byte{1, 2, 3}); batchReason(err) != ReasonInvalid {
				t.Errorf("got %v, want reason %s", err, ReasonInvalid)
			}
		})
	}
}

// TestDecompressReusesDst passes a reused dst with room and stale bytes.
// As documented, the output goes into dst[:0]: it starts at dst[0], in
// dst's array when it fits, and the stale bytes are not part of it.
func TestDecompressReusesDst(t *testing.T) {
	t.Parallel()
	raw := appendRecords(nil, textRecords(10, 100)...)
	for _, c := range codecs[1:] {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := NewDecompressor(1 << 20)
			src := compressAs(t, c.codec, raw)
			buf := bytes.Repeat([]byte{0xee}, 4*len(raw))
			for range 3 { // the decoders are pooled: reuse them
				got, err := d.Decompress(buf[:17], c.codec, src)
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				if !bytes.Equal(got, raw) {
					t.Fatalf("got %d bytes, want %d", len(got), len(raw))
				}
				if &got[0] != &buf[0] {
					t.Errorf("output does not reuse dst, which had room")
				}
			}
			// A small dst grows; its bytes are not part of the output.
			got, err := d.Decompress([]byte("stale"), c.codec, src)
			if err != nil || !bytes.Equal(got, raw) {
				t.Errorf("small dst: got %d bytes, %v; want %d, nil", len(got), err, len(raw))
			}
		})
	}
	t.Run("none returns src", func(t *testing.T) {
		t.Parallel()
		got, err := NewDecompressor(1<<20).Decompress(make([]byte, 0, 1024), CodecNone, raw)
		if err != nil || &got[0] != &raw[0] || len(got) != len(raw) {
			t.Errorf("got %d bytes, %v; want src itself", len(got), err)
		}
	})
}

// TestDecompressConcurrent shares one Decompressor, with its pooled
// decoders, between goroutines; run with -race.
func TestDecompressConcurrent(t *testing.T) {
	t.Parallel()
	d := NewDecompressor(1 << 20)
	raw := appendRecords(nil, textRecords(20, 300)...)
	var wg sync.WaitGroup
	for _, c := range codecs {
		src := compressAs(t, c.codec, raw)
		for range 4 {
			wg.Go(func() {
				var dst []byte
				for range 10 {
					out, err := d.Decompress(dst, c.codec, src)
					if err != nil || !bytes.Equal(out, raw) {
						t.Errorf("%s: got %d bytes, %v", c.name, len(out), err)
						return
					}
					dst = out[:0]
				}
			})
		}
	}
	wg.Wait()
}

// zstdFrameHeader returns a zstd frame header: with fcs >= 0, single
// segment with an 8-byte content size; otherwise a window descriptor for
// 2^windowLog bytes and no content size, as the Java client writes.
func zstdFrameHeader(fcs int64, windowLog int) []byte {
	h := []byte{0x28, 0xb5, 0x2f, 0xfd}
	if fcs >= 0 {
		h = append(h, 0xe0) // FCS field 8 bytes, single segment, no checksum
		return binary.LittleEndian.AppendUint64(h, uint64(fcs))
	}
	return append(h, 0x00, byte(windowLog-10)<<3)
}

// zstdRLEBlocks appends n RLE blocks, each 128 KiB of b; last marks the
// final one.
func zstdRLEBlocks(dst []byte, n int, b byte) []byte {
	for i := range n {
		hdr := uint32(1)<<1 | uint32(128<<10)<<3 // RLE, 128 KiB
		if i == n-1 {
			hdr |= 1
		}
		dst = append(dst, byte(hdr), byte(hdr>>8), byte(hdr>>16), b)
	}
	return dst
}

func zstdRawBlock(dst, data []byte) []byte {
	hdr := uint32(len(data))<<3 | 1 // raw, last
	return append(append(dst, byte(hdr), byte(hdr>>8), byte(hdr>>16)), data...)
}

func TestDecompressZstdWindow(t *testing.T) {
	t.Parallel()
	two := zstdRLEBlocks(zstdFrameHeader(-1, 21), 4, 'x')
	two = zstdRLEBlocks(append(two, zstdFrameHeader(512<<10, 0)...), 4, 'y')
	three := append(slices.Clone(two), zstdRawBlock(zstdFrameHeader(-1, 21), []byte("!"))...)
	tests := []struct {
		name string
		in   []byte
		want int    // decoded length, or -1
		why  string // reason when want is -1
	}{
		// The Java client streams zstd without a content size, with
		// the level's window: 2 MiB at the default level 3 and up to
		// 128 MiB (the Java decoder's default limit) at higher levels.
		// The window bounds back references, not the output, so it is
		// no reason to refuse a small frame.
		{"window 2 MiB, 5 bytes", zstdRawBlock(zstdFrameHeader(-1, 21), []byte("hello")), 5, ""},
		{"window 8 MiB, 5 bytes", zstdRawBlock(zstdFrameHeader(-1, 23), []byte("hello")), 5, ""},
		{"window 128 MiB, 5 bytes", zstdRawBlock(zstdFrameHeader(-1, 27), []byte("hello")), 5, ""},
		{"window 256 MiB, past the Java limit", zstdRawBlock(zstdFrameHeader(-1, 28), []byte("hello")), -1, ReasonCorrupt},
		{"window 2 MiB, 8 RLE blocks", zstdRLEBlocks(zstdFrameHeader(-1, 21), 8, 'x'), 1 << 20, ""},
		{"window 2 MiB, 9 RLE blocks", zstdRLEBlocks(zstdFrameHeader(-1, 21), 9, 'x'), -1, ReasonTooLarge},
		{"content size 1 MiB", zstdRLEBlocks(zstdFrameHeader(1<<20, 0), 8, 'x'), 1 << 20, ""},
		{"content size 1 MiB + 1", zstdRLEBlocks(zstdFrameHeader(1<<20+1, 0), 8, 'x'), -1, ReasonTooLarge},
		{"content size 10 GiB", zstdRLEBlocks(zstdFrameHeader(10<<30, 0), 1, 'x'), -1, ReasonTooLarge},
		{"content size smaller than the content", zstdRLEBlocks(zstdFrameHeader(1000, 0), 1, 'x'), -1, ReasonCorrupt},
		{"content size larger than the content", zstdRLEBlocks(zstdFrameHeader(300<<10, 0), 2, 'x'), -1, ReasonCorrupt},
		{"two frames, 1 MiB in all", two, 1 << 20, ""},
		{"three frames, 1 MiB + 1 in all", three, -1, ReasonTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := NewDecompressor(1<<20).Decompress(nil, CodecZstd, tt.in)
			if tt.want >= 0 {
				if err != nil || len(got) != tt.want {
					t.Errorf("got %d bytes, %v; want %d, nil", len(got), err, tt.want)
				}
				return
			}
			if batchReason(err) != tt.why {
				t.Errorf("got %d bytes, %v; want reason %s", len(got), err, tt.why)
			}
		})
	}
}

// bomb is a small input that decompresses far past the cap.
type bomb struct {
	name  string
	codec int
	in    []byte
}

var bombs = sync.OnceValue(func() []bomb {
	const size = 100 << 20
	zeros := make([]byte, 1<<20)
	var gz, lz bytes.Buffer
	gw := gzip.NewWriter(&gz)
	// 64 KiB blocks, as the Java client writes: pierrec's reader takes
	// two pooled buffers of the frame's block size, which for the 4 MiB
	// of its default would dwarf the cap whenever the pool is cold (and
	// under -race, sync.Pool drops buffers at random).
	lw := lz4.NewWriter(&lz)
	lw.Apply(lz4.BlockSizeOption(lz4.Block64Kb))
	for range size / len(zeros) {
		gw.Write(zeros)
		lw.Write(zeros)
	}
	gw.Close()
	lw.Close()
	lying := slices.Clone(gz.Bytes())
	binary.LittleEndian.PutUint32(lying[len(lying)-4:], 100) // ISIZE: 100 bytes
	var lzSmall bytes.Buffer
	lw = lz4.NewWriter(&lzSmall)
	lw.Apply(lz4.BlockSizeOption(lz4.Block64Kb))
	lw.Write(make([]byte, 16<<20))
	lw.Close()
	// What a streaming zstd encoder makes of repeated records, as the
	// Java client streams: no content size, and compressed blocks,
	// whose decoded size is known only by decoding them.
	var zs bytes.Buffer
	zw, _ := zstd.NewWriter(&zs, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest))
	pattern := appendRecords(nil, textRecords(4, 250)...)
	for range size / len(pattern) {
		zw.Write(pattern)
	}
	zw.Close()
	snappyHdr := binary.AppendUvarint(nil, size) // a block declaring 100 MiB
	snappyHdr = append(snappyHdr, 0x00, 0x00)
	return []bomb{
		{"gzip 100 MiB of zeros", CodecGzip, gz.Bytes()},
		{"gzip 100 MiB, trailer claiming 100 bytes", CodecGzip, lying},
		{"lz4 100 MiB of zeros", CodecLZ4, lz.Bytes()},
		{"lz4 16 MiB of zeros", CodecLZ4, lzSmall.Bytes()},
		{"zstd stream, 100 MiB of records", CodecZstd, zs.Bytes()},
		{"zstd declaring 10 GiB", CodecZstd, zstdRLEBlocks(zstdFrameHeader(10<<30, 0), 800, 0)},
		{"zstd producing 100 MiB", CodecZstd, zstdRLEBlocks(zstdFrameHeader(-1, 21), 800, 0)},
		{"snappy block declaring 100 MiB", CodecSnappy, snappyHdr},
		{"snappy block declaring 2^32-1", CodecSnappy, append(binary.AppendUvarint(nil, 1<<32-1), 0, 0)},
		{"xerial blocks of 1 MiB declaring 3 MiB", CodecSnappy, xerialFrame(make([]byte, 3<<20), 1<<20)},
	}
})

// TestDecompressBombs checks each bomb is ReasonTooLarge and that
// rejecting it allocates a bounded multiple of the cap, not anything near
// the 100 MiB or more it would decompress to.
// Not parallel: it reads process-wide allocation counters.
func TestDecompressBombs(t *testing.T) {
	const limit = 1 << 20
	d := NewDecompressor(limit)
	// Collect before each measurement and after the last, so that no
	// test is charged for another's allocations when a GC cycle flushes
	// the per-P caches into the counter.
	t.Cleanup(runtime.GC)
	for _, b := range bombs() {
		t.Run(b.name, func(t *testing.T) {
			if len(b.in) > 1<<20 {
				t.Fatalf("bomb of %d bytes is not small", len(b.in))
			}
			var err error
			d.Decompress(nil, b.codec, b.in) // warm the decoder pools
			runtime.GC()
			const runs = 4
			alloc := heapAllocBytes(func() {
				for range runs {
					_, err = d.Decompress(nil, b.codec, b.in)
				}
			})
			if batchReason(err) != ReasonTooLarge {
				t.Fatalf("got %v, want reason %s", err, ReasonTooLarge)
			}
			if per := alloc / runs; per > 2*limit+256<<10 {
				t.Errorf("allocated %d bytes per call for a %d-byte cap, want at most 2x the cap", per, limit)
			} else {
				t.Logf("%d-byte input: %d bytes allocated per call (cap %d)", len(b.in), per, limit)
			}
		})
	}
}

// FuzzDecompress checks that Decompress never panics, never returns more
// than the cap and allocates within a multiple of it, and agrees with
// kgo's decompressor (the same libraries, no cap of ours): whatever we
// decode, kgo decodes the same, and whatever kgo decodes within the cap,
// we decode. We are stricter on purpose where the Java broker is: lz4
// input must be exactly one standard frame, and empty lz4 or zstd input
// holds no frame (kgo returns nothing). And laxer in two ways, again as
// the Java reader is: a xerial header with no blocks is empty (kgo reads
// a 16-byte input as a raw block), and an lz4 content checksum is not
// checked (kgo must then read the frame without it as we read it).
func FuzzDecompress(f *testing.F) {
	raw := appendRecords(nil, sampleRecs()...)
	for _, c := range codecs {
		f.Add(byte(c.codec), compressAs(f, c.codec, raw))
	}
	f.Add(byte(CodecSnappy), xerialFrame(raw, 64))
	f.Add(byte(CodecZstd), zstdRawBlock(zstdFrameHeader(-1, 21), []byte("hello")))
	kd := kgo.DefaultDecompressor()
	// For zstd input we refuse as corrupt, a reference that takes frames
	// up to 8 MiB, so that it cannot blow up on what the fuzzer makes.
	ref, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(8<<20))
	if err != nil {
		f.Fatal(err)
	}
	const limit = 1 << 20
	d := NewDecompressor(limit)
	f.Fuzz(func(t *testing.T, codec byte, src []byte) {
		var out []byte
		var err error
		alloc := heapAllocBytes(func() { out, err = d.Decompress(nil, int(codec), src) })
		// lz4 adds pierrec's two pooled block buffers, up to 4 MiB
		// each by the frame's declared block size, allocated when the
		// pool is cold.
		if max := 3*limit + 2*uint64(len(src)) + 9<<20; alloc > max {
			t.Errorf("codec %d: allocated %d bytes for %d bytes in, cap %d", codec, alloc, len(src), limit)
		}
		if len(out) > limit && codec != CodecNone {
			t.Fatalf("codec %d: got %d bytes, over the %d-byte cap", codec, len(out), limit)
		}
		if err != nil {
			var be *BatchError
			if !errors.As(err, &be) {
				t.Fatalf("got %T %v, want *BatchError", err, err)
			}
			switch {
			case codec > CodecZstd && be.Reason != ReasonInvalid,
				codec <= CodecZstd && be.Reason != ReasonCorrupt && be.Reason != ReasonTooLarge:
				t.Errorf("codec %d: got reason %q", codec, be.Reason)
			}
			if out != nil {
				t.Errorf("got %d bytes with error %v", len(out), err)
			}
			if be.Reason != ReasonCorrupt || len(src) == 0 {
				return
			}
			if _, _, werr := lz4Frame(src); codec == CodecLZ4 && werr != nil {
				return // not one standard frame: refused on purpose
			}
			// Corrupt to us: the reference must not decode it either.
			var want []byte
			var rerr error
			if codec == CodecZstd {
				want, rerr = ref.DecodeAll(src, nil)
			} else {
				want, rerr = kd.Decompress(src, kgo.CompressionCodecType(codec))
			}
			if rerr == nil && len(want) <= limit {
				t.Errorf("codec %d: got %v; the reference decodes %d bytes", codec, err, len(want))
			}
			return
		}
		if codec > CodecZstd {
			t.Fatalf("codec %d decoded", codec)
		}
		if codec == CodecSnappy && len(src) == len(xerialHeader) && bytes.HasPrefix(src, xerialMagic) {
			return
		}
		want, kerr := kd.Decompress(src, kgo.CompressionCodecType(codec))
		if codec == CodecLZ4 && errors.Is(kerr, lz4.ErrInvalidFrameChecksum) {
			// We skip the content checksum, as the Java reader does:
			// without it, kgo must read what we read.
			want, kerr = kd.Decompress(withoutContentChecksum(src), kgo.CodecLz4)
		}
		if kerr != nil || !bytes.Equal(out, want) {
			t.Errorf("codec %d: got %d bytes; kgo %d bytes, %v", codec, len(out), len(want), kerr)
		}
		// The same output into a dst with room and stale bytes.
		dst := bytes.Repeat([]byte{0xee}, len(out)+16)
		again, err := d.Decompress(dst[:3], int(codec), src)
		if err != nil || !bytes.Equal(again, out) {
			t.Errorf("codec %d into a dst with room: got %d bytes, %v; want %d", codec, len(again), err, len(out))
		}
	})
}

// benchPayload is 100 records of 1 KiB, as in BenchmarkReadBatchAndIterate.
var benchPayload = sync.OnceValue(func() []byte { return appendRecords(nil, textRecords(100, 1<<10)...) })

func BenchmarkDecompress(b *testing.B) {
	raw := benchPayload()
	inputs := []struct {
		name  string
		codec int
		src   []byte
	}{
		{"gzip", CodecGzip, compressAs(b, CodecGzip, raw)},
		{"snappy", CodecSnappy, compressAs(b, CodecSnappy, raw)},
		{"snappy-xerial", CodecSnappy, xerialFrame(raw, 32<<10)},
		{"lz4", CodecLZ4, compressAs(b, CodecLZ4, raw)},
		{"zstd", CodecZstd, compressAs(b, CodecZstd, raw)},
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			d := NewDecompressor(16 << 20)
			var dst []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				out, err := d.Decompress(dst, in.codec, in.src)
				if err != nil {
					b.Fatal(err)
				}
				dst = out[:0]
			}
			b.ReportMetric(float64(len(raw))/float64(len(in.src)), "ratio")
		})
		b.Run(in.name+"/fresh-dst", func(b *testing.B) {
			d := NewDecompressor(16 << 20)
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := d.Decompress(nil, in.codec, in.src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDecompressXerialManyBlocks decodes xerial framing of many small
// blocks, as a stream cut into tiny chunks: the output must grow once,
// not by a copy per block.
// Not parallel: it reads process-wide allocation counters.
func TestDecompressXerialManyBlocks(t *testing.T) {
	raw := appendRecords(nil, textRecords(256, 1<<10)...)
	src := xerialFrame(raw, 64)
	d := NewDecompressor(1 << 20)
	var out []byte
	var err error
	t.Cleanup(runtime.GC) // see TestDecompressBombs
	runtime.GC()
	alloc := heapAllocBytes(func() { out, err = d.Decompress(nil, CodecSnappy, src) })
	if err != nil || !bytes.Equal(out, raw) {
		t.Fatalf("got %d bytes, %v; want %d, nil", len(out), err, len(raw))
	}
	if alloc > 2*uint64(len(raw))+256<<10 {
		t.Errorf("allocated %d bytes for %d bytes out in %d blocks", alloc, len(raw), len(raw)/64)
	}
}
