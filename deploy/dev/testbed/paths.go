package testbed

import (
	"fmt"
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
func SchemaFile() (string, error) { return SchemaFileOf("avro") }

// schemaFiles names the User schema in clients/schemas for each --serde.
var schemaFiles = map[string]string{"avro": "user.avsc", "json": "user.json", "protobuf": "user.proto"}

// SchemaFileOf returns the path of the User schema for --serde serde (avro,
// json or protobuf): the same record in each format. The Python harness
// writes all three; the others only Avro.
func SchemaFileOf(serde string) (string, error) {
	name, ok := schemaFiles[serde]
	if !ok {
		return "", fmt.Errorf("%w: --serde %q has no schema file", ErrUnknownFlag, serde)
	}
	d, err := devDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "clients", "schemas", name), nil
}
