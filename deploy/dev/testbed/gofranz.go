package testbed

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/schemaproxy/schemaproxy/internal/kgoflag"
)

// unknownSchemaID is a schema ID no test registry hands out, for
// --invalid-kind unknown-id.
const unknownSchemaID = 2_147_483_000

// harnessFlags are the flags every harness takes; see deploy/dev/README.md.
type harnessFlags struct {
	bootstrap, topic, mode            string
	count, valueSize                  int
	group, groupProtocol, isolation   string
	compression, acks                 string
	idempotent                        bool
	transactional, txn                string
	security, caFile, username, pass  string
	serde, registry, schemaFile, subj string
	invalid                           bool
	invalidKind, keyPrefix            string
	timeout                           float64
}

func parseHarnessFlags(args []string) (*harnessFlags, error) {
	f := &harnessFlags{}
	fs := pflag.NewFlagSet("go-harness", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.bootstrap, "bootstrap", "", "host:port of a broker (required)")
	fs.StringVar(&f.topic, "topic", "", "topic (required)")
	fs.IntVar(&f.count, "count", 100, "records to produce and/or consume")
	fs.StringVar(&f.mode, "mode", "both", "produce, consume or both")
	fs.StringVar(&f.group, "group", "", "consumer group (default go-TOPIC)")
	fs.StringVar(&f.groupProtocol, "group-protocol", "classic", "classic or consumer (KIP-848)")
	fs.StringVar(&f.compression, "compression", "none", "none, gzip, snappy, lz4 or zstd")
	fs.StringVar(&f.acks, "acks", "all", "all (-1), 1 or 0")
	fs.BoolVar(&f.idempotent, "idempotent", false, "idempotent producer")
	fs.StringVar(&f.transactional, "transactional", "", "transactional ID: produce everything in one transaction")
	fs.StringVar(&f.txn, "txn", "commit", "commit or abort the transaction")
	fs.StringVar(&f.security, "security", "plaintext", "plaintext, sasl-scram512, sasl-plain or ssl")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM CA for ssl")
	fs.StringVar(&f.username, "username", Alice.Name, "SASL user")
	fs.StringVar(&f.pass, "password", Alice.Password, "SASL password")
	fs.StringVar(&f.serde, "serde", "none", "none or avro")
	fs.StringVar(&f.registry, "registry", "", "schema registry URL (avro)")
	fs.StringVar(&f.schemaFile, "schema-file", "", "Avro schema (default clients/schemas/user.avsc)")
	fs.StringVar(&f.subj, "subject", "", "subject (default TOPIC-value)")
	fs.BoolVar(&f.invalid, "invalid", false, "send records that do not match their schema")
	fs.StringVar(&f.invalidKind, "invalid-kind", "", "payload, unknown-id or no-magic (implies --invalid)")
	fs.Float64Var(&f.timeout, "timeout", 60, "seconds for the whole run")
	fs.StringVar(&f.keyPrefix, "key-prefix", "k", "keys are PREFIX-i")
	fs.StringVar(&f.isolation, "isolation", "read_committed", "read_committed or read_uncommitted")
	fs.IntVar(&f.valueSize, "value-size", 100, "bytes of each plain value")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnknownFlag, err)
	}
	switch {
	case f.bootstrap == "" || f.topic == "":
		return nil, fmt.Errorf("%w: --bootstrap and --topic are required", ErrUnknownFlag)
	case f.serde == "avro" && f.registry == "":
		return nil, fmt.Errorf("%w: --serde avro needs --registry", ErrUnknownFlag)
	}
	if f.invalidKind != "" {
		f.invalid = true
	} else if f.invalid {
		f.invalidKind = "payload"
	}
	return f, nil
}

// RunGo runs the franz-go harness in this process with the flags of the
// other harnesses and returns its events; errors as for [Run].
func RunGo(ctx context.Context, args ...string) (Events, error) {
	var events Events
	err := GoHarness(ctx, func(e Event) { events = append(events, e) }, args...)
	return events, err
}

