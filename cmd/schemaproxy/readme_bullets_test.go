package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// readmeSections are the README sections whose bullets are promises: each
// bullet opens with a bold label, and each label has a test.
var readmeSections = []string{"### What is checked", "### What a producer sees", "## What the proxy guarantees"}

// bulletLabel is a bullet that opens with a bold label.
var bulletLabel = regexp.MustCompile(`^- \*\*([^*]+)\*\*`)

// readmeLabels returns the bold label of every bullet in section, failing
// on a bullet that has none.
func readmeLabels(t *testing.T, readme, section string) []string {
	t.Helper()
	var labels []string
	in := false
	for line := range strings.Lines(readme) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, "#") {
			if in {
				break
			}
			in = line == section
			continue
		}
		if !in || !strings.HasPrefix(line, "- ") {
			continue
		}
		m := bulletLabel.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("%s: bullet %q has no bold label", section, line)
			continue
		}
		labels = append(labels, m[1])
	}
	if !in && labels == nil {
		t.Errorf("README has no section %q", section)
	}
	return labels
}

// readmeTestName is the test a bullet's label names: TestReadme and the
// label's words, each with its first letter in capitals ("acks=0" ->
// TestReadmeAcks0, "Ordering and backpressure" ->
// TestReadmeOrderingAndBackpressure, "TLS" -> TestReadmeTLS).
func readmeTestName(label string) string {
	var b strings.Builder
	b.WriteString("TestReadme")
	words := strings.FieldsFunc(label, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for _, w := range words {
		r, n := utf8.DecodeRuneInString(w)
		b.WriteRune(unicode.ToUpper(r))
		b.WriteString(w[n:])
	}
	return b.String()
}

func TestReadmeTestName(t *testing.T) {
	t.Parallel()
	for label, want := range map[string]string{
		"Batches":                                "TestReadmeBatches",
		"Ordering and backpressure":              "TestReadmeOrderingAndBackpressure",
		"acks=0":                                 "TestReadmeAcks0",
		"TLS":                                    "TestReadmeTLS",
		"Idempotent and transactional producers": "TestReadmeIdempotentAndTransactionalProducers",
	} {
		if got := readmeTestName(label); got != want {
			t.Errorf("readmeTestName(%q): got %q, want %q", label, got, want)
		}
	}
}

// TestReadmeBulletsHaveTests: every behaviour bullet of README has a test
// named after its label, somewhere in the repository, so that a reader
// can go from a promise to the test that keeps it.
func TestReadmeBulletsHaveTests(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	testFunc := regexp.MustCompile(`(?m)^func (TestReadme\w+)\(`)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			rel, _ := filepath.Rel(root, path)
			if rel == ".cache" || rel == filepath.Join("bench", "out") || (rel != "." && strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range testFunc.FindAllSubmatch(src, -1) {
			defined[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, section := range readmeSections {
		for _, label := range readmeLabels(t, string(readme), section) {
			n++
			if name := readmeTestName(label); !defined[name] {
				t.Errorf("README %s: bullet **%s** has no test: want func %s( in a _test.go file", section, label, name)
			}
		}
	}
	if n == 0 {
		t.Errorf("found no labelled bullets in README")
	}
}
