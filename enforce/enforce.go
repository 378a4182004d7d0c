package enforce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schemaproxy/schemaproxy/enforce/payload"
	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/protocol"
)

// PolicySource returns the policy in force; *PolicyStore is one.
type PolicySource interface {
	Load() *Policy
}

// FixedPolicy returns a PolicySource that always serves p, for callers
// with no policy file to watch.
func FixedPolicy(p *Policy) PolicySource { return fixedPolicy{p} }

type fixedPolicy struct{ p *Policy }

func (f fixedPolicy) Load() *Policy { return f.p }

// Enforcer judges Produce partitions against the policy in force. It is
// safe for concurrent use.
type Enforcer struct {
	policy   PolicySource
	reg      Registry
	dec      *protocol.Decompressor
	log      *slog.Logger
	m        *metrics.Enforcement
	bufs     sync.Pool // *[]byte decompression buffers
	checkers sync.Pool // *partChecker, reused across batches (the validators' interface calls make one escape)
	lastLog  atomic.Int64
	muted    atomic.Int64
}

// Opt configures an Enforcer.
type Opt func(*Enforcer)

// WithLogger sets the logger, overriding the default of discarding logs.
func WithLogger(l *slog.Logger) Opt { return func(e *Enforcer) { e.log = l } }

// WithMetrics sets the enforcement metrics, overriding the default of none.
func WithMetrics(m *metrics.Enforcement) Opt { return func(e *Enforcer) { e.m = m } }

// WithMaxDecompressed caps the bytes one batch may decompress to,
// overriding the default of 64 MiB. A batch past the cap is rejected.
func WithMaxDecompressed(n int) Opt {
	return func(e *Enforcer) { e.dec = protocol.NewDecompressor(n) }
}

// DefaultMaxDecompressed is the default cap on one batch's decompressed records.
const DefaultMaxDecompressed = 64 << 20

// New returns an Enforcer for the policies policy serves, asking reg.
func New(policy PolicySource, reg Registry, opts ...Opt) *Enforcer {
	e := &Enforcer{policy: policy, reg: reg, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(e)
	}
	if e.dec == nil {
		e.dec = protocol.NewDecompressor(DefaultMaxDecompressed)
	}
	return e
}

// RejectScope returns the rejection scope of the policy in force.
func (e *Enforcer) RejectScope() Scope { return e.policy.Load().RejectScope() }

// Protected reports whether the policy in force forbids clients to write
// to topic, delete it or its records, add partitions to it or change its
// configuration (Policy.Protected).
func (e *Enforcer) Protected(topic string) bool { return e.policy.Load().Protected(topic) }

// HasProtected reports whether the policy in force protects any topic.
func (e *Enforcer) HasProtected() bool { return e.policy.Load().HasProtected() }

// Check judges the records of one Produce partition: nil to forward them,
// a *ValidationError to reject them, an error wrapping
// ErrRegistryUnavailable when the registry could not answer and the
// policy says to retry, or one wrapping ErrLookupRefused when asking the
// registry would pass a bound (always to be retried). The policy's
// on_failure: log and registry_unavailable: allow|reject are applied
// here.
//
// ctx should carry the Produce request's RequestLookups (WithLookups),
// shared by all its partitions; without one, Check makes one for this
// partition alone, with no bound.
func (e *Enforcer) Check(ctx context.Context, topic string, partition int32, records []byte) error {
	pol := e.policy.Load()
	rule := pol.RuleFor(topic)
	if rule.Key.Mode == ModeOff && rule.Value.Mode == ModeOff {
		return nil
	}
	if lookupsFrom(ctx) == nil {
		ctx = WithLookups(ctx, NewRequestLookups(0, nil))
	}
	start := time.Now()
	n, err := e.check(ctx, rule, topic, records)
	if e.m != nil {
		e.m.ValidationTime.Observe(time.Since(start).Seconds())
	}
	if err == nil {
		e.count(topic, n, "accepted")
		return nil
	}
	// Declared past the success path: errors.As moves ve to the heap.
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
	case errors.Is(err, ErrLookupRefused):
		// Never the outage action: allow would let anyone past the bound
		// skip the check, reject would refuse an honest burst for good.
		return err
	case errors.Is(err, ErrRegistryUnavailable):
		switch pol.OnUnavailable() {
		case UnavailableAllow:
			e.logLimited("registry unavailable; forwarding unchecked (registry_unavailable: allow)", "topic", topic, "partition", partition, "err", err)
			return nil
		case UnavailableReject:
			ve = &ValidationError{Index: -1, Reason: ReasonUnavailable, Detail: "schema registry unavailable: " + err.Error()}
		default:
			return err
		}
	default:
		// Anything unclassified must not lose data: the producer retries.
		return fmt.Errorf("%w: %w", ErrRegistryUnavailable, err)
	}
	ve.Topic, ve.Partition = topic, partition
	if e.m != nil {
		t := e.m.Topic(topic)
		e.m.Rejections.WithLabelValues(t, string(ve.Reason)).Inc()
		e.m.Validated.WithLabelValues(t, "rejected").Add(float64(max(1, len(ve.Records))))
	}
	if rule.OnFailure == OnFailureLog {
		e.logLimited("record fails its schema check; forwarding (on_failure: log)", "topic", topic, "partition", partition, "reason", string(ve.Reason), "err", ve.Error())
		return nil
	}
	return ve
}

