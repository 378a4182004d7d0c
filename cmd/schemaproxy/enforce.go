package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/metrics"
)

// Environment variables that may hold registry secrets instead of files,
// so secrets never appear in a process listing.
const (
	envRegistryPassword = "SCHEMAPROXY_REGISTRY_PASSWORD"
	envRegistryToken    = "SCHEMAPROXY_REGISTRY_TOKEN"
)

// enforceConfig is the schema-enforcement part of the serve command line.
type enforceConfig struct {
	Registry             []string
	RegistryUser         string
	RegistryPasswordFile string
	RegistryTokenFile    string
	RegistryCA           string
	RegistryCert         string
	RegistryKey          string
	RegistryTimeout      time.Duration
	RegistryMaxInFlight  int
	LookupsPerRequest    int
	LookupsPerConnection int
	Policy               string
	MaxDecompressed      int

	// changed reports whether a flag was given on the command line; nil
	// means none was.
	changed func(name string) bool
}

func (c *enforceConfig) flags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&c.Registry, "registry", nil, "Confluent-compatible schema registry URL[,...]; without it no record is checked")
	fs.StringVar(&c.RegistryUser, "registry-user", "", "registry basic-auth user; the password comes from --registry-password-file or $"+envRegistryPassword)
	fs.StringVar(&c.RegistryPasswordFile, "registry-password-file", "", "file holding the registry basic-auth password")
	fs.StringVar(&c.RegistryTokenFile, "registry-token-file", "", "file holding a registry bearer token (or set $"+envRegistryToken+")")
	fs.StringVar(&c.RegistryCA, "registry-tls-ca", "", "PEM CA bundle to verify an https registry (default: the system roots)")
	fs.StringVar(&c.RegistryCert, "registry-tls-cert", "", "PEM client certificate for the registry (mTLS)")
	fs.StringVar(&c.RegistryKey, "registry-tls-key", "", "PEM private key for --registry-tls-cert")
	fs.DurationVar(&c.RegistryTimeout, "registry-timeout", enforce.DefaultRegistryTimeout, "timeout of one registry request; a record that cannot be judged in time gets a retriable error")
	fs.IntVar(&c.RegistryMaxInFlight, "registry-max-in-flight", enforce.DefaultRegistryMaxInFlight, "registry requests in flight at once, process-wide; a look-up finding none free waits until the request's check deadline, then its records get a retriable error")
	fs.IntVar(&c.LookupsPerRequest, "registry-lookups-per-request", enforce.DefaultLookupsPerRequest, "registry look-ups (schema IDs, GUIDs or subjects not in the cache) one Produce request may cause; records past it get a retriable error and are looked up on retry (-1: unlimited)")
	fs.IntVar(&c.LookupsPerConnection, "registry-lookups-per-connection", enforce.DefaultLookupsPerConnection, "registry look-ups one client connection may cause per minute, in a burst of up to as many; past it, as above (-1: unlimited)")
	fs.StringVar(&c.Policy, "policy", "", "YAML topic policy, reloaded on change and on SIGHUP (default: every non-internal topic's values need a schema ID registered under <topic>-value)")
	fs.IntVar(&c.MaxDecompressed, "max-decompressed-bytes", enforce.DefaultMaxDecompressed, "largest size one record batch may decompress to, in bytes; larger batches are rejected")
	c.changed = fs.Changed
}

// registryFlagGiven returns the first --registry-* flag given on the
// command line (--registry itself aside), or "".
func registryFlagGiven(changed func(string) bool) string {
	if changed == nil {
		return ""
	}
	for _, name := range []string{"registry-user", "registry-password-file", "registry-token-file",
		"registry-tls-ca", "registry-tls-cert", "registry-tls-key", "registry-timeout",
		"registry-max-in-flight", "registry-lookups-per-request", "registry-lookups-per-connection"} {
		if changed(name) {
			return "--" + name
		}
	}
	return ""
}

// enabled reports whether records are checked at all.
func (c *enforceConfig) enabled() bool { return len(c.Registry) > 0 }

// validate checks the flags without touching the network or the files
// beyond reading them.
func (c *enforceConfig) validate() error {
	if !c.enabled() {
		if f := registryFlagGiven(c.changed); f != "" {
			return fmt.Errorf("%s needs --registry: records are checked against a schema registry", f)
		}
		if c.Policy != "" {
			return errors.New("--policy needs --registry: records are checked against a schema registry")
		}
		return nil
	}
	if err := c.validateRegistry(); err != nil {
		return err
	}
	if c.RegistryMaxInFlight < 1 {
		return fmt.Errorf("--registry-max-in-flight %d must be at least 1", c.RegistryMaxInFlight)
	}
	if c.LookupsPerRequest < 1 && c.LookupsPerRequest != -1 {
		return fmt.Errorf("--registry-lookups-per-request %d must be at least 1, or -1 for no limit", c.LookupsPerRequest)
	}
	if c.LookupsPerConnection < 1 && c.LookupsPerConnection != -1 {
		return fmt.Errorf("--registry-lookups-per-connection %d must be at least 1, or -1 for no limit", c.LookupsPerConnection)
	}
	if c.MaxDecompressed < 1<<10 {
		return fmt.Errorf("--max-decompressed-bytes %d is below 1024", c.MaxDecompressed)
	}
	return nil
}

