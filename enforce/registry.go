package enforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"golang.org/x/sync/singleflight"
)

// Registry defaults.
const (
	DefaultRegistryCacheSize   = 10000
	DefaultRegistryPositiveTTL = 5 * time.Minute
	DefaultRegistryNegativeTTL = 2 * time.Second
	DefaultRegistryTimeout     = 2 * time.Second
	// DefaultRegistryMaxInFlight bounds the registry requests in flight at
	// once, process-wide.
	DefaultRegistryMaxInFlight = 16
)

// Values of the outcome label of registry_requests_total.
const (
	RequestOK       = "ok"
	RequestNotFound = "not_found"
	RequestError    = "error"
)

// Values of the result label of registry_cache_lookups_total.
const (
	CacheHit  = "hit"
	CacheMiss = "miss"
)

// RegistryObserver receives the counts behind the registry metrics. Either
// func may be nil. They are called from whichever goroutine asked, so they
// must be safe for concurrent use and cheap.
type RegistryObserver struct {
	// Request is called once per HTTP request sent to the registry with
	// RequestOK, RequestNotFound or RequestError.
	Request func(outcome string)
	// CacheLookup is called once per SchemaByID, SchemaByGUID or InSubject
	// call with CacheHit when the cache answered (a fresh negative entry
	// counts) and CacheMiss when the registry had to be asked.
	CacheLookup func(result string)
	// Refused is called once per look-up refused for a bound, with
	// RefusedRequestLimit, RefusedConnectionLimit or RefusedProcessLimit.
	Refused func(reason string)
	// InFlight is called with +1 when a registry request takes one of the
	// process-wide slots and -1 when it gives it back.
	InFlight func(delta int)
}

func (o *RegistryObserver) refused(reason string) {
	if o.Refused != nil {
		o.Refused(reason)
	}
}

func (o *RegistryObserver) inFlight(delta int) {
	if o.InFlight != nil {
		o.InFlight(delta)
	}
}

func (o *RegistryObserver) request(outcome string) {
	if o.Request != nil {
		o.Request(outcome)
	}
}

func (o *RegistryObserver) lookup(hit bool) {
	if o.CacheLookup == nil {
		return
	}
	if hit {
		o.CacheLookup(CacheHit)
	} else {
		o.CacheLookup(CacheMiss)
	}
}

// RegistryOpt configures a CachedRegistry.
type RegistryOpt func(*registryConfig)

type registryConfig struct {
	size        int
	positiveTTL time.Duration
	negativeTTL time.Duration
	timeout     time.Duration
	maxInFlight int
	observer    RegistryObserver
	now         func() time.Time
}

// WithCacheSize bounds each of the registry caches (schemas by ID, schemas
// by GUID, subject memberships, unknown IDs) to n entries, least recently
// used first out, overriding the default of 10000. Values below 1 are
// ignored.
func WithCacheSize(n int) RegistryOpt {
	return func(c *registryConfig) {
		if n > 0 {
			c.size = n
		}
	}
}

// WithPositiveTTL sets how long a "schema ID is registered under subject"
// answer is trusted before it is asked again, overriding the default of 5
// minutes. Deleting a version takes up to this long to take effect.
func WithPositiveTTL(d time.Duration) RegistryOpt {
	return func(c *registryConfig) { c.positiveTTL = d }
}

// WithNegativeTTL sets how long a "not found" answer (unknown ID or GUID,
// or ID not under subject) is repeated without asking the registry,
// overriding the default of 2 seconds. It only stops a flood of bad
// records from flooding the registry; set it to 0 to ask every time.
func WithNegativeTTL(d time.Duration) RegistryOpt {
	return func(c *registryConfig) { c.negativeTTL = d }
}