// count counts n records of topic under result. Records that passed
// mark their topic as known, so it may take a topic label of its own
// (metrics.Enforcement.Topic).
func (e *Enforcer) count(topic string, n int, result string) {
	if e.m != nil && n > 0 {
		if result == "accepted" {
			e.m.NoteTopic(topic)
		}
		e.m.Validated.WithLabelValues(e.m.Topic(topic), result).Add(float64(n))
	}
}

// logLimited logs at most once a second, saying how many lines it held back.
func (e *Enforcer) logLimited(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := e.lastLog.Load()
	if now-last < int64(time.Second) || !e.lastLog.CompareAndSwap(last, now) {
		e.muted.Add(1)
		return
	}
	if m := e.muted.Swap(0); m > 0 {
		args = append(args, "suppressed", m)
	}
	e.log.Warn(msg, args...)
}

// batchError turns a protocol batch error into a rejection of the batch
// (Index -1) or of the record it names.
func batchError(err error, index int) *ValidationError {
	var be *protocol.BatchError
	ve := &ValidationError{Index: index, Reason: ReasonBatchCorrupt, Detail: err.Error()}
	if errors.As(err, &be) {
		switch be.Reason {
		case protocol.ReasonInvalid:
			ve.Reason = ReasonBatchInvalid
		case protocol.ReasonTooLarge:
			ve.Reason = ReasonTooLarge
		}
		ve.Detail = be.Msg
	}
	return ve
}

// check reads the batch and checks every record, returning how many
// passed. One bad record rejects its batch; the error is the first
// failure, with every failing record listed in its Records.
func (e *Enforcer) check(ctx context.Context, rule *Rule, topic string, records []byte) (int, error) {
	b, err := protocol.ReadBatch(records)
	if err != nil {
		return 0, batchError(err, -1)
	}
	recs := b.Records
	if b.Codec() != protocol.CodecNone {
		bp, _ := e.bufs.Get().(*[]byte)
		if bp == nil {
			bp = new([]byte)
		}
		defer e.bufs.Put(bp)
		if recs, err = e.dec.Decompress((*bp)[:0], b.Codec(), b.Records); err != nil {
			return 0, batchError(err, -1)
		}
		if cap(recs) <= 4<<20 { // keep modest buffers for reuse
			*bp = recs[:0]
		}
	}
	c, _ := e.checkers.Get().(*partChecker)
	if c == nil {
		c = new(partChecker)
	}
	defer e.checkers.Put(c)
	c.reset(e, topic)
	it := protocol.NewRecords(recs, b.NumRecords)
	var r protocol.Record
	var first *ValidationError
	var failed []RecordError
	n := 0
	for it.Next(&r) {
		err := c.check(ctx, &rule.Value, false, &r)
		if err == nil {
			err = c.check(ctx, &rule.Key, true, &r)
		}
		if err == nil {
			n++
			continue
		}
		var ve *ValidationError
		if !errors.As(err, &ve) {
			if first != nil && errors.Is(err, ErrLookupRefused) {
				// The batch fails for good whatever the rest holds: stop
				// asking, and answer with what was judged.
				first.Records = failed
				return n, first
			}
			return n, err // the registry could not answer: retriable
		}
		// Keep going: the answer lists every failing record, as a broker's
		// record_errors do, so each gets its own reason in the client.
		if first == nil {
			first = ve
		}
		if len(failed) < MaxRecordErrors {
			failed = append(failed, RecordError{Index: ve.Index, Message: ve.Error()})
		}
	}
	if err := it.Err(); err != nil {
		var be *protocol.BatchError
		if !errors.As(err, &be) || be.Index < 0 {
			return n, batchError(err, -1)
		}
		// A record the reader refuses (its lengths, its offset delta) is
		// a failing record like the others: listed after those before it
		// in record_errors. The records after it were not read.
		ve := batchError(err, be.Index)
		if first == nil {
			first = ve
		}
		if len(failed) < MaxRecordErrors {
			failed = append(failed, RecordError{Index: ve.Index, Message: ve.Error()})
		}
	}
	if first != nil {
		first.Records = failed
		return n, first
	}
	return n, nil
}

// partChecker checks record parts of one batch, remembering the last
// verdict per part so a batch whose records share a schema asks the
// registry cache once.
type partChecker struct {
	e     *Enforcer
	topic string
	memo  [2]memo                // [0] value, [1] key
	idx   [MaxMessageIndexes]int // on the heap with c, which is pooled: validators may be handed a slice of it
}

// reset readies c for a batch of topic, keeping the memos' index slices.
func (c *partChecker) reset(e *Enforcer, topic string) {
	c.e, c.topic = e, topic
	for i := range c.memo {
		c.memo[i] = memo{indexes: c.memo[i].indexes[:0]}
	}
}

type memo struct {
	valid   bool
	id      int
	guid    string
	schema  *Schema
	indexes []int
}

