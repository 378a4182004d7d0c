package protocol

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the seed corpora in testdata/fuzz for FuzzReadBatch, FuzzRecords and FuzzDecompress")

// rec is a record as a test writes or expects it; nil Key, Value and
// header Value mean null.
type rec struct {
	Key, Value []byte
	Headers    []Header
}

func fmtBytes(b []byte) string {
	if b == nil {
		return "null"
	}
	if len(b) > 24 {
		return fmt.Sprintf("%q...(%d bytes)", b[:24], len(b))
	}
	return strconv.Quote(string(b))
}

func (r rec) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "{key %s value %s", fmtBytes(r.Key), fmtBytes(r.Value))
	for _, h := range r.Headers {
		fmt.Fprintf(&sb, " %s=%s", fmtBytes(h.Key), fmtBytes(h.Value))
	}
	return sb.String() + "}"
}

// appendVarBytes appends a zigzag varint length (-1 for nil) and b.
func appendVarBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	return append(binary.AppendVarint(dst, int64(len(b))), b...)
}

// recordBody encodes r after its length: attributes 0, timestampDelta,
// offsetDelta, key, value, header count and headers.
func recordBody(r rec, offsetDelta int32) []byte {
	// Attributes 0, a timestamp delta of 3 ms a record, the offset delta.
	b := binary.AppendVarint([]byte{0}, int64(offsetDelta)*3)
	b = binary.AppendVarint(b, int64(offsetDelta))
	b = appendVarBytes(b, r.Key)
	b = appendVarBytes(b, r.Value)
	b = binary.AppendVarint(b, int64(len(r.Headers)))
	for _, h := range r.Headers {
		b = appendVarBytes(b, h.Key)
		b = appendVarBytes(b, h.Value)
	}
	return b
}

// appendRecords appends recs as an uncompressed records section, each
// record its length varint then its body.
func appendRecords(dst []byte, recs ...rec) []byte {
	for i, r := range recs {
		body := recordBody(r, int32(i))
		dst = binary.AppendVarint(dst, int64(len(body)))
		dst = append(dst, body...)
	}
	return dst
}

// compressAs compresses raw with codec using the libraries producers use:
// klauspost gzip, s2 in snappy mode (raw blocks, as kgo and librdkafka
// write them), a pierrec lz4 frame, and a klauspost zstd frame with kgo's
// encoder options.
func compressAs(t testing.TB, codec int, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch codec {
	case CodecNone:
		return raw
	case CodecGzip:
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(raw); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case CodecSnappy:
		return s2.EncodeSnappy(nil, raw)
	case CodecLZ4:
		w := lz4.NewWriter(&buf)
		if _, err := w.Write(raw); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case CodecZstd:
		enc, err := zstd.NewWriter(nil, zstd.WithWindowSize(64<<10), zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true))
		if err != nil {
			t.Fatal(err)
		}
		defer enc.Close()
		return enc.EncodeAll(raw, nil)
	default:
		t.Fatalf("no compressor for codec %d", codec)
	}
	return buf.Bytes()
}

// xerialHeader is the 16-byte header of the Java client's snappy framing
// (org.xerial.snappy.SnappyOutputStream, SnappyCodec.java).
var xerialHeader = []byte{
	0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0x00, // magic
	0x00, 0x00, 0x00, 0x01, // version 1
	0x00, 0x00, 0x00, 0x01, // minimum compatible version 1
}

// xerialFrame frames raw as the Java client does: the header, then for
// each chunk of at most blockSize bytes an int32 length and a raw snappy
// block.
func xerialFrame(raw []byte, blockSize int) []byte {
	out := slices.Clone(xerialHeader)
	for len(raw) > 0 {
		n := min(blockSize, len(raw))
		block := s2.EncodeSnappy(nil, raw[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
		out = append(out, block...)
		raw = raw[n:]
	}
	return out
}

// batchOpts are the header fields of a test batch that are not derived
// from its records.
type batchOpts struct {
	codec      int
	attrs      int16 // attribute bits besides the codec
	producerID int64
	epoch      int16
	baseSeq    int32
}

// plain is a non-idempotent, uncompressed batch, as kgo writes it with
// idempotence disabled.
var plain = batchOpts{producerID: -1, epoch: -1, baseSeq: -1}

func (o batchOpts) with(codec int) batchOpts { o.codec = codec; return o }

// makeBatch builds a magic-2 batch of recs with kmsg, compressing the
// records section with the codec's producer library.
func makeBatch(t testing.TB, o batchOpts, recs ...rec) []byte {
	t.Helper()
	return makeBatchRaw(o, len(recs), compressAs(t, o.codec, appendRecords(nil, recs...)))
}

// makeBatchRaw wraps an already encoded records section holding n records.
func makeBatchRaw(o batchOpts, n int, records []byte) []byte {
	b := kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           o.attrs | int16(o.codec),
		LastOffsetDelta:      int32(n - 1),
		FirstTimestamp:       1700000000000,
		MaxTimestamp:         1700000000000 + int64(n-1)*3,
		ProducerID:           o.producerID,
		ProducerEpoch:        o.epoch,
		FirstSequence:        o.baseSeq,
		NumRecords:           int32(n),
		Records:              records,
	}
	return fixBatch(b.AppendTo(nil))
}

// fixBatch rewrites the batch length and the CRC-32C over bytes [21:] to
// match the bytes of b, and returns b.
func fixBatch(b []byte) []byte {
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	return fixCRC(b)
}

// fixCRC rewrites only the CRC, for tests that corrupt the length.
func fixCRC(b []byte) []byte {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// decodeBatch reads batch with ReadBatch, decompresses it under a 16 MiB
// cap and returns its records, read with the iterator and EachHeader.
func decodeBatch(batch []byte) (Batch, []rec, error) {
	b, err := ReadBatch(batch)
	if err != nil {
		return b, nil, err
	}
	raw, err := NewDecompressor(16<<20).Decompress(nil, b.Codec(), b.Records)
	if err != nil {
		return b, nil, err
	}
	recs, err := iterate(raw, b.NumRecords)
	return b, recs, err
}

// iterate collects every record of an uncompressed records section.
func iterate(raw []byte, n int32) ([]rec, error) {
	var recs []rec
	it := NewRecords(raw, n)
	var r Record
	for it.Next(&r) {
		if r.Index != len(recs) {
			return recs, fmt.Errorf("record %d has Index %d", len(recs), r.Index)
		}
		got := rec{Key: r.Key, Value: r.Value}
		r.EachHeader(func(h Header) bool {
			got.Headers = append(got.Headers, h)
			return true
		})
		if len(got.Headers) != r.NumHeaders {
			return recs, fmt.Errorf("record %d: EachHeader gave %d headers, NumHeaders %d", r.Index, len(got.Headers), r.NumHeaders)
		}
		recs = append(recs, got)
	}
	return recs, it.Err()
}

// sameRecs reports whether got and want are equal, telling null from empty.
func sameRecs(got, want []rec) bool {
	norm := func(rs []rec) []rec {
		out := slices.Clone(rs)
		for i := range out {
			if len(out[i].Headers) == 0 {
				out[i].Headers = nil
			}
		}
		return out
	}
	return reflect.DeepEqual(norm(got), norm(want))
}

func batchReason(err error) string {
	var be *BatchError
	if errors.As(err, &be) {
		return be.Reason
	}
	if err != nil {
		return fmt.Sprintf("%T", err)
	}
	return ""
}

var codecs = []struct {
	name  string
	codec int
}{
	{"none", CodecNone},
	{"gzip", CodecGzip},
	{"snappy", CodecSnappy},
	{"lz4", CodecLZ4},
	{"zstd", CodecZstd},
}

// sampleRecs covers null and empty keys, values and header values, a
// duplicated header key and a record that needs a multi-byte length.
func sampleRecs() []rec {
	return []rec{
		{Key: []byte("k0"), Value: []byte("v0"), Headers: []Header{{Key: []byte("h1"), Value: []byte("a")}, {Key: []byte("h2"), Value: nil}}},
		{Key: nil, Value: []byte{}},
		{Key: []byte{}, Value: nil, Headers: []Header{{Key: []byte{}, Value: []byte{}}}},
		{Key: []byte("key-3"), Value: bytes.Repeat([]byte("value-3 "), 40), Headers: []Header{{Key: []byte("trace"), Value: []byte("abc")}, {Key: []byte("trace"), Value: []byte("def")}}},
	}
}

func TestRecordEncodingMatchesKmsg(t *testing.T) {
	t.Parallel()
	for i, r := range sampleRecs() {
		body := recordBody(r, int32(i))
		kr := kmsg.Record{
			Length:           int32(len(body)),
			TimestampDelta64: int64(i) * 3,
			OffsetDelta:      int32(i),
			Key:              r.Key,
			Value:            r.Value,
		}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: string(h.Key), Value: h.Value})
		}
		own := binary.AppendVarint(nil, int64(len(body)))
		own = append(own, body...)
		if got := kr.AppendTo(nil); !bytes.Equal(got, own) {
			t.Errorf("record %d: kmsg encodes %x, test helper %x", i, got, own)
		}
	}
}

