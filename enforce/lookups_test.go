package enforce

import (
	"testing"
	"time"
)

func TestConnLookupsRefill(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	c := newConnLookups(4, func() time.Time { return now })
	for i := range 4 {
		if !c.take() {
			t.Fatalf("take %d of a full bucket of 4: refused", i+1)
		}
	}
	if c.take() {
		t.Fatalf("take 5 of a bucket of 4: allowed")
	}
	// 4 a minute is one every 15 s.
	now = now.Add(15*time.Second - time.Millisecond)
	if c.take() {
		t.Errorf("just under 15 s later: allowed, want refused")
	}
	now = now.Add(time.Millisecond)
	if !c.take() {
		t.Errorf("15 s later: refused, want one look-up")
	}
	if c.take() {
		t.Errorf("second take 15 s later: allowed, want refused")
	}
	// An idle hour refills to the burst, never past it.
	now = now.Add(time.Hour)
	for i := range 4 {
		if !c.take() {
			t.Fatalf("after an hour, take %d: refused", i+1)
		}
	}
	if c.take() {
		t.Errorf("after an hour, take 5: allowed, want the bucket capped at 4")
	}
}

func TestRequestLookupsBounds(t *testing.T) {
	t.Run("the request's own limit", func(t *testing.T) {
		l := NewRequestLookups(3, nil)
		for i := range 3 {
			if r := l.take(); r != "" {
				t.Fatalf("take %d of 3: refused with %s", i+1, r)
			}
		}
		if r := l.take(); r != RefusedRequestLimit {
			t.Errorf("take 4 of 3: got %q, want %q", r, RefusedRequestLimit)
		}
	})
	t.Run("drawn from the connection too", func(t *testing.T) {
		conn := NewConnLookups(2)
		a, b := NewRequestLookups(10, conn), NewRequestLookups(10, conn)
		if r := a.take(); r != "" {
			t.Fatalf("first request: refused with %s", r)
		}
		if r := b.take(); r != "" {
			t.Fatalf("second request: refused with %s", r)
		}
		if r := a.take(); r != RefusedConnectionLimit {
			t.Errorf("third look-up on a connection of 2: got %q, want %q", r, RefusedConnectionLimit)
		}
	})
	t.Run("below 1 is unlimited", func(t *testing.T) {
		l := NewRequestLookups(0, NewConnLookups(-1))
		for i := range 1000 {
			if r := l.take(); r != "" {
				t.Fatalf("take %d: refused with %s", i+1, r)
			}
		}
	})
	t.Run("a no asked before the request arrived is not its verdict", func(t *testing.T) {
		l := NewRequestLookups(1, nil)
		if l.trusts(l.since.Add(-time.Nanosecond)) {
			t.Errorf("an answer asked before the request: trusted")
		}
		if !l.trusts(l.since) {
			t.Errorf("an answer asked as the request arrived: not trusted")
		}
		var none *RequestLookups
		if !none.trusts(time.Time{}) {
			t.Errorf("no request in the context: an answer was not trusted")
		}
	})
}
