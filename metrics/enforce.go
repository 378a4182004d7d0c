package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// OtherTopic is the topic label value of every topic past the cap.
const OtherTopic = "_other"

// DefaultTopicCap is how many distinct topic label values are kept.
const DefaultTopicCap = 100

// DefaultKnownTopicCap bounds the names NoteTopic remembers as existing
// upstream: about 2.5 MB at most with Kafka's 249-byte names. Past it,
// further names are not remembered, so topics not yet labelled count as
// OtherTopic.
const DefaultKnownTopicCap = 10000

// Enforcement holds the schema-enforcement series:
//
//	records_validated_total{topic,result}  counter    records checked; accepted (its batch passed) or rejected (failed its own check)
//	rejections_total{topic,reason}         counter    partitions rejected, by reason (a fixed enum)
//	registry_requests_total{outcome}       counter    registry HTTP calls; outcome is ok, not_found or error
//	registry_cache_lookups_total{result}   counter    registry cache look-ups; result is hit or miss
//	registry_lookups_refused_total{reason} counter    look-ups not sent to the registry because of a bound (the record
//	                                                  got a retriable error); reason is request_limit (the Produce
//	                                                  request's budget), connection_limit (the connection's budget
//	                                                  per minute) or process_limit (no request slot freed in time)
//	registry_requests_in_flight            gauge      registry HTTP requests under way (at most the process bound)
//	validation_duration_seconds            histogram  time to judge one partition's batch
//
// The topic label is capped by Topic: only topics known to exist take a
// label of their own, the first DefaultTopicCap of them that Topic is asked
// about; any other topic counts as OtherTopic ("_other"). A topic is known
// once NoteTopic is told of it: the proxy notes every topic a broker's
// Metadata response lists without error, and the enforcer every topic
// whose records passed a check. So a flood of requests naming topics that
// do not exist counts as OtherTopic and takes no label, and label
// cardinality stays bounded. The known set itself is capped at
// DefaultKnownTopicCap names.
type Enforcement struct {
	Validated      *prometheus.CounterVec
	Rejections     *prometheus.CounterVec
	RegistryCalls  *prometheus.CounterVec
	CacheLookups   *prometheus.CounterVec
	LookupsRefused *prometheus.CounterVec
	RegistryActive prometheus.Gauge
	ValidationTime prometheus.Histogram
	topicCap       int
	knownCap       int
	mu             sync.RWMutex
	topics         map[string]struct{} // labelled topics, at most topicCap
	known          map[string]struct{} // topics seen to exist, at most knownCap
}

// newEnforcement creates the enforcement series and registers them on reg.
func newEnforcement(reg *prometheus.Registry) *Enforcement {
	e := &Enforcement{topicCap: DefaultTopicCap, knownCap: DefaultKnownTopicCap,
		topics: make(map[string]struct{}), known: make(map[string]struct{})}
	e.Validated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "schemaproxy_records_validated_total",
		Help: "Records checked against the topic policy, by topic and result: accepted (its batch passed) or rejected (failed its own check).",
	}, []string{"topic", "result"})
	e.Rejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "schemaproxy_rejections_total",
		Help: "Produce partitions rejected, by topic and reason.",
	}, []string{"topic", "reason"})
	e.RegistryCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "schemaproxy_registry_requests_total",
		Help: "Schema registry HTTP requests, by outcome (ok, not_found, error).",
	}, []string{"outcome"})
	e.CacheLookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "schemaproxy_registry_cache_lookups_total",
		Help: "Schema registry cache look-ups, by result (hit or miss).",
	}, []string{"result"})
	e.LookupsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "schemaproxy_registry_lookups_refused_total",
		Help: "Schema registry look-ups refused because of a bound, by reason (request_limit, connection_limit, process_limit); their records got a retriable error.",
	}, []string{"reason"})
	e.RegistryActive = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "schemaproxy_registry_requests_in_flight",
		Help: "Schema registry HTTP requests under way.",
	})
	e.ValidationTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "schemaproxy_validation_duration_seconds",
		Help:    "Time to judge one Produce partition's record batch.",
		Buckets: []float64{.00001, .00005, .0001, .0005, .001, .005, .01, .05, .1, .5, 1, 2.5},
	})
	for _, o := range []string{"ok", "not_found", "error"} {
		e.RegistryCalls.WithLabelValues(o)
	}
	for _, r := range []string{"hit", "miss"} {
		e.CacheLookups.WithLabelValues(r)
	}
	for _, r := range []string{"request_limit", "connection_limit", "process_limit"} {
		e.LookupsRefused.WithLabelValues(r)
	}
	reg.MustRegister(e.Validated, e.Rejections, e.RegistryCalls, e.CacheLookups, e.LookupsRefused, e.RegistryActive, e.ValidationTime)
	return e
}

// NoteTopic records that topic exists upstream (a broker listed it in a
// Metadata response) or that its records passed a check, so that Topic may
// give it a label of its own. Names past DefaultKnownTopicCap are not
// recorded. Safe for concurrent use.
func (e *Enforcement) NoteTopic(topic string) {
	e.mu.RLock()
	_, ok := e.known[topic]
	full := len(e.known) >= e.knownCap
	e.mu.RUnlock()
	if ok || full {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.known) < e.knownCap {
		e.known[topic] = struct{}{}
	}
}

// Topic returns the label value for topic: itself if it has a label, or
// if it is known (NoteTopic) and fewer than the cap have labels; else
// OtherTopic. A topic never noted takes no label however often it is
// asked about. Safe for concurrent use.
func (e *Enforcement) Topic(topic string) string {
	e.mu.RLock()
	_, labelled := e.topics[topic]
	_, known := e.known[topic]
	full := len(e.topics) >= e.topicCap
	e.mu.RUnlock()
	switch {
	case labelled:
		return topic
	case !known, full:
		return OtherTopic
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.topics[topic]; ok {
		return topic
	}
	if len(e.topics) >= e.topicCap {
		return OtherTopic
	}
	e.topics[topic] = struct{}{}
	return topic
}
