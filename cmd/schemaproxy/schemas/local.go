package schemas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/schemaproxy/schemaproxy/enforce/compat"
)

// Source is one earlier version of a directory of schemas.
type Source struct {
	Label string // how results name it: a version directory's name, a git revision
	// read returns the previous text of a file (slash path relative to the
	// directory checked); an error wrapping fs.ErrNotExist means the file
	// did not exist then.
	read func(ctx context.Context, rel string) ([]byte, error)
}

// DirSource reads earlier versions from a directory laid out like the one
// checked.
func DirSource(label, dir string) Source {
	return Source{Label: label, read: func(_ context.Context, rel string) ([]byte, error) {
		return os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	}}
}

// GitSource reads earlier versions with "git show REV:./path", run in
// root (the directory checked, inside a git work tree).
func GitSource(root, rev string) Source {
	return Source{Label: rev, read: func(ctx context.Context, rel string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "git", "-C", root, "show", rev+":./"+rel)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			msg := strings.TrimSpace(stderr.String())
			if strings.Contains(msg, "does not exist in") || strings.Contains(msg, "exists on disk, but not in") {
				return nil, fmt.Errorf("%s at %s: %w", rel, rev, fs.ErrNotExist)
			}
			return nil, fmt.Errorf("git show %s:./%s: %v: %s", rev, rel, err, msg)
		}
		return out, nil
	}}
}

var versionDir = regexp.MustCompile(`^v([0-9]+)$`)

// PreviousSources turns --previous arguments, oldest first, into
// sources. Each is a directory or, failing that, a git revision of the
// repository root is in. A directory with subdirectories v1, v2, ... is
// that many versions, in numeric order; any other directory is one.
func PreviousSources(ctx context.Context, root string, specs []string) ([]Source, error) {
	var out []Source
	for _, spec := range specs {
		if info, err := os.Stat(spec); err == nil && info.IsDir() {
			versions, err := versionDirs(spec)
			if err != nil {
				return nil, err
			}
			if len(versions) == 0 {
				out = append(out, DirSource(spec, spec))
			}
			for _, v := range versions {
				out = append(out, DirSource(v, filepath.Join(spec, v)))
			}
			continue
		}
		cmd := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--verify", "--quiet", spec+"^{commit}")
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("--previous %q is neither a directory nor a git revision of the repository %s is in", spec, root)
		}
		out = append(out, GitSource(root, spec))
	}
	return out, nil
}

// versionDirs returns dir's subdirectories named v<N>, by N.
func versionDirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && versionDir.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	num := func(s string) int { n, _ := strconv.Atoi(versionDir.FindStringSubmatch(s)[1]); return n }
	slices.SortFunc(names, func(a, b string) int { return num(a) - num(b) })
	return names, nil
}

// checkLocal fills res with f's compatibility, under level, with its
// previous versions in sources (oldest first). f must be parsed.
func checkLocal(ctx context.Context, f *File, res *Result, level compat.Level, sources []Source) {
	if f.Type != sr.TypeAvro {
		res.Status, res.Detail = StatusSkipped, "parsed; local compatibility checks cover Avro only"
		return
	}
	var earlier []compat.Version
	for _, src := range sources {
		data, err := src.read(ctx, f.Path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			res.Status, res.Detail, res.Reasons = StatusError, "could not read the previous version", []string{err.Error()}
			return
		}
		s, err := ParseAvro(string(data))
		if err != nil {
			res.Status, res.Detail = StatusError, "the previous version does not parse"
			res.Reasons = []string{fmt.Sprintf("%s: %v", src.Label, err)}
			return
		}
		earlier = append(earlier, compat.Version{Label: src.Label, Schema: s})
	}
	if len(earlier) == 0 {
		res.Status, res.Detail = StatusNew, "no previous version to compare with"
		return
	}
	against := earlier
	if !level.Transitive() {
		against = earlier[len(earlier)-1:]
	}
	labels := make([]string, len(against))
	for i, v := range against {
		labels[i] = v.Label
	}
	problems := compat.Check(level, f.avro, earlier)
	if len(problems) == 0 {
		res.Status = StatusCompatible
		res.Detail = fmt.Sprintf("%s compatible with %s", level, strings.Join(labels, ", "))
		return
	}
	res.Status = StatusIncompatible
	res.Detail = fmt.Sprintf("not %s compatible with %s", level, strings.Join(labels, ", "))
	for _, p := range problems {
		res.Reasons = append(res.Reasons, p.String())
	}
}
