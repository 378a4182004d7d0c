package proxy_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/proxy"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// Five requests pipelined on one connection, the first held up in the
// broker and the third answered by the proxy itself (ApiVersions v99,
// KIP-511): responses come back in request order with their own
// correlation IDs (FR-02).
func TestPipelinedResponsesInOrder(t *testing.T) {
	t.Parallel()
	e := proxytest.New(t, proxytest.Options{})
	release := make(chan struct{})
	var slept atomic.Bool
	e.Cluster.ControlKey(int16(kmsg.Metadata), func(kmsg.Request) (kmsg.Response, error, bool) {
		if !slept.Swap(true) {
			e.Cluster.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})

	raw := dialRaw(t, e.Bootstrap())
	reqs := []kmsg.Request{
		metadataRequest(12),
		apiVersionsRequest(3),
		apiVersionsRequest(99),
		metadataRequest(9),
		apiVersionsRequest(0),
	}
	var pipeline []byte
	var corrs []int32
	for _, req := range reqs {
		b, corr := raw.frame(req)
		pipeline = append(pipeline, b...)
		corrs = append(corrs, corr)
	}
	raw.write(pipeline)

	// The proxy has read all five and queued its own answer to the third
	// while the first is still held in the broker.
	proxytest.Eventually(t, 10*time.Second, func() error {
		if got := metricSum(t, e.Metrics, "schemaproxy_local_responses_total", "api", "ApiVersions"); got != 1 {
			return fmt.Errorf("%v local ApiVersions answers, want 1", got)
		}
		if got := metricSum(t, e.Metrics, "schemaproxy_requests_total"); got != 5 {
			return fmt.Errorf("proxy read %v requests, want 5", got)
		}
		return nil
	})
	close(release)

	for i, corr := range corrs {
		resp := raw.read(corr)
		if resp.Key() != reqs[i].Key() {
			t.Fatalf("response %d is %s, want %s", i, kmsg.NameForKey(resp.Key()), kmsg.NameForKey(reqs[i].Key()))
		}
		switch r := resp.(type) {
		case *kmsg.ApiVersionsResponse:
			if reqs[i].GetVersion() == 99 {
				if r.ErrorCode != kerr.UnsupportedVersion.Code || len(r.ApiKeys) != 1 || r.ApiKeys[0].ApiKey != 18 {
					t.Errorf("ApiVersions v99: error %d keys %+v, want UNSUPPORTED_VERSION and only key 18", r.ErrorCode, r.ApiKeys)
				}
			} else if r.ErrorCode != 0 || len(r.ApiKeys) < 10 {
				t.Errorf("ApiVersions v%d: error %d with %d keys", reqs[i].GetVersion(), r.ErrorCode, len(r.ApiKeys))
			}
		case *kmsg.MetadataResponse:
			if len(r.Brokers) != 3 {
				t.Errorf("Metadata: %d brokers, want 3", len(r.Brokers))
			}
		}
	}
}

// acks=0 produce requests get no response; the proxy must neither wait for
// one nor invent one (FR-03).
func TestProduceAcksZero(t *testing.T) {
	t.Parallel()

	t.Run("kgo", func(t *testing.T) {
		t.Parallel()
		e := proxytest.New(t, proxytest.Options{Kfake: []kfake.Opt{kfake.SeedTopics(3, "noack")}})
		ctx := testCtx(t, 30*time.Second)
		prod := e.Client(t, kgo.DefaultProduceTopic("noack"), kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
		const n = 300
		if err := prod.ProduceSync(ctx, values("na-", n)...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		cons := e.Client(t, kgo.ConsumeTopics("noack"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		seen := consumeN(ctx, t, cons, n)
		for i := range n {
			if c := seen["na-"+itoa(i)]; c != 1 {
				t.Errorf("record na-%d landed %d times, want 1", i, c)
			}
		}
		e.AssertNoLeak(t)
	})

	t.Run("raw pipeline", func(t *testing.T) {
		t.Parallel()
		e := proxytest.New(t, proxytest.Options{Kfake: []kfake.Opt{kfake.SeedTopics(1, "mixed")}})
		leader := e.Cluster.LeaderFor("mixed", 0)
		raw := dialRaw(t, e.Proxy.NodeAddr(leader))

		// Versions from before and after flexible encoding (v9), so the
		// proxy's acks peek is exercised on both header forms.
		steps := []struct {
			req      kmsg.Request
			answered bool
		}{
			{produceRequest(8, 1, "mixed", 0, "a1"), true},
			{produceRequest(8, 0, "mixed", 0, "z1"), false},
			{metadataRequest(12, "mixed"), true},
			{produceRequest(11, 0, "mixed", 0, "z2"), false},
			{produceRequest(11, 0, "mixed", 0, "z3"), false},
			{produceRequest(11, -1, "mixed", 0, "a2"), true},
			{apiVersionsRequest(3), true},
		}
		var pipeline []byte
		var want []int32
		for _, s := range steps {
			b, corr := raw.frame(s.req)
			pipeline = append(pipeline, b...)
			if s.answered {
				want = append(want, corr)
			}
		}
		raw.write(pipeline)
		for _, corr := range want {
			resp := raw.read(corr)
			if p, ok := resp.(*kmsg.ProduceResponse); ok {
				if code := p.Topics[0].Partitions[0].ErrorCode; code != 0 {
					t.Errorf("produce corr %d: %v", corr, kerr.ErrorForCode(code))
				}
			}
		}
		// Nothing more is owed: the next request's answer is the next frame.
		if resp := raw.roundTrip(apiVersionsRequest(0)).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
			t.Errorf("trailing ApiVersions: error %d", resp.ErrorCode)
		}

		ctx := testCtx(t, 20*time.Second)
		cons := directClient(t, e, kgo.ConsumeTopics("mixed"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		var got []string
		for len(got) < 5 {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("kfake holds %v, want 5 records", got)
			}
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		if fmt.Sprint(got) != "[a1 z1 z2 z3 a2]" {
			t.Errorf("kfake holds %v, want [a1 z1 z2 z3 a2]", got)
		}
	})
}

// A client that pipelines requests and never reads the answers: the proxy
// stops reading from it once MaxInFlight responses are owed, so the broker
// sees a bounded number of requests; once the client reads, every answer
// arrives, in order.
func TestBackpressureBoundsInFlight(t *testing.T) {
	t.Parallel()
	const maxInFlight = 4
	e := proxytest.New(t, proxytest.Options{Proxy: func(c *proxy.Config) { c.MaxInFlight = maxInFlight }})

	// Each answer is about 1 MiB, so the socket buffers between broker,
	// proxy and client hold only a few of them.
	var seen atomic.Int64
	e.Cluster.ControlKey(int16(kmsg.Metadata), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		e.Cluster.KeepControl()
		seen.Add(1)
		resp := kreq.ResponseKind().(*kmsg.MetadataResponse)
		rt := kmsg.NewMetadataResponseTopic()
		rt.Topic = kmsg.StringPtr("big")
		rp := kmsg.NewMetadataResponseTopicPartition()
		rp.Replicas = make([]int32, 256<<10)
		rt.Partitions = append(rt.Partitions, rp)
		resp.Topics = append(resp.Topics, rt)
		return resp, nil, true
	})

	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.DialContext(context.Background(), "tcp", e.Bootstrap())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	raw := newRaw(t, c)

	const n = 64
	var pipeline []byte
	var corrs []int32
	for range n {
		b, corr := raw.frame(metadataRequest(12, "big"))
		pipeline = append(pipeline, b...)
		corrs = append(corrs, corr)
	}
	raw.write(pipeline) // small requests: all fit in the proxy's receive buffer

	proxytest.Eventually(t, 10*time.Second, func() error {
		if got := seen.Load(); got < maxInFlight {
			return fmt.Errorf("broker saw %d requests, want at least %d", got, maxInFlight)
		}
		return nil
	})
	// Watch for a while: an unbounded proxy would have forwarded all n
	// within milliseconds. The bound allows for the responses that fit in
	// the socket buffers on either side of the proxy.
	const slack = 12
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); <-tick.C {
		if got := seen.Load(); got > maxInFlight+slack {
			t.Fatalf("broker saw %d requests while the client read nothing, want at most %d (MaxInFlight %d + %d buffered)",
				got, maxInFlight+slack, maxInFlight, slack)
		}
		if got := metricSum(t, e.Metrics, "schemaproxy_requests_total", "api", "Metadata"); got > maxInFlight+slack {
			t.Fatalf("proxy read %v requests while the client read nothing, want at most %d", got, maxInFlight+slack)
		}
	}
	t.Logf("broker saw %d of %d requests while the client was not reading", seen.Load(), n)

	for _, corr := range corrs {
		resp := raw.read(corr).(*kmsg.MetadataResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions[0].Replicas) != 256<<10 {
			t.Fatalf("response %d is not the 1 MiB answer", corr)
		}
	}
	if got := seen.Load(); got != n {
		t.Errorf("broker saw %d requests in all, want %d", got, n)
	}
}
