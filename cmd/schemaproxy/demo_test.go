package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
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

// startDemo runs "schemaproxy demo" with args on free ports until the end
// of the test, and returns it and its bootstrap address once it has
// printed its banner.
func startDemo(t *testing.T, brokers int, args ...string) (*cmdRun, string) {
	t.Helper()
	listen, _ := proxytest.FreePorts(t, brokers)
	metricsAddr, _ := proxytest.FreePorts(t, 0)
	registryAddr, _ := proxytest.FreePorts(t, 0)
	cmd := startCmd(t, append([]string{"demo", "--listen", listen, "--metrics-listen", metricsAddr,
		"--registry-listen", registryAddr, "--log-level", "warn"}, args...)...)
	proxytest.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(cmd.stdout.String(), "Ctrl-C stops it.") {
			return fmt.Errorf("no banner yet; stderr: %s", cmd.stderr.String())
		}
		return nil
	})
	return cmd, listen
}

// tryCommand is one command of the demo's "Try:" block and the comment
// above it.
type tryCommand struct{ comment, line string }

// tryBlock returns the commands of the "Try:" block in a demo banner, in
// order.
func tryBlock(t *testing.T, banner string) []tryCommand {
	t.Helper()
	_, block, ok := strings.Cut(banner, "\nTry:\n")
	if !ok {
		t.Fatalf("banner:\n%s\nwant a Try: block", banner)
	}
	block, _, _ = strings.Cut(block, "\n\n")
	var cmds []tryCommand
	comment := ""
	for _, l := range strings.Split(block, "\n") {
		l = strings.TrimSpace(l)
		if c, ok := strings.CutPrefix(l, "# "); ok {
			comment = c
			continue
		}
		if comment == "" {
			t.Errorf("Try: command %q has no comment above it", l)
		}
		cmds = append(cmds, tryCommand{comment, l})
		comment = ""
	}
	return cmds
}

// buildSchemaproxy builds this command once into a temporary directory
// and returns the binary's path.
func buildSchemaproxy(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "schemaproxy")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runTry runs one Try: line from the repository's root, as a newcomer
// would after "make demo", with schemaproxy's own command replaced by
// bin. The curl line is run by curl when the machine has it, else
// fetched and filtered here as curl and grep -E would. It returns the
// exit code and what the command printed.
func runTry(t *testing.T, bin, line string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if rest, ok := strings.CutPrefix(line, selfCommand()+" "); ok {
		line = bin + " " + rest
	} else if _, err := exec.LookPath("curl"); err != nil {
		m := regexp.MustCompile(`^curl -s (\S+) \| grep -E '([^']+)'$`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("no curl on this machine, and %q is not a curl | grep -E line to stand in for", line)
		}
		_, body, err := get(m[1])
		if err != nil {
			return 7, err.Error()
		}
		pattern := regexp.MustCompile(m[2])
		var out []string
		for _, l := range strings.Split(body, "\n") {
			if pattern.MatchString(l) {
				out = append(out, l)
			}
		}
		if len(out) == 0 {
			return 1, ""
		}
		return 0, strings.Join(out, "\n") + "\n"
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", line)
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	case err != nil:
		t.Fatalf("%s: %v", line, err)
	}
	return 0, string(out)
}

// tryWant is what one Try: command must do.
type tryWant struct {
	cmd  string // a regexp matching the command line, after schemaproxy's own command
	code int    // its exit code
	out  string // a regexp its output must match
	// check, when not nil, checks the output further.
	check func(t *testing.T, out string)
}

