package schemas

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/schemaproxy/schemaproxy/enforce/compat"
	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// golden compares got with testdata/name.golden, or rewrites the file
// with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}

// writeGoldens checks every output format of rep against
// testdata/<name>.<format>.golden.
func writeGoldens(t *testing.T, name string, rep *Report) {
	t.Helper()
	for _, format := range Formats {
		var b bytes.Buffer
		if err := rep.Write(&b, format); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if format == "json" && !json.Valid(b.Bytes()) {
			t.Errorf("json output is not valid JSON:\n%s", b.String())
		}
		golden(t, name+"."+format, b.Bytes())
	}
}

func readText(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Confluent's verbose answer to an incompatible schema, as
// schema-registry 7.x returns it from the compatibility endpoint.
var confluentIncompatible = sr.CheckCompatibilityResult{
	Is: false,
	Messages: []string{
		"{errorType:'TYPE_MISMATCH', description:'The type (path '/fields/1/type') of a field in the new schema does not match with the old schema', additionalInfo:'reader type: STRING not compatible with writer type: INT'}",
		"{oldSchemaVersion: 1}",
		`{oldSchema: '{"type":"record","name":"Payment","namespace":"com.example.payments","fields":[{"name":"id","type":"string"},{"name":"amount","type":"int"}]}'}`,
		"{validateFields: 'false', compatibility: 'BACKWARD'}",
	},
}

func respond(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body) //nolint:errcheck // test fake
}

// registryLike makes srfake answer compatibility checks as Confluent's
// registry does where srfake does not: 404 40401 for a subject it does
// not know, the verdicts in answers by subject, and 409 on registration
// for the subjects in refuse.
func registryLike(reg *enforcetest.Registry, answers map[string]func(http.ResponseWriter), refuse map[string]bool) srfake.Interceptor {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost {
			return false
		}
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		switch {
		case len(parts) >= 4 && parts[0] == "compatibility" && parts[1] == "subjects":
			subject := parts[2]
			if answer, ok := answers[subject]; ok {
				answer(w)
				return true
			}
			if !reg.Fake.SubjectExists(subject) {
				respond(w, http.StatusNotFound, sr.ResponseError{ErrorCode: 40401, Message: "Subject '" + subject + "' not found."})
				return true
			}
		case len(parts) == 3 && parts[0] == "subjects" && parts[2] == "versions" && refuse[parts[1]]:
			respond(w, http.StatusConflict, sr.ResponseError{ErrorCode: 409,
				Message: "Schema being registered is incompatible with an earlier schema for subject \"" + parts[1] + "\", details: [Incompatibility{type:MESSAGE_REMOVED}]"})
			return true
		}
		return false
	}
}

// scenario seeds a registry for the testdata/tree files: orders-value
// holds an older Order (or, with current, this very one), payments-value
// an int amount the file makes a string, stock-value an older Stock;
// orders-key does not exist. The registry finds payments incompatible
// and user.schema.json invalid.
func scenario(t *testing.T, current bool, refuse map[string]bool) *enforcetest.Registry {
	t.Helper()
	reg := enforcetest.NewRegistry(t)
	orders := `{"type":"record","name":"Order","namespace":"com.example.orders","fields":[{"name":"id","type":"string"},{"name":"amount","type":"long"}]}`
	if current {
		orders = readText(t, "testdata/tree/orders.avsc")
	}
	reg.Avro(t, "orders-value", orders)
	reg.Avro(t, "payments-value", `{"type":"record","name":"Payment","namespace":"com.example.payments","fields":[{"name":"id","type":"string"},{"name":"amount","type":"int"}]}`)
	reg.Protobuf(t, "stock-value", "syntax = \"proto3\";\npackage com.example.inventory;\n\nmessage Stock {\n  string sku = 1;\n}\n")
	reg.SetFault(registryLike(reg, map[string]func(http.ResponseWriter){
		"payments-value": func(w http.ResponseWriter) { respond(w, http.StatusOK, confluentIncompatible) },
		"user-value": func(w http.ResponseWriter) {
			respond(w, http.StatusUnprocessableEntity, sr.ResponseError{ErrorCode: 42201, Message: "Invalid schema {subject=user-value,version=0}: unsupported draft"})
		},
	}, refuse))
	return reg
}

func TestRunCheckGolden(t *testing.T) {
	t.Parallel()
	reg := scenario(t, false, nil)
	rep, err := Run(context.Background(), os.DirFS("testdata/tree"), "schemas", Options{Mode: ModeCheck, Client: reg.Client})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.ExitCode(); got != 2 {
		t.Errorf("exit code: got %d, want 2 (a syntax error and an invalid schema)", got)
	}
	writeGoldens(t, "check", rep)
}

