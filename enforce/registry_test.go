package enforce_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
)

const orderAvro = `{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"id","type":"string"}]}`

// fakeClock is a clock tests advance by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// counts collects what a RegistryObserver reports.
type counts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counts) observer() enforce.RegistryObserver {
	add := func(prefix string) func(string) {
		return func(v string) {
			c.mu.Lock()
			if c.m == nil {
				c.m = make(map[string]int)
			}
			c.m[prefix+v]++
			c.mu.Unlock()
		}
	}
	return enforce.RegistryObserver{Request: add("request_"), CacheLookup: add("cache_")}
}

func (c *counts) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}

// env is one test's registry, client-side cache, clock and counters.
type env struct {
	srv   *enforcetest.Registry
	reg   *enforce.CachedRegistry
	clock *fakeClock
	obs   *counts
}

func newEnv(t *testing.T, opts ...enforce.RegistryOpt) *env {
	t.Helper()
	e := &env{srv: enforcetest.NewRegistry(t), clock: newFakeClock(), obs: &counts{}}
	opts = append([]enforce.RegistryOpt{enforce.WithClock(e.clock.Now), enforce.WithRegistryObserver(e.obs.observer())}, opts...)
	e.reg = enforce.NewRegistry(e.srv.Client, opts...)
	return e
}

// requests runs fn and returns how many HTTP requests the registry got meanwhile.
func (e *env) requests(fn func()) int64 {
	before := e.srv.Requests()
	fn()
	return e.srv.Requests() - before
}

func TestRegistryCacheHitMiss(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	id := e.srv.Avro(t, "orders-value", orderAvro).ID

	for i, wantReqs := range []int64{1, 0, 0} {
		n := e.requests(func() {
			s, err := e.reg.SchemaByID(ctx, id)
			if err != nil {
				t.Fatalf("SchemaByID: %v", err)
			}
			if s.ID != id || s.Type != sr.TypeAvro || s.Text != orderAvro {
				t.Errorf("got %+v", s)
			}
		})
		if n != wantReqs {
			t.Errorf("SchemaByID call %d: got %d requests, want %d", i, n, wantReqs)
		}
	}
	for i, wantReqs := range []int64{1, 0} {
		n := e.requests(func() {
			if in, err := e.reg.InSubject(ctx, id, "orders-value"); err != nil || !in {
				t.Fatalf("InSubject: %v, %v; want true", in, err)
			}
		})
		if n != wantReqs {
			t.Errorf("InSubject call %d: got %d requests, want %d", i, n, wantReqs)
		}
	}
	for k, want := range map[string]int{"cache_hit": 3, "cache_miss": 2, "request_ok": 2, "request_not_found": 0, "request_error": 0} {
		if got := e.obs.get(k); got != want {
			t.Errorf("observer %s: got %d, want %d", k, got, want)
		}
	}
}

func TestRegistryPositiveTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, enforce.WithPositiveTTL(time.Minute))
	ctx := context.Background()
	ss := e.srv.Avro(t, "orders-value", orderAvro)
	inSubject := func() bool {
		t.Helper()
		in, err := e.reg.InSubject(ctx, ss.ID, "orders-value")
		if err != nil {
			t.Fatalf("InSubject: %v", err)
		}
		return in
	}

	if n := e.requests(func() { inSubject() }); n != 1 {
		t.Fatalf("first look-up: got %d requests, want 1", n)
	}
	e.srv.SoftDelete(t, "orders-value", ss.Version)
	e.clock.Advance(time.Minute - time.Nanosecond)
	if n := e.requests(func() {
		if !inSubject() {
			t.Errorf("within the positive TTL: got false, want the cached true")
		}
	}); n != 0 {
		t.Errorf("within the positive TTL: got %d requests, want 0", n)
	}
	e.clock.Advance(time.Nanosecond)
	if n := e.requests(func() {
		if inSubject() {
			t.Errorf("after the positive TTL: got true for a soft-deleted version")
		}
	}); n != 1 {
		t.Errorf("after the positive TTL: got %d requests, want 1", n)
	}
}

