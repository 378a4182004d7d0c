package proxy_test

// The tests of README's "What a producer sees" and "What the proxy
// guarantees" bullets, one per bullet, named after its label, each
// subtest after one of its claims.

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/proxy"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

func TestReadmeRejection(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	order := reg.Avro(t, "orders-value", orderAvro).ID
	refund := reg.Avro(t, "refunds-value", refundAvro).ID
	e := enforced(t, reg, "", kfake.NumBrokers(1), kfake.SeedTopics(3, "orders"))
	raw := leaderRaw(t, e, "orders")
	bad := valueBatch(framed(order, "a"), framed(order, "b"), framed(order, "c"), framed(refund, "bad"))

	t.Run("the failing record's partition batch gets INVALID_RECORD with error_message and record_errors[].batch_index", func(t *testing.T) {
		resp := produced(t, raw.roundTrip(rawProduce(9, -1, part{"orders", 0, valueBatch(framed(order, "p0"))}, part{"orders", 2, bad})))
		p := resp["orders"][2]
		want := fmt.Sprintf("schemaproxy: orders[2] record 3: value schema id %d is not registered under subject orders-value (wrong_subject)", refund)
		msg := "<nil>"
		if p.ErrorMessage != nil {
			msg = *p.ErrorMessage
		}
		if p.ErrorCode != kerr.InvalidRecord.Code || msg != want {
			t.Errorf("orders/2: code %d message %q, want INVALID_RECORD with %q", p.ErrorCode, msg, want)
		}
		if len(p.ErrorRecords) != 1 || p.ErrorRecords[0].RelativeOffset != 3 {
			t.Errorf("record_errors %+v, want batch_index 3 only", p.ErrorRecords)
		}
		wantLanded(t, e, "orders", 2)
	})
	t.Run("other partitions of the same request are forwarded, one answer per partition", func(t *testing.T) {
		resp := raw.roundTrip(rawProduce(9, -1, part{"orders", 1, valueBatch(framed(order, "p1"))}, part{"orders", 2, bad}))
		if n := entries(resp.(*kmsg.ProduceResponse)); n != 2 {
			t.Errorf("%d partition answers, want 2", n)
		}
		got := produced(t, resp)
		if got["orders"][1].ErrorCode != 0 || got["orders"][2].ErrorCode != kerr.InvalidRecord.Code {
			t.Errorf("orders/1 code %d, orders/2 code %d; want 0 and INVALID_RECORD", got["orders"][1].ErrorCode, got["orders"][2].ErrorCode)
		}
		wantLanded(t, e, "orders", 1, "p1")
	})
	t.Run("below Produce v8 the code alone", func(t *testing.T) {
		p := onlyPartition(t, raw.roundTrip(rawProduce(7, -1, part{"orders", 2, bad})))
		wantRejected(t, 7, p, nil)
	})
	t.Run("non-retriable: franz-go fails the record with the code, without retrying", func(t *testing.T) {
		if kerr.InvalidRecord.Retriable {
			t.Errorf("INVALID_RECORD is retriable in kerr")
		}
		var produces atomic.Int64
		e.Cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
			produces.Add(1)
			e.Cluster.KeepControl()
			return nil, nil, false
		})
		cl := e.Client(t, kgo.DefaultProduceTopic("orders"), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DisableIdempotentWrite())
		if err := produceSync(t, cl, &kgo.Record{Partition: 2, Value: framed(refund, "kgo")}); !isInvalidRecord(err) {
			t.Errorf("got %v, want INVALID_RECORD", err)
		}
		if n := produces.Load(); n != 0 {
			t.Errorf("%d produce requests reached the broker, want 0", n)
		}
		wantLanded(t, e, "orders", 2)
	})
}

func TestReadmeRegistryDown(t *testing.T) {
	t.Parallel()
	t.Run("uncached schema: NOT_ENOUGH_REPLICAS, which clients retry", func(t *testing.T) {
		t.Parallel()
		o := newOutage(t, "rd", "")
		if code, _ := o.raw(t, o.b, "raw-b"); code != kerr.NotEnoughReplicas.Code {
			t.Errorf("got code %d (%v), want NOT_ENOUGH_REPLICAS", code, kerr.ErrorForCode(code))
		}
		if !kerr.NotEnoughReplicas.Retriable {
			t.Errorf("NOT_ENOUGH_REPLICAS is not retriable in kerr")
		}
		wantLanded(t, o.e, "rd", 0, "a0")
	})
	t.Run("the records land once the registry answers", func(t *testing.T) {
		t.Parallel()
		o := newOutage(t, "rl", "")
		before := o.reg.Requests()
		done := make(chan error, 1)
		go func() {
			done <- o.cl.ProduceSync(context.Background(), &kgo.Record{Value: framed(o.b, "b")}).FirstErr()
		}()
		// The proxy has asked at least twice: the client is retrying.
		proxytest.Eventually(t, 10*time.Second, func() error {
			if n := o.reg.Requests() - before; n < 2 {
				return fmt.Errorf("%d registry requests during the outage", n)
			}
			return nil
		})
		o.reg.SetFault(nil)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("produce after the registry came back: %v", err)
			}
		case <-time.After(boundWait):
			t.Fatalf("produce not done %v after the registry came back", boundWait)
		}
		wantLanded(t, o.e, "rl", 0, "a0", "b")
	})
	t.Run("nothing unchecked is admitted", func(t *testing.T) {
		t.Parallel()
		o := newOutage(t, "ru", "")
		if code, _ := o.raw(t, o.b+1000, "unknown"); code != kerr.NotEnoughReplicas.Code {
			t.Errorf("unknown id during the outage: code %d, want NOT_ENOUGH_REPLICAS", code)
		}
		o.reg.SetFault(nil)
		if code, _ := o.raw(t, o.b+1000, "unknown"); code != kerr.InvalidRecord.Code {
			t.Errorf("unknown id after the outage: code %d, want INVALID_RECORD", code)
		}
		wantLanded(t, o.e, "ru", 0, "a0")
	})
	t.Run("unless registry_unavailable: allow", func(t *testing.T) {
		t.Parallel()
		o := newOutage(t, "ra", "registry_unavailable: allow")
		if code, _ := o.raw(t, o.b, "allowed"); code != 0 {
			t.Errorf("code %d, want the record admitted", code)
		}
		wantLanded(t, o.e, "ra", 0, "a0", "allowed")
	})
}

