package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaproxy/schemaproxy/cmd/schemaproxy/console"
	"github.com/schemaproxy/schemaproxy/cmd/schemaproxy/schemas"
	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/examples"
)

// smokeTopic is the topic, and smokeSubject the subject, of the smoke
// test's events: the example MemoryCreated schema.
const (
	smokeTopic   = "memory.created"
	smokeSubject = smokeTopic + "-value"
	smokeTimeout = 20 * time.Second
)

// runSmoke produces a valid event (Confluent framing: magic 0, the schema
// ID, Avro binary), an invalid one (JSON, no framing) and one with the
// right framing but a cut-off Avro body to memory.created through the
// proxy at bootstrap, reads the valid one back from the brokers directly,
// and prints each outcome. It returns nil only if the valid event landed
// intact, the unframed one was rejected with INVALID_RECORD, and the
// cut-off one was rejected in mode payload (mode id checks only the ID,
// so there it lands).
func runSmoke(ctx context.Context, w io.Writer, bootstrap string, brokers []string, rep *schemas.Report, mode enforce.Mode) error {
	ctx, cancel := context.WithTimeout(ctx, smokeTimeout)
	defer cancel()
	id := 0
	for _, res := range rep.Results {
		if res.Subject == smokeSubject {
			id = res.ID
		}
	}
	if id == 0 {
		return fmt.Errorf("smoke: no schema registered under %s (the smoke test needs the example schemas)", smokeSubject)
	}
	_, schema, err := console.ExampleSchema()
	if err != nil {
		return fmt.Errorf("smoke: %w", err)
	}
	event := console.ExampleEvent(time.Now())
	valid, err := console.EncodeExample(id, event)
	if err != nil {
		return fmt.Errorf("smoke: %w", err)
	}
	invalid := []byte(`{"event_id":"evt-json","event_type":"memory.created"}`)
	cutOff := valid[:len(valid)-8]

	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.DefaultProduceTopic(smokeTopic), kgo.DisableIdempotentWrite())
	if err != nil {
		return err
	}
	defer cl.Close()

	fmt.Fprintf(w, "smoke test: three events to %s through schemaproxy at %s (mode %s)\n", smokeTopic, bootstrap, mode)
	var failed []string
	landed, err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(event.MemoryID), Value: valid}).First()
	if err != nil {
		fmt.Fprintf(w, "valid event    (Avro, schema id %d): FAILED: %v\n", id, err)
		failed = append(failed, "the valid event was not accepted")
	} else {
		back, err := readBack(ctx, brokers, landed.Partition, landed.Offset)
		switch {
		case err != nil:
			fmt.Fprintf(w, "valid event    (Avro, schema id %d): accepted by the proxy, but reading it back from the brokers failed: %v\n", id, err)
			failed = append(failed, "the valid event could not be read back")
		case !bytes.Equal(back, valid):
			fmt.Fprintf(w, "valid event    (Avro, schema id %d): the brokers hold different bytes at %s[%d] offset %d\n", id, smokeTopic, landed.Partition, landed.Offset)
			failed = append(failed, "the valid event landed changed")
		default:
			var got examples.MemoryCreated
			if err := avro.Unmarshal(schema, back[5:], &got); err != nil || got.EventID != event.EventID {
				fmt.Fprintf(w, "valid event    (Avro, schema id %d): landed, but does not decode as sent: %v\n", id, err)
				failed = append(failed, "the valid event does not decode")
				break
			}
			fmt.Fprintf(w, "valid event    (Avro, schema id %d): landed in %s[%d] at offset %d; read back from the brokers: event_id %s\n",
				id, smokeTopic, landed.Partition, landed.Offset, got.EventID)
		}
	}

	_, err = cl.ProduceSync(ctx, &kgo.Record{Key: []byte("evt-json"), Value: invalid}).First()
	switch {
	case errors.Is(err, kerr.InvalidRecord):
		fmt.Fprintf(w, "invalid event  (JSON, no schema id):  rejected with INVALID_RECORD, as it should be\n")
	case err == nil:
		fmt.Fprintf(w, "invalid event  (JSON, no schema id):  FAILED: accepted\n")
		failed = append(failed, "the invalid event was accepted")
	default:
		fmt.Fprintf(w, "invalid event  (JSON, no schema id):  FAILED: got %v, want INVALID_RECORD\n", err)
		failed = append(failed, "the invalid event failed otherwise")
	}

	_, err = cl.ProduceSync(ctx, &kgo.Record{Key: []byte("evt-cut"), Value: cutOff}).First()
	const cutLabel = "cut-off event  (Avro, schema id %d, last 8 bytes missing):"
	switch {
	case mode == enforce.ModePayload && errors.Is(err, kerr.InvalidRecord):
		fmt.Fprintf(w, cutLabel+" rejected with INVALID_RECORD, as it should be\n", id)
	case mode == enforce.ModeID && err == nil:
		fmt.Fprintf(w, cutLabel+" accepted: mode id checks the schema ID only (--mode payload rejects it)\n", id)
	case err == nil:
		fmt.Fprintf(w, cutLabel+" FAILED: accepted\n", id)
		failed = append(failed, "the cut-off event was accepted")
	default:
		fmt.Fprintf(w, cutLabel+" FAILED: got %v\n", id, err)
		failed = append(failed, "the cut-off event failed unexpectedly")
	}

	if len(failed) > 0 {
		fmt.Fprintln(w, "smoke test FAILED")
		return fmt.Errorf("smoke test failed: %v", failed)
	}
	fmt.Fprintln(w, "smoke test passed")
	return nil
}

// readBack reads the record at partition and offset of the smoke topic
// from the brokers directly, bypassing the proxy.
func readBack(ctx context.Context, brokers []string, partition int32, offset int64) ([]byte, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{smokeTopic: {partition: kgo.NewOffset().At(offset)}}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	for {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("nothing at %s[%d] offset %d: %w", smokeTopic, partition, offset, err)
		}
		var fetchErr error
		fetches.EachError(func(_ string, _ int32, err error) { fetchErr = err })
		if fetchErr != nil {
			return nil, fetchErr
		}
		for _, r := range fetches.Records() {
			if r.Partition == partition && r.Offset == offset {
				return r.Value, nil
			}
		}
	}
}
