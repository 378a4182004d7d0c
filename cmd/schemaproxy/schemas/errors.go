package schemas

import (
	"errors"
	"fmt"
)

var (
	// ErrNoSchemas means a directory holds no schema file.
	ErrNoSchemas = errors.New("no schema files (*.avsc, *.proto, JSON Schema *.json)")
	// ErrNoRecordName means the record or topic_record strategy met a
	// schema without a record name.
	ErrNoRecordName = errors.New("schema has no record name")
)

// SyntaxError is a schema file that does not parse.
type SyntaxError struct {
	Path         string // as File.Path
	Line, Column int    // 1-based; 0 when the parser gave no position
	Err          error
}

// Error reads like "orders.avsc:3:14: invalid JSON: ...".
func (e *SyntaxError) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("%s:%d:%d: %v", e.Path, e.Line, e.Column, e.Err)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

func (e *SyntaxError) Unwrap() error { return e.Err }
