// Package testbed runs the real-world parts of schemaproxy's integration
// tests: Apache Kafka brokers started by deploy/dev/kafka.sh, a
// Confluent-compatible schema registry (srfake on 127.0.0.1), and client
// harnesses for Java (kafka-clients), Python (confluent-kafka/librdkafka),
// Node (kafkajs) and Go (franz-go) that all take the same flags and report the
// same JSON events.
//
// It does not install anything by itself beyond calling deploy/dev/setup.sh
// (see [Setup]), does not talk to the proxy, and decides no test outcome:
// tests read the [Events] and judge. Everything binds to loopback.
//
// Paths are found from the working directory upwards (the first directory
// holding deploy/dev/kafka.sh), or from $SCHEMAPROXY_DEV_DIR when set.
// Everything here is safe for concurrent use by parallel tests.
package testbed
