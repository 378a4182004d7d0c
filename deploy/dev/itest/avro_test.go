//go:build integration

package itest

import (
	"fmt"
	"testing"

	"github.com/schemaproxy/schemaproxy/deploy/dev/testbed"
)

func avroFlags(t testing.TB) []string {
	t.Helper()
	schema, err := testbed.SchemaFile()
	if err != nil {
		t.Fatal(err)
	}
	return []string{"--serde", "avro", "--registry", registry.URL(), "--schema-file", schema}
}

// TestAvro: each client registers user.avsc and produces Avro values in the
// Confluent wire format; it decodes them itself, and so does the next client
// in testbed.Clients, with its own deserializer and registry lookups.
func TestAvro(t *testing.T) {
	t.Parallel()
	k := broker(t, testbed.Plaintext)
	for i, c := range testbed.Clients {
		other := testbed.Clients[(i+1)%len(testbed.Clients)]
		t.Run(fmt.Sprintf("%s_to_%s", c, other), func(t *testing.T) {
			t.Parallel()
			topic := topicName(t)
			n := fmt.Sprint(smallCount)
			es := run(t, k, testbed.SecPlaintext, c, append(avroFlags(t), "--topic", topic, "--mode", "both", "--count", n)...)
			checkProduced(t, es, "k", smallCount)
			checkConsumed(t, es, es, "k", smallCount)
			checkUsers(t, es, "k")
			theirs := run(t, k, testbed.SecPlaintext, other, append(avroFlags(t), "--topic", topic, "--mode", "consume",
				"--count", n, "--group", topic+".other")...)
			checkConsumed(t, theirs, es, "k", smallCount)
			checkUsers(t, theirs, "k")
		})
	}
}

// TestInvalidAvro: each client sends each kind of record that does not
// match its schema. Kafka alone stores them (and a real deserializer then
// rejects every one); with enforcement in the path each is refused with
// INVALID_RECORD.
func TestInvalidAvro(t *testing.T) {
	t.Parallel()
	k := broker(t, testbed.Plaintext)
	kinds := []string{"payload", "unknown-id", "no-magic"}
	for _, c := range testbed.Clients {
		t.Run(string(c), func(t *testing.T) {
			t.Parallel()
			topic := topicName(t)
			const n = 10
			for _, kind := range kinds {
				es := run(t, k, testbed.SecPlaintext, c, append(avroFlags(t), "--topic", topic, "--mode", "produce",
					"--count", fmt.Sprint(n), "--invalid-kind", kind, "--key-prefix", kind)...)
				done, _ := es.Done()
				if enforcing(t) {
					for _, e := range es.Of(testbed.EvProduceError) {
						if e.Code != "INVALID_RECORD" {
							t.Errorf("%s: key %s failed with %s, want INVALID_RECORD", kind, e.Key, e.Code)
						}
					}
					if done.Produced != 0 || done.ProduceErrors != n {
						t.Errorf("%s: %d produced, %d rejected; want 0 and %d", kind, done.Produced, done.ProduceErrors, n)
					}
					continue
				}
				checkProduced(t, es, kind, n)
			}
			if enforcing(t) {
				return
			}
			// confluent-kafka's AvroDeserializer is the reference reader.
			got := run(t, k, testbed.SecPlaintext, testbed.Python, append(avroFlags(t), "--topic", topic,
				"--mode", "consume", "--count", fmt.Sprint(n*len(kinds)))...)
			done, _ := got.Done()
			if done.Consumed != 0 || done.ConsumeErrors != n*len(kinds) {
				t.Errorf("the Avro deserializer accepted %d and rejected %d records, want 0 and %d",
					done.Consumed, done.ConsumeErrors, n*len(kinds))
			}
		})
	}
}
