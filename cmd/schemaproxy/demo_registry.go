package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/schemaproxy/schemaproxy/cmd/schemaproxy/schemas"
	"github.com/schemaproxy/schemaproxy/enforce/compat"
)

// demoRegistry is the demo's schema registry: franz-go's in-memory srfake
// served over HTTP on a listener of its own. srfake answers every
// compatibility question with "compatible"; for Avro, demoRegistry
// answers them as a registry does (package compat under the subject's
// level, BACKWARD by default) on POST /compatibility/... and refuses an
// incompatible POST /subjects/{subject}/versions with 409. Protobuf and
// JSON Schema are left to srfake.
type demoRegistry struct {
	fake *srfake.Registry
	srv  *http.Server
	ln   net.Listener
	self *sr.Client // the registry's own API, for versions and levels
}

// startDemoRegistry listens on addr and serves until Shutdown.
func startDemoRegistry(addr string) (*demoRegistry, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("registry listener: %w", err)
	}
	r := &demoRegistry{fake: srfake.NewRegistry(), ln: ln}
	r.self, err = sr.NewClient(sr.URLs(r.URL()))
	if err != nil {
		ln.Close()
		return nil, err
	}
	r.fake.Intercept(r.intercept)
	r.srv = &http.Server{Handler: r.fake.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go r.srv.Serve(ln) //nolint:errcheck // returns ErrServerClosed on Shutdown
	return r, nil
}

// URL is the registry's base URL.
func (r *demoRegistry) URL() string { return "http://" + r.ln.Addr().String() }

// Shutdown stops serving.
func (r *demoRegistry) Shutdown(ctx context.Context) error { return r.srv.Shutdown(ctx) }

// maxDemoSchemaBytes bounds a request body the interceptor reads.
const maxDemoSchemaBytes = 1 << 20

// intercept answers Avro compatibility checks and guards Avro
// registrations; it returns false to let srfake answer.
func (r *demoRegistry) intercept(w http.ResponseWriter, req *http.Request) bool {
	if req.Method != http.MethodPost {
		return false
	}
	segs := strings.Split(strings.Trim(req.URL.EscapedPath(), "/"), "/")
	var subject, version string
	register := false
	switch {
	case len(segs) == 5 && segs[0] == "compatibility" && segs[1] == "subjects" && segs[3] == "versions":
		subject, version = segs[2], segs[4]
	case len(segs) == 4 && segs[0] == "compatibility" && segs[1] == "subjects" && segs[3] == "versions":
		subject = segs[2] // against every version
	case len(segs) == 3 && segs[0] == "subjects" && segs[2] == "versions":
		subject, register = segs[1], true
	default:
		return false
	}
	subject, err := url.PathUnescape(subject)
	if err != nil {
		return false
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxDemoSchemaBytes))
	if err != nil {
		return false
	}
	req.Body = io.NopCloser(bytes.NewReader(body)) // srfake may still read it
	var s sr.Schema
	if json.Unmarshal(body, &s) != nil || s.Type != sr.TypeAvro || len(s.References) > 0 {
		return false
	}
	newer, err := schemas.ParseAvro(s.Schema)
	if err != nil {
		writeRegistryError(w, http.StatusUnprocessableEntity, 42201, "Invalid schema: "+err.Error())
		return true
	}

	ctx := req.Context()
	existing, err := r.self.Schemas(ctx, subject)
	var re *sr.ResponseError
	switch {
	case errors.As(err, &re) && re.ErrorCode == 40401:
		if register {
			return false // the first version: nothing to be compatible with
		}
		writeRegistryError(w, http.StatusNotFound, 40401, fmt.Sprintf("Subject '%s' not found.", subject))
		return true
	case err != nil:
		writeRegistryError(w, http.StatusInternalServerError, 50001, err.Error())
		return true
	}
	if register {
		if _, err := r.self.LookupSchema(ctx, subject, s); err == nil {
			return false // already registered: srfake returns its ID
		}
	}
	earlier := make([]compat.Version, 0, len(existing))
	for _, ss := range existing {
		if ss.Type != sr.TypeAvro {
			return false
		}
		old, err := schemas.ParseAvro(ss.Schema.Schema)
		if err != nil {
			return false
		}
		earlier = append(earlier, compat.Version{Label: fmt.Sprintf("version %d", ss.Version), Schema: old})
	}
	if len(earlier) == 0 {
		return false // every version deleted: nothing to be compatible with
	}
	switch version {
	case "": // every version: the level decides which count
	case "latest", "-1":
		earlier = earlier[len(earlier)-1:]
	default:
		i := slices.IndexFunc(existing, func(ss sr.SubjectSchema) bool { return strconv.Itoa(ss.Version) == version })
		if i < 0 {
			writeRegistryError(w, http.StatusNotFound, 40402, fmt.Sprintf("Version %s not found.", version))
			return true
		}
		earlier = earlier[i : i+1]
	}

	level := compat.Backward
	if res := r.self.Compatibility(sr.WithParams(ctx, sr.DefaultToGlobal), subject); len(res) == 1 && res[0].Err == nil {
		if l, err := compat.ParseLevel(res[0].Level.String()); err == nil {
			level = l
		}
	}
	problems := compat.Check(level, newer, earlier)
	msgs := make([]string, len(problems))
	for i, p := range problems {
		msgs[i] = p.String()
	}
	if !register {
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		json.NewEncoder(w).Encode(sr.CheckCompatibilityResult{Is: len(problems) == 0, Messages: msgs}) //nolint:errcheck // the client sees a cut response
		return true
	}
	if len(problems) > 0 {
		writeRegistryError(w, http.StatusConflict, 409, fmt.Sprintf("Schema being registered is incompatible with an earlier schema for subject %q, details: [%s]", subject, strings.Join(msgs, "; ")))
		return true
	}
	return false
}

// writeRegistryError answers as Confluent's registry does.
func writeRegistryError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(sr.ResponseError{ErrorCode: code, Message: msg}) //nolint:errcheck // the client sees a cut response
}
