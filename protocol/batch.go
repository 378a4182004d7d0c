package protocol

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kbin"
)

// RecordBatch v2 (magic 2) layout; offsets from the start of the batch.
const (
	batchLengthOffset   = 8
	batchMagicOffset    = 16
	batchCRCOffset      = 17
	batchAttrOffset     = 21 // CRC-32C covers from here to the end
	batchLastDelta      = 23
	batchProducerID     = 43
	batchBaseSequence   = 53
	batchCountOffset    = 57
	BatchHeaderLen      = 61 // bytes before the first record
	batchLogOverhead    = 12 // baseOffset + batchLength
	attrCompressionMask = 0x07
	attrTimestampType   = 0x08
	attrTransactional   = 0x10
	attrControl         = 0x20
)

// Compression codecs, the low three attribute bits.
const (
	CodecNone   = 0
	CodecGzip   = 1
	CodecSnappy = 2
	CodecLZ4    = 3
	CodecZstd   = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Batch is a checked magic-2 record batch. Its slices alias the input.
type Batch struct {
	Raw           []byte // the whole batch, exactly as received
	Attributes    int16
	LastDelta     int32
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	NumRecords    int32
	Records       []byte // the records section, compressed if Codec() != CodecNone
}

// Codec returns the compression codec.
func (b *Batch) Codec() int { return int(b.Attributes & attrCompressionMask) }

// Transactional reports the transactional attribute bit.
func (b *Batch) Transactional() bool { return b.Attributes&attrTransactional != 0 }

// ReadBatch checks that records, the Records field of one Produce
// partition, holds exactly one magic-2 record batch and returns it. The
// checks are those a broker makes of a client's batch before it appends
// (Kafka's LogValidator), so a batch ReadBatch accepts is not rejected by
// the broker for its framing: base offset 0, lengths consistent and
// nothing trailing (a second batch is refused: Produce v3+ allows one per
// partition), magic 2, CRC-32C, a known codec, no control batch, a record
// count that matches lastOffsetDelta, and a sequence for every idempotent
// batch. The records are checked by Records. It never allocates.
func ReadBatch(records []byte) (Batch, error) {
	var b Batch
	if len(records) < BatchHeaderLen {
		return b, &BatchError{Reason: ReasonCorrupt, Index: -1, Msg: fmt.Sprintf("batch of %d bytes is shorter than the %d-byte header", len(records), BatchHeaderLen)}
	}
	if base := int64(binary.BigEndian.Uint64(records)); base != 0 {
		return b, &BatchError{Reason: ReasonInvalid, Index: -1, Msg: fmt.Sprintf("base offset %d, want 0", base)}
	}
	if magic := records[batchMagicOffset]; magic != 2 {
		return b, &BatchError{Reason: ReasonInvalid, Index: -1, Msg: fmt.Sprintf("record batch magic %d: only magic 2 (Kafka 0.11+) is accepted", magic)}
	}
	length := int64(int32(binary.BigEndian.Uint32(records[batchLengthOffset:])))
	total := length + batchLogOverhead
	switch {
	case total < BatchHeaderLen || total > int64(len(records)):
		return b, &BatchError{Reason: ReasonCorrupt, Index: -1, Msg: fmt.Sprintf("batch length %d does not fit the %d bytes sent", length, len(records))}
	case total < int64(len(records)):
		return b, &BatchError{Reason: ReasonInvalid, Index: -1, Msg: fmt.Sprintf("%d bytes follow the batch: Produce v3+ carries exactly one batch per partition", int64(len(records))-total)}
	}
	want := binary.BigEndian.Uint32(records[batchCRCOffset:])
	if got := crc32.Checksum(records[batchAttrOffset:], castagnoli); got != want {
		return b, &BatchError{Reason: ReasonCorrupt, Index: -1, Msg: fmt.Sprintf("CRC-32C %08x, batch says %08x", got, want)}
	}
	b.Raw = records
	b.Attributes = int16(binary.BigEndian.Uint16(records[batchAttrOffset:]))
	b.LastDelta = int32(binary.BigEndian.Uint32(records[batchLastDelta:]))
	b.ProducerID = int64(binary.BigEndian.Uint64(records[batchProducerID:]))
	b.ProducerEpoch = int16(binary.BigEndian.Uint16(records[batchProducerID+8:]))
	b.BaseSequence = int32(binary.BigEndian.Uint32(records[batchBaseSequence:]))
	b.NumRecords = int32(binary.BigEndian.Uint32(records[batchCountOffset:]))
	b.Records = records[BatchHeaderLen:]
	switch {
	case b.Codec() > CodecZstd:
		return b, &BatchError{Reason: ReasonInvalid, Index: -1, Msg: fmt.Sprintf("unknown compression codec %d", b.Codec())}
	case b.Attributes&attrControl != 0:
		return b, &BatchError{Reason: ReasonInvalid, Index: -1, Msg: "clients may not write control batches"}
	case b.NumRecords <= 0:
		return b, &BatchError{Reason: ReasonInvalid, Index: -1, Msg: fmt.Sprintf("record count %d", b.NumRecords)}
	case int64(b.LastDelta)+1 != int64(b.NumRecords):
		return b, &BatchError{Reason: ReasonInvalid, Index: -1, Msg: fmt.Sprintf("last offset delta %d does not match %d records", b.LastDelta, b.NumRecords)}
	case b.ProducerID >= 0 && b.BaseSequence < 0:
		return b, &BatchError{Reason: ReasonInvalid, Index: -1, Msg: fmt.Sprintf("producer id %d with base sequence %d", b.ProducerID, b.BaseSequence)}
	}
	return b, nil
}

// Record is one record of a batch. Its slices alias the decompressed
// records section; Key and Value are nil for null.
type Record struct {
	Index      int // position in the batch, the Produce response's batch_index
	Attributes int8
	Key        []byte
	Value      []byte
	NumHeaders int
	headers    []byte // the encoded headers
}

// Header is one record header. Value is nil for null.
type Header struct {
	Key   []byte
	Value []byte
}

// EachHeader calls fn for each header in order, stopping at the first
// false. The headers were checked by the iterator.
func (r *Record) EachHeader(fn func(Header) bool) {
	b := r.headers
	for range r.NumHeaders {
		var h Header
		h.Key, b, _ = readVarBytes(b)
		h.Value, b, _ = readVarBytes(b)
		if !fn(h) {
			return
		}
	}
}

// Records iterates over an uncompressed records section holding want
// records, checking every declared length: each record's fields must fill
// exactly its length, the count must match, and nothing may trail. Each
// record's offset delta must be its index (0, 1, 2, ...), which with
// ReadBatch's lastOffsetDelta check makes the deltas exactly 0 to count-1.
// A record's error names it in BatchError.Index.
type Records struct {
	src   []byte
	want  int32
	index int
	err   error
}

// NewRecords returns an iterator over records, which must hold want records.
func NewRecords(records []byte, want int32) *Records {
	return &Records{src: records, want: want}
}

// Next decodes the next record into r and reports whether there was one;
// after it returns false, Err says why.
func (it *Records) Next(r *Record) bool {
	if it.err != nil {
		return false
	}
	if it.want < 0 {
		// Not a count: refuse before yielding records a caller may act on.
		it.err = &BatchError{Reason: ReasonCorrupt, Index: -1, Msg: fmt.Sprintf("batch declares %d records", it.want)}
		return false
	}
	if it.index == int(it.want) {
		if len(it.src) != 0 {
			it.err = &BatchError{Reason: ReasonCorrupt, Index: -1, Msg: fmt.Sprintf("%d bytes follow the last of %d records", len(it.src), it.want)}
		}
		return false
	}
	if len(it.src) == 0 {
		it.err = &BatchError{Reason: ReasonCorrupt, Index: -1, Msg: fmt.Sprintf("batch declares %d records but holds %d", it.want, it.index)}
		return false
	}
	length, n := kbin.Varint(it.src)
	if n <= 0 || length < 1 || int(length) > len(it.src)-n {
		it.err = &BatchError{Reason: ReasonCorrupt, Index: it.index, Msg: fmt.Sprintf("length %d does not fit the %d bytes left", length, len(it.src)-max(n, 0))}
		return false
	}
	body := it.src[n : n+int(length)]
	it.src = it.src[n+int(length):]
	delta, err := parseRecord(body, r)
	if err != nil {
		it.err = &BatchError{Reason: ReasonCorrupt, Index: it.index, Msg: err.Error()}
		return false
	}
	if int(delta) != it.index {
		// Kafka does not refuse this, but stores it badly: an uncompressed
		// batch gets its offsets in place (LogValidator.
		// assignOffsetsNonCompressed moves the base offset and never reads
		// the records), and a reader puts each record at base offset +
		// offset delta (DefaultRecord.readFrom), so a wrong delta skips
		// another producer's records, repeats one, or points past the
		// batch. A compressed batch is rebuilt by the broker instead
		// (validateMessagesAndAssignOffsetsCompressed, "older clients do
		// not implement the V1 internal offsets correctly"), which a proxy
		// forwarding bytes unchanged cannot do. Every magic-2 client
		// writes 0, 1, 2, ...
		it.err = &BatchError{Reason: ReasonInvalid, Index: it.index, Msg: fmt.Sprintf(
			"offset delta %d, want %d: record i of a batch must carry offset delta i (consumers read each record at base offset + offset delta)",
			delta, it.index)}
		return false
	}
	r.Index = it.index
	it.index++
	return true
}

// Err returns the error that stopped the iteration, or nil if every
// declared record was read and nothing trailed.
func (it *Records) Err() error { return it.err }

// parseRecord decodes one record body into r and returns its offset delta.
func parseRecord(b []byte, r *Record) (offsetDelta int32, err error) {
	if len(b) < 1 {
		return 0, fmt.Errorf("no attributes")
	}
	r.Attributes = int8(b[0])
	b = b[1:]
	// Varints are read as Kafka reads them (ByteUtils.readVarint,
	// readVarlong): an int32 field in at most 5 bytes, an int64 in 10.
	// binary.Varint would take 10 bytes for any field, and records the
	// broker refuses as invalid.
	_, n := kbin.Varlong(b) // timestampDelta
	if n <= 0 {
		return 0, fmt.Errorf("bad timestamp delta")
	}
	b = b[n:]
	if offsetDelta, n = kbin.Varint(b); n <= 0 {
		return 0, fmt.Errorf("bad offset delta")
	}
	b = b[n:]
	if r.Key, b, err = readVarBytes(b); err != nil {
		return 0, fmt.Errorf("key: %w", err)
	}
	if r.Value, b, err = readVarBytes(b); err != nil {
		return 0, fmt.Errorf("value: %w", err)
	}
	count, n := kbin.Varint(b)
	if n <= 0 || count < 0 || int(count) > len(b) {
		return 0, fmt.Errorf("header count %d is invalid", count)
	}
	b = b[n:]
	r.headers = b
	r.NumHeaders = int(count)
	for i := range count {
		var k []byte
		if k, b, err = readVarBytes(b); err != nil || k == nil {
			return 0, fmt.Errorf("header %d key: %v", i, orNull(err))
		}
		if _, b, err = readVarBytes(b); err != nil {
			return 0, fmt.Errorf("header %d value: %w", i, err)
		}
	}
	if len(b) != 0 {
		return 0, fmt.Errorf("%d bytes follow the headers inside the record", len(b))
	}
	return offsetDelta, nil
}

func orNull(err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("null")
}

// readVarBytes reads a zigzag-varint length (-1 for null) and that many bytes.
func readVarBytes(b []byte) (val, rest []byte, err error) {
	l, n := kbin.Varint(b)
	if n <= 0 {
		return nil, nil, fmt.Errorf("bad length varint")
	}
	b = b[n:]
	switch {
	case l == -1:
		return nil, b, nil
	case l < -1 || int(l) > len(b):
		return nil, nil, fmt.Errorf("length %d does not fit the %d bytes left", l, len(b))
	}
	return b[:l:l], b[l:], nil
}
