package testbed

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestEventJSON(t *testing.T) {
	tests := []struct {
		e    Event
		want string
	}{
		{Event{Event: EvProduced, Topic: "t", Partition: 0, Offset: 0, Key: "k-0"},
			`{"event":"produced","key":"k-0","offset":0,"partition":0,"topic":"t"}`},
		{Event{Event: EvStart, Client: "go", Library: "franz-go", Version: "v1"},
			`{"event":"start","client":"go","library":"franz-go","version":"v1"}`},
		{Event{Event: EvDone, Produced: 3},
			`{"event":"done","consume_errors":0,"consumed":0,"produce_errors":0,"produced":3}`},
		{Event{Event: EvConsumed, Partition: 2, Offset: 7, Key: "k", Record: json.RawMessage(`{"id":1}`), SchemaID: 4},
			`{"event":"consumed","key":"k","offset":7,"partition":2,"record":{"id":1},"schema_id":4}`},
		{Event{Event: EvBrokers, Brokers: []Broker{{NodeID: 1, Host: "127.0.0.1", Port: 9093}}},
			`{"event":"brokers","brokers":[{"host":"127.0.0.1","node_id":1,"port":9093}]}`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.e)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("got %s, want %s", got, tt.want)
		}
		var back Event
		if err := json.Unmarshal(got, &back); err != nil || back.Event != tt.e.Event || back.Offset != tt.e.Offset {
			t.Errorf("%s did not read back: %+v, %v", got, back, err)
		}
	}
}

func TestParseEvents(t *testing.T) {
	out := strings.Join([]string{
		`{"event": "start", "client": "python"}`, // Python's separators
		`%4|1795971176.926|GETPID|librdkafka noise`,
		``,
		`{"event":"produced","topic":"t","partition":1,"offset":5,"key":"k-1"}`,
		`{"no_event":1}`,
		`{"event":"done","produced":1}`,
	}, "\n")
	es, err := parseEvents(strings.NewReader(out))
	if len(es) != 3 || es[1].Partition != 1 || es[1].Offset != 5 {
		t.Errorf("got %+v, want start, produced 1/5, done", es)
	}
	if err == nil || !strings.Contains(err.Error(), "2 stdout lines") {
		t.Errorf("got error %v, want one naming 2 bad lines", err)
	}
	if d, ok := es.Done(); !ok || d.Produced != 1 {
		t.Errorf("Done() = %+v, %v", d, ok)
	}
	if got := es.Keys(EvProduced); len(got) != 1 || got[0] != "k-1" {
		t.Errorf("Keys = %v", got)
	}
}

func TestPlainValue(t *testing.T) {
	// Every harness pads the same way; this is the Java, Python and Node value.
	if got, want := string(plainValue(7, 12)), "value-7-ijkl"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := plainValue(123456, 5); string(got) != "value-123456-" {
		t.Errorf("a value longer than size is not cut: got %q", got)
	}
}
