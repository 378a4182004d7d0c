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
//   - A no (unknown ID or GUID, ID not under subject) is repeated for the
//     negative TTL without asking, so a flood of bad records costs the
//     registry one request per distinct question per negative TTL.
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
	unknownID *lru.Cache[int, time.Time]    // ID -> until when "unknown" is repeated
	unknownGU *lru.Cache[string, time.Time] // GUID -> until when "unknown" is repeated
	member    *lru.Cache[memberKey, memberEntry]

	flight singleflight.Group
}

type memberKey struct {
	id      int
	subject string
}

type memberEntry struct {
	in    bool
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
		now:         time.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	r := &CachedRegistry{cl: client, cfg: cfg}
	// lru.New fails only for a size below 1, which the options exclude.
	r.byID, _ = lru.New[int, *Schema](cfg.size)
	r.byGUID, _ = lru.New[string, *Schema](cfg.size)
	r.unknownID, _ = lru.New[int, time.Time](cfg.size)
	r.unknownGU, _ = lru.New[string, time.Time](cfg.size)
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
	if until, ok := r.unknownID.Get(id); ok && r.cfg.now().Before(until) {
		r.cfg.observer.lookup(true)
		return nil, unknownIDError(id)
	}
	r.cfg.observer.lookup(false)
	v, err := r.share(ctx, "id\x00"+strconv.Itoa(id), func(ctx context.Context) (any, error) {
		if s, ok := r.byID.Peek(id); ok { // filled while this caller queued
			return s, nil
		}
		if until, ok := r.unknownID.Peek(id); ok && r.cfg.now().Before(until) {
			return nil, unknownIDError(id)
		}
		s, err := r.fetchByID(ctx, id)
		switch {
		case errors.Is(err, ErrUnknownSchema):
			r.unknownID.Add(id, r.cfg.now().Add(r.cfg.negativeTTL))
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
	if until, ok := r.unknownGU.Get(guid); ok && r.cfg.now().Before(until) {
		r.cfg.observer.lookup(true)
		return nil, unknownGUIDError(guid)
	}
	r.cfg.observer.lookup(false)
	v, err := r.share(ctx, "guid\x00"+guid, func(ctx context.Context) (any, error) {
		if s, ok := r.byGUID.Peek(guid); ok {
			return s, nil
		}
		if until, ok := r.unknownGU.Peek(guid); ok && r.cfg.now().Before(until) {
			return nil, unknownGUIDError(guid)
		}
		s, err := r.fetchByGUID(ctx, guid)
		switch {
		case errors.Is(err, ErrUnknownSchema):
			r.unknownGU.Add(guid, r.cfg.now().Add(r.cfg.negativeTTL))
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
	if e, ok := r.member.Get(key); ok && r.cfg.now().Before(e.until) {
		r.cfg.observer.lookup(true)
		return e.in, nil
	}
	r.cfg.observer.lookup(false)
	v, err := r.share(ctx, "in\x00"+strconv.Itoa(id)+"\x00"+subject, func(ctx context.Context) (any, error) {
		if e, ok := r.member.Peek(key); ok && r.cfg.now().Before(e.until) {
			return e.in, nil
		}
		in, err := r.fetchInSubject(ctx, id, subject)
		if err != nil {
			return false, err
		}
		ttl := r.cfg.negativeTTL
		if in {
			ttl = r.cfg.positiveTTL
		}
		r.member.Add(key, memberEntry{in: in, until: r.cfg.now().Add(ttl)})
		return in, nil
	})
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}

// share runs fn once for all concurrent callers with the same key. fn gets
// a context that keeps the first caller's values but not its cancellation;
// each request inside fn sets its own timeout. A caller whose own context
// ends stops waiting; the shared request goes on for the others.
func (r *CachedRegistry) share(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	detached := context.WithoutCancel(ctx)
	ch := r.flight.DoChan(key, func() (any, error) { return fn(detached) })
	select {
	case res := <-ch:
		return res.Val, res.Err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: gave up waiting for the registry: %w", ErrRegistryUnavailable, context.Cause(ctx))
	}
}

// call makes one registry request under the per-request timeout, counts
// its outcome and classifies its error.
func (r *CachedRegistry) call(ctx context.Context, op string, fn func(context.Context) error) error {
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