func TestRunRegisterGolden(t *testing.T) {
	t.Parallel()
	reg := scenario(t, true, map[string]bool{"stock-value": true})
	rep, err := Run(context.Background(), os.DirFS("testdata/tree"), "schemas", Options{Mode: ModeRegister, Client: reg.Client})
	if err != nil {
		t.Fatal(err)
	}
	writeGoldens(t, "register", rep)

	// Only the compatible new subject was registered.
	if ss, ok := reg.Fake.GetSchema("orders-key", 1); !ok || ss.ID != 4 {
		t.Errorf("orders-key version 1: got %+v, %v, want id 4", ss, ok)
	}
	if _, ok := reg.Fake.GetSchema("payments-value", 2); ok {
		t.Error("the incompatible payments schema was registered")
	}
	if _, ok := reg.Fake.GetSchema("orders-value", 2); ok {
		t.Error("the unchanged orders schema was registered again")
	}
}

func TestRunRegisterDryRun(t *testing.T) {
	t.Parallel()
	reg := scenario(t, false, nil)
	rep, err := Run(context.Background(), os.DirFS("testdata/tree"), "schemas", Options{Mode: ModeRegister, Client: reg.Client, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	counts := rep.Counts()
	if counts[StatusWouldRegister] != 3 || counts[StatusRegistered] != 0 {
		t.Errorf("got %v, want 3 would_register (orders-value, orders-key, stock-value) and none registered", counts)
	}
	for _, subject := range []string{"orders-key"} {
		if reg.Fake.SubjectExists(subject) {
			t.Errorf("dry run created %s", subject)
		}
	}
	if _, ok := reg.Fake.GetSchema("orders-value", 2); ok {
		t.Error("dry run registered orders-value version 2")
	}
}

func TestRunLocalGolden(t *testing.T) {
	t.Parallel()
	prev, err := PreviousSources(context.Background(), "testdata/local/current", []string{"testdata/local/previous"})
	if err != nil {
		t.Fatal(err)
	}
	if len(prev) != 2 || prev[0].Label != "v1" || prev[1].Label != "v2" {
		t.Fatalf("previous sources: got %+v, want v1 and v2", prev)
	}
	for _, level := range []compat.Level{compat.Backward, compat.BackwardTransitive, compat.FullTransitive} {
		rep, err := Run(context.Background(), os.DirFS("testdata/local/current"), "schemas", Options{Mode: ModeLocal, Level: level, Previous: prev})
		if err != nil {
			t.Fatal(err)
		}
		if level == compat.BackwardTransitive {
			writeGoldens(t, "local", rep)
			continue
		}
		var b bytes.Buffer
		rep.WriteText(&b) //nolint:errcheck // bytes.Buffer
		golden(t, "local-"+strings.ToLower(string(level))+".text", b.Bytes())
	}
}

// TestRegistryAnswers runs one compatible-looking file against every
// kind of registry answer.
func TestRegistryAnswers(t *testing.T) {
	t.Parallel()
	fail := func(status, code int, msg string) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) { respond(w, status, sr.ResponseError{ErrorCode: code, Message: msg}) }
	}
	tests := []struct {
		name       string
		answer     func(http.ResponseWriter) // nil: srfake's own
		status     Status
		detail     string
		reasonPart string
	}{
		{"compatible", nil, StatusCompatible, "compatible with the latest version", ""},
		{"verbose incompatible", func(w http.ResponseWriter) { respond(w, http.StatusOK, confluentIncompatible) },
			StatusIncompatible, "not compatible with the latest version", "The type (path '/fields/1/type') of a field in the new schema does not match with the old schema (reader type: STRING not compatible with writer type: INT); checked against version 1; compatibility level BACKWARD"},
		{"incompatible without reasons", func(w http.ResponseWriter) { respond(w, http.StatusOK, sr.CheckCompatibilityResult{}) },
			StatusIncompatible, "not compatible with the latest version", "the registry gave no reason"},
		{"409", fail(http.StatusConflict, 409, "Schema being registered is incompatible with an earlier schema"),
			StatusIncompatible, "not compatible with the latest version", "incompatible with an earlier schema"},
		{"42201", fail(http.StatusUnprocessableEntity, 42201, "Invalid schema"),
			StatusError, "could not check", "the registry refused the schema as invalid: Invalid schema"},
		{"40401", fail(http.StatusNotFound, 40401, "Subject 'x-value' not found."), StatusNew, "new subject: no version to compare with", ""},
		{"40402", fail(http.StatusNotFound, 40402, "Version latest not found."), StatusNew, "new subject: no version to compare with", ""},
		{"500", fail(http.StatusInternalServerError, 50001, "Error in the backend data store"),
			StatusError, "could not check", "compatibility check: registry answered HTTP 500 (error 50001): Error in the backend data store"},
		{"401", fail(http.StatusUnauthorized, 401, "Unauthorized"),
			StatusError, "could not check", "(check --registry-user / --registry-token-file)"},
	}
	fsys := os.DirFS("testdata/tree")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := enforcetest.NewRegistry(t)
			if tt.answer != nil {
				reg.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
					if strings.HasPrefix(r.URL.Path, "/compatibility/") {
						tt.answer(w)
						return true
					}
					return false
				})
			}
			f := &File{Path: "orders.avsc", Type: sr.TypeAvro, Text: readText(t, "testdata/tree/orders.avsc")}
			if err := Parse(fsys, f); err != nil {
				t.Fatal(err)
			}
			res := Result{Subject: "orders-value"}
			checkRegistry(context.Background(), reg.Client, time.Second, f, &res)
			if res.Status != tt.status || res.Detail != tt.detail {
				t.Errorf("got %s %q, want %s %q", res.Status, res.Detail, tt.status, tt.detail)
			}
			if got := strings.Join(res.Reasons, "; "); !strings.Contains(got, tt.reasonPart) || (tt.reasonPart == "") != (got == "") {
				t.Errorf("reasons: got %q, want them to contain %q", got, tt.reasonPart)
			}
		})
	}
}

