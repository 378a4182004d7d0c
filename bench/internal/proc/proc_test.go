package proc

import (
	"context"
	"errors"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string][]int{"0": {0}, "0-3": {0, 1, 2, 3}, "0,2,4-5": {0, 2, 4, 5}} {
		got, err := parseCPUList(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseCPUList(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseCPUList("a-b"); err == nil {
		t.Error(`parseCPUList("a-b"): no error`)
	}
}

func TestCPU(t *testing.T) {
	// Burn a little CPU so the clock has moved.
	deadline := time.Now().Add(20 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	clock, err := CPU(os.Getpid())
	if err != nil || clock <= 0 {
		t.Fatalf("CPU = %v, %v", clock, err)
	}
	stat, err := statCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// /proc/<pid>/stat counts 10 ms ticks, read a moment later.
	if stat > clock+time.Second || clock > stat+time.Second {
		t.Errorf("CPU clock %v and /proc stat %v disagree", clock, stat)
	}
}

func TestStatus(t *testing.T) {
	st, err := Status(os.Getpid(), "VmRSS", "Threads")
	if err != nil {
		t.Fatal(err)
	}
	// VmRSS is in kB, so in bytes a multiple of 1024; Threads is a count.
	if rss := st["VmRSS"]; rss < 1<<20 || rss%1024 != 0 {
		t.Errorf("VmRSS = %d bytes, want a multiple of 1024 above 1 MiB", rss)
	}
	if n := st["Threads"]; n < 1 || n > 10000 {
		t.Errorf("Threads = %d, want a count", n)
	}
	if _, err := Status(os.Getpid(), "NoSuchField"); err == nil {
		t.Error("Status of a missing field: no error")
	}
}

func TestTail(t *testing.T) {
	tl := NewTail(10)
	if got := tl.String(); got != "" {
		t.Errorf("empty tail = %q, want empty", got)
	}
	tl.Write([]byte("first line\nsecond\n")) //nolint:errcheck // never fails
	if got, want := tl.String(), "second"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestChild(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	ctx := context.Background()
	c, err := Start("echo", Options{Env: []string{"GREETING=hello"}}, "/bin/sh", "-c",
		`echo "$GREETING"; read line; echo "got $line"; echo oops >&2; exit 3`)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Kill()
	if l, err := c.Line(ctx, 5*time.Second); err != nil || l != "hello" {
		t.Fatalf("Line = %q, %v; want hello", l, err)
	}
	if _, err := c.Line(ctx, 10*time.Millisecond); !errors.Is(err, ErrSilent) {
		t.Errorf("Line of a waiting child: got %v, want ErrSilent", err)
	}
	if err := c.Send("go"); err != nil {
		t.Fatal(err)
	}
	out, err := c.Stop(false, 5*time.Second)
	if !reflect.DeepEqual(out, []string{"got go"}) || err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("Stop = %q, %v; want [got go], exit status 3", out, err)
	}
	if _, err := c.Line(ctx, 0); !errors.Is(err, ErrExited) {
		t.Errorf("Line after exit: got %v, want ErrExited", err)
	}
	if !c.Exited() || c.Stderr() != "oops" {
		t.Errorf("Exited, Stderr = %v, %q; want true, oops", c.Exited(), c.Stderr())
	}
}
