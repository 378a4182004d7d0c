// Package metrics holds schemaproxy's Prometheus collectors, registered on a
// registry of their own (never the global one).
//
// Series, all prefixed schemaproxy_:
//
//	requests_total{api}                 counter  requests read from clients, by API name (never version)
//	connections_active{listener}        gauge    open client connections; listener is "bootstrap" or "broker-<node id>"
//	connections_total{listener}         counter  client connections accepted
//	connection_errors_total{reason}     counter  client connections closed on an error; reason is one of
//	                                             framing, protocol, upstream_dial, upstream, rewrite, tls, panic,
//	                                             acks0_rejected
//	client_received_bytes_total         counter  client frames by the size their prefix declares, prefix included,
//	                                             counted when the prefix passes the framing checks
//	client_sent_bytes_total             counter  response frames written to clients, prefix included, after any rewrite
//	local_responses_total{api}          counter  responses the proxy answered itself instead of the broker
//	produce_proxy_seconds{leg}          histogram  time a Produce spends inside the proxy, per leg:
//	                                               request: from the last byte of the frame read from the
//	                                               client to the end of its write upstream, or, for a request
//	                                               the proxy answers itself, to the queueing of that answer;
//	                                               response: from the upstream response's size prefix read
//	                                               to the end of its write to the client (acks=0 has none)
//	log_lines_suppressed_total          counter  log lines about refused or failed client connections held back
//	                                             by the process-wide log rate limit (the next line let through
//	                                             says how many, as suppressed=N)
//
// plus the enforcement series listed at Enforcement, and the standard go_*
// and process_* collectors. The api label takes the
// names kmsg gives API keys; keys kmsg does not know count as "Unknown".
// Metrics does not serve HTTP; Handler returns a handler for the caller to mount.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Connection error reasons, the values of connection_errors_total's reason label.
const (
	ReasonFraming      = "framing"
	ReasonProtocol     = "protocol"
	ReasonUpstreamDial = "upstream_dial"
	ReasonUpstream     = "upstream"
	ReasonRewrite      = "rewrite"
	ReasonTLS          = "tls"
	ReasonPanic        = "panic"
	// ReasonAcks0Rejected: an acks=0 Produce had a partition rejected; the
	// connection is closed because nothing else can tell the client.
	ReasonAcks0Rejected = "acks0_rejected"
)

// produceBuckets are the upper bounds, in seconds, of produce_proxy_seconds:
// 1, 1.5, 2, 3, 5 and 7 times each power of ten from 10 µs to 100 ms, then
// 1 s: adjacent bounds are at most 5/3 apart, from 10 µs to 1 s.
var produceBuckets = []float64{
	.00001, .000015, .00002, .00003, .00005, .00007,
	.0001, .00015, .0002, .0003, .0005, .0007,
	.001, .0015, .002, .003, .005, .007,
	.01, .015, .02, .03, .05, .07,
	.1, .15, .2, .3, .5, .7,
	1,
}

// maxKey bounds the per-key counter cache; larger keys share "Unknown".
const maxKey = 128

// Metrics is the set of schemaproxy collectors. All methods are safe for
// concurrent use. A nil *Metrics is not valid; use New.
type Metrics struct {
	Registry *prometheus.Registry

	ConnectionsActive *prometheus.GaugeVec
	ConnectionsTotal  *prometheus.CounterVec
	ConnectionErrors  *prometheus.CounterVec
	ClientReceived    prometheus.Counter
	ClientSent        prometheus.Counter

	// ProduceRequestTime and ProduceResponseTime are the request and
	// response legs of produce_proxy_seconds.
	ProduceRequestTime  prometheus.Observer
	ProduceResponseTime prometheus.Observer
	// LogSuppressed counts log lines held back by a rate limit.
	LogSuppressed prometheus.Counter

	requests [maxKey + 1]prometheus.Counter // index maxKey: Unknown
	local    [maxKey + 1]prometheus.Counter

	// Enforce holds the schema-enforcement series.
	Enforce *Enforcement
}

// New returns collectors registered on a fresh registry, with the Go and
// process collectors alongside.
func New() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "schemaproxy_requests_total",
		Help: "Requests read from clients, by API.",
	}, []string{"api"})
	local := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "schemaproxy_local_responses_total",
		Help: "Responses schemaproxy answered itself instead of forwarding, by API.",
	}, []string{"api"})
	m.ConnectionsActive = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "schemaproxy_connections_active",
		Help: "Open client connections, by listener.",
	}, []string{"listener"})
	m.ConnectionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "schemaproxy_connections_total",
		Help: "Client connections accepted, by listener.",
	}, []string{"listener"})
	m.ConnectionErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "schemaproxy_connection_errors_total",
		Help: "Client connections closed because of an error, by reason.",
	}, []string{"reason"})
	m.ClientReceived = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "schemaproxy_client_received_bytes_total",
		Help: "Client request frames by declared size, size prefixes included, counted when the prefix passes the framing checks.",
	})
	m.ClientSent = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "schemaproxy_client_sent_bytes_total",
		Help: "Response frames written to clients, size prefixes included, at their size after any rewrite.",
	})
	produceTime := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "schemaproxy_produce_proxy_seconds",
		Help:    "Time a Produce spends inside schemaproxy, by leg: request (frame read from the client to written upstream, or answered locally) and response (size prefix read from upstream to written to the client).",
		Buckets: produceBuckets,
	}, []string{"leg"})
	m.LogSuppressed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "schemaproxy_log_lines_suppressed_total",
		Help: "Log lines about refused or failed client connections held back by the log rate limit.",
	})
	m.ProduceRequestTime = produceTime.WithLabelValues("request")
	m.ProduceResponseTime = produceTime.WithLabelValues("response")
	m.Registry.MustRegister(requests, local, m.ConnectionsActive, m.ConnectionsTotal,
		m.ConnectionErrors, m.ClientReceived, m.ClientSent, produceTime, m.LogSuppressed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for k := range maxKey {
		name := kmsg.NameForKey(int16(k))
		if name == "Unknown" {
			continue
		}
		m.requests[k] = requests.WithLabelValues(name)
		m.local[k] = local.WithLabelValues(name)
	}
	m.Enforce = newEnforcement(m.Registry)
	m.requests[maxKey] = requests.WithLabelValues("Unknown")
	m.local[maxKey] = local.WithLabelValues("Unknown")
	for _, r := range []string{ReasonFraming, ReasonProtocol, ReasonUpstreamDial, ReasonUpstream, ReasonRewrite, ReasonTLS, ReasonPanic, ReasonAcks0Rejected} {
		m.ConnectionErrors.WithLabelValues(r)
	}
	return m
}

func index(key int16, arr *[maxKey + 1]prometheus.Counter) prometheus.Counter {
	if key >= 0 && int(key) < maxKey && arr[key] != nil {
		return arr[key]
	}
	return arr[maxKey]
}

// Request counts one request of the given API key.
func (m *Metrics) Request(key int16) { index(key, &m.requests).Inc() }

// LocalResponse counts one response answered by the proxy itself.
func (m *Metrics) LocalResponse(key int16) { index(key, &m.local).Inc() }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
