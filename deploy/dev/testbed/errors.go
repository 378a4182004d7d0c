package testbed

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoDevDir means deploy/dev was not found above the working directory and
// $SCHEMAPROXY_DEV_DIR is unset.
var ErrNoDevDir = errors.New("testbed: deploy/dev not found above the working directory; set SCHEMAPROXY_DEV_DIR")

// ErrUnknownFlag is returned by [RunGo] for a flag the harnesses do not share.
var ErrUnknownFlag = errors.New("testbed: unknown harness flag")

// HarnessError is returned when a client harness exits non-zero or reports
// a fatal "error" event. Events holds whatever it printed before that.
type HarnessError struct {
	Client   Client
	ExitCode int    // -1 when the process did not exit on its own
	Reason   string // the error events' messages, or the exit status
	Stderr   string // the last few KiB of stderr
}

func (e *HarnessError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s harness failed (exit %d): %s", e.Client, e.ExitCode, e.Reason)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		fmt.Fprintf(&b, "\n--- stderr (tail) ---\n%s", s)
	}
	return b.String()
}
