package compat

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
)

// record returns an Avro record schema named Event with the given fields
// (JSON objects, comma-separated).
func record(fields string) string {
	return `{"type":"record","name":"Event","namespace":"com.example","fields":[` + fields + `]}`
}

func parse(t *testing.T, text string) avro.Schema {
	t.Helper()
	s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		t.Fatalf("parsing %s: %v", text, err)
	}
	return s
}

const (
	fID       = `{"name":"id","type":"string"}`
	fAmount   = `{"name":"amount","type":"int"}`
	fStatus   = `{"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","DONE"]}}`
	fStatus3  = `{"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","DONE","ARCHIVED"]}}`
	fStatusD  = `{"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","DONE"],"default":"NEW"}}`
	fStatus3D = `{"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","DONE","ARCHIVED"],"default":"NEW"}}`
	fUser     = `{"name":"user_id","type":"string"}`
	fUserNull = `{"name":"user_id","type":["null","string"],"default":null}`
	fMeta     = `{"name":"metadata","type":{"type":"map","values":["string","int","boolean","null"]}}`
	fMetaNarr = `{"name":"metadata","type":{"type":"map","values":["string","int","null"]}}`
)

// TestCheckEvolutions runs every evolution rule under BACKWARD, FORWARD
// and FULL, checking both the verdict and the explanation.
func TestCheckEvolutions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		old, new string
		// want holds, for BACKWARD and FORWARD, the problem messages
		// expected; a level missing from the map must pass. FULL must
		// report both lists, a message in both once.
		want map[Level][]string
	}{
		{
			name: "add field with default",
			old:  record(fID),
			new:  record(fID + `,{"name":"note","type":"string","default":""}`),
		},
		{
			name: "add field without default",
			old:  record(fID),
			new:  record(fID + `,{"name":"note","type":"string"}`),
			want: map[Level][]string{
				Backward: {"field note added without a default (old data has no value for it)"},
			},
		},
		{
			name: "remove field with default",
			old:  record(fID + `,{"name":"note","type":"string","default":""}`),
			new:  record(fID),
		},
		{
			name: "remove field without default",
			old:  record(fID + `,{"name":"value","type":"long"}`),
			new:  record(fID),
			want: map[Level][]string{
				Forward: {"field value removed without a default (readers of the old schema need a value for it)"},
			},
		},
		{
			name: "change type",
			old:  record(fID + "," + fAmount),
			new:  record(fID + `,{"name":"amount","type":"string"}`),
			want: map[Level][]string{
				Backward: {"field amount changed type from int to string"},
				Forward:  {"field amount changed type from int to string"},
			},
		},
		{
			name: "widen int to long",
			old:  record(fAmount),
			new:  record(`{"name":"amount","type":"long"}`),
			want: map[Level][]string{
				Forward: {"field amount changed type from int to long (a widening: readers of the old schema cannot read the wider type)"},
			},
		},
		{
			name: "narrow long to int",
			old:  record(`{"name":"amount","type":"long"}`),
			new:  record(fAmount),
			want: map[Level][]string{
				Backward: {"field amount changed type from long to int (a narrowing: only int->long->float->double and string<->bytes may change)"},
			},
		},
		{
			name: "string to bytes both ways",
			old:  record(`{"name":"blob","type":"string"}`),
			new:  record(`{"name":"blob","type":"bytes"}`),
		},
		{
			name: "enum symbol added",
			old:  record(fStatus),
			new:  record(fStatus3),
			want: map[Level][]string{
				Forward: {"enum symbol ARCHIVED added to field status (readers of the old schema do not know it and the old enum has no default)"},
			},
		},
		{
			name: "enum symbol added, old enum has a default",
			old:  record(fStatusD),
			new:  record(fStatus3D),
		},
		{
			name: "enum symbol removed",
			old:  record(fStatus3),
			new:  record(fStatus),
			want: map[Level][]string{
				Backward: {"enum symbol ARCHIVED removed from field status (old data may hold it; an enum default in the new schema would cover it)"},
			},
		},
		{
			name: "enum symbol removed, new enum has a default",
			old:  record(fStatus3D),
			new:  record(fStatusD),
		},
		{
			name: "union widening",
			old:  record(fMetaNarr),
			new:  record(fMeta),
			want: map[Level][]string{
				Forward: {"union branch boolean added to the values of field metadata (readers of the old schema cannot read it)"},
			},
		},
		{
			name: "union narrowing",
			old:  record(fMeta),
			new:  record(fMetaNarr),
			want: map[Level][]string{
				Backward: {"union branch boolean removed from the values of field metadata (old data may hold it)"},
			},
		},
		{
			name: "made nullable via union with null",
			old:  record(fUser),
			new:  record(fUserNull),
			want: map[Level][]string{
				Forward: {"field user_id became nullable (readers of the old schema cannot read null)"},
			},
		},
		{
			name: "no longer nullable",
			old:  record(fUserNull),
			new:  record(fUser),
			want: map[Level][]string{
				Backward: {"field user_id is no longer nullable (old data may hold null)"},
			},
		},
		{
			name: "int to nullable string",
			old:  record(fAmount),
			new:  record(`{"name":"amount","type":["null","string"],"default":null}`),
			want: map[Level][]string{
				Backward: {"field amount changed type from int to union [null, string]"},
				Forward:  {"field amount changed type from int to union [null, string] (readers of the old schema cannot read null or string)"},
			},
		},
		{
			name: "record inside a nullable union changed",
			old:  record(`{"name":"address","type":["null",{"type":"record","name":"Address","fields":[{"name":"zip","type":"int"}]}],"default":null}`),
			new:  record(`{"name":"address","type":["null",{"type":"record","name":"Address","fields":[{"name":"zip","type":"int"},{"name":"city","type":"string"}]}],"default":null}`),
			want: map[Level][]string{
				Backward: {"field address.city added without a default (old data has no value for it)"},
			},
		},
		{
			name: "new nullable field with null default",
			old:  record(fID),
			new:  record(fID + "," + fUserNull),
		},
		{
			name: "nested record field changed type",
			old:  record(`{"name":"address","type":{"type":"record","name":"Address","fields":[{"name":"zip","type":"int"}]}}`),
			new:  record(`{"name":"address","type":{"type":"record","name":"Address","fields":[{"name":"zip","type":"string"}]}}`),
			want: map[Level][]string{
				Backward: {"field address.zip changed type from int to string"},
				Forward:  {"field address.zip changed type from int to string"},
			},
		},
		{
			name: "record renamed without alias",
			old:  record(`{"name":"address","type":{"type":"record","name":"Address","fields":[]}}`),
			new:  record(`{"name":"address","type":{"type":"record","name":"Location","fields":[]}}`),
			want: map[Level][]string{
				Backward: {`record com.example.Address renamed to com.example.Location in field address (list "com.example.Address" in the new record's aliases)`},
				Forward:  {"record com.example.Address renamed to com.example.Location in field address (readers of the old schema do not know the new name)"},
			},
		},
		{
			name: "field renamed with alias",
			old:  record(fAmount),
			new:  record(`{"name":"total","aliases":["amount"],"type":"int"}`),
			want: map[Level][]string{
				Forward: {"field amount removed without a default (readers of the old schema need a value for it)"},
			},
		},
		{
			name: "array items changed type",
			old:  record(`{"name":"tags","type":{"type":"array","items":"string"}}`),
			new:  record(`{"name":"tags","type":{"type":"array","items":"int"}}`),
			want: map[Level][]string{
				Backward: {"the items of field tags changed type from string to int"},
				Forward:  {"the items of field tags changed type from string to int"},
			},
		},
		{
			name: "several problems at once",
			old:  record(fID + "," + fAmount + "," + fStatus3),
			new:  record(`{"name":"amount","type":"string"},` + fStatus + `,{"name":"note","type":"string"}`),
			want: map[Level][]string{
				Backward: {
					"field amount changed type from int to string",
					"enum symbol ARCHIVED removed from field status (old data may hold it; an enum default in the new schema would cover it)",
					"field note added without a default (old data has no value for it)",
				},
				Forward: {
					"field id removed without a default (readers of the old schema need a value for it)",
					"field amount changed type from int to string",
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			old, nw := parse(t, tt.old), parse(t, tt.new)
			for _, level := range []Level{Backward, Forward, Full, None} {
				got := messages(Check(level, nw, []Version{{Label: "v1", Schema: old}}))
				want := tt.want[level]
				if level == Full {
					want = slices.Clone(tt.want[Backward])
					for _, m := range tt.want[Forward] {
						if !slices.Contains(want, m) {
							want = append(want, m)
						}
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s: got %q, want %q", level, got, want)
				}
				// The verdict is the library's; the explanation must agree.
				if level == None {
					continue
				}
				sc := avro.NewSchemaCompatibility()
				libOK := true
				if level == Backward || level == Full {
					libOK = libOK && sc.Compatible(nw, old) == nil
				}
				if level == Forward || level == Full {
					libOK = libOK && sc.Compatible(old, nw) == nil
				}
				if libOK != (len(got) == 0) {
					t.Errorf("%s: library says compatible=%v, explanation %q", level, libOK, got)
				}
			}
		})
	}
}

func messages(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Message)
	}
	return out
}

