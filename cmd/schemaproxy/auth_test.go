package main

import (
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// TestRegistryCredentials checks the Authorization header the registry
// receives from serve (looking up a produced record's schema) and from
// check, for each way of giving credentials. It sets environment
// variables, so it does not run in parallel.
func TestRegistryCredentials(t *testing.T) {
	secrets := t.TempDir()
	file := func(name, text string) string {
		p := filepath.Join(secrets, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	passFile := file("password", "s3cret\n")
	tokenFile := file("token", "tok-from-file\n")
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
	tests := []struct {
		name  string
		flags []string
		env   map[string]string
		want  string
	}{
		{"user and password file", []string{"--registry-user", "alice", "--registry-password-file", passFile}, nil, basic},
		{"user and password env", []string{"--registry-user", "alice"}, map[string]string{envRegistryPassword: "s3cret"}, basic},
		{"token file", []string{"--registry-token-file", tokenFile}, nil, "Bearer tok-from-file"},
		{"token env", nil, map[string]string{envRegistryToken: "tok-from-env"}, "Bearer tok-from-env"},
		{"none", nil, nil, ""},
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dir := schemaDir(t, map[string]string{"orders.avsc": ordersV1})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			reg := enforcetest.NewRegistry(t)
			id := reg.Avro(t, "t-value", `"string"`).ID
			var mu sync.Mutex
			var seen []string
			reg.SetFault(func(_ http.ResponseWriter, r *http.Request) bool {
				mu.Lock()
				seen = append(seen, r.Header.Get("Authorization"))
				mu.Unlock()
				return false
			})
			check := func(cmd string) {
				t.Helper()
				mu.Lock()
				defer mu.Unlock()
				if len(seen) == 0 {
					t.Errorf("%s: the registry saw no request", cmd)
				}
				for _, got := range seen {
					if got != tt.want {
						t.Errorf("%s: registry saw Authorization %q, want %q", cmd, got, tt.want)
					}
				}
				seen = nil
			}

			listen, _ := proxytest.FreePorts(t, 2)
			args := append([]string{"serve", "--listen", listen, "--metrics-listen", "", "--upstream", c.ListenAddrs()[0],
				"--registry", reg.URL}, tt.flags...)
			cmd := startCmd(t, args...)
			proxytest.Eventually(t, 10*time.Second, func() error { return accepts(listen) })
			if err := produce(context.Background(), t, listen, enforcetest.Value(id, []byte{2, 'x'})); err != nil {
				t.Errorf("serve: produce got %v, want it accepted", err)
			}
			cmd.stop(t)
			check("serve")

			if code, out, errs := runCmd(append(append([]string{"check", "--registry", reg.URL}, tt.flags...), dir)...); code != 0 {
				t.Errorf("check: exit code %d, want 0\n%s%s", code, out, errs)
			}
			check("check")
		})
	}
}

// produce produces value to topic t through the proxy at addr.
func produce(ctx context.Context, t *testing.T, addr string, value []byte) error {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr()
}

// accepts reports whether something accepts a connection at addr.
func accepts(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}
