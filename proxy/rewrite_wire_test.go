package proxy_test

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// upstreamBrokers asks kfake itself, not the proxy, for its brokers.
func upstreamBrokers(t testing.TB, e *proxytest.Env) []kmsg.MetadataResponseBroker {
	t.Helper()
	resp := dialRaw(t, e.Cluster.ListenAddrs()[0]).roundTrip(metadataRequest(12)).(*kmsg.MetadataResponse)
	if len(resp.Brokers) == 0 {
		t.Fatalf("kfake lists no brokers")
	}
	return resp.Brokers
}

// endpoint is one broker address of a response, whatever its type.
type endpoint struct {
	id   int32
	host string
	port int32
	rack *string
}

// ShareFetch and ShareAcknowledge responses name brokers in NodeEndpoints,
// a regular field: the broker's answers, with kfake's own addresses, reach
// the client through the proxy's rewriter pointing at the proxy's node
// listeners, racks kept.
func TestShareAddressesRewritten(t *testing.T) {
	t.Parallel()
	e := proxytest.New(t, proxytest.Options{})
	up := upstreamBrokers(t, e)
	rack := "rack-share"

	for _, tc := range []struct {
		req kmsg.Request
		// answer fills the response with up's addresses; endpoints reads
		// them back from what the client got.
		answer    func(kmsg.Response)
		endpoints func(kmsg.Response) []endpoint
	}{
		{
			req: &kmsg.ShareFetchRequest{Version: 1, GroupID: kmsg.StringPtr("share"), MemberID: kmsg.StringPtr("m"), MaxWaitMillis: 100},
			answer: func(r kmsg.Response) {
				for _, b := range up {
					r.(*kmsg.ShareFetchResponse).NodeEndpoints = append(r.(*kmsg.ShareFetchResponse).NodeEndpoints,
						kmsg.ShareFetchResponseNodeEndpoint{NodeID: b.NodeID, Host: b.Host, Port: b.Port, Rack: &rack})
				}
			},
			endpoints: func(r kmsg.Response) (out []endpoint) {
				for _, n := range r.(*kmsg.ShareFetchResponse).NodeEndpoints {
					out = append(out, endpoint{n.NodeID, n.Host, n.Port, n.Rack})
				}
				return out
			},
		},
		{
			req: &kmsg.ShareAcknowledgeRequest{Version: 1, GroupID: kmsg.StringPtr("share"), MemberID: kmsg.StringPtr("m")},
			answer: func(r kmsg.Response) {
				for _, b := range up {
					r.(*kmsg.ShareAcknowledgeResponse).NodeEndpoints = append(r.(*kmsg.ShareAcknowledgeResponse).NodeEndpoints,
						kmsg.ShareAcknowledgeResponseNodeEndpoint{NodeID: b.NodeID, Host: b.Host, Port: b.Port, Rack: &rack})
				}
			},
			endpoints: func(r kmsg.Response) (out []endpoint) {
				for _, n := range r.(*kmsg.ShareAcknowledgeResponse).NodeEndpoints {
					out = append(out, endpoint{n.NodeID, n.Host, n.Port, n.Rack})
				}
				return out
			},
		},
	} {
		name := kmsg.NameForKey(tc.req.Key())
		t.Run(name, func(t *testing.T) {
			var answered atomic.Int32
			e.Cluster.ControlKey(tc.req.Key(), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
				answered.Add(1)
				resp := kreq.ResponseKind()
				tc.answer(resp)
				return resp, nil, true
			})
			resp := dialRaw(t, e.Bootstrap()).roundTrip(tc.req)
			if n := answered.Load(); n != 1 {
				t.Fatalf("the broker answered %d %s request(s) with endpoints, want 1", n, name)
			}
			got := tc.endpoints(resp)
			if len(got) != len(up) {
				t.Fatalf("%d node endpoints reached the client, want %d", len(got), len(up))
			}
			for i, n := range got {
				if n.id != up[i].NodeID {
					t.Errorf("endpoint %d: node %d, want %d (node IDs are kept)", i, n.id, up[i].NodeID)
				}
				if n.rack == nil || *n.rack != rack {
					t.Errorf("endpoint %d: rack %v, want %q", i, n.rack, rack)
				}
				assertProxyAddr(t, e, name, n.id, n.host, n.port)
			}
		})
	}
}