func TestReadmeAcks0(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	id := reg.Avro(t, "z0-value", orderAvro).ID
	e := enforced(t, reg, "", kfake.NumBrokers(1), kfake.SeedTopics(2, "z0"))
	t.Run("valid partitions are forwarded and the connection stays open", func(t *testing.T) {
		raw := leaderRaw(t, e, "z0")
		raw.send(rawProduce(9, 0, part{"z0", 0, valueBatch(framed(id, "ok"))}))
		if resp := raw.roundTrip(apiVersionsRequest(3)).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
			t.Errorf("ApiVersions after a valid acks=0 produce: error %d", resp.ErrorCode)
		}
		waitEnd(t, e, "z0", 0, 1)
	})
	t.Run("if anything was rejected the connection is closed, the valid partitions forwarded", func(t *testing.T) {
		raw := leaderRaw(t, e, "z0")
		raw.send(rawProduce(9, 0, part{"z0", 0, valueBatch(framed(id, "ok2"))}, part{"z0", 1, valueBatch(framed(id+1000, "bad"))}))
		expectClosed(t, raw.c)
		waitEnd(t, e, "z0", 0, 2)
		wantLanded(t, e, "z0", 1)
		if got := connErrors(e.Metrics, metrics.ReasonAcks0Rejected); got != 1 {
			t.Errorf("acks0_rejected = %v, want 1", got)
		}
	})
}

