package kgoflag

import "testing"

func TestCompression(t *testing.T) {
	for _, name := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		if _, err := Compression(name); err != nil {
			t.Errorf("Compression(%q): %v", name, err)
		}
	}
	_, err := Compression("brotli")
	if got, want := "--compression "+errString(err), `--compression "brotli": want none, gzip, snappy, lz4 or zstd`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestAcks(t *testing.T) {
	for _, name := range []string{"all", "-1", "1", "0"} {
		if _, err := Acks(name); err != nil {
			t.Errorf("Acks(%q): %v", name, err)
		}
	}
	_, err := Acks("2")
	if got, want := errString(err), `"2": want all, 1 or 0`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