// TestTransitive shows the difference the _TRANSITIVE levels make: each
// step is compatible with its predecessor, the last one not with v1.
func TestTransitive(t *testing.T) {
	t.Parallel()
	// v1 has no note; v2 adds note with a default; v3 drops the default.
	// v3 reads v2 data (note is there) but not v1 data (note is missing).
	v1 := parse(t, record(fID))
	v2 := parse(t, record(fID+`,{"name":"note","type":"string","default":""}`))
	v3 := parse(t, record(fID+`,{"name":"note","type":"string"}`))
	earlier := []Version{{"v1", v1}, {"v2", v2}}

	if got := Check(Backward, v3, earlier); len(got) != 0 {
		t.Errorf("BACKWARD against the latest (v2): got %v, want none", got)
	}
	got := Check(BackwardTransitive, v3, earlier)
	want := []Problem{{Against: "v1", Direction: DirBackward, Message: "field note added without a default (old data has no value for it)"}}
	if !slices.Equal(got, want) {
		t.Errorf("BACKWARD_TRANSITIVE: got %v, want %v", got, want)
	}

	// Forward: v2 adds a field, v3 removes another with a default that v1
	// lacked. v1 readers cannot read v3 data; v2 readers can.
	f1 := parse(t, record(fID+","+fAmount))
	f2 := parse(t, record(fID+`,{"name":"amount","type":"int","default":0}`))
	f3 := parse(t, record(fID))
	fe := []Version{{"v1", f1}, {"v2", f2}}
	if got := Check(Forward, f3, fe); len(got) != 0 {
		t.Errorf("FORWARD against v2: got %v, want none", got)
	}
	got = Check(ForwardTransitive, f3, fe)
	want = []Problem{{Against: "v1", Direction: DirForward, Message: "field amount removed without a default (readers of the old schema need a value for it)"}}
	if !slices.Equal(got, want) {
		t.Errorf("FORWARD_TRANSITIVE: got %v, want %v", got, want)
	}

	// FULL_TRANSITIVE asks both, against both.
	got = Check(FullTransitive, v3, earlier)
	if len(got) != 1 || got[0].Against != "v1" || got[0].Direction != DirBackward {
		t.Errorf("FULL_TRANSITIVE: got %v, want one backward problem against v1", got)
	}
	if got := Check(Full, v3, earlier); len(got) != 0 {
		t.Errorf("FULL against v2: got %v, want none", got)
	}
}

