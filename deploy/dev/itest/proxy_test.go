//go:build integration

package itest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/schemaproxy/schemaproxy/deploy/dev/testbed"
	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/proxy"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// suitePolicy is every proxy's topic policy: the default policy (a value
// must carry a Confluent schema ID registered under <topic>-value) for
// every topic but those named plain.*, which hold plain records and pass
// unchecked, and those named payload.*, whose values must also decode
// against the schema their ID names (mode payload; Protobuf fields the
// message does not declare are refused, except on topics named
// payload.unknown-fields.*). A test that forgets the prefix gets
// INVALID_RECORD, not a silent pass.
const suitePolicy = `
rules:
  - topics: ["plain.*"]
    value: {mode: off}
  - topics: ["payload.unknown-fields.*"]
    value: {mode: payload, unknown_fields: allow}
  - topics: ["payload.*"]
    value: {mode: payload}
`

// Topic name prefixes for suitePolicy's rules.
const (
	plainPrefix         = "plain."                  // plain, unframed records: unchecked
	payloadPrefix       = "payload."                // mode payload
	unknownFieldsPrefix = "payload.unknown-fields." // mode payload, unknown_fields: allow
)

// policy is suitePolicy, parsed once.
var policy = sync.OnceValues(func() (*enforce.Policy, error) {
	return enforce.ParsePolicy([]byte(suitePolicy))
})

// schemaProxy is a schemaproxy run in this process in front of one broker,
// enforcing suitePolicy against the suite's registry.
type schemaProxy struct {
	k      *testbed.Kafka
	p      *proxy.Proxy
	m      *metrics.Metrics
	caFile string // PEM CA of the proxy's own TLS certificate; SSL brokers only
	log    *os.File
}

// proxies maps each broker to the proxy in front of it, for target.
var proxies = struct {
	sync.Mutex
	m map[*testbed.Kafka]*schemaProxy
}{m: map[*testbed.Kafka]*schemaProxy{}}

// startProxy starts a proxy in front of k with its log and certificates in
// dir, and registers it as k's target. In SSL mode it terminates client TLS
// with a certificate of its own CA (dir/proxy-ca.pem), and speaks TLS to
// the broker, trusting k.CAFile. SASL passes through it to the broker.
func startProxy(ctx context.Context, k *testbed.Kafka, dir string) (*schemaProxy, error) {
	pol, err := policy()
	if err != nil {
		return nil, fmt.Errorf("suite policy: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "proxy.log"))
	if err != nil {
		return nil, err
	}
	sp := &schemaProxy{k: k, m: metrics.New(), log: logFile}
	log := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))

	cl, err := sr.NewClient(sr.URLs(registry.URL()))
	if err != nil {
		return nil, errors.Join(err, logFile.Close())
	}
	m := sp.m
	reg := enforce.NewRegistry(cl, enforce.WithRegistryObserver(enforce.RegistryObserver{
		Request:     func(o string) { m.Enforce.RegistryCalls.WithLabelValues(o).Inc() },
		CacheLookup: func(r string) { m.Enforce.CacheLookups.WithLabelValues(r).Inc() },
	}))
	listen, base, err := proxytest.FindFreePorts(8)
	if err != nil {
		return nil, errors.Join(err, logFile.Close())
	}
	cfg := proxy.Config{
		Listen:         listen,
		Upstream:       []string{k.Bootstrap},
		BrokerPortBase: base,
		Checker:        enforce.New(enforce.FixedPolicy(pol), reg, enforce.WithLogger(log), enforce.WithMetrics(m.Enforce)),
	}
	if k.Mode == testbed.SSL {
		if cfg.ClientTLS, sp.caFile, err = proxyTLS(dir); err != nil {
			return nil, errors.Join(err, logFile.Close())
		}
		if cfg.UpstreamTLS, err = brokerTLS(k.CAFile); err != nil {
			return nil, errors.Join(err, logFile.Close())
		}
	}
	if sp.p, err = proxy.New(cfg, log, m); err != nil {
		return nil, errors.Join(err, logFile.Close())
	}
	if err := sp.p.Start(ctx); err != nil {
		return nil, errors.Join(err, logFile.Close())
	}
	proxies.Lock()
	proxies.m[k] = sp
	proxies.Unlock()
	return sp, nil
}