func TestReadBatchRoundTrip(t *testing.T) {
	t.Parallel()
	want := sampleRecs()
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			batch := makeBatch(t, plain.with(c.codec), want...)
			b, got, err := decodeBatch(batch)
			if err != nil {
				t.Fatalf("got %v, want nil", err)
			}
			if b.Codec() != c.codec || b.NumRecords != int32(len(want)) || b.LastDelta != int32(len(want)-1) {
				t.Errorf("got codec %d, %d records, last delta %d; want %d, %d, %d", b.Codec(), b.NumRecords, b.LastDelta, c.codec, len(want), len(want)-1)
			}
			if !bytes.Equal(b.Raw, batch) || &b.Raw[0] != &batch[0] {
				t.Errorf("Raw is not the input slice")
			}
			if !bytes.Equal(b.Records, batch[BatchHeaderLen:]) {
				t.Errorf("Records is not batch[%d:]", BatchHeaderLen)
			}
			if !sameRecs(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

// TestReadBatchKgoProducer produces through kgo to a kfake cluster
// uncompressed and with each codec, captures the Records bytes of every
// Produce partition, and checks the reader gives back exactly what was
// produced (offset deltas included). With StreamingCompression, kgo merges
// batches and frames snappy as xerial.
func TestReadBatchKgoProducer(t *testing.T) {
	t.Parallel()
	for _, c := range codecs {
		for _, streaming := range []bool{false, true} {
			name := c.name
			if streaming {
				name += "/streaming"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				captured, want := produceKgo(t, c.codec, streaming)
				var got []rec
				xerial := 0
				for i, batch := range captured {
					b, recs, err := decodeBatch(batch)
					if err != nil {
						t.Fatalf("batch %d (%d bytes): got %v, want nil", i, len(batch), err)
					}
					if b.Codec() != c.codec {
						t.Errorf("batch %d: got codec %d, want %d", i, b.Codec(), c.codec)
					}
					if bytes.HasPrefix(b.Records, xerialHeader) {
						xerial++
					}
					got = append(got, recs...)
				}
				// A merged batch is streamed through the codec, which
				// for snappy writes xerial framing, as the Java client
				// does; an unmerged one is a raw snappy block.
				if streaming && c.codec == CodecSnappy && xerial == 0 {
					t.Errorf("none of %d batches is xerial framed: kgo merged none", len(captured))
				}
				if !sameRecs(got, want) {
					t.Errorf("got %d records, want %d:\ngot  %v\nwant %v", len(got), len(want), got, want)
				}
			})
		}
	}
}

// produceKgo produces records through kgo to a kfake cluster and returns
// the Records bytes of every Produce partition, in order, and the records
// produced.
func produceKgo(t testing.TB, codec int, streaming bool) (captured [][]byte, want []rec) {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	var mu sync.Mutex
	cluster.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, rt := range r.(*kmsg.ProduceRequest).Topics {
			for _, rp := range rt.Partitions {
				captured = append(captured, slices.Clone(rp.Records))
			}
		}
		return nil, nil, false // observe only; kfake validates and appends
	})
	kcodec := map[int]kgo.CompressionCodec{
		CodecNone:   kgo.NoCompression(),
		CodecGzip:   kgo.GzipCompression(),
		CodecSnappy: kgo.SnappyCompression(),
		CodecLZ4:    kgo.Lz4Compression(),
		CodecZstd:   kgo.ZstdCompression(),
	}[codec]
	opts := []kgo.Opt{
		kgo.SeedBrokers(cluster.ListenAddrs()...),
		kgo.DefaultProduceTopic("t"),
		kgo.ProducerBatchCompression(kcodec),
		kgo.ProducerLinger(time.Minute), // everything leaves on Flush
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	}
	n := 40
	if streaming {
		// Small batches, merged into one compressed batch per request.
		opts = append(opts, kgo.StreamingCompression(), kgo.ProducerBatchMaxBytes(24<<10))
		n = 160
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	produce := func(r rec) {
		want = append(want, r)
		kr := &kgo.Record{Key: r.Key, Value: r.Value, Partition: 0}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: string(h.Key), Value: h.Value})
		}
		cl.Produce(context.Background(), kr, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	flush := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if streaming {
		// kgo merges only once it has a produce response (the codec
		// depends on the version), so one record goes first.
		produce(rec{Key: []byte("first"), Value: bytes.Repeat([]byte("first "), 50)})
		flush()
	}
	for i := range n {
		r := rec{Key: []byte(fmt.Sprintf("key-%d", i)), Value: bytes.Repeat([]byte(fmt.Sprintf("value %d; ", i)), i%50+1)}
		switch i % 5 {
		case 1:
			r.Key = nil
		case 2:
			r.Value = []byte{}
			r.Headers = []Header{{Key: []byte("h"), Value: []byte("v")}, {Key: []byte("h"), Value: []byte{}}}
		case 3:
			r.Headers = []Header{{Key: []byte("trace-id"), Value: []byte(fmt.Sprint(i))}}
		}
		produce(r)
	}
	flush()

	mu.Lock()
	defer mu.Unlock()
	if len(captured) == 0 {
		t.Fatal("captured no Produce records")
	}
	return captured, want
}

// javaBigValue is the value of record i of the Java fixtures' -big batches
// (testdata/java/gen/Gen.java).
func javaBigValue(i int) []byte {
	var sb strings.Builder
	for j := 0; sb.Len() < 20480; j++ {
		fmt.Fprintf(&sb, "record-%d-line-%d\n", i, j)
	}
	return []byte(sb.String()[:20480])
}

func javaSmallRecs() []rec {
	var v strings.Builder
	for j := range 20 {
		fmt.Fprintf(&v, "value-3-%d ", j)
	}
	return []rec{
		{Key: []byte("k0"), Value: []byte("v0"), Headers: []Header{{Key: []byte("h1"), Value: []byte("a")}, {Key: []byte("h2")}}},
		{Value: []byte{}},
		{Key: []byte{}, Headers: []Header{{Key: []byte{}, Value: []byte{}}}},
		{Key: []byte("key-3"), Value: []byte(v.String()), Headers: []Header{{Key: []byte("trace"), Value: []byte("abc")}, {Key: []byte("trace"), Value: []byte("def")}}},
	}
}

