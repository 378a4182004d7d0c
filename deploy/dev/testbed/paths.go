package testbed

import (
	"os"
	"path/filepath"
	"sync"
)

// devDir finds deploy/dev once per process.
var devDir = sync.OnceValues(func() (string, error) {
	if d := os.Getenv("SCHEMAPROXY_DEV_DIR"); d != "" {
		return filepath.Abs(d)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		cand := filepath.Join(d, "deploy", "dev")
		if _, err := os.Stat(filepath.Join(cand, "kafka.sh")); err == nil {
			return cand, nil
		}
		if filepath.Dir(d) == d {
			return "", ErrNoDevDir
		}
	}
})

// DevDir returns the absolute path of deploy/dev.
func DevDir() (string, error) { return devDir() }

// SchemaFile returns the path of the Avro schema every harness writes with
// --serde avro unless given another --schema-file: record
// io.schemaproxy.dev.User {id long, name string, email [null, string]}.
func SchemaFile() (string, error) {
	d, err := devDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "clients", "schemas", "user.avsc"), nil
}
