package enforce

import (
	"strings"
	"testing"

	"github.com/schemaproxy/schemaproxy/enforce/payload"
)

// TestOnceCompile: a validator constructor runs once however often the
// validator is asked for, and a panic in it becomes an error.
func TestOnceCompile(t *testing.T) {
	t.Parallel()
	calls := 0
	s := &Schema{ID: 9, compile: onceCompile(func() (payload.Validator, error) {
		calls++
		panic("index out of range")
	})}
	for range 3 {
		v, err := s.Validator()
		if v != nil || err == nil || !strings.Contains(err.Error(), "panicked: index out of range") {
			t.Fatalf("got %v, %v; want an error naming the panic", v, err)
		}
	}
	if calls != 1 {
		t.Errorf("constructor ran %d times, want 1", calls)
	}
	if _, err := (&Schema{ID: 3}).Validator(); err == nil {
		t.Error("a schema built without a parser: got no error")
	}
}
