package proxy_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// groupTally counts, across members, how often each record was consumed.
type groupTally struct {
	mu     sync.Mutex
	seen   map[string]int
	byName map[string]int
}

func (g *groupTally) add(member string, r *kgo.Record) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seen[string(r.Value)]++
	g.byName[member]++
}

func (g *groupTally) distinct() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.seen)
}

func (g *groupTally) of(member string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.byName[member]
}

// member is one consumer of the group with its poll loop.
type member struct {
	name     string
	cl       *kgo.Client
	cancel   context.CancelFunc
	done     chan struct{}
	assigned atomic.Int32 // partitions currently owned
	errs     chan error
}

func startMember(t *testing.T, e *proxytest.Env, tally *groupTally, name string, opts ...kgo.Opt) *member {
	t.Helper()
	m := &member{name: name, done: make(chan struct{}), errs: make(chan error, 16)}
	count := func(ps map[string][]int32) (n int32) {
		for _, p := range ps {
			n += int32(len(p))
		}
		return n
	}
	opts = append(opts,
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { m.assigned.Add(count(ps)) }),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, ps map[string][]int32) {
			// The default revoke commits; keep it, or partitions would be
			// consumed again by their next owner.
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				m.report(fmt.Errorf("%s: commit on revoke: %w", name, err))
			}
			m.assigned.Add(-count(ps))
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { m.assigned.Add(-count(ps)) }),
	)
	m.cl = e.Client(t, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() {
		defer close(m.done)
		for {
			fs := m.cl.PollFetches(ctx)
			if ctx.Err() != nil || fs.IsClientClosed() {
				return
			}
			fs.EachError(func(topic string, p int32, err error) {
				m.report(fmt.Errorf("%s: fetch %s/%d: %w", name, topic, p, err))
			})
			fs.EachRecord(func(r *kgo.Record) { tally.add(name, r) })
		}
	}()
	t.Cleanup(func() { cancel(); <-m.done })
	return m
}

func (m *member) report(err error) {
	select {
	case m.errs <- err:
	default:
	}
}

// leave stops the poll loop, then closes the client, which commits what
// was polled and leaves the group.
func (m *member) leave() {
	m.cancel()
	<-m.done
	m.cl.Close()
}

func (m *member) checkErrs(t *testing.T) {
	t.Helper()
	for {
		select {
		case err := <-m.errs:
			t.Errorf("%v", err)
		default:
			return
		}
	}
}

// Two members of one group rebalance as the second joins and again as it
// leaves; across both, every record is consumed exactly once. Runs the
// classic protocol (JoinGroup/SyncGroup/Heartbeat) and KIP-848
// (ConsumerGroupHeartbeat) through the proxy.
func TestConsumerGroupRebalance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		wantKey   int16 // an API only this protocol uses
		avoidKey  int16 // an API only the other protocol uses
		groupOpts []kgo.Opt
	}{
		{
			name:     "classic",
			wantKey:  int16(kmsg.JoinGroup),
			avoidKey: int16(kmsg.ConsumerGroupHeartbeat),
			groupOpts: []kgo.Opt{
				kgo.Balancers(kgo.CooperativeStickyBalancer()),
				kgo.HeartbeatInterval(100 * time.Millisecond),
				kgo.SessionTimeout(6 * time.Second),
			},
		},
		{
			name:      "consumer",
			wantKey:   int16(kmsg.ConsumerGroupHeartbeat),
			avoidKey:  int16(kmsg.JoinGroup),
			groupOpts: []kgo.Opt{kgo.ServerSideBalancer()},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := proxytest.New(t, proxytest.Options{Kfake: []kfake.Opt{
				kfake.SeedTopics(6, "grp"),
				kfake.BrokerConfigs(map[string]string{"group.consumer.heartbeat.interval.ms": "100"}),
			}})
			var wantSeen, avoidSeen atomic.Int64
			for key, n := range map[int16]*atomic.Int64{tc.wantKey: &wantSeen, tc.avoidKey: &avoidSeen} {
				e.Cluster.ControlKey(key, func(kmsg.Request) (kmsg.Response, error, bool) {
					n.Add(1)
					return nil, nil, false
				})
			}
			ctx := testCtx(t, 45*time.Second)
			prod := e.Client(t, kgo.DefaultProduceTopic("grp"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
			produce := func(prefix string) {
				t.Helper()
				if err := prod.ProduceSync(ctx, values(prefix, 120)...).FirstErr(); err != nil {
					t.Fatalf("produce %s: %v", prefix, err)
				}
			}
			tally := &groupTally{seen: map[string]int{}, byName: map[string]int{}}
			opts := append([]kgo.Opt{kgo.ConsumeTopics("grp"), kgo.ConsumerGroup("g-" + tc.name),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, tc.groupOpts...)
			waitDistinct := func(n int) {
				t.Helper()
				proxytest.Eventually(t, 30*time.Second, func() error {
					if got := tally.distinct(); got < n {
						return fmt.Errorf("%d of %d records consumed", got, n)
					}
					return nil
				})
			}

			produce("one-")
			a := startMember(t, e, tally, "a", opts...)
			waitDistinct(120)

			b := startMember(t, e, tally, "b", opts...)
			proxytest.Eventually(t, 30*time.Second, func() error {
				if na, nb := a.assigned.Load(), b.assigned.Load(); na == 0 || nb == 0 || na+nb != 6 {
					return fmt.Errorf("assignment a=%d b=%d partitions, want both non-empty and 6 in all", na, nb)
				}
				return nil
			})
			produce("two-")
			waitDistinct(240)
			if tally.of("b") == 0 {
				t.Errorf("member b consumed nothing after joining: the rebalance never gave it partitions")
			}

			// b leaves; a takes over b's partitions from their committed offsets.
			b.leave()
			produce("three-")
			waitDistinct(360)
			proxytest.Eventually(t, 30*time.Second, func() error {
				if n := a.assigned.Load(); n != 6 {
					return fmt.Errorf("a owns %d partitions after b left, want 6", n)
				}
				return nil
			})

			a.checkErrs(t)
			b.checkErrs(t)
			tally.mu.Lock()
			for v, c := range tally.seen {
				if c != 1 {
					t.Errorf("record %s consumed %d times, want exactly once", v, c)
				}
			}
			if len(tally.seen) != 360 {
				t.Errorf("consumed %d distinct records, want 360", len(tally.seen))
			}
			tally.mu.Unlock()
			if wantSeen.Load() == 0 {
				t.Errorf("kfake saw no %s request: the %s protocol was not used", kmsg.NameForKey(tc.wantKey), tc.name)
			}
			if avoidSeen.Load() != 0 {
				t.Errorf("kfake saw %d %s requests: the group fell back from the %s protocol", avoidSeen.Load(), kmsg.NameForKey(tc.avoidKey), tc.name)
			}
			e.AssertNoLeak(t)
		})
	}
}
