package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Decompressor decompresses record sections under a cap on the output
// size, so a compression bomb is an error, never an out-of-memory. It
// pools its decoders; it is safe for concurrent use.
type Decompressor struct {
	max  int
	gz   sync.Pool // *gzip.Reader
	lz   sync.Pool // *lz4.Reader
	zstd sync.Pool // *zstd.Decoder
}

// zstdMaxWindow is the largest window a zstd frame may declare: the
// default limit of the libzstd the Java broker and clients decode with
// (ZSTD_WINDOWLOG_LIMIT_DEFAULT, 2^27). A window bounds how far back
// matches reach, not the output: DecodeAll decodes into its output, so
// the window costs no memory of its own.
const zstdMaxWindow = 1 << 27

// zstdSlack is room past the cap for a zstd frame that may outgrow it:
// one block of output (128 KiB, the format's maximum) plus zstdOverrun.
// A block that starts within the cap then always fits, so an error that
// leaves the output within the cap is never lack of room.
const zstdSlack = 128<<10 + zstdOverrun

// zstdOverrun is how far past its output the decoder's fast copies write
// (compressedBlockOverAlloc); with less room it takes slower, exact ones.
const zstdOverrun = 16

// NewDecompressor returns a Decompressor whose output is capped at limit bytes.
func NewDecompressor(limit int) *Decompressor {
	d := &Decompressor{max: limit}
	d.zstd.New = func() any {
		// klauspost's decoder caps the window at its memory option, so
		// that option cannot be the output cap: the Java client streams
		// zstd with its level's window (2 MiB at the default level 3,
		// whatever the batch size), and a 1 MiB cap would refuse every
		// Java zstd batch. The output is bounded by the capacity given
		// to DecodeAll instead (WithDecodeAllCapLimit); see unzstd.
		dec, _ := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(zstdMaxWindow),
			zstd.WithDecoderMaxMemory(min(uint64(max(limit, 0))+zstdMaxWindow+zstdSlack, 1<<63)),
			zstd.WithDecodeAllCapLimit(true))
		return dec
	}
	d.lz.New = func() any { return lz4.NewReader(nil) }
	return d
}

// Max returns the cap on decompressed bytes.
func (d *Decompressor) Max() int { return d.max }

// xerialMagic starts the framing the Java client's snappy codec writes.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// Decompress decodes src, compressed with codec, into dst[:0] (grown as
// needed) and returns it. Errors are *BatchError: ReasonTooLarge past the
// cap, ReasonCorrupt for bytes that do not decode.
func (d *Decompressor) Decompress(dst []byte, codec int, src []byte) ([]byte, error) {
	var out []byte
	var err error
	switch codec {
	case CodecNone:
		return src, nil
	case CodecGzip:
		out, err = d.gunzip(dst[:0], src)
	case CodecSnappy:
		out, err = d.unsnappy(dst[:0], src)
	case CodecLZ4:
		out, err = d.unlz4(dst[:0], src)
	case CodecZstd:
		out, err = d.unzstd(dst[:0], src)
	default:
		return nil, &BatchError{Reason: ReasonInvalid, Index: -1, Msg: fmt.Sprintf("unknown compression codec %d", codec)}
	}
	if err != nil {
		var be *BatchError
		if errors.As(err, &be) {
			return nil, err
		}
		return nil, &BatchError{Reason: ReasonCorrupt, Index: -1, Msg: fmt.Sprintf("%s: %v", codecName(codec), err)}
	}
	return out, nil
}