// tagMap is a Tags' keys and values (in hex), for comparison.
func tagMap(tags kmsg.Tags) map[uint32]string {
	m := map[uint32]string{}
	tags.Each(func(k uint32, v []byte) { m[k] = fmt.Sprintf("% x", v) })
	return m
}

// Rewriting a response's addresses keeps the tagged fields kmsg does not
// know, at the top level and inside each broker entry: the client gets
// the broker's bytes with only hosts and ports changed.
func TestRewriteKeepsUnknownTags(t *testing.T) {
	t.Parallel()
	e := proxytest.New(t, proxytest.Options{})
	up := upstreamBrokers(t, e)

	// The answer to Metadata v12 for topic "tagged": up's brokers, each
	// with a tag of its own, and two tags at the top level.
	answer := func(addr func(b kmsg.MetadataResponseBroker) (string, int32)) *kmsg.MetadataResponse {
		r := kmsg.NewPtrMetadataResponse()
		r.Version = 12
		r.ClusterID = kmsg.StringPtr("tags-cluster")
		r.ControllerID = up[0].NodeID
		for _, b := range up {
			nb := kmsg.NewMetadataResponseBroker()
			nb.NodeID = b.NodeID
			nb.Host, nb.Port = addr(b)
			nb.UnknownTags.Set(uint32(100+b.NodeID), []byte("broker-"+strconv.Itoa(int(b.NodeID))))
			r.Brokers = append(r.Brokers, nb)
		}
		r.UnknownTags.Set(7, []byte("top"))
		r.UnknownTags.Set(300, []byte{0, 1, 2, 0xff})
		return r
	}
	upstream := answer(func(b kmsg.MetadataResponseBroker) (string, int32) { return b.Host, b.Port })
	e.Cluster.ControlKey(int16(kmsg.Metadata), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.MetadataRequest)
		if req.Version != 12 || len(req.Topics) != 1 || req.Topics[0].Topic == nil || *req.Topics[0].Topic != "tagged" {
			return nil, nil, false
		}
		e.Cluster.KeepControl()
		return upstream, nil, true
	})
	req := metadataRequest(12, "tagged")

	// What the broker sends carries the tags (kfake encodes them).
	direct := dialRaw(t, e.Cluster.ListenAddrs()[0]).roundTrip(req).(*kmsg.MetadataResponse)
	if got := tagMap(direct.UnknownTags); len(got) != 2 {
		t.Fatalf("kfake sent top-level tags %v, want 2: the test needs them on the wire", got)
	}

	raw := dialRaw(t, e.Bootstrap())
	b, corr := raw.frame(req)
	raw.write(b)
	frame, err := raw.readFrame()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	_, resp, err := raw.decode(frame)
	if err != nil {
		t.Fatalf("response: %v", err)
	}
	got := resp.(*kmsg.MetadataResponse)
	// Response header v1: the correlation ID, then an empty tag buffer.
	if len(frame) < 5 || frame[4] != 0 {
		t.Fatalf("response header % x, want correlation ID %d and no tags", frame[:min(len(frame), 5)], corr)
	}

	if g, w := tagMap(got.UnknownTags), tagMap(upstream.UnknownTags); !maps.Equal(g, w) {
		t.Errorf("top-level unknown tags: got %v, want %v", g, w)
	}
	if len(got.Brokers) != len(up) {
		t.Fatalf("%d brokers reached the client, want %d", len(got.Brokers), len(up))
	}
	for i, gb := range got.Brokers {
		if g, w := tagMap(gb.UnknownTags), tagMap(upstream.Brokers[i].UnknownTags); !maps.Equal(g, w) {
			t.Errorf("broker %d unknown tags: got %v, want %v", gb.NodeID, g, w)
		}
		assertProxyAddr(t, e, "Metadata", gb.NodeID, gb.Host, gb.Port)
	}
	// Byte for byte, the client gets the broker's answer with the proxy's
	// addresses in place of kfake's.
	want := answer(func(b kmsg.MetadataResponseBroker) (string, int32) {
		host, port, _ := net.SplitHostPort(e.Proxy.NodeAddr(b.NodeID))
		p, _ := strconv.Atoi(port)
		return host, int32(p)
	}).AppendTo(nil)
	if !bytes.Equal(frame[5:], want) {
		t.Errorf("response body differs from the broker's with only addresses rewritten:\ngot  % x\nwant % x", frame[5:], want)
	}
}
