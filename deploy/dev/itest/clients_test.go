//go:build integration

package itest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/schemaproxy/schemaproxy/deploy/dev/testbed"
)

// Record counts: enough for several batches per partition (3 partitions,
// 5 ms linger), small enough that a JVM start dominates each run.
const (
	roundTripCount = 300
	smallCount     = 60
)

// TestRoundTrip: each client produces records and consumes them back in a
// consumer group, every record exactly once, with each group protocol it
// speaks.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	k := broker(t, testbed.Plaintext)
	for _, c := range testbed.Clients {
		for _, proto := range testbed.GroupProtocols(c) {
			t.Run(fmt.Sprintf("%s/%s", c, proto), func(t *testing.T) {
				t.Parallel()
				topic := plainTopic(t)
				es := run(t, k, testbed.SecPlaintext, c, "--topic", topic, "--mode", "both",
					"--count", fmt.Sprint(roundTripCount), "--group-protocol", proto)
				checkProduced(t, es, "k", roundTripCount)
				checkConsumed(t, es, es, "k", roundTripCount)
				checkWritten(t, k, testbed.SecPlaintext, topic, roundTripCount)
			})
		}
	}
}

// TestCompression: each client produces Avro records with each codec and
// reads its own records back; a second client (the next in testbed.Clients)
// reads them too, so every codec is decoded by a library other than the one
// that compressed it. The proxy decompresses every batch to check its
// schema IDs, so it reads each codec as each library writes it.
func TestCompression(t *testing.T) {
	t.Parallel()
	k := broker(t, testbed.Plaintext)
	for i, c := range testbed.Clients {
		other := testbed.Clients[(i+1)%len(testbed.Clients)]
		for _, codec := range testbed.Compressions[1:] { // "none" is TestAvro's
			t.Run(fmt.Sprintf("%s/%s", c, codec), func(t *testing.T) {
				t.Parallel()
				checkAvroAcross(t, k, c, other, "--compression", codec)
			})
		}
	}
}

// TestIdempotent: the Java producer with enable.idempotence and acks=all.
func TestIdempotent(t *testing.T) {
	t.Parallel()
	k := broker(t, testbed.Plaintext)
	topic := plainTopic(t)
	es := run(t, k, testbed.SecPlaintext, testbed.Java, "--topic", topic, "--mode", "both",
		"--count", fmt.Sprint(roundTripCount), "--idempotent", "--acks", "all", "--compression", "lz4")
	checkProduced(t, es, "k", roundTripCount)
	checkConsumed(t, es, es, "k", roundTripCount)
	checkWritten(t, k, testbed.SecPlaintext, topic, roundTripCount)
}

// TestTransactions: each client writes one transaction it aborts and one it
// commits to the same topic; a read_committed consumer of the same client
// sees exactly the committed records, a read_uncommitted Go consumer sees
// both.
func TestTransactions(t *testing.T) {
	t.Parallel()
	k := broker(t, testbed.Plaintext)
	for _, c := range testbed.Clients {
		t.Run(string(c), func(t *testing.T) {
			t.Parallel()
			topic := plainTopic(t)
			n := fmt.Sprint(smallCount)
			aborted := run(t, k, testbed.SecPlaintext, c, "--topic", topic, "--mode", "produce", "--count", n,
				"--transactional", topic+".tx", "--txn", "abort", "--key-prefix", "aborted")
			if txn := aborted.Of(testbed.EvTxn); len(txn) != 1 || txn[0].Action != "abort" {
				t.Fatalf("got txn events %+v, want one abort", txn)
			}
			checkProduced(t, aborted, "aborted", smallCount)
			committed := run(t, k, testbed.SecPlaintext, c, "--topic", topic, "--mode", "produce", "--count", n,
				"--transactional", topic+".tx", "--txn", "commit", "--key-prefix", "committed")
			if txn := committed.Of(testbed.EvTxn); len(txn) != 1 || txn[0].Action != "commit" {
				t.Fatalf("got txn events %+v, want one commit", txn)
			}
			checkProduced(t, committed, "committed", smallCount)

			readCommitted := run(t, k, testbed.SecPlaintext, c, "--topic", topic, "--mode", "consume", "--count", n,
				"--isolation", "read_committed", "--group", topic+".rc")
			checkConsumed(t, readCommitted, committed, "committed", smallCount)

			all := run(t, k, testbed.SecPlaintext, testbed.Go, "--topic", topic, "--mode", "consume",
				"--count", fmt.Sprint(2*smallCount), "--isolation", "read_uncommitted", "--group", topic+".ru")
			var nAborted, nCommitted int
			for _, e := range all.Of(testbed.EvConsumed) {
				switch {
				case strings.HasPrefix(e.Key, "aborted-"):
					nAborted++
				case strings.HasPrefix(e.Key, "committed-"):
					nCommitted++
				}
			}
			if nAborted != smallCount || nCommitted != smallCount {
				t.Errorf("read_uncommitted saw %d aborted and %d committed records, want %d of each", nAborted, nCommitted, smallCount)
			}
		})
	}
}

