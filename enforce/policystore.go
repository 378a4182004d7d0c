package enforce

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// PolicyStore holds the policy in force and replaces it when its file
// changes. Load is safe for concurrent use and never blocks; Reload and
// Watch may run concurrently with each other and with Load.
type PolicyStore struct {
	path string
	log  *slog.Logger
	cur  atomic.Pointer[Policy]

	mu      sync.Mutex // serialises reloads, so the last file read is the one in force
	seen    []byte     // the file's bytes at the last reload attempt
	seenErr string     // the read error at the last reload attempt, if any
}

// maxPolicyBytes bounds the size of a policy file.
const maxPolicyBytes = 4 << 20

// watchDebounce is how long Watch lets a burst of file events settle
// before it reads the file: editors and ConfigMap updates write in steps.
const watchDebounce = 100 * time.Millisecond

// NewPolicyStore loads the policy file at path; path "" means
// DefaultPolicy. A file that cannot be read or parsed is an error. A nil
// log discards.
func NewPolicyStore(path string, log *slog.Logger) (*PolicyStore, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &PolicyStore{path: path, log: log}
	if path == "" {
		s.cur.Store(DefaultPolicy())
		log.Info("no policy file: default policy in use (values need a schema ID under <topic>-value)")
		return s, nil
	}
	data, err := readPolicyFile(path)
	if err != nil {
		return nil, err
	}
	p, err := ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	s.seen = data
	s.cur.Store(p)
	log.Info("policy loaded", "path", path, "rules", p.rules)
	return s, nil
}

// Load returns the policy in force. It is never nil.
func (s *PolicyStore) Load() *Policy { return s.cur.Load() }

// Reload reads the policy file again and puts it in force. On error the
// policy in force is kept and the error is both logged (key "err", with
// the path) and returned, so callers such as a SIGHUP handler need not
// log it again. Every successful reload is logged with its rule count.
// Without a policy file Reload does nothing.
func (s *PolicyStore) Reload() error {
	if s.path == "" {
		s.log.Info("policy reload: no policy file, default policy stays in force")
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := readPolicyFile(s.path)
	return s.apply(data, err)
}

// reloadIfChanged is Reload for Watch: it does nothing when the file's
// bytes, or its read error, are the same as at the last attempt, so that
// unrelated events in the directory neither reparse nor log.
func (s *PolicyStore) reloadIfChanged() {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := readPolicyFile(s.path)
	if err == nil && s.seenErr == "" && bytes.Equal(data, s.seen) {
		return
	}
	if err != nil && err.Error() == s.seenErr {
		return
	}
	_ = s.apply(data, err) // logged by apply
}

// apply parses what was read and puts it in force, logging the outcome.
// s.mu is held.
func (s *PolicyStore) apply(data []byte, readErr error) error {
	err := readErr
	var p *Policy
	if err == nil {
		s.seen, s.seenErr = data, ""
		if p, err = ParsePolicy(data); err != nil {
			err = fmt.Errorf("policy %s: %w", s.path, err)
		}
	} else {
		s.seen, s.seenErr = nil, err.Error()
	}
	if err != nil {
		s.log.Error("policy reload failed, previous policy stays in force", "path", s.path, "err", err)
		return err
	}
	s.cur.Store(p)
	s.log.Info("policy reloaded", "path", s.path, "rules", p.rules)
	return nil
}

// Watch reloads the policy whenever its file changes, until ctx ends. It
// watches the file's directory, not the file, so that editors that write a
// new file and rename it over the old one, and Kubernetes ConfigMap
// volumes that swap a symlink, are seen; events are coalesced for
// 100 ms and the file is reparsed only when its bytes change. A symlink
// pointing outside the directory is followed when read, but changes
// behind it are seen only by Reload. Without a policy file, or if the
// watch cannot be set up (logged), Watch returns at once; Reload still
// works.
func (s *PolicyStore) Watch(ctx context.Context) {
	if s.path == "" {
		return
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		s.log.Error("policy watch not started; reload with SIGHUP", "path", s.path, "err", err)
		return
	}
	defer w.Close()
	dir := filepath.Dir(s.path)
	if err := w.Add(dir); err != nil {
		s.log.Error("policy watch not started; reload with SIGHUP", "path", s.path, "err", fmt.Errorf("watch %s: %w", dir, err))
		return
	}
	// The file may have changed before the watch started.
	s.reloadIfChanged()
	s.watchEvents(ctx, w)
}

// watchEvents is Watch's loop. The timer runs while a burst of events is
// being coalesced; it is not reset by later events, so a directory that
// never stops changing still gets its file checked every watchDebounce.
func (s *PolicyStore) watchEvents(ctx context.Context, w *fsnotify.Watcher) {
	t := time.NewTimer(watchDebounce)
	t.Stop()
	defer t.Stop()
	pending := false
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-w.Events:
			if !ok {
				return
			}
			if !pending {
				pending = true
				t.Reset(watchDebounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			s.log.Warn("policy watch error", "path", s.path, "err", err)
		case <-t.C:
			pending = false
			s.reloadIfChanged()
		}
	}
}

func readPolicyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPolicyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read policy %s: %w", path, err)
	}
	if len(data) > maxPolicyBytes {
		return nil, fmt.Errorf("policy %s is over %d MiB: is this the policy file?", path, maxPolicyBytes>>20)
	}
	return data, nil
}
