package proxy_test

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/proxy"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// withLookups starts an enforcing proxy in front of topic (partitions
// partitions) with the given look-up budgets (-1: unlimited) and registry
// options.
func withLookups(t *testing.T, reg *enforcetest.Registry, perRequest, perConn int, topic string, partitions int32, ropts ...enforce.RegistryOpt) *proxytest.Env {
	t.Helper()
	return proxytest.New(t, proxytest.Options{
		Kfake:        []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic)},
		Registry:     reg,
		RegistryOpts: ropts,
		Proxy: func(c *proxy.Config) {
			c.RegistryLookupsPerRequest = perRequest
			c.RegistryLookupsPerConnection = perConn
		},
	})
}

// unknownValues returns n values framed with the unregistered IDs first,
// first+1, ...
func unknownValues(first, n int) [][]byte {
	vals := make([][]byte, n)
	for i := range vals {
		vals[i] = framed(first+i, "u"+strconv.Itoa(i))
	}
	return vals
}

// A request naming many unknown schema IDs makes at most its budget of
// registry requests, however many records or partitions it holds. Past
// the budget a batch that already holds an unknown record is still
// INVALID_RECORD, and a partition that could not be judged at all gets
// NOT_ENOUGH_REPLICAS (retriable): never a verdict without an answer.
func TestEnforceLookupsPerRequest(t *testing.T) {
	t.Parallel()
	const bound = 8
	reg := enforcetest.NewRegistry(t)
	e := withLookups(t, reg, bound, -1, "flood", 20)
	raw := leaderRaw(t, e, "flood")

	before := reg.Requests()
	p := onlyPartition(t, raw.roundTrip(rawProduce(9, -1, part{"flood", 0, valueBatch(unknownValues(1000, 2000)...)})))
	if got := reg.Requests() - before; got > bound || got == 0 {
		t.Errorf("one batch of 2000 unknown IDs made %d registry requests, want 1 to %d", got, bound)
	}
	if p.ErrorCode != kerr.InvalidRecord.Code {
		t.Errorf("batch of unknown IDs: %v, want INVALID_RECORD", kerr.ErrorForCode(p.ErrorCode))
	}

	var parts []part
	for i := range 20 {
		parts = append(parts, part{"flood", int32(i), valueBatch(framed(5000+i, "p"))})
	}
	before = reg.Requests()
	codes := map[int16]int{}
	for _, ps := range produced(t, raw.roundTrip(rawProduce(9, -1, parts...)))["flood"] {
		codes[ps.ErrorCode]++
	}
	if got := reg.Requests() - before; got > bound {
		t.Errorf("20 partitions of unknown IDs made %d registry requests, want at most %d", got, bound)
	}
	if codes[kerr.InvalidRecord.Code] > bound || codes[kerr.NotEnoughReplicas.Code] < 20-bound {
		t.Errorf("answers by error code %v, want at most %d INVALID_RECORD and the rest NOT_ENOUGH_REPLICAS", codes, bound)
	}
	if got := counter(t, e, "schemaproxy_registry_lookups_refused_total", "reason", enforce.RefusedRequestLimit); got == 0 {
		t.Errorf("registry_lookups_refused_total{reason=request_limit} = 0, want > 0")
	}
}