// validateRegistry checks the --registry* flags, which serve, check and
// register share.
func (c *enforceConfig) validateRegistry() error {
	for _, u := range c.Registry {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return fmt.Errorf("--registry %q is not an http:// or https:// URL", u)
		}
	}
	if (c.RegistryCert == "") != (c.RegistryKey == "") {
		return errors.New("--registry-tls-cert and --registry-tls-key go together: set both or neither")
	}
	if c.RegistryUser != "" && (c.RegistryTokenFile != "" || os.Getenv(envRegistryToken) != "") {
		return errors.New("choose basic auth (--registry-user) or a bearer token, not both")
	}
	if c.RegistryPasswordFile != "" && c.RegistryUser == "" {
		return errors.New("--registry-password-file needs --registry-user")
	}
	if c.RegistryTimeout <= 0 {
		return errors.New("--registry-timeout must be positive")
	}
	return nil
}

func readSecret(file, env string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return os.Getenv(env), nil
}

// registryClient builds the pkg/sr client the flags describe.
func (c *enforceConfig) registryClient() (*sr.Client, error) {
	opts := []sr.ClientOpt{sr.URLs(c.Registry...), sr.UserAgent("schemaproxy")}
	if c.RegistryUser != "" {
		pass, err := readSecret(c.RegistryPasswordFile, envRegistryPassword)
		if err != nil {
			return nil, fmt.Errorf("--registry-password-file: %w", err)
		}
		opts = append(opts, sr.BasicAuth(c.RegistryUser, pass))
	}
	token, err := readSecret(c.RegistryTokenFile, envRegistryToken)
	if err != nil {
		return nil, fmt.Errorf("--registry-token-file: %w", err)
	}
	if token != "" && c.RegistryUser == "" {
		opts = append(opts, sr.BearerToken(token))
	}
	if c.RegistryCA != "" || c.RegistryCert != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.RegistryCA != "" {
			pool, err := loadPool(c.RegistryCA)
			if err != nil {
				return nil, fmt.Errorf("--registry-tls-ca: %w", err)
			}
			cfg.RootCAs = pool
		}
		if c.RegistryCert != "" {
			cert, err := tls.LoadX509KeyPair(c.RegistryCert, c.RegistryKey)
			if err != nil {
				return nil, fmt.Errorf("--registry-tls-cert/--registry-tls-key: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, sr.DialTLSConfig(cfg))
	}
	return sr.NewClient(opts...)
}

// enforcement is the running enforcement: the checker for the proxy and
// the policy store whose reloads it owns.
type enforcement struct {
	enforcer *enforce.Enforcer
	store    *enforce.PolicyStore
	log      *slog.Logger
}

// newEnforcement loads the policy and builds the enforcer. It returns
// nil when no registry is configured.
func (c *enforceConfig) newEnforcement(log *slog.Logger, m *metrics.Metrics) (*enforcement, error) {
	if !c.enabled() {
		log.Warn("no --registry: records are forwarded unchecked")
		return nil, nil
	}
	store, err := enforce.NewPolicyStore(c.Policy, log)
	if err != nil {
		return nil, usageError{fmt.Errorf("--policy: %w", err)}
	}
	cl, err := c.registryClient()
	if err != nil {
		return nil, usageError{err}
	}
	reg := enforce.NewRegistry(cl,
		enforce.WithRegistryTimeout(c.RegistryTimeout),
		enforce.WithRegistryObserver(enforce.RegistryObserver{
			Request:     func(o string) { m.Enforce.RegistryCalls.WithLabelValues(o).Inc() },
			CacheLookup: func(r string) { m.Enforce.CacheLookups.WithLabelValues(r).Inc() },
			Refused:     func(r string) { m.Enforce.LookupsRefused.WithLabelValues(r).Inc() },
			InFlight:    func(d int) { m.Enforce.RegistryActive.Add(float64(d)) },
		}),
		enforce.WithMaxRequestsInFlight(c.RegistryMaxInFlight))
	e := enforce.New(store, reg,
		enforce.WithLogger(log),
		enforce.WithMetrics(m.Enforce),
		enforce.WithMaxDecompressed(c.MaxDecompressed))
	log.Info("checking records", "registry", c.Registry, "policy", c.Policy)
	return &enforcement{enforcer: e, store: store, log: log}, nil
}

// run reloads the policy on each signal from hup (SIGHUP) and when its
// file changes, until ctx ends. The caller registers hup with
// signal.Notify before it starts anything, so that a SIGHUP that comes
// early is not left to its default action, which ends the process.
func (en *enforcement) run(ctx context.Context, policyPath string, hup <-chan os.Signal) {
	if policyPath != "" {
		go en.store.Watch(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case sig := <-hup:
			en.log.Info("reloading policy", "signal", sig.String(), "path", policyPath)
			en.store.Reload() //nolint:errcheck // Reload logs its own error and keeps the old policy
		}
	}
}
