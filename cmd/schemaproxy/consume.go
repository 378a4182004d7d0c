package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaproxy/schemaproxy/cmd/schemaproxy/console"
)

// consumeConfig is what "schemaproxy consume" is told on its command line.
type consumeConfig struct {
	Bootstrap     []string
	Topic         string
	FromBeginning bool
	Max           int
	Timeout       time.Duration
}

const consumeUsage = `Usage: schemaproxy consume --topic T [--from-beginning] [--max N] [--timeout D] [flags]

Reads T's records, without a consumer group, and prints one line per
record: partition, offset, key, the schema ID of a Confluent-framed value,
the value's length and the start of its body. Stops after --max records
or when --timeout has passed.

Exit code: 0 done (--max records read, or without --max the timeout
passed), 1 fewer than --max records before the timeout, or an error,
2 a bad flag.

Flags:
`

func (c *consumeConfig) flags(fs *pflag.FlagSet) {
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), consumeUsage)
		fmt.Fprint(fs.Output(), fs.FlagUsages())
	}
	fs.StringSliceVar(&c.Bootstrap, "bootstrap", []string{"127.0.0.1:9192"}, "bootstrap brokers (or schemaproxy), HOST:PORT[,...]")
	fs.StringVar(&c.Topic, "topic", "", "topic to read (required)")
	fs.BoolVar(&c.FromBeginning, "from-beginning", false, "read from each partition's first record (default: off, only records produced after the start)")
	fs.IntVar(&c.Max, "max", 0, "stop after this many records (default: 0, no limit)")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "stop after this long, counted from the start")
}

// consumeCmd runs "schemaproxy consume".
func consumeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c consumeConfig
	if err := parseFlags("consume", args, stderr, c.flags); err != nil {
		return err
	}
	switch {
	case c.Topic == "":
		return usageError{errors.New("--topic is required")}
	case len(c.Bootstrap) == 0:
		return usageError{errors.New("--bootstrap is required")}
	case c.Max < 0:
		return usageError{fmt.Errorf("--max %d: want 0 (no limit) or more records", c.Max)}
	case c.Timeout <= 0:
		return usageError{errors.New("--timeout must be positive")}
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()

	start := kgo.NewOffset().AtEnd()
	if c.FromBeginning {
		start = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap...), kgo.ConsumeTopics(c.Topic), kgo.ConsumeResetOffset(start))
	if err != nil {
		return usageError{err}
	}
	defer cl.Close()
	n, err := console.Consume(ctx, cl, c.Max, func(r *kgo.Record) { fmt.Fprintln(stdout, console.Describe(r)) })
	if err != nil {
		return err
	}
	if c.Max > 0 && n < c.Max {
		return fmt.Errorf("%d of %d records within %s", n, c.Max, c.Timeout)
	}
	return nil
}
