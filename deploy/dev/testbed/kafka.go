package testbed

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Mode is the kind of client listener a broker has.
type Mode string

// The broker modes of kafka.sh start --mode.
const (
	Plaintext Mode = "plaintext" // PLAINTEXT
	SASL      Mode = "sasl"      // SASL_PLAINTEXT with SCRAM-SHA-512 and PLAIN
	SSL       Mode = "ssl"       // SSL, server authentication only
)

// Security is how a client connects: the harnesses' --security value.
type Security string

// The values of the harnesses' --security flag.
const (
	SecPlaintext Security = "plaintext"
	SecSCRAM512  Security = "sasl-scram512"
	SecPlain     Security = "sasl-plain"
	SecSSL       Security = "ssl"
)

// User is a SASL user known to a [SASL] broker under both mechanisms.
type User struct {
	Name     string
	Password string
}

// The users kafka.sh creates in sasl mode.
var (
	Alice = User{Name: "alice", Password: "alice-secret"} // for clients
	Admin = User{Name: "admin", Password: "admin-secret"} // inter-broker
)

// Kafka is a running single-node broker started by kafka.sh.
type Kafka struct {
	Mode      Mode
	Bootstrap string // host:port of the client listener
	Dir       string // kafka.sh --dir: server.properties, server.log, data/
	CAFile    string // PEM of the CA that signed the broker; SSL mode only
	Users     []User // SASL mode only: Alice, then Admin
}

// StartKafka starts a broker in mode with its files in dir (created if
// missing) and returns once it answers a Metadata request. The broker runs
// until [Kafka.Stop], or until this process is gone: kafka.sh watches it, so
// a test binary that panics or times out leaves no broker behind.
func StartKafka(ctx context.Context, dir string, mode Mode) (*Kafka, error) {
	dev, err := devDir()
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	if err := runScript(ctx, filepath.Join(dev, "kafka.sh"), "start", "--dir", dir, "--mode", string(mode),
		"--owner", strconv.Itoa(os.Getpid())); err != nil {
		return nil, fmt.Errorf("starting %s broker: %w", mode, err)
	}
	bootstrap, err := os.ReadFile(filepath.Join(dir, "bootstrap"))
	if err != nil {
		return nil, fmt.Errorf("starting %s broker: %w", mode, err)
	}
	k := &Kafka{Mode: mode, Bootstrap: strings.TrimSpace(string(bootstrap)), Dir: dir}
	switch mode {
	case SSL:
		k.CAFile = filepath.Join(dir, "ca.pem")
	case SASL:
		k.Users = []User{Alice, Admin}
	}
	if err := k.ping(ctx); err != nil {
		stopErr := k.Stop(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("%s broker at %s started but does not answer: %w (stop: %v)", mode, k.Bootstrap, err, stopErr)
	}
	return k, nil
}

// StartKafkaT starts a broker in mode for one test, in a directory of
// t.TempDir, and stops it when the test ends. It fails the test if the
// broker does not start. Prefer one broker per package (TestMain) where
// tests can share it: a start costs seconds.
func StartKafkaT(t testing.TB, mode Mode) *Kafka {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	k, err := StartKafka(ctx, t.TempDir(), mode)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := k.Stop(ctx); err != nil {
			t.Errorf("stopping the %s broker: %v", mode, err)
		}
	})
	return k
}

// ping asks for metadata over the broker's own security, proving that the
// listener, TLS and SASL all work before any test relies on them.
func (k *Kafka) ping(ctx context.Context) error {
	opts, err := k.GoOpts(k.DefaultSecurity())
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(k.Bootstrap))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

// Stop stops the broker (SIGTERM, SIGKILL after 30 s) and leaves its files.
func (k *Kafka) Stop(ctx context.Context) error {
	dev, err := devDir()
	if err != nil {
		return err
	}
	return runScript(ctx, filepath.Join(dev, "kafka.sh"), "stop", "--dir", k.Dir)
}

// Restart stops the broker and starts it again from its directory: same
// address, credentials, certificates and data. For tests of what clients and
// the proxy do while a broker goes away and comes back.
func (k *Kafka) Restart(ctx context.Context) error {
	if err := k.Stop(ctx); err != nil {
		return err
	}
	dev, err := devDir()
	if err != nil {
		return err
	}
	if err := runScript(ctx, filepath.Join(dev, "kafka.sh"), "start", "--dir", k.Dir, "--reuse",
		"--owner", strconv.Itoa(os.Getpid())); err != nil {
		return fmt.Errorf("restarting %s broker: %w", k.Mode, err)
	}
	return k.ping(ctx)
}

// DefaultSecurity is the client security the broker's listener expects:
// SCRAM-SHA-512 for [SASL] (PLAIN works too).
func (k *Kafka) DefaultSecurity() Security {
	switch k.Mode {
	case SASL:
		return SecSCRAM512
	case SSL:
		return SecSSL
	default:
		return SecPlaintext
	}
}

// Flags returns the harness flags for connecting with sec, without
// --bootstrap: --security, plus --ca-file or --username/--password.
func (k *Kafka) Flags(sec Security) []string {
	f := []string{"--security", string(sec)}
	switch sec {
	case SecSSL:
		if k.CAFile != "" {
			f = append(f, "--ca-file", k.CAFile)
		}
	case SecSCRAM512, SecPlain:
		f = append(f, "--username", Alice.Name, "--password", Alice.Password)
	}
	return f
}

// GoOpts returns the franz-go options for connecting with sec, without seed
// brokers.
func (k *Kafka) GoOpts(sec Security) ([]kgo.Opt, error) {
	return securityOpts(sec, k.CAFile, Alice.Name, Alice.Password)
}

func securityOpts(sec Security, caFile, user, pass string) ([]kgo.Opt, error) {
	switch sec {
	case SecPlaintext, "":
		return nil, nil
	case SecSCRAM512:
		return []kgo.Opt{kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism())}, nil
	case SecPlain:
		return []kgo.Opt{kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism())}, nil
	case SecSSL:
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return nil, err
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("no certificate in %s", caFile)
			}
		}
		return []kgo.Opt{kgo.DialTLSConfig(cfg)}, nil
	default:
		return nil, fmt.Errorf("%w: --security %q", ErrUnknownFlag, sec)
	}
}

// Setup installs the named pieces of the test bed (all, kafka, java, python,
// node; none means all) with deploy/dev/setup.sh. Up-to-date pieces cost a
// hash comparison each; a fresh cache takes a minute or two.
func Setup(ctx context.Context, pieces ...string) error {
	dev, err := devDir()
	if err != nil {
		return err
	}
	return runScript(ctx, filepath.Join(dev, "setup.sh"), pieces...)
}

// runScript runs a deploy/dev script and folds its output into the error.
func runScript(ctx context.Context, script string, args ...string) error {
	cmd := exec.CommandContext(ctx, script, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(script), strings.Join(args, " "), err, tail(out.Bytes(), 4096))
	}
	return nil
}

// tail returns the last n bytes of b, starting at a line.
func tail(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	b = b[len(b)-n:]
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return string(b)
}