func TestCheckNoEarlierVersion(t *testing.T) {
	t.Parallel()
	if got := Check(FullTransitive, parse(t, record(fID)), nil); got != nil {
		t.Errorf("no earlier version: got %v, want nil", got)
	}
}

func TestProblemString(t *testing.T) {
	t.Parallel()
	p := Problem{Against: "v1", Direction: DirForward, Message: "field value removed without a default"}
	if got, want := p.String(), "field value removed without a default [forward, against v1]"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	for _, l := range Levels {
		got, err := ParseLevel(strings.ToLower(string(l)))
		if err != nil || got != l {
			t.Errorf("ParseLevel(%q): got %q, %v, want %q", strings.ToLower(string(l)), got, err, l)
		}
	}
	if _, err := ParseLevel("SIDEWAYS"); !errors.Is(err, ErrUnknownLevel) {
		t.Errorf("ParseLevel(SIDEWAYS): got %v, want ErrUnknownLevel", err)
	}
	for l, want := range map[Level]bool{Backward: false, FullTransitive: true, ForwardTransitive: true, None: false} {
		if l.Transitive() != want {
			t.Errorf("%s.Transitive(): got %v, want %v", l, !want, want)
		}
	}
}

// TestExplainRecursive walks a self-referencing type without looping.
func TestExplainRecursive(t *testing.T) {
	t.Parallel()
	old := parse(t, `{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}`)
	nw := parse(t, `{"type":"record","name":"Node","fields":[{"name":"v","type":"string"},{"name":"next","type":["null","Node"]}]}`)
	got := Explain(nw, old, true)
	if want := []string{"field v changed type from int to string"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestCheckBothDirections(t *testing.T) {
	t.Parallel()
	got := Check(Full, parse(t, record(`{"name":"amount","type":"string"}`)), []Version{{"v1", parse(t, record(fAmount))}})
	want := []Problem{{Against: "v1", Direction: DirBoth, Message: "field amount changed type from int to string"}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if s, w := got[0].String(), "field amount changed type from int to string [backward and forward, against v1]"; s != w {
		t.Errorf("String: got %q, want %q", s, w)
	}
}
