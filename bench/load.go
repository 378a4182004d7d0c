package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/schemaproxy/schemaproxy/internal/kgoflag"
)

// roleLoad runs one producer or consumer phase.
const roleLoad = "load"

// Kinds of load.
const (
	kindProduce = "produce"
	kindConsume = "consume"
)

// loadConfig is what the orchestrator tells one load process.
type loadConfig struct {
	Kind        string
	Bootstrap   []string
	Topic       string
	Partitions  int
	Producers   int
	Records     int
	Duration    time.Duration
	Rate        float64
	RecordSize  int
	Compression string
	Acks        string
	Linger      time.Duration
	BatchBytes  int
	SchemaID    int
	Expect      int64
	Timeout     time.Duration
}

func (c *loadConfig) flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Kind, "kind", kindProduce, "produce or consume")
	fs.StringSliceVar(&c.Bootstrap, "bootstrap", nil, "seed brokers, HOST:PORT[,...]")
	fs.StringVar(&c.Topic, "topic", "", "topic")
	fs.IntVar(&c.Partitions, "partitions", 8, "partitions of the topic")
	fs.IntVar(&c.Producers, "producers", 1, "producer clients")
	fs.IntVar(&c.Records, "records", 0, "records to produce over all producers (0: --duration)")
	fs.DurationVar(&c.Duration, "duration", 0, "produce for this long")
	fs.Float64Var(&c.Rate, "rate", 0, "records/s over all producers (0: unthrottled)")
	fs.IntVar(&c.RecordSize, "record-size", defaultRecordSize, "bytes per record value")
	fs.StringVar(&c.Compression, "compression", "lz4", "batch compression")
	fs.StringVar(&c.Acks, "acks", "all", "all, 1 or 0")
	fs.DurationVar(&c.Linger, "linger", 5*time.Millisecond, "producer linger")
	fs.IntVar(&c.BatchBytes, "batch-bytes", defaultBatchBytes, "largest batch, bytes")
	fs.IntVar(&c.SchemaID, "schema-id", 1, "schema ID written into every value")
	fs.Int64Var(&c.Expect, "expect", 0, "records to consume")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Minute, "longest the phase may take")
}

// args renders c as the command line of a load process.
func (c *loadConfig) args() []string {
	a := []string{
		rolePrefix + roleLoad,
		"--kind=" + c.Kind,
		"--topic=" + c.Topic,
		"--timeout=" + c.Timeout.String(),
	}
	for _, b := range c.Bootstrap {
		a = append(a, "--bootstrap="+b)
	}
	if c.Kind == kindConsume {
		return append(a, fmt.Sprintf("--expect=%d", c.Expect))
	}
	return append(a,
		fmt.Sprintf("--partitions=%d", c.Partitions),
		fmt.Sprintf("--producers=%d", c.Producers),
		fmt.Sprintf("--records=%d", c.Records),
		"--duration="+c.Duration.String(),
		fmt.Sprintf("--rate=%g", c.Rate),
		fmt.Sprintf("--record-size=%d", c.RecordSize),
		"--compression="+c.Compression,
		"--acks="+c.Acks,
		"--linger="+c.Linger.String(),
		fmt.Sprintf("--batch-bytes=%d", c.BatchBytes),
		fmt.Sprintf("--schema-id=%d", c.SchemaID),
	)
}

// loadReady is the load process's first JSON line: set up and connected,
// waiting for a line on stdin to start.
type loadReady struct {
	Ready  bool  `json:"ready"`
	Primed int64 `json:"primed"`
	PID    int   `json:"pid"`
}