// TestReadBatchJavaProducer reads batches captured from the Apache Kafka
// 4.4.0 Java producer (idempotent, the 4.x default) for every codec. Its
// snappy is xerial framed and its zstd frames declare a 2 MiB window with
// no content size; both must decode under a 1 MiB cap.
func TestReadBatchJavaProducer(t *testing.T) {
	t.Parallel()
	var big []rec
	for i := range 3 {
		big = append(big, rec{Key: []byte(fmt.Sprintf("big-%d", i)), Value: javaBigValue(i)})
	}
	for _, c := range codecs {
		for _, size := range []string{"", "-big"} {
			if c.codec == CodecNone && size != "" {
				continue
			}
			name := "java-" + c.name + size
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				batch, err := os.ReadFile(filepath.Join("testdata", "java", name+".bin"))
				if err != nil {
					t.Fatal(err)
				}
				b, err := ReadBatch(batch)
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				want := javaSmallRecs()
				if size != "" {
					want = big
				}
				if b.Codec() != c.codec || b.NumRecords != int32(len(want)) || b.ProducerID < 0 || b.BaseSequence != 0 || b.Transactional() {
					t.Errorf("got codec %d, %d records, producer %d, sequence %d, transactional %v", b.Codec(), b.NumRecords, b.ProducerID, b.BaseSequence, b.Transactional())
				}
				if c.codec == CodecSnappy {
					if !bytes.HasPrefix(b.Records, xerialHeader) {
						t.Errorf("snappy is not xerial framed: % x", b.Records[:16])
					}
					if size != "" {
						if n := xerialBlocks(t, b.Records); n < 2 {
							t.Errorf("got %d xerial blocks, want at least 2", n)
						}
					}
				}
				raw, err := NewDecompressor(1<<20).Decompress(nil, b.Codec(), b.Records)
				if err != nil {
					t.Fatalf("decompress: got %v, want nil", err)
				}
				got, err := iterate(raw, b.NumRecords)
				if err != nil {
					t.Fatalf("iterate: got %v, want nil", err)
				}
				if !sameRecs(got, want) {
					t.Errorf("got %v, want %v", got, want)
				}
			})
		}
	}
}

// xerialBlocks counts the blocks of a xerial stream.
func xerialBlocks(t *testing.T, src []byte) int {
	t.Helper()
	n := 0
	for src = src[16:]; len(src) > 0; n++ {
		if len(src) < 4 {
			t.Fatalf("xerial block length cut short")
		}
		l := int(binary.BigEndian.Uint32(src))
		if 4+l > len(src) {
			t.Fatalf("xerial block of %d bytes with %d left", l, len(src)-4)
		}
		src = src[4+l:]
	}
	return n
}

// Offsets of RecordBatch v2 fields, from DefaultRecordBatch.java.
const (
	offBaseOffset  = 0
	offLength      = 8
	offLeaderEpoch = 12
	offMagic       = 16
	offCRC         = 17
	offAttributes  = 21
	offLastDelta   = 23
	offProducerID  = 43
	offEpoch       = 51
	offBaseSeq     = 53
	offNumRecords  = 57
)

func put32(b []byte, off int, v int32) { binary.BigEndian.PutUint32(b[off:], uint32(v)) }
func put64(b []byte, off int, v int64) { binary.BigEndian.PutUint64(b[off:], uint64(v)) }

