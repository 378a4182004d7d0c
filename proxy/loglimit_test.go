package proxy

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// The bucket lets burst lines through at once, then rate a second; what
// it holds back is counted, and the next line let through gets the count,
// once.
func TestLogLimiterBucket(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Unix(1000, 0)}
	var onSuppress int
	l := newLogLimiter(2, 3, clk.now, func() { onSuppress++ })

	allowed := 0
	for range 10 {
		if ok, n := l.allow(); ok {
			allowed++
			if n != 0 {
				t.Errorf("line within the burst: got suppressed=%d, want 0", n)
			}
		}
	}
	if allowed != 3 {
		t.Errorf("lines let through at once: got %d, want the burst of 3", allowed)
	}
	if onSuppress != 7 {
		t.Errorf("onSuppress calls: got %d, want 7", onSuppress)
	}

	// Half a second at 2 a second: one token, carrying the count.
	clk.advance(500 * time.Millisecond)
	if ok, n := l.allow(); !ok || n != 7 {
		t.Errorf("after 500ms: got (%v, %d), want (true, 7)", ok, n)
	}
	if ok, _ := l.allow(); ok {
		t.Errorf("second line after 500ms let through, want it held back")
	}
	clk.advance(500 * time.Millisecond)
	if ok, n := l.allow(); !ok || n != 1 {
		t.Errorf("after another 500ms: got (%v, %d), want (true, 1)", ok, n)
	}

	// A long quiet spell refills to the burst, no further.
	clk.advance(time.Hour)
	allowed = 0
	for range 10 {
		if ok, _ := l.allow(); ok {
			allowed++
		}
	}
	if allowed != 3 {
		t.Errorf("lines let through after an hour: got %d, want the burst of 3", allowed)
	}

	// A clock that steps back adds no tokens.
	clk.advance(-time.Minute)
	if ok, _ := l.allow(); ok {
		t.Errorf("line let through after the clock stepped back, want it held back")
	}
}

// Over any span, the lines let through stay within burst + rate*span,
// and every line is either let through or reported as suppressed.
func TestLogLimiterBound(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Unix(1000, 0)}
	l := newLogLimiter(10, 20, clk.now, nil)
	const lines = 5000
	allowed, reported := 0, int64(0)
	for range lines {
		clk.advance(time.Millisecond) // 5 s in all
		if ok, n := l.allow(); ok {
			allowed++
			reported += n
		}
	}
	if bound := 20 + 10*5; allowed > bound {
		t.Errorf("lines let through in 5s: got %d, want at most %d", allowed, bound)
	}
	clk.advance(time.Second)
	ok, n := l.allow()
	if !ok {
		t.Fatalf("line after a quiet second held back")
	}
	if got := int64(allowed) + reported + n; got != lines {
		t.Errorf("let through + reported suppressed: got %d, want %d", got, lines)
	}
}

// log writes suppressed=N on the line after a held-back one, and a line
// the logger's level drops costs no token and is not counted.
func TestLogLimiterLog(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Unix(1000, 0)}
	l := newLogLimiter(1, 1, clk.now, nil)
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))

	l.log(log, slog.LevelInfo, "dropped by level")
	l.log(log, slog.LevelWarn, "first", "reason", "framing")
	l.log(log, slog.LevelWarn, "held back")
	l.log(log, slog.LevelWarn, "held back")
	clk.advance(time.Second)
	l.log(log, slog.LevelWarn, "second", "reason", "framing")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	if strings.Contains(lines[0], "suppressed") || !strings.Contains(lines[0], "msg=first") {
		t.Errorf("first line: got %q, want msg=first and no suppressed count", lines[0])
	}
	if !strings.Contains(lines[1], "msg=second") || !strings.HasSuffix(lines[1], "reason=framing suppressed=2") {
		t.Errorf("second line: got %q, want msg=second ending reason=framing suppressed=2", lines[1])
	}
}