func TestReadmeIdempotentAndTransactionalProducers(t *testing.T) {
	t.Parallel()
	t.Run("idempotent: franz-go fails the rejected batch and the records queued behind it; sequence numbers are never touched", func(t *testing.T) {
		t.Parallel()
		reg := enforcetest.NewRegistry(t)
		id := reg.Avro(t, "ri-value", orderAvro).ID
		e := enforced(t, reg, "", kfake.SeedTopics(1, "ri"))
		ctx := waitCtx(t)
		cl := e.Client(t, kgo.DefaultProduceTopic("ri"), kgo.ManualFlushing(), kgo.ProducerBatchMaxBytes(maxBatchBytes))
		ok := produceHundred(ctx, t, cl, id, "i")
		// The broker accepts the producer's next sequence numbers, so
		// none was altered or skipped on the way.
		var want []string
		for i := range ok {
			want = append(want, "i"+itoa(i))
		}
		cl.Produce(ctx, &kgo.Record{Value: framed(id, "next")}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce after the rejection: %v", err)
			}
		})
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		wantLanded(t, e, "ri", 0, append(want, "next")...)
	})
	t.Run("transactional producers must abort", func(t *testing.T) {
		t.Parallel()
		reg := enforcetest.NewRegistry(t)
		id := reg.Avro(t, "rt-value", orderAvro).ID
		e := enforced(t, reg, "", kfake.SeedTopics(1, "rt"))
		ctx := waitCtx(t)
		cl := e.Client(t, kgo.DefaultProduceTopic("rt"), kgo.TransactionalID("readme-tx"), kgo.TransactionTimeout(10*time.Second))
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := produceSync(t, cl, &kgo.Record{Value: framed(id+1000, "bad")}); !isInvalidRecord(err) {
			t.Errorf("got %v, want INVALID_RECORD", err)
		}
		if err := produceSync(t, cl, &kgo.Record{Value: framed(id, "t1-after")}); err != nil {
			t.Logf("produce after the rejection in the same transaction: %v", err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
			t.Fatalf("abort: %v", err)
		}
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := produceSync(t, cl, &kgo.Record{Value: framed(id, "t2")}); err != nil {
			t.Fatalf("produce in the next transaction: %v", err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("commit of the next transaction: %v", err)
		}
		if got := consumeUntil(t, e, "rt", kgo.ReadCommitted(), "t2"); len(got) != 1 {
			t.Errorf("read_committed: %q, want [t2]: nothing of the aborted transaction", got)
		}
		wantNone := consumeUntil(t, e, "rt", kgo.ReadUncommitted(), "t2")
		for _, tag := range wantNone {
			if tag == "bad" {
				t.Errorf("the rejected record reached the log")
			}
		}
	})
}

// addressCase is one response type naming brokers: a request, how the
// broker's answer is filled with upstream addresses, and how to read the
// addresses back.
type addressCase struct {
	name      string
	node      bool // send to the leader of "addr" rather than the bootstrap
	req       kmsg.Request
	answer    func(r kmsg.Response, up []kmsg.MetadataResponseBroker)
	endpoints func(r kmsg.Response) []endpoint
}

func TestReadmeAddresses(t *testing.T) {
	t.Parallel()
	e := proxytest.New(t, proxytest.Options{Kfake: []kfake.Opt{kfake.SeedTopics(1, "addr")}})
	up := upstreamBrokers(t, e)
	fc3 := kmsg.NewPtrFindCoordinatorRequest()
	fc3.Version, fc3.CoordinatorKey = 3, "g"
	fc4 := kmsg.NewPtrFindCoordinatorRequest()
	fc4.Version, fc4.CoordinatorKeys = 4, []string{"g1", "g2", "none"}
	dc := kmsg.NewPtrDescribeClusterRequest()
	cases := []addressCase{
		{name: "Metadata", req: metadataRequest(12, "addr-meta"),
			answer: func(r kmsg.Response, up []kmsg.MetadataResponseBroker) { r.(*kmsg.MetadataResponse).Brokers = up },
			endpoints: func(r kmsg.Response) (out []endpoint) {
				for _, b := range r.(*kmsg.MetadataResponse).Brokers {
					out = append(out, endpoint{b.NodeID, b.Host, b.Port, nil})
				}
				return out
			}},
		{name: "FindCoordinator v3", req: fc3,
			answer: func(r kmsg.Response, up []kmsg.MetadataResponseBroker) {
				f := r.(*kmsg.FindCoordinatorResponse)
				f.NodeID, f.Host, f.Port = up[1].NodeID, up[1].Host, up[1].Port
			},
			endpoints: func(r kmsg.Response) []endpoint {
				f := r.(*kmsg.FindCoordinatorResponse)
				return []endpoint{{f.NodeID, f.Host, f.Port, nil}}
			}},
		{name: "FindCoordinator v4 batched", req: fc4,
			answer: func(r kmsg.Response, up []kmsg.MetadataResponseBroker) {
				f := r.(*kmsg.FindCoordinatorResponse)
				for i, k := range []string{"g1", "g2"} {
					f.Coordinators = append(f.Coordinators, kmsg.FindCoordinatorResponseCoordinator{Key: k, NodeID: up[i].NodeID, Host: up[i].Host, Port: up[i].Port})
				}
				f.Coordinators = append(f.Coordinators, kmsg.FindCoordinatorResponseCoordinator{Key: "none", NodeID: -1, Host: "", Port: -1,
					ErrorCode: kerr.CoordinatorNotAvailable.Code})
			},
			endpoints: func(r kmsg.Response) (out []endpoint) {
				for _, c := range r.(*kmsg.FindCoordinatorResponse).Coordinators {
					if c.NodeID >= 0 {
						out = append(out, endpoint{c.NodeID, c.Host, c.Port, nil})
					}
				}
				return out
			}},
		{name: "DescribeCluster", req: dc,
			answer: func(r kmsg.Response, up []kmsg.MetadataResponseBroker) {
				for _, b := range up {
					r.(*kmsg.DescribeClusterResponse).Brokers = append(r.(*kmsg.DescribeClusterResponse).Brokers,
						kmsg.DescribeClusterResponseBroker{NodeID: b.NodeID, Host: b.Host, Port: b.Port})
				}
			},
			endpoints: func(r kmsg.Response) (out []endpoint) {
				for _, b := range r.(*kmsg.DescribeClusterResponse).Brokers {
					out = append(out, endpoint{b.NodeID, b.Host, b.Port, nil})
				}
				return out
			}},
		{name: "Produce NodeEndpoints (KIP-951)", node: true, req: produceRequest(11, -1, "addr", 0, "x"),
			answer: func(r kmsg.Response, up []kmsg.MetadataResponseBroker) {
				p := r.(*kmsg.ProduceResponse)
				rt := kmsg.NewProduceResponseTopic()
				rt.Topic = "addr"
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.ErrorCode = kerr.NotLeaderForPartition.Code
				rt.Partitions = append(rt.Partitions, rp)
				p.Topics = append(p.Topics, rt)
				for _, b := range up {
					p.Brokers = append(p.Brokers, kmsg.ProduceResponseBroker{NodeID: b.NodeID, Host: b.Host, Port: b.Port})
				}
			},
			endpoints: func(r kmsg.Response) (out []endpoint) {
				for _, n := range r.(*kmsg.ProduceResponse).Brokers {
					out = append(out, endpoint{n.NodeID, n.Host, n.Port, nil})
				}
				return out
			}},
		{name: "ShareFetch", req: &kmsg.ShareFetchRequest{Version: 1, GroupID: kmsg.StringPtr("share"), MemberID: kmsg.StringPtr("m"), MaxWaitMillis: 100},
			answer: func(r kmsg.Response, up []kmsg.MetadataResponseBroker) {
				for _, b := range up {
					r.(*kmsg.ShareFetchResponse).NodeEndpoints = append(r.(*kmsg.ShareFetchResponse).NodeEndpoints,
						kmsg.ShareFetchResponseNodeEndpoint{NodeID: b.NodeID, Host: b.Host, Port: b.Port})
				}
			},
			endpoints: func(r kmsg.Response) (out []endpoint) {
				for _, n := range r.(*kmsg.ShareFetchResponse).NodeEndpoints {
					out = append(out, endpoint{n.NodeID, n.Host, n.Port, nil})
				}
				return out
			}},
		{name: "ShareAcknowledge", req: &kmsg.ShareAcknowledgeRequest{Version: 1, GroupID: kmsg.StringPtr("share"), MemberID: kmsg.StringPtr("m")},
			answer: func(r kmsg.Response, up []kmsg.MetadataResponseBroker) {
				for _, b := range up {
					r.(*kmsg.ShareAcknowledgeResponse).NodeEndpoints = append(r.(*kmsg.ShareAcknowledgeResponse).NodeEndpoints,
						kmsg.ShareAcknowledgeResponseNodeEndpoint{NodeID: b.NodeID, Host: b.Host, Port: b.Port})
				}
			},
			endpoints: func(r kmsg.Response) (out []endpoint) {
				for _, n := range r.(*kmsg.ShareAcknowledgeResponse).NodeEndpoints {
					out = append(out, endpoint{n.NodeID, n.Host, n.Port, nil})
				}
				return out
			}},
	}
	for _, c := range cases {
		t.Run(c.name+" is rewritten", func(t *testing.T) {
			var answered atomic.Int32
			e.Cluster.ControlKey(c.req.Key(), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
				if m, ok := kreq.(*kmsg.MetadataRequest); ok && (len(m.Topics) != 1 || *m.Topics[0].Topic != "addr-meta") {
					e.Cluster.KeepControl()
					return nil, nil, false
				}
				answered.Add(1)
				resp := kreq.ResponseKind()
				c.answer(resp, up)
				return resp, nil, true
			})
			addr := e.Bootstrap()
			if c.node {
				addr = e.Proxy.NodeAddr(e.Cluster.LeaderFor("addr", 0))
			}
			resp := dialRaw(t, addr).roundTrip(c.req)
			if n := answered.Load(); n != 1 {
				t.Fatalf("the broker answered %d requests with addresses, want 1", n)
			}
			got := c.endpoints(resp)
			if len(got) == 0 {
				t.Fatalf("no addresses reached the client")
			}
			for _, n := range got {
				assertProxyAddr(t, e, c.name, n.id, n.host, n.port)
			}
			if f, ok := resp.(*kmsg.FindCoordinatorResponse); ok && f.Version >= 4 {
				last := f.Coordinators[len(f.Coordinators)-1]
				if last.NodeID != -1 || last.Host != "" || last.Port != -1 {
					t.Errorf("the -1 coordinator came back as %+v, want it left alone", last)
				}
			}
		})
	}
	t.Run("Fetch is advertised up to v15", func(t *testing.T) {
		av := dialRaw(t, e.Bootstrap()).roundTrip(apiVersionsRequest(3)).(*kmsg.ApiVersionsResponse)
		for _, k := range av.ApiKeys {
			if k.ApiKey == int16(kmsg.Fetch) && k.MaxVersion != 15 {
				t.Errorf("Fetch max v%d, want v15", k.MaxVersion)
			}
		}
	})
	t.Run("unknown tagged fields are kept", func(t *testing.T) {
		e.Cluster.ControlKey(int16(kmsg.Metadata), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
			m := kreq.(*kmsg.MetadataRequest)
			if len(m.Topics) != 1 || *m.Topics[0].Topic != "addr-tags" {
				e.Cluster.KeepControl()
				return nil, nil, false
			}
			resp := m.ResponseKind().(*kmsg.MetadataResponse)
			resp.Brokers = append([]kmsg.MetadataResponseBroker(nil), up...)
			resp.Brokers[0].UnknownTags.Set(99, []byte("broker"))
			resp.UnknownTags.Set(77, []byte("top"))
			return resp, nil, true
		})
		resp := dialRaw(t, e.Bootstrap()).roundTrip(metadataRequest(12, "addr-tags")).(*kmsg.MetadataResponse)
		if g := tagMap(resp.UnknownTags); g[77] != fmt.Sprintf("% x", "top") {
			t.Errorf("top-level tags %v, want 77: top", g)
		}
		if g := tagMap(resp.Brokers[0].UnknownTags); g[99] != fmt.Sprintf("% x", "broker") {
			t.Errorf("broker tags %v, want 99: broker", g)
		}
		assertProxyAddr(t, e, "tagged Metadata", resp.Brokers[0].NodeID, resp.Brokers[0].Host, resp.Brokers[0].Port)
	})
	t.Run("frames that need no rewrite are forwarded unchanged", func(t *testing.T) {
		// A fetch answer, fixed, read through the proxy and from kfake
		// directly: the same bytes. The batch is built once, so its
		// timestamps are the same in both answers.
		batch := recordBatch("unparsed")
		e.Cluster.ControlKey(int16(kmsg.Fetch), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
			e.Cluster.KeepControl()
			resp := kreq.ResponseKind().(*kmsg.FetchResponse)
			resp.SessionID = 1234
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic = "addr"
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.HighWatermark, rp.LastStableOffset = 7, 7
			rp.RecordBatches = batch
			rt.Partitions = append(rt.Partitions, rp)
			resp.Topics = append(resp.Topics, rt)
			return resp, nil, true
		})
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.ReplicaID, req.MaxWaitMillis = 12, -1, 10
		frame := func(addr string) []byte {
			raw := dialRaw(t, addr)
			raw.send(req)
			b, err := raw.readFrame()
			if err != nil {
				t.Fatalf("fetch via %s: %v", addr, err)
			}
			return b
		}
		leader := e.Cluster.LeaderFor("addr", 0)
		via, direct := frame(e.Proxy.NodeAddr(leader)), frame(e.Cluster.ListenAddrs()[leader])
		if !bytes.Equal(via, direct) {
			t.Errorf("fetch response through the proxy differs from the broker's:\ngot  % x\nwant % x", via, direct)
		}
	})
}

