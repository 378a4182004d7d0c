package console

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestDescribe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rec  kgo.Record
		want string
	}{
		{"framed", kgo.Record{Topic: "t", Partition: 2, Offset: 7, Value: []byte{0, 0, 0, 1, 2, 6, 'a', 'b', 'c'}},
			`t[2] offset 7: schema id 258, 9 bytes: "\x06abc"`},
		{"unframed with key", kgo.Record{Topic: "t", Offset: 1, Key: []byte("k"), Value: []byte(`{"a":1}`)},
			`t[0] offset 1: key "k", 7 bytes: "{\"a\":1}"`},
		{"tombstone", kgo.Record{Topic: "t", Key: []byte("k")}, `t[0] offset 0: key "k", value null (tombstone)`},
		{"long", kgo.Record{Topic: "t", Value: []byte(strings.Repeat("x", 50))},
			`t[0] offset 0: 50 bytes: "` + strings.Repeat("x", previewBytes) + `"...`},
		{"magic byte but too short to frame", kgo.Record{Topic: "t", Value: []byte{0, 1}}, `t[0] offset 0: 2 bytes: "\x00\x01"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Describe(&tt.rec); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