// TestDemoTryLines starts the demo in each mode, takes the "Try:" block
// it printed and runs every command in it in order, with schemaproxy built
// once: each must do what its comment says (exit code, landed or refused,
// and why); no command may be printed that the test does not know, and
// none it expects may be missing.
func TestDemoTryLines(t *testing.T) {
	t.Parallel()
	bin := buildSchemaproxy(t)
	landedRE := regexp.MustCompile(`(?m)^landed  (memory\.created\[\d+\] offset \d+) \(\d+ bytes\)$`)
	for _, mode := range []string{"payload", "id"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			demo, _ := startDemo(t, 3, "--mode", mode)
			var landed []string // "memory.created[p] offset o" of each record produce said landed
			noteLanded := func(t *testing.T, out string) {
				landed = append(landed, landedRE.FindStringSubmatch(out)[1])
			}
			cut := tryWant{cmd: `^produce --bootstrap \S+ --topic memory\.created --registry \S+ --example --cut 8$`, code: 1,
				out: `(?m)^refused memory\.created\[\d+\]: INVALID_RECORD: schemaproxy: memory\.created\[\d+\] record 0: value does not match schema id 1: .+ \(payload_invalid\)$`}
			accepted, rejections := 1, `(?m)^schemaproxy_rejections_total\{reason="payload_invalid",topic="memory\.created"\} 1$`
			if mode == "id" {
				cut = tryWant{cmd: cut.cmd, code: 0, out: landedRE.String(), check: noteLanded}
				accepted, rejections = 2, `(?m)^schemaproxy_rejections_total\{reason="no_schema_id",topic="memory\.created"\} 1$`
			}
			wants := []tryWant{
				{cmd: `^produce --bootstrap \S+ --topic memory\.created --registry \S+ --example$`, code: 0, out: landedRE.String(), check: noteLanded},
				{cmd: `^produce --bootstrap \S+ --topic memory\.created --value '\{"not":"avro"\}'$`, code: 1,
					out: `(?m)^refused memory\.created\[\d+\]: INVALID_RECORD: schemaproxy: memory\.created\[\d+\] record 0: value starts with byte 0x7b, .*plain JSON.* \(no_schema_id\)$`},
				cut,
				{cmd: `^consume --bootstrap \S+ --topic memory\.created --from-beginning --timeout 3s$`, code: 0,
					out: `(?m)^memory\.created\[\d+\] offset \d+: schema id 1, \d+ bytes: "[^"]{1,4}evt-`,
					check: func(t *testing.T, out string) {
						// Exactly the records produce said landed, and nothing refused.
						var got []string
						for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
							where, _, _ := strings.Cut(l, ":")
							got = append(got, where)
						}
						slices.Sort(got)
						want := slices.Sorted(slices.Values(landed))
						if !slices.Equal(got, want) {
							t.Errorf("consumed %v, want the records that landed: %v", got, want)
						}
					}},
				{cmd: `^check --registry \S+ examples/schemas$`, code: 0, out: `(?m)^1 file: 1 compatible$`},
				{cmd: `^check --registry \S+ examples/evolution/incompatible$`, code: 1, out: `(?m)^INCOMPATIBLE .* field user_id is no longer nullable`},
				{cmd: `^register --dry-run --registry \S+ examples/evolution/compatible$`, code: 0, out: `(?m)^1 file: 1 would register$`},
				{cmd: `^check --local --previous examples/schemas examples/evolution/incompatible$`, code: 1, out: `(?m)^INCOMPATIBLE .* not BACKWARD compatible with examples/schemas`},
				{cmd: `^curl -s http://\S+/metrics \| grep -E '\^schemaproxy_\(records_validated\|rejections\)_total'$`, code: 0,
					out: fmt.Sprintf(`(?m)^schemaproxy_records_validated_total\{result="accepted",topic="memory\.created"\} %d$`, accepted),
					check: func(t *testing.T, out string) {
						if !regexp.MustCompile(rejections).MatchString(out) {
							t.Errorf("metrics:\n%s\nwant a line matching %s", out, rejections)
						}
					}},
			}

			seen := make([]bool, len(wants))
			for _, c := range tryBlock(t, demo.stdout.String()) {
				rest := strings.TrimPrefix(c.line, selfCommand()+" ")
				i := slices.IndexFunc(wants, func(w tryWant) bool { return regexp.MustCompile(w.cmd).MatchString(rest) })
				if i < 0 {
					t.Errorf("Try: command %q is not one the test knows", c.line)
					continue
				}
				seen[i] = true
				w := wants[i]
				code, out := runTry(t, bin, c.line)
				if code != w.code {
					t.Errorf("%s\nexit code: got %d, want %d; output:\n%s", c.line, code, w.code, out)
				}
				// What the comment promises, where it says it.
				if m := regexp.MustCompile(`exit code (\d+)`).FindStringSubmatch(c.comment); m != nil && m[1] != strconv.Itoa(code) {
					t.Errorf("%s\ncomment %q, but the exit code was %d", c.line, c.comment, code)
				}
				if strings.Contains(c.comment, "lands") != (w.code == 0 && strings.HasPrefix(rest, "produce")) ||
					strings.Contains(c.comment, "refused:") != (w.code == 1 && strings.HasPrefix(rest, "produce")) {
					t.Errorf("%s\ncomment %q does not say what happened (exit code %d)", c.line, c.comment, code)
				}
				if !regexp.MustCompile(w.out).MatchString(out) {
					t.Errorf("%s\noutput:\n%s\nwant a line matching %s", c.line, out, w.out)
					continue
				}
				if w.check != nil {
					w.check(t, out)
				}
			}
			for i, ok := range seen {
				if !ok {
					t.Errorf("Try: block:\n%s\nhas no command matching %s", demo.stdout.String(), wants[i].cmd)
				}
			}
			demo.stop(t)
		})
	}
}