func TestRegistryUnknownIDRecheckedLive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, enforce.WithNegativeTTL(2*time.Second))
	ctx := context.Background()
	const id = 42

	_, err := e.reg.SchemaByID(ctx, id)
	if !errors.Is(err, enforce.ErrUnknownSchema) || errors.Is(err, enforce.ErrRegistryUnavailable) {
		t.Fatalf("SchemaByID of an unknown id: got %v, want ErrUnknownSchema", err)
	}
	if in, err := e.reg.InSubject(ctx, id, "orders-value"); in || err != nil {
		t.Fatalf("InSubject of an unknown id: got %v, %v; want false, nil", in, err)
	}

	// The producer registers and produces at once.
	e.srv.Fake.SeedSchema("orders-value", 1, id, sr.Schema{Schema: orderAvro})

	// Within the negative TTL the flood guard answers without asking.
	if n := e.requests(func() {
		if _, err := e.reg.SchemaByID(ctx, id); !errors.Is(err, enforce.ErrUnknownSchema) {
			t.Errorf("SchemaByID within the negative TTL: got %v, want ErrUnknownSchema", err)
		}
		if in, _ := e.reg.InSubject(ctx, id, "orders-value"); in {
			t.Errorf("InSubject within the negative TTL: got true, want the cached false")
		}
	}); n != 0 {
		t.Errorf("within the negative TTL: got %d requests, want 0", n)
	}
	if got := e.obs.get("request_not_found"); got != 2 {
		t.Errorf("observer request_not_found: got %d, want 2 (one each)", got)
	}

	e.clock.Advance(2 * time.Second)
	if n := e.requests(func() {
		s, err := e.reg.SchemaByID(ctx, id)
		if err != nil || s.ID != id {
			t.Errorf("SchemaByID after the negative TTL: got %+v, %v", s, err)
		}
		if in, err := e.reg.InSubject(ctx, id, "orders-value"); !in || err != nil {
			t.Errorf("InSubject after the negative TTL: got %v, %v; want true", in, err)
		}
	}); n != 2 {
		t.Errorf("after the negative TTL: got %d requests, want 2 (one each)", n)
	}
}

func TestRegistryNoNegativeCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, enforce.WithNegativeTTL(0))
	ctx := context.Background()
	for range 3 {
		if n := e.requests(func() { _, _ = e.reg.InSubject(ctx, 9, "orders-value") }); n != 1 {
			t.Errorf("with no negative TTL: got %d requests, want 1 per look-up", n)
		}
	}
}

func TestRegistrySingleflight(t *testing.T) {
	t.Parallel()
	const callers = 50
	var arrived sync.WaitGroup
	arrived.Add(callers)
	srv := enforcetest.NewRegistry(t)
	ss := srv.Avro(t, "orders-value", orderAvro)
	reg := enforce.NewRegistry(srv.Client, enforce.WithRegistryObserver(enforce.RegistryObserver{
		CacheLookup: func(result string) {
			if result == enforce.CacheMiss {
				arrived.Done()
			}
		},
	}))
	release := make(chan struct{})
	srv.SetFault(enforcetest.Gate(release))
	before := srv.Requests()

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			in, err := reg.InSubject(context.Background(), ss.ID, "orders-value")
			if err == nil && !in {
				err = errors.New("got false, want true")
			}
			errs <- err
		})
	}
	// Every caller has missed the cache; the one request is held at the
	// gate, so the others can only be sharing it.
	arrived.Wait()
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("InSubject: %v", err)
		}
	}
	if got := srv.Requests() - before; got != 1 {
		t.Errorf("%d concurrent identical look-ups made %d requests, want 1", callers, got)
	}
}

func TestRegistryUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		code   int
	}{
		{"500 store error", http.StatusInternalServerError, 50001},
		{"503", http.StatusServiceUnavailable, 0},
		{"429", http.StatusTooManyRequests, 0},
		{"401", http.StatusUnauthorized, 0},
		{"404 without a registry code", http.StatusNotFound, 0},
		{"422", http.StatusUnprocessableEntity, 42201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := context.Background()
			ss := e.srv.Avro(t, "orders-value", orderAvro)
			e.srv.SetFault(enforcetest.FailWith(tt.status, tt.code))
			_, err := e.reg.SchemaByID(ctx, ss.ID)
			if !errors.Is(err, enforce.ErrRegistryUnavailable) || errors.Is(err, enforce.ErrUnknownSchema) {
				t.Errorf("SchemaByID: got %v, want ErrRegistryUnavailable", err)
			}
			_, err = e.reg.SchemaByGUID(ctx, ss.GUID)
			if !errors.Is(err, enforce.ErrRegistryUnavailable) {
				t.Errorf("SchemaByGUID: got %v, want ErrRegistryUnavailable", err)
			}
			in, err := e.reg.InSubject(ctx, ss.ID, "orders-value")
			if in || !errors.Is(err, enforce.ErrRegistryUnavailable) {
				t.Errorf("InSubject: got %v, %v; want ErrRegistryUnavailable", in, err)
			}
			if got := e.obs.get("request_error"); got != 3 {
				t.Errorf("observer request_error: got %d, want 3", got)
			}
			// Failures are not cached: the next look-ups ask again and succeed.
			e.srv.SetFault(nil)
			if _, err := e.reg.SchemaByID(ctx, ss.ID); err != nil {
				t.Errorf("SchemaByID after recovery: %v", err)
			}
			if in, err := e.reg.InSubject(ctx, ss.ID, "orders-value"); !in || err != nil {
				t.Errorf("InSubject after recovery: got %v, %v; want true", in, err)
			}
		})
	}
}

func TestRegistryNotFoundCodes(t *testing.T) {
	t.Parallel()
	for _, code := range []int{40401, 40403} {
		e := newEnv(t)
		e.srv.SetFault(enforcetest.FailWith(http.StatusNotFound, code))
		if _, err := e.reg.SchemaByID(context.Background(), 7); !errors.Is(err, enforce.ErrUnknownSchema) {
			t.Errorf("404 with code %d: got %v, want ErrUnknownSchema", code, err)
		}
		if in, err := e.reg.InSubject(context.Background(), 7, "orders-value"); in || err != nil {
			t.Errorf("InSubject, 404 with code %d: got %v, %v; want false, nil", code, in, err)
		}
	}
}

func TestRegistryConnectionRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	reg := enforce.NewRegistry(cl)
	if _, err := reg.SchemaByID(context.Background(), 1); !errors.Is(err, enforce.ErrRegistryUnavailable) {
		t.Errorf("got %v, want ErrRegistryUnavailable", err)
	}
}

func TestRegistryTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, enforce.WithRegistryTimeout(50*time.Millisecond))
	ss := e.srv.Avro(t, "orders-value", orderAvro)
	e.srv.SetFault(enforcetest.Hang())
	_, err := e.reg.SchemaByID(context.Background(), ss.ID)
	if !errors.Is(err, enforce.ErrRegistryUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("SchemaByID from a registry that does not answer: got %v, want ErrRegistryUnavailable wrapping a deadline", err)
	}
	in, err := e.reg.InSubject(context.Background(), ss.ID, "orders-value")
	if in || !errors.Is(err, enforce.ErrRegistryUnavailable) {
		t.Errorf("InSubject: got %v, %v; want ErrRegistryUnavailable", in, err)
	}
}

// A caller whose own context ends stops waiting, with the classification
// of an unavailable registry; the shared request goes on for the others.
func TestRegistryCallerCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ss := e.srv.Avro(t, "orders-value", orderAvro)
	release := make(chan struct{})
	e.srv.SetFault(enforcetest.Gate(release))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.reg.SchemaByID(ctx, ss.ID)
	if !errors.Is(err, enforce.ErrRegistryUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want ErrRegistryUnavailable wrapping context.Canceled", err)
	}
	close(release)
	if _, err := e.reg.SchemaByID(context.Background(), ss.ID); err != nil {
		t.Errorf("after release: %v", err)
	}
}

func TestRegistrySameIDTwoSubjects(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	a := e.srv.Avro(t, "orders-value", orderAvro)
	b := e.srv.Avro(t, "orders-archive-value", orderAvro)
	if a.ID != b.ID {
		t.Fatalf("identical schemas got ids %d and %d; the test needs one id under two subjects", a.ID, b.ID)
	}
	tests := []struct {
		subject string
		want    bool
	}{
		{"orders-value", true},
		{"orders-archive-value", true},
		{"orders-key", false},
		{"payments-value", false},
		{"com.acme.Order", false},
	}
	for _, tt := range tests {
		if in, err := e.reg.InSubject(ctx, a.ID, tt.subject); in != tt.want || err != nil {
			t.Errorf("InSubject(%d, %s): got %v, %v; want %v", a.ID, tt.subject, in, err, tt.want)
		}
	}
}