// WithRegistryTimeout bounds each HTTP request to the registry, overriding
// the default of 2 seconds. Keep it well below the producers' request
// timeout (Java's request.timeout.ms is 30 s, franz-go's produce request
// timeout 10 s) so a slow registry yields a retriable error, not a client
// timeout. Values below 1 ns are ignored.
func WithRegistryTimeout(d time.Duration) RegistryOpt {
	return func(c *registryConfig) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithMaxRequestsInFlight bounds the registry requests in flight at once,
// across every connection, overriding the default of 16. A look-up that
// finds every slot taken waits for one until its Produce request's check
// deadline (or one registry timeout, whichever comes first), then its
// record gets a retriable error (ErrLookupRefused). Values below 1 are
// ignored.
func WithMaxRequestsInFlight(n int) RegistryOpt {
	return func(c *registryConfig) {
		if n > 0 {
			c.maxInFlight = n
		}
	}
}

// WithRegistryObserver sets the metrics hooks, overriding the default of
// none.
func WithRegistryObserver(o RegistryObserver) RegistryOpt {
	return func(c *registryConfig) { c.observer = o }
}

// WithClock sets the clock the TTLs are measured with, overriding the
// default of time.Now. Request timeouts always use real time.
func WithClock(now func() time.Time) RegistryOpt {
	return func(c *registryConfig) {
		if now != nil {
			c.now = now
		}
	}
}

// CachedRegistry is a Registry on a Confluent-compatible schema registry,
// through github.com/twmb/franz-go/pkg/sr, with the caching the data path
// needs:
//
//   - ID -> schema and GUID -> schema are immutable, so they are kept
//     until evicted (LRU, bounded).
//   - "ID is registered under subject" can change (new subjects, deletes):
//     a yes is kept for the positive TTL; a no is never trusted for longer
//     than the negative TTL, so auto-registering producers, which register
//     and produce at once, are judged by a live answer.
//   - A no (unknown ID or GUID, ID not under subject) is kept for the
//     negative TTL with the time it was asked, and is the verdict only of
//     Produce requests that arrived before it was asked (RequestLookups):
//     a later request asks again, so no client can make another client's
//     freshly registered schema look unknown.
//   - Every question the cache cannot answer is charged to the request's
//     and the connection's look-up budget (RequestLookups, from the
//     context; none: unlimited), and at most WithMaxRequestsInFlight
//     registry requests run at once: past a bound the look-up fails with
//     ErrLookupRefused, which callers answer with a retriable error.
//   - Identical concurrent questions share one request (singleflight), and
//     every request has its own timeout, detached from the caller's context
//     so one impatient caller cannot fail the others that share it.
//
// A definite "not found" from the registry is ErrUnknownSchema (or false,
// for InSubject); anything else that keeps the registry from answering
// (connection errors, timeouts, HTTP 5xx and 429, unexpected statuses,
// undecodable bodies) wraps ErrRegistryUnavailable and is never cached.
//
// It is safe for concurrent use.
type CachedRegistry struct {
	cl  *sr.Client
	cfg registryConfig

	byID      *lru.Cache[int, *Schema]
	byGUID    *lru.Cache[string, *Schema]
	unknownID *lru.Cache[int, negEntry]
	unknownGU *lru.Cache[string, negEntry]
	member    *lru.Cache[memberKey, memberEntry]

	flight singleflight.Group
	slots  chan struct{} // one per registry request in flight
}

// negEntry is a cached "unknown": when the registry was asked (real
// time, compared with RequestLookups.since) and until when it is kept
// (the registry clock).
type negEntry struct {
	asked time.Time
	until time.Time
}

// answer is what a shared look-up returns: its value and when the registry
// was asked.
type answer struct {
	v     any
	asked time.Time
}

type memberKey struct {
	id      int
	subject string
}

type memberEntry struct {
	in    bool
	asked time.Time
	until time.Time
}

var _ Registry = (*CachedRegistry)(nil)

// NewRegistry returns a CachedRegistry asking client. The client's own
// options (URLs, TLS, authentication, schema context) apply.
func NewRegistry(client *sr.Client, opts ...RegistryOpt) *CachedRegistry {
	cfg := registryConfig{
		size:        DefaultRegistryCacheSize,
		positiveTTL: DefaultRegistryPositiveTTL,
		negativeTTL: DefaultRegistryNegativeTTL,
		timeout:     DefaultRegistryTimeout,
		maxInFlight: DefaultRegistryMaxInFlight,
		now:         time.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	r := &CachedRegistry{cl: client, cfg: cfg, slots: make(chan struct{}, cfg.maxInFlight)}
	// lru.New fails only for a size below 1, which the options exclude.
	r.byID, _ = lru.New[int, *Schema](cfg.size)
	r.byGUID, _ = lru.New[string, *Schema](cfg.size)
	r.unknownID, _ = lru.New[int, negEntry](cfg.size)
	r.unknownGU, _ = lru.New[string, negEntry](cfg.size)
	r.member, _ = lru.New[memberKey, memberEntry](cfg.size)
	return r
}

// SchemaByID returns the schema with this ID, from the cache or from
// GET /schemas/ids/{id}. Its record names are resolved before it is
// cached, fetching referenced schemas when it has references; a schema
// whose names cannot be resolved is still returned (its RecordName
// reports why), so ID checks under the topic strategy do not depend on
// parsing.
func (r *CachedRegistry) SchemaByID(ctx context.Context, id int) (*Schema, error) {
	if id <= 0 {
		return nil, fmt.Errorf("%w: schema id %d is never valid", ErrUnknownSchema, id)
	}
	if s, ok := r.byID.Get(id); ok {
		r.cfg.observer.lookup(true)
		return s, nil
	}
	v, err := r.lookUp(ctx, "id\x00"+strconv.Itoa(id), func() (any, bool) {
		if e, ok := r.unknownID.Get(id); ok && r.cfg.now().Before(e.until) {
			return unknownIDError(id), lookupsFrom(ctx).trusts(e.asked)
		}
		return nil, false
	}, func(ctx context.Context, asked time.Time) (any, error) {
		if s, ok := r.byID.Peek(id); ok { // filled while this caller queued
			return s, nil
		}
		s, err := r.fetchByID(ctx, id)
		switch {
		case errors.Is(err, ErrUnknownSchema):
			r.unknownID.Add(id, negEntry{asked: asked, until: r.cfg.now().Add(r.cfg.negativeTTL)})
		case err == nil:
			r.byID.Add(id, s)
			r.unknownID.Remove(id)
		}
		return s, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*Schema), nil
}

// SchemaByGUID returns the schema with this GUID (Confluent header IDs),
// from the cache or from GET /schemas/guids/{guid}; its ID is the one the
// registry reports for the GUID. Names are resolved as for SchemaByID.
func (r *CachedRegistry) SchemaByGUID(ctx context.Context, guid string) (*Schema, error) {
	if guid == "" {
		return nil, fmt.Errorf("%w: empty schema guid", ErrUnknownSchema)
	}
	if s, ok := r.byGUID.Get(guid); ok {
		r.cfg.observer.lookup(true)
		return s, nil
	}
	v, err := r.lookUp(ctx, "guid\x00"+guid, func() (any, bool) {
		if e, ok := r.unknownGU.Get(guid); ok && r.cfg.now().Before(e.until) {
			return unknownGUIDError(guid), lookupsFrom(ctx).trusts(e.asked)
		}
		return nil, false
	}, func(ctx context.Context, asked time.Time) (any, error) {
		if s, ok := r.byGUID.Peek(guid); ok {
			return s, nil
		}
		s, err := r.fetchByGUID(ctx, guid)
		switch {
		case errors.Is(err, ErrUnknownSchema):
			r.unknownGU.Add(guid, negEntry{asked: asked, until: r.cfg.now().Add(r.cfg.negativeTTL)})
		case err == nil:
			r.byGUID.Add(guid, s)
			r.unknownGU.Remove(guid)
		}
		return s, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*Schema), nil
}

// InSubject reports whether schema id is registered, not soft-deleted,
// under subject, asking GET /schemas/ids/{id}/versions?subject=S: the
// cheapest question with the same meaning on Confluent, Redpanda and
// srfake (GET /schemas/ids/{id}?subject=S is not: Confluent reads the
// subject there as a context selector). A yes is cached for the positive
// TTL; a no comes from a request made within the negative TTL. An ID the
// registry does not know is not under any subject: false, nil.
func (r *CachedRegistry) InSubject(ctx context.Context, id int, subject string) (bool, error) {
	if id <= 0 {
		return false, nil
	}
	key := memberKey{id, subject}
	if e, ok := r.member.Get(key); ok && e.in && r.cfg.now().Before(e.until) {
		r.cfg.observer.lookup(true)
		return true, nil
	}
	v, err := r.lookUp(ctx, "in\x00"+strconv.Itoa(id)+"\x00"+subject, func() (any, bool) {
		if e, ok := r.member.Get(key); ok && r.cfg.now().Before(e.until) {
			return false, lookupsFrom(ctx).trusts(e.asked)
		}
		return nil, false
	}, func(ctx context.Context, asked time.Time) (any, error) {
		if e, ok := r.member.Peek(key); ok && e.in && r.cfg.now().Before(e.until) {
			return true, nil
		}
		in, err := r.fetchInSubject(ctx, id, subject)
		if err != nil {
			return false, err
		}
		ttl := r.cfg.negativeTTL
		if in {
			ttl = r.cfg.positiveTTL
		}
		r.member.Add(key, memberEntry{in: in, asked: asked, until: r.cfg.now().Add(ttl)})
		return in, nil
	})
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}

// lookUp answers a question the positive cache could not. negative
// returns the cached "no" (an error, or false), if any, and whether it
// may be this request's verdict; fetch asks the registry, once for all
// concurrent callers of key, and is told when it started asking.
//
// A "no" is the verdict of a Produce request only if the registry gave it
// to a question asked after the request arrived (RequestLookups.trusts).
// A producer registers a schema before it produces with its ID, so a
// registry asked after the Produce arrived knows the schema; an answer
// asked earlier may predate the registration. Without this rule one
// client producing with the next unused IDs in a loop keeps "unknown"
// cached for them, and another client that registers one of those IDs
// and produces at once gets INVALID_RECORD, non-retriable, for a schema
// that exists. So an earlier "no", cached or shared in flight, makes the
// request ask again: a new flight starts after the one it saw ended, so
// after this request arrived, and two tries are enough. The cost, a
// registry request per Produce request that names a truly unknown ID, is
// bounded like any other look-up by the request's and the connection's
// budgets and the process-wide slots, so the flood the negative cache
// once stopped stays bounded; and a refused look-up is retriable, never
// a verdict. (Trusting a cached "no" for IDs below the highest ID seen
// would lean on how registries number schemas: Confluent gives a deleted
// schema's ID back when the same text is registered again.)
func (r *CachedRegistry) lookUp(ctx context.Context, key string, negative func() (any, bool),
	fetch func(ctx context.Context, asked time.Time) (any, error)) (any, error) {
	no, trusted := negative()
	if no != nil && trusted {
		r.cfg.observer.lookup(true)
		return noAnswer(no)
	}
	l := lookupsFrom(ctx)
	for try := 0; ; try++ {
		if reason := l.take(); reason != "" {
			r.cfg.observer.refused(reason)
			return nil, refusedError(reason)
		}
		r.cfg.observer.lookup(false)
		a, err := r.share(ctx, key, fetch)
		if try == 0 && !l.trusts(a.asked) && (errors.Is(err, ErrUnknownSchema) || a.v == false) {
			continue // a "no" asked before this request arrived
		}
		return a.v, err
	}
}

// noAnswer turns a cached "no" into lookUp's results.
func noAnswer(no any) (any, error) {
	if err, ok := no.(error); ok {
		return nil, err
	}
	return no, nil
}

// share runs fetch once for all concurrent callers with the same key,
// telling it when it started. fetch gets a context that keeps the first
// caller's values, and its deadline for waiting for a request slot, but
// not its cancellation; each request inside fetch sets its own timeout.
// A caller whose own context ends stops waiting; the shared request goes
// on for the others.
func (r *CachedRegistry) share(ctx context.Context, key string, fetch func(context.Context, time.Time) (any, error)) (answer, error) {
	detached := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		detached = context.WithValue(detached, slotDeadlineKey{}, dl)
	}
	ch := r.flight.DoChan(key, func() (any, error) {
		a := answer{asked: time.Now()}
		var err error
		a.v, err = fetch(detached, a.asked)
		return a, err
	})
	select {
	case res := <-ch:
		a, _ := res.Val.(answer)
		return a, res.Err
	case <-ctx.Done():
		return answer{}, fmt.Errorf("%w: gave up waiting for the registry: %w", ErrRegistryUnavailable, context.Cause(ctx))
	}
}

// slotDeadlineKey carries, past share's detaching, the deadline of the
// caller that started a flight, for waiting for a request slot.
type slotDeadlineKey struct{}

// acquire takes one of the process-wide request slots, waiting at most
// until the deadline of the request that asked, and one registry timeout.
func (r *CachedRegistry) acquire(ctx context.Context) error {
	select {
	case r.slots <- struct{}{}:
	default:
		wait := time.Now().Add(r.cfg.timeout)
		if dl, ok := ctx.Value(slotDeadlineKey{}).(time.Time); ok && dl.Before(wait) {
			wait = dl
		}
		t := time.NewTimer(time.Until(wait))
		defer t.Stop()
		select {
		case r.slots <- struct{}{}:
		case <-t.C:
			r.cfg.observer.refused(RefusedProcessLimit)
			return refusedError(RefusedProcessLimit)
		}
	}
	r.cfg.observer.inFlight(1)
	return nil
}

// release gives back the slot acquire took.
func (r *CachedRegistry) release() {
	<-r.slots
	r.cfg.observer.inFlight(-1)
}

// call makes one registry request under the per-request timeout, counts
// its outcome and classifies its error.
func (r *CachedRegistry) call(ctx context.Context, op string, fn func(context.Context) error) error {
	if err := r.acquire(ctx); err != nil {
		return err
	}
	defer r.release()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.timeout)
	defer cancel()
	err := classify(op, fn(ctx))
	switch {
	case err == nil:
		r.cfg.observer.request(RequestOK)
	case errors.Is(err, ErrUnknownSchema):
		r.cfg.observer.request(RequestNotFound)
	default:
		r.cfg.observer.request(RequestError)
	}
	return err
}

func (r *CachedRegistry) fetchByID(ctx context.Context, id int) (*Schema, error) {
	var s sr.Schema
	err := r.call(ctx, "schema id "+strconv.Itoa(id), func(ctx context.Context) (err error) {
		s, err = r.cl.SchemaByID(ctx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.newSchema(ctx, id, "", s)
}

func (r *CachedRegistry) fetchByGUID(ctx context.Context, guid string) (*Schema, error) {
	var ss sr.SubjectSchema
	err := r.call(ctx, "schema guid "+guid, func(ctx context.Context) (err error) {
		ss, err = r.cl.SchemaByGUID(ctx, guid)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.newSchema(ctx, ss.ID, guid, ss.Schema)
}

func (r *CachedRegistry) fetchInSubject(ctx context.Context, id int, subject string) (bool, error) {
	var versions []sr.SubjectVersion
	err := r.call(ctx, fmt.Sprintf("versions of schema id %d under subject %q", id, subject), func(ctx context.Context) (err error) {
		versions, err = r.cl.SchemaVersionsByID(sr.WithParams(ctx, sr.Subject(subject)), id)
		return err
	})
	if errors.Is(err, ErrUnknownSchema) {
		return false, nil // no such ID: under no subject
	}
	if err != nil {
		return false, err
	}
	// Check the subject ourselves too: a registry that ignored the filter
	// would otherwise turn "registered somewhere" into "registered here".
	for _, v := range versions {
		if v.Subject == subject {
			return true, nil
		}
	}
	return false, nil
}

// newSchema builds the Schema for a registry answer, resolving its record
// names. Only an unavailable registry (while fetching references) fails
// it: the schema is then not cached and the caller retries later.
func (r *CachedRegistry) newSchema(ctx context.Context, id int, guid string, s sr.Schema) (*Schema, error) {
	typ := s.Type
	if typ == 0 {
		typ = sr.TypeAvro // the registry omits schemaType for Avro
	}
	p, err := parseSchema(ctx, typ, s.Schema, s.References, r.reference)
	if err != nil {
		return nil, err
	}
	return &Schema{ID: id, GUID: guid, Type: typ, Text: s.Schema, References: s.References, names: p.names, compile: p.compile}, nil
}

// reference fetches a referenced schema by subject and version.
func (r *CachedRegistry) reference(ctx context.Context, ref sr.SchemaReference) (sr.Schema, error) {
	var ss sr.SubjectSchema
	err := r.call(ctx, fmt.Sprintf("reference %q (subject %q version %d)", ref.Name, ref.Subject, ref.Version), func(ctx context.Context) (err error) {
		ss, err = r.cl.SchemaByVersion(ctx, ref.Subject, ref.Version)
		return err
	})
	return ss.Schema, err
}

func unknownIDError(id int) error {
	return fmt.Errorf("%w: schema id %d", ErrUnknownSchema, id)
}

func unknownGUIDError(guid string) error {
	return fmt.Errorf("%w: schema guid %s", ErrUnknownSchema, guid)
}

// classify turns a pkg/sr error into ErrUnknownSchema (the registry said
// "not found") or ErrRegistryUnavailable (anything else).
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var re *sr.ResponseError
	if errors.As(err, &re) {
		switch {
		case re.StatusCode == http.StatusNotFound && sr.IsNotFoundError(re.ErrorCode):
			return fmt.Errorf("%w: %s: %s (error code %d)", ErrUnknownSchema, op, re.Message, re.ErrorCode)
		case re.StatusCode == http.StatusNotFound:
			// A 404 without a registry error code comes from something
			// else answering on that URL: never read it as "unknown schema".
			return fmt.Errorf("%w: %s: HTTP 404 without a schema registry error code (is the registry URL right?): %s", ErrRegistryUnavailable, op, re.Error())
		case re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden:
			return fmt.Errorf("%w: %s: HTTP %d (are the registry credentials right?): %s", ErrRegistryUnavailable, op, re.StatusCode, re.Error())
		default: // 5xx, 429 and anything else that is not an answer
			return fmt.Errorf("%w: %s: HTTP %d: %s", ErrRegistryUnavailable, op, re.StatusCode, re.Error())
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s: no answer within the registry timeout: %w", ErrRegistryUnavailable, op, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrRegistryUnavailable, op, err)
}
