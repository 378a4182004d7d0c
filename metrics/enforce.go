package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// OtherTopic is the topic label value of every topic past the cap.
const OtherTopic = "_other"

// DefaultTopicCap is how many distinct topic label values are kept.
const DefaultTopicCap = 100

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
// The topic label is capped by Topic: the first DefaultTopicCap topics it
// is asked about keep their names, later ones count as OtherTopic
// ("_other"), so label cardinality stays bounded.
type Enforcement struct {
	Validated      *prometheus.CounterVec
	Rejections     *prometheus.CounterVec
	RegistryCalls  *prometheus.CounterVec
	CacheLookups   *prometheus.CounterVec
	LookupsRefused *prometheus.CounterVec
	RegistryActive prometheus.Gauge
	ValidationTime prometheus.Histogram
	topicCap       int
	mu             sync.RWMutex
	topics         map[string]struct{}
}

// newEnforcement creates the enforcement series and registers them on reg.
func newEnforcement(reg *prometheus.Registry) *Enforcement {
	e := &Enforcement{topicCap: DefaultTopicCap, topics: make(map[string]struct{})}
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

// Topic returns the label value for topic: itself while fewer than the
// cap have been seen, else OtherTopic.
func (e *Enforcement) Topic(topic string) string {
	e.mu.RLock()
	_, seen := e.topics[topic]
	full := len(e.topics) >= e.topicCap
	e.mu.RUnlock()
	switch {
	case seen:
		return topic
	case full:
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
