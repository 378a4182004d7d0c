// Command go is the franz-go client harness of the dev test bed, for use
// from a shell: it takes the flags every harness takes and prints one JSON
// event per line (see deploy/dev/README.md). Tests call testbed.RunGo, which
// runs the same code in-process.
//
//	go run ./deploy/dev/clients/go --bootstrap 127.0.0.1:9092 --topic t --count 10
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/schemaproxy/schemaproxy/deploy/dev/testbed"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	enc := json.NewEncoder(os.Stdout)
	err := testbed.GoHarness(ctx, func(e testbed.Event) {
		if err := enc.Encode(e); err != nil {
			fmt.Fprintln(os.Stderr, "harness: writing event:", err)
		}
	}, os.Args[1:]...)
	var he *testbed.HarnessError
	if errors.As(err, &he) {
		fmt.Fprintln(os.Stderr, "harness:", he.Reason)
		stop()
		os.Exit(he.ExitCode)
	}
}
