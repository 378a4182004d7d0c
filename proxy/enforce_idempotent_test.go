package proxy_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// Sizes for the pipelined produce: 100 records, the 51st invalid, in
// batches of at most maxBatchBytes, so that several batches are in flight
// when the bad one is rejected.
const (
	pipelinedRecords = 100
	badRecord        = 50
	maxBatchBytes    = 512 // kgo's minimum
	// minRecordBytes bounds a record's encoded size from below (length,
	// attributes, deltas, a 40-byte key, a framed value of 9+ bytes,
	// headers), so a batch of maxBatchBytes holds at most
	// (512-61)/55 = 8 records.
	minRecordBytes    = 55
	maxRecordsInBatch = (maxBatchBytes - 61) / minRecordBytes
)

// padKey makes records big enough for maxRecordsInBatch to hold; keys are
// not checked by the default policy.
var padKey = []byte(strings.Repeat("k", 40))

// produceHundred produces pipelinedRecords records tagged prefix+i to
// partition 0, record badRecord with an unregistered id, all buffered
// before the first is sent, and returns each record's error. It checks
// the outcome IDEM-02 predicts for kgo: a prefix of whole batches before
// the bad one succeeds; the bad batch and every record queued behind it
// fail with INVALID_RECORD (failAllRecords); no other error surfaces, in
// particular no OUT_OF_ORDER_SEQUENCE_NUMBER from the batches the broker
// saw after the gap. It returns how many succeeded.
func produceHundred(ctx context.Context, t *testing.T, cl *kgo.Client, id int, prefix string) int {
	t.Helper()
	errs := make([]error, pipelinedRecords)
	for i := range errs {
		val := framed(id, prefix+itoa(i))
		if i == badRecord {
			val = framed(id+1000, prefix+"bad")
		}
		cl.Produce(ctx, &kgo.Record{Key: padKey, Value: val}, func(_ *kgo.Record, err error) { errs[i] = err })
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	ok := 0
	for ok < len(errs) && errs[ok] == nil {
		ok++
	}
	for i, err := range errs[ok:] {
		if !isInvalidRecord(err) {
			t.Errorf("record %d: %v, want INVALID_RECORD (the first %d succeeded, so every later one fails with the bad batch)", ok+i, err, ok)
		}
		if errors.Is(err, kerr.OutOfOrderSequenceNumber) {
			t.Errorf("record %d surfaced OUT_OF_ORDER_SEQUENCE_NUMBER", ok+i)
		}
	}
	if ok > badRecord {
		t.Errorf("%d records succeeded, including the invalid record %d", ok, badRecord)
	}
	if ok <= badRecord-maxRecordsInBatch {
		t.Errorf("only %d records succeeded; the batches before the one holding record %d (at most %d records) should have",
			ok, badRecord, maxRecordsInBatch)
	}
	t.Logf("%d of %d records succeeded before the batch holding record %d", ok, pipelinedRecords, badRecord)
	return ok
}

// An idempotent kgo producer (the default) pipelining batches to one
// partition, one record invalid (IDEM-03 test 1): the batches before the
// bad one land, the bad one and those queued behind it fail with
// INVALID_RECORD, new produces to the partition then succeed, and kfake
// holds exactly the successful records at contiguous offsets, once each.
func TestEnforceIdempotentPipeline(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	id := reg.Avro(t, "idem-value", orderAvro).ID
	e := enforced(t, reg, "", kfake.SeedTopics(1, "idem"))
	ctx := waitCtx(t)

	cl := e.Client(t, kgo.DefaultProduceTopic("idem"), kgo.ManualFlushing(),
		kgo.ProducerBatchMaxBytes(maxBatchBytes), kgo.MetadataMinAge(50*time.Millisecond))
	ok := produceHundred(ctx, t, cl, id, "i")

	var want []string
	for i := range ok {
		want = append(want, "i"+itoa(i))
	}
	for i := range 20 {
		tag := "next" + itoa(i)
		want = append(want, tag)
		cl.Produce(ctx, &kgo.Record{Value: framed(id, tag)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce %s after the rejected batch: %v", tag, err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wantLanded(t, e, "idem", 0, want...)
}

// The same with a transactional producer (IDEM-03 test 2): the rejected
// batch leaves the transaction to be aborted, the abort succeeds, a
// read_committed consumer sees none of it, and the next transaction
// commits.
func TestEnforceTransactionalPipeline(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	id := reg.Avro(t, "etx-value", orderAvro).ID
	e := enforced(t, reg, "", kfake.SeedTopics(1, "etx"))
	ctx := waitCtx(t)

	cl := e.Client(t, kgo.DefaultProduceTopic("etx"), kgo.ManualFlushing(),
		kgo.TransactionalID("enforce-tx"), kgo.TransactionTimeout(10*time.Second),
		kgo.ProducerBatchMaxBytes(maxBatchBytes), kgo.MetadataMinAge(50*time.Millisecond))

	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	ok := produceHundred(ctx, t, cl, id, "t1-")
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatalf("abort after the rejected batch: %v", err)
	}

	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		cl.Produce(ctx, &kgo.Record{Value: framed(id, "t2-"+itoa(i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce t2-%d in the next transaction: %v", i, err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit of the next transaction: %v", err)
	}

	// read_committed: the second transaction only, in order.
	got := consumeUntil(t, e, "etx", kgo.ReadCommitted(), "t2-19")
	if len(got) != 20 {
		t.Errorf("read_committed consumer saw %d records, want the 20 committed: %q", len(got), got)
	}
	for i, tag := range got {
		if want := "t2-" + itoa(i); tag != want {
			t.Errorf("read_committed record %d is %s, want %s", i, tag, want)
		}
	}

	// The aborted transaction's accepted batches did reach the log, and
	// nothing invalid did: read_uncommitted sees exactly the first
	// transaction's successful prefix, then the second transaction.
	all := consumeUntil(t, e, "etx", kgo.ReadUncommitted(), "t2-19")
	if len(all) != ok+20 {
		t.Errorf("read_uncommitted: %d records, want %d (aborted prefix) + 20: %q", len(all), ok, all)
	}
	for i, tag := range all {
		if strings.HasSuffix(tag, "bad") {
			t.Errorf("invalid record %s reached the log", tag)
		}
		if i < ok && tag != "t1-"+itoa(i) {
			t.Errorf("read_uncommitted record %d is %s, want t1-%d", i, tag, i)
		}
	}
}

// consumeUntil reads topic from the start, directly from kfake, until it
// sees the record tagged last, and returns the tags read. Transaction
// markers occupy offsets too, so the end offset cannot tell when to stop.
func consumeUntil(t *testing.T, e *proxytest.Env, topic string, level kgo.IsolationLevel, last string) []string {
	t.Helper()
	ctx := waitCtx(t)
	cons := directClient(t, e, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(level),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var tags []string
	for len(tags) == 0 || tags[len(tags)-1] != last {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %q without reaching %s: %v", tags, last, err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) { tags = append(tags, tagOf(r.Value)) })
	}
	return tags
}