func TestRegistrySoftDeleted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ss := e.srv.Avro(t, "orders-value", orderAvro)
	e.srv.SoftDelete(t, "orders-value", ss.Version)
	if in, err := e.reg.InSubject(ctx, ss.ID, "orders-value"); in || err != nil {
		t.Errorf("InSubject of a soft-deleted version: got %v, %v; want false", in, err)
	}
	// The schema itself stays readable by ID, as in Confluent.
	if _, err := e.reg.SchemaByID(ctx, ss.ID); err != nil {
		t.Errorf("SchemaByID of a soft-deleted version: %v", err)
	}
}

func TestRegistryGUID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ss := e.srv.Avro(t, "orders-value", orderAvro)
	if ss.GUID == "" {
		t.Fatal("the registry reported no guid")
	}
	for i, wantReqs := range []int64{1, 0} {
		n := e.requests(func() {
			s, err := e.reg.SchemaByGUID(ctx, ss.GUID)
			if err != nil {
				t.Fatalf("SchemaByGUID: %v", err)
			}
			if s.ID != ss.ID || s.GUID != ss.GUID || s.Type != sr.TypeAvro {
				t.Errorf("got %+v, want id %d guid %s", s, ss.ID, ss.GUID)
			}
			if name, err := s.RecordName(nil); name != "com.acme.Order" || err != nil {
				t.Errorf("RecordName: got %q, %v", name, err)
			}
		})
		if n != wantReqs {
			t.Errorf("call %d: got %d requests, want %d", i, n, wantReqs)
		}
	}
	unknown := strings.Repeat("0", 8) + "-0000-4000-8000-" + strings.Repeat("0", 12)
	if _, err := e.reg.SchemaByGUID(ctx, unknown); !errors.Is(err, enforce.ErrUnknownSchema) {
		t.Errorf("unknown guid: got %v, want ErrUnknownSchema", err)
	}
	if n := e.requests(func() { _, _ = e.reg.SchemaByGUID(ctx, unknown) }); n != 0 {
		t.Errorf("unknown guid within the negative TTL: got %d requests, want 0", n)
	}
}

func TestRegistryInvalidIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	n := e.requests(func() {
		for _, id := range []int{0, -1} {
			if _, err := e.reg.SchemaByID(ctx, id); !errors.Is(err, enforce.ErrUnknownSchema) {
				t.Errorf("SchemaByID(%d): got %v, want ErrUnknownSchema", id, err)
			}
			if in, err := e.reg.InSubject(ctx, id, "orders-value"); in || err != nil {
				t.Errorf("InSubject(%d): got %v, %v", id, in, err)
			}
		}
		if _, err := e.reg.SchemaByGUID(ctx, ""); !errors.Is(err, enforce.ErrUnknownSchema) {
			t.Errorf("SchemaByGUID(\"\"): got %v, want ErrUnknownSchema", err)
		}
	})
	if n != 0 {
		t.Errorf("got %d requests for ids that are never valid, want 0", n)
	}
}

func TestRegistryCacheSize(t *testing.T) {
	t.Parallel()
	e := newEnv(t, enforce.WithCacheSize(1))
	ctx := context.Background()
	a := e.srv.Avro(t, "a-value", orderAvro)
	b := e.srv.Avro(t, "b-value", `{"type":"enum","name":"Color","symbols":["RED"]}`)
	for _, id := range []int{a.ID, b.ID, a.ID} {
		if n := e.requests(func() {
			if _, err := e.reg.SchemaByID(ctx, id); err != nil {
				t.Fatalf("SchemaByID(%d): %v", id, err)
			}
		}); n != 1 {
			t.Errorf("SchemaByID(%d) with a one-entry cache: got %d requests, want 1 (evicted)", id, n)
		}
	}
}
