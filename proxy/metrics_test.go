package proxy_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

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