func TestReadBatch(t *testing.T) {
	t.Parallel()
	recs := sampleRecs()
	valid := makeBatch(t, plain, recs...)
	second := makeBatch(t, plain, rec{Key: []byte("smuggled"), Value: []byte("v")})
	idem := batchOpts{producerID: 4711, epoch: 3, baseSeq: 42}
	tests := []struct {
		name string
		in   func() []byte
		want string // "" accepts; else the BatchError Reason
	}{
		{"valid", func() []byte { return valid }, ""},

		// Too short to hold a header.
		{"empty", func() []byte { return nil }, ReasonCorrupt},
		{"12 bytes", func() []byte { return valid[:12] }, ReasonCorrupt},
		{"header minus one", func() []byte { return valid[:BatchHeaderLen-1] }, ReasonCorrupt},

		// Base offset: producers send 0.
		{"base offset 1", func() []byte { b := slices.Clone(valid); put64(b, offBaseOffset, 1); return b }, ReasonInvalid},
		{"base offset -1", func() []byte { b := slices.Clone(valid); put64(b, offBaseOffset, -1); return b }, ReasonInvalid},

		// Magic 0 and 1 are the legacy message sets; 3 does not exist.
		{"magic 0", func() []byte { b := slices.Clone(valid); b[offMagic] = 0; return b }, ReasonInvalid},
		{"magic 1", func() []byte { b := slices.Clone(valid); b[offMagic] = 1; return b }, ReasonInvalid},
		{"magic 3", func() []byte { b := slices.Clone(valid); b[offMagic] = 3; return b }, ReasonInvalid},

		// The length counts the bytes after it. Longer than what is
		// there is corrupt; shorter leaves bytes after the batch, which
		// is the one-batch-per-partition rule.
		{"length one too long", func() []byte { b := slices.Clone(valid); put32(b, offLength, int32(len(b)-11)); return b }, ReasonCorrupt},
		{"length 2^31-1", func() []byte { b := slices.Clone(valid); put32(b, offLength, 1<<31-1); return b }, ReasonCorrupt},
		{"length -1", func() []byte { b := slices.Clone(valid); put32(b, offLength, -1); return b }, ReasonCorrupt},
		{"length below the header", func() []byte { b := slices.Clone(valid); put32(b, offLength, BatchHeaderLen-13); return b }, ReasonCorrupt},
		{"length one too short", func() []byte { b := slices.Clone(valid); put32(b, offLength, int32(len(b)-13)); return b }, ReasonInvalid},

		// Exactly one batch per partition (Produce v3+): anything after
		// the first is refused, so the proxy never validates one batch
		// while the broker reads another.
		{"second valid batch", func() []byte { return append(slices.Clone(valid), second...) }, ReasonInvalid},
		{"5 garbage bytes", func() []byte { return append(slices.Clone(valid), 0xde, 0xad, 0xbe, 0xef, 0x00) }, ReasonInvalid},
		{"truncated second batch", func() []byte { return append(slices.Clone(valid), second[:30]...) }, ReasonInvalid},
		{"second batch header only", func() []byte { return append(slices.Clone(valid), second[:BatchHeaderLen]...) }, ReasonInvalid},

		{"CRC off by one", func() []byte { b := slices.Clone(valid); b[offCRC+3]++; return b }, ReasonCorrupt},
		{"CRC-32 IEEE instead of Castagnoli", func() []byte {
			b := slices.Clone(valid)
			binary.BigEndian.PutUint32(b[offCRC:], crc32.ChecksumIEEE(b[offAttributes:]))
			return b
		}, ReasonCorrupt},

		// Attributes (masks, not the kmsg doc's bit numbers). kfake
		// answers codecs 5-7 with CORRUPT_MESSAGE; either code refuses.
		{"codec 5", func() []byte {
			return makeBatchRaw(batchOpts{codec: 5, producerID: -1, baseSeq: -1}, len(recs), appendRecords(nil, recs...))
		}, ReasonInvalid},
		{"codec 6", func() []byte {
			return makeBatchRaw(batchOpts{codec: 6, producerID: -1, baseSeq: -1}, len(recs), appendRecords(nil, recs...))
		}, ReasonInvalid},
		{"codec 7", func() []byte {
			return makeBatchRaw(batchOpts{codec: 7, producerID: -1, baseSeq: -1}, len(recs), appendRecords(nil, recs...))
		}, ReasonInvalid},
		{"control batch", func() []byte { return makeBatch(t, batchOpts{attrs: 0x20, producerID: 9, baseSeq: 0}, recs...) }, ReasonInvalid},
		{"control and transactional", func() []byte { return makeBatch(t, batchOpts{attrs: 0x30, producerID: 9, baseSeq: 0}, recs...) }, ReasonInvalid},
		{"transactional with a producer id", func() []byte {
			return makeBatch(t, batchOpts{attrs: 0x10, producerID: 9, epoch: 1, baseSeq: 0}, recs...)
		}, ""},
		{"LogAppendTime timestamp type", func() []byte { return makeBatch(t, batchOpts{attrs: 0x08, producerID: -1, baseSeq: -1}, recs...) }, ""},
		{"every flag a client may set, zstd", func() []byte {
			return makeBatch(t, batchOpts{codec: CodecZstd, attrs: 0x18, producerID: 9, baseSeq: 7}, recs...)
		}, ""},

		// Record count and last offset delta.
		{"record count 0", func() []byte {
			b := slices.Clone(valid)
			put32(b, offNumRecords, 0)
			put32(b, offLastDelta, -1)
			return fixCRC(b)
		}, ReasonInvalid},
		{"record count -1", func() []byte {
			b := slices.Clone(valid)
			put32(b, offNumRecords, -1)
			put32(b, offLastDelta, -2)
			return fixCRC(b)
		}, ReasonInvalid},
		{"record count min int32", func() []byte { b := slices.Clone(valid); put32(b, offNumRecords, -1<<31); return fixCRC(b) }, ReasonInvalid},
		{"last offset delta one short", func() []byte { b := slices.Clone(valid); put32(b, offLastDelta, int32(len(recs)-2)); return fixCRC(b) }, ReasonInvalid},
		{"last offset delta one over", func() []byte { b := slices.Clone(valid); put32(b, offLastDelta, int32(len(recs))); return fixCRC(b) }, ReasonInvalid},
		{"last offset delta max int32", func() []byte { b := slices.Clone(valid); put32(b, offLastDelta, 1<<31-1); return fixCRC(b) }, ReasonInvalid},
		{"count and delta agree, records do not", func() []byte {
			// The header is consistent; the records section holds 4
			// records, not 5. ReadBatch does not look inside: the
			// iterator does (TestRecordsIterator).
			b := slices.Clone(valid)
			put32(b, offNumRecords, 5)
			put32(b, offLastDelta, 4)
			return fixCRC(b)
		}, ""},

		// Idempotence: a producer id needs a sequence.
		{"producer id, no sequence", func() []byte { return makeBatch(t, batchOpts{producerID: 4711, epoch: 3, baseSeq: -1}, recs...) }, ReasonInvalid},
		{"producer id 0, no sequence", func() []byte { return makeBatch(t, batchOpts{producerID: 0, baseSeq: -1}, recs...) }, ReasonInvalid},
		{"producer id, sequence -2", func() []byte { return makeBatch(t, batchOpts{producerID: 4711, baseSeq: -2}, recs...) }, ReasonInvalid},
		{"idempotent", func() []byte { return makeBatch(t, idem, recs...) }, ""},
		{"no producer id, a sequence", func() []byte { return makeBatch(t, batchOpts{producerID: -1, epoch: -1, baseSeq: 5}, recs...) }, ""},
		// The partition leader epoch is outside the CRC and the broker
		// overwrites it; kgo sends -1, Sarama 0.
		{"leader epoch 0", func() []byte { b := slices.Clone(valid); put32(b, offLeaderEpoch, 0); return b }, ""},
		{"leader epoch 12345", func() []byte { b := slices.Clone(valid); put32(b, offLeaderEpoch, 12345); return b }, ""},
	}
	for _, c := range codecs {
		tests = append(tests, struct {
			name string
			in   func() []byte
			want string
		}{"codec " + c.name, func() []byte { return makeBatch(t, idem.with(c.codec), recs...) }, ""})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := tt.in()
			snapshot := slices.Clone(in)
			b, err := ReadBatch(in)
			if got := batchReason(err); got != tt.want {
				t.Fatalf("got %v (reason %q), want reason %q", err, got, tt.want)
			}
			if !bytes.Equal(in, snapshot) {
				t.Errorf("ReadBatch changed its input")
			}
			if err != nil {
				var be *BatchError
				errors.As(err, &be)
				if be.Msg == "" || be.Error() != be.Msg {
					t.Errorf("got message %q, Error() %q", be.Msg, be.Error())
				}
				return
			}
			// Every field as kmsg reads it.
			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(in); err != nil {
				t.Fatalf("kmsg: %v", err)
			}
			switch {
			case &b.Raw[0] != &in[0] || len(b.Raw) != len(in):
				t.Errorf("Raw is not the input")
			case !bytes.Equal(b.Records, kb.Records) || &b.Records[0] != &in[BatchHeaderLen]:
				t.Errorf("Records is not the input's records section")
			case b.Attributes != kb.Attributes || b.LastDelta != kb.LastOffsetDelta || b.ProducerID != kb.ProducerID ||
				b.ProducerEpoch != kb.ProducerEpoch || b.BaseSequence != kb.FirstSequence || b.NumRecords != kb.NumRecords:
				t.Errorf("got %+v, kmsg reads %+v", b, kb)
			case b.Codec() != int(kb.Attributes&7) || b.Transactional() != (kb.Attributes&0x10 != 0):
				t.Errorf("got codec %d transactional %v for attributes %#x", b.Codec(), b.Transactional(), kb.Attributes)
			}
		})
	}
}

// TestReadBatchEveryByte corrupts each byte of a batch in turn: every
// offset from 21 on is under the CRC; before it, the base offset, length
// and magic are checked, the CRC is the CRC, and only the partition leader
// epoch (12-15), which the broker overwrites, may change.
func TestReadBatchEveryByte(t *testing.T) {
	t.Parallel()
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			valid := makeBatch(t, batchOpts{producerID: 7, baseSeq: 0}.with(c.codec), sampleRecs()...)
			for off := range valid {
				for _, flip := range []byte{0x01, 0x80, 0xff} {
					b := slices.Clone(valid)
					b[off] ^= flip
					_, err := ReadBatch(b)
					want := ReasonCorrupt
					switch {
					case off >= offLeaderEpoch && off < offMagic:
						want = ""
					case off < offLength || off == offMagic:
						want = ReasonInvalid
					case off < offLeaderEpoch:
						// The length: longer than the bytes is
						// corrupt, shorter leaves trailing bytes.
						if l := int32(binary.BigEndian.Uint32(b[offLength:])); l >= BatchHeaderLen-12 && int(l) < len(b)-12 {
							want = ReasonInvalid
						}
					}
					if got := batchReason(err); got != want {
						t.Errorf("byte %d ^ %#02x: got %v (reason %q), want %q", off, flip, err, got, want)
					}
				}
			}
		})
	}
}

// Record builders for the iterator tables: a record is its length varint
// then its body; bodies are put together field by field so that one field
// at a time can be wrong.

func vint(v int64) []byte { return binary.AppendVarint(nil, v) }

func cat(parts ...[]byte) []byte { return slices.Concat(parts...) }

// lenBytes is a varint length and b, or -1 for nil.
func lenBytes(b []byte) []byte { return appendVarBytes(nil, b) }

// withLength prefixes body with its length plus adj.
func withLength(body []byte, adj int) []byte {
	return append(vint(int64(len(body)+adj)), body...)
}

// rec0 to rec2 are the bodies of the iterator table's three records:
// attributes, timestamp delta, offset delta, key, value, headers.
var (
	rec0 = cat([]byte{0}, vint(0), vint(0), lenBytes([]byte("k0")), lenBytes([]byte("v0")), vint(0))
	rec1 = cat([]byte{0}, vint(3), vint(1), lenBytes(nil), lenBytes([]byte("value one")),
		vint(2), lenBytes([]byte("h1")), lenBytes([]byte("a")), lenBytes([]byte("h2")), lenBytes(nil))
	rec2 = cat([]byte{0}, vint(6), vint(2), lenBytes([]byte{}), lenBytes([]byte{}), vint(1), lenBytes([]byte{}), lenBytes([]byte{}))
)

