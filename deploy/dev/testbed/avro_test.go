package testbed

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

func TestUserRoundTrip(t *testing.T) {
	for _, i := range []int{0, 1, 2, 63, 64, 1 << 40} {
		u := userRecord(i)
		got, err := decodeUser(u.AppendTo(nil))
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if got.ID != u.ID || got.Name != u.Name || (got.Email == nil) != (u.Email == nil) ||
			(got.Email != nil && *got.Email != *u.Email) {
			t.Errorf("record %d: got %+v, want %+v", i, got, u)
		}
	}
}

// TestUserBytes pins the encoding to Avro's spec: zig-zag varints, strings
// with a length prefix, the union branch index before its value.
func TestUserBytes(t *testing.T) {
	tests := []struct {
		i    int
		want []byte
	}{
		{1, []byte{0x02, 0x0c, 'u', 's', 'e', 'r', '-', '1', 0x00}},
		{2, append([]byte{0x04, 0x0c, 'u', 's', 'e', 'r', '-', '2', 0x02, 0x24}, "user-2@example.com"...)},
	}
	for _, tt := range tests {
		if got := userRecord(tt.i).AppendTo(nil); !bytes.Equal(got, tt.want) {
			t.Errorf("record %d: got % x, want % x", tt.i, got, tt.want)
		}
	}
}

func TestDecodeUserRejects(t *testing.T) {
	valid := userRecord(2).AppendTo(nil)
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"the harnesses' invalid payload", []byte{0x02, 0x0a, 'a', 'b'}},
		{"truncated", valid[:len(valid)-1]},
		{"trailing byte", append(valid[:len(valid):len(valid)], 0)},
		{"union branch 2", []byte{0x02, 0x00, 0x04}},
		{"negative string length", []byte{0x02, 0x01}},
		{"overlong varint", bytes.Repeat([]byte{0xff}, 11)},
	}
	for _, tt := range tests {
		if _, err := decodeUser(tt.b); !errors.Is(err, errBadAvro) {
			t.Errorf("%s: got %v, want errBadAvro", tt.name, err)
		}
	}
}

func TestCheckUserSchema(t *testing.T) {
	b, err := os.ReadFile("../clients/schemas/user.avsc")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkUserSchema(string(b)); err != nil {
		t.Errorf("user.avsc: %v", err)
	}
	for _, s := range []string{`"string"`, `{"type":"record","name":"User","fields":[{"name":"id"}]}`, `{`} {
		if err := checkUserSchema(s); !errors.Is(err, errNotUserSchema) {
			t.Errorf("%s: got %v, want errNotUserSchema", s, err)
		}
	}
}

func FuzzDecodeUser(f *testing.F) {
	f.Add(userRecord(2).AppendTo(nil))
	f.Add([]byte{0x02, 0x0a, 'a', 'b'})
	f.Add([]byte{0x80, 0x00, 0x00, 0x00}) // id 0 as a non-minimal varint, empty name, null
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := decodeUser(b)
		if err != nil {
			return
		}
		// Varints need not be minimal, so compare records, not bytes.
		again, err := decodeUser(u.AppendTo(nil))
		if err != nil || again.ID != u.ID || again.Name != u.Name || (again.Email == nil) != (u.Email == nil) {
			t.Errorf("% x decoded to %+v, which does not survive a re-encoding: %+v, %v", b, u, again, err)
		}
	})
}