func TestRegistryTimeoutAndUnreachable(t *testing.T) {
	t.Parallel()
	f := &File{Path: "k.avsc", Type: sr.TypeAvro, Text: `"string"`}

	reg := enforcetest.NewRegistry(t)
	reg.SetFault(func(_ http.ResponseWriter, r *http.Request) bool {
		// net/http notices a client hanging up only once the body is read.
		io.Copy(io.Discard, r.Body) //nolint:errcheck // test fake
		<-r.Context().Done()
		return true
	})
	res := Result{Subject: "k-value"}
	checkRegistry(context.Background(), reg.Client, 50*time.Millisecond, f, &res)
	if res.Status != StatusError || !strings.Contains(strings.Join(res.Reasons, ""), "did not answer within 50ms") {
		t.Errorf("hanging registry: got %s %q", res.Status, res.Reasons)
	}

	cl, err := sr.NewClient(sr.URLs("http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	res = Result{Subject: "k-value"}
	register(context.Background(), cl, time.Second, f, &res, false)
	if res.Status != StatusError || !strings.Contains(strings.Join(res.Reasons, ""), "schema lookup: registry unreachable") {
		t.Errorf("unreachable registry: got %s %q", res.Status, res.Reasons)
	}
}

func TestRegisterRefusedAsInvalid(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	reg.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && r.URL.Path == "/subjects/k-value/versions" {
			respond(w, http.StatusUnprocessableEntity, sr.ResponseError{ErrorCode: 42201, Message: "Either the input schema or one its references is invalid"})
			return true
		}
		return false
	})
	f := &File{Path: "k.avsc", Type: sr.TypeAvro, Text: `"string"`}
	res := Result{Subject: "k-value"}
	register(context.Background(), reg.Client, time.Second, f, &res, false)
	if res.Status != StatusError || res.Detail != "not registered: the registry refused the schema as invalid" {
		t.Errorf("got %s %q %q", res.Status, res.Detail, res.Reasons)
	}
}

func TestRunSetupErrors(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	ctx := context.Background()
	if _, err := Run(ctx, os.DirFS("testdata/local/previous"), "p", Options{Mode: ModeCheck}); err == nil {
		t.Error("no client: want an error")
	}
	if _, err := Run(ctx, os.DirFS(t.TempDir()), "empty", Options{Mode: ModeCheck, Client: reg.Client}); err == nil || !strings.Contains(err.Error(), "no schema files") {
		t.Errorf("empty directory: got %v", err)
	}
	o := Options{Mode: ModeCheck, Client: reg.Client, Namer: Namer{Map: map[string]string{"nope.avsc": "x"}}}
	if _, err := Run(ctx, os.DirFS("testdata/tree"), "t", o); err == nil || !strings.Contains(err.Error(), "nope.avsc") {
		t.Errorf("unused map entry: got %v", err)
	}
}

// TestRunDuplicateSubjects refuses two files naming one subject.
func TestRunDuplicateSubjects(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	o := Options{Mode: ModeCheck, Client: reg.Client, Namer: Namer{Map: map[string]string{"orders-key.avsc": "orders-value"}}}
	rep, err := Run(context.Background(), os.DirFS("testdata/tree"), "t", o)
	if err != nil {
		t.Fatal(err)
	}
	dups := 0
	for _, res := range rep.Results {
		if res.Detail == "subject named by more than one file" {
			dups++
		}
	}
	if dups != 2 {
		t.Errorf("got %d files flagged, want 2", dups)
	}
}