// startProxyT starts a proxy in front of a test's own broker and shuts it
// down when the test ends (before a broker of StartKafkaT stops, as
// cleanups run last-in first-out).
func startProxyT(t testing.TB, k *testbed.Kafka) *schemaProxy {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sp, err := startProxy(ctx, k, t.TempDir())
	if err != nil {
		t.Fatalf("starting a proxy in front of the %s broker: %v", k.Mode, err)
	}
	t.Cleanup(func() {
		if err := sp.stop(); err != nil {
			t.Errorf("stopping the proxy: %v", err)
		}
	})
	return sp
}

// stop shuts the proxy down, giving in-flight requests a few seconds.
func (sp *schemaProxy) stop() error {
	proxies.Lock()
	delete(proxies.m, sp.k)
	proxies.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := sp.p.Shutdown(ctx)
	return errors.Join(err, sp.log.Close())
}

// proxyOf returns the proxy in front of k, failing the test if there is none.
func proxyOf(t testing.TB, k *testbed.Kafka) *schemaProxy {
	t.Helper()
	proxies.Lock()
	defer proxies.Unlock()
	sp := proxies.m[k]
	if sp == nil {
		t.Fatalf("no schemaproxy in front of the %s broker at %s", k.Mode, k.Bootstrap)
	}
	return sp
}

// bootstrap is the proxy's bootstrap listener address.
func (sp *schemaProxy) bootstrap() string { return sp.p.Addr().String() }

// flags returns the harness flags for connecting to the proxy with sec:
// those of the broker, except that TLS clients trust the proxy's CA.
func (sp *schemaProxy) flags(sec testbed.Security) []string {
	if sec == testbed.SecSSL {
		return []string{"--security", string(sec), "--ca-file", sp.caFile}
	}
	return sp.k.Flags(sec)
}

// counter sums the samples of the counter name whose labels include all
// of want.
func (sp *schemaProxy) counter(name string, want map[string]string) float64 {
	mfs, err := sp.m.Registry.Gather()
	if err != nil {
		return -1
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue metric
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// requests returns how many requests of api (a kmsg name: Produce, Fetch)
// the proxy has read from clients.
func (sp *schemaProxy) requests(api string) float64 {
	return sp.counter("schemaproxy_requests_total", map[string]string{"api": api})
}

// rejections returns how many Produce partitions of topic the proxy has
// rejected for reason.
func (sp *schemaProxy) rejections(topic string, reason enforce.Reason) float64 {
	return sp.counter("schemaproxy_rejections_total", map[string]string{"topic": topic, "reason": string(reason)})
}

// accepted returns how many records of topic the proxy has checked and
// passed.
func (sp *schemaProxy) accepted(topic string) float64 {
	return sp.counter("schemaproxy_records_validated_total", map[string]string{"topic": topic, "result": "accepted"})
}

// checkBrokers checks that every broker address the harness learned from
// its metadata is the proxy's listener for that node: never the broker's
// own address, never an address the proxy does not serve.
func (sp *schemaProxy) checkBrokers(t testing.TB, client testbed.Client, es testbed.Events) {
	t.Helper()
	reports := es.Of(testbed.EvBrokers)
	if len(reports) == 0 {
		t.Errorf("%s reported no broker addresses from its metadata", client)
		return
	}
	_, brokerPort, _ := net.SplitHostPort(sp.k.Bootstrap)
	for _, e := range reports {
		if len(e.Brokers) == 0 {
			t.Errorf("%s: metadata named no brokers", client)
		}
		for _, b := range e.Brokers {
			addr := b.Addr()
			switch want := sp.p.NodeAddr(b.NodeID); {
			case addr == sp.k.Bootstrap || strconv.Itoa(int(b.Port)) == brokerPort:
				t.Errorf("%s learned the broker's own address %s for node %d; the proxy serves it at %s", client, addr, b.NodeID, want)
			case want == "":
				t.Errorf("%s learned %s for node %d, for which the proxy has no listener", client, addr, b.NodeID)
			case addr != want:
				t.Errorf("%s learned %s for node %d, want the proxy's listener %s", client, addr, b.NodeID, want)
			}
		}
	}
}

// proxyTLS makes a throwaway CA and a certificate it signs for 127.0.0.1
// and localhost, writes the CA to dir/proxy-ca.pem and returns the server
// configuration and that file's path.
func proxyTLS(dir string) (*tls.Config, string, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "schemaproxy itest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, "", err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "schemaproxy"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, "", err
	}
	caFile := filepath.Join(dir, "proxy-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		return nil, "", err
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, caFile, nil
}

// brokerTLS is the proxy's client configuration toward a broker whose
// certificate caFile signed; the server name is the host dialed.
func brokerTLS(caFile string) (*tls.Config, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("no PEM certificate in %s", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
