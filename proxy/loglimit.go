package proxy

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Bounds of the log lines about refused and failed client connections:
// a token bucket of connLogRate lines a second, connLogBurst at once,
// shared by every connection of a Proxy. A flood of junk connections
// (HTTP on the Kafka port, over-limit size prefixes) thus writes at most
// connLogBurst + connLogRate*seconds lines.
const (
	connLogRate  = 10
	connLogBurst = 20
)

// logLimiter is a token bucket over log lines. A line it holds back is
// counted (and passed to onSuppress), and the next line it lets through
// carries the count as suppressed=N. The zero value is not usable; use
// newLogLimiter. Safe for concurrent use.
type logLimiter struct {
	rate       float64          // tokens added per second
	burst      float64          // most tokens held
	now        func() time.Time // the clock; time.Now outside tests
	onSuppress func()           // called once per line held back; may be nil

	mu         sync.Mutex
	tokens     float64
	last       time.Time // when tokens was last brought up to date
	suppressed int64     // lines held back since the last line let through
}

// newLogLimiter returns a limiter of rate lines a second with bursts of
// burst, full at the start. now is the clock (nil: time.Now).
func newLogLimiter(rate, burst float64, now func() time.Time, onSuppress func()) *logLimiter {
	if now == nil {
		now = time.Now
	}
	return &logLimiter{rate: rate, burst: burst, now: now, onSuppress: onSuppress, tokens: burst, last: now()}
}

// allow takes a token if one is left. When it does, it returns true and
// the number of lines held back since the last line let through, and
// resets that count; otherwise it counts one more line held back.
func (l *logLimiter) allow() (bool, int64) {
	l.mu.Lock()
	now := l.now()
	if dt := now.Sub(l.last).Seconds(); dt > 0 {
		l.tokens = min(l.burst, l.tokens+dt*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		l.suppressed++
		l.mu.Unlock()
		if l.onSuppress != nil {
			l.onSuppress()
		}
		return false, 0
	}
	l.tokens--
	n := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	return true, n
}

// log writes one line at level to log if the bucket allows it, adding
// suppressed=N when lines were held back before it. A line log would
// drop anyway (level disabled) costs no token and is not counted.
func (l *logLimiter) log(log *slog.Logger, level slog.Level, msg string, args ...any) {
	if !log.Enabled(context.Background(), level) {
		return
	}
	ok, n := l.allow()
	if !ok {
		return
	}
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	log.Log(context.Background(), level, msg, args...)
}
