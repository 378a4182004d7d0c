package schemas

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"golang.org/x/sync/errgroup"

	"github.com/schemaproxy/schemaproxy/enforce/compat"
)

// Mode is what Run does with each file.
type Mode int

// Modes.
const (
	// ModeCheck asks the registry whether each file may become the next
	// version of its subject.
	ModeCheck Mode = iota
	// ModeRegister checks, then registers what is compatible and not yet
	// registered.
	ModeRegister
	// ModeLocal checks Avro files against their previous versions, with no
	// registry.
	ModeLocal
)

// String is the command that runs the mode: "check" or "register".
func (m Mode) String() string {
	if m == ModeRegister {
		return "register"
	}
	return "check"
}

// Defaults of Options.
const (
	DefaultTimeout  = 10 * time.Second
	DefaultParallel = 4
)

// Options configure Run.
type Options struct {
	Mode  Mode
	Namer Namer
	// Client is the registry (ModeCheck, ModeRegister).
	Client *sr.Client
	// Timeout bounds one registry request; zero means DefaultTimeout.
	Timeout time.Duration
	// Parallel is how many files ModeCheck has at the registry at once;
	// zero means DefaultParallel. ModeRegister goes one file at a time,
	// in path order, so new IDs follow the files' order.
	Parallel int
	// DryRun makes ModeRegister stop short of registering.
	DryRun bool
	// Level and Previous (oldest first) are ModeLocal's compatibility
	// level (zero means compat.Backward, the registry's default) and
	// earlier versions.
	Level    compat.Level
	Previous []Source
}

// Run finds the schema files in fsys, parses and names each, and checks
// or registers them as o.Mode says. root is how result paths begin (the
// directory as the user gave it). Files are judged independently: one
// that fails does not stop the others. It returns an error, and no
// report, only when the directory cannot be read, holds no schema file,
// or o.Namer.Map names a file that is not there.
func Run(ctx context.Context, fsys fs.FS, root string, o Options) (*Report, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.Level == "" {
		o.Level = compat.Backward
	}
	if o.Mode != ModeLocal && o.Client == nil {
		return nil, errors.New("schemas: a registry client is required outside ModeLocal")
	}
	files, err := Find(fsys)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: %w", root, ErrNoSchemas)
	}
	if unused := o.Namer.unusedMapEntries(files); len(unused) > 0 {
		return nil, fmt.Errorf("the subject map names files that are not schema files under %s: %s", root, strings.Join(unused, ", "))
	}

	rep := &Report{Command: o.Mode.String(), Results: make([]Result, len(files))}
	ok := make([]bool, len(files)) // parsed and named: worth judging
	bySubject := make(map[string][]int)
	for i, f := range files {
		res := &rep.Results[i]
		res.File = displayPath(root, f.Path)
		res.Type = f.Type.String()
		if err := Parse(fsys, f); err != nil {
			res.Status, res.Detail = StatusError, "does not parse"
			var se *SyntaxError
			if errors.As(err, &se) {
				res.Line, res.Column = se.Line, se.Column
				err = se.Err
			}
			res.Reasons = []string{oneLine(err.Error())}
			if subject, err := o.Namer.Subject(f); err == nil {
				res.Subject = subject // for the report, when the name allows
			}
			continue
		}
		subject, err := o.Namer.Subject(f)
		if err != nil {
			res.Status, res.Detail, res.Reasons = StatusError, "no subject", []string{err.Error()}
			continue
		}
		res.Subject = subject
		ok[i] = true
		bySubject[subject] = append(bySubject[subject], i)
	}
	if o.Mode != ModeLocal {
		for subject, idx := range bySubject {
			if len(idx) < 2 {
				continue
			}
			var names []string
			for _, i := range idx {
				names = append(names, rep.Results[i].File)
			}
			for _, i := range idx {
				ok[i] = false
				res := &rep.Results[i]
				res.Status, res.Detail = StatusError, "subject named by more than one file"
				res.Reasons = []string{fmt.Sprintf("%s is the subject of %s: give each file its own (--subject-map)", subject, strings.Join(names, ", "))}
			}
		}
	}

	if o.Mode == ModeLocal {
		for i, f := range files {
			if ok[i] {
				checkLocal(ctx, f, &rep.Results[i], o.Level, o.Previous)
			}
		}
		return rep, nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Parallel)
	if o.Mode == ModeRegister {
		g.SetLimit(1)
	}
	for i, f := range files {
		if !ok[i] {
			continue
		}
		res := &rep.Results[i]
		g.Go(func() error {
			if o.Mode == ModeRegister {
				register(gctx, o.Client, o.Timeout, f, res, o.DryRun)
			} else {
				checkRegistry(gctx, o.Client, o.Timeout, f, res)
			}
			return nil
		})
	}
	g.Wait() //nolint:errcheck // the goroutines report through their results and never fail
	return rep, nil
}

// displayPath joins the directory as given with a file's slash path.
func displayPath(root, rel string) string {
	if root == "" || root == "." {
		return rel
	}
	return path.Join(filepath.ToSlash(root), rel)
}
