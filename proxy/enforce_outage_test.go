package proxy_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/proxy"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// outageEnv is a registry holding schema A and schema B under
// "<topic>-value", and a proxy in front of a one-broker cluster with the
// topic (two partitions) whose cache has seen A only.
type outageEnv struct {
	e     *proxytest.Env
	reg   *enforcetest.Registry
	topic string
	a, b  int
	cl    *kgo.Client
}

func newOutage(t *testing.T, topic, policy string) *outageEnv {
	t.Helper()
	o := &outageEnv{reg: enforcetest.NewRegistry(t), topic: topic}
	o.a = o.reg.Avro(t, topic+"-value", orderAvro).ID
	o.b = o.reg.Avro(t, topic+"-value", orderV2Avro).ID
	o.e = enforced(t, o.reg, policy, kfake.NumBrokers(1), kfake.SeedTopics(2, topic))
	o.cl = o.e.Client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.MetadataMinAge(50*time.Millisecond))
	// Warm the cache with A, then take the registry down.
	if err := produceSync(t, o.cl, &kgo.Record{Value: framed(o.a, "a0")}); err != nil {
		t.Fatalf("produce with schema A before the outage: %v", err)
	}
	o.reg.SetFault(enforcetest.FailWith(500, 50001))
	return o
}

// raw sends one record with schema id to partition 0 on Produce v9
// and returns the partition's answer.
func (o *outageEnv) raw(t *testing.T, id int, tag string) (int16, string) {
	t.Helper()
	raw := leaderRaw(t, o.e, o.topic)
	p := onlyPartition(t, raw.roundTrip(rawProduce(9, -1, part{o.topic, 0, valueBatch(framed(id, tag))})))
	msg := ""
	if p.ErrorMessage != nil {
		msg = *p.ErrorMessage
	}
	return p.ErrorCode, msg
}

// A registry outage is not a verdict (design decision 5): records whose
// schema is cached are still judged and accepted; the others get
// NOT_ENOUGH_REPLICAS, which kgo retries, and once the registry is back
// they are judged: the valid ones land exactly once, the invalid ones
// fail with INVALID_RECORD, nothing is lost and nothing unchecked passes.
func TestEnforceRegistryOutageRetry(t *testing.T) {
	t.Parallel()
	o := newOutage(t, "out", "")
	ctx := waitCtx(t)

	if err := produceSync(t, o.cl, &kgo.Record{Value: framed(o.a, "a1")}); err != nil {
		t.Fatalf("schema A is cached, yet produce failed during the outage: %v", err)
	}
	if code, msg := o.raw(t, o.b, "raw-b"); code != kerr.NotEnoughReplicas.Code || !strings.Contains(msg, "retry") {
		t.Errorf("uncached schema during the outage: code %d (%v), message %q; want NOT_ENOUGH_REPLICAS saying to retry",
			code, kerr.ErrorForCode(code), msg)
	}

	// B (valid) to partition 0 and an unregistered id to partition 1,
	// which cannot be judged until the registry answers.
	var pending atomic.Int64
	errs := make(chan error, 6)
	for i := range 5 {
		pending.Add(1)
		o.cl.Produce(ctx, &kgo.Record{Partition: 0, Value: framed(o.b, fmt.Sprint("b", i))}, func(_ *kgo.Record, err error) {
			pending.Add(-1)
			errs <- err
		})
	}
	pending.Add(1)
	o.cl.Produce(ctx, &kgo.Record{Partition: 1, Value: framed(o.b+1000, "unknown")}, func(_ *kgo.Record, err error) {
		pending.Add(-1)
		if !isInvalidRecord(err) {
			t.Errorf("unregistered id after the outage: %v, want INVALID_RECORD", err)
		}
	})

	// kgo retries: the registry keeps failing requests for B and the
	// unknown id while no promise has completed.
	base := metricSum(t, o.e.Metrics, "schemaproxy_registry_requests_total", "outcome", "error")
	proxytest.Eventually(t, 10*time.Second, func() error {
		if got := metricSum(t, o.e.Metrics, "schemaproxy_registry_requests_total", "outcome", "error"); got < base+4 {
			return fmt.Errorf("%v failed registry requests since the produce, want at least 4 (two tries each)", got-base)
		}
		return nil
	})
	if n := pending.Load(); n != 6 {
		t.Fatalf("%d of 6 promises completed during the outage, want none (a retriable error)", 6-n)
	}

	o.reg.SetFault(nil)
	if err := o.cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := <-errs; err != nil {
			t.Errorf("schema B after the outage: %v", err)
		}
	}
	wantLanded(t, o.e, o.topic, 0, "a0", "a1", "b0", "b1", "b2", "b3", "b4")
	wantLanded(t, o.e, o.topic, 1)
}

