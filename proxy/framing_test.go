package proxy_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// Garbage and forbidden requests on the bootstrap port: each connection is
// closed at once and counted under its reason, and the proxy goes on
// serving everyone else (FR-06, FR-07, FR-04, ADDR-08). HTTP, a TLS
// handshake and SaslHandshake v0 are logged with what the peer probably is
// or how to fix the client.
func TestFramingAbuse(t *testing.T) {
	t.Parallel()
	logs := new(proxytest.LogBuffer)
	e := proxytest.New(t, proxytest.Options{Kfake: []kfake.Opt{kfake.SeedTopics(1, "big")}, Log: logs})

	// closedWith runs abuse on a fresh connection and checks that the
	// proxy closes it and counts one more error under reason. It returns
	// the connection's log line, which must hold every string of want.
	closedWith := func(t *testing.T, reason string, abuse func(*rawClient), want ...string) string {
		t.Helper()
		before := connErrors(e.Metrics, reason)
		raw := dialRaw(t, e.Bootstrap())
		addr := raw.c.LocalAddr().String()
		abuse(raw)
		expectClosed(t, raw.c)
		proxytest.Eventually(t, 5*time.Second, func() error {
			if got := connErrors(e.Metrics, reason); got != before+1 {
				return fmt.Errorf("connection_errors_total{reason=%q} = %v, want %v", reason, got, before+1)
			}
			return nil
		})
		return logs.WaitLine(t, 5*time.Second, append([]string{`msg="closing connection"`, "reason=" + reason, "client_addr=" + addr}, want...)...)
	}
	prefix := func(b ...byte) func(*rawClient) { return func(r *rawClient) { r.write(b) } }

	t.Run("size 0x7fffffff", func(t *testing.T) {
		closedWith(t, metrics.ReasonFraming, prefix(0x7f, 0xff, 0xff, 0xff))
	})
	t.Run("size -1", func(t *testing.T) {
		closedWith(t, metrics.ReasonFraming, prefix(0xff, 0xff, 0xff, 0xff))
	})
	t.Run("size shorter than a header", func(t *testing.T) {
		closedWith(t, metrics.ReasonFraming, prefix(0, 0, 0, 3, 0, 18, 0))
	})
	t.Run("HTTP request", func(t *testing.T) {
		closedWith(t, metrics.ReasonFraming, prefix([]byte("GET / HTTP/1.1\r\nHost: kafka\r\n\r\n")...),
			"looks like an HTTP request: is this the metrics port, or a proxy setting?")
	})
	t.Run("TLS ClientHello", func(t *testing.T) {
		closedWith(t, metrics.ReasonFraming, func(r *rawClient) {
			tc := tls.Client(r.c, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the peer is a plaintext listener; nothing is verified
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := tc.HandshakeContext(ctx)
			if err == nil {
				t.Fatalf("TLS handshake with a plaintext listener succeeded")
			}
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("TLS handshake hung until %v, want the proxy to close the connection", err)
			}
		}, "looks like a TLS handshake on a plaintext listener: enable TLS on this side, or use PLAINTEXT in the client")
	})

	t.Run("pre-auth frame limit", func(t *testing.T) {
		// 600 KiB is fine outside a SASL exchange...
		big := strings.Repeat("x", 600<<10)
		raw := dialRaw(t, e.Proxy.NodeAddr(e.Cluster.LeaderFor("big", 0)))
		resp := raw.roundTrip(produceRequest(9, 1, "big", 0, big)).(*kmsg.ProduceResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("600 KiB produce before SASL: %v", kerr.ErrorForCode(code))
		}
		// ...but once a SaslHandshake starts one, a SASL frame over
		// 512 KiB closes the connection before its body is read.
		closedWith(t, metrics.ReasonFraming, func(r *rawClient) {
			hs := kmsg.NewPtrSASLHandshakeRequest()
			hs.Version = 1
			hs.Mechanism = "PLAIN"
			r.roundTrip(hs)
			head := kbin.AppendInt32(nil, 512<<10+1)
			head = kbin.AppendInt16(head, int16(kmsg.SASLAuthenticate))
			head = kbin.AppendInt16(head, 1)
			head = kbin.AppendInt32(head, 2)
			r.write(head)
		})
	})

	t.Run("unknown api key", func(t *testing.T) {
		closedWith(t, metrics.ReasonProtocol, func(r *rawClient) {
			frame := kbin.AppendInt16(nil, 999)
			frame = kbin.AppendInt16(frame, 0)
			frame = kbin.AppendInt32(frame, 1)
			frame = kbin.AppendNullableString(frame, nil)
			r.write(append(kbin.AppendInt32(nil, int32(len(frame))), frame...))
		})
	})
	t.Run("api version above kmsg", func(t *testing.T) {
		closedWith(t, metrics.ReasonProtocol, func(r *rawClient) {
			r.send(metadataRequest(99))
		})
	})
	for _, req := range []kmsg.Request{kmsg.NewPtrLeaderAndISRRequest(), kmsg.NewPtrVoteRequest(), kmsg.NewPtrBrokerRegistrationRequest()} {
		t.Run("inter-broker "+kmsg.NameForKey(req.Key()), func(t *testing.T) {
			closedWith(t, metrics.ReasonProtocol, func(r *rawClient) { r.send(req) })
		})
	}
	t.Run("SaslHandshake v0", func(t *testing.T) {
		closedWith(t, metrics.ReasonProtocol, func(r *rawClient) {
			hs := kmsg.NewPtrSASLHandshakeRequest()
			hs.Version = 0
			hs.Mechanism = "PLAIN"
			r.send(hs)
		}, "client sent SaslHandshake v0", "use a client from Kafka 1.0 or later (SaslHandshake v1)")
	})

	t.Run("still serving", func(t *testing.T) {
		raw := dialRaw(t, e.Bootstrap())
		if resp := raw.roundTrip(apiVersionsRequest(3)).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
			t.Errorf("ApiVersions after the abuse: error %d", resp.ErrorCode)
		}
		cl := e.Client(t, kgo.DefaultProduceTopic("big"))
		ctx := testCtx(t, 10*time.Second)
		if err := cl.ProduceSync(ctx, values("after-", 10)...).FirstErr(); err != nil {
			t.Errorf("produce after the abuse: %v", err)
		}
	})
}
