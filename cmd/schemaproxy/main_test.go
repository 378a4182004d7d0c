package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestServeRejectsBadFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no upstream", []string{"serve"}, "--upstream is required"},
		{"wildcard listen", []string{"--upstream", "k:9092", "--listen", "0.0.0.0:9192"}, "set --advertised-host"},
		{"bad listen", []string{"--upstream", "k:9092", "--listen", "nope"}, "not HOST:PORT"},
		{"bad upstream", []string{"--upstream", "k"}, "is not HOST:PORT"},
		{"cert without key", []string{"--upstream", "k:9092", "--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{"client ca without tls", []string{"--upstream", "k:9092", "--tls-client-ca", "ca.pem"}, "mTLS is only possible on a TLS listener"},
		{"upstream cert without key", []string{"--upstream", "k:9092", "--upstream-tls-cert", "c.pem"}, "--upstream-tls-cert and --upstream-tls-key go together"},
		{"missing cert file", []string{"--upstream", "k:9092", "--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"}, "no such file"},
		{"tiny max request", []string{"--upstream", "k:9092", "--max-request-bytes", "1000"}, "below the"},
		{"bad log level", []string{"--upstream", "k:9092", "--log-level", "loud"}, "--log-level"},
		{"bad log format", []string{"--upstream", "k:9092", "--log-format", "xml"}, "--log-format"},
		{"port base out of range", []string{"--upstream", "k:9092", "--broker-port-base", "70000"}, "not a TCP port"},
		{"unknown flag", []string{"--upstreams", "k:9092"}, "unknown flag"},
		{"stray argument", []string{"serve", "--upstream", "k:9092", "extra"}, "unexpected argument"},
		{"unknown command", []string{"serv"}, "unknown command"},
		{"policy without registry", []string{"--upstream", "k:9092", "--policy", "p.yaml"}, "--policy needs --registry"},
		{"registry not a url", []string{"--upstream", "k:9092", "--registry", "localhost:8081"}, "is not an http:// or https:// URL"},
		{"registry cert without key", []string{"--upstream", "k:9092", "--registry", "http://r:8081", "--registry-tls-cert", "c.pem"}, "--registry-tls-cert and --registry-tls-key go together"},
		{"password file without user", []string{"--upstream", "k:9092", "--registry", "http://r:8081", "--registry-password-file", "p"}, "needs --registry-user"},
		{"produce without topic", []string{"produce", "--value", "v"}, "--topic is required"},
		{"produce example and value", []string{"produce", "--topic", "t", "--example", "--registry", "http://r:8081", "--value", "v"}, "give one"},
		{"produce example without registry", []string{"produce", "--topic", "t", "--example"}, "--example needs --registry"},
		{"produce registry not a url", []string{"produce", "--topic", "t", "--example", "--registry", "r:8081"}, "is not an http:// or https:// URL"},
		{"produce negative cut", []string{"produce", "--topic", "t", "--value", "v", "--cut", "-1"}, "--cut -1"},
		{"produce cut past the value", []string{"produce", "--topic", "t", "--value", "v", "--cut", "2", "--bootstrap", "127.0.0.1:1"}, "--cut 2 is longer than value 1 (1 bytes)"},
		{"consume without topic", []string{"consume"}, "--topic is required"},
		{"consume negative max", []string{"consume", "--topic", "t", "--max", "-1"}, "--max -1"},
		{"consume zero timeout", []string{"consume", "--topic", "t", "--timeout", "0s"}, "--timeout must be positive"},
		{"password file without user in check", []string{"check", "--registry", "http://r:8081", "--registry-password-file", "p", "."}, "needs --registry-user"},
		{"user and token in check", []string{"check", "--registry", "http://r:8081", "--registry-user", "u", "--registry-token-file", "t", "."}, "not both"},
		{"missing policy file", []string{"--upstream", "k:9092", "--registry", "http://r:8081", "--policy", "/nonexistent/policy.yaml", "--metrics-listen", ""}, "--policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errb)
			if code != 2 {
				t.Errorf("exit code: got %d, want 2 (stderr %q)", code, errb.String())
			}
			if !strings.Contains(errb.String(), tt.want) {
				t.Errorf("stderr: got %q, want it to contain %q", errb.String(), tt.want)
			}
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"serve", "--help"}, {"demo", "--help"}, {"produce", "--help"}, {"consume", "--help"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 0 {
			t.Errorf("%v: exit code got %d, want 0", args, code)
		}
		if out.Len()+errb.Len() == 0 {
			t.Errorf("%v: printed nothing", args)
		}
	}
}

// TestRegistryFlagsNeedRegistry gives each --registry-* flag, in turn,
// without --registry: serve, and check --local, refuse every one of them
// at start with one sentence naming it and exit code 2. The flags come
// from the flag sets, so a new one is covered without editing the test.
func TestRegistryFlagsNeedRegistry(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	registryFlags := func(define func(*pflag.FlagSet)) []*pflag.Flag {
		fs := pflag.NewFlagSet("", pflag.ContinueOnError)
		define(fs)
		var out []*pflag.Flag
		fs.VisitAll(func(f *pflag.Flag) {
			if strings.HasPrefix(f.Name, "registry-") {
				out = append(out, f)
			}
		})
		return out
	}
	value := func(f *pflag.Flag) string {
		switch f.Value.Type() {
		case "duration", "int":
			return f.DefValue // even the default, when given, is refused
		}
		return "x"
	}
	type cmdline struct {
		name   string
		flags  []*pflag.Flag
		args   func(flag, val string) []string
		reason string
	}
	var serveCfg serveConfig
	checkCfg := schemaConfig{cmd: "check"}
	cmds := []cmdline{
		{"serve", registryFlags(serveCfg.flags), func(f, v string) []string {
			return []string{"serve", "--upstream", "k:9092", "--metrics-listen", "", "--" + f, v}
		}, "records are checked against a schema registry"},
		{"check --local", registryFlags(checkCfg.flags), func(f, v string) []string {
			return []string{"check", "--local", "--previous", dir, "--" + f, v, dir}
		}, "--local checks without a registry"},
	}
	for _, c := range cmds {
		if len(c.flags) < 7 {
			t.Fatalf("%s: found %d --registry-* flags, want at least 7", c.name, len(c.flags))
		}
		for _, f := range c.flags {
			t.Run(c.name+"/"+f.Name, func(t *testing.T) {
				t.Parallel()
				// A flag wrongly accepted starts serve; the deadline stops it.
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				var out, errb bytes.Buffer
				code := run(ctx, c.args(f.Name, value(f)), &out, &errb)
				if code != 2 {
					t.Errorf("exit code: got %d, want 2 (stderr %q)", code, errb.String())
				}
				want := "--" + f.Name + " needs --registry: " + c.reason + "\n"
				if !strings.HasSuffix(errb.String(), want) || strings.Count(errb.String(), "\n") != 1 {
					t.Errorf("stderr: got %q, want one line ending %q", errb.String(), want)
				}
			})
		}
	}
}
