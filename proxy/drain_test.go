package proxy_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// A frame only partly received when Shutdown starts is dropped, never
// forwarded, and does not cost the responses owed for earlier requests.
func TestShutdownDropsPartialFrameKeepsEarlierResponses(t *testing.T) {
	t.Parallel()
	e := proxytest.New(t, proxytest.Options{Kfake: []kfake.Opt{kfake.SeedTopics(1, "partial")}})
	release := holdNextProduce(e)
	raw := dialRaw(t, e.Proxy.NodeAddr(e.Cluster.LeaderFor("partial", 0)))
	b1, firstCorr := raw.frame(produceRequest(11, -1, "partial", 0, "whole"))
	b2, _ := raw.frame(produceRequest(11, -1, "partial", 0, "half"))
	raw.write(append(b1, b2[:len(b2)/2]...))
	waitRequests(t, e, 2)

	done := beginShutdown(t, e)
	close(release)

	resp := raw.read(firstCorr).(*kmsg.ProduceResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Errorf("first produce: error %d, want 0", code)
	}
	expectClosed(t, raw.c)
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v, want a complete drain", err)
	}
	cl := directClient(t, e, kgo.ConsumeTopics("partial"), kgo.FetchMaxWait(100*time.Millisecond))
	ctx := testCtx(t, 10*time.Second)
	got := consumeN(ctx, t, cl, 1)
	if got["whole"] != 1 || len(got) != 1 {
		t.Errorf("kfake holds %v, want only the whole record", got)
	}
}

// holdNextProduce makes kfake hold the next Produce request until the
// returned channel is closed.
func holdNextProduce(e *proxytest.Env) chan struct{} {
	release := make(chan struct{})
	e.Cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		e.Cluster.SleepControl(func() { <-release })
		return nil, nil, false
	})
	return release
}

// beginShutdown starts e.Proxy.Shutdown (10 s drain) and returns once the
// listeners refuse new connections; the channel yields Shutdown's result.
func beginShutdown(t testing.TB, e *proxytest.Env) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- e.Proxy.Shutdown(ctx)
	}()
	proxytest.Eventually(t, 5*time.Second, func() error {
		c, err := net.DialTimeout("tcp", e.Bootstrap(), time.Second)
		if err == nil {
			c.Close()
			return fmt.Errorf("bootstrap listener still accepting")
		}
		return nil
	})
	return done
}

// A request that makes the proxy close the connection (here an
// inter-broker key) closes it only after the responses owed for earlier
// requests, as a broker that reads one request at a time would.
func TestProtocolErrorClosesAfterEarlierResponses(t *testing.T) {
	t.Parallel()
	e := proxytest.New(t, proxytest.Options{Kfake: []kfake.Opt{kfake.SeedTopics(1, "owed")}})
	release := holdNextProduce(e)
	raw := dialRaw(t, e.Proxy.NodeAddr(e.Cluster.LeaderFor("owed", 0)))
	b1, firstCorr := raw.frame(produceRequest(11, -1, "owed", 0, "owed"))
	bad := kmsg.NewPtrLeaderAndISRRequest()
	bad.Version = 1
	b2, _ := raw.frame(bad)
	raw.write(append(b1, b2...))
	proxytest.Eventually(t, 10*time.Second, func() error {
		if got := connErrors(e.Metrics, "protocol"); got != 1 {
			return fmt.Errorf("protocol errors %v, want 1", got)
		}
		return nil
	})
	close(release)
	resp := raw.read(firstCorr).(*kmsg.ProduceResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Errorf("owed produce: error %d, want 0", code)
	}
	expectClosed(t, raw.c)
}

// waitRequests waits until the proxy has read n requests in all.
func waitRequests(t testing.TB, e *proxytest.Env, n float64) {
	t.Helper()
	proxytest.Eventually(t, 10*time.Second, func() error {
		if got := metricSum(t, e.Metrics, "schemaproxy_requests_total"); got != n {
			return fmt.Errorf("proxy read %v requests, want %v", got, n)
		}
		return nil
	})
}

// Start lists the upstream brokers itself, so every node's listener is
// open before any client has fetched metadata: a replica of the proxy
// behind a load balancer can take a node-port connection first.
func TestNodeListenersOpenAtStart(t *testing.T) {
	t.Parallel()
	e := proxytest.New(t, proxytest.Options{})
	for id := int32(0); id < 3; id++ {
		addr := e.Proxy.NodeAddr(id)
		if addr == "" {
			t.Fatalf("node %d has no listener right after Start", id)
		}
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("node %d listener %s: %v", id, addr, err)
		}
		c.Close()
	}
	if got := metricSum(t, e.Metrics, "schemaproxy_requests_total"); got != 0 {
		t.Errorf("proxy read %v client requests, want 0: the listeners must not need a client", got)
	}
}
