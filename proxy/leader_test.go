package proxy_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// Partition leaders move while a producer runs: the producer follows them
// (every record is acknowledged and lands once), and the KIP-951
// NodeEndpoints in NOT_LEADER produce answers never hand it an upstream
// address (ADDR-04).
func TestLeadershipMovesMidProduce(t *testing.T) {
	t.Parallel()
	const topic = "moving"
	e := proxytest.New(t, proxytest.Options{Kfake: []kfake.Opt{kfake.SeedTopics(3, topic)}})
	ctx := testCtx(t, 40*time.Second)

	t.Run("kgo follows", func(t *testing.T) {
		prod := e.Client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
			kgo.ProducerLinger(0))
		var (
			acked   atomic.Int64
			mu      sync.Mutex
			errs    []error
			stop    = make(chan struct{})
			stopped = make(chan struct{})
		)
		go func() {
			defer close(stopped)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := prod.ProduceSync(ctx, values(fmt.Sprintf("m%d-", i), 6)...).FirstErr(); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				acked.Add(6)
			}
		}()
		waitAcked := func(n int64) {
			t.Helper()
			proxytest.Eventually(t, 20*time.Second, func() error {
				if got := acked.Load(); got < n {
					return fmt.Errorf("%d records acknowledged, want %d", got, n)
				}
				return nil
			})
		}
		waitAcked(30)
		for round := range 6 {
			if round%2 == 0 {
				for p := int32(0); p < 3; p++ {
					next := (e.Cluster.LeaderFor(topic, p) + 1) % 3
					if err := e.Cluster.MoveTopicPartition(topic, p, next); err != nil {
						t.Fatalf("move %s/%d to %d: %v", topic, p, next, err)
					}
				}
			} else {
				e.Cluster.ShufflePartitionLeaders()
			}
			waitAcked(acked.Load() + 30)
		}
		close(stop)
		<-stopped
		mu.Lock()
		for _, err := range errs {
			t.Errorf("produce failed while leaders moved: %v", err)
		}
		mu.Unlock()

		n := int(acked.Load())
		cons := e.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		seen := consumeN(ctx, t, cons, n)
		for v, c := range seen {
			if c != 1 {
				t.Errorf("record %s stored %d times, want 1", v, c)
			}
		}
		e.AssertNoLeak(t)
	})

	// A produce sent to a node that no longer leads the partition gets
	// NOT_LEADER_OR_FOLLOWER with the new leader in NodeEndpoints; those
	// endpoints must name proxy listeners, for every version that has them.
	t.Run("NodeEndpoints rewritten", func(t *testing.T) {
		for _, v := range []int16{9, 10, 11, 12} {
			t.Run("v"+itoa(int(v)), func(t *testing.T) {
				// v9: Kafka defines NodeEndpoints from v10, but kmsg (and
				// so kgo) reads tag 0 from v9, and kfake fills it there.
				leader := e.Cluster.LeaderFor(topic, 0)
				wrong := (leader + 1) % 3
				raw := dialRaw(t, e.Proxy.NodeAddr(wrong))
				resp := raw.roundTrip(produceRequest(v, 1, topic, 0, "x")).(*kmsg.ProduceResponse)
				if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
					t.Fatalf("unexpected response shape %+v", resp.Topics)
				}
				p := resp.Topics[0].Partitions[0]
				if p.ErrorCode != kerr.NotLeaderForPartition.Code {
					t.Fatalf("error %v from node %d, want NOT_LEADER_OR_FOLLOWER (leader is %d)", kerr.ErrorForCode(p.ErrorCode), wrong, leader)
				}
				if p.CurrentLeader.LeaderID != leader {
					t.Errorf("CurrentLeader %d, want %d", p.CurrentLeader.LeaderID, leader)
				}
				if len(resp.Brokers) == 0 {
					t.Fatalf("no NodeEndpoints in the NOT_LEADER answer")
				}
				for _, b := range resp.Brokers {
					assertProxyAddr(t, e, "NodeEndpoints", b.NodeID, b.Host, b.Port)
					if b.Rack == nil || *b.Rack == "" {
						t.Errorf("node %d lost its rack in the rewrite", b.NodeID)
					}
				}
			})
		}
	})
	// Fetch is advertised up to v15 only, but a client that sends v16+
	// anyway gets its NOT_LEADER NodeEndpoints rewritten too (ADDR-05).
	t.Run("Fetch v16 NodeEndpoints rewritten", func(t *testing.T) {
		raw := dialRaw(t, e.Bootstrap())
		md := raw.roundTrip(metadataRequest(12, topic)).(*kmsg.MetadataResponse)
		topicID := md.Topics[0].TopicID
		leader := e.Cluster.LeaderFor(topic, 0)
		wrong := dialRaw(t, e.Proxy.NodeAddr((leader+1)%3))
		req := kmsg.NewPtrFetchRequest()
		req.Version = 16
		req.MaxBytes = 1 << 20
		ft := kmsg.NewFetchRequestTopic()
		ft.TopicID = topicID
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.Partition = 0
		fp.PartitionMaxBytes = 1 << 20
		fp.CurrentLeaderEpoch = -1
		ft.Partitions = append(ft.Partitions, fp)
		req.Topics = append(req.Topics, ft)
		resp := wrong.roundTrip(req).(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 ||
			resp.Topics[0].Partitions[0].ErrorCode != kerr.NotLeaderForPartition.Code {
			t.Fatalf("want NOT_LEADER_OR_FOLLOWER for a fetch from a follower, got %+v", resp.Topics)
		}
		if len(resp.Brokers) == 0 {
			t.Fatalf("no NodeEndpoints in the NOT_LEADER fetch answer")
		}
		for _, b := range resp.Brokers {
			assertProxyAddr(t, e, "Fetch v16 NodeEndpoints", b.NodeID, b.Host, b.Port)
		}
	})
}