// GoHarness runs the franz-go harness, calling emit for each event from one
// goroutine at a time; deploy/dev/clients/go prints them as JSON lines. The
// error is a *[HarnessError] (exit code 2 for bad flags, 1 otherwise).
func GoHarness(ctx context.Context, emit func(Event), args ...string) error {
	f, err := parseHarnessFlags(args)
	if err != nil {
		return &HarnessError{Client: Go, ExitCode: 2, Reason: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(f.timeout*float64(time.Second)))
	defer cancel()
	h := &goHarness{f: f, emitFn: emit, schemas: map[int]error{}}
	if err := h.run(ctx); err != nil {
		h.emit(Event{Event: EvError, Error: err.Error()})
		h.emitDone()
		return &HarnessError{Client: Go, ExitCode: 1, Reason: err.Error()}
	}
	h.emitDone()
	return nil
}

type goHarness struct {
	f      *harnessFlags
	emitFn func(Event)
	sr     *sr.Client

	mu                      sync.Mutex // guards emitFn and the counts
	produced, produceErrors int
	consumed, consumeErrors int
	schemas                 map[int]error // schema ID -> nil if it is user.avsc; consume goroutine only
}

func (h *goHarness) emit(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch e.Event {
	case EvProduced:
		h.produced++
	case EvProduceError:
		h.produceErrors++
	case EvConsumed:
		h.consumed++
	case EvConsumeError:
		h.consumeErrors++
	}
	h.emitFn(e)
}

func (h *goHarness) emitDone() {
	h.mu.Lock()
	e := Event{Event: EvDone, Produced: h.produced, ProduceErrors: h.produceErrors, Consumed: h.consumed, ConsumeErrors: h.consumeErrors}
	h.mu.Unlock()
	h.emit(e)
}

func (h *goHarness) run(ctx context.Context) error {
	h.emit(Event{Event: EvStart, Client: string(Go), Library: "franz-go", Version: franzVersion(), Topic: h.f.topic})
	if h.f.serde == "avro" {
		cl, err := sr.NewClient(sr.URLs(h.f.registry))
		if err != nil {
			return err
		}
		h.sr = cl
	} else if h.f.serde != "none" {
		return fmt.Errorf("%w: --serde %q", ErrUnknownFlag, h.f.serde)
	}
	switch h.f.mode {
	case "produce":
		return h.produce(ctx)
	case "consume":
		return h.consume(ctx)
	case "both":
		if err := h.produce(ctx); err != nil {
			return err
		}
		return h.consume(ctx)
	default:
		return fmt.Errorf("%w: --mode %q", ErrUnknownFlag, h.f.mode)
	}
}

func (h *goHarness) commonOpts() ([]kgo.Opt, error) {
	opts, err := securityOpts(Security(h.f.security), h.f.caFile, h.f.username, h.f.pass)
	if err != nil {
		return nil, err
	}
	// A metadata refresh may follow the last one after 250 ms instead of 5 s:
	// a topic auto-created by the first produce is then found without delay.
	return append(opts, kgo.SeedBrokers(h.f.bootstrap), kgo.ClientID("schemaproxy-dev-go"),
		kgo.MetadataMinAge(250*time.Millisecond)), nil
}

// franzVersion is the franz-go version built in: from the build info, or,
// in test binaries, which carry none, from the repository's go.mod.
func franzVersion() string {
	const mod = "github.com/twmb/franz-go"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == mod {
				return d.Version
			}
		}
	}
	if dev, err := devDir(); err == nil {
		if b, err := os.ReadFile(filepath.Join(dev, "..", "..", "go.mod")); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && f[0] == mod {
					return f[1]
				}
			}
		}
	}
	return "unknown"
}

// ---- produce ---------------------------------------------------------------

