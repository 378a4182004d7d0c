package metrics

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// docSeries is one series a document names.
type docSeries struct {
	name   string   // with the schemaproxy_ prefix
	labels []string // sorted; nil when the document gives none
	braces bool     // the document gave a {label,...} list, maybe empty
	where  string   // file:line
}

// touchAll gives every labelled family of m that New leaves empty a
// child, so that Gather returns every family.
func touchAll(m *Metrics) {
	m.Request(0)
	m.LocalResponse(18)
	m.ConnectionsActive.WithLabelValues("bootstrap").Inc()
	m.ConnectionsTotal.WithLabelValues("bootstrap").Inc()
	m.Enforce.Validated.WithLabelValues(m.Enforce.Topic("orders"), "accepted").Inc()
	m.Enforce.Rejections.WithLabelValues(m.Enforce.Topic("orders"), "wrong_subject").Inc()
}

// registeredSeries gathers m's schemaproxy_ families, after touchAll.
func registeredSeries(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	touchAll(m)
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "schemaproxy_") {
			out[f.GetName()] = f
		}
	}
	if len(out) == 0 {
		t.Fatal("gathered no schemaproxy_ series")
	}
	return out
}

func labelNames(f *dto.MetricFamily) []string {
	set := map[string]bool{}
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			set[l.GetName()] = true
		}
	}
	names := []string{}
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func splitLabels(s string) []string {
	labels := []string{}
	for l := range strings.SplitSeq(s, ",") {
		if l = strings.TrimSpace(l); l != "" {
			labels = append(labels, l)
		}
	}
	sort.Strings(labels)
	return labels
}

// readmeRE finds schemaproxy_ names in README.md, with their labels when
// they follow in braces.
var readmeRE = regexp.MustCompile(`\bschemaproxy_[a-z0-9_]+(?:\{[a-z0-9_, ]*\})?`)

func readmeSeries(t *testing.T) []docSeries {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []docSeries
	for i, line := range strings.Split(string(b), "\n") {
		for _, m := range readmeRE.FindAllString(line, -1) {
			name, labels, braces := strings.Cut(m, "{")
			ds := docSeries{name: name, braces: braces, where: fmt.Sprintf("README.md:%d", i+1)}
			if braces {
				ds.labels = splitLabels(strings.TrimSuffix(labels, "}"))
			}
			out = append(out, ds)
		}
	}
	return out
}

// docLineRE is a line of a series list in the package's doc comments:
// a tab, the name without its prefix, labels in braces if any, the type.
var docLineRE = regexp.MustCompile(`^\t([a-z][a-z0-9_]*)(\{[a-z0-9_, ]*\})?\s+(counter|gauge|histogram|summary)\b`)

// packageDocSeries returns the series listed in the package doc and in
// the doc of Enforcement, which the package doc defers to.
func packageDocSeries(t *testing.T) []docSeries {
	t.Helper()
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var groups []*ast.CommentGroup
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil {
			groups = append(groups, f.Doc)
		}
		for _, d := range f.Decls {
			if gd, ok := d.(*ast.GenDecl); ok && gd.Tok == token.TYPE {
				for _, s := range gd.Specs {
					if ts := s.(*ast.TypeSpec); ts.Name.Name == "Enforcement" && gd.Doc != nil {
						groups = append(groups, gd.Doc)
					}
				}
			}
		}
	}
	if len(groups) < 2 {
		t.Fatalf("found %d doc comments, want the package doc and Enforcement's", len(groups))
	}
	var out []docSeries
	for _, g := range groups {
		for _, c := range g.List {
			m := docLineRE.FindStringSubmatch(strings.TrimPrefix(c.Text, "//"))
			if m == nil {
				continue
			}
			pos := fset.Position(c.Pos())
			ds := docSeries{name: "schemaproxy_" + m[1], labels: []string{}, braces: true,
				where: fmt.Sprintf("metrics/%s:%d", pos.Filename, pos.Line)}
			if m[2] != "" {
				ds.labels = splitLabels(strings.Trim(m[2], "{}"))
			}
			out = append(out, ds)
		}
	}
	return out
}

// family returns the registered family a documented name stands for:
// itself, or the histogram or summary whose _bucket, _sum or _count it is.
func family(reg map[string]*dto.MetricFamily, name string) *dto.MetricFamily {
	if f, ok := reg[name]; ok {
		return f
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		if f, ok := reg[base]; ok && (f.GetType() == dto.MetricType_HISTOGRAM || (f.GetType() == dto.MetricType_SUMMARY && suffix != "_bucket")) {
			return f
		}
	}
	return nil
}

// TestDocumentedSeriesRegistered checks that every schemaproxy_ series
// README.md or the package doc names is registered, with the labels
// given, and that the package doc lists every registered series.
func TestDocumentedSeriesRegistered(t *testing.T) {
	t.Parallel()
	reg := registeredSeries(t, New())
	pkgDoc := packageDocSeries(t)
	for _, ds := range append(readmeSeries(t), pkgDoc...) {
		f := family(reg, ds.name)
		if f == nil {
			t.Errorf("%s: names %s, which the metrics package does not register", ds.where, ds.name)
			continue
		}
		if got := labelNames(f); ds.braces && !slices.Equal(ds.labels, got) {
			t.Errorf("%s: %s{%s}: got labels {%s} registered", ds.where, ds.name, strings.Join(ds.labels, ","), strings.Join(got, ","))
		}
	}
	listed := map[string]string{}
	for _, ds := range pkgDoc {
		if prev, ok := listed[ds.name]; ok {
			t.Errorf("%s: %s is listed again (first at %s)", ds.where, ds.name, prev)
		}
		listed[ds.name] = ds.where
	}
	for name, f := range reg {
		if _, ok := listed[name]; !ok {
			t.Errorf("%s (%s {%s}) is registered but not listed in the metrics package doc", name,
				strings.ToLower(f.GetType().String()), strings.Join(labelNames(f), ","))
		}
	}
}
