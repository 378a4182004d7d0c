// Package itest is the real-world integration suite: Apache Kafka 4.x
// started by deploy/dev/kafka.sh and the Java, Python, Node and Go client
// harnesses of package testbed, checked record by record.
//
// Its tests carry the build tag integration, so plain `go test ./...` runs
// none of them:
//
//	go test -tags integration -v ./deploy/dev/itest/
//
// TestMain installs the test bed (deploy/dev/setup.sh), starts one plaintext
// broker and a schema registry for the whole package; the SASL and SSL
// brokers start on first use, once each, and each gets one schemaproxy in
// this process in front of it, enforcing suitePolicy against the registry.
// Every client reaches Kafka through target, that proxy; checks of what
// landed ask the broker itself.
package itest
