package main

import (
	"errors"
	"fmt"
)

// errHelp is returned when --help was asked for; the exit code is 0.
var errHelp = errors.New("help requested")

// errProxyStart means the proxy process exited, or never answered, at start.
var errProxyStart = errors.New("the proxy did not start")

// errRecordsFailed means a producer round had records that were not
// acknowledged: the figures of such a round mean nothing.
var errRecordsFailed = errors.New("records failed")

// usageError marks errors caused by the command line (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// childError is a child process that failed: its role, what it was
// doing, and the tail of what it wrote to stderr.
type childError struct {
	Name   string
	Op     string
	Err    error
	Stderr string
}

func (e *childError) Error() string {
	msg := fmt.Sprintf("%s: %s: %v", e.Name, e.Op, e.Err)
	if e.Stderr != "" {
		msg += "\n--- stderr of " + e.Name + " (last lines) ---\n" + e.Stderr
	}
	return msg
}

func (e *childError) Unwrap() error { return e.Err }