// rec1With is record 1 with its header section replaced.
func rec1With(headers []byte) []byte {
	return cat([]byte{0}, vint(3), vint(1), lenBytes(nil), lenBytes([]byte("value one")), headers)
}

// deltaRecord is one record carrying offsetDelta, with the value "v<delta>":
//
//	length varint | attributes 0 | timestamp delta 0 | offset delta | key null (-1) | value | 0 headers
func deltaRecord(offsetDelta int32) []byte {
	value := fmt.Appendf(nil, "v%d", offsetDelta)
	return withLength(cat(
		[]byte{0},                // attributes
		vint(0),                  // timestamp delta
		vint(int64(offsetDelta)), // offset delta, zigzag varint
		lenBytes(nil),            // key: null
		lenBytes(value),          // value
		vint(0),                  // header count
	), 0)
}

// deltaRecords is a records section of one deltaRecord per delta.
func deltaRecords(deltas ...int32) []byte {
	var section []byte
	for _, d := range deltas {
		section = append(section, deltaRecord(d)...)
	}
	return section
}

func TestRecordsIterator(t *testing.T) {
	t.Parallel()
	want := []rec{
		{Key: []byte("k0"), Value: []byte("v0")},
		{Key: nil, Value: []byte("value one"), Headers: []Header{{Key: []byte("h1"), Value: []byte("a")}, {Key: []byte("h2"), Value: nil}}},
		{Key: []byte{}, Value: []byte{}, Headers: []Header{{Key: []byte{}, Value: []byte{}}}},
	}
	valid := cat(withLength(rec0, 0), withLength(rec1, 0), withLength(rec2, 0))
	if got := appendRecords(nil, want...); !bytes.Equal(got, valid) {
		t.Fatalf("table records % x, helper % x", valid, got)
	}
	tests := []struct {
		name      string
		section   []byte
		count     int32
		wantRecs  int    // records read before the iterator stops
		wantErr   string // "" for none, else the reason
		wantIndex int    // BatchError.Index when wantErr is set: the record, or -1
	}{
		{"valid", valid, 3, 3, "", 0},
		{"empty, count 0", nil, 0, 0, "", 0},
		{"empty, count 1", nil, 1, 0, ReasonCorrupt, -1},

		// A record must consume exactly its declared length.
		{"record 1 length +1", cat(withLength(rec0, 0), withLength(rec1, 1), withLength(rec2, 0)), 3, 1, ReasonCorrupt, 1},
		{"record 1 length -1", cat(withLength(rec0, 0), withLength(rec1, -1), withLength(rec2, 0)), 3, 1, ReasonCorrupt, 1},
		{"last record length +1", cat(withLength(rec0, 0), withLength(rec1, 0), withLength(rec2, 1)), 3, 2, ReasonCorrupt, 2},
		{"last record length -1", cat(withLength(rec0, 0), withLength(rec1, 0), withLength(rec2, -1)), 3, 2, ReasonCorrupt, 2},
		{"first record length 0", cat(vint(0), rec0), 1, 0, ReasonCorrupt, 0},
		{"first record length -1", cat(vint(-1), rec0), 1, 0, ReasonCorrupt, 0},
		{"record length 2^31", cat(vint(1<<31), rec0), 1, 0, ReasonCorrupt, 0},
		{"record length varint cut short", cat(withLength(rec0, 0), []byte{0x80}), 2, 1, ReasonCorrupt, 1},
		{"byte inside a record after the headers", cat(withLength(rec0, 0), withLength(append(slices.Clone(rec1), 0), 0), withLength(rec2, 0)), 3, 1, ReasonCorrupt, 1},
		{"attributes only", cat(withLength([]byte{0}, 0)), 1, 0, ReasonCorrupt, 0},

		// Headers.
		{"header count -2", cat(withLength(rec0, 0), withLength(rec1With(vint(-2)), 0)), 2, 1, ReasonCorrupt, 1},
		{"header count -1", cat(withLength(rec0, 0), withLength(rec1With(vint(-1)), 0)), 2, 1, ReasonCorrupt, 1},
		{"header count 3 for 2 headers", cat(withLength(rec0, 0), withLength(rec1With(cat(vint(3), rec1[len(rec1With(nil))+1:])), 0)), 2, 1, ReasonCorrupt, 1},
		{"header count 1 for 2 headers", cat(withLength(rec0, 0), withLength(rec1With(cat(vint(1), rec1[len(rec1With(nil))+1:])), 0)), 2, 1, ReasonCorrupt, 1},
		{"header count 2^31-1", cat(withLength(rec0, 0), withLength(rec1With(vint(1<<31-1)), 0)), 2, 1, ReasonCorrupt, 1},
		{"header count 2^62", cat(withLength(rec0, 0), withLength(rec1With(vint(1<<62)), 0)), 2, 1, ReasonCorrupt, 1},
		{"null header key", cat(withLength(rec1With(cat(vint(1), lenBytes(nil), lenBytes([]byte("v")))), 0)), 1, 0, ReasonCorrupt, 0},
		{"header key length -2", cat(withLength(rec1With(cat(vint(1), vint(-2), lenBytes([]byte("v")))), 0)), 1, 0, ReasonCorrupt, 0},
		{"header value length -2", cat(withLength(rec1With(cat(vint(1), lenBytes([]byte("k")), vint(-2))), 0)), 1, 0, ReasonCorrupt, 0},
		{"header value past the record", cat(withLength(rec1With(cat(vint(1), lenBytes([]byte("k")), vint(9), []byte("v"))), 0)), 1, 0, ReasonCorrupt, 0},

		// Key and value lengths.
		{"key length -2", cat(withLength(cat([]byte{0}, vint(0), vint(0), vint(-2), lenBytes([]byte("v")), vint(0)), 0)), 1, 0, ReasonCorrupt, 0},
		{"key length past the record", cat(withLength(cat([]byte{0}, vint(0), vint(0), vint(100), []byte("k"), lenBytes([]byte("v")), vint(0)), 0)), 1, 0, ReasonCorrupt, 0},
		{"value length -2", cat(withLength(cat([]byte{0}, vint(0), vint(0), lenBytes([]byte("k")), vint(-2), vint(0)), 0)), 1, 0, ReasonCorrupt, 0},
		{"value length min int64", cat(withLength(cat([]byte{0}, vint(0), vint(0), lenBytes([]byte("k")), vint(-1<<63), vint(0)), 0)), 1, 0, ReasonCorrupt, 0},
		{"value length varint of 11 bytes", cat(withLength(cat([]byte{0}, vint(0), vint(0), lenBytes([]byte("k")), bytes.Repeat([]byte{0xff}, 10), []byte{0x01}, vint(0)), 0)), 1, 0, ReasonCorrupt, 0},

		// The count must match the records exactly.
		{"count actual+1", valid, 4, 3, ReasonCorrupt, -1},
		{"count actual-1", valid, 2, 2, ReasonCorrupt, -1},
		{"count 1 of 3", valid, 1, 1, ReasonCorrupt, -1},
		{"count -1", valid, -1, 0, ReasonCorrupt, -1},
		{"count min int32", valid, -1 << 31, 0, ReasonCorrupt, -1},
		{"one byte after the last record", append(slices.Clone(valid), 0), 3, 3, ReasonCorrupt, -1},
		{"five bytes after the last record", append(slices.Clone(valid), 1, 2, 3, 4, 5), 3, 3, ReasonCorrupt, -1},
		{"a whole record after the last", cat(valid, withLength(rec0, 0)), 3, 3, ReasonCorrupt, -1},

		// Kafka reads the int32 fields as varints of at most 5 bytes
		// ("Varint is too long") and the timestamp delta as a varlong of
		// at most 10 (ByteUtils.readVarint, readVarlong).
		{"record length as a 6-byte varint", cat([]byte{0x80 | byte(len(rec0)<<1), 0x80, 0x80, 0x80, 0x80, 0x00}, rec0), 1, 0, ReasonCorrupt, 0},
		{"offset delta as a 6-byte varint", withLength(cat([]byte{0}, vint(0), []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, rec0[3:]), 0), 1, 0, ReasonCorrupt, 0},
		{"key length as a 6-byte varint", withLength(cat([]byte{0}, vint(0), vint(0), []byte{0x84, 0x80, 0x80, 0x80, 0x80, 0x00}, rec0[4:]), 0), 1, 0, ReasonCorrupt, 0},
		{"header count as a 6-byte varint", withLength(cat(rec1With(nil), []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}), 0), 1, 0, ReasonCorrupt, 0},
		{"key length of 2^32+2 in 5 bytes", withLength(cat([]byte{0}, vint(0), vint(0), []byte{0x84, 0x80, 0x80, 0x80, 0x20}, rec0[4:]), 0), 1, 0, ReasonCorrupt, 0},
		{"offset delta as a 5-byte varint", withLength(cat([]byte{0}, vint(0), []byte{0x80, 0x80, 0x80, 0x80, 0x00}, rec0[3:]), 0), 1, 1, "", 0},
		{"timestamp delta as a 10-byte varint", withLength(cat([]byte{0}, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, rec0[2:]), 0), 1, 1, "", 0},

		// Record attributes are unused; Kafka does not check them.
		{"record attributes 0x7f", withLength(cat([]byte{0x7f}, rec0[1:]), 0), 1, 1, "", 0},

		// Offset deltas run 0, 1, 2, ...: record i carries delta i. The
		// record before the bad one is read; the bad one is named.
		{"offset deltas 0 1 2", deltaRecords(0, 1, 2), 3, 3, "", 0},
		{"offset deltas out of order: 0 2 1", deltaRecords(0, 2, 1), 3, 1, ReasonInvalid, 1},
		{"offset deltas with a gap: 0 1 3", deltaRecords(0, 1, 3), 3, 2, ReasonInvalid, 2},
		{"offset deltas with a duplicate: 0 1 1", deltaRecords(0, 1, 1), 3, 2, ReasonInvalid, 2},
		{"offset deltas starting at 1: 1 2 3", deltaRecords(1, 2, 3), 3, 0, ReasonInvalid, 0},
		{"offset deltas all 0", deltaRecords(0, 0, 0), 3, 1, ReasonInvalid, 1},
		{"offset delta -1", deltaRecords(0, -1, 2), 3, 1, ReasonInvalid, 1},
		{"one record, offset delta 3", deltaRecords(3), 1, 0, ReasonInvalid, 0},
		{"one record, offset delta 100000", deltaRecords(100000), 1, 0, ReasonInvalid, 0},
		{"one record, offset delta max int32", deltaRecords(1<<31 - 1), 1, 0, ReasonInvalid, 0},
		// A record whose bytes contradict themselves is corrupt, whatever
		// its offset delta.
		{"offset delta 5 and a null header key", withLength(cat([]byte{0}, vint(0), vint(5), lenBytes(nil), lenBytes(nil), vint(1), lenBytes(nil), lenBytes(nil)), 0), 1, 0, ReasonCorrupt, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			it := NewRecords(tt.section, tt.count)
			var r Record
			n := 0
			for it.Next(&r) {
				if r.Index != n {
					t.Errorf("record %d: got Index %d", n, r.Index)
				}
				if tt.name == "valid" {
					got := rec{Key: r.Key, Value: r.Value}
					r.EachHeader(func(h Header) bool { got.Headers = append(got.Headers, h); return true })
					if !sameRecs([]rec{got}, want[n:n+1]) {
						t.Errorf("record %d: got %v, want %v", n, got, want[n])
					}
				}
				n++
			}
			if it.Next(&r) {
				t.Errorf("Next returned true after returning false")
			}
			err := it.Err()
			if n != tt.wantRecs || batchReason(err) != tt.wantErr {
				t.Fatalf("got %d records, %v; want %d records, reason %q", n, err, tt.wantRecs, tt.wantErr)
			}
			if err != nil {
				var be *BatchError
				errors.As(err, &be)
				if be.Index != tt.wantIndex {
					t.Errorf("got Index %d, want %d (%v)", be.Index, tt.wantIndex, err)
				}
				if want := fmt.Sprintf("record %d: ", be.Index); be.Index >= 0 && !strings.HasPrefix(err.Error(), want) {
					t.Errorf("got %q, want it to start %q", err, want)
				}
				if tt.wantErr == ReasonInvalid && !strings.Contains(be.Msg, "offset delta") {
					t.Errorf("got %q, want it to name the offset delta", be.Msg)
				}
			}
		})
	}
}

