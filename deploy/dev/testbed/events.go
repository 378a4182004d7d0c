package testbed

import (
	"encoding/json"
	"net"
	"slices"
	"strconv"
)

// The event kinds harnesses print, one JSON object per line.
const (
	EvStart        = "start"         // Client, Library, Version (+ Librdkafka), Topic
	EvProduced     = "produced"      // Topic, Partition, Offset, Key (+ SchemaID)
	EvProduceError = "produce_error" // Topic, Key, Code (Kafka error name), Error
	EvTxn          = "txn"           // Action (commit or abort), TransactionalID
	EvBrokers      = "brokers"       // Brokers: the broker addresses a producer or consumer learned from metadata
	EvConsumed     = "consumed"      // Topic, Partition, Offset, Key, Value or Record (+ SchemaID)
	EvConsumeError = "consume_error" // Code (DESERIALIZATION or a Kafka error name), Error, record coordinates
	EvError        = "error"         // Error: fatal, the harness exits non-zero
	EvDone         = "done"          // Produced, ProduceErrors, Consumed, ConsumeErrors; always last
)

// Event is one line of harness output. Fields a kind does not use are zero.
type Event struct {
	Event           string          `json:"event"`
	Client          string          `json:"client,omitempty"`
	Library         string          `json:"library,omitempty"`
	Version         string          `json:"version,omitempty"`
	Librdkafka      string          `json:"librdkafka,omitempty"`
	Topic           string          `json:"topic,omitempty"`
	Partition       int32           `json:"partition"`
	Offset          int64           `json:"offset"`
	Key             string          `json:"key,omitempty"`
	Value           string          `json:"value,omitempty"`
	Record          json.RawMessage `json:"record,omitempty"`
	SchemaID        int             `json:"schema_id,omitempty"`
	Code            string          `json:"code,omitempty"`
	Error           string          `json:"error,omitempty"`
	Action          string          `json:"action,omitempty"`
	TransactionalID string          `json:"transactional_id,omitempty"`
	Brokers         []Broker        `json:"brokers,omitempty"`
	Produced        int             `json:"produced"`
	ProduceErrors   int             `json:"produce_errors"`
	Consumed        int             `json:"consumed"`
	ConsumeErrors   int             `json:"consume_errors"`
}

// Broker is one broker as a client's cluster metadata names it.
type Broker struct {
	NodeID int32  `json:"node_id"`
	Host   string `json:"host"`
	Port   int32  `json:"port"`
}

// Addr is the broker's HOST:PORT.
func (b Broker) Addr() string { return net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))) }

// MarshalJSON writes only the fields of e's kind, as the other harnesses do:
// partition and offset on record events, counts on done.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event // no methods: no recursion
	m := map[string]any{}
	b, err := json.Marshal(plain(e))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	switch e.Event {
	case EvProduced, EvConsumed, EvConsumeError:
	default:
		delete(m, "partition")
		delete(m, "offset")
	}
	if e.Event != EvDone {
		for _, k := range []string{"produced", "produce_errors", "consumed", "consume_errors"} {
			delete(m, k)
		}
	}
	// "event" first, as the other harnesses print it; the rest sorted.
	delete(m, "event")
	kind, err := json.Marshal(e.Event)
	if err != nil {
		return nil, err
	}
	rest, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	out := append([]byte(`{"event":`), kind...)
	if len(rest) > 2 {
		out = append(append(out, ','), rest[1:]...)
		return out, nil
	}
	return append(out, '}'), nil
}

// Events is a harness's output in order.
type Events []Event

// Of returns the events of kind, in order.
func (es Events) Of(kind string) Events {
	var out Events
	for _, e := range es {
		if e.Event == kind {
			out = append(out, e)
		}
	}
	return out
}

// Keys returns the keys of the events of kind, sorted.
func (es Events) Keys(kind string) []string {
	var keys []string
	for _, e := range es.Of(kind) {
		keys = append(keys, e.Key)
	}
	slices.Sort(keys)
	return keys
}

// Done returns the closing done event, and false when the harness printed
// none (it crashed or was killed).
func (es Events) Done() (Event, bool) {
	if n := len(es); n > 0 && es[n-1].Event == EvDone {
		return es[n-1], true
	}
	return Event{}, false
}

// Start returns the opening start event (client name and library version).
func (es Events) Start() (Event, bool) {
	if len(es) > 0 && es[0].Event == EvStart {
		return es[0], true
	}
	return Event{}, false
}
