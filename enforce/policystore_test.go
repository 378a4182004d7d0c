package enforce

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Policies told apart by the value mode of topic "t".
const (
	storePolicyOff     = "rules: [{topics: [t], value: {mode: off}}]\n"
	storePolicyPayload = "rules: [{topics: [t], value: {mode: payload}}]\n"
	storePolicyID      = "rules: [{topics: [t], value: {mode: id}}, {topics: [u]}]\n"
	storePolicyBad     = "rules: [{topics: [t], value: {mode: strict}}]\n"
)

// syncBuffer is a log destination that the Watch goroutine and the test
// may use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testLogger() (*slog.Logger, *syncBuffer) {
	b := new(syncBuffer)
	return slog.New(slog.NewTextHandler(b, nil)), b
}

func writePolicyFile(t *testing.T, path, doc string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replacePolicyFile writes doc beside path and renames it over path, as
// editors and configuration tools do.
func replacePolicyFile(t *testing.T, path, doc string) {
	t.Helper()
	tmp := path + ".tmp"
	writePolicyFile(t, tmp, doc)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func valueMode(s *PolicyStore) Mode { return s.Load().RuleFor("t").Value.Mode }

// waitFor polls cond until it holds or five seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func TestNewPolicyStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	writePolicyFile(t, good, storePolicyOff)
	bad := filepath.Join(dir, "bad.yaml")
	writePolicyFile(t, bad, storePolicyBad)
	empty := filepath.Join(dir, "empty.yaml")
	writePolicyFile(t, empty, "")
	huge := filepath.Join(dir, "huge.yaml")
	writePolicyFile(t, huge, "#"+strings.Repeat("x", maxPolicyBytes)+"\n{}\n")

	for _, tc := range []struct {
		name    string
		path    string
		mode    Mode   // of topic t, when there is no error
		wantErr string // substring
	}{
		{"no file", "", ModeID, ""},
		{"good file", good, ModeOff, ""},
		{"missing file", filepath.Join(dir, "missing.yaml"), "", "no such file or directory"},
		{"bad file", bad, "", `policy ` + bad + `: line 1: rules[0] (pattern "t"): value.mode "strict": want off, id or payload`},
		{"empty file", empty, "", "policy is empty"},
		{"huge file", huge, "", "is over 4 MiB: is this the policy file?"},
		{"directory", dir, "", "is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log, logs := testLogger()
			s, err := NewPolicyStore(tc.path, log)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NewPolicyStore error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := valueMode(s); got != tc.mode {
				t.Errorf("value mode of t = %q, want %q", got, tc.mode)
			}
			if !strings.Contains(logs.String(), "level=INFO") {
				t.Errorf("no info line logged at start; log:\n%s", logs)
			}
		})
	}
}

func TestPolicyStoreNilLogger(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicyFile(t, path, storePolicyOff)
	s, err := NewPolicyStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	writePolicyFile(t, path, storePolicyBad)
	if err := s.Reload(); err == nil {
		t.Error("Reload of a bad file succeeded")
	}
}

func TestPolicyStoreReload(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicyFile(t, path, storePolicyOff)
	log, logs := testLogger()
	s, err := NewPolicyStore(path, log)
	if err != nil {
		t.Fatal(err)
	}

	// A new file is picked up and logged with its rule count.
	writePolicyFile(t, path, storePolicyID)
	if err := s.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := valueMode(s); got != ModeID {
		t.Errorf("after reload, value mode of t = %q, want id", got)
	}
	if want := `msg="policy reloaded" path=` + path + ` rules=2`; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs)
	}

	// An invalid file keeps the policy in force and logs one error line.
	before := s.Load()
	writePolicyFile(t, path, storePolicyBad)
	err = s.Reload()
	if err == nil || !strings.Contains(err.Error(), `value.mode "strict"`) {
		t.Fatalf("Reload of a bad file: error %v, want one about value.mode", err)
	}
	if s.Load() != before {
		t.Error("a bad file replaced the policy in force")
	}
	var errLines []string
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "level=ERROR") {
			errLines = append(errLines, line)
		}
	}
	if len(errLines) != 1 {
		t.Fatalf("got %d error lines, want 1:\n%s", len(errLines), logs)
	}
	for _, want := range []string{"path=" + path, `err="policy ` + path + `: line 1: rules[0]`} {
		if !strings.Contains(errLines[0], want) {
			t.Errorf("error line lacks %q: %s", want, errLines[0])
		}
	}

	// So does a file that has gone.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err == nil {
		t.Error("Reload of a missing file succeeded")
	}
	if s.Load() != before {
		t.Error("a missing file replaced the policy in force")
	}

	// And a good file is picked up again.
	writePolicyFile(t, path, storePolicyPayload)
	if err := s.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := valueMode(s); got != ModePayload {
		t.Errorf("after reload, value mode of t = %q, want payload", got)
	}
}

