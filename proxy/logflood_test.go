package proxy_test

import (
	"fmt"
	"io"
	"math"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/proxy"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

var suppressedRE = regexp.MustCompile(` suppressed=(\d+)`)

// refusedLines returns the "closing connection" lines in logs and the sum
// of their suppressed=N counts.
func refusedLines(logs *proxytest.LogBuffer) (lines int, suppressed int64) {
	for _, l := range strings.Split(logs.String(), "\n") {
		if !strings.Contains(l, `msg="closing connection"`) {
			continue
		}
		lines++
		if m := suppressedRE.FindStringSubmatch(l); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			suppressed += n
		}
	}
	return lines, suppressed
}

// A flood of 5,000 connections that send HTTP to the Kafka port, each
// refused, writes no more "closing connection" lines than the log limit's
// bucket allows over the flood. The next line let through says how many
// were held back, and every refused connection is either a line or
// counted in a suppressed=N (and in log_lines_suppressed_total).
func TestRefusedConnectionFloodLogBounded(t *testing.T) {
	t.Parallel()
	logs := new(proxytest.LogBuffer)
	e := proxytest.New(t, proxytest.Options{Kfake: []kfake.Opt{kfake.NumBrokers(1)}, Log: logs})

	// refuse makes one connection that sends an HTTP request and waits for
	// the proxy to close it. It returns the connection's local address.
	refuse := func() (string, error) {
		c, err := net.DialTimeout("tcp", e.Bootstrap(), 5*time.Second)
		if err != nil {
			return "", err
		}
		addr := c.LocalAddr().String()
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: kafka\r\n\r\n")); err != nil {
			return addr, err
		}
		if n, _ := io.Copy(io.Discard, c); n > 0 {
			return addr, fmt.Errorf("got %d bytes back, want the connection closed", n)
		}
		return addr, nil
	}
	framing := func() float64 { return connErrors(e.Metrics, metrics.ReasonFraming) }

	const flood = 5000
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				if _, err := refuse(); err != nil {
					t.Errorf("refused connection: %v", err)
				}
			}
		}()
	}
	for range flood {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	proxytest.Eventually(t, 30*time.Second, func() error {
		if got := framing(); got != flood {
			return fmt.Errorf("connection_errors_total{reason=framing} = %v, want %v", got, flood)
		}
		return nil
	})
	elapsed := time.Since(start)
	lines, _ := refusedLines(logs)
	bound := proxy.ConnLogBurst + int(math.Ceil(elapsed.Seconds()*proxy.ConnLogRate))
	if lines > bound {
		t.Errorf("%d refused connections in %v logged %d lines, want at most %d", flood, elapsed.Round(time.Millisecond), lines, bound)
	}
	if lines == 0 {
		t.Errorf("%d refused connections logged no line, want the burst of %d", flood, proxy.ConnLogBurst)
	}

	// Once the bucket refills, a later refused connection's line carries
	// the count of lines held back.
	refused := flood
	var lastAddr string
	// Generous deadlines: under -race beside the whole suite on two cores a
	// refused connection can take seconds, and the first tries after the
	// flood find the bucket empty.
	proxytest.Eventually(t, time.Minute, func() error {
		addr, err := refuse()
		if err != nil {
			return err
		}
		lastAddr = addr
		refused++
		want := float64(refused)
		proxytest.Eventually(t, 20*time.Second, func() error {
			if got := framing(); got != want {
				return fmt.Errorf("connection_errors_total{reason=framing} = %v, want %v", got, want)
			}
			return nil
		})
		if got, _ := refusedLines(logs); got == lines {
			return fmt.Errorf("no closing connection line since the flood")
		}
		return nil
	})
	last := logs.Line(`msg="closing connection"`, "client_addr="+lastAddr+" ")
	if !suppressedRE.MatchString(last) {
		t.Errorf("first line let through after the flood: got %q, want a suppressed=N count", last)
	}
	lines, suppressed := refusedLines(logs)
	if got := int64(lines) + suppressed; got != int64(refused) {
		t.Errorf("lines %d + suppressed %d = %d, want the %d refused connections", lines, suppressed, got, refused)
	}
	if got := testutil.ToFloat64(e.Metrics.LogSuppressed); got != float64(suppressed) {
		t.Errorf("log_lines_suppressed_total: got %v, want %v (the sum of suppressed=N)", got, suppressed)
	}
}
