package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// documented lists every command whose flags README.md documents, with
// a function that defines the flags it parses (on a config of its own, so
// parallel tests share nothing). Each command's flags are
// in one or more README tables whose header row is
//
//	| flag | meaning | default |
//
// and which belong to the commands named as `schemaproxy CMD` on the
// nearest line above that says "flags (...)" (any case), with no heading
// in between: "## Flags (`schemaproxy serve`, the default command)",
// "Flags (`schemaproxy check`, `schemaproxy register`):".
var documented = []struct {
	cmd    string
	define func(*pflag.FlagSet)
}{
	{"serve", func(fs *pflag.FlagSet) { new(serveConfig).flags(fs) }},
	{"demo", func(fs *pflag.FlagSet) { new(demoConfig).flags(fs) }},
	{"check", func(fs *pflag.FlagSet) { (&schemaConfig{cmd: "check"}).flags(fs) }},
	{"register", func(fs *pflag.FlagSet) { (&schemaConfig{cmd: "register"}).flags(fs) }},
	{"produce", func(fs *pflag.FlagSet) { new(produceConfig).flags(fs) }},
	{"consume", func(fs *pflag.FlagSet) { new(consumeConfig).flags(fs) }},
}

// defaultWords are the words a README default column may hold instead
// of a `literal`, each with the flag defaults (pflag's DefValue) it
// stands for: the zero value, which the command reads as what the word
// says.
var defaultWords = map[string][]string{
	"required":              {"", "[]"},          // the command refuses to run without it
	"off":                   {"", "false", "[]"}, // a feature left disabled
	"none":                  {"", "[]"},          // nothing given
	"plaintext":             {""},                // --tls-cert unset: listeners without TLS
	"system roots":          {""},                // no CA file: the system's trust store
	"the host dialed":       {""},                // no server name: the broker's host
	"host of `--listen`":    {""},                // serve --advertised-host
	"listen port + 1":       {"0"},               // serve --broker-port-base
	"built-in default":      {""},                // serve --policy unset: the default policy
	"the embedded examples": {""},                // demo --schemas unset
	"BACKWARD":              {""},                // check --compatibility unset: BACKWARD under --local
}

// docFlag is one flag as a README table documents it.
type docFlag struct {
	name string // without "--"
	def  string // the default column, trimmed
	line int    // 1-based line in README.md
}

var (
	flagsLineRE = regexp.MustCompile(`(?i)\bflags \(([^)]*)\)`)
	commandRE   = regexp.MustCompile("`schemaproxy ([a-z][a-z-]*)`")
	codeSpanRE  = regexp.MustCompile("`([^`]*)`")
)

// readmeFlags parses README.md's flag tables into the flags each command
// documents. Anything that breaks the convention is an error.
func readmeFlags(readme string) (map[string][]docFlag, []error) {
	flags := map[string][]docFlag{}
	var errs []error
	var scope []string // commands of the latest flags line since the last heading
	lines := strings.Split(readme, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if strings.HasPrefix(line, "#") {
			scope = nil
		}
		if m := flagsLineRE.FindStringSubmatch(line); m != nil {
			if cmds := commandRE.FindAllStringSubmatch(m[1], -1); len(cmds) > 0 {
				scope = nil
				for _, c := range cmds {
					scope = append(scope, c[1])
				}
			}
		}
		if !isFlagHeader(line) {
			continue
		}
		header := i + 1
		if len(scope) == 0 {
			errs = append(errs, fmt.Errorf("README.md:%d: flag table with no \"Flags (`schemaproxy CMD`)\" line above it since the last heading", header))
		}
		i += 2 // the header and the |---| row
		for ; i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "|"); i++ {
			cells := splitRow(lines[i])
			if len(cells) != 3 {
				errs = append(errs, fmt.Errorf("README.md:%d: flag table row has %d cells, want 3 (flag, meaning, default)", i+1, len(cells)))
				continue
			}
			var names []string
			for _, m := range codeSpanRE.FindAllStringSubmatch(cells[0], -1) {
				if name, ok := strings.CutPrefix(m[1], "--"); ok {
					name, _, _ = strings.Cut(name, " ")
					names = append(names, name)
				}
			}
			if len(names) == 0 {
				errs = append(errs, fmt.Errorf("README.md:%d: flag column %q names no `--flag`", i+1, cells[0]))
			}
			for _, cmd := range scope {
				for _, n := range names {
					flags[cmd] = append(flags[cmd], docFlag{name: n, def: cells[2], line: i + 1})
				}
			}
		}
		i-- // the line that ended the table may be a heading or a flags line
	}
	return flags, errs
}

func isFlagHeader(line string) bool {
	cells := splitRow(line)
	return len(cells) == 3 && cells[0] == "flag" && cells[1] == "meaning" && cells[2] == "default"
}

// splitRow returns the trimmed cells of a Markdown table row; an escaped
// \| stays inside its cell.
func splitRow(line string) []string {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "|") {
		return nil
	}
	line = strings.ReplaceAll(line, `\|`, "\x00")
	cells := strings.Split(strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|"), "|")
	for i, c := range cells {
		cells[i] = strings.TrimSpace(strings.ReplaceAll(c, "\x00", "|"))
	}
	return cells
}