// TestSASL: each client authenticates with SCRAM-SHA-512 and with PLAIN,
// through the proxy to the broker, and writes Avro records the proxy checks;
// with SCRAM it also sends records under an unregistered schema ID, which
// the proxy refuses.
func TestSASL(t *testing.T) {
	t.Parallel()
	k := broker(t, testbed.SASL)
	for _, c := range testbed.Clients {
		for _, sec := range []testbed.Security{testbed.SecSCRAM512, testbed.SecPlain} {
			t.Run(fmt.Sprintf("%s/%s", c, sec), func(t *testing.T) {
				t.Parallel()
				topic := topicName(t)
				es := run(t, k, sec, c, append(avroFlags(t), "--topic", topic, "--mode", "both", "--count", fmt.Sprint(smallCount))...)
				checkProduced(t, es, "k", smallCount)
				checkConsumed(t, es, es, "k", smallCount)
				checkUsers(t, es, "k")
				checkAccepted(t, k, topic, smallCount)
				if sec == testbed.SecSCRAM512 {
					checkRejected(t, k, sec, c, invalidKinds[0], 5)
				}
			})
		}
	}
}

// TestSASLWrongPassword: a client with a bad password fails to connect
// instead of hanging or producing: the broker refuses it through the proxy.
func TestSASLWrongPassword(t *testing.T) {
	t.Parallel()
	k := broker(t, testbed.SASL)
	topic := plainTopic(t)
	args := append([]string{"--bootstrap", target(t, k), "--timeout", "8", "--topic", topic,
		"--mode", "produce", "--count", "1"}, proxyOf(t, k).flags(testbed.SecSCRAM512)...)
	es, err := testbed.RunGo(t.Context(), append(args, "--password", "wrong")...)
	// franz-go retries authentication until the record times out (a
	// produce_error) or the harness does (an error).
	done, _ := es.Done()
	if done.Produced != 0 || (err == nil && done.ProduceErrors == 0) {
		t.Errorf("got %d produced, %d produce errors, harness error %v; want 0 produced and an error; events:\n%s",
			done.Produced, done.ProduceErrors, err, lastEvents(es, 5))
	}
}

// TestSSL: each client connects over TLS to the proxy, trusting the proxy's
// throwaway CA (not the broker's); the proxy speaks TLS to the broker. Each
// writes zstd-compressed Avro records the proxy checks, and records under an
// unregistered schema ID, which it refuses.
func TestSSL(t *testing.T) {
	t.Parallel()
	k := broker(t, testbed.SSL)
	for _, c := range testbed.Clients {
		t.Run(string(c), func(t *testing.T) {
			t.Parallel()
			topic := topicName(t)
			es := run(t, k, testbed.SecSSL, c, append(avroFlags(t), "--topic", topic, "--mode", "both",
				"--count", fmt.Sprint(smallCount), "--compression", "zstd")...)
			checkProduced(t, es, "k", smallCount)
			checkConsumed(t, es, es, "k", smallCount)
			checkUsers(t, es, "k")
			checkAccepted(t, k, topic, smallCount)
			checkRejected(t, k, testbed.SecSSL, c, invalidKinds[0], 5)
		})
	}
}

// TestRestart: records written before a broker restart are all read after
// it, through the same proxy, which stays up while the broker is away. Its
// own broker and proxy, so no other test sees the gap.
func TestRestart(t *testing.T) {
	t.Parallel()
	k := testbed.StartKafkaT(t, testbed.Plaintext)
	startProxyT(t, k)
	topic := plainTopic(t)
	n := fmt.Sprint(smallCount)
	before := run(t, k, testbed.SecPlaintext, testbed.Go, "--topic", topic, "--mode", "produce", "--count", n)
	checkProduced(t, before, "k", smallCount)
	addr := k.Bootstrap
	if err := k.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	if k.Bootstrap != addr {
		t.Errorf("broker moved from %s to %s", addr, k.Bootstrap)
	}
	after := run(t, k, testbed.SecPlaintext, testbed.Python, "--topic", topic, "--mode", "consume", "--count", n)
	checkConsumed(t, after, before, "k", smallCount)
}