func (h *goHarness) produce(ctx context.Context) error {
	f := h.f
	opts, err := h.commonOpts()
	if err != nil {
		return err
	}
	codec, err := kgoflag.Compression(f.compression)
	if err != nil {
		return fmt.Errorf("%w: --compression %w", ErrUnknownFlag, err)
	}
	acks, err := kgoflag.Acks(f.acks)
	if err != nil {
		return fmt.Errorf("%w: --acks %w", ErrUnknownFlag, err)
	}
	opts = append(opts,
		kgo.AllowAutoTopicCreation(),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(codec),
		kgo.RequiredAcks(acks),
	)
	if dl, ok := ctx.Deadline(); ok {
		opts = append(opts, kgo.RecordDeliveryTimeout(time.Until(dl)))
	}
	if !f.idempotent && f.transactional == "" {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if f.transactional != "" {
		opts = append(opts, kgo.TransactionalID(f.transactional), kgo.TransactionTimeout(60*time.Second))
	}
	values, err := h.values(ctx)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if f.transactional != "" {
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
	}
	for i, v := range values {
		key := fmt.Sprintf("%s-%d", f.keyPrefix, i)
		r := &kgo.Record{Topic: f.topic, Key: []byte(key), Value: v.value}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				h.emit(Event{Event: EvProduceError, Topic: f.topic, Key: key, Code: errorCode(err), Error: err.Error()})
				return
			}
			h.emit(Event{Event: EvProduced, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: key, SchemaID: v.schemaID})
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if err := h.emitBrokers(ctx, cl); err != nil {
		return err
	}
	if f.transactional == "" {
		return nil
	}
	h.mu.Lock()
	failed := h.produceErrors > 0
	h.mu.Unlock()
	action, try := "commit", kgo.TryCommit
	if f.txn == "abort" || failed {
		action, try = "abort", kgo.TryAbort
	}
	if err := cl.EndTransaction(ctx, try); err != nil {
		return fmt.Errorf("ending transaction (%s): %w", action, err)
	}
	h.emit(Event{Event: EvTxn, Action: action, TransactionalID: f.transactional})
	return nil
}

type goValue struct {
	value    []byte
	schemaID int
}

// values builds every record's value up front, registering the schema first
// for --serde avro.
func (h *goHarness) values(ctx context.Context) ([]goValue, error) {
	f := h.f
	out := make([]goValue, f.count)
	if f.serde == "none" {
		for i := range out {
			out[i].value = plainValue(i, f.valueSize)
		}
		return out, nil
	}
	file := f.schemaFile
	if file == "" {
		var err error
		if file, err = SchemaFile(); err != nil {
			return nil, err
		}
	}
	text, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if err := checkUserSchema(string(text)); err != nil {
		return nil, err
	}
	subject := f.subj
	if subject == "" {
		subject = f.topic + "-value"
	}
	ss, err := h.sr.CreateSchema(ctx, subject, sr.Schema{Schema: string(text), Type: sr.TypeAvro})
	if err != nil {
		return nil, fmt.Errorf("registering %s: %w", subject, err)
	}
	for i := range out {
		body := userRecord(i).AppendTo(nil)
		switch {
		case !f.invalid:
			out[i] = goValue{confluentFrame(ss.ID, body), ss.ID}
		case f.invalidKind == "payload":
			// id 1, then a string that claims 5 bytes and has 2: truncated Avro.
			out[i] = goValue{confluentFrame(ss.ID, []byte{0x02, 0x0a, 'a', 'b'}), ss.ID}
		case f.invalidKind == "unknown-id":
			out[i] = goValue{confluentFrame(unknownSchemaID, body), unknownSchemaID}
		case f.invalidKind == "no-magic":
			out[i] = goValue{value: fmt.Appendf(nil, `{"id":%d}`, i)}
		default:
			return nil, fmt.Errorf("%w: --invalid-kind %q", ErrUnknownFlag, f.invalidKind)
		}
	}
	return out, nil
}

// confluentFrame is the Confluent wire format: magic byte 0, schema ID
// (int32 big-endian), body.
func confluentFrame(id int, body []byte) []byte {
	b := append([]byte{0}, binary.BigEndian.AppendUint32(nil, uint32(id))...)
	return append(b, body...)
}

// plainValue is value-i- padded with a repeating alphabet to size bytes:
// compressible and deterministic, the same in every harness.
func plainValue(i, size int) []byte {
	b := fmt.Appendf(nil, "value-%d-", i)
	for n := len(b); n < size; n++ {
		b = append(b, byte('a'+n%26))
	}
	return b
}

// errorCode names a produce or fetch error as the other harnesses do: the
// Kafka error name when the broker sent one.
func errorCode(err error) string {
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke.Message
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, kgo.ErrRecordTimeout):
		return "TIMED_OUT"
	}
	return "CLIENT_ERROR"
}