func TestReadmeVersions(t *testing.T) {
	t.Parallel()
	e := proxytest.New(t, proxytest.Options{Kfake: []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, "ver")}})
	// The broker's own answer: narrower than kmsg in places, wider in
	// others, with an unknown key, an inter-broker key and transactions v2.
	var produceMin, produceMax atomic.Int32
	produceMin.Store(3)
	produceMax.Store(11)
	e.Cluster.ControlKey(int16(kmsg.ApiVersions), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		e.Cluster.KeepControl()
		r := kreq.ResponseKind().(*kmsg.ApiVersionsResponse)
		r.ApiKeys = append(r.ApiKeys, []kmsg.ApiVersionsResponseApiKey{
			{ApiKey: int16(kmsg.Produce), MinVersion: int16(produceMin.Load()), MaxVersion: int16(produceMax.Load())},
			{ApiKey: int16(kmsg.Fetch), MinVersion: 4, MaxVersion: 17},
			{ApiKey: int16(kmsg.Metadata), MinVersion: 0, MaxVersion: 9},
			{ApiKey: int16(kmsg.ApiVersions), MinVersion: 0, MaxVersion: 4},
			{ApiKey: int16(kmsg.LeaderAndISR), MinVersion: 0, MaxVersion: 7},
			{ApiKey: 999, MinVersion: 0, MaxVersion: 3},
		}...)
		r.SupportedFeatures = []kmsg.ApiVersionsResponseSupportedFeature{{Name: "transaction.version", MinVersion: 0, MaxVersion: 2}}
		r.FinalizedFeatures = []kmsg.ApiVersionsResponseFinalizedFeature{{Name: "transaction.version", MinVersionLevel: 2, MaxVersionLevel: 2}}
		r.FinalizedFeaturesEpoch = 1
		return r, nil, true
	})
	raw := dialRaw(t, e.Bootstrap())
	advertised := func(t *testing.T) (*kmsg.ApiVersionsResponse, map[int16]kmsg.ApiVersionsResponseApiKey) {
		r := raw.roundTrip(apiVersionsRequest(3)).(*kmsg.ApiVersionsResponse)
		m := map[int16]kmsg.ApiVersionsResponseApiKey{}
		for _, k := range r.ApiKeys {
			m[k.ApiKey] = k
		}
		return r, m
	}

	t.Run("the intersection of the broker's ranges and what the proxy can decode", func(t *testing.T) {
		_, m := advertised(t)
		if k := m[int16(kmsg.Metadata)]; k.MaxVersion != 9 {
			t.Errorf("Metadata max v%d, want the broker's v9", k.MaxVersion)
		}
		if k := m[int16(kmsg.Fetch)]; k.MinVersion != 4 || k.MaxVersion != 15 {
			t.Errorf("Fetch v%d-%d, want v4-15", k.MinVersion, k.MaxVersion)
		}
	})
	t.Run("unknown and inter-broker APIs are withheld", func(t *testing.T) {
		_, m := advertised(t)
		for _, k := range []int16{999, int16(kmsg.LeaderAndISR)} {
			if _, ok := m[k]; ok {
				t.Errorf("key %d advertised", k)
			}
		}
	})
	t.Run("Produce min stays 0 and max is 12", func(t *testing.T) {
		produceMin.Store(3)
		produceMax.Store(13)
		defer produceMax.Store(11)
		_, m := advertised(t)
		if k := m[int16(kmsg.Produce)]; k.MinVersion != 0 || k.MaxVersion != 12 {
			t.Errorf("Produce v%d-%d, want v0-12", k.MinVersion, k.MaxVersion)
		}
	})
	t.Run("Produce v0-2 requests get UNSUPPORTED_VERSION", func(t *testing.T) {
		node := dialRaw(t, e.Proxy.NodeAddr(e.Cluster.LeaderFor("ver", 0)))
		for _, v := range []int16{0, 1, 2} {
			p := onlyPartition(t, node.roundTrip(produceRequest(v, 1, "ver", 0, "old")))
			if p.ErrorCode != kerr.UnsupportedVersion.Code {
				t.Errorf("Produce v%d: code %d, want UNSUPPORTED_VERSION", v, p.ErrorCode)
			}
		}
	})
	t.Run("transaction.version is lowered when the Produce clamp would break transactions v2", func(t *testing.T) {
		r, _ := advertised(t) // Produce max 11 < 12
		for _, f := range r.FinalizedFeatures {
			if f.Name == "transaction.version" && f.MaxVersionLevel > 1 {
				t.Errorf("finalized transaction.version %d, want at most 1 with Produce max v11", f.MaxVersionLevel)
			}
		}
		for _, f := range r.SupportedFeatures {
			if f.Name == "transaction.version" && f.MaxVersion > 1 {
				t.Errorf("supported transaction.version %d, want at most 1", f.MaxVersion)
			}
		}
	})
	t.Run("an ApiVersions request newer than the proxy gets the KIP-511 v0 reply", func(t *testing.T) {
		r := dialRaw(t, e.Bootstrap()).roundTrip(apiVersionsRequest(99)).(*kmsg.ApiVersionsResponse)
		if r.ErrorCode != kerr.UnsupportedVersion.Code || len(r.ApiKeys) != 1 || r.ApiKeys[0].ApiKey != int16(kmsg.ApiVersions) {
			t.Errorf("got error %d keys %+v, want UNSUPPORTED_VERSION and ApiVersions alone", r.ErrorCode, r.ApiKeys)
		}
	})
}

