package proxy_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/proxy"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// topicChecker is a proxy.Checker for tests: it panics on panicTopic,
// rejects every partition of rejectTopic as INVALID_RECORD, and passes
// the rest.
type topicChecker struct{ panicTopic, rejectTopic string }

func (c topicChecker) Check(_ context.Context, topic string, partition int32, _ []byte) error {
	switch topic {
	case c.panicTopic:
		panic("topicChecker: panic for " + topic)
	case c.rejectTopic:
		return &enforce.ValidationError{Topic: topic, Partition: partition, Index: -1,
			Reason: enforce.ReasonBatchInvalid, Detail: "rejected by topicChecker"}
	}
	return nil
}

func (topicChecker) RejectScope() enforce.Scope { return enforce.ScopePartition }
func (topicChecker) Protected(string) bool      { return false }
func (topicChecker) HasProtected() bool         { return false }

// A panic while serving one connection is logged with that connection's
// address, counted under reason panic and closes that connection only:
// another client's connection, open all along, goes on producing, and new
// connections are served.
func TestPanicClosesOnlyItsConnection(t *testing.T) {
	t.Parallel()
	logs := new(proxytest.LogBuffer)
	e := proxytest.New(t, proxytest.Options{
		Kfake: []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, "boom", "calm")},
		Log:   logs,
		Proxy: func(cfg *proxy.Config) { cfg.Checker = topicChecker{panicTopic: "boom"} },
	})
	produceOK := func(raw *rawClient, value string) {
		t.Helper()
		if code := onlyPartition(t, raw.roundTrip(produceRequest(9, -1, "calm", 0, value))).ErrorCode; code != 0 {
			t.Fatalf("produce %q to calm: error code %d", value, code)
		}
	}
	active := func(want float64) {
		t.Helper()
		proxytest.Eventually(t, 5*time.Second, func() error {
			if got := metricSum(t, e.Metrics, "schemaproxy_connections_active"); got != want {
				return fmt.Errorf("connections_active = %v, want %v", got, want)
			}
			return nil
		})
	}

	calm := leaderRaw(t, e, "calm")
	produceOK(calm, "before")
	boom := leaderRaw(t, e, "boom")
	boom.roundTrip(apiVersionsRequest(3))
	active(2)

	boom.send(produceRequest(9, -1, "boom", 0, "bang"))
	expectClosed(t, boom.c)
	logs.WaitLine(t, 5*time.Second, `level=ERROR`, `msg="panic in connection; closing it"`,
		"client_addr="+boom.c.LocalAddr().String(), "goroutine=readRequests",
		`panic="topicChecker: panic for boom"`, "topicChecker.Check")
	proxytest.Eventually(t, 5*time.Second, func() error {
		if got := connErrors(e.Metrics, metrics.ReasonPanic); got != 1 {
			return fmt.Errorf("connection_errors_total{reason=panic} = %v, want 1", got)
		}
		return nil
	})
	if got := metricSum(t, e.Metrics, "schemaproxy_connection_errors_total"); got != 1 {
		t.Errorf("connection_errors_total = %v over every reason, want 1 (the panic)", got)
	}
	active(1)

	produceOK(calm, "after")
	produceOK(leaderRaw(t, e, "calm"), "fresh")
	wantLanded(t, e, "calm", 0, "before", "after", "fresh")
	wantLanded(t, e, "boom", 0)
}
