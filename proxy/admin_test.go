package proxy_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// Admin operations through the proxy: every broker address any of them
// returns is a proxy listener (ADDR-01, ADDR-02, ADDR-03).
func TestAdminAddressesRewritten(t *testing.T) {
	t.Parallel()
	e := proxytest.New(t, proxytest.Options{})
	ctx := testCtx(t, 30*time.Second)
	adm := kadm.NewClient(e.Client(t))

	t.Run("create topics", func(t *testing.T) {
		resp, err := adm.CreateTopics(ctx, 3, 1, nil, "adm-a", "adm-b")
		if err != nil {
			t.Fatalf("create topics: %v", err)
		}
		if err := resp.Error(); err != nil {
			t.Fatalf("create topics: %v", err)
		}
		md, err := adm.Metadata(ctx, "adm-a", "adm-b")
		if err != nil {
			t.Fatalf("metadata: %v", err)
		}
		for _, name := range []string{"adm-a", "adm-b"} {
			if n := len(md.Topics[name].Partitions); n != 3 {
				t.Errorf("topic %s has %d partitions, want 3", name, n)
			}
		}
		for _, b := range md.Brokers {
			assertProxyAddr(t, e, "kadm Metadata", b.NodeID, b.Host, b.Port)
		}
	})

	t.Run("broker metadata", func(t *testing.T) {
		md, err := adm.BrokerMetadata(ctx)
		if err != nil {
			t.Fatalf("broker metadata: %v", err)
		}
		if len(md.Brokers) != 3 {
			t.Fatalf("got %d brokers, want 3", len(md.Brokers))
		}
		for _, b := range md.Brokers {
			assertProxyAddr(t, e, "BrokerMetadata", b.NodeID, b.Host, b.Port)
		}
		if md.Controller < 0 || e.Proxy.NodeAddr(md.Controller) == "" {
			t.Errorf("controller %d has no proxy listener", md.Controller)
		}
	})

	t.Run("metadata every version", func(t *testing.T) {
		raw := dialRaw(t, e.Bootstrap())
		for _, v := range []int16{0, 1, 4, 9, 12, 13} {
			resp := raw.roundTrip(metadataRequest(v)).(*kmsg.MetadataResponse)
			if len(resp.Brokers) != 3 {
				t.Errorf("Metadata v%d: %d brokers, want 3", v, len(resp.Brokers))
			}
			for _, b := range resp.Brokers {
				assertProxyAddr(t, e, "Metadata v"+itoa(int(v)), b.NodeID, b.Host, b.Port)
			}
		}
	})

	t.Run("describe cluster", func(t *testing.T) {
		raw := dialRaw(t, e.Bootstrap())
		for v := int16(0); v <= 2; v++ {
			req := kmsg.NewPtrDescribeClusterRequest()
			req.Version = v
			if v >= 1 {
				req.EndpointType = 1
			}
			resp := raw.roundTrip(req).(*kmsg.DescribeClusterResponse)
			if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
				t.Fatalf("DescribeCluster v%d: %v", v, err)
			}
			if len(resp.Brokers) != 3 {
				t.Errorf("DescribeCluster v%d: %d brokers, want 3", v, len(resp.Brokers))
			}
			for _, b := range resp.Brokers {
				assertProxyAddr(t, e, "DescribeCluster v"+itoa(int(v)), b.NodeID, b.Host, b.Port)
			}
		}
	})

	t.Run("list groups and coordinators", func(t *testing.T) {
		// Committing offsets creates the group.
		offs := kadm.Offsets{}
		offs.AddOffset("adm-a", 0, 0, -1)
		if err := adm.CommitAllOffsets(ctx, "adm-group", offs); err != nil {
			t.Fatalf("commit offsets: %v", err)
		}
		groups, err := adm.ListGroups(ctx)
		if err != nil {
			t.Fatalf("list groups: %v", err)
		}
		if _, ok := groups["adm-group"]; !ok {
			t.Errorf("list groups: %v, want adm-group among them", groups.Groups())
		}
		for _, g := range groups {
			if e.Proxy.NodeAddr(g.Coordinator) == "" {
				t.Errorf("group %s coordinator %d has no proxy listener", g.Group, g.Coordinator)
			}
		}
		check := func(what string, rs kadm.FindCoordinatorResponses) {
			t.Helper()
			if err := rs.Error(); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			for _, r := range rs {
				assertProxyAddr(t, e, what+" "+r.Name, r.NodeID, r.Host, r.Port)
			}
		}
		check("FindCoordinator(group)", adm.FindGroupCoordinators(ctx, "adm-group", "g2", "g3", "g4"))
		check("FindCoordinator(txn)", adm.FindTxnCoordinators(ctx, "tx-a", "tx-b", "tx-c"))

		// Single-key FindCoordinator (v0-3) carries the address at the top level.
		raw := dialRaw(t, e.Bootstrap())
		for _, v := range []int16{0, 1, 2, 3} {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.Version = v
			req.CoordinatorKey = "adm-group"
			resp := raw.roundTrip(req).(*kmsg.FindCoordinatorResponse)
			if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
				t.Fatalf("FindCoordinator v%d: %v", v, err)
			}
			assertProxyAddr(t, e, "FindCoordinator v"+itoa(int(v)), resp.NodeID, resp.Host, resp.Port)
		}
	})
	e.AssertNoLeak(t)
}

