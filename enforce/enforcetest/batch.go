package enforcetest

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/schemaproxy/schemaproxy/protocol"
)

// Rec is one record for Batch. nil Key or Value is null.
type Rec struct {
	Key, Value []byte
	Headers    []protocol.Header
}

// Batch returns a valid magic-2 record batch holding recs, its records
// compressed with codec (protocol.CodecNone..CodecZstd), as a producer
// sends it: base offset 0, no producer ID, CRC-32C over bytes 21 onward.
func Batch(codec int, recs ...Rec) []byte {
	var records []byte
	for i, r := range recs {
		records = AppendRecord(records, i, r.Key, r.Value, r.Headers...)
	}
	return BatchOf(codec, len(recs), records)
}

// BatchOf is Batch for a records section already encoded (AppendRecord),
// holding n records: the header says n records and a last offset delta of
// n-1, whatever offset deltas the records carry.
func BatchOf(codec, n int, records []byte) []byte {
	records = compress(codec, records)
	b := make([]byte, protocol.BatchHeaderLen, protocol.BatchHeaderLen+len(records))
	binary.BigEndian.PutUint64(b[0:], 0)                       // base offset
	binary.BigEndian.PutUint32(b[8:], uint32(49+len(records))) // batch length
	binary.BigEndian.PutUint32(b[12:], 0xffffffff)             // partition leader epoch
	b[16] = 2                                                  // magic
	binary.BigEndian.PutUint16(b[21:], uint16(codec))          // attributes
	binary.BigEndian.PutUint32(b[23:], uint32(n-1))            // last offset delta
	binary.BigEndian.PutUint64(b[43:], 0xffffffffffffffff)     // producer id -1
	binary.BigEndian.PutUint16(b[51:], 0xffff)                 // producer epoch -1
	binary.BigEndian.PutUint32(b[53:], 0xffffffff)             // base sequence -1
	binary.BigEndian.PutUint32(b[57:], uint32(n))              // record count
	b = append(b, records...)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func compress(codec int, src []byte) []byte {
	var buf bytes.Buffer
	switch codec {
	case protocol.CodecNone:
		return src
	case protocol.CodecGzip:
		w := gzip.NewWriter(&buf)
		w.Write(src)
		w.Close()
	case protocol.CodecSnappy:
		return s2.EncodeSnappy(nil, src)
	case protocol.CodecLZ4:
		w := lz4.NewWriter(&buf)
		w.Write(src)
		w.Close()
	case protocol.CodecZstd:
		w, _ := zstd.NewWriter(&buf)
		w.Write(src)
		w.Close()
	default:
		panic("enforcetest: unknown codec")
	}
	return buf.Bytes()
}
