package schemas

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/twmb/franz-go/pkg/sr"
)

func TestFind(t *testing.T) {
	t.Parallel()
	files, err := Find(os.DirFS("testdata/tree"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Path+" "+f.Type.String())
	}
	want := []string{
		"broken.avsc AVRO",
		"inventory/stock.proto PROTOBUF",
		"orders-key.avsc AVRO",
		"orders.avsc AVRO",
		"payments.avsc AVRO",
		"user.schema.json JSON",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q (notes.json has no $schema; .hidden is skipped)", got, want)
	}
}

func TestFindJSONRule(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"a.json":             {Data: []byte(`{"$schema":"http://json-schema.org/draft-07/schema#","type":"string"}`)},
		"b.json":             {Data: []byte(`{"type":"string"}`)},
		"c.schema.json":      {Data: []byte(`{"type":"string"}`)},
		"d.json":             {Data: []byte(`{"$schema": "http://json-schema.org/draft-07/schema#", "type": }`)},
		"e.json":             {Data: []byte(`{"type": }`)},
		"f.json":             {Data: []byte(`[{"$schema":"x"}]`)},
		"g.json":             {Data: []byte(`{"properties":{"x":{"$schema":"nested only"}}}`)},
		"dir/h.schema.json":  {Data: []byte(`not even json`)},
		".git/i.schema.json": {Data: []byte(`{}`)},
	}
	files, err := Find(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Path)
	}
	want := []string{"a.json", "c.schema.json", "d.json", "dir/h.schema.json"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSubject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path, record string
		namer        Namer
		want         string
		wantErr      error
	}{
		{"orders.avsc", "", Namer{}, "orders-value", nil},
		{"a/b/orders.avsc", "", Namer{Strategy: StrategyTopic}, "orders-value", nil},
		{"orders-key.avsc", "", Namer{}, "orders-key", nil},
		{"orders-value.proto", "", Namer{}, "orders-value", nil},
		{"memory.created.avsc", "", Namer{}, "memory.created-value", nil},
		{"user.schema.json", "", Namer{}, "user-value", nil},
		{"-key.avsc", "", Namer{}, "-key-value", nil},
		{"orders.avsc", "com.x.Order", Namer{Strategy: StrategyRecord}, "com.x.Order", nil},
		{"orders-key.avsc", "com.x.OrderKey", Namer{Strategy: StrategyTopicRecord}, "orders-com.x.OrderKey", nil},
		{"orders.avsc", "", Namer{Strategy: StrategyRecord}, "", ErrNoRecordName},
		{"x/orders.avsc", "com.x.Order", Namer{Strategy: StrategyRecord, Map: map[string]string{"x/orders.avsc": "custom"}}, "custom", nil},
	}
	for _, tt := range tests {
		got, err := tt.namer.Subject(&File{Path: tt.path, Record: tt.record})
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("%s (%s, record %q): got %q, %v, want %q, %v", tt.path, tt.namer.Strategy, tt.record, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseStrategy(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"topic", "record", "topic_record", "TOPIC"} {
		if _, err := ParseStrategy(s); err != nil {
			t.Errorf("ParseStrategy(%q): %v", s, err)
		}
	}
	if _, err := ParseStrategy("topicrecord"); err == nil {
		t.Error("ParseStrategy(topicrecord): want an error")
	}
}

func TestLoadSubjectMap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	m, err := LoadSubjectMap(write("ok.yaml", "# file -> subject\n./orders/v2/order.avsc: orders-value\npayments.proto: payments-value\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m["orders/v2/order.avsc"] != "orders-value" || m["payments.proto"] != "payments-value" || len(m) != 2 {
		t.Errorf("got %v", m)
	}
	for name, text := range map[string]string{
		"list.yaml":  "- a.avsc\n",
		"empty.yaml": "a.avsc: \"\"\n",
		"dup.yaml":   "a.avsc: x\n./a.avsc: y\n",
	} {
		if _, err := LoadSubjectMap(write(name, text)); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func TestSchema(t *testing.T) {
	t.Parallel()
	f := &File{Path: "a.proto", Type: sr.TypeProtobuf, Text: "syntax = \"proto3\";"}
	if s := f.Schema(); s.Type != sr.TypeProtobuf || !strings.Contains(s.Schema, "proto3") || s.References != nil {
		t.Errorf("got %+v", s)
	}
}
