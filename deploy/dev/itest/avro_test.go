//go:build integration

package itest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/schemaproxy/schemaproxy/deploy/dev/testbed"
	"github.com/schemaproxy/schemaproxy/enforce"
)

func avroFlags(t testing.TB) []string {
	t.Helper()
	schema, err := testbed.SchemaFile()
	if err != nil {
		t.Fatal(err)
	}
	return []string{"--serde", "avro", "--registry", registry.URL(), "--schema-file", schema}
}

// checkAvroAcross has c produce smallCount Avro records (with extra flags)
// to a fresh topic through the proxy and read them back, checks they
// landed, and has other read and decode them in its own group.
func checkAvroAcross(t testing.TB, k *testbed.Kafka, c, other testbed.Client, extra ...string) {
	t.Helper()
	topic := topicName(t)
	n := fmt.Sprint(smallCount)
	es := run(t, k, testbed.SecPlaintext, c, append(append(avroFlags(t), "--topic", topic, "--mode", "both", "--count", n), extra...)...)
	checkProduced(t, es, "k", smallCount)
	checkConsumed(t, es, es, "k", smallCount)
	checkUsers(t, es, "k")
	checkAccepted(t, k, topic, smallCount)
	theirs := run(t, k, testbed.SecPlaintext, other, append(avroFlags(t), "--topic", topic, "--mode", "consume",
		"--count", n, "--group", topic+".other")...)
	checkConsumed(t, theirs, es, "k", smallCount)
	checkUsers(t, theirs, "k")
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
			checkAvroAcross(t, k, c, other)
		})
	}
}

// invalidKind is a way for a harness to send Avro records that suitePolicy
// refuses: the flags that make them, the proxy's rejection reason, and a
// piece of its message (%s stands for the topic).
type invalidKind struct {
	name   string
	flags  func(topic string) []string
	reason enforce.Reason
	text   string
}

var invalidKinds = []invalidKind{
	{"unknown-id", func(string) []string { return []string{"--invalid-kind", "unknown-id"} },
		enforce.ReasonUnknownID, "value schema id 2147483000 is not registered"},
	{"no-magic", func(string) []string { return []string{"--invalid-kind", "no-magic"} },
		enforce.ReasonNoSchemaID, "value starts with byte 0x7b, not a schema registry magic byte"},
	// Valid records under an ID registered for another subject only.
	{"wrong-subject", func(topic string) []string { return []string{"--subject", topic + ".other-value"} },
		enforce.ReasonWrongSubject, "is not registered under subject %s-value"},
}

// TestInvalidAvro: each client sends each kind of record that the policy
// refuses, each kind to a topic of its own. The proxy rejects every record
// with INVALID_RECORD and nothing reaches the broker's log.
//
// A well-framed record under its subject's registered ID whose body is not
// valid Avro (--invalid-kind payload) passes: suitePolicy checks schema IDs
// (mode id), not payloads. It lands, and a real deserializer then refuses
// every one.
func TestInvalidAvro(t *testing.T) {
	t.Parallel()
	k := broker(t, testbed.Plaintext)
	for _, c := range testbed.Clients {
		t.Run(string(c), func(t *testing.T) {
			t.Parallel()
			const n = 10
			for _, kind := range invalidKinds {
				checkRejected(t, k, testbed.SecPlaintext, c, kind, n)
			}

			topic := topicName(t, "payload")
			es := run(t, k, testbed.SecPlaintext, c, append(avroFlags(t), "--topic", topic, "--mode", "produce",
				"--count", fmt.Sprint(n), "--invalid-kind", "payload", "--key-prefix", "payload")...)
			checkProduced(t, es, "payload", n)
			checkAccepted(t, k, topic, n)
			// confluent-kafka's AvroDeserializer is the reference reader.
			got := run(t, k, testbed.SecPlaintext, testbed.Python, append(avroFlags(t), "--topic", topic,
				"--mode", "consume", "--count", fmt.Sprint(n))...)
			done, _ := got.Done()
			if done.Consumed != 0 || done.ConsumeErrors != n {
				t.Errorf("the Avro deserializer accepted %d and rejected %d records, want 0 and %d",
					done.Consumed, done.ConsumeErrors, n)
			}
		})
	}
}

