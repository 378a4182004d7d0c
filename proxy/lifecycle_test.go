package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/proxy"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// Shutdown in the middle of a produce stream loses no acknowledged record:
// every record the producer saw acknowledged is in the broker.
func TestShutdownLosesNoAckedRecord(t *testing.T) {
	t.Parallel()
	e := proxytest.New(t, proxytest.Options{Kfake: []kfake.Opt{kfake.SeedTopics(3, "drain")}})
	prod := e.Client(t, kgo.DefaultProduceTopic("drain"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.ProducerLinger(time.Millisecond))

	var (
		mu      sync.Mutex
		acked   = map[string]bool{}
		failed  int
		stop    = make(chan struct{})
		stopped = make(chan struct{})
	)
	pctx, pcancel := context.WithCancel(context.Background())
	defer pcancel()
	go func() {
		defer close(stopped)
		ctx := pctx
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			v := fmt.Sprintf("d%d", i)
			prod.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(_ *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed++
					return
				}
				acked[v] = true
			})
			if i%64 == 63 {
				// Keep the stream going without buffering far ahead.
				prod.Flush(ctx) //nolint:errcheck // failures are counted per record
			}
		}
	}()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	proxytest.Eventually(t, 20*time.Second, func() error {
		if n := count(); n < 500 {
			return fmt.Errorf("%d records acknowledged before shutdown, want 500", n)
		}
		return nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Proxy.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	// The proxy is closed, so no acknowledgement can arrive any more: stop
	// the producer where it is. Records still buffered fail.
	close(stop)
	pcancel()
	<-stopped

	mu.Lock()
	want := make([]string, 0, len(acked))
	for v := range acked {
		want = append(want, v)
	}
	nFailed := failed
	mu.Unlock()
	t.Logf("%d records acknowledged, %d failed after shutdown", len(want), nFailed)

	cctx := testCtx(t, 30*time.Second)
	adm := directClient(t, e)
	stored := map[string]bool{}
	cons := directClient(t, e, kgo.ConsumeTopics("drain"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	total := highWatermarks(cctx, t, adm, "drain", 3)
	for len(stored) < int(total) {
		fs := cons.PollFetches(cctx)
		if err := cctx.Err(); err != nil {
			t.Fatalf("read %d of %d stored records: %v", len(stored), total, err)
		}
		fs.EachRecord(func(r *kgo.Record) { stored[string(r.Value)] = true })
	}
	if len(stored) < len(want) {
		t.Errorf("kfake holds %d records, fewer than the %d acknowledged", len(stored), len(want))
	}
	for _, v := range want {
		if !stored[v] {
			t.Errorf("acknowledged record %s is not in the broker", v)
		}
	}
	if c, err := net.DialTimeout("tcp", e.Bootstrap(), time.Second); err == nil {
		c.Close()
		t.Errorf("bootstrap listener still accepts after Shutdown")
	}
}

// highWatermarks returns the sum of the end offsets of topic's partitions.
func highWatermarks(ctx context.Context, t testing.TB, cl *kgo.Client, topic string, partitions int32) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	var sum int64
	for _, sh := range cl.RequestSharded(ctx, req) {
		if sh.Err != nil {
			t.Fatalf("list offsets: %v", sh.Err)
		}
		for _, rt := range sh.Resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, rp := range rt.Partitions {
				if rp.ErrorCode != 0 {
					t.Fatalf("list offsets %s/%d: error %d", rt.Topic, rp.Partition, rp.ErrorCode)
				}
				sum += rp.Offset
			}
		}
	}
	return sum
}

// When the upstream goes away under an idle client connection, the proxy
// closes the client's connection at once rather than leaving it to hang
// until its next request.
func TestUpstreamFailureClosesClient(t *testing.T) {
	t.Parallel()

	t.Run("cluster closed", func(t *testing.T) {
		t.Parallel()
		e := proxytest.New(t, proxytest.Options{})
		raw := dialRaw(t, e.Bootstrap())
		if resp := raw.roundTrip(apiVersionsRequest(3)).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
			t.Fatalf("ApiVersions: error %d", resp.ErrorCode)
		}
		node := dialRaw(t, e.Proxy.NodeAddr(2))
		node.roundTrip(metadataRequest(12))
		before := connErrors(e.Metrics, metrics.ReasonUpstream)
		e.Cluster.Close()
		expectClosed(t, raw.c)
		expectClosed(t, node.c)
		if got := connErrors(e.Metrics, metrics.ReasonUpstream); got < before+2 {
			t.Errorf("connection_errors_total{reason=\"upstream\"} = %v, want at least %v", got, before+2)
		}
	})

	t.Run("one upstream connection cut", func(t *testing.T) {
		t.Parallel()
		c, err := kfake.NewCluster(kfake.NumBrokers(3))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		// Bootstrap connections reach kfake through a relay the test can
		// cut, while the cluster itself stays up.
		rl := newRelay(t, c.ListenAddrs()[0])
		e := proxytest.Start(t, c, proxytest.Options{Proxy: func(cfg *proxy.Config) { cfg.Upstream = []string{rl.addr()} }})
		cut := dialRaw(t, e.Bootstrap())
		cut.roundTrip(metadataRequest(12))
		stays := dialRaw(t, e.Proxy.NodeAddr(1))
		stays.roundTrip(metadataRequest(12))
		if rl.conns() == 0 {
			t.Fatalf("no connection went through the relay")
		}
		rl.cut()
		expectClosed(t, cut.c)
		// Another client's connection is unaffected.
		if resp := stays.roundTrip(metadataRequest(12)).(*kmsg.MetadataResponse); len(resp.Brokers) != 3 {
			t.Errorf("after the cut, metadata lists %d brokers, want 3", len(resp.Brokers))
		}
	})
}

// relay forwards TCP connections to one address until cut.
type relay struct {
	ln net.Listener
	mu sync.Mutex
	cs []net.Conn
}

func newRelay(t testing.TB, to string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln}
	t.Cleanup(func() { ln.Close(); r.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			r.mu.Lock()
			r.cs = append(r.cs, c, up)
			r.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }() //nolint:errcheck // ends when either side closes
			go func() { io.Copy(c, up); c.Close() }()  //nolint:errcheck // ends when either side closes
		}
	}()
	return r
}

func (r *relay) addr() string { return r.ln.Addr().String() }

func (r *relay) conns() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.cs) / 2
}

// cut closes every relayed connection.
func (r *relay) cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.cs {
		c.Close()
	}
	r.cs = nil
}

// Shutdown lets a connection finish the requests it has in flight: a
// response the broker is still working on when Shutdown starts reaches the
// client before the proxy closes the connection.
func TestShutdownDrainsInFlight(t *testing.T) {
	t.Parallel()
	e := proxytest.New(t, proxytest.Options{Kfake: []kfake.Opt{kfake.SeedTopics(1, "inflight")}})
	release := holdNextProduce(e)
	raw := dialRaw(t, e.Proxy.NodeAddr(e.Cluster.LeaderFor("inflight", 0)))
	b1, produceCorr := raw.frame(produceRequest(11, -1, "inflight", 0, "in-flight"))
	b2, metaCorr := raw.frame(metadataRequest(12, "inflight"))
	raw.write(append(b1, b2...))
	waitRequests(t, e, 2)

	done := beginShutdown(t, e)
	close(release)

	resp := raw.read(produceCorr).(*kmsg.ProduceResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Errorf("in-flight produce: error %d", code)
	}
	raw.read(metaCorr)
	expectClosed(t, raw.c)
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v, want a complete drain", err)
	}
}
