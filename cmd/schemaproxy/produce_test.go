package main

import (
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestProduceStdin produces the lines of standard input through the
// demo's proxy: one line per record, each refused on its own with the
// proxy's reason, and exit code 1.
func TestProduceStdin(t *testing.T) {
	t.Parallel()
	bin := buildSchemaproxy(t)
	demo, listen := startDemo(t, 3)
	cmd := exec.CommandContext(demo.ctx, bin, "produce", "--bootstrap", listen, "--topic", "memory.created")
	cmd.Stdin = strings.NewReader("first\nsecond\n")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("got %v, want exit code 1; output:\n%s", err, out)
	}
	want := regexp.MustCompile(`^refused memory\.created\[\d+\]: INVALID_RECORD: schemaproxy: .*value starts with byte 0x66, .*\(no_schema_id\)
refused memory\.created\[\d+\]: INVALID_RECORD: schemaproxy: .*value starts with byte 0x73, .*\(no_schema_id\)
$`)
	if !want.Match(out) {
		t.Errorf("output:\n%s\nwant it to match %s", out, want)
	}
	demo.stop(t)
}
