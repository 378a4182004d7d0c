package proxy_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// A transactional producer commits one transaction and aborts another; a
// read_committed consumer sees exactly the committed records. This runs
// InitProducerId, AddPartitionsToTxn or Produce v12 implicit adds, EndTxn and
// FindCoordinator(transaction) through the proxy.
func TestTransactionsCommitAndAbort(t *testing.T) {
	t.Parallel()
	e := proxytest.New(t, proxytest.Options{Kfake: []kfake.Opt{kfake.SeedTopics(3, "txn")}})
	ctx := testCtx(t, 30*time.Second)

	prod := e.Client(t, kgo.DefaultProduceTopic("txn"), kgo.TransactionalID("tx-1"), kgo.TransactionTimeout(10*time.Second))
	run := func(prefix string, n int, commit kgo.TransactionEndTry) {
		t.Helper()
		if err := prod.BeginTransaction(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		if err := prod.ProduceSync(ctx, values(prefix, n)...).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", prefix, err)
		}
		if err := prod.EndTransaction(ctx, commit); err != nil {
			t.Fatalf("end transaction %s: %v", prefix, err)
		}
	}
	run("committed-", 50, kgo.TryCommit)
	run("aborted-", 40, kgo.TryAbort)
	// A committed transaction after the aborted one gives the consumer a
	// last stable offset past every aborted record, so it must skip them
	// rather than merely not reach them yet.
	run("late-", 10, kgo.TryCommit)

	cons := e.Client(t, kgo.ConsumeTopics("txn"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := consumeN(ctx, t, cons, 60)
	for v, c := range seen {
		switch {
		case c != 1:
			t.Errorf("record %s consumed %d times, want 1", v, c)
		case len(v) > 8 && v[:8] == "aborted-":
			t.Errorf("read_committed consumer saw aborted record %s", v)
		}
	}
	for i := range 50 {
		if seen["committed-"+itoa(i)] != 1 {
			t.Errorf("committed record %d not consumed", i)
		}
	}
	for i := range 10 {
		if seen["late-"+itoa(i)] != 1 {
			t.Errorf("late committed record %d not consumed", i)
		}
	}

	// The aborted records did reach the log: a read_uncommitted consumer
	// sees them, so the committed view above really filtered them.
	all := e.Client(t, kgo.ConsumeTopics("txn"), kgo.FetchIsolationLevel(kgo.ReadUncommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	raw := consumeN(ctx, t, all, 100)
	if raw["aborted-0"] != 1 {
		t.Errorf("read_uncommitted consumer did not see aborted records; the transaction data never reached the broker")
	}
	e.AssertNoLeak(t)
}
