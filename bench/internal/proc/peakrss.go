package proc

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// RSS methods, as PeakRSS.End and the bench's results.json name them.
const (
	rssHWM     = "VmHWM after clear_refs"
	rssSampled = "VmRSS sampled every 20ms"
)

// PeakRSS measures a process's peak resident set over a window. The
// kernel's own peak (VmHWM) lasts the process's lifetime, so
// StartPeakRSS resets it by writing 5 to /proc/<pid>/clear_refs (Linux
// 4.0+; needs the right to ptrace the process, which a parent has over its
// child); when that is refused, a goroutine samples VmRSS instead, which
// can miss short peaks.
type PeakRSS struct {
	pid    int
	method string

	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	max  int64
	err  error
}

// StartPeakRSS begins a window over process pid. Call End exactly once.
func StartPeakRSS(pid int) *PeakRSS {
	p := &PeakRSS{pid: pid}
	if err := clearRefs(pid); err == nil {
		p.method = rssHWM
		return p
	}
	p.method = rssSampled
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go p.sample()
	return p
}

// clearRefs resets process pid's VmHWM to its current RSS.
func clearRefs(pid int) error {
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/clear_refs", pid), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte("5"))
	return errors.Join(err, f.Close())
}

// sample polls VmRSS until End; owned by the PeakRSS it updates.
func (p *PeakRSS) sample() {
	defer close(p.done)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		n, err := RSS(p.pid)
		p.mu.Lock()
		if err != nil && p.err == nil {
			p.err = err
		}
		p.max = max(p.max, n)
		p.mu.Unlock()
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
	}
}

// End closes the window and returns the peak, in bytes, and how it was
// measured: "VmHWM after clear_refs" or "VmRSS sampled every 20ms".
func (p *PeakRSS) End() (int64, string, error) {
	if p.stop == nil {
		n, err := status1(p.pid, "VmHWM")
		return n, p.method, err
	}
	close(p.stop)
	<-p.done
	if n, err := RSS(p.pid); err == nil {
		p.max = max(p.max, n)
	}
	return p.max, p.method, p.err
}