func (m *memo) matches(ref *Ref, indexes []int) bool {
	return m.valid && m.id == ref.ID && m.guid == ref.GUID && slices.Equal(m.indexes, indexes)
}

func (c *partChecker) check(ctx context.Context, pr *PartRule, isKey bool, r *protocol.Record) error {
	if pr.Mode == ModeOff {
		return nil
	}
	part, mi := "value", 0
	if isKey {
		part, mi = "key", 1
	}
	reject := func(reason Reason, id int, subject, format string, args ...any) error {
		return &ValidationError{Index: r.Index, Part: part, SchemaID: id, Subject: subject, Reason: reason, Detail: part + " " + fmt.Sprintf(format, args...)}
	}
	data := r.Value
	if isKey {
		data = r.Key
	}
	h := FindIDHeaders(r, isKey)
	switch {
	case pr.WireFormat == WireFormatPrefix && h.Count > 0:
		return reject(ReasonWireFormat, 0, "", "carries a %s header; the topic's rule wants the schema ID in the payload prefix (wire_format: prefix)", headerName(isKey))
	case pr.WireFormat == WireFormatHeader && h.Count == 0 && data != nil:
		return reject(ReasonWireFormat, 0, "", "has no %s header; the topic's rule wants the schema ID in a header (wire_format: header)", headerName(isKey))
	}
	ref, err := ParseConfluent(data, h)
	if err != nil {
		var re *RefError
		if !errors.As(err, &re) {
			return reject(ReasonNoSchemaID, 0, "", "%v", err)
		}
		if re.Reason == ReasonNullNotAllowed {
			if pr.AllowNull {
				return nil
			}
			return reject(ReasonNullNotAllowed, 0, "", "is null and the topic's rule does not allow null")
		}
		return reject(re.Reason, 0, "", "%s", re.Msg)
	}
	m := &c.memo[mi]
	schema := m.schema
	if !m.valid || m.id != ref.ID || m.guid != ref.GUID {
		// A schema ID or GUID never changes meaning, so the registry is
		// asked once per schema and batch, not once per record.
		if ref.GUID != "" {
			schema, err = c.e.reg.SchemaByGUID(ctx, ref.GUID)
		} else {
			schema, err = c.e.reg.SchemaByID(ctx, ref.ID)
		}
		switch {
		case errors.Is(err, ErrUnknownSchema):
			if ref.GUID != "" {
				return reject(ReasonUnknownID, 0, "", "schema guid %s is not registered", ref.GUID)
			}
			return reject(ReasonUnknownID, ref.ID, "", "schema id %d is not registered", ref.ID)
		case err != nil:
			return err
		}
	}
	indexes, msg, err := ref.Message(schema.Type, c.idx[:0])
	if err != nil {
		var re *RefError
		if errors.As(err, &re) {
			return reject(re.Reason, schema.ID, "", "schema id %d: %s", schema.ID, re.Msg)
		}
		return reject(ReasonBadIndexes, schema.ID, "", "schema id %d: %v", schema.ID, err)
	}
	if !m.matches(&ref, indexes) {
		if err := c.checkSubject(ctx, pr, isKey, m, &ref, schema, indexes, reject); err != nil {
			return err
		}
	}
	if pr.Mode != ModePayload {
		return nil
	}
	v, err := schema.Validator()
	if err != nil {
		return reject(ReasonSchemaUnusable, schema.ID, "", "schema id %d cannot be used to validate payloads: %v", schema.ID, err)
	}
	if err := v.Validate(msg, indexes, payload.Options{AllowUnknownFields: pr.UnknownFields == UnknownFieldsAllow}); err != nil {
		return reject(ReasonPayload, schema.ID, "", "does not match schema id %d: %v", schema.ID, err)
	}
	return nil
}

// checkSubject checks that schema is registered under the subject pr's
// strategy names, remembering a pass in m, the part's memo, for the rest
// of the batch.
func (c *partChecker) checkSubject(ctx context.Context, pr *PartRule, isKey bool, m *memo, ref *Ref, schema *Schema, indexes []int,
	reject func(reason Reason, id int, subject, format string, args ...any) error) error {
	subject, err := Subject(pr.Strategy, c.topic, isKey, schema, indexes)
	switch {
	case errors.Is(err, ErrRegistryUnavailable):
		return err
	case err != nil:
		return reject(ReasonNoRecordName, schema.ID, "", "schema id %d: %v (strategy %s needs a record name)", schema.ID, err, pr.Strategy)
	}
	ok, err := c.e.reg.InSubject(ctx, schema.ID, subject)
	if err != nil {
		return err
	}
	if !ok {
		return reject(ReasonWrongSubject, schema.ID, subject, "schema id %d is not registered under subject %s", schema.ID, subject)
	}
	m.valid, m.id, m.guid, m.schema = true, ref.ID, ref.GUID, schema
	m.indexes = append(m.indexes[:0], indexes...)
	return nil
}

func headerName(isKey bool) string {
	if isKey {
		return KeySchemaIDHeader
	}
	return ValueSchemaIDHeader
}