func TestPolicyStoreReloadWithoutFile(t *testing.T) {
	t.Parallel()
	s, err := NewPolicyStore("", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := s.Load()
	if err := s.Reload(); err != nil {
		t.Errorf("Reload without a file: %v", err)
	}
	if s.Load() != p {
		t.Error("Reload without a file replaced the policy")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Watch(ctx) // returns at once
}

// startWatch runs s.Watch until the test ends.
func startWatch(t *testing.T, s *PolicyStore) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Watch(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func TestPolicyStoreWatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, path, doc string)
	}{
		{"write in place", writePolicyFile},
		{"rename over", replacePolicyFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "policy.yaml")
			writePolicyFile(t, path, storePolicyOff)
			log, logs := testLogger()
			s, err := NewPolicyStore(path, log)
			if err != nil {
				t.Fatal(err)
			}
			startWatch(t, s)

			// The first change may land before the watch starts (Watch
			// checks the file once it watches); once it is seen, the watch
			// is running, so the second one is seen through an event.
			tc.change(t, path, storePolicyID)
			waitFor(t, "the first change", func() bool { return valueMode(s) == ModeID })
			tc.change(t, path, storePolicyPayload)
			waitFor(t, "the second change", func() bool { return valueMode(s) == ModePayload })

			// A bad file is logged once and the policy in force is kept.
			before := s.Load()
			tc.change(t, path, storePolicyBad)
			waitFor(t, "the error to be logged", func() bool { return strings.Contains(logs.String(), `value.mode \"strict\"`) })
			if s.Load() != before {
				t.Error("a bad file replaced the policy in force")
			}
			tc.change(t, path, storePolicyOff)
			waitFor(t, "the fixed file", func() bool { return valueMode(s) == ModeOff })
			if n := strings.Count(logs.String(), `value.mode \"strict\"`); n != 1 {
				t.Errorf("the bad file was logged %d times, want once:\n%s", n, logs)
			}
		})
	}
}

// Kubernetes mounts a ConfigMap as dir/policy.yaml -> ..data/policy.yaml,
// ..data -> ..<timestamp>/, and updates it by pointing ..data at a new
// timestamped directory with a rename.
func TestPolicyStoreWatchConfigMapSwap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	version := func(name, doc string) {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		writePolicyFile(t, filepath.Join(dir, name, "policy.yaml"), doc)
	}
	swap := func(name string) {
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(name, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..v1", storePolicyOff)
	swap("..v1")
	path := filepath.Join(dir, "policy.yaml")
	if err := os.Symlink(filepath.Join("..data", "policy.yaml"), path); err != nil {
		t.Fatal(err)
	}
	s, err := NewPolicyStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	startWatch(t, s)

	version("..v2", storePolicyID)
	swap("..v2")
	waitFor(t, "the first swap", func() bool { return valueMode(s) == ModeID })
	if err := os.RemoveAll(filepath.Join(dir, "..v1")); err != nil {
		t.Fatal(err)
	}
	version("..v3", storePolicyPayload)
	swap("..v3")
	waitFor(t, "the second swap", func() bool { return valueMode(s) == ModePayload })
}

func TestPolicyStoreWatchStops(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicyFile(t, path, storePolicyOff)
	s, err := NewPolicyStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Watch(ctx)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after its context ended")
	}
}
