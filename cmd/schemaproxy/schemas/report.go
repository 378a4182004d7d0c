package schemas

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Status is the outcome for one file.
type Status string

// Statuses, in the order summaries list them.
const (
	StatusCompatible    Status = "compatible"     // may become the next version
	StatusNew           Status = "new"            // no earlier version to compare with
	StatusSkipped       Status = "skipped"        // parsed; nothing to compare it with (local checks of non-Avro files)
	StatusRegistered    Status = "registered"     // registered as a new version
	StatusUnchanged     Status = "unchanged"      // already registered under the subject
	StatusWouldRegister Status = "would_register" // --dry-run: compatible and not yet registered
	StatusIncompatible  Status = "incompatible"   // may not become the next version
	StatusError         Status = "error"          // could not be judged: syntax, registry or file error
)

var statusOrder = []Status{StatusCompatible, StatusNew, StatusSkipped, StatusRegistered, StatusUnchanged,
	StatusWouldRegister, StatusIncompatible, StatusError}

// exitCode is what s contributes to the exit code: 1 for incompatible,
// 2 for an error, else 0.
func (s Status) exitCode() int {
	switch s {
	case StatusIncompatible:
		return 1
	case StatusError:
		return 2
	}
	return 0
}

// Result is the outcome for one file.
type Result struct {
	File    string   `json:"file"`             // the path shown: the directory as given, joined with File.Path
	Line    int      `json:"line,omitempty"`   // of a syntax error
	Column  int      `json:"column,omitempty"` // of a syntax error
	Type    string   `json:"type,omitempty"`   // AVRO, PROTOBUF or JSON
	Subject string   `json:"subject,omitempty"`
	Status  Status   `json:"status"`
	Version int      `json:"version,omitempty"` // registered, unchanged
	ID      int      `json:"id,omitempty"`      // registered, unchanged
	Detail  string   `json:"detail"`            // one line on what happened
	Reasons []string `json:"reasons,omitempty"` // why incompatible, or the error
}

// Report is the outcome of one check or register run.
type Report struct {
	Command string // "check" or "register", for titles
	Results []Result
}

// ExitCode is 2 if any file could not be judged, else 1 if any is
// incompatible, else 0.
func (r *Report) ExitCode() int {
	code := 0
	for _, res := range r.Results {
		code = max(code, res.Status.exitCode())
	}
	return code
}

// Counts returns how many results have each status.
func (r *Report) Counts() map[Status]int {
	c := make(map[Status]int)
	for _, res := range r.Results {
		c[res.Status]++
	}
	return c
}

// Summary reads like "4 files: 2 compatible, 1 new, 1 incompatible".
func (r *Report) Summary() string {
	c := r.Counts()
	parts := []string{}
	for _, s := range statusOrder {
		if n := c[s]; n > 0 {
			label := strings.ReplaceAll(string(s), "_", " ")
			if s == StatusError && n > 1 {
				label = "errors"
			}
			parts = append(parts, fmt.Sprintf("%d %s", n, label))
		}
	}
	files := "files"
	if len(r.Results) == 1 {
		files = "file"
	}
	return fmt.Sprintf("%d %s: %s", len(r.Results), files, strings.Join(parts, ", "))
}

// Formats are the output formats Write knows.
var Formats = []string{"text", "json", "junit"}

// Write writes r in format (text, json or junit).
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case "text":
		return r.WriteText(w)
	case "json":
		return r.WriteJSON(w)
	case "junit":
		return r.WriteJUnit(w)
	}
	return fmt.Errorf("format %q: want text, json or junit", format)
}

// location is a result's file with the line and column of a syntax error.
func (res *Result) location() string {
	loc := res.File
	if res.Line > 0 {
		loc += ":" + strconv.Itoa(res.Line)
		if res.Column > 0 {
			loc += ":" + strconv.Itoa(res.Column)
		}
	}
	return loc
}

// message is the detail with the reasons: one line.
func (res *Result) message() string {
	if len(res.Reasons) == 0 {
		return res.Detail
	}
	return res.Detail + ": " + strings.Join(res.Reasons, "; ")
}

// WriteText writes one aligned line per file, then the summary:
//
//	compatible    schemas/orders.avsc    orders-value    compatible with the latest version
//	INCOMPATIBLE  schemas/pay.avsc       pay-value       not compatible with the latest version: field amount changed type from int to string
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, res := range r.Results {
		status := strings.ReplaceAll(string(res.Status), "_", " ")
		if res.Status.exitCode() > 0 {
			status = strings.ToUpper(status)
		}
		subject := res.Subject
		if subject == "" {
			subject = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", status, res.location(), subject, oneLine(res.message()))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, r.Summary())
	return err
}

// oneLine keeps multi-line messages (a registry's, a parser's) on one
// line, and tabs out of the columns.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// jsonReport is the JSON form of a Report.
type jsonReport struct {
	Command  string         `json:"command"`
	Results  []Result       `json:"results"`
	Summary  map[Status]int `json:"summary"`
	Files    int            `json:"files"`
	ExitCode int            `json:"exit_code"`
}

// WriteJSON writes one JSON object: the command, a result per file, the
// count per status, and the exit code.
func (r *Report) WriteJSON(w io.Writer) error {
	results := r.Results
	if results == nil {
		results = []Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(jsonReport{Command: r.Command, Results: results, Summary: r.Counts(), Files: len(r.Results), ExitCode: r.ExitCode()})
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes JUnit XML, as CI systems read test reports: one test
// case per file (named by the file, classed by the subject), a failure
// per incompatible file, an error per file that could not be judged.
func (r *Report) WriteJUnit(w io.Writer) error {
	name := "schemaproxy " + r.Command
	suite := junitSuite{Name: name, Tests: len(r.Results)}
	for _, res := range r.Results {
		c := junitCase{Name: res.File, Classname: res.Subject, File: res.File, Line: res.Line}
		if c.Classname == "" {
			c.Classname = name
		}
		p := &junitProblem{Message: oneLine(res.message()), Type: string(res.Status), Text: strings.Join(res.Reasons, "\n")}
		switch res.Status {
		case StatusIncompatible:
			c.Failure = p
			suite.Failures++
		case StatusError:
			c.Error = p
			suite.Errors++
		case StatusSkipped:
			c.Skipped = &junitProblem{Message: res.Detail}
			suite.Skipped++
		default:
			c.SystemOut = oneLine(res.message())
		}
		suite.Cases = append(suite.Cases, c)
	}
	doc := junitSuites{Name: name, Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors,
		Skipped: suite.Skipped, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
