package proxy_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/proxy"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// testCA is a throwaway certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "schemaproxy test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue returns a leaf certificate for 127.0.0.1 and localhost, usable by
// servers and clients alike.
func (ca *testCA) issue(t testing.TB, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TLS on both sides of the proxy, with client certificates required: a
// client with a certificate produces and consumes; one without is refused.
func TestTLSEndToEnd(t *testing.T) {
	t.Parallel()
	upCA, clientCA := newCA(t), newCA(t)
	broker := upCA.issue(t, "kfake")
	listener := clientCA.issue(t, "schemaproxy")
	clientCert := clientCA.issue(t, "client")

	e := proxytest.New(t, proxytest.Options{
		Kfake: []kfake.Opt{
			kfake.SeedTopics(3, "secure"),
			kfake.TLS(&tls.Config{Certificates: []tls.Certificate{broker}, MinVersion: tls.VersionTLS12}),
		},
		Proxy: func(c *proxy.Config) {
			c.ClientTLS = &tls.Config{
				Certificates: []tls.Certificate{listener},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    clientCA.pool,
				MinVersion:   tls.VersionTLS12,
			}
			c.UpstreamTLS = &tls.Config{RootCAs: upCA.pool, MinVersion: tls.VersionTLS12}
		},
	})
	tlsClient := func(cfg *tls.Config) (*recorder, []kgo.Opt) {
		rec := &recorder{dial: (&tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}).DialContext}
		return rec, []kgo.Opt{kgo.SeedBrokers(e.Bootstrap()), kgo.Dialer(rec.Dial)}
	}

	t.Run("client certificate", func(t *testing.T) {
		ctx := testCtx(t, 30*time.Second)
		rec, opts := tlsClient(&tls.Config{RootCAs: clientCA.pool, Certificates: []tls.Certificate{clientCert}, MinVersion: tls.VersionTLS12})
		prod := newClient(t, append(opts, kgo.DefaultProduceTopic("secure"))...)
		if err := prod.ProduceSync(ctx, values("tls-", 200)...).FirstErr(); err != nil {
			t.Fatalf("produce over TLS: %v", err)
		}
		cons := newClient(t, append(opts, kgo.ConsumeTopics("secure"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
		seen := consumeN(ctx, t, cons, 200)
		for i := range 200 {
			if seen["tls-"+itoa(i)] != 1 {
				t.Errorf("record tls-%d consumed %d times, want 1", i, seen["tls-"+itoa(i)])
			}
		}
		rec.assertOnlyProxy(t, e)

		// The upstream really is TLS-only: a plaintext client cannot
		// talk to kfake, so the records above went through the proxy's
		// upstream TLS.
		c, err := net.DialTimeout("tcp", e.Cluster.ListenAddrs()[0], 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		raw := newRaw(t, c)
		raw.send(apiVersionsRequest(3))
		if _, err := raw.readFrame(); err == nil {
			t.Errorf("kfake answered plaintext: the upstream is not TLS")
		}
	})

	t.Run("no client certificate", func(t *testing.T) {
		before := connErrors(e.Metrics, metrics.ReasonTLS)
		_, opts := tlsClient(&tls.Config{RootCAs: clientCA.pool, MinVersion: tls.VersionTLS12})
		cl := newClient(t, append(opts, kgo.RequestRetries(1))...)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := cl.Ping(ctx); err == nil {
			t.Fatalf("a client without a certificate was served")
		}
		proxytest.Eventually(t, 5*time.Second, func() error {
			if got := connErrors(e.Metrics, metrics.ReasonTLS); got <= before {
				return fmt.Errorf("connection_errors_total{reason=%q} = %v, want above %v", metrics.ReasonTLS, got, before)
			}
			return nil
		})

		// The same refusal on a bare connection: the handshake may
		// complete on the client side (TLS 1.3), but no Kafka answer
		// ever comes back.
		c, err := tls.Dial("tcp", e.Bootstrap(), &tls.Config{RootCAs: clientCA.pool, MinVersion: tls.VersionTLS12})
		if err == nil {
			defer c.Close()
			raw := newRaw(t, c)
			raw.send(kmsg.NewPtrApiVersionsRequest())
			if _, err := raw.readFrame(); err == nil {
				t.Errorf("got a Kafka response without a client certificate")
			}
		}
	})
}
