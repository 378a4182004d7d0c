package proxy_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/proxy"
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

// The byte counters count at the client's side of the proxy.
// client_received_bytes_total adds a frame's declared size plus its 4-byte
// prefix as soon as the prefix is accepted, before the body is read,
// whatever happens next: forwarded, answered by the proxy, re-encoded
// smaller, or refused with a close. A prefix refused as not Kafka counts
// nothing. client_sent_bytes_total counts each response frame as the client
// gets it: local answers, rewritten responses at their re-encoded size,
// spliced ones at the broker's.
func TestByteCountersAtClientSide(t *testing.T) {
	t.Parallel()
	e := proxytest.New(t, proxytest.Options{
		Kfake: []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, "counted", "refused")},
		Proxy: func(cfg *proxy.Config) { cfg.Checker = topicChecker{rejectTopic: "refused"} },
	})
	raw := leaderRaw(t, e, "counted")
	var wantRecv, wantSent float64
	check := func(step string) {
		t.Helper()
		proxytest.Eventually(t, 5*time.Second, func() error {
			recv, sent := testutil.ToFloat64(e.Metrics.ClientReceived), testutil.ToFloat64(e.Metrics.ClientSent)
			if recv != wantRecv || sent != wantSent {
				return fmt.Errorf("after %s: client_received_bytes_total %v, client_sent_bytes_total %v; want %v, %v",
					step, recv, sent, wantRecv, wantSent)
			}
			return nil
		})
	}
	// roundTrip sends req and reads its response, adding both frames'
	// sizes, prefixes included, to what the counters must show.
	roundTrip := func(req kmsg.Request) kmsg.Response {
		t.Helper()
		b, _ := raw.frame(req)
		raw.write(b)
		wantRecv += float64(len(b))
		frame, err := raw.readFrame()
		if err != nil {
			t.Fatalf("response to %s: %v", kmsg.NameForKey(req.Key()), err)
		}
		wantSent += float64(4 + len(frame))
		_, resp, err := raw.decode(frame)
		if err != nil {
			t.Fatalf("response to %s: %v", kmsg.NameForKey(req.Key()), err)
		}
		return resp
	}
	code := func(resp kmsg.Response, topic string) int16 {
		return produced(t, resp)[topic][0].ErrorCode
	}

	check("nothing")
	if c := code(roundTrip(produceRequest(0, 1, "counted", 0, "v0")), "counted"); c != kerr.UnsupportedVersion.Code {
		t.Fatalf("Produce v0: error code %d, want UNSUPPORTED_VERSION", c)
	}
	check("Produce v0, answered by the proxy")
	if c := code(roundTrip(produceRequest(9, 1, "refused", 0, "no")), "refused"); c != kerr.InvalidRecord.Code {
		t.Fatalf("rejected produce: error code %d, want INVALID_RECORD", c)
	}
	check("a rejected Produce, answered by the proxy")
	// The broker gets a request re-encoded without refused/0; the
	// received count is the client's frame.
	resp := roundTrip(rawProduce(9, 1, part{"counted", 0, recordBatch("kept")}, part{"refused", 0, recordBatch("dropped")}))
	if c, r := code(resp, "counted"), code(resp, "refused"); c != 0 || r != kerr.InvalidRecord.Code {
		t.Fatalf("partly rejected produce: error codes %d, %d; want 0, INVALID_RECORD", c, r)
	}
	check("a partly rejected Produce, forwarded smaller and its response merged")
	roundTrip(metadataRequest(12, "counted"))
	check("Metadata, rewritten")
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Version = 7
	lo.ReplicaID = -1
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "counted"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	roundTrip(lo)
	check("ListOffsets, spliced")

	// An inter-broker request whose prefix declares 1000 bytes: the proxy
	// reads its first 8 and closes. All 1004 are counted.
	head := kbin.AppendInt32(nil, 1000)
	head = kbin.AppendInt16(head, int16(kmsg.LeaderAndISR))
	head = kbin.AppendInt16(head, 0)
	head = kbin.AppendInt32(head, 99)
	raw.write(head)
	expectClosed(t, raw.c)
	wantRecv += 1004
	check("a refused frame, its body never read")

	// A prefix that is not Kafka is refused before anything is counted.
	http := dialRaw(t, e.Bootstrap())
	http.write([]byte("GET / HTTP/1.1\r\nHost: kafka\r\n\r\n"))
	expectClosed(t, http.c)
	check("HTTP on the Kafka port")
}
