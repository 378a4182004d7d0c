// Command schemaproxy is a Kafka-protocol proxy that enforces schemas on the
// wire. "schemaproxy serve" (the default) runs the proxy; see --help.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, args, stdout, stderr)
	case "demo":
		err = demo(ctx, args, stdout, stderr)
	case "produce":
		err = produceCmd(ctx, args, os.Stdin, stdout, stderr)
	case "consume":
		err = consumeCmd(ctx, args, stdout, stderr)
	case "check":
		err = checkCmd(ctx, args, stdout, stderr)
	case "register":
		err = registerCmd(ctx, args, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "schemaproxy: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		var code exitCode
		if errors.As(err, &code) {
			return int(code)
		}
		var ue usageError
		if errors.As(err, &ue) {
			if errors.Is(ue.err, errHelp) {
				return 0
			}
			fmt.Fprintf(stderr, "schemaproxy %s: %v\n", cmd, ue.err)
			return 2
		}
		fmt.Fprintf(stderr, "schemaproxy %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

const usage = `Usage: schemaproxy [command] [flags]

Commands:
  serve     run the proxy (the default command)
  demo      run the proxy in front of an embedded in-process Kafka cluster and registry
  produce   produce a record (an example event, a value, or stdin lines) and
            print where it landed or why it was refused
  consume   print the records of a topic
  check     check a directory of schemas against a registry (or, --local, against
            previous versions); for CI
  register  check, then register what is compatible
  help      print this text

Run "schemaproxy COMMAND --help" for a command's flags.
`

// usageError marks errors caused by the command line (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

var errHelp = errors.New("help requested")

// parseFlags parses a subcommand's flags, which define registers, on a
// flag set of its own. Errors, and --help, come back as usageError;
// positional arguments are refused.
func parseFlags(cmd string, args []string, stderr io.Writer, define func(*pflag.FlagSet)) error {
	fs := pflag.NewFlagSet(cmd, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	define(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return usageError{errHelp}
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}
