package proxy

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed is returned by Start after Shutdown.
	ErrClosed = errors.New("proxy closed")
	// ErrNoUpstream is returned when no upstream bootstrap broker accepts a connection.
	ErrNoUpstream = errors.New("no upstream broker reachable")
	// ErrNodePortRange is returned when broker-port-base + node ID is not a valid TCP port.
	ErrNodePortRange = errors.New("node port out of range")
)

// ProtocolError is a client or broker protocol violation that ends the
// connection. Reason is one of the metrics reason values.
type ProtocolError struct {
	Reason string
	Err    error
}

func (e *ProtocolError) Error() string { return e.Err.Error() }
func (e *ProtocolError) Unwrap() error { return e.Err }

func protoErr(reason, format string, args ...any) error {
	return &ProtocolError{Reason: reason, Err: fmt.Errorf(format, args...)}
}
