package testbed

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// The Go harness has no Avro library (the module keeps its dependencies to
// franz-go); it encodes and decodes only the test bed's own schema,
// clients/schemas/user.avsc, by hand:
//
//	record User { long id; string name; union { null, string } email = null; }
//
// Avro binary: longs are zig-zag varints, strings a long length then bytes,
// a union the branch index as a long, then the branch's value.

// errNotUserSchema means a schema is not user.avsc, the only one the Go
// harness can encode and decode.
var errNotUserSchema = errors.New("the Go harness handles only the User schema of clients/schemas/user.avsc")

// errBadAvro means bytes are not a User in Avro binary.
var errBadAvro = errors.New("not a User record in Avro binary")

// maxAvroString bounds a string length read from the wire.
const maxAvroString = 1 << 20

// user is the record of user.avsc; Email nil is the null branch.
type user struct {
	ID    int64   `json:"id"`
	Name  string  `json:"name"`
	Email *string `json:"email"`
}

// userRecord is record i as every harness writes it.
func userRecord(i int) user {
	u := user{ID: int64(i), Name: fmt.Sprintf("user-%d", i)}
	if i%2 == 0 {
		e := fmt.Sprintf("user-%d@example.com", i)
		u.Email = &e
	}
	return u
}

// checkUserSchema returns errNotUserSchema unless text is a record named
// User with the fields id, name and email, in that order.
func checkUserSchema(text string) error {
	var s struct {
		Type   string `json:"type"`
		Name   string `json:"name"`
		Fields []struct {
			Name string `json:"name"`
		} `json:"fields"`
	}
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		return fmt.Errorf("%w: %v", errNotUserSchema, err)
	}
	var names []string
	for _, f := range s.Fields {
		names = append(names, f.Name)
	}
	if s.Type != "record" || s.Name != "User" || !slices.Equal(names, []string{"id", "name", "email"}) {
		return errNotUserSchema
	}
	return nil
}

// AppendTo appends u in Avro binary to dst.
func (u user) AppendTo(dst []byte) []byte {
	dst = binary.AppendVarint(dst, u.ID)
	dst = appendAvroString(dst, u.Name)
	if u.Email == nil {
		return binary.AppendVarint(dst, 0)
	}
	dst = binary.AppendVarint(dst, 1)
	return appendAvroString(dst, *u.Email)
}

func appendAvroString(dst []byte, s string) []byte {
	dst = binary.AppendVarint(dst, int64(len(s)))
	return append(dst, s...)
}

// decodeUser decodes all of b as a User; trailing bytes are an error.
func decodeUser(b []byte) (user, error) {
	var u user
	var err error
	if u.ID, b, err = avroLong(b); err != nil {
		return u, err
	}
	if u.Name, b, err = avroString(b); err != nil {
		return u, err
	}
	var branch int64
	if branch, b, err = avroLong(b); err != nil {
		return u, err
	}
	switch branch {
	case 0:
	case 1:
		var e string
		if e, b, err = avroString(b); err != nil {
			return u, err
		}
		u.Email = &e
	default:
		return u, fmt.Errorf("%w: email union branch %d", errBadAvro, branch)
	}
	if len(b) != 0 {
		return u, fmt.Errorf("%w: %d trailing bytes", errBadAvro, len(b))
	}
	return u, nil
}

func avroLong(b []byte) (int64, []byte, error) {
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, b, fmt.Errorf("%w: truncated or overlong varint", errBadAvro)
	}
	return v, b[n:], nil
}

func avroString(b []byte) (string, []byte, error) {
	n, b, err := avroLong(b)
	if err != nil {
		return "", b, err
	}
	if n < 0 || n > maxAvroString || n > int64(len(b)) {
		return "", b, fmt.Errorf("%w: string of %d bytes with %d left", errBadAvro, n, len(b))
	}
	return string(b[:n]), b[n:], nil
}
