package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// fdLimit returns pid's soft RLIMIT_NOFILE from /proc/<pid>/limits.
func fdLimit(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				return strconv.Atoi(fields[0])
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/limits has no open-files line", pid)
}

// tcpSocket is one of a process's TCP sockets, from /proc/net/tcp{,6}.
type tcpSocket struct {
	remotePort int
	sendQ      int64 // bytes written and not yet acknowledged
	recvQ      int64 // bytes received and not yet read
}

// tcpSockets lists pid's TCP sockets, matched by inode.
func tcpSockets(pid int) ([]tcpSocket, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	inodes := make(map[string]bool, len(ents))
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if ino, ok := strings.CutPrefix(l, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	var out []tcpSocket
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			// sl local_address rem_address st tx_queue:rx_queue ... inode
			f := strings.Fields(line)
			if len(f) < 10 || !inodes[f[9]] {
				continue
			}
			var s tcpSocket
			if i := strings.LastIndexByte(f[2], ':'); i >= 0 {
				p, _ := strconv.ParseInt(f[2][i+1:], 16, 32)
				s.remotePort = int(p)
			}
			if tx, rx, ok := strings.Cut(f[4], ":"); ok {
				s.sendQ, _ = strconv.ParseInt(tx, 16, 64)
				s.recvQ, _ = strconv.ParseInt(rx, 16, 64)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// socketQueues sums the send and receive queues, in bytes, of pid's TCP
// sockets. That memory is the kernel's: it is not part of the process's
// RSS.
func socketQueues(pid int) (send, recv int64, err error) {
	socks, err := tcpSockets(pid)
	for _, s := range socks {
		send += s.sendQ
		recv += s.recvQ
	}
	return send, recv, err
}

// connsTo counts pid's TCP sockets whose peer port is port.
func connsTo(pid, port int) (int, error) {
	socks, err := tcpSockets(pid)
	n := 0
	for _, s := range socks {
		if s.remotePort == port {
			n++
		}
	}
	return n, err
}

// promSample is one scrape of the proxy's /metrics: unlabelled series by
// name, and labelled ones by name and label text ({listener="bootstrap"}).
type promSample map[string]float64

var metricsClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// scrape reads the text exposition at url. It opens one short connection
// and keeps none, so the proxy's fd count is not changed by it afterwards.
func scrape(url string) (promSample, error) {
	resp, err := metricsClient.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseProm(resp.Body)
}

// parseProm reads gauges, counters and untyped series of a text
// exposition, keyed as the exposition writes them: the name, then any
// labels in braces in their exposition order.
func parseProm(r io.Reader) (promSample, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	out := promSample{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var v float64
			switch {
			case m.GetGauge() != nil:
				v = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				v = m.GetCounter().GetValue()
			case m.GetUntyped() != nil:
				v = m.GetUntyped().GetValue()
			default:
				continue
			}
			key := name
			if ls := m.GetLabel(); len(ls) > 0 {
				parts := make([]string, len(ls))
				for i, l := range ls {
					parts[i] = l.GetName() + "=" + strconv.Quote(l.GetValue())
				}
				key += "{" + strings.Join(parts, ",") + "}"
			}
			out[key] = v
		}
	}
	return out, nil
}
