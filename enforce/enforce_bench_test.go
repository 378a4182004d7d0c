package enforce_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/protocol"
)

// benchWords is the vocabulary of the text fields in orderPayload.
var benchWords = []string{
	"Alice", "Bob", "Chen", "Dmitri", "Eva", "Farah", "Gustav", "Hana", "Ines", "Jamal",
	"Main Street", "Rue de Rivoli", "Königstraße", "Calle Mayor", "Baker Street",
	"PENDING", "PAID", "SHIPPED", "DELIVERED", "REFUNDED",
	"EUR", "USD", "GBP", "JPY", "web", "ios", "android", "pos", "express", "standard",
}

// orderPayload returns size bytes shaped like an Avro-encoded order: a
// random UUID, varint amounts and timestamps, names and statuses from a
// small vocabulary, and line items with SKUs. Every record differs, so
// codecs compress it about as well as real topic data (lz4 about 2x), not
// as well as a repeating pattern.
func orderPayload(rng *rand.Rand, size int) []byte {
	b := make([]byte, 0, size+64)
	str := func(s string) {
		b = binary.AppendVarint(b, int64(len(s)))
		b = append(b, s...)
	}
	word := func() string { return benchWords[rng.IntN(len(benchWords))] }
	var uuid [16]byte
	for i := range uuid {
		uuid[i] = byte(rng.Uint32())
	}
	str(fmt.Sprintf("%x-%x-%x-%x-%x", uuid[:4], uuid[4:6], uuid[6:8], uuid[8:10], uuid[10:]))
	b = binary.AppendVarint(b, 1_760_000_000_000+rng.Int64N(1e9)) // created_at, ms
	str(word() + " " + word())
	str(word() + "." + strconv.Itoa(rng.IntN(10000)) + "@example.com")
	str(strconv.Itoa(1+rng.IntN(300)) + " " + word())
	str(word())
	for len(b) < size {
		str("SKU-" + strconv.Itoa(100000+rng.IntN(900000)))
		b = binary.AppendVarint(b, int64(1+rng.IntN(5)))   // quantity
		b = binary.AppendVarint(b, int64(rng.IntN(50000))) // unit price, cents
		str(word())
	}
	return b[:size]
}

// BenchmarkCheckIDMode measures id-mode validation of one partition batch
// of 100 records of 1 KiB (values of a 5-byte Confluent header and an
// order-shaped payload, every record different) with a warm registry
// cache, per codec. SetBytes is the uncompressed batch (header and
// records), the bytes a producer produces, so MB/s compare across codecs;
// the ratio metric is uncompressed over compressed. The
// lz4-repeating-pattern case is the same check on values repeating a
// 23-byte pattern: it shows how far a too-compressible payload overstates
// lz4 throughput, and is not a figure to quote.
func BenchmarkCheckIDMode(b *testing.B) {
	srv := enforcetest.NewRegistry(b)
	id := srv.Avro(b, "orders-value", orderSchema).ID
	e := enforce.New(enforce.FixedPolicy(enforce.DefaultPolicy()), enforce.NewRegistry(srv.Client))
	rng := rand.New(rand.NewPCG(1, 2))
	var recs, repeating []enforcetest.Rec
	pattern := make([]byte, 1024-5)
	for i := range pattern {
		pattern[i] = byte('a' + i%23)
	}
	for i := range 100 {
		key := []byte("order-" + strconv.Itoa(1_000_000+i))
		recs = append(recs, enforcetest.Rec{Key: key, Value: enforcetest.Value(id, orderPayload(rng, 1024-5))})
		repeating = append(repeating, enforcetest.Rec{Key: key, Value: enforcetest.Value(id, pattern)})
	}
	raw := int64(len(enforcetest.Batch(protocol.CodecNone, recs...)))
	for _, tc := range []struct {
		name  string
		codec int
		recs  []enforcetest.Rec
	}{
		{"none", protocol.CodecNone, recs},
		{"gzip", protocol.CodecGzip, recs},
		{"snappy", protocol.CodecSnappy, recs},
		{"lz4", protocol.CodecLZ4, recs},
		{"zstd", protocol.CodecZstd, recs},
		{"lz4-repeating-pattern", protocol.CodecLZ4, repeating},
	} {
		batch := enforcetest.Batch(tc.codec, tc.recs...)
		ctx := context.Background()
		if err := e.Check(ctx, "orders", 0, batch); err != nil {
			b.Fatalf("%s: %v", tc.name, err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(raw)
			b.ReportAllocs()
			for b.Loop() {
				if err := e.Check(ctx, "orders", 0, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(raw)/float64(len(batch)), "ratio")
		})
	}
}

// BenchmarkRegistryCacheHit measures the cached path of the registry
// questions a record's check asks: the schema by ID, then whether it is
// in the record's subject. Nothing here is sized in bytes, so no SetBytes.
func BenchmarkRegistryCacheHit(b *testing.B) {
	srv := enforcetest.NewRegistry(b)
	id := srv.Avro(b, "orders-value", orderSchema).ID
	reg := enforce.NewRegistry(srv.Client)
	ctx := context.Background()
	if ok, err := reg.InSubject(ctx, id, "orders-value"); !ok || err != nil {
		b.Fatalf("warm-up: %v %v", ok, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.SchemaByID(ctx, id); err != nil {
			b.Fatal(err)
		}
		if ok, err := reg.InSubject(ctx, id, "orders-value"); !ok || err != nil {
			b.Fatal(fmt.Sprint(ok, err))
		}
	}
}
