package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/schemaproxy/schemaproxy/cmd/schemaproxy/schemas"
	"github.com/schemaproxy/schemaproxy/enforce/compat"
)

// exitCode is an error that only carries the process exit code: the
// command has already said everything on stdout.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit code %d", int(e)) }

// schemaConfig is what "schemaproxy check" and "schemaproxy register"
// are told on their command line.
type schemaConfig struct {
	cmd string

	Registry        []string
	RegistryUser    string
	RegistryPass    string
	RegistryToken   string
	RegistryCA      string
	RegistryCert    string
	RegistryKey     string
	RegistryTimeout time.Duration

	Format     string
	Strategy   string
	SubjectMap string

	Local         bool     // check only
	Previous      []string // check only
	Compatibility string   // check only
	DryRun        bool     // register only

	changed func(name string) bool // whether a flag was given
}

const checkUsage = `Usage: schemaproxy check [flags] DIR

Finds the schema files under DIR (recursively: *.avsc, *.proto, and *.json
files that are JSON Schemas: named *.schema.json or holding a top-level
"$schema"), parses each, and asks the registry whether each may become the
next version of its subject (a subject the registry does not know yet
passes). Subjects follow the file names: orders.avsc -> orders-value,
orders-key.avsc -> orders-key.

With --local there is no registry: each .avsc file is compared with its
previous versions under --compatibility. --previous names them, oldest
first: a directory laid out like DIR, a directory holding v1, v2, ...
subdirectories (one version each), or a git revision (read with
"git show REV:./path" inside DIR). Repeat --previous for more versions.
Non-transitive levels compare with the last version only.

One line per file, then a summary. Exit code: 0 all compatible, 1 an
incompatible schema, 2 an error (a file that does not parse, a registry
that cannot be asked).

Flags:
`

const registerUsage = `Usage: schemaproxy register [flags] DIR

Checks the schema files under DIR as "schemaproxy check" does, then
registers, under its subject, each one that is compatible and not already
registered, printing subject, version and ID. Files that are incompatible
or do not parse are not registered; the others still are.

Exit code: 0 all registered (or already there), 1 an incompatible schema,
2 an error.

Flags:
`

func (c *schemaConfig) flags(fs *pflag.FlagSet) {
	usage := checkUsage
	if c.cmd == "register" {
		usage = registerUsage
	}
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fmt.Fprint(fs.Output(), fs.FlagUsages())
	}
	required := " (required)"
	if c.cmd == "check" {
		required = " (required unless --local)"
	}
	fs.StringSliceVar(&c.Registry, "registry", nil, "Confluent-compatible schema registry URL[,...]"+required)
	fs.StringVar(&c.RegistryUser, "registry-user", "", "registry basic-auth user; the password comes from --registry-password-file or $"+envRegistryPassword)
	fs.StringVar(&c.RegistryPass, "registry-password-file", "", "file holding the registry basic-auth password")
	fs.StringVar(&c.RegistryToken, "registry-token-file", "", "file holding a registry bearer token (or set $"+envRegistryToken+")")
	fs.StringVar(&c.RegistryCA, "registry-tls-ca", "", "PEM CA bundle to verify an https registry (default: the system roots)")
	fs.StringVar(&c.RegistryCert, "registry-tls-cert", "", "PEM client certificate for the registry (mTLS)")
	fs.StringVar(&c.RegistryKey, "registry-tls-key", "", "PEM private key for --registry-tls-cert")
	fs.DurationVar(&c.RegistryTimeout, "registry-timeout", schemas.DefaultTimeout, "timeout of one registry request")
	fs.StringVar(&c.Format, "format", "text", "output format: text, json or junit")
	fs.StringVar(&c.Strategy, "strategy", "topic", "subject-name strategy: topic (<file>-value, <file>-key), record (the record's full name) or topic_record (<file>-<record>)")
	fs.StringVar(&c.SubjectMap, "subject-map", "", "YAML file mapping file paths (relative to DIR) to subjects; overrides --strategy for the files it names")
	if c.cmd == "check" {
		fs.BoolVar(&c.Local, "local", false, "no registry: compare each .avsc with its previous versions (--previous)")
		fs.StringArrayVar(&c.Previous, "previous", nil, "with --local: a directory of previous schemas (or of v1, v2, ... subdirectories) or a git revision; repeat for more versions, oldest first")
		fs.StringVar(&c.Compatibility, "compatibility", "", "with --local: BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE or NONE (default BACKWARD, the registry's default)")
	} else {
		fs.BoolVar(&c.DryRun, "dry-run", false, "check and say what would be registered, without registering")
	}
	c.changed = fs.Changed
}