// A batched FindCoordinator answer with one valid coordinator and one
// COORDINATOR_NOT_AVAILABLE entry (-1, "", -1): the valid one is rewritten,
// the other passes untouched and opens no listener (ADDR-02 edge).
func TestFindCoordinatorInvalidEntryUntouched(t *testing.T) {
	t.Parallel()
	e := proxytest.New(t, proxytest.Options{})
	upstream := e.Cluster.ListenAddrs()
	host, portStr, _ := net.SplitHostPort(upstream[1])
	port, _ := strconv.Atoi(portStr)

	inject := func(single bool) {
		e.Cluster.ControlKey(int16(kmsg.FindCoordinator), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
			req := kreq.(*kmsg.FindCoordinatorRequest)
			resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
			if single {
				resp.NodeID, resp.Host, resp.Port = -1, "", -1
				resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
				return resp, nil, true
			}
			good := kmsg.NewFindCoordinatorResponseCoordinator()
			good.Key, good.NodeID, good.Host, good.Port = "good", 1, host, int32(port)
			bad := kmsg.NewFindCoordinatorResponseCoordinator()
			bad.Key, bad.NodeID, bad.Host, bad.Port = "bad", -1, "", -1
			bad.ErrorCode = kerr.CoordinatorNotAvailable.Code
			resp.Coordinators = []kmsg.FindCoordinatorResponseCoordinator{good, bad}
			return resp, nil, true
		})
	}

	raw := dialRaw(t, e.Bootstrap())
	for _, v := range []int16{4, 5, 6} {
		inject(false)
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.Version = v
		req.CoordinatorKeys = []string{"good", "bad"}
		resp := raw.roundTrip(req).(*kmsg.FindCoordinatorResponse)
		if len(resp.Coordinators) != 2 {
			t.Fatalf("v%d: got %d coordinators, want 2", v, len(resp.Coordinators))
		}
		for _, c := range resp.Coordinators {
			switch c.Key {
			case "good":
				assertProxyAddr(t, e, "FindCoordinator v"+itoa(int(v))+" good", c.NodeID, c.Host, c.Port)
			case "bad":
				if c.NodeID != -1 || c.Host != "" || c.Port != -1 || c.ErrorCode != kerr.CoordinatorNotAvailable.Code {
					t.Errorf("v%d: error entry became %d/%q/%d (error %d), want -1/\"\"/-1 untouched", v, c.NodeID, c.Host, c.Port, c.ErrorCode)
				}
			default:
				t.Errorf("v%d: unexpected coordinator key %q", v, c.Key)
			}
		}
	}

	inject(true)
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version = 3
	req.CoordinatorKey = "bad"
	resp := raw.roundTrip(req).(*kmsg.FindCoordinatorResponse)
	if resp.NodeID != -1 || resp.Host != "" || resp.Port != -1 {
		t.Errorf("v3 error answer became %d/%q/%d, want -1/\"\"/-1 untouched", resp.NodeID, resp.Host, resp.Port)
	}

	if a := e.Proxy.NodeAddr(-1); a != "" {
		t.Errorf("node -1 has a listener at %s, want none", a)
	}
	// The connection is still usable: nothing above closed it.
	if resp := raw.roundTrip(metadataRequest(12)).(*kmsg.MetadataResponse); len(resp.Brokers) != 3 {
		t.Errorf("metadata after the injected answers: %d brokers, want 3", len(resp.Brokers))
	}
}

// A broker added at runtime is served by the proxy before any client is
// told about it: the first metadata naming it already points at an open
// proxy listener (ADDR-01).
func TestNodeAddedAtRuntime(t *testing.T) {
	t.Parallel()
	e := proxytest.New(t, proxytest.Options{})
	id, _, err := e.Cluster.AddNode(-1, 0)
	if err != nil {
		t.Fatalf("add node: %v", err)
	}
	if a := e.Proxy.NodeAddr(id); a != "" {
		t.Fatalf("node %d served at %s before any metadata named it", id, a)
	}
	raw := dialRaw(t, e.Bootstrap())
	resp := raw.roundTrip(metadataRequest(12)).(*kmsg.MetadataResponse)
	var found bool
	for _, b := range resp.Brokers {
		assertProxyAddr(t, e, "Metadata after AddNode", b.NodeID, b.Host, b.Port)
		if b.NodeID == id {
			found = true
			node := dialRaw(t, net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))))
			if resp := node.roundTrip(apiVersionsRequest(3)).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
				t.Errorf("new node %d through the proxy: ApiVersions error %d", id, resp.ErrorCode)
			}
		}
	}
	if !found {
		t.Errorf("metadata lists %d brokers without the new node %d", len(resp.Brokers), id)
	}
}