func TestReadmeOrderingAndBackpressure(t *testing.T) {
	t.Parallel()
	t.Run("one upstream connection per client connection", func(t *testing.T) {
		t.Parallel()
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		rl := newRelay(t, c.ListenAddrs()[0])
		e := proxytest.Start(t, c, proxytest.Options{Proxy: func(cfg *proxy.Config) { cfg.Upstream = []string{rl.addr()} }})
		before := rl.conns()
		for range 3 {
			raw := dialRaw(t, e.Bootstrap())
			for range 3 {
				raw.roundTrip(metadataRequest(12))
			}
		}
		if got := rl.conns() - before; got != 3 {
			t.Errorf("3 client connections of 3 requests each made %d upstream connections, want 3", got)
		}
	})
	t.Run("responses leave in request order, the proxy's own answers included", func(t *testing.T) {
		t.Parallel()
		e := proxytest.New(t, proxytest.Options{})
		release := make(chan struct{})
		e.Cluster.ControlKey(int16(kmsg.Metadata), func(kmsg.Request) (kmsg.Response, error, bool) {
			e.Cluster.SleepControl(func() { <-release })
			return nil, nil, false
		})
		raw := dialRaw(t, e.Bootstrap())
		b1, c1 := raw.frame(metadataRequest(12))
		b2, c2 := raw.frame(apiVersionsRequest(99)) // answered by the proxy
		raw.write(append(b1, b2...))
		proxytest.Eventually(t, 10*time.Second, func() error {
			if got := metricSum(t, e.Metrics, "schemaproxy_local_responses_total", "api", "ApiVersions"); got != 1 {
				return fmt.Errorf("%v local answers, want 1", got)
			}
			return nil
		})
		close(release)
		raw.read(c1) // fails the test if the local answer overtook it
		raw.read(c2)
	})
	t.Run("acks=0 Produce takes no response slot", func(t *testing.T) {
		t.Parallel()
		e := proxytest.New(t, proxytest.Options{Kfake: []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, "a0slot")},
			Proxy: func(c *proxy.Config) { c.MaxInFlight = 1 }})
		raw := leaderRaw(t, e, "a0slot")
		var pipeline []byte
		for i := range 5 {
			b, _ := raw.frame(produceRequest(9, 0, "a0slot", 0, "z"+itoa(i)))
			pipeline = append(pipeline, b...)
		}
		b, corr := raw.frame(apiVersionsRequest(3))
		raw.write(append(pipeline, b...))
		raw.read(corr) // with a slot per acks=0 request, this would never come
		waitEnd(t, e, "a0slot", 0, 5)
	})
	t.Run("a client that stops reading stops being read", func(t *testing.T) {
		t.Parallel()
		const maxInFlight = 2
		e := proxytest.New(t, proxytest.Options{Proxy: func(c *proxy.Config) { c.MaxInFlight = maxInFlight }})
		var seen atomic.Int64
		e.Cluster.ControlKey(int16(kmsg.Metadata), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
			e.Cluster.KeepControl()
			seen.Add(1)
			resp := kreq.ResponseKind().(*kmsg.MetadataResponse)
			rt := kmsg.NewMetadataResponseTopic()
			rt.Topic = kmsg.StringPtr("big")
			rp := kmsg.NewMetadataResponseTopicPartition()
			rp.Replicas = make([]int32, 256<<10) // about 1 MiB
			rt.Partitions = append(rt.Partitions, rp)
			resp.Topics = append(resp.Topics, rt)
			return resp, nil, true
		})
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10)
			}); err != nil {
				return err
			}
			return serr
		}}
		c, err := d.DialContext(context.Background(), "tcp", e.Bootstrap())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		raw := newRaw(t, c)
		const n = 40
		var pipeline []byte
		for range n {
			b, _ := raw.frame(metadataRequest(12, "big"))
			pipeline = append(pipeline, b...)
		}
		raw.write(pipeline)
		proxytest.Eventually(t, 10*time.Second, func() error {
			if got := seen.Load(); got < maxInFlight {
				return fmt.Errorf("broker saw %d requests", got)
			}
			return nil
		})
		const slack = 12 // answers the socket buffers hold
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); <-tick.C {
			if got := seen.Load(); got > maxInFlight+slack {
				t.Fatalf("broker saw %d of %d requests while the client read nothing, want at most %d", got, n, maxInFlight+slack)
			}
		}
	})
}

