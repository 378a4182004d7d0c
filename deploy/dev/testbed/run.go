package testbed

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Client names a harness.
type Client string

// The harnesses; each takes the flags documented in deploy/dev/README.md.
const (
	Java   Client = "java"   // org.apache.kafka:kafka-clients
	Python Client = "python" // confluent-kafka (librdkafka)
	Node   Client = "node"   // kafkajs
	Go     Client = "go"     // franz-go, run in-process by [RunGo]
)

// Clients lists every harness, Go last.
var Clients = []Client{Java, Python, Node, Go}

// Compressions lists the --compression values; every harness supports all.
var Compressions = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// GroupProtocols returns the --group-protocol values c supports: kafkajs
// speaks only classic; the others also KIP-848's consumer protocol.
func GroupProtocols(c Client) []string {
	if c == Node {
		return []string{"classic"}
	}
	return []string{"classic", "consumer"}
}

// Run runs client's harness with args (everything after the client name of
// deploy/dev/clients/run.sh) and returns the events it printed, in order.
// The error is a *[HarnessError] when it exited non-zero, and is joined with
// any line that was not a JSON event. Cancelling ctx kills the harness.
func Run(ctx context.Context, client Client, args ...string) (Events, error) {
	if client == Go {
		return RunGo(ctx, args...)
	}
	dev, err := devDir()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(dev, "clients", "run.sh"), append([]string{string(client)}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	events, parseErr := parseEvents(stdout)
	waitErr := cmd.Wait()
	var runErr error
	if waitErr != nil {
		he := &HarnessError{Client: client, ExitCode: -1, Reason: waitErr.Error(), Stderr: tail(stderr.Bytes(), 4096)}
		if ee := (*exec.ExitError)(nil); errors.As(waitErr, &ee) {
			he.ExitCode = ee.ExitCode()
		}
		if msgs := errorMessages(events); msgs != "" {
			he.Reason = msgs
		}
		runErr = he
	}
	return events, errors.Join(runErr, parseErr)
}

// RunJava runs the Java harness: Run(ctx, Java, args...).
func RunJava(ctx context.Context, args ...string) (Events, error) { return Run(ctx, Java, args...) }

// RunPython runs the Python harness: Run(ctx, Python, args...).
func RunPython(ctx context.Context, args ...string) (Events, error) {
	return Run(ctx, Python, args...)
}

// RunNode runs the Node harness: Run(ctx, Node, args...).
func RunNode(ctx context.Context, args ...string) (Events, error) { return Run(ctx, Node, args...) }

// parseEvents reads JSON lines until EOF; a line that is not an event is
// reported once, with the count of such lines.
func parseEvents(r io.Reader) (Events, error) {
	var (
		events Events
		bad    int
		first  string
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(line, &e); err != nil || e.Event == "" {
			if bad++; bad == 1 {
				first = string(line)
			}
			continue
		}
		events = append(events, e)
	}
	var err error
	if bad > 0 {
		err = fmt.Errorf("%d stdout lines were not JSON events, the first: %.200q", bad, first)
	}
	return events, errors.Join(err, sc.Err())
}

func errorMessages(events Events) string {
	var msgs []string
	for _, e := range events.Of(EvError) {
		msgs = append(msgs, e.Error)
	}
	return strings.Join(msgs, "; ")
}
