package proxy

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/protocol"
)

// benchPair returns a pair whose proxy already serves nodes 0..nodes-1, so
// a rewrite measures the steady state: decode, look-up, re-encode, and no
// listener opened.
func benchPair(b *testing.B, nodes int) *pair {
	b.Helper()
	p, err := New(Config{Listen: "127.0.0.1:9092", Upstream: []string{"127.0.0.1:19092"}}, slog.New(slog.DiscardHandler), metrics.New())
	if err != nil {
		b.Fatal(err)
	}
	for id := range int32(nodes) {
		addr := net.JoinHostPort(benchHost(id), "9092")
		n := &node{id: id}
		n.upstream.Store(&addr)
		p.brokers.nodes[id] = n
	}
	return &pair{p: p}
}

func benchHost(id int32) string {
	return "b-" + strconv.Itoa(int(id)) + ".kafka-prod.eu-west-1.internal"
}

// metadataResponse is a Metadata v12 answer naming brokers brokers, and
// topics topics of 6 partitions with 3 replicas each.
func metadataResponse(brokers, topics int) kmsg.Response {
	r := kmsg.NewPtrMetadataResponse()
	r.Version = 12
	cluster := "k3Zs0mPiQ2y5W7x1bYc8Aa"
	r.ClusterID = &cluster
	r.ControllerID = 1
	for i := range int32(brokers) {
		rack := "eu-west-1" + string(rune('a'+i%3))
		r.Brokers = append(r.Brokers, kmsg.MetadataResponseBroker{NodeID: i, Host: benchHost(i), Port: 9092, Rack: &rack})
	}
	for t := range topics {
		name := fmt.Sprintf("orders.payments.v1-%03d", t)
		tp := kmsg.MetadataResponseTopic{Topic: &name, AuthorizedOperations: -2147483648}
		tp.TopicID[0], tp.TopicID[1] = byte(t), byte(t>>8)
		for p := range int32(6) {
			leader := (int32(t) + p) % int32(brokers)
			reps := []int32{leader, (leader + 1) % int32(brokers), (leader + 2) % int32(brokers)}
			tp.Partitions = append(tp.Partitions, kmsg.MetadataResponseTopicPartition{
				Partition: p, Leader: leader, LeaderEpoch: 7, Replicas: reps, ISR: reps,
			})
		}
		r.Topics = append(r.Topics, tp)
	}
	return r
}

func findCoordinatorResponse(version int16) kmsg.Response {
	r := kmsg.NewPtrFindCoordinatorResponse()
	r.Version = version
	if version < 4 {
		r.NodeID, r.Host, r.Port = 1, benchHost(1), 9092
		return r
	}
	r.Coordinators = []kmsg.FindCoordinatorResponseCoordinator{{Key: "orders-consumer", NodeID: 1, Host: benchHost(1), Port: 9092}}
	return r
}

func describeClusterResponse(brokers int) kmsg.Response {
	r := kmsg.NewPtrDescribeClusterResponse()
	r.Version = 1
	r.ClusterID = "k3Zs0mPiQ2y5W7x1bYc8Aa"
	r.ControllerID = 1
	for i := range int32(brokers) {
		r.Brokers = append(r.Brokers, kmsg.DescribeClusterResponseBroker{NodeID: i, Host: benchHost(i), Port: 9092})
	}
	return r
}

// produceResponse is a Produce v10 answer for one topic of partitions
// partitions; with moved, partition 0 failed NOT_LEADER_OR_FOLLOWER and
// the broker names the new leader in NodeEndpoints (KIP-951).
func produceResponse(partitions int, moved bool) kmsg.Response {
	r := kmsg.NewPtrProduceResponse()
	r.Version = 10
	t := kmsg.ProduceResponseTopic{Topic: "orders"}
	for p := range int32(partitions) {
		tp := kmsg.NewProduceResponseTopicPartition()
		tp.Partition, tp.BaseOffset, tp.LogAppendTime = p, 1_000_000+int64(p), -1
		t.Partitions = append(t.Partitions, tp)
	}
	if moved {
		t.Partitions[0].ErrorCode = 6
		t.Partitions[0].BaseOffset = -1
		t.Partitions[0].CurrentLeader.LeaderID, t.Partitions[0].CurrentLeader.LeaderEpoch = 2, 8
		r.Brokers = []kmsg.ProduceResponseBroker{{NodeID: 2, Host: benchHost(2), Port: 9092}}
	}
	r.Topics = []kmsg.ProduceResponseTopic{t}
	return r
}

// apiVersionsResponse is a Kafka 4.0 broker's ApiVersions v3 answer, which
// every new connection gets rewritten.
func apiVersionsResponse() kmsg.Response {
	r := kmsg.NewPtrApiVersionsResponse()
	r.Version = 3
	v := kversion.V4_0_0()
	v.EachMaxKeyVersion(func(k, max int16) {
		r.ApiKeys = append(r.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MaxVersion: max})
	})
	v.EachSupportedFeature(func(name string, lo, hi int16) {
		r.SupportedFeatures = append(r.SupportedFeatures, kmsg.ApiVersionsResponseSupportedFeature{Name: name, MinVersion: lo, MaxVersion: hi})
	})
	v.EachFinalizedFeature(func(name string, level int16) {
		r.FinalizedFeatures = append(r.FinalizedFeatures, kmsg.ApiVersionsResponseFinalizedFeature{Name: name, MinVersionLevel: level, MaxVersionLevel: level})
	})
	r.FinalizedFeaturesEpoch = 12
	return r
}

// BenchmarkRewriteResponse measures rewriteResponse on whole frames as
// relayResponse hands them over: decode with kmsg, rewrite broker
// addresses (every node already served), re-encode. SetBytes is the frame
// size. produce_v10_no_endpoints is every acks>=1 Produce response from
// v9 on: decoded to look for NodeEndpoints, none found, passed on as it
// came.
func BenchmarkRewriteResponse(b *testing.B) {
	for _, tc := range []struct {
		name  string
		nodes int
		resp  kmsg.Response
	}{
		{"metadata_v12_3brokers_100topics", 3, metadataResponse(3, 100)},
		{"metadata_v12_30brokers_100topics", 30, metadataResponse(30, 100)},
		{"metadata_v12_3brokers_0topics", 3, metadataResponse(3, 0)},
		{"find_coordinator_v3", 3, findCoordinatorResponse(3)},
		{"find_coordinator_v4", 3, findCoordinatorResponse(4)},
		{"describe_cluster_v1_3brokers", 3, describeClusterResponse(3)},
		{"produce_v10_node_endpoints", 3, produceResponse(8, true)},
		{"produce_v10_no_endpoints", 3, produceResponse(8, false)},
		{"api_versions_v3", 3, apiVersionsResponse()},
	} {
		pr := benchPair(b, tc.nodes)
		frame := protocol.AppendResponse(nil, 42, tc.resp)
		s := slot{key: tc.resp.Key(), version: tc.resp.GetVersion(), corr: 42, rewrite: true}
		out, err := pr.rewriteResponse(s, frame)
		if err != nil {
			b.Fatalf("%s: %v", tc.name, err)
		}
		if tc.name != "produce_v10_no_endpoints" && &out[0] == &frame[0] {
			b.Fatalf("%s: nothing rewritten", tc.name)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := pr.rewriteResponse(s, frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