// options validates c and turns it into the workflow's options.
func (c *schemaConfig) options(ctx context.Context, dir string) (schemas.Options, error) {
	var o schemas.Options
	if !slices.Contains(schemas.Formats, c.Format) {
		return o, fmt.Errorf("--format %q: want text, json or junit", c.Format)
	}
	st, err := schemas.ParseStrategy(c.Strategy)
	if err != nil {
		return o, fmt.Errorf("--%w", err)
	}
	o.Namer.Strategy = st
	if c.SubjectMap != "" {
		if o.Namer.Map, err = schemas.LoadSubjectMap(c.SubjectMap); err != nil {
			return o, fmt.Errorf("--subject-map: %w", err)
		}
	}
	o.Timeout, o.DryRun = c.RegistryTimeout, c.DryRun
	if c.RegistryTimeout <= 0 {
		return o, errors.New("--registry-timeout must be positive")
	}

	if c.Local {
		if len(c.Registry) > 0 {
			return o, errors.New("--local checks without a registry: drop --registry, or drop --local to ask the registry")
		}
		if f := registryFlagGiven(c.changed); f != "" {
			return o, fmt.Errorf("%s needs --registry: --local checks without a registry", f)
		}
		if len(c.Previous) == 0 {
			return o, errors.New("--local needs --previous: a directory of previous schemas or a git revision")
		}
		o.Mode, o.Level = schemas.ModeLocal, compat.Backward
		if c.Compatibility != "" {
			if o.Level, err = compat.ParseLevel(c.Compatibility); err != nil {
				return o, fmt.Errorf("--compatibility: %w", err)
			}
		}
		o.Previous, err = schemas.PreviousSources(ctx, dir, c.Previous)
		return o, err
	}
	if len(c.Previous) > 0 || c.Compatibility != "" {
		return o, errors.New("--previous and --compatibility go with --local; a registry applies each subject's own compatibility level")
	}
	if len(c.Registry) == 0 {
		if c.cmd == "check" {
			return o, errors.New("--registry is required (or --local with --previous, to check Avro files without a registry)")
		}
		return o, errors.New("--registry is required")
	}
	ec := enforceConfig{
		Registry:             c.Registry,
		RegistryUser:         c.RegistryUser,
		RegistryPasswordFile: c.RegistryPass,
		RegistryTokenFile:    c.RegistryToken,
		RegistryCA:           c.RegistryCA,
		RegistryCert:         c.RegistryCert,
		RegistryKey:          c.RegistryKey,
		RegistryTimeout:      c.RegistryTimeout,
	}
	if err := ec.validateRegistry(); err != nil {
		return o, err
	}
	if o.Client, err = ec.registryClient(); err != nil {
		return o, err
	}
	o.Mode = schemas.ModeCheck
	if c.cmd == "register" {
		o.Mode = schemas.ModeRegister
	}
	return o, nil
}

// checkCmd runs "schemaproxy check".
func checkCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return schemaCmd(ctx, "check", args, stdout, stderr)
}

// registerCmd runs "schemaproxy register".
func registerCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return schemaCmd(ctx, "register", args, stdout, stderr)
}

func schemaCmd(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	c := schemaConfig{cmd: cmd}
	rest, err := parseFlagsArgs(cmd, args, stderr, c.flags)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{fmt.Errorf("want one directory of schemas, got %d arguments (see --help)", len(rest))}
	}
	dir := rest[0]
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return usageError{fmt.Errorf("%s is not a directory", dir)}
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	o, err := c.options(ctx, dir)
	if err != nil {
		return usageError{err}
	}
	rep, err := schemas.Run(ctx, os.DirFS(dir), dir, o)
	if err != nil {
		return usageError{err}
	}
	if err := rep.Write(stdout, c.Format); err != nil {
		return exitCode(2)
	}
	if code := rep.ExitCode(); code != 0 {
		return exitCode(code)
	}
	return nil
}

// parseFlagsArgs is parseFlags for commands that take positional
// arguments (flags may come before or after them); it returns them.
func parseFlagsArgs(cmd string, args []string, stderr io.Writer, define func(*pflag.FlagSet)) ([]string, error) {
	fs := pflag.NewFlagSet(cmd, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	define(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, usageError{errHelp}
		}
		return nil, usageError{err}
	}
	return fs.Args(), nil
}