// TestReadBatchOffsetDeltas reads whole batches, with every codec, whose
// records carry the given offset deltas under a header claiming lastDelta
// and len(deltas) records, as the proxy reads them: ReadBatch checks the
// header's last offset delta against the count, the iterator each
// record's delta against its index.
func TestReadBatchOffsetDeltas(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		deltas    []int32
		lastDelta int32
		wantErr   string // "" accepts; else the reason
		wantIndex int    // the record named, -1 for the batch (the header's last offset delta)
	}{
		{"0 1 2", []int32{0, 1, 2}, 2, "", 0},
		{"one record", []int32{0}, 0, "", 0},
		{"one record, offset delta 3", []int32{3}, 0, ReasonInvalid, 0},
		{"one record, offset delta 100000", []int32{100000}, 0, ReasonInvalid, 0},
		{"out of order", []int32{0, 2, 1}, 2, ReasonInvalid, 1},
		{"gap", []int32{0, 1, 3}, 2, ReasonInvalid, 2},
		{"duplicate", []int32{0, 1, 1}, 2, ReasonInvalid, 2},
		{"starting at 1", []int32{1, 2, 3}, 2, ReasonInvalid, 0},
		// A header that agrees with the records but not the count is
		// the batch's fault, refused before any record is read.
		{"starting at 1, last offset delta 3", []int32{1, 2, 3}, 3, ReasonInvalid, -1},
		{"gap, last offset delta 3", []int32{0, 1, 3}, 3, ReasonInvalid, -1},
		{"last offset delta one short", []int32{0, 1, 2}, 1, ReasonInvalid, -1},
		{"last offset delta one over", []int32{0, 1, 2}, 3, ReasonInvalid, -1},
	}
	for _, c := range codecs {
		for _, tt := range tests {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				batch := deltaBatch(t, c.codec, tt.lastDelta, tt.deltas...)
				_, recs, err := decodeBatch(batch)
				if got := batchReason(err); got != tt.wantErr {
					t.Fatalf("got %v (reason %q), want reason %q", err, got, tt.wantErr)
				}
				if err == nil {
					if len(recs) != len(tt.deltas) {
						t.Errorf("got %d records, want %d", len(recs), len(tt.deltas))
					}
					return
				}
				var be *BatchError
				errors.As(err, &be)
				if be.Index != tt.wantIndex {
					t.Errorf("got Index %d, want %d (%v)", be.Index, tt.wantIndex, err)
				}
				if tt.wantIndex >= 0 && len(recs) != tt.wantIndex {
					t.Errorf("read %d records before the error, want %d", len(recs), tt.wantIndex)
				}
			})
		}
	}
}

// deltaBatch is a batch of deltaRecords, compressed with codec, whose
// header claims lastDelta and len(deltas) records.
func deltaBatch(t testing.TB, codec int, lastDelta int32, deltas ...int32) []byte {
	t.Helper()
	b := makeBatchRaw(plain.with(codec), len(deltas), compressAs(t, codec, deltaRecords(deltas...)))
	put32(b, offLastDelta, lastDelta)
	return fixCRC(b)
}

