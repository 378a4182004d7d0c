package enforce_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/examples"
	"github.com/schemaproxy/schemaproxy/protocol"
)

// memoryEvents returns n Avro-encoded memory.created events (the example
// schema), each different: ids, times, users and a content preview of
// 100-600 bytes of words, so batches compress as real events do.
func memoryEvents(b *testing.B, schema avro.Schema, n int) [][]byte {
	rng := rand.New(rand.NewPCG(7, 11))
	out := make([][]byte, n)
	for i := range out {
		var preview strings.Builder
		for preview.Len() < 100+rng.IntN(500) {
			preview.WriteString(benchWords[rng.IntN(len(benchWords))])
			preview.WriteByte(' ')
		}
		user := fmt.Sprintf("user_%08x", rng.Uint32())
		ev := map[string]any{
			"event_id":        fmt.Sprintf("%016x-%016x", rng.Uint64(), rng.Uint64()),
			"event_type":      "memory.created",
			"timestamp":       fmt.Sprintf("2026-11-%02dT%02d:%02d:%02dZ", 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60)),
			"source_service":  "memory-service",
			"memory_id":       fmt.Sprintf("mem_%012x", rng.Uint64()>>16),
			"user_id":         &user,
			"agent_id":        nil,
			"content_preview": preview.String(),
			"metadata":        map[string]any{"source": "conversation", "turn": rng.IntN(100), "pinned": rng.IntN(2) == 0, "expires": nil},
		}
		p, err := avro.Marshal(schema, ev)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = p
	}
	return out
}

// BenchmarkCheckPayloadMode measures a partition batch of 100 example
// events (memory.created, Avro) checked in mode id and in mode payload,
// uncompressed and lz4, with a warm registry cache. SetBytes is the
// uncompressed record values, so the two modes compare directly: the
// difference is the cost of decoding every payload against its schema.
func BenchmarkCheckPayloadMode(b *testing.B) {
	text, err := examples.Schemas.ReadFile("schemas/memory.created.avsc")
	if err != nil {
		b.Fatal(err)
	}
	schema, err := avro.Parse(string(text))
	if err != nil {
		b.Fatal(err)
	}
	srv := enforcetest.NewRegistry(b)
	id := srv.Avro(b, "memories-value", string(text)).ID
	var recs []enforcetest.Rec
	size := 0
	for _, p := range memoryEvents(b, schema, 100) {
		v := enforcetest.Value(id, p)
		size += len(v)
		recs = append(recs, enforcetest.Rec{Key: []byte("k"), Value: v})
	}
	ctx := context.Background()
	for _, mode := range []string{"id", "payload"} {
		p, err := enforce.ParsePolicy([]byte("defaults: {value: {mode: " + mode + "}}"))
		if err != nil {
			b.Fatal(err)
		}
		e := enforce.New(enforce.FixedPolicy(p), enforce.NewRegistry(srv.Client))
		for _, codec := range []struct {
			name string
			c    int
		}{{"none", protocol.CodecNone}, {"lz4", protocol.CodecLZ4}} {
			batch := enforcetest.Batch(codec.c, recs...)
			if err := e.Check(ctx, "memories", 0, batch); err != nil {
				b.Fatalf("%s %s: %v", mode, codec.name, err)
			}
			b.Run(mode+"/"+codec.name, func(b *testing.B) {
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if err := e.Check(ctx, "memories", 0, batch); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
