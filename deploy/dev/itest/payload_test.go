//go:build integration

package itest

import (
	"fmt"
	"testing"

	"github.com/schemaproxy/schemaproxy/deploy/dev/testbed"
	"github.com/schemaproxy/schemaproxy/enforce"
)

// payloadCount is the records of each TestPayload run: a batch or two per
// partition. A JVM start or a group join dominates each run anyway.
const payloadCount = 20

// truncatedAvroText is the piece of the proxy's message for the harnesses'
// truncated Avro (--invalid-kind payload) that Java shows: it names the
// field.
const truncatedAvroText = "field name: truncated"

// serdeFlags are the harness flags for User values in the format of serde
// (avro, json or protobuf), registered in the suite's registry.
func serdeFlags(t testing.TB, serde string) []string {
	t.Helper()
	file, err := testbed.SchemaFileOf(serde)
	if err != nil {
		t.Fatal(err)
	}
	return []string{"--serde", serde, "--registry", registry.URL(), "--schema-file", file}
}

// payloadTopic is topicName for a topic under suitePolicy's mode payload.
func payloadTopic(t testing.TB, parts ...string) string {
	return payloadPrefix + topicName(t, parts...)
}

// TestPayload: mode payload, on suitePolicy's payload.* topics.
//
// confluent-kafka's AvroSerializer, JSONSerializer and ProtobufSerializer
// write User records that the proxy decodes against their writer schema and
// passes: they land, and read back through the same format's deserializer.
// Values framed with the right schema ID (and, for Protobuf, the right
// message indexes) whose bytes are not the schema's are refused with
// INVALID_RECORD and nothing lands: Avro truncated in a string; JSON without
// a required property or below a minimum; Protobuf with a wrong wire type or
// a field longer than what is left. A Protobuf field User does not declare
// is refused, and passes where the rule says unknown_fields: allow.
//
// Java, kafkajs and franz-go write Avro the proxy passes, and their
// truncated Avro under the right ID is refused here, where mode id lets it
// through (TestInvalidAvro).
func TestPayload(t *testing.T) {
	t.Parallel()
	k := broker(t, testbed.Plaintext)
	const n = payloadCount
	count := fmt.Sprint(n)
	for _, serde := range []string{"avro", "json", "protobuf"} {
		t.Run("python/"+serde, func(t *testing.T) {
			t.Parallel()
			topic := payloadTopic(t)
			es := run(t, k, testbed.SecPlaintext, testbed.Python,
				append(serdeFlags(t, serde), "--topic", topic, "--mode", "both", "--count", count)...)
			checkProduced(t, es, "k", n)
			checkConsumed(t, es, es, "k", n)
			checkUsers(t, es, "k")
			checkAccepted(t, k, topic, n)
			checkWritten(t, k, testbed.SecPlaintext, topic, n)

			checkRefused(t, k, testbed.SecPlaintext, testbed.Python, payloadTopic(t, "invalid"), "invalid",
				append(serdeFlags(t, serde), "--invalid-kind", "payload"), enforce.ReasonPayload, "", n)
		})
	}
	t.Run("python/protobuf_unknown_fields", func(t *testing.T) {
		t.Parallel()
		flags := append(serdeFlags(t, "protobuf"), "--invalid-kind", "unknown-field")
		checkRefused(t, k, testbed.SecPlaintext, testbed.Python, payloadTopic(t, "reject"), "unknown",
			flags, enforce.ReasonPayload, "", n)

		topic := unknownFieldsPrefix + topicName(t, "allow")
		es := run(t, k, testbed.SecPlaintext, testbed.Python,
			append(flags, "--topic", topic, "--mode", "both", "--count", count, "--key-prefix", "unknown")...)
		checkProduced(t, es, "unknown", n)
		checkConsumed(t, es, es, "unknown", n)
		checkUsers(t, es, "unknown")
		checkAccepted(t, k, topic, n)
		checkWritten(t, k, testbed.SecPlaintext, topic, n)
	})
	for _, c := range []testbed.Client{testbed.Java, testbed.Node, testbed.Go} {
		t.Run(string(c), func(t *testing.T) {
			t.Parallel()
			topic := payloadTopic(t)
			es := run(t, k, testbed.SecPlaintext, c,
				append(avroFlags(t), "--topic", topic, "--mode", "produce", "--count", count)...)
			checkProduced(t, es, "k", n)
			checkAccepted(t, k, topic, n)
			checkWritten(t, k, testbed.SecPlaintext, topic, n)

			checkRefused(t, k, testbed.SecPlaintext, c, payloadTopic(t, "invalid"), "invalid",
				append(avroFlags(t), "--invalid-kind", "payload"), enforce.ReasonPayload, truncatedAvroText, n)
		})
	}
}