// TestRecordsNullAndEmpty checks that null and empty keys, values and
// header values stay apart, and that EachHeader gives every header in
// order and stops when told.
func TestRecordsNullAndEmpty(t *testing.T) {
	t.Parallel()
	var headers []Header
	for i := range 10 {
		h := Header{Key: []byte(fmt.Sprintf("h%d", i)), Value: []byte(fmt.Sprintf("v%d", i))}
		switch i % 3 {
		case 1:
			h.Value = nil
		case 2:
			h.Value = []byte{}
		}
		headers = append(headers, h)
	}
	recs := []rec{
		{Key: nil, Value: nil},
		{Key: []byte{}, Value: []byte{}},
		{Key: nil, Value: []byte{}},
		{Key: []byte{}, Value: nil},
		{Key: []byte("k"), Value: []byte("v"), Headers: headers},
		{Key: bytes.Repeat([]byte("k"), 300), Value: bytes.Repeat([]byte("v"), 70000)}, // multi-byte lengths
	}
	got, err := iterate(appendRecords(nil, recs...), int32(len(recs)))
	if err != nil {
		t.Fatal(err)
	}
	if !sameRecs(got, recs) {
		t.Fatalf("got %v, want %v", got, recs)
	}
	for i, r := range got {
		want := recs[i]
		if (r.Key == nil) != (want.Key == nil) || (r.Value == nil) != (want.Value == nil) {
			t.Errorf("record %d: got key null %v value null %v, want %v %v", i, r.Key == nil, r.Value == nil, want.Key == nil, want.Value == nil)
		}
		for j, h := range r.Headers {
			if (h.Value == nil) != (want.Headers[j].Value == nil) || h.Key == nil {
				t.Errorf("record %d header %d: got %v, want %v", i, j, h, want.Headers[j])
			}
		}
	}

	it := NewRecords(appendRecords(nil, recs[4]), 1)
	var r Record
	if !it.Next(&r) {
		t.Fatal(it.Err())
	}
	if r.NumHeaders != len(headers) {
		t.Errorf("got NumHeaders %d, want %d", r.NumHeaders, len(headers))
	}
	var keys []string
	r.EachHeader(func(h Header) bool {
		keys = append(keys, string(h.Key))
		return len(keys) < 3
	})
	if want := []string{"h0", "h1", "h2"}; !slices.Equal(keys, want) {
		t.Errorf("EachHeader stopping after 3: got %v, want %v", keys, want)
	}
	// The slices alias the records section: a caller that needs them
	// past the buffer's life copies them.
	section := appendRecords(nil, recs[4])
	it = NewRecords(section, 1)
	it.Next(&r)
	if i := bytes.Index(section, []byte("k")); &r.Key[0] != &section[i] {
		t.Errorf("Key does not alias the records section")
	}
	if cap(r.Key) != len(r.Key) || cap(r.Value) != len(r.Value) {
		t.Errorf("Key and Value capacities reach past them: appending would overwrite the section")
	}
}

// checkRecords iterates section, which claims count records, and checks
// what the iterator accepts against kmsg: the records tile the section
// exactly, kmsg decodes each to the same key, value and headers, and each
// needs every one of its bytes (kmsg fails on it one byte short), which
// is the broker's consumed-size check, and each carries its index as its
// offset delta. A refused record is the one after the last read. The
// iteration itself allocates nothing sized by the input.
func checkRecords(t *testing.T, section []byte, count int32) {
	t.Helper()
	it := NewRecords(section, count)
	var r Record
	n, headers := 0, 0
	alloc := heapAllocBytes(func() {
		for it.Next(&r) {
			n++
			r.EachHeader(func(Header) bool { headers++; return true })
		}
	})
	if alloc > maxFuzzAlloc(0) {
		t.Errorf("iterating %d bytes allocated %d bytes", len(section), alloc)
	}
	err := it.Err()
	if err != nil {
		var be *BatchError
		if !errors.As(err, &be) || (be.Reason != ReasonCorrupt && be.Reason != ReasonInvalid) || be.Msg == "" {
			t.Fatalf("got %T %v, want a corrupt or invalid *BatchError", err, err)
		}
		if n > int(max(count, 0)) {
			t.Errorf("read %d records of %d", n, count)
		}
		if be.Index >= 0 && be.Index != n {
			t.Errorf("read %d records, then an error naming record %d: %v", n, be.Index, err)
		}
		if be.Reason == ReasonInvalid && be.Index != n {
			t.Errorf("invalid, but not a record's offset delta: %v", err)
		}
		return
	}
	if int32(n) != count {
		t.Fatalf("read %d records without error, want %d", n, count)
	}
	it = NewRecords(section, count)
	rest := section
	for it.Next(&r) {
		length, m := kbin.Varint(rest)
		if m <= 0 || length < 1 || int(length) > len(rest)-m {
			t.Fatalf("record %d accepted, but its length %d (%d) does not fit %d bytes", r.Index, length, m, len(rest))
		}
		one := rest[:m+int(length)]
		rest = rest[len(one):]
		var kr kmsg.Record
		if err := kr.ReadFrom(one); err != nil {
			t.Fatalf("record %d accepted; kmsg: %v", r.Index, err)
		}
		var short kmsg.Record
		if err := short.ReadFrom(one[:len(one)-1]); err == nil {
			t.Errorf("record %d accepted, but kmsg decodes it one byte short: its length is too large", r.Index)
		}
		if !bytes.Equal(kr.Key, r.Key) || (kr.Key == nil) != (r.Key == nil) ||
			!bytes.Equal(kr.Value, r.Value) || (kr.Value == nil) != (r.Value == nil) ||
			len(kr.Headers) != r.NumHeaders || kr.Attributes != r.Attributes || int(kr.OffsetDelta) != r.Index {
			t.Errorf("record %d: got key %s value %s, %d headers; kmsg %s %s, %d headers, offset delta %d", r.Index,
				fmtBytes(r.Key), fmtBytes(r.Value), r.NumHeaders, fmtBytes(kr.Key), fmtBytes(kr.Value), len(kr.Headers), kr.OffsetDelta)
		}
		i := 0
		r.EachHeader(func(h Header) bool {
			kh := kr.Headers[i]
			if string(h.Key) != kh.Key || !bytes.Equal(h.Value, kh.Value) || (h.Value == nil) != (kh.Value == nil) {
				t.Errorf("record %d header %d: got %s=%s, kmsg %q=%s", r.Index, i, fmtBytes(h.Key), fmtBytes(h.Value), kh.Key, fmtBytes(kh.Value))
			}
			i++
			return true
		})
	}
	if len(rest) != 0 {
		t.Errorf("%d bytes left after %d accepted records", len(rest), count)
	}
}

// offsetDeltaSeeds are the offset deltas of the fuzz seeds whose records
// are refused for them (and one whose are not): out of order, a gap, a
// duplicate, starting at 1, and a lone record at 3.
var offsetDeltaSeeds = [][]int32{{0, 1, 2}, {0, 2, 1}, {0, 1, 3}, {0, 1, 1}, {1, 2, 3}, {3}}

func FuzzRecords(f *testing.F) {
	f.Add(appendRecords(nil, sampleRecs()...), int32(len(sampleRecs())))
	f.Add(cat(withLength(rec0, 0), withLength(rec1, 0), withLength(rec2, 0)), int32(3))
	for _, deltas := range offsetDeltaSeeds {
		f.Add(deltaRecords(deltas...), int32(len(deltas)))
	}
	f.Fuzz(func(t *testing.T, section []byte, count int32) {
		checkRecords(t, section, count)
	})
}

