package proxy

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// hasHostField reports whether t, or any struct reachable from it through
// fields, slices and pointers, has a string field named Host.
func hasHostField(t reflect.Type, seen map[reflect.Type]bool) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return false
	}
	seen[t] = true
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == "Host" && f.Type.Kind() == reflect.String {
			return true
		}
		if hasHostField(f.Type, seen) {
			return true
		}
	}
	return false
}

// TestEveryHostFieldIsHandled guards against a kmsg upgrade adding a
// response that names brokers without the proxy rewriting it: every
// response type with a Host field must have a rewriter, be listed in
// notRewritten with a reason, or be inter-broker (never carried).
func TestEveryHostFieldIsHandled(t *testing.T) {
	t.Parallel()
	found := 0
	for k := int16(0); k < 1000; k++ {
		resp := kmsg.ResponseForKey(k)
		if resp == nil || !hasHostField(reflect.TypeOf(resp), map[reflect.Type]bool{}) {
			continue
		}
		found++
		switch {
		case rewriterFor(k) != nil:
		case notRewritten[k] != "":
		case interBroker[k]:
		default:
			t.Errorf("%s (key %d) response has a Host field but is neither rewritten, nor listed as not rewritten, nor inter-broker", kmsg.NameForKey(k), k)
		}
	}
	// Metadata, FindCoordinator, DescribeCluster, Produce, Fetch and the
	// share APIs at least: a reflection walk that finds fewer is broken.
	if found < 7 {
		t.Errorf("found %d responses with host fields, want at least 7", found)
	}
	for _, k := range []int16{keyMetadata, keyFindCoordinator, keyDescribeCluster, keyProduce, keyFetch, keyShareFetch, keyShareAcknowledge} {
		if rewriterFor(k) == nil {
			t.Errorf("%s has no rewriter", kmsg.NameForKey(k))
		}
	}
	for k := range notRewritten {
		if rewriterFor(k) != nil {
			t.Errorf("%s is both rewritten and listed as not rewritten", kmsg.NameForKey(k))
		}
	}
}