// checkRejectError checks how client reported one record the proxy refused.
// The proxy names every failing record of a batch in record_errors, so
// Java fails each with an InvalidRecordException carrying the proxy's
// reason text; confluent-kafka's delivery report carries librdkafka's
// generic text for the code, kafkajs and franz-go the code alone.
func checkRejectError(t testing.TB, client testbed.Client, kind string, e testbed.Event, text string) {
	t.Helper()
	switch {
	case e.Code != "INVALID_RECORD":
		t.Errorf("%s: key %s failed with %s (%s), want INVALID_RECORD", kind, e.Key, e.Code, e.Error)
	case client == testbed.Java && !strings.Contains(e.Error, text):
		t.Errorf("%s: key %s failed with %q, want the proxy's reason %q", kind, e.Key, e.Error, text)
	}
}

// checkRejected has client send n records of kind to a topic of their own
// through the proxy in front of k and checks that the proxy refused them:
// every record failed, with INVALID_RECORD and the proxy's reason text as
// far as the client shows them (checkRejectError); the proxy counted the
// rejection under kind's reason; and the broker's own log of the topic
// holds nothing.
func checkRejected(t testing.TB, k *testbed.Kafka, sec testbed.Security, client testbed.Client, kind invalidKind, n int) {
	t.Helper()
	topic := topicName(t, kind.name)
	text := kind.text
	if strings.Contains(text, "%s") {
		text = fmt.Sprintf(text, topic)
	}
	checkRefused(t, k, sec, client, topic, kind.name, append(avroFlags(t), kind.flags(topic)...), kind.reason, text, n)
}

// checkRefused has client send n records to topic with args (serde and
// --invalid flags) through the proxy in front of k, and checks what
// checkRejected describes: every record failed with INVALID_RECORD, the
// proxy counted a rejection for reason, and the broker holds nothing of
// topic. text is the piece of the proxy's message Java must show. name
// labels the kind in messages and is the records' key prefix.
func checkRefused(t testing.TB, k *testbed.Kafka, sec testbed.Security, client testbed.Client, topic, name string,
	args []string, reason enforce.Reason, text string, n int) {
	t.Helper()
	args = append(args, "--topic", topic, "--mode", "produce", "--count", fmt.Sprint(n), "--key-prefix", name)
	es := run(t, k, sec, client, args...)
	done, _ := es.Done()
	if done.Produced != 0 || done.ProduceErrors != n {
		t.Errorf("%s: %d produced, %d rejected; want 0 and %d", name, done.Produced, done.ProduceErrors, n)
	}
	invalid := 0
	for _, e := range es.Of(testbed.EvProduceError) {
		checkRejectError(t, client, name, e, text)
		if e.Code == "INVALID_RECORD" {
			invalid++
		}
	}
	if invalid == 0 {
		t.Errorf("%s: no record failed with INVALID_RECORD", name)
	}
	sp := proxyOf(t, k)
	if got := sp.rejections(topic, reason); got < 1 {
		t.Errorf("%s: the proxy counted %v rejections of %s for %s, want at least 1", name, got, topic, reason)
	}
	checkWritten(t, k, sec, topic, 0)
}

// checkAccepted checks that the proxy checked and passed at least n records
// of topic: its values were judged, not waved through.
func checkAccepted(t testing.TB, k *testbed.Kafka, topic string, n int) {
	t.Helper()
	if got := proxyOf(t, k).accepted(topic); got < float64(n) {
		t.Errorf("the proxy accepted %v records of %s, want at least %d", got, topic, n)
	}
}
