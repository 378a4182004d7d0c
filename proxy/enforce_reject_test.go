package proxy_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/protocol"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// Every kind of invalid record is refused with INVALID_RECORD and nothing
// of its batch reaches the broker. kgo sees kerr.InvalidRecord; a raw
// client on Produce v8+ gets a partition message naming the topic,
// partition, record, schema id, subject and reason, and the bad record's
// batch_index; below v8 it gets the code alone (PR-03, PR-04).
func TestEnforceRejectsInvalidRecords(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	order := reg.Avro(t, "orders-value", orderAvro).ID
	refund := reg.Avro(t, "refunds-value", refundAvro).ID
	const unknown = 424242

	topics := []string{"bad-magic", "bad-unknown", "bad-subject", "bad-null", "bad-crc", "bad-twobatch", "bad-codec", "good-codec"}
	for _, tp := range topics {
		reg.Avro(t, tp+"-value", orderAvro) // same text: the same id as orders-value
	}
	e := enforced(t, reg, `
rules:
  - topics: ["bad-null"]
    value: {mode: id, allow_null: false}
`, kfake.SeedTopics(1, topics...))

	// Record-level faults, each at index 2 of a four-record batch whose
	// other records are valid.
	recordCases := []struct {
		topic string
		bad   []byte
		want  []string // beyond topic, partition and record index
	}{
		{"bad-magic", []byte("plain text, no schema id"), []string{"no_schema_id", "not a schema registry magic byte"}},
		{"bad-unknown", framed(unknown, "u"), []string{"unknown_schema_id", "schema id " + strconv.Itoa(unknown)}},
		{"bad-subject", framed(refund, "s"), []string{"wrong_subject", "schema id " + strconv.Itoa(refund), "subject bad-subject-value"}},
		{"bad-null", nil, []string{"null_not_allowed"}},
	}
	for _, c := range recordCases {
		t.Run(c.topic, func(t *testing.T) {
			t.Parallel()
			cl := e.Client(t, kgo.DefaultProduceTopic(c.topic))
			err := produceSync(t, cl, &kgo.Record{Value: c.bad})
			if !isInvalidRecord(err) {
				t.Errorf("kgo: produce error %v, want INVALID_RECORD", err)
			}

			raw := leaderRaw(t, e, c.topic)
			for _, v := range []int16{3, 7, 8, 9, 12} {
				batch := valueBatch(framed(order, "a"), framed(order, "b"), c.bad, framed(order, "d"))
				p := onlyPartition(t, raw.roundTrip(rawProduce(v, -1, part{c.topic, 0, batch})))
				wantRejected(t, v, p, []int32{2}, append([]string{c.topic + "[0]", "record 2"}, c.want...)...)
			}
			wantLanded(t, e, c.topic, 0)
		})
	}

	// Batch-level faults, which only a raw client can send: no record is
	// at fault, so there is no batch_index.
	t.Run("bad-crc", func(t *testing.T) {
		t.Parallel()
		raw := leaderRaw(t, e, "bad-crc")
		for _, v := range []int16{7, 9, 12} {
			batch := valueBatch(framed(order, "a"), framed(order, "b"))
			batch[17] ^= 0x40 // the first byte of the CRC-32C
			p := onlyPartition(t, raw.roundTrip(rawProduce(v, -1, part{"bad-crc", 0, batch})))
			wantRejected(t, v, p, nil, "bad-crc[0]", "batch_corrupt", "CRC")
		}
		wantLanded(t, e, "bad-crc", 0)
	})
	t.Run("bad-twobatch", func(t *testing.T) {
		t.Parallel()
		raw := leaderRaw(t, e, "bad-twobatch")
		for _, v := range []int16{7, 9, 12} {
			// Both batches are valid on their own: the second one is
			// smuggled past a check that looks at the first only (RB-03).
			two := append(valueBatch(framed(order, "a")), valueBatch(framed(order, "b"))...)
			p := onlyPartition(t, raw.roundTrip(rawProduce(v, -1, part{"bad-twobatch", 0, two})))
			wantRejected(t, v, p, nil, "bad-twobatch[0]", "batch_invalid", "exactly one batch")
		}
		wantLanded(t, e, "bad-twobatch", 0)
	})

	// One bad record in a compressed batch, for every codec: kgo's own
	// batches (all five records in one batch, so all five fail) and raw
	// batches, whose record error must point inside the compressed records.
	// kgo sends a batch uncompressed when compressing does not shrink it,
	// so the values are made compressible, and the same batch without the
	// bad record, to another topic, shows the codec kgo used.
	t.Run("bad-codec", func(t *testing.T) {
		t.Parallel()
		ctx := waitCtx(t)
		codecs := []struct {
			name string
			kgo  kgo.CompressionCodec
			wire int
		}{
			{"none", kgo.NoCompression(), protocol.CodecNone},
			{"gzip", kgo.GzipCompression(), protocol.CodecGzip},
			{"snappy", kgo.SnappyCompression(), protocol.CodecSnappy},
			{"lz4", kgo.Lz4Compression(), protocol.CodecLZ4},
			{"zstd", kgo.ZstdCompression(), protocol.CodecZstd},
		}
		pad := strings.Repeat("z", 200)
		raw := leaderRaw(t, e, "bad-codec")
		for _, c := range codecs {
			var used codecSeen
			cl := e.Client(t, kgo.ProducerBatchCompression(c.kgo), kgo.ManualFlushing(), kgo.WithHooks(&used))
			errs := make([]error, 5)
			for i := range 5 {
				good := framed(order, fmt.Sprint(c.name, i, pad))
				cl.Produce(ctx, &kgo.Record{Topic: "good-codec", Value: good}, func(_ *kgo.Record, err error) {
					if err != nil {
						t.Errorf("%s: valid record %d: %v", c.name, i, err)
					}
				})
				if i == 3 {
					good = framed(unknown, c.name+"-bad"+pad)
				}
				cl.Produce(ctx, &kgo.Record{Topic: "bad-codec", Value: good}, func(_ *kgo.Record, err error) { errs[i] = err })
			}
			if err := cl.Flush(ctx); err != nil {
				t.Fatalf("%s: flush: %v", c.name, err)
			}
			// The hook can run just after the promises.
			proxytest.Eventually(t, 5*time.Second, func() error {
				if got := used.codecs(); len(got) != 1 || got[0] != c.wire {
					return fmt.Errorf("%s: kgo wrote batches with codecs %v, want [%d]", c.name, got, c.wire)
				}
				return nil
			})
			for i, err := range errs {
				if !isInvalidRecord(err) {
					t.Errorf("%s: kgo record %d of a batch with a bad record: error %v, want INVALID_RECORD", c.name, i, err)
				}
			}

			recs := make([]enforcetest.Rec, 6)
			for i := range recs {
				recs[i].Value = framed(order, fmt.Sprint(c.name, "raw", i))
			}
			recs[4].Value = []byte("not framed")
			batch := enforcetest.Batch(c.wire, recs...)
			p := onlyPartition(t, raw.roundTrip(rawProduce(9, -1, part{"bad-codec", 0, batch})))
			wantRejected(t, 9, p, []int32{4}, "bad-codec[0]", "record 4", "no_schema_id")
		}
		wantLanded(t, e, "bad-codec", 0)
		if n := len(landed(t, e, "good-codec", 0)); n != 5*len(codecs) {
			t.Errorf("good-codec holds %d records, want %d", n, 5*len(codecs))
		}
	})
}