// ---- consume ---------------------------------------------------------------

func (h *goHarness) consume(ctx context.Context) error {
	f := h.f
	opts, err := h.commonOpts()
	if err != nil {
		return err
	}
	group := f.group
	if group == "" {
		group = "go-" + f.topic
	}
	iso := kgo.ReadCommitted()
	if f.isolation == "read_uncommitted" {
		iso = kgo.ReadUncommitted()
	}
	opts = append(opts,
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(f.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.FetchIsolationLevel(iso),
	)
	switch f.groupProtocol {
	case "classic":
	case "consumer":
		// KIP-848: the broker assigns; franz-go needs a range or sticky balancer.
		opts = append(opts, kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer()))
	default:
		return fmt.Errorf("%w: --group-protocol %q", ErrUnknownFlag, f.groupProtocol)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for seen := 0; seen < f.count; {
		fetches := cl.PollRecords(ctx, f.count-seen)
		if ctx.Err() != nil {
			return fmt.Errorf("timed out having consumed %d of %d", seen, f.count)
		}
		fetches.EachError(func(topic string, p int32, err error) {
			h.emit(Event{Event: EvConsumeError, Topic: topic, Partition: p, Code: errorCode(err), Error: err.Error()})
		})
		recs := fetches.Records()
		for _, r := range recs {
			h.handle(ctx, r)
		}
		seen += len(recs)
		if len(recs) > 0 {
			if err := cl.CommitRecords(ctx, recs...); err != nil {
				return fmt.Errorf("committing: %w", err)
			}
		}
	}
	return h.emitBrokers(ctx, cl)
}

// emitBrokers asks for the topic's metadata through cl, as the client
// itself does, and reports the brokers it names.
func (h *goHarness) emitBrokers(ctx context.Context, cl *kgo.Client) error {
	req := kmsg.NewPtrMetadataRequest()
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(h.f.topic)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	var bs []Broker
	for _, b := range resp.Brokers {
		bs = append(bs, Broker{NodeID: b.NodeID, Host: b.Host, Port: b.Port})
	}
	h.emit(Event{Event: EvBrokers, Brokers: bs})
	return nil
}

func (h *goHarness) handle(ctx context.Context, r *kgo.Record) {
	e := Event{Event: EvConsumed, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: string(r.Key)}
	if h.sr == nil {
		e.Value = string(r.Value)
		h.emit(e)
		return
	}
	rec, id, err := h.decode(ctx, r.Value)
	if err != nil {
		e.Event, e.Code, e.Error = EvConsumeError, "DESERIALIZATION", err.Error()
		h.emit(e)
		return
	}
	e.Record, e.SchemaID = rec, id
	h.emit(e)
}

// decode checks the Confluent framing, looks the schema ID up (once per ID)
// and decodes the body as a User.
func (h *goHarness) decode(ctx context.Context, v []byte) (json.RawMessage, int, error) {
	var hdr sr.ConfluentHeader
	id, body, err := hdr.DecodeID(v)
	if err != nil {
		return nil, 0, fmt.Errorf("value is not in the Confluent wire format: %w", err)
	}
	schemaErr, ok := h.schemas[id]
	if !ok {
		s, err := h.sr.SchemaByID(ctx, id)
		if err == nil {
			err = checkUserSchema(s.Schema)
		}
		schemaErr = err
		h.schemas[id] = err
	}
	if schemaErr != nil {
		return nil, id, fmt.Errorf("schema %d: %w", id, schemaErr)
	}
	u, err := decodeUser(body)
	if err != nil {
		return nil, id, err
	}
	rec, err := json.Marshal(u)
	return rec, id, err
}