func codecName(c int) string {
	switch c {
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return "none"
}

func (d *Decompressor) tooLarge(codec int) error {
	return &BatchError{Reason: ReasonTooLarge, Index: -1, Msg: fmt.Sprintf("%s records decompress to more than %d bytes", codecName(codec), d.max)}
}

// readLimited reads r to its end into dst, failing past d.max. dst
// starts with room for hint bytes, when that is within the cap, and
// doubles when full, so what is allocated in all stays under twice the
// output, or twice the cap for an output that would pass it. A full dst
// is probed with a one-byte read before it grows, so an output that
// exactly fills it (a right hint) is never copied.
func (d *Decompressor) readLimited(dst []byte, r io.Reader, codec, hint int) ([]byte, error) {
	dst = growTo(dst, min(max(hint, 0), d.max))
	for {
		if full := min(cap(dst), d.max); len(dst) < full {
			n, err := r.Read(dst[len(dst):full])
			dst = dst[:len(dst)+n]
			if err == io.EOF {
				return dst, nil
			} else if err != nil {
				return nil, err
			}
			continue
		}
		var probe [1]byte
		n, err := r.Read(probe[:])
		if n == 1 {
			if len(dst) >= d.max {
				return nil, d.tooLarge(codec)
			}
			dst = append(growTo(dst, min(max(cap(dst), 4<<10), d.max-len(dst))), probe[0])
		}
		if err == io.EOF {
			return dst, nil
		} else if err != nil {
			return nil, err
		}
	}
}

// gunzip decodes gzip members. Each ends with ISIZE, the member's
// decoded size mod 2^32 (RFC 1952), which the reader checks at the end.
// The last one's sizes dst when it is within the cap. Past the cap, that
// member alone cannot fit: the stream is read to the cap into nothing, so
// that a bomb costs no output buffer, and a stream whose output stays
// within the cap can only be one whose trailer is wrong.
func (d *Decompressor) gunzip(dst, src []byte) ([]byte, error) {
	zr, _ := d.gz.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(src))
	} else {
		err = zr.Reset(bytes.NewReader(src))
	}
	if err != nil {
		return nil, err
	}
	defer d.gz.Put(zr)
	isize := uint64(binary.LittleEndian.Uint32(src[len(src)-4:])) // Reset read a header: src is not that short
	if isize > uint64(d.max) {
		n, err := io.Copy(io.Discard, io.LimitReader(zr, int64(d.max)+1))
		switch {
		case err != nil:
			return nil, err
		case n > int64(d.max):
			return nil, d.tooLarge(CodecGzip)
		}
		return nil, fmt.Errorf("gzip trailer says %d bytes, the stream holds %d", isize, n)
	}
	return d.readLimited(dst, zr, CodecGzip, int(isize))
}

// unlz4 decodes an lz4 frame. The Java client (KafkaLZ4BlockInputStream)
// reads exactly one standard frame and ignores what follows; pierrec's
// reader would go on to further frames, skippable and legacy ones (8 MiB
// blocks) included. So the frame is walked first (lz4Frame) and anything
// else is refused: legacy and skippable frames, a second frame, trailing
// bytes. The walk also bounds the output, which sizes dst. The frames
// Kafka clients write are then decoded block by block (lz4Blocks); any
// other goes through pierrec's reader.
func (d *Decompressor) unlz4(dst, src []byte) ([]byte, error) {
	lo, hi, err := lz4Frame(src)
	switch {
	case err != nil:
		return nil, err
	case lo > uint64(d.max):
		return nil, d.tooLarge(CodecLZ4)
	}
	hint := int(min(hi, max(lo, 4*uint64(len(src)))))
	if lz4Plain(src) {
		return d.lz4Blocks(dst[:0], src, hint)
	}
	zr := d.lz.Get().(*lz4.Reader)
	defer d.lz.Put(zr)
	zr.Reset(bytes.NewReader(src))
	return d.readLimited(dst, zr, CodecLZ4, hint)
}

// lz4 frame descriptor bits (lz4_Frame_format.md).
const (
	lz4FlagIndependent  = 0x20
	lz4FlagBlockSum     = 0x10
	lz4FlagContentSize  = 0x08
	lz4FlagContentSum   = 0x04
	lz4FlagDictID       = 0x01
	lz4FlagReservedDict = 0x02 | lz4FlagDictID // a reserved bit and the dictionary ID
	lz4BDReserved       = 0x8f
)

// lz4Plain reports whether src, a frame lz4Frame accepted, is one that
// lz4Blocks decodes: independent blocks, no block checksums, no
// dictionary, no reserved bit set. Java and franz-go producers write
// such frames.
func lz4Plain(src []byte) bool {
	flg, bd := src[4], src[5]
	return flg&lz4FlagIndependent != 0 && flg&(lz4FlagBlockSum|lz4FlagReservedDict) == 0 && bd&lz4BDReserved == 0
}

