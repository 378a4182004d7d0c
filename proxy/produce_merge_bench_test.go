package proxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/metrics"
)

// everyChecker rejects every partition whose number is a multiple of
// every (every 1: all of them) with a batch error, as the enforcer
// answers a partition whose records are null.
type everyChecker struct{ every int32 }

func (everyChecker) Protected(string) bool { return false }
func (everyChecker) HasProtected() bool    { return false }

func (c everyChecker) Check(_ context.Context, topic string, partition int32, _ []byte) error {
	if partition%c.every != 0 {
		return nil
	}
	return &enforce.ValidationError{Topic: topic, Partition: partition, Index: -1,
		Reason: enforce.ReasonBatchCorrupt, Detail: "batch of 0 bytes is shorter than its 61-byte header"}
}

func (everyChecker) RejectScope() enforce.Scope { return enforce.ScopePartition }

// loopbackPair is a pair for chk whose client and upstream connections are
// loopback TCP connections nobody writes to; they close when tb ends.
func loopbackPair(tb testing.TB, chk Checker) *pair {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	conns := make([]net.Conn, 0, 4)
	for range 2 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			tb.Fatalf("dial: %v", err)
		}
		s, err := ln.Accept()
		if err != nil {
			tb.Fatalf("accept: %v", err)
		}
		conns = append(conns, c, s)
	}
	tb.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	p := &Proxy{cfg: Config{Checker: chk}.withDefaults(), log: slog.New(slog.NewTextHandler(io.Discard, nil)), metrics: metrics.New()}
	return newPair(p, conns[1], conns[2], p.log)
}

// nullRequest is a Produce request for one topic with partitions 0..n-1,
// each with null records.
func nullRequest(version int16, n int) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = -1
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "t"
	rt.Partitions = make([]kmsg.ProduceRequestTopicPartition, n)
	for i := range rt.Partitions {
		rt.Partitions[i] = kmsg.NewProduceRequestTopicPartition()
		rt.Partitions[i].Partition = int32(i)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// BenchmarkProduceMergeRejections is the Produce path's work after the
// request is decoded, for requests of null-records partitions: every
// partition checked, the rejected ones dropped from the request, the
// broker's answer for the others (all: none) merged with the rejections
// and encoded. "all" is v3 with every partition rejected, answered by
// the proxy alone; "half" is v9, every other partition rejected, so each
// rejection carries a message. Bytes are the request's encoded size.
func BenchmarkProduceMergeRejections(b *testing.B) {
	for _, c := range []struct {
		name    string
		version int16
		every   int32
	}{{"all", 3, 1}, {"half", 9, 2}} {
		for _, n := range []int{10_000, 40_000, 160_000} {
			b.Run(fmt.Sprintf("%s/%d", c.name, n), func(b *testing.B) {
				chk := everyChecker{c.every}
				pr := loopbackPair(b, chk)
				b.SetBytes(int64(len(nullRequest(c.version, n).AppendTo(nil))))
				b.ReportAllocs()
				var out []byte
				for b.Loop() {
					b.StopTimer()
					req := nullRequest(c.version, n)
					b.StartTimer()
					rejs, err := pr.checkProduce(chk, req)
					if err != nil {
						b.Fatal(err)
					}
					dropRejected(req, rejs)
					resp := upstreamAnswer(req)
					applyRejections(resp, rejs)
					out = resp.AppendTo(out[:0])
				}
			})
		}
	}
}
