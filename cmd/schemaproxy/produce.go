package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/schemaproxy/schemaproxy/cmd/schemaproxy/console"
)

// produceConfig is what "schemaproxy produce" is told on its command line.
type produceConfig struct {
	Bootstrap []string
	Topic     string
	Registry  string
	Example   bool
	Value     string
	Key       string
	Cut       int
	Timeout   time.Duration
}

const produceUsage = `Usage: schemaproxy produce --topic T [--example --registry URL | --value V] [flags]

Produces records to T, each in a request of its own, and prints one line
per record: where it landed, or the error the broker (or schemaproxy in
front of it) answered with, and that error's message.

What is sent: with --example, one memory.created event as Confluent-framed
Avro (examples/schemas/memory.created.avsc, its schema ID looked up in
--registry under T-value); with --value, that value; with neither, one
record per line of standard input.

Exit code: 0 every record landed, 1 a record was refused (or could not be
sent), 2 a bad flag.

Flags:
`

func (c *produceConfig) flags(fs *pflag.FlagSet) {
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), produceUsage)
		fmt.Fprint(fs.Output(), fs.FlagUsages())
	}
	fs.StringSliceVar(&c.Bootstrap, "bootstrap", []string{"127.0.0.1:9192"}, "bootstrap brokers (or schemaproxy), HOST:PORT[,...]")
	fs.StringVar(&c.Topic, "topic", "", "topic to produce to (required)")
	fs.StringVar(&c.Registry, "registry", "", "schema registry URL, for --example (default: none)")
	fs.BoolVar(&c.Example, "example", false, "send one valid memory.created event, Confluent-framed Avro with the ID --registry has for the example schema under <topic>-value (default: off)")
	fs.StringVar(&c.Value, "value", "", "send one record with this value, as given (default: none; without it or --example, each line of standard input is a record)")
	fs.StringVar(&c.Key, "key", "", "key of every record (default: null)")
	fs.IntVar(&c.Cut, "cut", 0, "bytes cut off the end of every value before it is sent, to try a body that does not decode (default: 0, none)")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "how long each record may take to be answered, retries included")
}

// validate reports the first bad flag or combination.
func (c *produceConfig) validate(fs *pflag.FlagSet) error {
	switch {
	case c.Topic == "":
		return errors.New("--topic is required")
	case len(c.Bootstrap) == 0:
		return errors.New("--bootstrap is required")
	case c.Example && fs.Changed("value"):
		return errors.New("--example and --value are two ways to say what to send: give one")
	case c.Example && c.Registry == "":
		return errors.New("--example needs --registry, to look up the example schema's ID")
	case c.Cut < 0:
		return fmt.Errorf("--cut %d: want 0 or more bytes", c.Cut)
	case c.Timeout <= 0:
		return errors.New("--timeout must be positive")
	}
	if c.Registry != "" {
		if u, err := url.Parse(c.Registry); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--registry %q is not an http:// or https:// URL", c.Registry)
		}
	}
	return nil
}

// produceCmd runs "schemaproxy produce".
func produceCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var c produceConfig
	var fs *pflag.FlagSet
	if err := parseFlags("produce", args, stderr, func(f *pflag.FlagSet) { fs = f; c.flags(f) }); err != nil {
		return err
	}
	if err := c.validate(fs); err != nil {
		return usageError{err}
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	var values [][]byte
	switch {
	case c.Example:
		cl, err := sr.NewClient(sr.URLs(c.Registry), sr.UserAgent("schemaproxy-produce"))
		if err != nil {
			return err
		}
		rctx, cancel := context.WithTimeout(ctx, c.Timeout)
		id, err := console.ExampleID(rctx, cl, c.Topic+"-value")
		cancel()
		if err != nil {
			return err
		}
		v, err := console.EncodeExample(id, console.ExampleEvent(time.Now()))
		if err != nil {
			return err
		}
		values = append(values, v)
	case fs.Changed("value"):
		values = append(values, []byte(c.Value))
	default:
		sc := bufio.NewScanner(stdin)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			values = append(values, []byte(sc.Text()))
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("reading standard input: %w", err)
		}
	}
	for i, v := range values {
		if c.Cut > len(v) {
			return usageError{fmt.Errorf("--cut %d is longer than value %d (%d bytes)", c.Cut, i+1, len(v))}
		}
		values[i] = v[:len(v)-c.Cut]
	}
	var key []byte
	if fs.Changed("key") {
		key = []byte(c.Key)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap...), kgo.DisableIdempotentWrite())
	if err != nil {
		return usageError{err}
	}
	defer cl.Close()
	refused := false
	for _, v := range values {
		pctx, cancel := context.WithTimeout(ctx, c.Timeout)
		l, err := console.Produce(pctx, cl, c.Topic, key, v)
		cancel()
		var re *console.RefusedError
		switch {
		case errors.As(err, &re):
			fmt.Fprintf(stdout, "refused %s\n", re)
			refused = true
		case err != nil:
			return err
		default:
			fmt.Fprintf(stdout, "landed  %s[%d] offset %d (%d bytes)\n", l.Topic, l.Partition, l.Offset, len(v))
		}
	}
	if refused {
		return exitCode(1)
	}
	return nil
}
