package proxy_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// Six Produce requests pipelined on one connection, alternating valid and
// invalid, with the first held in the broker until the proxy has read all
// six: the proxy's own answers to the invalid ones wait their turn, and
// every response comes back in order with its correlation ID and code
// (FR-02).
func TestEnforcePipelinedInOrder(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	id := reg.Avro(t, "pipe-value", orderAvro).ID
	e := enforced(t, reg, "", kfake.SeedTopics(1, "pipe"))

	release := make(chan struct{})
	var held atomic.Bool
	e.Cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if !held.Swap(true) {
			e.Cluster.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})

	raw := leaderRaw(t, e, "pipe")
	var pipeline []byte
	var corrs []int32
	var want []string
	for i := range 6 {
		v := int16(7 + i) // both sides of flexible encoding (v9)
		val := framed(id, fmt.Sprint("ok", i))
		if i%2 == 1 {
			val = framed(id+1000, fmt.Sprint("bad", i))
		} else {
			want = append(want, fmt.Sprint("ok", i))
		}
		b, corr := raw.frame(rawProduce(v, -1, part{"pipe", 0, valueBatch(val)}))
		pipeline = append(pipeline, b...)
		corrs = append(corrs, corr)
	}
	raw.write(pipeline)

	proxytest.Eventually(t, 10*time.Second, func() error {
		if got := metricSum(t, e.Metrics, "schemaproxy_local_responses_total", "api", "Produce"); got != 3 {
			return fmt.Errorf("%v local Produce answers, want 3", got)
		}
		return nil
	})
	close(release)

	for i, corr := range corrs {
		p := onlyPartition(t, raw.read(corr))
		v := int16(7 + i)
		if i%2 == 1 {
			wantRejected(t, v, p, []int32{0}, "pipe[0]", "record 0", "unknown_schema_id")
			continue
		}
		if p.ErrorCode != 0 || p.BaseOffset != int64(i/2) {
			t.Errorf("request %d: error %v, base offset %d, want success at %d", i, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, i/2)
		}
	}
	wantLanded(t, e, "pipe", 0, want...)
}

// Many records produced concurrently by kgo to four partitions, two of
// which get some invalid records: every invalid record fails with
// INVALID_RECORD, every record of the clean partitions succeeds, a valid
// record in a tainted partition either succeeds or fails with
// INVALID_RECORD as collateral of its batch (kgo fails a partition's
// buffered records with the batch, IDEM-02), and the broker holds exactly
// the records reported successful, once each, at the offsets reported.
func TestEnforceConcurrentProducePromises(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	id := reg.Avro(t, "conc-value", orderAvro).ID
	e := enforced(t, reg, "", kfake.SeedTopics(4, "conc"))
	ctx := waitCtx(t)

	cl := e.Client(t, kgo.DefaultProduceTopic("conc"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(512), // several batches per partition
		// kgo answers INVALID_RECORD with a local epoch bump; batches of
		// other partitions then in flight at the old epoch get
		// INVALID_PRODUCER_EPOCH and are retried after a metadata
		// refresh, which the default minimum age would hold for 5s.
		kgo.MetadataMinAge(50*time.Millisecond),
	)

	type outcome struct {
		partition int32
		invalid   bool
		offset    int64
		err       error
	}
	var (
		mu       sync.Mutex
		outcomes = map[string]outcome{}
		wg       sync.WaitGroup
	)
	const workers, perWorker = 4, 120
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				tag := fmt.Sprintf("w%d-%d", w, i)
				p := int32(i % 4)
				// Partitions 2 and 3 get a few invalid records late on,
				// so that their first batches are usually clean.
				invalid := p >= 2 && i >= 60 && i%20 == 8+int(p)
				val := framed(id, tag)
				if invalid {
					val = framed(id+1000, tag)
				}
				wg.Add(1)
				cl.Produce(ctx, &kgo.Record{Partition: p, Value: val}, func(r *kgo.Record, err error) {
					defer wg.Done()
					mu.Lock()
					outcomes[tag] = outcome{p, invalid, r.Offset, err}
					mu.Unlock()
				})
			}
		})
	}
	waitGroup(t, &wg, "promises")

	succeeded := map[int32]map[string]int64{}
	var collateral int
	for tag, o := range outcomes {
		switch {
		case o.invalid && o.err == nil:
			t.Errorf("invalid record %s in partition %d succeeded", tag, o.partition)
		case o.invalid && !isInvalidRecord(o.err):
			t.Errorf("invalid record %s: error %v, want INVALID_RECORD", tag, o.err)
		case o.invalid:
		case o.err == nil:
			if succeeded[o.partition] == nil {
				succeeded[o.partition] = map[string]int64{}
			}
			succeeded[o.partition][tag] = o.offset
		case o.partition < 2:
			t.Errorf("valid record %s in clean partition %d failed: %v", tag, o.partition, o.err)
		case !isInvalidRecord(o.err):
			t.Errorf("valid record %s in partition %d: error %v, want success or INVALID_RECORD", tag, o.partition, o.err)
		default:
			collateral++
		}
	}
	if len(outcomes) != workers*perWorker {
		t.Fatalf("%d promises called back, want %d", len(outcomes), workers*perWorker)
	}
	if n := len(succeeded[0]) + len(succeeded[1]); n != workers*perWorker/2 {
		t.Errorf("%d records succeeded in the clean partitions, want %d", n, workers*perWorker/2)
	}
	t.Logf("tainted partitions: %d valid records succeeded, %d failed as collateral of a bad batch",
		len(succeeded[2])+len(succeeded[3]), collateral)

	for p := range int32(4) {
		tags := landedTags(t, e, "conc", p)
		if len(tags) != len(succeeded[p]) {
			t.Errorf("partition %d holds %d records, %d were reported successful", p, len(tags), len(succeeded[p]))
		}
		seen := map[string]bool{}
		for off, tag := range tags {
			want, ok := succeeded[p][tag]
			switch {
			case seen[tag]:
				t.Errorf("partition %d holds %s twice", p, tag)
			case !ok:
				t.Errorf("partition %d offset %d holds %s, which was not reported successful", p, off, tag)
			case want != int64(off):
				t.Errorf("record %s landed at offset %d, reported at %d", tag, off, want)
			}
			seen[tag] = true
		}
	}
}
