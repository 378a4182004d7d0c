package proxy_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/proxy"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// nullParts is partitions from..to-1 of topic, each with null records.
func nullParts(topic string, from, to int32) []part {
	parts := make([]part, 0, to-from)
	for p := from; p < to; p++ {
		parts = append(parts, part{topic: topic, partition: p})
	}
	return parts
}

// A request of 20,000 partitions, one valid and the rest with null
// records, is answered with each partition exactly once: the valid one
// as the broker answered it, every other one INVALID_RECORD merged into
// the broker's topic entry (invariant 10, at a size where a scan of the
// response per rejection took seconds).
func TestEnforceWideRequest(t *testing.T) {
	t.Parallel()
	const n = 20_000
	reg := enforcetest.NewRegistry(t)
	id := reg.Avro(t, "wide-value", orderAvro).ID
	e := enforced(t, reg, "", kfake.NumBrokers(1), kfake.SeedTopics(1, "wide"))
	raw := leaderRaw(t, e, "wide")
	for i, v := range []int16{3, 9} {
		tag := fmt.Sprintf("wide-%d", v)
		parts := append([]part{{"wide", 0, valueBatch(framed(id, tag))}}, nullParts("wide", 1, n)...)
		resp := raw.roundTrip(rawProduce(v, -1, parts...))
		if got := entries(resp); got != n {
			t.Errorf("v%d: response has %d partition entries, want %d", v, got, n)
		}
		got := produced(t, resp)["wide"]
		if rp, ok := got[0]; !ok || rp.ErrorCode != 0 || rp.BaseOffset != int64(i) {
			t.Errorf("v%d: wide/0 answered %v with error %v at base offset %d, want success at %d", v, ok, kerr.ErrorForCode(rp.ErrorCode), rp.BaseOffset, i)
		}
		for p := int32(1); p < n; p++ {
			rp, ok := got[p]
			if !ok {
				t.Errorf("v%d: wide/%d missing from the response", v, p)
				continue
			}
			wantRejected(t, v, rp, nil, fmt.Sprintf("schemaproxy: wide[%d] record batch: ", p), "(batch_corrupt)")
			if t.Failed() {
				break
			}
		}
	}
	wantLanded(t, e, "wide", 0, "wide-3", "wide-9")
}

// gatedChecker counts Check calls, and holds call number gateAt until
// its context ends.
type gatedChecker struct {
	proxy.Checker
	calls  atomic.Int64
	gateAt int64
	ended  atomic.Bool // call gateAt saw its context end
}

func (c *gatedChecker) Check(ctx context.Context, topic string, partition int32, records []byte) error {
	if c.calls.Add(1) == c.gateAt {
		<-ctx.Done()
		c.ended.Store(true)
	}
	return c.Checker.Check(ctx, topic, partition, records)
}

// A client that sends a request of 40,000 partitions and closes its
// connection while the proxy checks it ends the checks: the context of
// the check under way is canceled, and no partition after it is checked,
// so the proxy does not go on judging, merging and encoding for nobody.
func TestEnforceClientGoneStopsChecking(t *testing.T) {
	t.Parallel()
	const n = 40_000
	chk := &gatedChecker{gateAt: 1000}
	e := proxytest.New(t, proxytest.Options{
		Kfake:    []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, "gone")},
		Registry: enforcetest.NewRegistry(t),
		Proxy: func(cfg *proxy.Config) {
			cfg.CheckTimeout = time.Minute
			chk.Checker = cfg.Checker
			cfg.Checker = chk
		},
	})
	raw := leaderRaw(t, e, "gone")
	raw.send(rawProduce(9, -1, nullParts("gone", 0, n)...))
	proxytest.Eventually(t, 10*time.Second, func() error {
		if got := chk.calls.Load(); got < chk.gateAt {
			return fmt.Errorf("%d partitions checked, waiting for %d", got, chk.gateAt)
		}
		return nil
	})
	raw.c.Close()
	proxytest.Eventually(t, 10*time.Second, func() error {
		if !chk.ended.Load() {
			return fmt.Errorf("the context of the check under way has not ended since the client left")
		}
		return nil
	})
	// The connection is gone from the proxy once readRequests has
	// returned, so no check runs after this.
	proxytest.Eventually(t, 10*time.Second, func() error {
		if got := metricSum(t, e.Metrics, "schemaproxy_connections_active"); got != 0 {
			return fmt.Errorf("%v client connections active", got)
		}
		return nil
	})
	if got := chk.calls.Load(); got != chk.gateAt {
		t.Errorf("got %d of %d partitions checked, want checking to stop at %d, where the client left", got, n, chk.gateAt)
	}
}
