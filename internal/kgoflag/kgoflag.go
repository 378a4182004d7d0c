// Package kgoflag maps the names the load tools accept for producer
// settings (--compression, --acks) to franz-go's, so that the bench and
// the integration test harnesses take the same names. It parses values
// only: each tool registers its own flags and words its own errors
// around the ones returned here.
package kgoflag

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Compression maps a compression name (none, gzip, snappy, lz4 or zstd)
// to franz-go's codec. An unknown name is an error that quotes it and
// lists the names, worded to follow the flag's name ("--compression %w").
func Compression(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.NoCompression(), fmt.Errorf("%q: want none, gzip, snappy, lz4 or zstd", name)
}

// Acks maps an acks name (all or -1, 1, 0) to franz-go's setting. An
// unknown name is an error worded as Compression's.
func Acks(name string) (kgo.Acks, error) {
	switch name {
	case "all", "-1":
		return kgo.AllISRAcks(), nil
	case "1":
		return kgo.LeaderAck(), nil
	case "0":
		return kgo.NoAck(), nil
	}
	return kgo.AllISRAcks(), fmt.Errorf("%q: want all, 1 or 0", name)
}