// A connection's requests together make at most its budget of registry
// requests (per minute); another connection has its own.
func TestEnforceLookupsPerConnection(t *testing.T) {
	t.Parallel()
	const bound = 5 // refills one look-up every 12 s: none during the test
	reg := enforcetest.NewRegistry(t)
	e := withLookups(t, reg, -1, bound, "conn", 1)
	raw := leaderRaw(t, e, "conn")

	before := reg.Requests()
	for i := range 6 {
		p := onlyPartition(t, raw.roundTrip(rawProduce(9, -1, part{"conn", 0, valueBatch(unknownValues(100*(i+1), 4)...)})))
		if i >= 2 && p.ErrorCode != kerr.NotEnoughReplicas.Code {
			t.Errorf("request %d, past the connection's budget: %v, want NOT_ENOUGH_REPLICAS", i, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	if got := reg.Requests() - before; got > bound {
		t.Errorf("6 requests of 4 unknown IDs on one connection made %d registry requests, want at most %d", got, bound)
	}
	if got := counter(t, e, "schemaproxy_registry_lookups_refused_total", "reason", enforce.RefusedConnectionLimit); got == 0 {
		t.Errorf("registry_lookups_refused_total{reason=connection_limit} = 0, want > 0")
	}

	before = reg.Requests()
	p := onlyPartition(t, leaderRaw(t, e, "conn").roundTrip(rawProduce(9, -1, part{"conn", 0, valueBatch(framed(9999, "x"))})))
	if got := reg.Requests() - before; got == 0 || p.ErrorCode != kerr.InvalidRecord.Code {
		t.Errorf("a second connection: %d registry requests, answer %v; want its own budget: a look-up and INVALID_RECORD",
			got, kerr.ErrorForCode(p.ErrorCode))
	}
}

// However many connections ask at once, at most the process bound of
// registry requests are in flight; the others wait for a slot.
func TestEnforceRegistryMaxInFlight(t *testing.T) {
	t.Parallel()
	const bound, conns = 3, 8
	reg := enforcetest.NewRegistry(t)
	var inFlight, peak atomic.Int64
	release := make(chan struct{})
	reg.SetFault(func(_ http.ResponseWriter, req *http.Request) bool {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		select {
		case <-release:
			return false
		case <-req.Context().Done():
			return true
		}
	})
	e := withLookups(t, reg, -1, -1, "slow", 1, enforce.WithMaxRequestsInFlight(bound))

	var wg sync.WaitGroup
	for i := range conns {
		raw := leaderRaw(t, e, "slow")
		wg.Add(1)
		go func() {
			defer wg.Done()
			onlyPartition(t, raw.roundTrip(rawProduce(9, -1, part{"slow", 0, valueBatch(framed(700+i, "s"))})))
		}()
	}
	// Every connection's look-up has missed the cache and asks for a slot;
	// the registry holds what reaches it.
	proxytest.Eventually(t, 10*time.Second, func() error {
		if n := metricSum(t, e.Metrics, "schemaproxy_registry_cache_lookups_total", "result", "miss"); n < conns {
			return fmt.Errorf("%v cache misses, waiting for %d", n, conns)
		}
		if n := inFlight.Load(); n < bound {
			return fmt.Errorf("%d registry requests in flight, waiting for %d", n, bound)
		}
		return nil
	})
	if g := metricSum(t, e.Metrics, "schemaproxy_registry_requests_in_flight"); g != bound {
		t.Errorf("registry_requests_in_flight = %v while the registry holds %d, want %d", g, inFlight.Load(), bound)
	}
	close(release)
	waitGroup(t, &wg, "produces")
	if p := peak.Load(); p > bound {
		t.Errorf("%d registry requests in flight at once, want at most %d", p, bound)
	}
	if g := metricSum(t, e.Metrics, "schemaproxy_registry_requests_in_flight"); g != 0 {
		t.Errorf("registry_requests_in_flight = %v after every request ended, want 0", g)
	}
}

// No client can make another client's freshly registered schema fail for
// good: one client produces with the next unused IDs in a loop, so that
// "unknown" is cached for them, while another registers a schema (taking
// one of those IDs) and produces with it at once. Its records land, after
// retries at most.
func TestEnforceFreshSchemaNotPoisoned(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	next := int64(reg.Avro(t, "fresh-value", orderAvro).ID + 1)
	e := withLookups(t, reg, 0, 0, "fresh", 1)

	var nextID, rounds atomic.Int64
	nextID.Store(next)
	stop := make(chan struct{})
	done := make(chan struct{})
	raw := leaderRaw(t, e, "fresh")
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			raw.roundTrip(rawProduce(9, -1, part{"fresh", 0, valueBatch(unknownValues(int(nextID.Load()), 3)...)}))
			rounds.Add(1)
		}
	}()
	defer func() { close(stop); <-done }()

	cl := e.Client(t, kgo.DefaultProduceTopic("fresh"), kgo.RecordRetries(100))
	for i := range 3 {
		// Wait until the other client has asked for the next ID since the
		// last registration, so "unknown" is cached for it.
		seen := rounds.Load()
		proxytest.Eventually(t, 10*time.Second, func() error {
			if rounds.Load() < seen+2 {
				return fmt.Errorf("the looping client has not asked for ID %d yet", nextID.Load())
			}
			return nil
		})
		schema := fmt.Sprintf(`{"type":"record","name":"Order","namespace":"com.shop","fields":[{"name":"id","type":"string"},{"name":"f%d","type":"string","default":""}]}`, i)
		id := reg.Avro(t, "fresh-value", schema).ID
		if int64(id) != nextID.Load() {
			t.Fatalf("registered ID %d, want %d (the ID the looping client asks for)", id, nextID.Load())
		}
		if err := produceSync(t, cl, &kgo.Record{Value: framed(id, "fresh"+strconv.Itoa(i))}); err != nil {
			t.Fatalf("produce with freshly registered ID %d: %v, want it to land", id, err)
		}
		nextID.Add(1)
	}
	wantLanded(t, e, "fresh", 0, "fresh0", "fresh1", "fresh2")
}
