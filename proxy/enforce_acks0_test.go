package proxy_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// waitEnd polls kfake, bypassing the proxy, until topic/partition's end
// offset is want.
func waitEnd(t testing.TB, e *proxytest.Env, topic string, partition int32, want int64) {
	t.Helper()
	adm := kadm.NewClient(directClient(t, e))
	ctx := waitCtx(t)
	proxytest.Eventually(t, 10*time.Second, func() error {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return err
		}
		o, _ := ends.Lookup(topic, partition)
		if o.Offset != want {
			return fmt.Errorf("%s/%d end offset %d, want %d", topic, partition, o.Offset, want)
		}
		return nil
	})
}

// acks=0 leaves no way to report a rejection: the proxy forwards the
// partitions that pass, then closes the connection as a broker does, and
// counts connection_errors_total{reason="acks0_rejected"} (FR-03). An
// acks=0 request that passes keeps the connection open.
func TestEnforceAcksZeroRaw(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	id := reg.Avro(t, "z-value", orderAvro).ID
	e := enforced(t, reg, "", kfake.NumBrokers(1), kfake.SeedTopics(2, "z"))

	// All valid: forwarded, nothing answered, the connection stays open.
	raw := leaderRaw(t, e, "z")
	raw.send(rawProduce(9, 0, part{"z", 0, valueBatch(framed(id, "ok-0"))}, part{"z", 1, valueBatch(framed(id, "ok-1"))}))
	if av := raw.roundTrip(apiVersionsRequest(3)); av == nil {
		t.Fatal("no ApiVersions answer after a valid acks=0 produce")
	}
	waitEnd(t, e, "z", 0, 1)
	waitEnd(t, e, "z", 1, 1)
	if got := connErrors(e.Metrics, metrics.ReasonAcks0Rejected); got != 0 {
		t.Errorf("acks0_rejected = %v after valid acks=0 produces, want 0", got)
	}

	// One partition invalid: the other is forwarded, then the connection
	// is closed without a response.
	for i, v := range []int16{7, 12} {
		raw := leaderRaw(t, e, "z")
		raw.send(rawProduce(v, 0,
			part{"z", 0, valueBatch(framed(id, fmt.Sprint("v", v)))},
			part{"z", 1, valueBatch(framed(id, fmt.Sprint("w", v)), framed(id+1000, fmt.Sprint("bad", v)))}))
		expectClosed(t, raw.c)
		waitEnd(t, e, "z", 0, int64(2+i))
		proxytest.Eventually(t, 5*time.Second, func() error {
			if got := connErrors(e.Metrics, metrics.ReasonAcks0Rejected); got != float64(i+1) {
				return fmt.Errorf("acks0_rejected = %v, want %d", got, i+1)
			}
			return nil
		})
	}
	wantLanded(t, e, "z", 0, "ok-0", "v7", "v12")
	wantLanded(t, e, "z", 1, "ok-1")
}

