package main

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// TestRegistryLookupsPerRequestFlag: --registry-lookups-per-request
// reaches the proxy. One batch naming ten unknown schema IDs makes at most
// the flag's number of registry look-ups by ID, and all ten with -1.
func TestRegistryLookupsPerRequestFlag(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		flag string
		want int64
	}{{"2", 2}, {"-1", 10}} {
		t.Run(tt.flag, func(t *testing.T) {
			t.Parallel()
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			reg := enforcetest.NewRegistry(t)
			var byID atomic.Int64
			reg.SetFault(func(_ http.ResponseWriter, r *http.Request) bool {
				if strings.HasPrefix(r.URL.Path, "/schemas/ids/") {
					byID.Add(1)
				}
				return false
			})
			listen, _ := proxytest.FreePorts(t, 2)
			cmd := startCmd(t, "serve", "--listen", listen, "--metrics-listen", "", "--upstream", c.ListenAddrs()[0],
				"--registry", reg.URL, "--registry-lookups-per-request", tt.flag)
			proxytest.Eventually(t, 10*time.Second, func() error { return accepts(listen) })

			cl, err := kgo.NewClient(kgo.SeedBrokers(listen), kgo.DefaultProduceTopic("t"),
				kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			recs := make([]*kgo.Record, 10)
			for i := range recs {
				recs[i] = &kgo.Record{Value: enforcetest.Value(9000+i, []byte("x"+strconv.Itoa(i)))}
			}
			// One batch: a rejected record fails the batch, so kgo does not
			// send them again.
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err == nil || !strings.Contains(err.Error(), "INVALID_RECORD") {
				t.Errorf("ten unknown schema IDs: got %v, want INVALID_RECORD", err)
			}
			if got := byID.Load(); got != tt.want {
				t.Errorf("registry look-ups by ID: got %d, want %d", got, tt.want)
			}
			cmd.stop(t)
		})
	}
}
