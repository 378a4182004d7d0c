package proxy_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// produceConfigs runs fn against a proxy without a checker and against
// one enforcing the default policy: the Produce version rules hold in
// both. Each proxy logs into its own buffer.
func produceConfigs(t *testing.T, fn func(t *testing.T, e *proxytest.Env, logs *proxytest.LogBuffer), kopts ...kfake.Opt) {
	for _, enforcing := range []bool{false, true} {
		name := "no checker"
		if enforcing {
			name = "checker"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			logs := new(proxytest.LogBuffer)
			o := proxytest.Options{Kfake: kopts, Log: logs}
			if enforcing {
				o.Registry = enforcetest.NewRegistry(t)
			}
			e := proxytest.New(t, o)
			if enforcing != (e.Config.Checker != nil) {
				t.Fatalf("checker set: %v, want %v", e.Config.Checker != nil, enforcing)
			}
			fn(t, e, logs)
		})
	}
}

// brokerProduces counts the Produce requests that reach the cluster.
func brokerProduces(e *proxytest.Env) *atomic.Int64 {
	var n atomic.Int64
	e.Cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		n.Add(1)
		return nil, nil, false
	})
	return &n
}

// Produce v13 is never advertised (ApiVersions caps Produce at v12), so a
// client that sends it is disconnected, with or without a checker, with
// the log line of any version the proxy never advertises, and nothing
// reaches the broker.
func TestProduceNeverAdvertisedVersion(t *testing.T) {
	t.Parallel()
	produceConfigs(t, func(t *testing.T, e *proxytest.Env, logs *proxytest.LogBuffer) {
		raw := leaderRaw(t, e, "v13")
		meta := raw.roundTrip(metadataRequest(12, "v13")).(*kmsg.MetadataResponse)
		if len(meta.Topics) != 1 || meta.Topics[0].TopicID == [16]byte{} {
			t.Fatalf("no topic id for v13 in %+v", meta.Topics)
		}
		if _, hi := produceRange(t, raw); hi != 12 {
			t.Fatalf("Produce advertised up to v%d, want v12", hi)
		}
		// By topic ID, which the broker would accept.
		req := produceRequest(13, -1, "", 0, "by-id")
		req.Topics[0].TopicID = meta.Topics[0].TopicID
		produces := brokerProduces(e)
		before := connErrors(e.Metrics, metrics.ReasonProtocol)
		raw.send(req)
		expectClosed(t, raw.c)

		logs.WaitLine(t, 5*time.Second, `msg="closing connection"`, "reason="+metrics.ReasonProtocol,
			"client_addr="+raw.c.LocalAddr().String(),
			"client sent Produce v13: unsupported api version; schemaproxy never advertises it")
		proxytest.Eventually(t, 5*time.Second, func() error {
			if got := connErrors(e.Metrics, metrics.ReasonProtocol); got != before+1 {
				return fmt.Errorf("connection_errors_total{reason=protocol} = %v, want %v", got, before+1)
			}
			return nil
		})
		if n := produces.Load(); n != 0 {
			t.Errorf("%d Produce request(s) reached the broker, want none", n)
		}
		wantLanded(t, e, "v13", 0)
	}, kfake.SeedTopics(1, "v13"))
}

// produceRange is the Produce range the proxy advertises on raw's
// connection.
func produceRange(t testing.TB, raw *rawClient) (int16, int16) {
	t.Helper()
	resp := raw.roundTrip(apiVersionsRequest(3)).(*kmsg.ApiVersionsResponse)
	for _, k := range resp.ApiKeys {
		if k.ApiKey == int16(kmsg.Produce) {
			return k.MinVersion, k.MaxVersion
		}
	}
	t.Fatalf("Produce not advertised")
	return -1, -1
}

// Produce v0-2 (message sets, removed in Kafka 4) are advertised, since
// Produce min stays 0, but answered by the proxy, with or without a
// checker: UNSUPPORTED_VERSION for every partition, each exactly once,
// and nothing forwarded.
func TestProduceOldVersionsUnsupported(t *testing.T) {
	t.Parallel()
	produceConfigs(t, func(t *testing.T, e *proxytest.Env, logs *proxytest.LogBuffer) {
		// One broker, so that every partition is led where the request
		// goes and the broker would have no reason of its own to refuse.
		raw := leaderRaw(t, e, "old-a")
		if lo, _ := produceRange(t, raw); lo != 0 {
			t.Fatalf("Produce advertised from v%d, want v0", lo)
		}
		produces := brokerProduces(e)
		localBefore := metricSum(t, e.Metrics, "schemaproxy_local_responses_total", "api", "Produce")
		var corrs []int32
		for _, v := range []int16{0, 1, 2} {
			req := rawProduce(v, 1,
				part{"old-a", 0, recordBatch("a0")}, part{"old-a", 1, recordBatch("a1")},
				part{"old-b", 0, recordBatch("b0")})
			corrs = append(corrs, raw.send(req)) // pipelined: all three before any answer
		}
		for i, corr := range corrs {
			v := int16(i)
			got := produced(t, raw.read(corr))
			want := map[string][]int32{"old-a": {0, 1}, "old-b": {0}}
			if len(got) != len(want) {
				t.Errorf("v%d: topics %v in the response, want %v", v, got, want)
			}
			for topic, parts := range want {
				if len(got[topic]) != len(parts) {
					t.Errorf("v%d: %s answered for %d partitions, want %d", v, topic, len(got[topic]), len(parts))
				}
				for _, p := range parts {
					rp, ok := got[topic][p]
					if !ok {
						t.Errorf("v%d: %s/%d missing from the response", v, topic, p)
					} else if rp.ErrorCode != kerr.UnsupportedVersion.Code {
						t.Errorf("v%d: %s/%d error code %d, want %d (UNSUPPORTED_VERSION)", v, topic, p, rp.ErrorCode, kerr.UnsupportedVersion.Code)
					}
				}
			}
		}
		if got := metricSum(t, e.Metrics, "schemaproxy_local_responses_total", "api", "Produce"); got != localBefore+3 {
			t.Errorf("local_responses_total{api=Produce} = %v, want %v", got, localBefore+3)
		}
		// The connection goes on.
		if _, hi := produceRange(t, raw); hi != 12 {
			t.Errorf("ApiVersions after the refusals: Produce max v%d, want v12", hi)
		}
		if n := produces.Load(); n != 0 {
			t.Errorf("%d Produce request(s) reached the broker, want none", n)
		}
		wantLanded(t, e, "old-a", 0)
		wantLanded(t, e, "old-a", 1)
		wantLanded(t, e, "old-b", 0)
	}, kfake.NumBrokers(1), kfake.SeedTopics(2, "old-a", "old-b"))
}
