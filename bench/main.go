// Command bench measures what schemaproxy costs: producer (and, with
// --consume, consumer) throughput, produce latency, and the proxy's CPU
// and memory, against an upstream directly and through the proxy, in
// alternating rounds of one run.
//
// Each piece runs in a process of its own, so CPU accounting and pinning
// are per piece: the orchestrator (what "go run ./bench" starts) re-runs
// its own binary with a hidden first argument, --role=upstream (a kfake
// cluster and an srfake schema registry served over HTTP) or --role=load
// (one franz-go producer or consumer run), and runs the real
// bin/schemaproxy binary as the proxy. See bench/README.md for the method
// and every flag.
//
// It does not hold micro-benchmarks (those are Go benchmarks beside the
// code they measure), and it does not tune anything: it reports.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// rolePrefix marks the hidden first argument that selects a child role.
const rolePrefix = "--role="

// run dispatches to the orchestrator or a child role and returns the
// process exit code: 0 done, 1 the run failed, 2 a bad command line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var err error
	name := "bench"
	if len(args) > 0 && strings.HasPrefix(args[0], rolePrefix) {
		role := strings.TrimPrefix(args[0], rolePrefix)
		name = "bench " + role
		switch role {
		case roleUpstream:
			err = runUpstream(ctx, args[1:], stdout, stderr)
		case roleLoad:
			err = runLoad(ctx, args[1:], stdout, stderr)
		default:
			err = usageError{fmt.Errorf("unknown role %q", role)}
		}
	} else {
		err = orchestrate(ctx, args, stdout, stderr)
	}
	if err == nil {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		if errors.Is(ue.err, errHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "%s: %v\n", name, ue.err)
		return 2
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	return 1
}
