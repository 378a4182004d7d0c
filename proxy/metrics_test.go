package proxy_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// The proxy's metrics follow real traffic: requests by API, bytes both
// ways, open connections back to zero once clients leave, and no error
// counted for clients that simply close.
func TestMetricsFollowTraffic(t *testing.T) {
	t.Parallel()
	e := proxytest.New(t, proxytest.Options{Kfake: []kfake.Opt{kfake.SeedTopics(2, "metered")}})
	ctx := testCtx(t, 30*time.Second)

	cl, err := kgo.NewClient(kgo.SeedBrokers(e.Bootstrap()), kgo.DefaultProduceTopic("metered"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, values("m-", 50)...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(e.Bootstrap()), kgo.ConsumeTopics("metered"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	consumeN(ctx, t, cons, 50)

	if got := metricSum(t, e.Metrics, "schemaproxy_requests_total", "api", "Produce"); got <= 0 {
		t.Errorf("requests_total{api=Produce} = %v, want > 0", got)
	}
	for _, api := range []string{"Fetch", "Metadata", "ApiVersions"} {
		if got := metricSum(t, e.Metrics, "schemaproxy_requests_total", "api", api); got <= 0 {
			t.Errorf("requests_total{api=%s} = %v, want > 0", api, got)
		}
	}
	if got := testutil.ToFloat64(e.Metrics.ClientReceived); got < 50*4 {
		t.Errorf("client_received_bytes_total = %v, want at least the records' bytes", got)
	}
	if got := testutil.ToFloat64(e.Metrics.ClientSent); got < 50*4 {
		t.Errorf("client_sent_bytes_total = %v, want at least the records' bytes", got)
	}
	if got := metricSum(t, e.Metrics, "schemaproxy_connections_active"); got <= 0 {
		t.Errorf("connections_active = %v with two clients connected, want > 0", got)
	}
	if got := metricSum(t, e.Metrics, "schemaproxy_connections_active", "listener", "bootstrap"); got < 0 {
		t.Errorf("connections_active{listener=bootstrap} = %v", got)
	}
	if got := metricSum(t, e.Metrics, "schemaproxy_connections_total"); got < 2 {
		t.Errorf("connections_total = %v, want at least one per client", got)
	}

	cl.Close()
	cons.Close()
	proxytest.Eventually(t, 5*time.Second, func() error {
		if got := metricSum(t, e.Metrics, "schemaproxy_connections_active"); got != 0 {
			return fmt.Errorf("connections_active = %v after every client closed, want 0", got)
		}
		return nil
	})
	if got := metricSum(t, e.Metrics, "schemaproxy_connection_errors_total"); got != 0 {
		t.Errorf("connection_errors_total = %v after clients closed normally, want 0", got)
	}
}

// produce_proxy_seconds observes one request leg per Produce the proxy
// forwards or answers itself, and one response leg per broker response it
// relays: none for a fully rejected request (answered locally) or for
// acks=0.
func TestProduceProxySeconds(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	id := reg.Avro(t, "lat-value", orderAvro).ID
	e := enforced(t, reg, "", kfake.NumBrokers(1), kfake.SeedTopics(2, "lat"))
	raw := leaderRaw(t, e, "lat")

	var wantReq, wantResp uint64
	check := func(step string) {
		t.Helper()
		proxytest.Eventually(t, 5*time.Second, func() error {
			req, resp := legCount(t, e, "request"), legCount(t, e, "response")
			if req != wantReq || resp != wantResp {
				return fmt.Errorf("after %s: request leg %d, response leg %d observations; want %d, %d", step, req, resp, wantReq, wantResp)
			}
			return nil
		})
	}
	produce := func(acks int16, parts ...part) {
		t.Helper()
		if acks == 0 {
			raw.send(rawProduce(9, 0, parts...))
			return
		}
		raw.roundTrip(rawProduce(9, acks, parts...))
	}

	check("nothing")
	produce(-1, part{"lat", 0, valueBatch(framed(id, "ok"))})
	wantReq, wantResp = 1, 1
	check("a valid produce")
	produce(-1, part{"lat", 0, valueBatch([]byte("garbage"))})
	wantReq++
	check("a produce answered locally")
	produce(1, part{"lat", 0, valueBatch(framed(id, "ok"))}, part{"lat", 1, valueBatch([]byte("garbage"))})
	wantReq, wantResp = wantReq+1, wantResp+1
	check("a produce partly rejected, its response merged")
	produce(0, part{"lat", 0, valueBatch(framed(id, "ok"))})
	wantReq++
	check("an acks=0 produce")
	raw.roundTrip(apiVersionsRequest(3))
	check("another API")
}

// legCount returns the sample count of produce_proxy_seconds{leg}.
func legCount(t testing.TB, e *proxytest.Env, leg string) uint64 {
	t.Helper()
	mfs, err := e.Metrics.Registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "schemaproxy_produce_proxy_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "leg" && l.GetValue() == leg {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	t.Fatalf("no schemaproxy_produce_proxy_seconds{leg=%q}", leg)
	return 0
}
