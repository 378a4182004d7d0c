package enforce_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/protocol"
)

// BenchmarkCheckIDMode measures id-mode validation of one partition batch
// of 100 records of 1 KiB with a warm registry cache, per codec. SetBytes
// is the uncompressed record data, so MB/s compare across codecs.
func BenchmarkCheckIDMode(b *testing.B) {
	srv := enforcetest.NewRegistry(b)
	id := srv.Avro(b, "orders-value", orderSchema).ID
	e := enforce.New(staticPolicy{enforce.DefaultPolicy()}, enforce.NewRegistry(srv.Client))
	payload := make([]byte, 1024-5)
	for i := range payload {
		payload[i] = byte('a' + i%23)
	}
	value := enforcetest.Value(id, payload)
	var recs []enforcetest.Rec
	for range 100 {
		recs = append(recs, enforcetest.Rec{Key: []byte("key"), Value: value})
	}
	for _, codec := range []struct {
		name string
		c    int
	}{{"none", protocol.CodecNone}, {"gzip", protocol.CodecGzip}, {"snappy", protocol.CodecSnappy}, {"lz4", protocol.CodecLZ4}, {"zstd", protocol.CodecZstd}} {
		batch := enforcetest.Batch(codec.c, recs...)
		ctx := context.Background()
		if err := e.Check(ctx, "orders", 0, batch); err != nil {
			b.Fatalf("%s: %v", codec.name, err)
		}
		b.Run(codec.name, func(b *testing.B) {
			b.SetBytes(int64(100 * len(value)))
			b.ReportAllocs()
			for b.Loop() {
				if err := e.Check(ctx, "orders", 0, batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRegistryCacheHit measures the cached path of the registry
// questions a record's check asks.
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