// lz4Blocks decodes a frame that lz4Frame accepted and lz4Plain allows,
// block by block straight into dst, reading what the Java consumer and
// broker read (KafkaLZ4BlockInputStream): the header checksum is checked,
// a declared content size must match, and the content checksum is skipped
// unchecked. That checksum covers the decoded bytes, which the batch's
// CRC-32C (ReadBatch) already covers in their compressed form, and
// checking it cost as much as a third of the decoding. dst grows by at
// most doubling, and never past the cap.
func (d *Decompressor) lz4Blocks(dst, src []byte, hint int) ([]byte, error) {
	flg := src[4]
	blockMax := 1 << (8 + 2*(src[5]>>4&7))
	desc := src[4:6]
	if flg&lz4FlagContentSize != 0 {
		desc = src[4:14]
	}
	if sum := src[4+len(desc)]; byte(xxh32Short(desc)>>8) != sum {
		return nil, fmt.Errorf("lz4 frame header checksum %02x, want %02x", sum, byte(xxh32Short(desc)>>8))
	}
	rest := src[5+len(desc):]
	out := growTo(dst, min(hint, d.max))
	for {
		// lz4Frame checked every length on this walk.
		size := binary.LittleEndian.Uint32(rest)
		rest = rest[4:]
		if size == 0 {
			break
		}
		n := int(size &^ (1 << 31))
		block := rest[:n]
		rest = rest[n:]
		if size>>31 == 1 { // stored uncompressed
			if len(out)+n > d.max {
				return nil, d.tooLarge(CodecLZ4)
			}
			out = append(out, block...)
			continue
		}
		// Into the room there is, which the hint usually makes enough;
		// a block that does not fit fails, and is decoded again into
		// room for a whole block, or for what the cap leaves.
		room := min(cap(out), d.max) - len(out)
		m, err := lz4.UncompressBlock(block, out[len(out):len(out)+room])
		if err != nil && room < blockMax && cap(out) < d.max {
			out = growTo(out, min(max(blockMax, len(out)), d.max-len(out)))
			room = min(cap(out), d.max) - len(out)
			m, err = lz4.UncompressBlock(block, out[len(out):len(out)+room])
		}
		if err != nil && room < blockMax {
			// Cut short by the cap, or corrupt: a block of its own says which.
			if _, err := lz4.UncompressBlock(block, make([]byte, blockMax)); err == nil {
				return nil, d.tooLarge(CodecLZ4)
			}
		}
		if err != nil {
			return nil, err
		}
		out = out[:len(out)+m]
	}
	if flg&lz4FlagContentSize != 0 {
		if want := binary.LittleEndian.Uint64(src[6:]); want != uint64(len(out)) {
			return nil, fmt.Errorf("lz4 frame declares %d bytes of content and holds %d", want, len(out))
		}
	}
	return out, nil
}

// xxh32Short is XXH32 with seed 0 of b, which must be shorter than 16
// bytes: enough for the frame descriptor an lz4 header checksum covers.
func xxh32Short(b []byte) uint32 {
	const (
		prime1 = 2654435761
		prime2 = 2246822519
		prime3 = 3266489917
		prime4 = 668265263
		prime5 = 374761393
	)
	h := uint32(prime5) + uint32(len(b))
	for ; len(b) >= 4; b = b[4:] {
		h += binary.LittleEndian.Uint32(b) * prime3
		h = bits.RotateLeft32(h, 17) * prime4
	}
	for _, c := range b {
		h += uint32(c) * prime5
		h = bits.RotateLeft32(h, 11) * prime1
	}
	h ^= h >> 15
	h *= prime2
	h ^= h >> 13
	h *= prime3
	h ^= h >> 16
	return h
}