// loadResult is the load process's second and last JSON line.
type loadResult struct {
	Records    int64   `json:"records"`
	Bytes      int64   `json:"bytes"`
	Seconds    float64 `json:"seconds"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	// Latency of every acknowledged record, produce only.
	Latency *Latency `json:"latency_ms,omitempty"`
	// CPUSeconds is the load process's own user+system time over the phase.
	CPUSeconds float64 `json:"cpu_seconds"`
}

// Latency holds produce-latency percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

// runLoad sets up one producer or consumer phase, prints loadReady, waits
// for a line on stdin, runs the phase, and prints its loadResult.
func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c loadConfig
	fs := pflag.NewFlagSet("load", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	c.flags(fs)
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if len(c.Bootstrap) == 0 || c.Topic == "" {
		return usageError{errors.New("--bootstrap and --topic are required")}
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()

	var ph phase
	var err error
	switch c.Kind {
	case kindProduce:
		ph, err = newProduceLoad(ctx, &c)
	case kindConsume:
		ph, err = newConsumeLoad(ctx, &c)
	default:
		return usageError{fmt.Errorf("--kind %q: want produce or consume", c.Kind)}
	}
	if err != nil {
		return err
	}
	defer ph.close()

	enc := json.NewEncoder(stdout)
	if err := enc.Encode(loadReady{Ready: true, Primed: ph.primed(), PID: os.Getpid()}); err != nil {
		return err
	}
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fmt.Errorf("waiting for the start line: %w", err)
	}
	cpu0 := selfCPU()
	res, err := ph.run(ctx)
	if err != nil {
		return err
	}
	res.CPUSeconds = (selfCPU() - cpu0).Seconds()
	return enc.Encode(res)
}

// selfCPU is this process's user+system time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// phase is a producer or consumer set up and ready to run once.
type phase interface {
	primed() int64
	run(ctx context.Context) (loadResult, error)
	close()
}

// produceLoad is --producers franz-go clients producing pre-built values
// round-robin over the partitions.
type produceLoad struct {
	c       *loadConfig
	clients []*kgo.Client
	pool    [][]byte
	nPrimed int64
}

// poolSize is how many distinct values the producers cycle through (or
// fewer when a round has fewer records): far more than one batch holds,
// so no batch repeats a value.
const poolSize = 4096

func newProduceLoad(ctx context.Context, c *loadConfig) (*produceLoad, error) {
	comp, err := kgoflag.Compression(c.Compression)
	if err != nil {
		return nil, usageError{fmt.Errorf("--compression %w", err)}
	}
	ack, err := kgoflag.Acks(c.Acks)
	if err != nil {
		return nil, usageError{fmt.Errorf("--acks %w", err)}
	}
	n := poolSize
	if c.Records > 0 {
		n = min(n, max(c.Records, c.Partitions))
	}
	pool, err := eventPool(n, c.RecordSize, c.SchemaID, uint64(time.Now().UnixNano()))
	if err != nil {
		return nil, err
	}
	p := &produceLoad{c: c, pool: pool}
	for range c.Producers {
		opts := []kgo.Opt{
			kgo.SeedBrokers(c.Bootstrap...),
			kgo.DefaultProduceTopic(c.Topic),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerBatchCompression(comp),
			kgo.ProducerLinger(c.Linger),
			kgo.ProducerBatchMaxBytes(int32(c.BatchBytes)),
			kgo.RequiredAcks(ack),
			kgo.ClientID("schemaproxy-bench"),
		}
		if c.Acks != "all" && c.Acks != "-1" {
			opts = append(opts, kgo.DisableIdempotentWrite())
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			p.close()
			return nil, err
		}
		p.clients = append(p.clients, cl)
	}
	// Prime: one record to every partition from every producer, so
	// metadata, connections and (idempotent) producer IDs are in place
	// before the clock starts. They land in the topic and are counted
	// by the consumer, not by this phase.
	for _, cl := range p.clients {
		recs := make([]*kgo.Record, c.Partitions)
		for i := range recs {
			recs[i] = &kgo.Record{Value: pool[i%len(pool)], Partition: int32(i)}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			p.close()
			return nil, fmt.Errorf("priming the producer on %s: %w", c.Topic, err)
		}
		p.nPrimed += int64(len(recs))
	}
	return p, nil
}

func (p *produceLoad) primed() int64 { return p.nPrimed }

func (p *produceLoad) close() {
	for _, cl := range p.clients {
		cl.Close()
	}
}

// recorder collects the outcome of one producer's records; its promise
// runs on franz-go's goroutines.
type recorder struct {
	mu       sync.Mutex
	lat      []time.Duration
	errs     int64
	firstErr error
	bytes    int64
}

// promise records one record's outcome: its latency is the time from
// the Produce call (the record's timestamp, set just before) to this
// acknowledgement.
func (r *recorder) promise(rec *kgo.Record, err error) {
	d := time.Since(rec.Timestamp)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errs++
		if r.firstErr == nil {
			r.firstErr = err
		}
		return
	}
	r.lat = append(r.lat, d)
	r.bytes += int64(len(rec.Value))
}

func (p *produceLoad) run(ctx context.Context) (loadResult, error) {
	c := p.c
	recs := make([]*recorder, len(p.clients))
	start := time.Now()
	var deadline time.Time
	if c.Duration > 0 {
		deadline = start.Add(c.Duration)
	}
	var g errgroup.Group
	var next atomic.Int64 // pool index, shared so producers send different values
	for i, cl := range p.clients {
		rec := &recorder{}
		if c.Records > 0 {
			rec.lat = make([]time.Duration, 0, c.Records/len(p.clients)+1)
		}
		recs[i] = rec
		share := c.Records / len(p.clients)
		if i < c.Records%len(p.clients) {
			share++
		}
		rate := c.Rate / float64(len(p.clients))
		g.Go(func() error {
			promise := rec.promise
			for n := 0; share == 0 || n < share; n++ {
				now := time.Now()
				if !deadline.IsZero() && now.After(deadline) {
					break
				}
				if rate > 0 {
					// Pace: send what is due, then sleep a millisecond.
					for float64(n) >= now.Sub(start).Seconds()*rate {
						time.Sleep(time.Millisecond)
						now = time.Now()
					}
				}
				idx := next.Add(1)
				r := &kgo.Record{
					Value:     p.pool[int(idx)%len(p.pool)],
					Partition: int32((int(idx) + i) % c.Partitions),
					Timestamp: now,
				}
				cl.Produce(ctx, r, promise)
			}
			return cl.Flush(ctx)
		})
	}
	if err := g.Wait(); err != nil {
		return loadResult{}, fmt.Errorf("flushing: %w", err)
	}
	elapsed := time.Since(start)
	res := loadResult{Seconds: elapsed.Seconds()}
	var all []time.Duration
	for _, r := range recs {
		r.mu.Lock()
		all = append(all, r.lat...)
		res.Errors += r.errs
		res.Bytes += r.bytes
		if res.FirstError == "" && r.firstErr != nil {
			res.FirstError = r.firstErr.Error()
		}
		r.mu.Unlock()
	}
	res.Records = int64(len(all))
	res.Latency = percentiles(all)
	return res, nil
}

// percentiles sorts d and returns its p50, p99, p99.9 and maximum
// (nearest rank), or nil for no samples.
func percentiles(d []time.Duration) *Latency {
	if len(d) == 0 {
		return nil
	}
	slices.Sort(d)
	at := func(q float64) float64 {
		i := int(q*float64(len(d))+0.999999) - 1
		i = min(max(i, 0), len(d)-1)
		return ms(d[i])
	}
	return &Latency{P50: at(0.50), P99: at(0.99), P999: at(0.999), Max: ms(d[len(d)-1])}
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// consumeLoad reads a topic from the start until it has seen --expect
// records.
type consumeLoad struct {
	c  *loadConfig
	cl *kgo.Client
}

func newConsumeLoad(ctx context.Context, c *loadConfig) (*consumeLoad, error) {
	if c.Expect <= 0 {
		return nil, usageError{errors.New("--expect must be positive")}
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.Bootstrap...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.ClientID("schemaproxy-bench"),
	)
	if err != nil {
		return nil, err
	}
	// Connect and learn the cluster before the clock starts.
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("connecting the consumer: %w", err)
	}
	return &consumeLoad{c: c, cl: cl}, nil
}

func (l *consumeLoad) primed() int64 { return 0 }
func (l *consumeLoad) close()        { l.cl.Close() }

func (l *consumeLoad) run(ctx context.Context) (loadResult, error) {
	start := time.Now()
	l.cl.AddConsumeTopics(l.c.Topic)
	var res loadResult
	for res.Records < l.c.Expect {
		fetches := l.cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("consumed %d of %d records: %w", res.Records, l.c.Expect, err)
		}
		for _, fe := range fetches.Errors() {
			res.Errors++
			if res.FirstError == "" {
				res.FirstError = fmt.Sprintf("%s[%d]: %v", fe.Topic, fe.Partition, fe.Err)
			}
		}
		if res.Errors > 0 {
			break
		}
		fetches.EachRecord(func(r *kgo.Record) {
			res.Records++
			res.Bytes += int64(len(r.Value))
		})
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}