// TestDemoFlags starts the demo with --brokers, --topics and --schemas
// and reads what it built through the proxy and from its registry: as
// many brokers as asked, each node N served at the listen port + 1 + N;
// the --topics and one topic per <topic>-value subject, 3 partitions
// each; and the subjects of the --schemas files instead of the examples.
func TestDemoFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	orders := `{"type":"record","name":"Order","namespace":"com.shop","fields":[{"name":"id","type":"string"}]}`
	for name, text := range map[string]string{"orders.avsc": orders, "orders-key.avsc": `"string"`} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		brokers  int // what --brokers says, or the default of 3 when the flag is left out
		args     []string
		topics   []string
		subjects []string
	}{
		{"defaults", 3, nil, []string{"memory.created"}, []string{"memory.created-value"}},
		{"one broker and two topics", 1, []string{"--brokers", "1", "--topics", "a,b"}, []string{"a", "b", "memory.created"}, []string{"memory.created-value"}},
		{"own schemas", 2, []string{"--brokers", "2", "--schemas", dir}, []string{"orders"}, []string{"orders-key", "orders-value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			demo, listen := startDemo(t, tt.brokers, tt.args...)
			_, port, _ := net.SplitHostPort(listen)
			listenPort, _ := strconv.Atoi(port)

			cl, err := kgo.NewClient(kgo.SeedBrokers(listen))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			meta, err := kmsg.NewPtrMetadataRequest().RequestWith(demo.ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			var brokers, wantBrokers []string
			for _, b := range meta.Brokers {
				brokers = append(brokers, fmt.Sprintf("%d@%s:%d", b.NodeID, b.Host, b.Port))
			}
			for n := range tt.brokers {
				wantBrokers = append(wantBrokers, fmt.Sprintf("%d@127.0.0.1:%d", n, listenPort+1+n))
			}
			slices.Sort(brokers)
			if !slices.Equal(brokers, wantBrokers) {
				t.Errorf("brokers in Metadata: got %v, want %v", brokers, wantBrokers)
			}
			var topics []string
			for _, mt := range meta.Topics {
				topics = append(topics, *mt.Topic)
				if len(mt.Partitions) != 3 {
					t.Errorf("topic %s: got %d partitions, want 3", *mt.Topic, len(mt.Partitions))
				}
			}
			slices.Sort(topics)
			if !slices.Equal(topics, tt.topics) {
				t.Errorf("topics in Metadata: got %v, want %v", topics, tt.topics)
			}

			registry := regexp.MustCompile(`schema registry +(\S+)`).FindStringSubmatch(demo.stdout.String())
			if registry == nil {
				t.Fatalf("banner:\n%s\nnames no registry", demo.stdout.String())
			}
			rc, err := sr.NewClient(sr.URLs(registry[1]))
			if err != nil {
				t.Fatal(err)
			}
			subjects, err := rc.Subjects(demo.ctx)
			slices.Sort(subjects)
			if err != nil || !slices.Equal(subjects, tt.subjects) {
				t.Errorf("registry subjects: got %v, %v, want %v", subjects, err, tt.subjects)
			}
			demo.stop(t)
		})
	}
}
