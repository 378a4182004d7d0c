package proxy_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// SASL passes through the proxy: the broker authenticates the client
// (FR-04), wrong credentials fail as they would against the broker, and
// KIP-368 re-authentication on a live connection works (FR-05).
func TestSASLPassThrough(t *testing.T) {
	t.Parallel()
	saslEnv := func(t *testing.T, extra ...kfake.Opt) *proxytest.Env {
		return proxytest.New(t, proxytest.Options{Kfake: append([]kfake.Opt{
			kfake.EnableSASL(),
			kfake.Superuser("SCRAM-SHA-256", "scram-user", "scram-pass"),
			kfake.Superuser("PLAIN", "plain-user", "plain-pass"),
			kfake.SeedTopics(3, "authed"),
		}, extra...)})
	}

	t.Run("mechanisms", func(t *testing.T) {
		t.Parallel()
		e := saslEnv(t)
		for _, tc := range []struct {
			name string
			good sasl.Mechanism
			bad  sasl.Mechanism
		}{
			{"SCRAM-SHA-256", scram.Auth{User: "scram-user", Pass: "scram-pass"}.AsSha256Mechanism(),
				scram.Auth{User: "scram-user", Pass: "wrong"}.AsSha256Mechanism()},
			{"PLAIN", plain.Auth{User: "plain-user", Pass: "plain-pass"}.AsMechanism(),
				plain.Auth{User: "plain-user", Pass: "wrong"}.AsMechanism()},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx := testCtx(t, 30*time.Second)
				prefix := tc.name + "-"
				prod := e.Client(t, kgo.SASL(tc.good), kgo.DefaultProduceTopic("authed"))
				if err := prod.ProduceSync(ctx, values(prefix, 100)...).FirstErr(); err != nil {
					t.Fatalf("produce: %v", err)
				}
				cons := e.Client(t, kgo.SASL(tc.good), kgo.ConsumeTopics("authed"),
					kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ConsumerGroup("g-"+tc.name))
				seen := map[string]int{}
				for len(seen) < 100 {
					fs := cons.PollFetches(ctx)
					if ctx.Err() != nil {
						t.Fatalf("consumed %d of 100", len(seen))
					}
					fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
					fs.EachRecord(func(r *kgo.Record) {
						if v := string(r.Value); len(v) > len(prefix) && v[:len(prefix)] == prefix {
							seen[v]++
						}
					})
				}

				// The first request after authentication may be larger
				// than the 512 KiB pre-authentication limit: a full
				// produce batch on a fresh connection.
				bigProd := e.Client(t, kgo.SASL(tc.good), kgo.DefaultProduceTopic("authed"))
				big := &kgo.Record{Value: make([]byte, 800<<10)}
				rand.Read(big.Value) // incompressible
				bctx, bcancel := context.WithTimeout(ctx, 10*time.Second)
				defer bcancel()
				if err := bigProd.ProduceSync(bctx, big).FirstErr(); err != nil {
					t.Errorf("800 KiB record as the first request after authentication: %v", err)
				}

				// kfake, like Kafka, ends the connection on a failed
				// SaslAuthenticate; the client must see the same failure
				// through the proxy as it does talking to kfake.
				ping := func(cl *kgo.Client) error {
					pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					defer cancel()
					return cl.Ping(pctx)
				}
				viaProxy := ping(e.Client(t, kgo.SASL(tc.bad), kgo.RequestRetries(0)))
				direct := ping(directClient(t, e, kgo.SASL(tc.bad), kgo.RequestRetries(0)))
				if viaProxy == nil {
					t.Fatalf("wrong password authenticated through the proxy")
				}
				if direct == nil || errors.Is(viaProxy, io.EOF) != errors.Is(direct, io.EOF) ||
					errors.Is(viaProxy, kerr.SaslAuthenticationFailed) != errors.Is(direct, kerr.SaslAuthenticationFailed) {
					t.Errorf("wrong password: got %v through the proxy, %v from kfake directly", viaProxy, direct)
				}
			})
		}
		e.AssertNoLeak(t)
	})

	t.Run("reauthentication", func(t *testing.T) {
		t.Parallel()
		e := saslEnv(t, kfake.BrokerConfigs(map[string]string{"connections.max.reauth.ms": "2000"}))
		var handshakes atomic.Int64
		e.Cluster.ControlKey(int16(kmsg.SASLHandshake), func(kmsg.Request) (kmsg.Response, error, bool) {
			handshakes.Add(1)
			return nil, nil, false
		})
		ctx := testCtx(t, 30*time.Second)
		mech := scram.Auth{User: "scram-user", Pass: "scram-pass"}.AsSha256Mechanism()
		prod := e.Client(t, kgo.SASL(mech), kgo.DefaultProduceTopic("authed"), kgo.RequestRetries(0))

		// Produce for a little over three session lifetimes, so every
		// connection the producer holds must re-authenticate in place.
		var n int
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for start := time.Now(); time.Since(start) < 6500*time.Millisecond; n++ {
			<-tick.C
			if err := prod.ProduceSync(ctx, values(fmt.Sprintf("r%d-", n), 5)...).FirstErr(); err != nil {
				t.Fatalf("produce %d, %v into the run: %v", n, time.Since(start).Round(time.Millisecond), err)
			}
		}
		accepted := metricSum(t, e.Metrics, "schemaproxy_connections_total")
		if h := handshakes.Load(); float64(h) <= accepted {
			t.Errorf("%d SaslHandshakes over %v client connections: no connection re-authenticated", h, accepted)
		}
		if got := metricSum(t, e.Metrics, "schemaproxy_connection_errors_total"); got != 0 {
			t.Errorf("connection_errors_total = %v during re-authentication, want 0", got)
		}
		t.Logf("%d produce round trips, %d handshakes over %v connections", n, handshakes.Load(), accepted)
		e.AssertNoLeak(t)
	})
}
