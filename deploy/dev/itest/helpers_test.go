//go:build integration

package itest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/schemaproxy/schemaproxy/deploy/dev/testbed"
)

// harnessTimeout bounds one harness run, start-up included.
const harnessTimeout = 90 * time.Second

// target returns the address clients of k connect to: the bootstrap
// listener of the schemaproxy in front of k. Tests that must see the broker
// itself (what landed in a log) use k.Bootstrap.
func target(t testing.TB, k *testbed.Kafka) string {
	t.Helper()
	return proxyOf(t, k).bootstrap()
}

// topicName is unique per test and per run of the package, so reruns
// against a kept broker and parallel tests never share a topic. The proxy
// checks its values against the registry: it is for Avro records.
func topicName(t testing.TB, parts ...string) string {
	name := strings.NewReplacer("/", ".", " ", "_").Replace(t.Name())
	return strings.Join(append([]string{name}, parts...), ".") + fmt.Sprintf(".%d", runID)
}

// plainTopic is topicName for plain records: under suitePolicy the proxy
// leaves its values unchecked.
func plainTopic(t testing.TB, parts ...string) string {
	return plainPrefix + topicName(t, parts...)
}

var runID = time.Now().UnixNano() % 1_000_000

// run runs client against the proxy in front of k, with the security flags
// for sec and args, fails the test if the harness fails, and returns its
// events. It checks that every broker address the client learned is the
// proxy's, and that the proxy read the client's Produce and Fetch requests.
func run(t testing.TB, k *testbed.Kafka, sec testbed.Security, client testbed.Client, args ...string) testbed.Events {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), harnessTimeout)
	defer cancel()
	sp := proxyOf(t, k)
	full := append([]string{"--bootstrap", sp.bootstrap(), "--timeout", fmt.Sprint(int(harnessTimeout.Seconds()) - 10)}, sp.flags(sec)...)
	full = append(full, args...)
	produces, fetches := sp.requests("Produce"), sp.requests("Fetch")
	start := time.Now()
	events, err := testbed.Run(ctx, client, full...)
	t.Logf("%s %s: %d events in %s", client, strings.Join(args, " "), len(events), time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("%s harness: %v\nlast events:\n%s", client, err, lastEvents(events, 8))
	}
	sp.checkBrokers(t, client, events)
	// Other tests share the proxy, so only a count that did not move proves
	// anything: then this client's requests went elsewhere.
	done, _ := events.Done()
	if done.Produced+done.ProduceErrors > 0 && sp.requests("Produce") == produces {
		t.Errorf("%s produced %d records, but the proxy read no Produce request meanwhile", client, done.Produced+done.ProduceErrors)
	}
	if done.Consumed+done.ConsumeErrors > 0 && sp.requests("Fetch") == fetches {
		t.Errorf("%s consumed %d records, but the proxy read no Fetch request meanwhile", client, done.Consumed+done.ConsumeErrors)
	}
	return events
}

func lastEvents(es testbed.Events, n int) string {
	var b strings.Builder
	for _, e := range es[max(0, len(es)-n):] {
		line, _ := json.Marshal(e)
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// wantKeys is prefix-0 .. prefix-(n-1), sorted as Events.Keys sorts.
func wantKeys(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	slices.Sort(keys)
	return keys
}

// checkProduced checks that every key of prefix was acknowledged once, with
// no produce errors.
func checkProduced(t testing.TB, es testbed.Events, prefix string, n int) {
	t.Helper()
	done, ok := es.Done()
	if !ok {
		t.Fatalf("no done event; last events:\n%s", lastEvents(es, 8))
	}
	if done.ProduceErrors != 0 {
		t.Errorf("got %d produce errors, want 0; first: %+v", done.ProduceErrors, es.Of(testbed.EvProduceError)[0])
	}
	if got := es.Keys(testbed.EvProduced); !slices.Equal(got, wantKeys(prefix, n)) {
		t.Errorf("produced %d keys, want %s-0..%d once each; got %v", len(got), prefix, n-1, abbrev(got))
	}
}

// checkConsumed checks that the consumed events hold every key of prefix
// exactly once, each at a distinct partition and offset, and, when produced
// events are given, at the partition and offset its producer was told.
func checkConsumed(t testing.TB, consumed, produced testbed.Events, prefix string, n int) {
	t.Helper()
	if got := consumed.Keys(testbed.EvConsumed); !slices.Equal(got, wantKeys(prefix, n)) {
		t.Errorf("consumed %d keys, want %s-0..%d once each; got %v", len(got), prefix, n-1, abbrev(got))
	}
	type pos struct {
		p int32
		o int64
	}
	at := map[string]pos{}
	for _, e := range produced.Of(testbed.EvProduced) {
		at[e.Key] = pos{e.Partition, e.Offset}
	}
	seen := map[pos]string{}
	for _, e := range consumed.Of(testbed.EvConsumed) {
		p := pos{e.Partition, e.Offset}
		if other, dup := seen[p]; dup {
			t.Errorf("partition %d offset %d consumed twice (keys %s and %s)", p.p, p.o, other, e.Key)
		}
		seen[p] = e.Key
		if want, ok := at[e.Key]; ok && want != p {
			t.Errorf("key %s consumed at %d/%d, produced at %d/%d", e.Key, p.p, p.o, want.p, want.o)
		}
	}
	if errs := consumed.Of(testbed.EvConsumeError); len(errs) > 0 {
		t.Errorf("got %d consume errors, want 0; first: %+v", len(errs), errs[0])
	}
}

// checkWritten checks that the topic's end offsets add up to want records
// (plus markers): the log holds no duplicate the consumer could have missed,
// and nothing the proxy rejected. It asks the broker itself, not the proxy.
func checkWritten(t testing.TB, k *testbed.Kafka, sec testbed.Security, topic string, want int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts, err := k.GoOpts(sec)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := testbed.EndOffsets(ctx, k.Bootstrap, opts, topic)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, o := range ends {
		sum += o
	}
	if sum != want {
		t.Errorf("topic %s holds %d offsets (%v), want %d", topic, sum, ends, want)
	}
}

// user is the record of clients/schemas/user.avsc as harnesses print it.
type user struct {
	ID    int64   `json:"id"`
	Name  string  `json:"name"`
	Email *string `json:"email"`
}

// checkUsers checks that every consumed record decoded to the User its key
// names (key prefix-i holds id i, name user-i, email set for even i).
func checkUsers(t testing.TB, consumed testbed.Events, prefix string) {
	t.Helper()
	for _, e := range consumed.Of(testbed.EvConsumed) {
		var u user
		if err := json.Unmarshal(e.Record, &u); err != nil {
			t.Errorf("key %s: record %s: %v", e.Key, e.Record, err)
			continue
		}
		if e.SchemaID <= 0 {
			t.Errorf("key %s: schema ID %d", e.Key, e.SchemaID)
		}
		want := fmt.Sprintf("%s-%d", prefix, u.ID)
		if e.Key != want || u.Name != fmt.Sprintf("user-%d", u.ID) || (u.Email != nil) != (u.ID%2 == 0) {
			t.Errorf("key %s decoded to %s, want the User of %s", e.Key, e.Record, want)
		}
	}
}

func abbrev(s []string) []string {
	if len(s) > 6 {
		return append(s[:3:3], "...", s[len(s)-2], s[len(s)-1])
	}
	return s
}
