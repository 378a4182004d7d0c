package testbed

import "github.com/twmb/franz-go/pkg/sr/srfake"

// StartRegistry serves an in-memory Confluent-compatible schema registry
// (franz-go's srfake) over HTTP on 127.0.0.1 with a kernel-chosen port, so
// the non-Go harnesses can reach it with --registry reg.URL(). Its global
// compatibility defaults to BACKWARD, as Confluent's does. Close it when done.
func StartRegistry(opts ...srfake.Option) *srfake.Registry {
	return srfake.New(opts...)
}
