package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// TestDemoSmoke runs "schemaproxy demo --smoke" on free ports in each
// mode: the valid event must land, the unframed one be rejected, and the
// cut-off one be rejected in mode payload and land in mode id, with exit
// code 0.
func TestDemoSmoke(t *testing.T) {
	t.Parallel()
	for mode, cutOff := range map[string]string{
		"payload": `rejected with INVALID_RECORD, as it should be`,
		"id":      `accepted: mode id checks the schema ID only \(--mode payload rejects it\)`,
	} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			listen, _ := proxytest.FreePorts(t, 3)
			metricsAddr, _ := proxytest.FreePorts(t, 0)
			registryAddr, _ := proxytest.FreePorts(t, 0)
			var stdout, stderr syncBuffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			code := run(ctx, []string{"demo", "--smoke", "--mode", mode, "--listen", listen, "--metrics-listen", metricsAddr,
				"--registry-listen", registryAddr, "--log-level", "warn"}, &stdout, &stderr)
			if code != 0 {
				t.Fatalf("exit code: got %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
			}
			for _, want := range []*regexp.Regexp{
				regexp.MustCompile(`(?m)^valid event    \(Avro, schema id 1\): landed in memory\.created\[[0-2]\] at offset 0; read back from the brokers: event_id evt-\w+$`),
				regexp.MustCompile(`(?m)^invalid event  \(JSON, no schema id\):  rejected with INVALID_RECORD, as it should be$`),
				regexp.MustCompile(`(?m)^cut-off event  \(Avro, schema id 1, last 8 bytes missing\): ` + cutOff + `$`),
				regexp.MustCompile(`(?m)^smoke test passed$`),
			} {
				if !want.MatchString(stdout.String()) {
					t.Errorf("stdout:\n%s\nwant a line matching %s", stdout.String(), want)
				}
			}
		})
	}
}

// TestDemoRuns starts the demo until cancelled: the registry answers with
// the example subject on its own port, the banner names every address,
// and the registry checks Avro compatibility as a real one does.
func TestDemoRuns(t *testing.T) {
	t.Parallel()
	listen, _ := proxytest.FreePorts(t, 3)
	metricsAddr, _ := proxytest.FreePorts(t, 0)
	registryAddr, _ := proxytest.FreePorts(t, 0)
	cmd := startCmd(t, "demo", "--listen", listen, "--metrics-listen", metricsAddr,
		"--registry-listen", registryAddr, "--log-level", "warn")
	ctx, stdout, stderr := cmd.ctx, &cmd.stdout, &cmd.stderr
	proxytest.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(stdout.String(), "Ctrl-C stops it.") {
			return fmt.Errorf("no banner yet; stderr: %s", stderr.String())
		}
		return nil
	})
	for _, want := range []string{
		"bootstrap (point clients here)  " + listen,
		"schema registry                 http://" + registryAddr,
		"metrics                         http://" + metricsAddr + "/metrics",
		"subjects                        memory.created-value (id 1, from examples/schemas/memory.created.avsc)",
		"schemaproxy check --registry http://" + registryAddr + " examples/schemas",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("banner:\n%s\nwant it to contain %q", stdout.String(), want)
		}
	}

	cl, err := sr.NewClient(sr.URLs("http://" + registryAddr))
	if err != nil {
		t.Fatal(err)
	}
	subjects, err := cl.Subjects(ctx)
	if err != nil || len(subjects) != 1 || subjects[0] != "memory.created-value" {
		t.Errorf("registry subjects: got %v, %v, want [memory.created-value]", subjects, err)
	}
	// The demo registry judges Avro compatibility (BACKWARD): srfake alone
	// would call anything compatible.
	bad := sr.Schema{Schema: `{"type":"record","name":"MemoryCreated","namespace":"com.agent_orchestration.memory","fields":[{"name":"event_id","type":"long"}]}`}
	res, err := cl.CheckCompatibility(ctx, "memory.created-value", -1, bad)
	if err != nil || res.Is || len(res.Messages) == 0 || !strings.Contains(res.Messages[0], "field event_id changed type from string to long") {
		t.Errorf("compatibility of an incompatible schema: got %+v, %v", res, err)
	}
	if _, err := cl.CreateSchema(ctx, "memory.created-value", bad); err == nil || !strings.Contains(err.Error(), "incompatible") {
		t.Errorf("registering an incompatible schema: got %v, want a 409", err)
	}
	if _, err := cl.CheckCompatibility(ctx, "nope-value", -1, bad); err == nil {
		t.Error("compatibility against an unknown subject: want 40401")
	}
	if code, _, err := get("http://" + metricsAddr + "/readyz"); err != nil || code != http.StatusOK {
		t.Errorf("readyz: got %d, %v", code, err)
	}

	cmd.stop(t)
}