// kgo with acks=0 (and so without idempotence) producing a mix: what is
// valid and written before the bad batch lands, the invalid never does,
// and the client recovers after the proxy closes its connection.
func TestEnforceAcksZeroKgo(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	id := reg.Avro(t, "nz-value", orderAvro).ID
	e := enforced(t, reg, "", kfake.SeedTopics(2, "nz"))
	ctx := waitCtx(t)

	cl := e.Client(t, kgo.DefaultProduceTopic("nz"), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	produce := func(p int32, tag string, val []byte) {
		cl.Produce(ctx, &kgo.Record{Partition: p, Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("acks=0 produce of %s: %v", tag, err)
			}
		})
	}

	// Valid only: everything lands.
	for i := range 40 {
		produce(int32(i%2), fmt.Sprint("a", i), framed(id, fmt.Sprint("a", i)))
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitEnd(t, e, "nz", 0, 20)
	waitEnd(t, e, "nz", 1, 20)

	// A mix, the invalid ones in partition 1 only.
	for i := range 40 {
		val := framed(id, fmt.Sprint("m", i))
		if i%10 == 3 {
			val = framed(id+1000, fmt.Sprint("bad", i))
		}
		produce(int32(i%2), fmt.Sprint("m", i), val)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	proxytest.Eventually(t, 10*time.Second, func() error {
		if got := connErrors(e.Metrics, metrics.ReasonAcks0Rejected); got < 1 {
			return fmt.Errorf("acks0_rejected = %v, want at least 1", got)
		}
		return nil
	})

	// A sentinel through an acks=all client: once it has landed, anything
	// the proxy forwarded before closing has been appended too.
	sure := e.Client(t, kgo.DefaultProduceTopic("nz"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(2) {
		if err := produceSync(t, sure, &kgo.Record{Partition: p, Value: framed(id, fmt.Sprint("s", p))}); err != nil {
			t.Fatalf("sentinel: %v", err)
		}
	}

	for p := range int32(2) {
		seen := map[string]bool{}
		tags := landedTags(t, e, "nz", p)
		for _, tag := range tags {
			if strings.HasPrefix(tag, "bad") {
				t.Errorf("invalid record %s landed in partition %d", tag, p)
			}
			if seen[tag] {
				t.Errorf("%s landed twice in partition %d", tag, p)
			}
			seen[tag] = true
		}
		for i := int(p); i < 40; i += 2 {
			if !seen[fmt.Sprint("a", i)] {
				t.Errorf("valid record a%d of the valid-only phase is missing from partition %d", i, p)
			}
		}
		if !seen[fmt.Sprint("s", p)] {
			t.Errorf("sentinel missing from partition %d", p)
		}
	}
	// The acks=0 client recovers: it reconnects after the close. A write
	// into the closed connection can still vanish, as with a broker, so
	// produce until one record lands.
	n := 0
	proxytest.Eventually(t, 10*time.Second, func() error {
		n++
		tag := fmt.Sprint("after", n)
		produce(0, tag, framed(id, tag))
		if err := cl.Flush(ctx); err != nil {
			return err
		}
		for _, got := range landedTags(t, e, "nz", 0) {
			if strings.HasPrefix(got, "after") {
				return nil
			}
		}
		return fmt.Errorf("none of %d records produced after the close has landed", n)
	})
}

// A rejected acks=0 request closes the connection only after the answers
// owed for the requests before it: a broker reads one request at a time,
// so those were sent before it even read the acks=0 one (FR-02, FR-03).
// Losing them would make a client retry a produce that was written.
// Producers with acks set per topic (librdkafka's request.required.acks
// is a topic property) mix both on one connection.
func TestEnforceAcksZeroRejectAfterPending(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	id := reg.Avro(t, "zp-value", orderAvro).ID
	e := enforced(t, reg, "", kfake.NumBrokers(1), kfake.SeedTopics(1, "zp"))

	release := make(chan struct{})
	var held atomic.Bool
	e.Cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if !held.Swap(true) {
			e.Cluster.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)

	raw := leaderRaw(t, e, "zp")
	first, c1 := raw.frame(rawProduce(9, -1, part{"zp", 0, valueBatch(framed(id, "acked"))}))
	second, c2 := raw.frame(metadataRequest(12, "zp"))
	third, _ := raw.frame(rawProduce(9, 0, part{"zp", 0, valueBatch(framed(id+1000, "bad"))}))
	raw.write(append(append(first, second...), third...))

	proxytest.Eventually(t, 10*time.Second, func() error {
		if got := connErrors(e.Metrics, metrics.ReasonAcks0Rejected); got != 1 {
			return fmt.Errorf("acks0_rejected = %v, want 1", got)
		}
		return nil
	})
	unblock()

	if p := onlyPartition(t, raw.read(c1)); p.ErrorCode != 0 {
		t.Errorf("produce before the rejected acks=0 one: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if m := raw.read(c2).(*kmsg.MetadataResponse); len(m.Topics) != 1 {
		t.Errorf("metadata before the rejected acks=0 produce: %d topics, want 1", len(m.Topics))
	}
	expectClosed(t, raw.c)
	wantLanded(t, e, "zp", 0, "acked")
}
