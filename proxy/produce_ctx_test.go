package proxy

import (
	"context"
	"errors"
	"testing"
	"time"
)

// checkCtx behaves as context.WithDeadline does, whether or not anything
// waited on it before its deadline or its release.
func TestCheckCtx(t *testing.T) {
	t.Parallel()
	t.Run("deadline without a wait", func(t *testing.T) {
		d := time.Now().Add(time.Hour)
		c := newCheckCtx(d)
		if got, ok := c.Deadline(); !ok || !got.Equal(d) {
			t.Errorf("Deadline() = %v, %v; want %v, true", got, ok, d)
		}
		if c.ctx != nil {
			t.Errorf("Deadline started the timer")
		}
		c.release()
		if err := c.Err(); !errors.Is(err, context.Canceled) {
			t.Errorf("Err() after release = %v, want context.Canceled", err)
		}
		select {
		case <-c.Done():
		default:
			t.Errorf("Done() not closed after release")
		}
	})
	t.Run("waiting, then released", func(t *testing.T) {
		c := newCheckCtx(time.Now().Add(time.Hour))
		done := c.Done()
		if err := c.Err(); err != nil {
			t.Errorf("Err() before the deadline = %v", err)
		}
		c.release()
		<-done
		if err := c.Err(); !errors.Is(err, context.Canceled) {
			t.Errorf("Err() = %v, want context.Canceled", err)
		}
	})
	t.Run("deadline passes while waiting", func(t *testing.T) {
		c := newCheckCtx(time.Now().Add(20 * time.Millisecond))
		defer c.release()
		select {
		case <-c.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("Done() not closed at the deadline")
		}
		if err := c.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Err() = %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("deadline already past", func(t *testing.T) {
		c := newCheckCtx(time.Now().Add(-time.Second))
		defer c.release()
		if err := c.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Err() = %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("derived contexts follow it", func(t *testing.T) {
		c := newCheckCtx(time.Now().Add(time.Hour))
		child, cancel := context.WithTimeout(c, time.Hour)
		defer cancel()
		if d, _ := child.Deadline(); !d.Equal(c.deadline) {
			t.Errorf("child deadline %v, want the parent's %v", d, c.deadline)
		}
		c.release()
		select {
		case <-child.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("child not canceled with its parent")
		}
	})
}