// registry_unavailable: reject fails closed: what the cache cannot judge
// is INVALID_RECORD, and does not land; cached schemas still pass.
func TestEnforceRegistryOutageReject(t *testing.T) {
	t.Parallel()
	o := newOutage(t, "outr", "registry_unavailable: reject\n")

	if err := produceSync(t, o.cl, &kgo.Record{Value: framed(o.a, "a1")}); err != nil {
		t.Fatalf("schema A is cached, yet produce failed during the outage: %v", err)
	}
	if err := produceSync(t, o.cl, &kgo.Record{Value: framed(o.b, "b0")}); !isInvalidRecord(err) {
		t.Errorf("uncached schema with registry_unavailable: reject: %v, want INVALID_RECORD", err)
	}
	if code, msg := o.raw(t, o.b, "raw-b"); code != kerr.InvalidRecord.Code || !strings.Contains(msg, "registry_unavailable") {
		t.Errorf("raw: code %d (%v), message %q; want INVALID_RECORD with reason registry_unavailable", code, kerr.ErrorForCode(code), msg)
	}
	wantLanded(t, o.e, o.topic, 0, "a0", "a1")
}

// registry_unavailable: allow fails open: what the cache cannot judge is
// forwarded unchecked; what needs no registry to judge is still refused.
func TestEnforceRegistryOutageAllow(t *testing.T) {
	t.Parallel()
	o := newOutage(t, "outa", "registry_unavailable: allow\n")

	for _, r := range []*kgo.Record{
		{Value: framed(o.b, "b0")},
		{Value: framed(o.b+1000, "unknown")}, // would be rejected if the registry could say so
	} {
		if err := produceSync(t, o.cl, r); err != nil {
			t.Errorf("registry_unavailable: allow: %v, want the record forwarded", err)
		}
	}
	if err := produceSync(t, o.cl, &kgo.Record{Partition: 1, Value: []byte("no schema id")}); !isInvalidRecord(err) {
		t.Errorf("a record with no schema id during the outage: %v, want INVALID_RECORD (no registry needed to judge it)", err)
	}
	wantLanded(t, o.e, o.topic, 0, "a0", "b0", "unknown")
	wantLanded(t, o.e, o.topic, 1)
}

// A registry that stops answering costs a producer at most the proxy's
// CheckTimeout, then a retriable NOT_ENOUGH_REPLICAS, well before the
// registry client's own timeout or the producer's request timeout. Once
// the registry answers again, a retry passes as soon as the hung request
// has timed out (callers asking the same question share it).
func TestEnforceRegistryHang(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	id := reg.Avro(t, "hang-value", orderAvro).ID
	e := proxytest.New(t, proxytest.Options{
		Kfake:        []kfake.Opt{kfake.SeedTopics(1, "hang")},
		Registry:     reg,
		RegistryOpts: []enforce.RegistryOpt{enforce.WithRegistryTimeout(300 * time.Millisecond)},
		Proxy:        func(c *proxy.Config) { c.CheckTimeout = 100 * time.Millisecond },
	})
	reg.SetFault(enforcetest.Hang())

	raw := leaderRaw(t, e, "hang")
	send := func() int16 {
		return onlyPartition(t, raw.roundTrip(rawProduce(9, -1, part{"hang", 0, valueBatch(framed(id, "h"))}))).ErrorCode
	}
	start := time.Now()
	code := send()
	took := time.Since(start)
	if code != kerr.NotEnoughReplicas.Code {
		t.Errorf("hung registry: %v, want NOT_ENOUGH_REPLICAS", kerr.ErrorForCode(code))
	}
	if took >= time.Second {
		t.Errorf("answer took %v with a 100ms check timeout", took)
	}

	reg.SetFault(nil)
	proxytest.Eventually(t, 10*time.Second, func() error {
		if code := send(); code != 0 {
			return fmt.Errorf("retry after the registry came back: %v", kerr.ErrorForCode(code))
		}
		return nil
	})
	wantLanded(t, e, "hang", 0, "h")
}
