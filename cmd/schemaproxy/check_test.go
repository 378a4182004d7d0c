package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
)

const (
	ordersV1 = `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}`
	ordersV2 = `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"note","type":"string","default":""}]}`
)

// schemaDir writes files (name -> text) into a fresh directory.
func schemaDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckRejectsBadFlags(t *testing.T) {
	t.Parallel()
	dir := schemaDir(t, map[string]string{"orders.avsc": ordersV1})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no directory", []string{"check", "--registry", "http://r:8081"}, "want one directory"},
		{"two directories", []string{"check", "--registry", "http://r:8081", dir, dir}, "got 2 arguments"},
		{"not a directory", []string{"check", "--registry", "http://r:8081", "/nonexistent"}, "is not a directory"},
		{"no registry", []string{"check", dir}, "--registry is required (or --local"},
		{"register without registry", []string{"register", dir}, "--registry is required"},
		{"registry not a url", []string{"check", "--registry", "r:8081", dir}, "is not an http:// or https:// URL"},
		{"bad format", []string{"check", "--registry", "http://r:8081", "--format", "xml", dir}, "--format \"xml\""},
		{"bad strategy", []string{"check", "--registry", "http://r:8081", "--strategy", "subject", dir}, "--strategy \"subject\""},
		{"missing subject map", []string{"check", "--registry", "http://r:8081", "--subject-map", "/nonexistent.yaml", dir}, "--subject-map"},
		{"local without previous", []string{"check", "--local", dir}, "--local needs --previous"},
		{"local with registry", []string{"check", "--local", "--previous", dir, "--registry", "http://r:8081", dir}, "drop --registry"},
		{"compatibility without local", []string{"check", "--registry", "http://r:8081", "--compatibility", "FULL", dir}, "go with --local"},
		{"bad level", []string{"check", "--local", "--previous", dir, "--compatibility", "SIDEWAYS", dir}, "unknown compatibility level"},
		{"bad previous", []string{"check", "--local", "--previous", "no-such-rev-or-dir", dir}, "neither a directory nor a git revision"},
		{"dry run on check", []string{"check", "--dry-run", "--registry", "http://r:8081", dir}, "unknown flag: --dry-run"},
		{"cert without key", []string{"register", "--registry", "https://r:8081", "--registry-tls-cert", "c.pem", dir}, "go together"},
		{"empty directory", []string{"check", "--registry", "http://r:8081", t.TempDir()}, "no schema files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errs := runCmd(tt.args...)
			if code != 2 {
				t.Errorf("exit code: got %d, want 2 (stderr %q)", code, errs)
			}
			if !strings.Contains(errs, tt.want) {
				t.Errorf("stderr: got %q, want it to contain %q", errs, tt.want)
			}
			if out != "" {
				t.Errorf("stdout: got %q, want nothing", out)
			}
		})
	}
}

func TestCheckHelp(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"check", "register"} {
		code, _, errs := runCmd(cmd, "--help")
		if code != 0 || !strings.Contains(errs, "Usage: schemaproxy "+cmd+" [flags] DIR") || !strings.Contains(errs, "--registry") {
			t.Errorf("%s --help: exit %d, stderr %q", cmd, code, errs)
		}
	}
}

// TestCheckExitCodes runs check against srfake: 0 when all is
// compatible, 1 with an incompatible schema, 2 with a syntax error.
func TestCheckExitCodes(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	reg.Avro(t, "orders-value", ordersV1)
	reg.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/compatibility/subjects/payments-value/") {
			w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
			json.NewEncoder(w).Encode(sr.CheckCompatibilityResult{Messages: []string{"field amount changed type"}}) //nolint:errcheck // test fake
			return true
		}
		return false
	})
	ok := schemaDir(t, map[string]string{"orders.avsc": ordersV2})
	incompatible := schemaDir(t, map[string]string{"orders.avsc": ordersV2, "payments.avsc": `"string"`})
	broken := schemaDir(t, map[string]string{"orders.avsc": ordersV2, "payments.avsc": `"string"`, "x/bad.avsc": "{\n\"type\": \"record\",,\n}"})
	tests := []struct {
		dir      string
		format   string
		code     int
		contains []string
	}{
		{ok, "text", 0, []string{"compatible  " + ok + "/orders.avsc  orders-value  compatible with the latest version\n", "1 file: 1 compatible\n"}},
		{incompatible, "text", 1, []string{"INCOMPATIBLE  " + incompatible + "/payments.avsc  payments-value  not compatible with the latest version: field amount changed type\n"}},
		{broken, "text", 2, []string{"ERROR         " + broken + "/x/bad.avsc:2:18", "3 files: 1 compatible, 1 incompatible, 1 error\n"}},
		{broken, "json", 2, []string{`"exit_code": 2`, `"line": 2`}},
		{broken, "junit", 2, []string{`<?xml version="1.0" encoding="UTF-8"?>`, `failures="1" errors="1"`}},
	}
	for _, tt := range tests {
		code, out, errs := runCmd("check", "--registry", reg.URL, "--format", tt.format, tt.dir)
		if code != tt.code {
			t.Errorf("%s (%s): exit code got %d, want %d; stdout:\n%s\nstderr: %s", tt.dir, tt.format, code, tt.code, out, errs)
		}
		for _, c := range tt.contains {
			if !strings.Contains(out, c) {
				t.Errorf("%s (%s): stdout\n%s\nwant it to contain %q", tt.dir, tt.format, out, c)
			}
		}
	}
}

func TestRegisterCommand(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	reg.Avro(t, "orders-value", ordersV1)
	dir := schemaDir(t, map[string]string{"orders.avsc": ordersV2, "orders-key.avsc": `"string"`})

	code, out, errs := runCmd("register", "--dry-run", "--registry", reg.URL, dir)
	if code != 0 || !strings.Contains(out, "2 files: 2 would register") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errs)
	}
	if reg.Fake.SubjectExists("orders-key") {
		t.Fatal("the dry run registered orders-key")
	}

	code, out, errs = runCmd("register", "--registry", reg.URL, dir)
	if code != 0 {
		t.Fatalf("register: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{
		"registered  " + dir + "/orders-key.avsc  orders-key    registered as version 1, id 2\n",
		"registered  " + dir + "/orders.avsc      orders-value  registered as version 2, id 3\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout:\n%s\nwant it to contain %q", out, want)
		}
	}

	code, out, _ = runCmd("register", "--registry", reg.URL, "--format", "json", dir)
	if code != 0 || strings.Count(out, `"status": "unchanged"`) != 2 {
		t.Errorf("again: exit %d, want both unchanged:\n%s", code, out)
	}
}

func TestCheckLocalCommand(t *testing.T) {
	t.Parallel()
	prev := schemaDir(t, map[string]string{"v1/orders.avsc": ordersV1, "v2/orders.avsc": ordersV2})
	cur := schemaDir(t, map[string]string{"orders.avsc": `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}`})
	code, out, errs := runCmd("check", "--local", "--previous", prev, "--compatibility", "forward_transitive", cur)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errs)
	}
	for _, want := range []string{
		"not FORWARD_TRANSITIVE compatible with v1, v2: ",
		"field id changed type from string to long [forward, against v1]",
		"field id changed type from string to long [forward, against v2]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout:\n%s\nwant it to contain %q", out, want)
		}
	}
}