// FuzzReadBatch reads a batch as the proxy does: ReadBatch, then the
// records, decompressed under a 1 MiB cap. Whatever ReadBatch accepts
// satisfies the broker's checks, and kmsg reads the same fields. Each
// input is also read with its length and CRC rewritten to match, or
// mutations would rarely get past the CRC to the fields and records.
func FuzzReadBatch(f *testing.F) {
	for _, c := range codecs {
		f.Add(makeBatch(f, batchOpts{producerID: 1, baseSeq: 0}.with(c.codec), sampleRecs()...))
		for _, deltas := range offsetDeltaSeeds {
			f.Add(deltaBatch(f, c.codec, int32(len(deltas)-1), deltas...))
		}
	}
	d := NewDecompressor(1 << 20)
	f.Fuzz(func(t *testing.T, in []byte) {
		checkBatch(t, d, in)
		if len(in) >= BatchHeaderLen {
			checkBatch(t, d, fixBatch(slices.Clone(in)))
		}
	})
}

func checkBatch(t *testing.T, d *Decompressor, in []byte) {
	t.Helper()
	var b Batch
	var err error
	alloc := heapAllocBytes(func() { b, err = ReadBatch(in) })
	if alloc > maxFuzzAlloc(0) {
		t.Errorf("ReadBatch allocated %d bytes for %d bytes in", alloc, len(in))
	}
	if err != nil {
		var be *BatchError
		if !errors.As(err, &be) || (be.Reason != ReasonCorrupt && be.Reason != ReasonInvalid) || be.Msg == "" {
			t.Fatalf("got %T %v, want a corrupt or invalid *BatchError", err, err)
		}
		if len(in) < BatchHeaderLen && be.Reason != ReasonCorrupt {
			t.Errorf("%d bytes: got reason %s, want corrupt", len(in), be.Reason)
		}
		return
	}
	order := binary.BigEndian
	switch {
	case len(in) < BatchHeaderLen:
		t.Fatalf("accepted %d bytes", len(in))
	case int64(order.Uint64(in)) != 0 || in[offMagic] != 2:
		t.Errorf("accepted base offset %d, magic %d", int64(order.Uint64(in)), in[offMagic])
	case int(int32(order.Uint32(in[offLength:])))+12 != len(in):
		t.Errorf("accepted length %d for %d bytes", int32(order.Uint32(in[offLength:])), len(in))
	case crc32.Checksum(in[offAttributes:], crc32.MakeTable(crc32.Castagnoli)) != order.Uint32(in[offCRC:]):
		t.Errorf("accepted a wrong CRC")
	case b.Codec() > CodecZstd || b.Attributes&0x20 != 0:
		t.Errorf("accepted attributes %#x", b.Attributes)
	case b.NumRecords < 1 || b.LastDelta+1 != b.NumRecords:
		t.Errorf("accepted %d records with last offset delta %d", b.NumRecords, b.LastDelta)
	case b.ProducerID >= 0 && b.BaseSequence < 0:
		t.Errorf("accepted producer id %d with sequence %d", b.ProducerID, b.BaseSequence)
	}
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(in); err != nil || kb.Attributes != b.Attributes || kb.NumRecords != b.NumRecords ||
		kb.ProducerID != b.ProducerID || kb.FirstSequence != b.BaseSequence || !bytes.Equal(kb.Records, b.Records) {
		t.Errorf("got %+v; kmsg reads %+v, %v", b, kb, err)
	}
	raw := b.Records
	if b.Codec() != CodecNone {
		if raw, err = d.Decompress(nil, b.Codec(), b.Records); err != nil {
			return
		}
	}
	checkRecords(t, raw, b.NumRecords)
}

// BenchmarkReadBatchAndIterate reads an uncompressed batch of 100 records
// of 1 KiB, each with two headers, as the proxy does for every partition
// of a Produce: ReadBatch, then every record and header.
func BenchmarkReadBatchAndIterate(b *testing.B) {
	recs := textRecords(100, 1<<10)
	for i := range recs {
		recs[i].Headers = []Header{{Key: []byte("content-type"), Value: []byte("application/json")}, {Key: []byte("trace-id"), Value: []byte("4bf92f3577b34da6")}}
	}
	batch := makeBatch(b, batchOpts{producerID: 1, baseSeq: 0}, recs...)
	b.ReportAllocs()
	b.SetBytes(int64(len(batch)))
	var r Record
	for b.Loop() {
		bt, err := ReadBatch(batch)
		if err != nil {
			b.Fatal(err)
		}
		it := NewRecords(bt.Records, bt.NumRecords)
		n := 0
		for it.Next(&r) {
			r.EachHeader(func(Header) bool { n++; return true })
		}
		if it.Err() != nil || n != 200 {
			b.Fatal(it.Err(), n)
		}
	}
}

// TestWriteFuzzSeeds rewrites the seed corpora of FuzzReadBatch,
// FuzzRecords and FuzzDecompress from real batches of every codec: the
// Java client's (testdata/java), kgo's through kfake, and the test
// helper's. Run with -update-seeds after changing how batches are built.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("rewrites testdata/fuzz; run with -update-seeds")
	}
	batches := map[string][]byte{}
	javas, err := filepath.Glob(filepath.Join("testdata", "java", "*.bin"))
	if err != nil || len(javas) == 0 {
		t.Fatalf("no Java batches: %v", err)
	}
	for _, name := range javas {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		batches[strings.TrimSuffix(filepath.Base(name), ".bin")] = b
	}
	for _, c := range codecs[1:] {
		for _, streaming := range []bool{false, true} {
			captured, _ := produceKgo(t, c.codec, streaming)
			for i, b := range captured {
				name := fmt.Sprintf("kgo-%s-%d", c.name, i)
				if streaming {
					name = fmt.Sprintf("kgo-%s-streaming-%d", c.name, i)
				}
				batches[name] = b
			}
		}
	}
	for _, c := range codecs {
		batches["helper-"+c.name] = makeBatch(t, batchOpts{producerID: 1, baseSeq: 0}.with(c.codec), sampleRecs()...)
		batches["helper-"+c.name+"-transactional"] = makeBatch(t, batchOpts{attrs: 0x10, producerID: 2, epoch: 1, baseSeq: 9}.with(c.codec), rec{Key: []byte("k"), Value: []byte("v")})
	}
	batches["helper-snappy-xerial"] = makeBatchRaw(plain.with(CodecSnappy), len(sampleRecs()), xerialFrame(appendRecords(nil, sampleRecs()...), 64))

	write := func(fuzzer, name string, values ...any) {
		var sb strings.Builder
		sb.WriteString("go test fuzz v1\n")
		for _, v := range values {
			switch v := v.(type) {
			case []byte:
				fmt.Fprintf(&sb, "[]byte(%q)\n", v)
			case int32:
				fmt.Fprintf(&sb, "int32(%d)\n", v)
			case byte:
				fmt.Fprintf(&sb, "byte(%d)\n", v)
			}
		}
		dir := filepath.Join("testdata", "fuzz", fuzzer)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d := NewDecompressor(16 << 20)
	for name, batch := range batches {
		b, err := ReadBatch(batch)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		raw, err := d.Decompress(nil, b.Codec(), b.Records)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		write("FuzzReadBatch", name, batch)
		write("FuzzRecords", name, raw, b.NumRecords)
		if b.Codec() != CodecNone {
			write("FuzzDecompress", name, byte(b.Codec()), b.Records)
		}
	}
	write("FuzzRecords", "iterator-table", cat(withLength(rec0, 0), withLength(rec1, 0), withLength(rec2, 0)), int32(3))
	write("FuzzDecompress", "zstd-java-window-raw-block", byte(CodecZstd), zstdRawBlock(zstdFrameHeader(-1, 21), []byte("hello")))
	write("FuzzDecompress", "zstd-rle-blocks", byte(CodecZstd), zstdRLEBlocks(zstdFrameHeader(-1, 21), 3, 'x'))
	write("FuzzDecompress", "xerial-spec-two-blocks", byte(CodecSnappy), xerialFrame([]byte("hello, world"), 7))
}
