// Command engine compares networking engines for schemaproxy's data plane:
// the net.Conn data plane (the schemaproxy serve binary, enforcement off)
// against a minimal Kafka-frame-aware passthrough on gnet/v2, in cut-through
// and whole-frame variants, and two minimal net.Conn passthroughs: one that
// reads whole request frames into a reused buffer (gnet-frame's
// counterpart) and one that splices (a reference). For each it measures, from
// /proc of the proxy process, CPU seconds per GB of 1 MiB Produce requests
// forwarded and RSS per idle connection.
//
// Every part runs in its own process: the load client and a sink broker
// (a tiny Kafka speaker that answers ApiVersions, Metadata and Produce and
// discards the records) on CPU 0, the proxy under test on CPU 1 when
// taskset is available. The same program is each of them, chosen with the
// hidden --role flag. Engines alternate within each round, and the report
// gives every round and the medians.
//
// It deliberately measures nothing else: no enforcement, no TLS, no
// consumer traffic (see the main bench command for those), and the gnet
// passthrough is only correct for the traffic this command sends.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run parses args, runs the comparison or one role, and returns the exit
// code: 0 done, 1 failed, 2 bad command line.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var c config
	fs := pflag.NewFlagSet("engine", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	c.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./bench/engine [flags]\n\n%s", fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := c.validate(); err != nil {
		fmt.Fprintf(stderr, "engine: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var err error
	if c.Role != "" {
		err = runRole(ctx, c, stdin, stdout, stderr)
	} else {
		err = compareMain(ctx, c, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "engine: %v\n", err)
		return 1
	}
	return 0
}