func TestReadmeFraming(t *testing.T) {
	t.Parallel()
	logs := new(proxytest.LogBuffer)
	const maxRequest = 1 << 20
	e := proxytest.New(t, proxytest.Options{Log: logs, Proxy: func(c *proxy.Config) { c.MaxRequestBytes = maxRequest }})
	// closedAfter sends b (a size prefix, perhaps a header, never a whole
	// body) and wants the connection closed at once: the proxy judged the
	// size before reading or allocating the rest.
	closedAfter := func(t *testing.T, setup func(*rawClient), b []byte) {
		t.Helper()
		raw := dialRaw(t, e.Bootstrap())
		if setup != nil {
			setup(raw)
		}
		raw.write(b)
		expectClosed(t, raw.c)
	}
	size := func(n int32) []byte {
		b := kbin.AppendInt32(nil, n)
		b = kbin.AppendInt16(b, int16(kmsg.Metadata))
		b = kbin.AppendInt16(b, 12)
		return kbin.AppendInt32(b, 1)
	}
	t.Run("a negative size prefix closes the connection", func(t *testing.T) {
		closedAfter(t, nil, size(-5))
	})
	t.Run("a size over --max-request-bytes closes the connection before the body", func(t *testing.T) {
		closedAfter(t, nil, size(maxRequest+1))
	})
	t.Run("a size at --max-request-bytes is read", func(t *testing.T) {
		raw := dialRaw(t, e.Bootstrap())
		raw.write(size(maxRequest))
		raw.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		var one [1]byte
		if _, err := raw.c.Read(one[:]); !isTimeout(err) {
			t.Errorf("got %v, want the proxy waiting for the body", err)
		}
	})
	t.Run("over 512 KiB during SASL closes the connection", func(t *testing.T) {
		closedAfter(t, func(r *rawClient) {
			hs := kmsg.NewPtrSASLHandshakeRequest()
			hs.Version, hs.Mechanism = 1, "PLAIN"
			r.roundTrip(hs)
		}, func() []byte {
			b := kbin.AppendInt32(nil, 512<<10+1)
			b = kbin.AppendInt16(b, int16(kmsg.SASLAuthenticate))
			b = kbin.AppendInt16(b, 1)
			return kbin.AppendInt32(b, 2)
		}())
	})
	t.Run("HTTP on a plaintext port is closed with a log line that says so", func(t *testing.T) {
		raw := dialRaw(t, e.Bootstrap())
		raw.write([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"))
		expectClosed(t, raw.c)
		logs.WaitLine(t, 5*time.Second, "client_addr="+raw.c.LocalAddr().String(), "looks like an HTTP request")
	})
	t.Run("a TLS handshake on a plaintext port is closed with a log line that says so", func(t *testing.T) {
		raw := dialRaw(t, e.Bootstrap())
		tc := tls.Client(raw.c, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the peer is a plaintext listener
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tc.HandshakeContext(ctx); err == nil || ctx.Err() != nil {
			t.Errorf("handshake: %v, want it refused before the deadline", err)
		}
		logs.WaitLine(t, 5*time.Second, "client_addr="+raw.c.LocalAddr().String(), "looks like a TLS handshake on a plaintext listener")
	})
}

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestReadmeSASL(t *testing.T) {
	t.Parallel()
	logs := new(proxytest.LogBuffer)
	e := proxytest.New(t, proxytest.Options{Log: logs, Kfake: []kfake.Opt{
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "plain-user", "plain-pass"),
		kfake.Superuser("SCRAM-SHA-256", "s256", "s256-pass"),
		kfake.Superuser("SCRAM-SHA-512", "s512", "s512-pass"),
		kfake.SeedTopics(1, "sasl"),
		kfake.BrokerConfigs(map[string]string{"connections.max.reauth.ms": "1000"}),
	}})
	var handshakes atomic.Int64
	e.Cluster.ControlKey(int16(kmsg.SASLHandshake), func(kmsg.Request) (kmsg.Response, error, bool) {
		e.Cluster.KeepControl()
		handshakes.Add(1)
		return nil, nil, false
	})
	ping := func(m sasl.Mechanism) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return e.Client(t, kgo.SASL(m), kgo.RequestRetries(0)).Ping(ctx)
	}
	for _, c := range []struct {
		name      string
		good, bad sasl.Mechanism
	}{
		{"PLAIN", plain.Auth{User: "plain-user", Pass: "plain-pass"}.AsMechanism(), plain.Auth{User: "plain-user", Pass: "no"}.AsMechanism()},
		{"SCRAM-SHA-256", scram.Auth{User: "s256", Pass: "s256-pass"}.AsSha256Mechanism(), scram.Auth{User: "s256", Pass: "no"}.AsSha256Mechanism()},
		{"SCRAM-SHA-512", scram.Auth{User: "s512", Pass: "s512-pass"}.AsSha512Mechanism(), scram.Auth{User: "s512", Pass: "no"}.AsSha512Mechanism()},
	} {
		t.Run(c.name+" passes through; the broker authenticates the client", func(t *testing.T) {
			if err := ping(c.good); err != nil {
				t.Errorf("right password: %v", err)
			}
			if err := ping(c.bad); err == nil {
				t.Errorf("wrong password authenticated")
			}
		})
	}
	t.Run("re-authentication per KIP-368", func(t *testing.T) {
		cl := e.Client(t, kgo.SASL(scram.Auth{User: "s256", Pass: "s256-pass"}.AsSha256Mechanism()), kgo.DefaultProduceTopic("sasl"), kgo.RequestRetries(0))
		conns := metricSum(t, e.Metrics, "schemaproxy_connections_total")
		h := handshakes.Load()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for start := time.Now(); time.Since(start) < 2500*time.Millisecond; <-tick.C {
			if err := produceSync(t, cl, &kgo.Record{Value: []byte("r")}); err != nil {
				t.Fatalf("produce %v into the run: %v", time.Since(start), err)
			}
		}
		newConns := metricSum(t, e.Metrics, "schemaproxy_connections_total") - conns
		if got := handshakes.Load() - h; float64(got) <= newConns {
			t.Errorf("%d handshakes over %v new connections: none re-authenticated in place", got, newConns)
		}
	})
	t.Run("SaslHandshake v0 is not advertised", func(t *testing.T) {
		av := dialRaw(t, e.Bootstrap()).roundTrip(apiVersionsRequest(3)).(*kmsg.ApiVersionsResponse)
		for _, k := range av.ApiKeys {
			if k.ApiKey == int16(kmsg.SASLHandshake) && k.MinVersion < 1 {
				t.Errorf("SaslHandshake advertised from v%d, want v1", k.MinVersion)
			}
		}
	})
	t.Run("a client that sends SaslHandshake v0 is disconnected with a log line naming the fix", func(t *testing.T) {
		raw := dialRaw(t, e.Bootstrap())
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 0, "PLAIN"
		raw.send(hs)
		expectClosed(t, raw.c)
		logs.WaitLine(t, 5*time.Second, "client_addr="+raw.c.LocalAddr().String(), "SaslHandshake v0", "use a client from Kafka 1.0 or later")
	})
}

func TestReadmeTLS(t *testing.T) {
	t.Parallel()
	upCA, clientCA := newCA(t), newCA(t)
	brokerTLS := &tls.Config{Certificates: []tls.Certificate{upCA.issue(t, "kfake")}, MinVersion: tls.VersionTLS12}
	listenerCert := clientCA.issue(t, "schemaproxy")
	// ping pings the proxy through a client with cfg (nil: plaintext).
	ping := func(t *testing.T, e *proxytest.Env, cfg *tls.Config) error {
		t.Helper()
		var d func(ctx context.Context, network, addr string) (net.Conn, error)
		if cfg != nil {
			d = (&tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}).DialContext
		} else {
			d = (&net.Dialer{Timeout: 5 * time.Second}).DialContext
		}
		cl := newClient(t, kgo.SeedBrokers(e.Bootstrap()), kgo.Dialer(d), kgo.RequestRetries(0))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return cl.Ping(ctx)
	}
	clientSide := func(c *proxy.Config, auth tls.ClientAuthType) {
		c.ClientTLS = &tls.Config{Certificates: []tls.Certificate{listenerCert}, ClientAuth: auth, ClientCAs: clientCA.pool, MinVersion: tls.VersionTLS12}
	}

	t.Run("toward clients only", func(t *testing.T) {
		t.Parallel()
		e := proxytest.New(t, proxytest.Options{Proxy: func(c *proxy.Config) { clientSide(c, tls.NoClientCert) }})
		if err := ping(t, e, &tls.Config{RootCAs: clientCA.pool, MinVersion: tls.VersionTLS12}); err != nil {
			t.Errorf("TLS client: %v", err)
		}
		if err := ping(t, e, nil); err == nil {
			t.Errorf("a plaintext client was served by a TLS listener")
		}
	})
	t.Run("toward brokers only", func(t *testing.T) {
		t.Parallel()
		e := proxytest.New(t, proxytest.Options{Kfake: []kfake.Opt{kfake.TLS(brokerTLS)},
			Proxy: func(c *proxy.Config) { c.UpstreamTLS = &tls.Config{RootCAs: upCA.pool, MinVersion: tls.VersionTLS12} }})
		if err := ping(t, e, nil); err != nil {
			t.Errorf("plaintext client, TLS upstream: %v", err)
		}
	})
	t.Run("optional mTLS: a client without a certificate is refused", func(t *testing.T) {
		t.Parallel()
		e := proxytest.New(t, proxytest.Options{Kfake: []kfake.Opt{kfake.TLS(brokerTLS)}, Proxy: func(c *proxy.Config) {
			clientSide(c, tls.RequireAndVerifyClientCert)
			c.UpstreamTLS = &tls.Config{RootCAs: upCA.pool, MinVersion: tls.VersionTLS12}
		}})
		withCert := &tls.Config{RootCAs: clientCA.pool, Certificates: []tls.Certificate{clientCA.issue(t, "client")}, MinVersion: tls.VersionTLS12}
		if err := ping(t, e, withCert); err != nil {
			t.Errorf("client with a certificate: %v", err)
		}
		if err := ping(t, e, &tls.Config{RootCAs: clientCA.pool, MinVersion: tls.VersionTLS12}); err == nil {
			t.Errorf("a client without a certificate was served")
		}
	})
}