// lz4Frame walks the one LZ4 frame that src must hold (lz4_Frame_format.md)
// without decoding, and returns bounds on its decoded size: exact for
// uncompressed blocks, the frame's block maximum for compressed ones.
// Checksums are left to the reader.
func lz4Frame(src []byte) (lo, hi uint64, err error) {
	const magic = 0x184D2204
	if len(src) < 7 || binary.LittleEndian.Uint32(src) != magic {
		return 0, 0, errors.New("not an lz4 frame (Kafka writes one standard frame)")
	}
	flg, bd := src[4], src[5]
	if flg>>6 != 1 {
		return 0, 0, fmt.Errorf("lz4 frame version %d", flg>>6)
	}
	code := bd >> 4 & 7
	if code < 4 {
		return 0, 0, fmt.Errorf("lz4 block size code %d", code)
	}
	blockMax := uint64(1) << (8 + 2*code) // 4: 64 KiB, 5: 256 KiB, 6: 1 MiB, 7: 4 MiB
	rest := src[6:]
	if flg&lz4FlagContentSize != 0 {
		rest = rest[min(8, len(rest)):]
	}
	if flg&lz4FlagDictID != 0 {
		rest = rest[min(4, len(rest)):]
	}
	if len(rest) < 1 {
		return 0, 0, errors.New("lz4 frame header cut short")
	}
	rest = rest[1:] // header checksum
	for {
		if len(rest) < 4 {
			return 0, 0, errors.New("lz4 block size cut short")
		}
		size := binary.LittleEndian.Uint32(rest)
		rest = rest[4:]
		if size == 0 { // end mark
			break
		}
		n := uint64(size &^ (1 << 31))
		if n > blockMax {
			return 0, 0, fmt.Errorf("lz4 block of %d bytes in a frame of %d-byte blocks", n, blockMax)
		}
		if size>>31 == 1 { // stored uncompressed
			lo, hi = lo+n, hi+n
		} else {
			hi += blockMax
		}
		if flg&lz4FlagBlockSum != 0 {
			n += 4
		}
		if n > uint64(len(rest)) {
			return 0, 0, fmt.Errorf("lz4 block of %d bytes with %d left", n, len(rest))
		}
		rest = rest[n:]
	}
	if flg&lz4FlagContentSum != 0 {
		if len(rest) < 4 {
			return 0, 0, errors.New("lz4 content checksum cut short")
		}
		rest = rest[4:]
	}
	if len(rest) != 0 {
		return 0, 0, fmt.Errorf("%d bytes follow the lz4 frame", len(rest))
	}
	return lo, hi, nil
}

// unzstd decodes src into dst, DecodeAll never writing past the
// capacity it is given. The frame and block headers are walked first
// (zstdBounds): raw and RLE blocks state their decoded size and a
// compressed block decodes to at most 128 KiB, so a run of RLE blocks or
// a declared content size past the cap is refused before anything is
// decoded, and otherwise dst is sized once: to the upper bound when that
// is within the cap, else to the cap plus zstdSlack. With that slack,
// running out of room leaves the output past the cap, while any other
// error leaves it within, so the two are told apart.
func (d *Decompressor) unzstd(dst, src []byte) ([]byte, error) {
	lo, hi, err := zstdBounds(src)
	switch {
	case err != nil:
		return nil, err
	case lo > uint64(d.max):
		return nil, d.tooLarge(CodecZstd)
	}
	room := d.max + zstdSlack
	if hi <= uint64(d.max) {
		room = int(hi) + zstdOverrun
	}
	if cap(dst) < room {
		dst = make([]byte, 0, room)
	}
	zr := d.zstd.Get().(*zstd.Decoder)
	defer d.zstd.Put(zr)
	out, err := zr.DecodeAll(src, dst[:0:room])
	if hi > uint64(d.max) && (len(out) > d.max || errors.Is(err, zstd.ErrDecoderSizeExceeded)) {
		return nil, d.tooLarge(CodecZstd)
	}
	if err != nil {
		return nil, err // within hi, which is within the cap: the bytes are wrong
	}
	return out, nil
}

