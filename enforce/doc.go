// Package enforce decides whether the records of a Produce partition may
// reach the broker: it holds the topic policy, the schema-registry cache,
// the schema-ID wire formats and the subject-name strategies; in mode
// payload it also checks each record's bytes against its writer schema,
// with a validator from package payload compiled once per schema.
//
// An Enforcer judges one partition's record batch at a time and returns
// nil (forward it), a *ValidationError (reject it with INVALID_RECORD), or
// an error wrapping ErrRegistryUnavailable (the registry could not answer:
// the caller answers with a retriable error so the producer retries). It
// never rewrites bytes and never talks to Kafka; package proxy wires it
// into the Produce path. It imports protocol types, never proxy.
package enforce
