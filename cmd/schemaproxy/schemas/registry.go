package schemas

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// Registry error codes the workflows tell apart (Confluent's Errors.java).
const (
	codeSubjectNotFound = 40401
	codeVersionNotFound = 40402
	codeSchemaNotFound  = 40403
	codeIncompatible    = 409
	codeInvalidSchema   = 42201
)

// responseCode returns the registry error code in err, or 0.
func responseCode(err error) int {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return 0
}

// describeRegistryError says what a failed registry call means, guessing
// the cause where it can.
func describeRegistryError(op string, err error, timeout time.Duration) string {
	var re *sr.ResponseError
	switch {
	case errors.As(err, &re):
		msg := fmt.Sprintf("%s: registry answered HTTP %d", op, re.StatusCode)
		if re.ErrorCode != 0 {
			msg += fmt.Sprintf(" (error %d)", re.ErrorCode)
		}
		if m := oneLine(re.Error()); m != "" {
			msg += ": " + m
		}
		switch re.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			msg += " (check --registry-user / --registry-token-file)"
		}
		return msg
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("%s: registry did not answer within %s (--registry-timeout)", op, timeout)
	}
	return fmt.Sprintf("%s: registry unreachable: %v", op, err)
}

// verdict is the registry's answer to one compatibility question.
type verdict struct {
	status  Status // StatusCompatible, StatusNew, StatusIncompatible or StatusError
	reasons []string
}

// askCompatibility asks the registry whether s may become the next
// version of subject (POST /compatibility/subjects/{subject}/versions/latest,
// verbose). A subject that does not exist yet is new, and so compatible.
func askCompatibility(ctx context.Context, cl *sr.Client, timeout time.Duration, subject string, s sr.Schema) verdict {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), subject, -1, s)
	switch code := responseCode(err); {
	case err == nil && res.Is:
		return verdict{status: StatusCompatible}
	case err == nil:
		reasons := cleanMessages(res.Messages)
		if len(reasons) == 0 {
			reasons = []string{"the registry gave no reason"}
		}
		return verdict{status: StatusIncompatible, reasons: reasons}
	case code == codeSubjectNotFound || code == codeVersionNotFound:
		return verdict{status: StatusNew}
	case code == codeIncompatible:
		return verdict{status: StatusIncompatible, reasons: []string{oneLine(err.Error())}}
	case code == codeInvalidSchema:
		return verdict{status: StatusError, reasons: []string{"the registry refused the schema as invalid: " + oneLine(err.Error())}}
	}
	return verdict{status: StatusError, reasons: []string{describeRegistryError("compatibility check", err, timeout)}}
}

// cleanMessages turns a registry's verbose compatibility messages into
// reasons. Confluent's registry answers with pseudo-JSON lines:
// "{errorType:'...', description:'...', additionalInfo:'...'}" becomes its
// description (with the additional information where it adds any),
// "{oldSchemaVersion: 3}" "checked against version 3", the line with the
// compatibility level "compatibility level BACKWARD", and the copy of the
// old schema is dropped. Anything else is kept as it is.
func cleanMessages(msgs []string) []string {
	var out []string
	for _, m := range msgs {
		m = strings.TrimSpace(m)
		switch {
		case m == "", strings.HasPrefix(m, "{oldSchema:"):
			continue
		case strings.HasPrefix(m, "{errorType:"):
			if _, rest, ok := strings.Cut(m, "description:'"); ok {
				desc, info := rest, ""
				if i := strings.LastIndex(rest, "', additionalInfo:'"); i >= 0 {
					desc, info = rest[:i], strings.TrimSuffix(rest[i+len("', additionalInfo:'"):], "'}")
				} else {
					desc = strings.TrimSuffix(desc, "'}")
				}
				m = desc
				if info != "" && !strings.Contains(desc, info) {
					m += " (" + info + ")"
				}
			}
		case strings.HasPrefix(m, "{oldSchemaVersion:"):
			m = "checked against version " + strings.TrimSpace(strings.Trim(strings.TrimPrefix(m, "{oldSchemaVersion:"), "{} "))
		case strings.Contains(m, "compatibility: '"):
			_, level, _ := strings.Cut(m, "compatibility: '")
			level, _, _ = strings.Cut(level, "'")
			m = "compatibility level " + level
		}
		out = append(out, oneLine(m))
	}
	return out
}

// checkRegistry fills res with the registry's verdict on f.
func checkRegistry(ctx context.Context, cl *sr.Client, timeout time.Duration, f *File, res *Result) {
	v := askCompatibility(ctx, cl, timeout, res.Subject, f.Schema())
	res.Status, res.Reasons = v.status, v.reasons
	switch v.status {
	case StatusCompatible:
		res.Detail = "compatible with the latest version"
	case StatusNew:
		res.Detail = "new subject: no version to compare with"
	case StatusIncompatible:
		res.Detail = "not compatible with the latest version"
	case StatusError:
		res.Detail = "could not check"
	}
}

// register fills res with the outcome of registering f: unchanged if the
// subject already holds it, nothing if the registry finds it
// incompatible, else registered (or, with dryRun, would_register).
func register(ctx context.Context, cl *sr.Client, timeout time.Duration, f *File, res *Result, dryRun bool) {
	s := f.Schema()
	lctx, cancel := context.WithTimeout(ctx, timeout)
	ss, err := cl.LookupSchema(lctx, res.Subject, s)
	cancel()
	switch code := responseCode(err); {
	case err == nil:
		res.Status, res.Version, res.ID = StatusUnchanged, ss.Version, ss.ID
		res.Detail = fmt.Sprintf("already registered as version %d, id %d", ss.Version, ss.ID)
		return
	case code == codeSubjectNotFound || code == codeSchemaNotFound:
	default:
		res.Status, res.Detail = StatusError, "could not look up"
		res.Reasons = []string{describeRegistryError("schema lookup", err, timeout)}
		return
	}

	v := askCompatibility(ctx, cl, timeout, res.Subject, s)
	switch v.status {
	case StatusIncompatible:
		res.Status, res.Detail, res.Reasons = v.status, "not registered: not compatible with the latest version", v.reasons
		return
	case StatusError:
		res.Status, res.Detail, res.Reasons = v.status, "not registered: could not check", v.reasons
		return
	}
	if dryRun {
		res.Status = StatusWouldRegister
		res.Detail = "compatible with the latest version; would register"
		if v.status == StatusNew {
			res.Detail = "new subject; would register version 1"
		}
		return
	}

	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ss, err = cl.CreateSchema(rctx, res.Subject, s)
	switch code := responseCode(err); {
	case err == nil:
		res.Status, res.Version, res.ID = StatusRegistered, ss.Version, ss.ID
		res.Detail = fmt.Sprintf("registered as version %d, id %d", ss.Version, ss.ID)
	case code == codeIncompatible:
		res.Status, res.Detail = StatusIncompatible, "not registered: the registry refused it as incompatible"
		res.Reasons = []string{oneLine(err.Error())}
	case code == codeInvalidSchema:
		res.Status, res.Detail = StatusError, "not registered: the registry refused the schema as invalid"
		res.Reasons = []string{oneLine(err.Error())}
	default:
		res.Status, res.Detail = StatusError, "not registered"
		res.Reasons = []string{describeRegistryError("registration", err, timeout)}
	}
}
