package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/protocol"
)

// Config configures a Proxy. The zero value of each optional field takes the
// default named in its comment; Validate reports the first problem.
type Config struct {
	// Listen is the bootstrap listener's HOST:PORT. Required.
	Listen string
	// Upstream lists the upstream bootstrap brokers as HOST:PORT. Required.
	Upstream []string
	// AdvertisedHost is written into rewritten broker addresses. Default:
	// the host of Listen (which must then not be a wildcard address).
	AdvertisedHost string
	// BrokerPortBase: upstream node N is served at AdvertisedHost:(BrokerPortBase+N).
	// Default: Listen's port + 1.
	BrokerPortBase int
	// MaxRequestBytes bounds a client frame. Default 100 MiB (the broker's
	// socket.request.max.bytes default).
	MaxRequestBytes int32
	// MaxResponseBytes bounds an upstream frame that the proxy must decode
	// to rewrite. Default 256 MiB. Frames passed through are only checked
	// for a plausible size.
	MaxResponseBytes int32
	// MaxInFlight bounds each connection's queue of requests awaiting a
	// response. Default 64.
	MaxInFlight int
	// DialTimeout bounds each upstream connection attempt. Default 10s.
	DialTimeout time.Duration
	// ClientTLS, when not nil, makes every listener terminate TLS.
	ClientTLS *tls.Config
	// UpstreamTLS, when not nil, makes every upstream connection use TLS.
	UpstreamTLS *tls.Config
	// Checker, when not nil, judges every Produce partition before it is
	// forwarded. Default: none, every record is forwarded.
	Checker Checker
	// CheckTimeout bounds how long one Produce request may wait for its
	// checks (registry look-ups). Default 5s: well below clients' request
	// timeouts (kgo 10s, Java 30s), so a slow registry gives a retriable
	// error instead of a client-side timeout.
	CheckTimeout time.Duration
	// RegistryLookupsPerRequest bounds the registry look-ups (questions the
	// Checker's cache cannot answer) one Produce request may cause, every
	// partition together; records past it get NOT_ENOUGH_REPLICAS and are
	// looked up on retry. Default 32 (enforce.DefaultLookupsPerRequest);
	// below 0: unlimited.
	RegistryLookupsPerRequest int
	// RegistryLookupsPerConnection bounds the registry look-ups of one
	// client connection per minute, with as large a burst; past it, as
	// above. Default 256 (enforce.DefaultLookupsPerConnection); below 0:
	// unlimited.
	RegistryLookupsPerConnection int
}

const (
	defaultMaxResponseBytes = 256 << 20
	defaultMaxInFlight      = 64
	defaultDialTimeout      = 10 * time.Second
	defaultCheckTimeout     = 5 * time.Second
)

// withDefaults returns c with every unset optional field defaulted.
func (c Config) withDefaults() Config {
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = protocol.DefaultMaxRequestBytes
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = defaultMaxResponseBytes
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = defaultMaxInFlight
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = defaultDialTimeout
	}
	if c.CheckTimeout == 0 {
		c.CheckTimeout = defaultCheckTimeout
	}
	if c.RegistryLookupsPerRequest == 0 {
		c.RegistryLookupsPerRequest = enforce.DefaultLookupsPerRequest
	}
	if c.RegistryLookupsPerConnection == 0 {
		c.RegistryLookupsPerConnection = enforce.DefaultLookupsPerConnection
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err == nil {
		if c.AdvertisedHost == "" {
			c.AdvertisedHost = host
		}
		if c.BrokerPortBase == 0 {
			if p, err := strconv.Atoi(port); err == nil && p != 0 {
				c.BrokerPortBase = p + 1
			}
		}
	}
	return c
}

// Validate reports the first configuration problem as one sentence.
func (c Config) Validate() error {
	c = c.withDefaults()
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("listen address %q is not HOST:PORT: %w", c.Listen, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("listen port %q is not a TCP port", port)
	}
	if len(c.Upstream) == 0 {
		return errors.New("at least one upstream broker is required (--upstream HOST:PORT)")
	}
	for _, u := range c.Upstream {
		if _, p, err := net.SplitHostPort(u); err != nil {
			return fmt.Errorf("upstream %q is not HOST:PORT: %w", u, err)
		} else if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return fmt.Errorf("upstream %q has no valid port", u)
		}
	}
	if c.AdvertisedHost == "" || isWildcard(c.AdvertisedHost) {
		return fmt.Errorf("listen host %q binds every interface, so clients cannot be told where to connect: set --advertised-host", host)
	}
	if port == "0" && c.BrokerPortBase == 0 {
		return errors.New("a listen port of 0 needs an explicit --broker-port-base")
	}
	if c.BrokerPortBase < 1 || c.BrokerPortBase > 65535 {
		return fmt.Errorf("broker port base %d is not a TCP port", c.BrokerPortBase)
	}
	if c.MaxRequestBytes < protocol.PreAuthMaxBytes {
		return fmt.Errorf("max request bytes %d is below the %d-byte minimum", c.MaxRequestBytes, protocol.PreAuthMaxBytes)
	}
	if c.MaxInFlight < 1 {
		return fmt.Errorf("max in-flight %d must be at least 1", c.MaxInFlight)
	}
	if c.ClientTLS != nil && len(c.ClientTLS.Certificates) == 0 && c.ClientTLS.GetCertificate == nil {
		return errors.New("client TLS needs a certificate and key")
	}
	return nil
}

func isWildcard(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || (ip != nil && ip.IsUnspecified())
}