// checkDefault compares a README default column with a flag's default.
func checkDefault(col string, fl *pflag.Flag) error {
	if strings.HasPrefix(col, "`") {
		lit := codeSpanRE.FindStringSubmatch(col)[1]
		def := fl.DefValue
		if strings.HasPrefix(def, "[") && strings.HasSuffix(def, "]") {
			def = def[1 : len(def)-1] // slices: [a,b]
		}
		if lit != def {
			return fmt.Errorf("default column says %q, the flag's default is %q", lit, def)
		}
		return nil
	}
	// A word may be followed by what it means here: "none (a null key)".
	word, _, _ := strings.Cut(col, " (")
	want, ok := defaultWords[word]
	if !ok {
		return fmt.Errorf("default column %q is neither a `literal` nor one of defaultWords (the flag's default is %q)", col, fl.DefValue)
	}
	if !slices.Contains(want, fl.DefValue) {
		return fmt.Errorf("default column %q stands for a default of %q, the flag's default is %q", col, want, fl.DefValue)
	}
	return nil
}

// TestREADMEFlags checks README.md's flag tables against each command's
// flags: the same names both ways, and the same defaults.
func TestREADMEFlags(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	docs, errs := readmeFlags(string(b))
	for _, err := range errs {
		t.Error(err)
	}
	known := map[string]bool{}
	for _, d := range documented {
		known[d.cmd] = true
		t.Run(d.cmd, func(t *testing.T) {
			t.Parallel()
			fs := pflag.NewFlagSet(d.cmd, pflag.ContinueOnError)
			d.define(fs)
			if len(docs[d.cmd]) == 0 {
				t.Fatalf("README.md has no flag table for `schemaproxy %s`", d.cmd)
			}
			seen := map[string]int{}
			for _, df := range docs[d.cmd] {
				if prev, ok := seen[df.name]; ok {
					t.Errorf("README.md:%d: %s --%s is documented again (first at line %d)", df.line, d.cmd, df.name, prev)
					continue
				}
				seen[df.name] = df.line
				fl := fs.Lookup(df.name)
				if fl == nil {
					t.Errorf("README.md:%d: `schemaproxy %s` has no flag --%s", df.line, d.cmd, df.name)
					continue
				}
				if err := checkDefault(df.def, fl); err != nil {
					t.Errorf("README.md:%d: %s --%s: %v", df.line, d.cmd, df.name, err)
				}
			}
			fs.VisitAll(func(fl *pflag.Flag) {
				if _, ok := seen[fl.Name]; !ok && !fl.Hidden {
					t.Errorf("%s --%s (default %q) is missing from README.md's flag tables for `schemaproxy %s`", d.cmd, fl.Name, fl.DefValue, d.cmd)
				}
			})
		})
	}
	for cmd, dfs := range docs {
		if !known[cmd] {
			t.Errorf("README.md:%d: flag table for `schemaproxy %s`, which is not in documented", dfs[0].line, cmd)
		}
	}
}

// TestDocumentedCommands checks that documented covers every command the
// usage text lists (besides help), and that each entry defines the flags
// the command itself parses, as its --help lists them.
func TestDocumentedCommands(t *testing.T) {
	t.Parallel()
	var listed []string
	_, cmds, _ := strings.Cut(usage, "Commands:\n")
	for _, line := range strings.Split(cmds, "\n") {
		if f := strings.Fields(line); strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") && len(f) > 0 && f[0] != "help" {
			listed = append(listed, f[0])
		}
	}
	if len(listed) == 0 {
		t.Fatalf("found no commands in the usage text:\n%s", usage)
	}
	var have []string
	for _, d := range documented {
		have = append(have, d.cmd)
	}
	for _, c := range listed {
		if !slices.Contains(have, c) {
			t.Errorf("command %s is in the usage text but not in documented: add it, and a flag table for it to README.md", c)
		}
	}
	for _, c := range have {
		if !slices.Contains(listed, c) {
			t.Errorf("documented lists %s, which the usage text does not", c)
		}
	}

	helpFlag := regexp.MustCompile(`^\s+(?:-\w, )?--([a-z0-9-]+)`)
	for _, d := range documented {
		t.Run(d.cmd, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			if code := run(context.Background(), []string{d.cmd, "--help"}, &out, &errb); code != 0 {
				t.Fatalf("%s --help: exit code %d, want 0", d.cmd, code)
			}
			var help []string
			for _, line := range strings.Split(out.String()+errb.String(), "\n") {
				if m := helpFlag.FindStringSubmatch(line); m != nil {
					help = append(help, m[1])
				}
			}
			fs := pflag.NewFlagSet(d.cmd, pflag.ContinueOnError)
			d.define(fs)
			var defined []string
			fs.VisitAll(func(fl *pflag.Flag) {
				if !fl.Hidden {
					defined = append(defined, fl.Name)
				}
			})
			for _, n := range help {
				if !slices.Contains(defined, n) {
					t.Errorf("%s --help lists --%s, which documented's flag definition for %s lacks", d.cmd, n, d.cmd)
				}
			}
			for _, n := range defined {
				if !slices.Contains(help, n) {
					t.Errorf("documented's flag definition for %s has --%s, which %s --help does not list", d.cmd, n, d.cmd)
				}
			}
		})
	}
}