func TestReadmeLifecycle(t *testing.T) {
	t.Parallel()
	t.Run("shutdown stops accepting and drains in-flight requests", func(t *testing.T) {
		t.Parallel()
		e := proxytest.New(t, proxytest.Options{Kfake: []kfake.Opt{kfake.SeedTopics(1, "lc")}})
		release := holdNextProduce(e)
		raw := leaderRaw(t, e, "lc")
		corr := raw.send(produceRequest(11, -1, "lc", 0, "in-flight"))
		waitRequests(t, e, 1)
		done := beginShutdown(t, e) // returns once listeners refuse connections
		close(release)
		if p := onlyPartition(t, raw.read(corr)); p.ErrorCode != 0 {
			t.Errorf("in-flight produce: code %d", p.ErrorCode)
		}
		expectClosed(t, raw.c)
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	t.Run("the drain lasts up to the shutdown timeout", func(t *testing.T) {
		t.Parallel()
		e := proxytest.New(t, proxytest.Options{Kfake: []kfake.Opt{kfake.SeedTopics(1, "lt")}})
		release := holdNextProduce(e)
		defer close(release)
		raw := leaderRaw(t, e, "lt")
		raw.send(produceRequest(11, -1, "lt", 0, "held"))
		waitRequests(t, e, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := e.Proxy.Shutdown(ctx)
		if took := time.Since(start); err == nil || took > 3*time.Second {
			t.Errorf("shutdown with a request held: %v after %v, want a cut-short drain near 300ms", err, took)
		}
		expectClosed(t, raw.c)
	})
	t.Run("a broker that closes closes the paired client connection at once", func(t *testing.T) {
		t.Parallel()
		e := proxytest.New(t, proxytest.Options{})
		raw := dialRaw(t, e.Bootstrap())
		raw.roundTrip(metadataRequest(12))
		e.Cluster.Close()
		expectClosed(t, raw.c)
	})
	t.Run("a panic in one connection is logged, counted and closes that connection only", func(t *testing.T) {
		t.Parallel()
		logs := new(proxytest.LogBuffer)
		e := proxytest.New(t, proxytest.Options{
			Kfake: []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, "lboom", "lcalm")},
			Log:   logs,
			Proxy: func(cfg *proxy.Config) { cfg.Checker = topicChecker{panicTopic: "lboom"} },
		})
		calm := leaderRaw(t, e, "lcalm")
		calm.roundTrip(apiVersionsRequest(3))
		boom := leaderRaw(t, e, "lboom")
		boom.send(produceRequest(9, -1, "lboom", 0, "bang"))
		expectClosed(t, boom.c)
		logs.WaitLine(t, 5*time.Second, "panic in connection", "client_addr="+boom.c.LocalAddr().String())
		proxytest.Eventually(t, 5*time.Second, func() error {
			if got := connErrors(e.Metrics, metrics.ReasonPanic); got != 1 {
				return fmt.Errorf("connection_errors_total{reason=panic} = %v, want 1", got)
			}
			return nil
		})
		if p := onlyPartition(t, calm.roundTrip(produceRequest(9, -1, "lcalm", 0, "still"))); p.ErrorCode != 0 {
			t.Errorf("the other connection: code %d", p.ErrorCode)
		}
		if !strings.Contains(logs.String(), "panic") {
			t.Errorf("no log line about the panic")
		}
	})
}
