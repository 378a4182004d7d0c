package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// pki is a CA in a directory of PEM files, issuing certificates into it.
type pki struct {
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := &pki{dir: t.TempDir(), cert: cert, key: key, pool: x509.NewCertPool()}
	p.pool.AddCert(cert)
	p.write(t, "ca.pem", "CERTIFICATE", der)
	return p
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue writes name.pem and name-key.pem, a certificate for the DNS
// names or IP addresses in sans, good for servers and clients, and
// returns it loaded.
func (p *pki) issue(t *testing.T, name string, sans ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, s)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p.write(t, name+".pem", "CERTIFICATE", der)
	p.write(t, name+"-key.pem", "PRIVATE KEY", kder)
	c, err := tls.LoadX509KeyPair(p.path(name+".pem"), p.path(name+"-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (p *pki) path(name string) string { return filepath.Join(p.dir, name) }

// TestServeTLSFlags runs serve with every TLS flag, from PEM files, in
// front of a kfake cluster that speaks only mTLS: a client with a
// certificate produces and consumes through it; one without is refused;
// and a serve told the wrong broker server name is not ready, with the
// name in the reason.
func TestServeTLSFlags(t *testing.T) {
	t.Parallel()
	ca := newPKI(t)
	brokerCert := ca.issue(t, "broker", "broker.test") // no IP: only --upstream-tls-server-name makes it verify
	ca.issue(t, "proxy", "127.0.0.1")
	clientCert := ca.issue(t, "client")
	c, err := kfake.NewCluster(kfake.NumBrokers(2), kfake.SeedTopics(1, "t"), kfake.TLS(&tls.Config{
		Certificates: []tls.Certificate{brokerCert},
		ClientCAs:    ca.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	serveTLS := func(serverName string) (listen, metricsAddr string, cmd *cmdRun) {
		t.Helper()
		listen, _ = proxytest.FreePorts(t, 3)
		metricsAddr, _ = proxytest.FreePorts(t, 0)
		cmd = startCmd(t, "serve", "--listen", listen, "--metrics-listen", metricsAddr,
			"--upstream", strings.Join(c.ListenAddrs(), ","),
			"--tls-cert", ca.path("proxy.pem"), "--tls-key", ca.path("proxy-key.pem"),
			"--tls-client-ca", ca.path("ca.pem"),
			"--upstream-tls-ca", ca.path("ca.pem"),
			"--upstream-tls-cert", ca.path("client.pem"), "--upstream-tls-key", ca.path("client-key.pem"),
			"--upstream-tls-server-name", serverName)
		proxytest.Eventually(t, 10*time.Second, func() error { return accepts(listen) })
		return listen, metricsAddr, cmd
	}
	client := func(listen string, certs ...tls.Certificate) *kgo.Client {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(listen), kgo.DefaultProduceTopic("t"), kgo.ConsumeTopics("t"),
			kgo.DialTLSConfig(&tls.Config{RootCAs: ca.pool, Certificates: certs, MinVersion: tls.VersionTLS12}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}

	listen, metricsAddr, cmd := serveTLS("broker.test")
	if code, body, err := get("http://" + metricsAddr + "/readyz"); code != http.StatusOK {
		t.Errorf("readyz: got %d %q %v, want 200", code, body, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := client(listen, clientCert)
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("over TLS")}).FirstErr(); err != nil {
		t.Fatalf("produce with a client certificate: %v", err)
	}
	fs := cl.PollFetches(ctx)
	if err := fs.Err(); err != nil {
		t.Fatalf("consume with a client certificate: %v", err)
	}
	if recs := fs.Records(); len(recs) != 1 || string(recs[0].Value) != "over TLS" {
		t.Errorf("consumed %d records (%v), want the one produced", len(recs), recs)
	}

	pctx, pcancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer pcancel()
	if err := client(listen).Ping(pctx); err == nil {
		t.Error("a client without a certificate was served under --tls-client-ca")
	}
	cmd.stop(t)

	_, metricsAddr, cmd = serveTLS("wrong.test")
	code, body, _ := get("http://" + metricsAddr + "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "wrong.test") {
		t.Errorf("readyz with the wrong --upstream-tls-server-name: got %d %q, want 503 naming wrong.test", code, body)
	}
	cmd.stop(t)
}