// zstdBounds walks the frames of src, and the block headers of each,
// without decoding, and returns bounds on the decoded size: exact for raw
// and RLE blocks, 128 KiB (the format's Block_Maximum_Size) for each
// compressed block, and the content size for a frame that declares one.
// Framing that cannot decode (no frame, a truncated block, a reserved
// block type, a block over 128 KiB) is an error.
func zstdBounds(src []byte) (lo, hi uint64, err error) {
	const maxBlock = 128 << 10
	if len(src) == 0 {
		return 0, 0, errors.New("no zstd frame")
	}
	for len(src) > 0 {
		var h zstd.Header
		rest, err := h.DecodeAndStrip(src)
		if err != nil {
			return 0, 0, fmt.Errorf("zstd frame header: %w", err)
		}
		if h.Skippable {
			if uint64(h.SkippableSize) > uint64(len(rest)) {
				return 0, 0, fmt.Errorf("skippable zstd frame of %d bytes with %d left", h.SkippableSize, len(rest))
			}
			src = rest[h.SkippableSize:]
			continue
		}
		var flo, fhi uint64
		for last := false; !last; {
			if len(rest) < 3 {
				return 0, 0, errors.New("zstd block header cut short")
			}
			bh := uint32(rest[0]) | uint32(rest[1])<<8 | uint32(rest[2])<<16
			rest = rest[3:]
			last = bh&1 != 0
			size := int(bh >> 3)
			skip := size
			switch bh >> 1 & 3 {
			case 0: // raw
				flo, fhi = flo+uint64(size), fhi+uint64(size)
			case 1: // RLE: one byte, repeated size times
				flo, fhi, skip = flo+uint64(size), fhi+uint64(size), 1
			case 2: // compressed
				fhi += maxBlock
			default:
				return 0, 0, errors.New("reserved zstd block type")
			}
			if size > maxBlock {
				return 0, 0, fmt.Errorf("zstd block of %d bytes", size)
			}
			if skip > len(rest) {
				return 0, 0, fmt.Errorf("zstd block of %d bytes with %d left", skip, len(rest))
			}
			rest = rest[skip:]
		}
		if h.HasCheckSum {
			if len(rest) < 4 {
				return 0, 0, errors.New("zstd checksum cut short")
			}
			rest = rest[4:]
		}
		if h.HasFCS {
			// A frame decodes to its content size or not at all; one
			// its blocks cannot fill fails in DecodeAll.
			flo, fhi = h.FrameContentSize, h.FrameContentSize
		}
		lo, hi = satAdd(lo, flo), satAdd(hi, fhi)
		src = rest
	}
	return lo, hi, nil
}

// satAdd returns a+b, or the largest uint64 if that overflows.
func satAdd(a, b uint64) uint64 {
	if a+b < a {
		return math.MaxUint64
	}
	return a + b
}

// unsnappy decodes a raw snappy block, or the xerial framing the Java
// client writes: an 8-byte magic, two int32 versions, then blocks each
// prefixed with an int32 length. The block headers are walked first,
// summing the decoded lengths they declare against the cap, so that dst
// grows once: growing it per block would copy the output so far for
// every block, quadratic in a stream of many small blocks.
func (d *Decompressor) unsnappy(dst, src []byte) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		n, err := s2.DecodedLen(src)
		if err != nil {
			return nil, err
		}
		if n > d.max {
			return nil, d.tooLarge(CodecSnappy)
		}
		return snappyBlock(growTo(dst, n), src)
	}
	if len(src) < 16 {
		return nil, fmt.Errorf("xerial header of %d bytes", len(src))
	}
	src = src[16:]
	total := 0
	for rest := src; len(rest) > 0; {
		block, after, err := xerialBlock(rest)
		if err != nil {
			return nil, err
		}
		n, err := s2.DecodedLen(block)
		if err != nil {
			return nil, err
		}
		if total += n; total > d.max {
			return nil, d.tooLarge(CodecSnappy)
		}
		rest = after
	}
	dst = growTo(dst, total)
	for len(src) > 0 {
		block, after, _ := xerialBlock(src) // checked above
		var err error
		if dst, err = snappyBlock(dst, block); err != nil {
			return nil, err
		}
		src = after
	}
	return dst, nil
}

// xerialBlock splits the first length-prefixed block from rest.
func xerialBlock(rest []byte) (block, after []byte, err error) {
	if len(rest) < 4 {
		return nil, nil, fmt.Errorf("xerial block length cut short")
	}
	n := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	if uint64(n) > uint64(len(rest)) {
		return nil, nil, fmt.Errorf("xerial block of %d bytes with %d left", n, len(rest))
	}
	return rest[:n], rest[n:], nil
}

// growTo returns dst with capacity for n more bytes.
func growTo(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst
	}
	grown := make([]byte, len(dst), len(dst)+n)
	copy(grown, dst)
	return grown
}

// snappyBlock appends the decoded block to dst, whose capacity the caller
// has checked against the block's decoded length.
func snappyBlock(dst, block []byte) ([]byte, error) {
	n, err := s2.DecodedLen(block)
	if err != nil {
		return nil, err
	}
	if n > cap(dst)-len(dst) {
		return nil, fmt.Errorf("snappy block of %d bytes with room for %d", n, cap(dst)-len(dst))
	}
	out, err := s2.Decode(dst[len(dst):len(dst)+n], block)
	if err != nil {
		return nil, err
	}
	return dst[:len(dst)+len(out)], nil
}