// codecSeen records the compression codec of every batch a kgo client
// has had acknowledged.
type codecSeen struct {
	mu   sync.Mutex
	seen []int
}

func (c *codecSeen) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.Contains(c.seen, int(m.CompressionType)) {
		c.seen = append(c.seen, int(m.CompressionType))
	}
}

func (c *codecSeen) codecs() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seen)
}

// One bad record among ten rejects its whole batch: none of the ten
// lands, while the same ten without it land in full.
func TestEnforceOneBadRecordRejectsBatch(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	id := reg.Avro(t, "ten-value", orderAvro).ID
	e := enforced(t, reg, "", kfake.SeedTopics(1, "ten"))
	ctx := waitCtx(t)

	ten := func(prefix string, bad int) [][]byte {
		vals := make([][]byte, 10)
		for i := range vals {
			vals[i] = framed(id, prefix+strconv.Itoa(i))
		}
		if bad >= 0 {
			vals[bad] = framed(id+1000, prefix+"bad")
		}
		return vals
	}

	raw := leaderRaw(t, e, "ten")
	p := onlyPartition(t, raw.roundTrip(rawProduce(9, -1, part{"ten", 0, valueBatch(ten("r", 6)...)})))
	wantRejected(t, 9, p, []int32{6}, "ten[0]", "record 6", "unknown_schema_id")
	wantLanded(t, e, "ten", 0)

	// kgo, all ten in one batch (manual flushing).
	cl := e.Client(t, kgo.DefaultProduceTopic("ten"), kgo.ManualFlushing())
	var failed, ok int
	done := func(_ *kgo.Record, err error) {
		switch {
		case err == nil:
			ok++
		case isInvalidRecord(err):
			failed++
		default:
			t.Errorf("produce: %v, want INVALID_RECORD or success", err)
		}
	}
	for _, v := range ten("k", 3) {
		cl.Produce(ctx, &kgo.Record{Value: v}, done)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if failed != 10 || ok != 0 {
		t.Errorf("batch with one bad record: %d failed, %d succeeded, want all 10 failed", failed, ok)
	}
	wantLanded(t, e, "ten", 0)

	for _, v := range ten("g", -1) {
		cl.Produce(ctx, &kgo.Record{Value: v}, done)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if ok != 10 {
		t.Errorf("valid batch after the bad one: %d of 10 succeeded", ok)
	}
	wantLanded(t, e, "ten", 0, "g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7", "g8", "g9")
}

// Every failing record of a rejected batch is listed in record_errors with
// its own reason, as a broker's record validation lists them (PR-04), up
// to enforce.MaxRecordErrors; the partition message gives the first.
func TestEnforceEveryFailingRecordListed(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	id := reg.Avro(t, "many-value", orderAvro).ID
	e := enforced(t, reg, "", kfake.SeedTopics(1, "many"))
	raw := leaderRaw(t, e, "many")

	vals := [][]byte{framed(id, "0"), []byte("no id"), framed(id, "2"), framed(id+1000, "3"), framed(id, "4")}
	p := onlyPartition(t, raw.roundTrip(rawProduce(9, -1, part{"many", 0, valueBatch(vals...)})))
	wantRejected(t, 9, p, []int32{1, 3}, "many[0]", "record 1", "no_schema_id", "1 more record(s) failed")
	if len(p.ErrorRecords) == 2 {
		if m := *p.ErrorRecords[1].ErrorMessage; !strings.Contains(m, fmt.Sprintf("schema id %d is not registered", id+1000)) {
			t.Errorf("record 3's own message %q does not give its reason", m)
		}
	}

	// More failing records than the cap: the first MaxRecordErrors are listed.
	bad := make([][]byte, enforce.MaxRecordErrors+50)
	want := make([]int32, enforce.MaxRecordErrors)
	for i := range bad {
		bad[i] = []byte("no id " + strconv.Itoa(i))
		if i < len(want) {
			want[i] = int32(i)
		}
	}
	p = onlyPartition(t, raw.roundTrip(rawProduce(12, -1, part{"many", 0, valueBatch(bad...)})))
	wantRejected(t, 12, p, want, "many[0]", "record 0")
	wantLanded(t, e, "many", 0)
}

// A schema-valid record whose offset delta is not its index is refused
// with INVALID_RECORD naming it, and nothing of its batch lands; a valid
// partition of the same request lands. Kafka would store such a batch of
// a raw client as sent (it assigns an uncompressed batch's offsets in
// place), and consumers would then read the record at another record's
// offset.
func TestEnforceRejectsBadOffsetDelta(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	id := reg.Avro(t, "deltas-value", orderAvro).ID
	e := enforced(t, reg, "", kfake.NumBrokers(1), kfake.SeedTopics(2, "deltas"))
	raw := leaderRaw(t, e, "deltas")

	// bad encodes one schema-valid record per delta, tagged by version.
	bad := func(codec int, v int16, deltas ...int) []byte {
		var recs []byte
		for i, d := range deltas {
			recs = enforcetest.AppendRecord(recs, d, nil, framed(id, fmt.Sprintf("bad-v%d-%d", v, i)))
		}
		return enforcetest.BatchOf(codec, len(deltas), recs)
	}
	tests := []struct {
		version int16
		codec   int
		deltas  []int
		failing []int32 // record_errors batch_index (v8+)
	}{
		{9, protocol.CodecNone, []int{3}, []int32{0}},             // one record at delta 3
		{12, protocol.CodecNone, []int{0, 100000, 2}, []int32{1}}, // record 1 far past the batch
		{12, protocol.CodecZstd, []int{0, 1, 1}, []int32{2}},      // a duplicate, compressed
		{7, protocol.CodecNone, []int{1, 2, 3}, nil},              // starting at 1; below v8 only the code
	}
	var want []string
	for i, tt := range tests {
		ok := fmt.Sprintf("ok-%d", i)
		resp := raw.roundTrip(rawProduce(tt.version, -1,
			part{"deltas", 0, bad(tt.codec, tt.version, tt.deltas...)},
			part{"deltas", 1, valueBatch(framed(id, ok))}))
		ps := produced(t, resp)["deltas"]
		if len(ps) != 2 {
			t.Fatalf("v%d: got %d partitions answered, want 2", tt.version, len(ps))
		}
		wantRejected(t, tt.version, ps[0], tt.failing, "deltas[0]", "offset delta", "batch_invalid")
		if p := ps[1]; p.ErrorCode != 0 {
			t.Errorf("v%d: valid partition 1: error code %d, want 0", tt.version, p.ErrorCode)
		}
		want = append(want, ok)
	}
	wantLanded(t, e, "deltas", 0)
	wantLanded(t, e, "deltas", 1, want...)
}
