package enforce

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Values of the reason label of registry_lookups_refused_total.
const (
	RefusedRequestLimit    = "request_limit"    // the Produce request used its RequestLookups
	RefusedConnectionLimit = "connection_limit" // the connection used its ConnLookups
	RefusedProcessLimit    = "process_limit"    // no registry request slot freed before the check deadline
)

// RefusedReasons lists every refusal reason, for metrics that pre-create
// their series.
var RefusedReasons = []string{RefusedRequestLimit, RefusedConnectionLimit, RefusedProcessLimit}

// Lookup budget defaults.
const (
	// DefaultLookupsPerRequest bounds the registry look-ups of one Produce
	// request (every partition together).
	DefaultLookupsPerRequest = 32
	// DefaultLookupsPerConnection bounds the registry look-ups of one client
	// connection per minute, with as large a burst.
	DefaultLookupsPerConnection = 256
)

// ConnLookups is one client connection's allowance of registry look-ups:
// a token bucket holding up to n, refilled at n a minute, so a producer
// that starts with a burst of new schemas has them looked up at once,
// and a connection naming ever new IDs costs the registry at most n a
// minute. Safe for concurrent use.
type ConnLookups struct {
	n   float64
	now func() time.Time

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// NewConnLookups returns a full bucket of n look-ups a minute; n below 1
// means unlimited (a nil *ConnLookups is unlimited too).
func NewConnLookups(n int) *ConnLookups {
	return newConnLookups(n, time.Now)
}

func newConnLookups(n int, now func() time.Time) *ConnLookups {
	if n < 1 {
		return nil
	}
	return &ConnLookups{n: float64(n), now: now, tokens: float64(n), last: now()}
}

func (c *ConnLookups) take() bool {
	if c == nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.tokens = min(c.n, c.tokens+now.Sub(c.last).Minutes()*c.n)
	c.last = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// RequestLookups is what one Produce request may ask of the registry:
// at most its own limit of look-ups the cache cannot answer, each also
// drawn from its connection's ConnLookups. It also dates the request, so
// that a "not found" asked of the registry before the request arrived is
// never its verdict (see CachedRegistry). Safe for concurrent use.
type RequestLookups struct {
	since     time.Time
	unlimited bool
	left      atomic.Int64
	conn      *ConnLookups
}

// NewRequestLookups returns the allowance of a request that arrived now:
// at most n look-ups (n below 1: unlimited), drawn from conn as well
// (nil: no connection limit).
func NewRequestLookups(n int, conn *ConnLookups) *RequestLookups {
	l := &RequestLookups{since: time.Now(), unlimited: n < 1, conn: conn}
	l.left.Store(int64(n))
	return l
}

// take spends one look-up; it returns "" or the refusal reason.
func (l *RequestLookups) take() string {
	if l == nil {
		return ""
	}
	if !l.unlimited && l.left.Add(-1) < 0 {
		return RefusedRequestLimit
	}
	if !l.conn.take() {
		return RefusedConnectionLimit
	}
	return ""
}

// trusts reports whether a "not found" the registry gave to a request
// sent at asked may be this request's verdict: only when it was asked
// after this request arrived. A nil l (no request in the context) trusts
// every answer.
func (l *RequestLookups) trusts(asked time.Time) bool {
	return l == nil || !asked.Before(l.since)
}

type lookupsKey struct{}

// WithLookups returns ctx carrying l; the registry cache charges the
// look-ups it cannot answer from memory to it.
func WithLookups(ctx context.Context, l *RequestLookups) context.Context {
	return context.WithValue(ctx, lookupsKey{}, l)
}

func lookupsFrom(ctx context.Context) *RequestLookups {
	l, _ := ctx.Value(lookupsKey{}).(*RequestLookups)
	return l
}

func refusedError(reason string) error {
	switch reason {
	case RefusedRequestLimit:
		return fmt.Errorf("%w: this request already made its limit of registry look-ups (a producer with many new schemas gets them on retry)", ErrLookupRefused)
	case RefusedConnectionLimit:
		return fmt.Errorf("%w: this connection already made its limit of registry look-ups for the minute", ErrLookupRefused)
	default:
		return fmt.Errorf("%w: every registry request slot stayed busy until the check deadline", ErrLookupRefused)
	}
}
