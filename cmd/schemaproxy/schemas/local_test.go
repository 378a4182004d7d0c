package schemas

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/schemaproxy/schemaproxy/enforce/compat"
)

// TestLocalGitRevisions checks the previous versions of files read from
// git revisions, the way CI compares a branch with its base.
func TestLocalGitRevisions(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	repo := t.TempDir()
	dir := filepath.Join(repo, "schemas")
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q")
	write("sub/orders.avsc", `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"value","type":"long"}]}`)
	git("add", ".")
	git("commit", "-q", "-m", "v1")
	write("sub/orders.avsc", `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}`)
	write("fresh.avsc", `{"type":"record","name":"Fresh","fields":[]}`)

	prev, err := PreviousSources(context.Background(), dir, []string{"HEAD"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), os.DirFS(dir), "schemas", Options{Mode: ModeLocal, Level: compat.Forward, Previous: prev})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.WriteText(&b) //nolint:errcheck // strings.Builder
	want := "new           schemas/fresh.avsc       fresh-value   no previous version to compare with\n" +
		"INCOMPATIBLE  schemas/sub/orders.avsc  orders-value  not FORWARD compatible with HEAD: field value removed without a default (readers of the old schema need a value for it) [forward, against HEAD]\n" +
		"2 files: 1 new, 1 incompatible\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}

	if _, err := PreviousSources(context.Background(), dir, []string{"no-such-rev"}); err == nil || !strings.Contains(err.Error(), "neither a directory nor a git revision") {
		t.Errorf("unknown revision: got %v", err)
	}
}

// TestLocalPreviousDirs covers --previous given several times, oldest
// first, and a previous version that does not parse.
func TestLocalPreviousDirs(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write := func(rel, text string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("old/a.avsc", `{"type":"enum","name":"E","symbols":["A","B"]}`)
	write("newer/a.avsc", `{"type":"enum","name":"E","symbols":["A","B","C"]}`)
	write("bad/a.avsc", `{"type":"enum","name":"E"}`)
	write("cur/a.avsc", `{"type":"enum","name":"E","symbols":["A","C"]}`)

	ctx := context.Background()
	prev, err := PreviousSources(ctx, filepath.Join(root, "cur"), []string{filepath.Join(root, "old"), filepath.Join(root, "newer")})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(ctx, os.DirFS(filepath.Join(root, "cur")), "cur", Options{Mode: ModeLocal, Level: compat.BackwardTransitive, Previous: prev})
	if err != nil {
		t.Fatal(err)
	}
	res := rep.Results[0]
	if res.Status != StatusIncompatible || len(res.Reasons) != 2 ||
		!strings.HasPrefix(res.Reasons[0], "enum symbol B removed (old data may hold it") || !strings.HasSuffix(res.Reasons[0], "old]") ||
		!strings.HasPrefix(res.Reasons[1], "enum symbol B removed (old data may hold it") || !strings.HasSuffix(res.Reasons[1], "newer]") {
		t.Errorf("got %s %q, want B removed against old and against newer", res.Status, res.Reasons)
	}

	prev, err = PreviousSources(ctx, root, []string{filepath.Join(root, "bad")})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = Run(ctx, os.DirFS(filepath.Join(root, "cur")), "cur", Options{Mode: ModeLocal, Level: compat.Backward, Previous: prev})
	if err != nil {
		t.Fatal(err)
	}
	if res := rep.Results[0]; res.Status != StatusError || res.Detail != "the previous version does not parse" {
		t.Errorf("unparsable previous version: got %s %q", res.Status, res.Detail)
	}
}
