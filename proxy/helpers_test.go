package proxy_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// rawTimeout bounds every read and write of a rawClient: long enough for a
// loaded CI machine, short enough that a hang fails the test quickly.
const rawTimeout = 10 * time.Second

// rawClient speaks the Kafka protocol by hand over one TCP connection, so
// tests control exactly which bytes reach the proxy and in which order.
type rawClient struct {
	t    testing.TB
	c    net.Conn
	f    *kmsg.RequestFormatter
	corr int32
	reqs map[int32]kmsg.Request // sent requests by correlation ID, to decode responses
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, rawTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return newRaw(t, c)
}

func newRaw(t testing.TB, c net.Conn) *rawClient {
	return &rawClient{
		t:    t,
		c:    c,
		f:    kmsg.NewRequestFormatter(kmsg.FormatterClientID("rawtest")),
		reqs: make(map[int32]kmsg.Request),
	}
}

// frame encodes req with the next correlation ID and remembers it.
func (r *rawClient) frame(req kmsg.Request) ([]byte, int32) {
	r.corr++
	r.reqs[r.corr] = req
	return r.f.AppendRequest(nil, req, r.corr), r.corr
}

// send writes req and returns its correlation ID.
func (r *rawClient) send(req kmsg.Request) int32 {
	r.t.Helper()
	b, corr := r.frame(req)
	r.write(b)
	return corr
}

// write writes raw bytes.
func (r *rawClient) write(b []byte) {
	r.t.Helper()
	r.c.SetWriteDeadline(time.Now().Add(rawTimeout))
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// readFrame reads one response frame (without its size prefix).
func (r *rawClient) readFrame() ([]byte, error) {
	r.c.SetReadDeadline(time.Now().Add(rawTimeout))
	var size [4]byte
	if _, err := io.ReadFull(r.c, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > 64<<20 {
		return nil, fmt.Errorf("implausible response size %d", n)
	}
	b := make([]byte, n)
	_, err := io.ReadFull(r.c, b)
	return b, err
}

// read reads the next response, checks that it answers the oldest request
// still unanswered (wantCorr), and decodes it.
func (r *rawClient) read(wantCorr int32) kmsg.Response {
	r.t.Helper()
	b, err := r.readFrame()
	if err != nil {
		r.t.Fatalf("reading response to correlation id %d: %v", wantCorr, err)
	}
	corr, resp, err := r.decode(b)
	if err != nil {
		r.t.Fatalf("response to correlation id %d: %v", wantCorr, err)
	}
	if corr != wantCorr {
		r.t.Fatalf("got correlation id %d, want %d (responses out of order)", corr, wantCorr)
	}
	return resp
}

// decode parses a response frame body for the request it answers. An
// ApiVersions response is decoded at v0 when its error code is
// UNSUPPORTED_VERSION, as KIP-511 prescribes.
func (r *rawClient) decode(b []byte) (int32, kmsg.Response, error) {
	rd := kbin.Reader{Src: b}
	corr := rd.Int32()
	req, ok := r.reqs[corr]
	if !ok {
		return corr, nil, fmt.Errorf("correlation id %d matches no request sent", corr)
	}
	delete(r.reqs, corr)
	resp := req.ResponseKind()
	if resp.Key() == 18 {
		if len(rd.Src) >= 2 && binary.BigEndian.Uint16(rd.Src) == 35 {
			resp.SetVersion(0)
		}
	} else if resp.IsFlexible() {
		kmsg.SkipTags(&rd)
	}
	if err := rd.Complete(); err != nil {
		return corr, nil, err
	}
	if err := resp.ReadFrom(rd.Src); err != nil {
		return corr, nil, fmt.Errorf("decode %s v%d: %w", kmsg.NameForKey(resp.Key()), resp.GetVersion(), err)
	}
	return corr, resp, nil
}

// roundTrip sends req and returns its decoded response.
func (r *rawClient) roundTrip(req kmsg.Request) kmsg.Response {
	r.t.Helper()
	return r.read(r.send(req))
}

// expectClosed asserts that the proxy closes the connection promptly: a
// read returns EOF or a reset, not a timeout, within a few seconds. Bytes
// that arrive first (none are expected) fail the test.
func expectClosed(t testing.TB, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var buf [512]byte
	n, err := c.Read(buf[:])
	switch {
	case n > 0:
		t.Errorf("got %d bytes (% x), want the connection closed without a response", n, buf[:min(n, 16)])
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Errorf("connection still open after 5s, want it closed")
	case err == nil:
		t.Errorf("read returned no error, want the connection closed")
	}
}

// metricSum sums every series of the metric called name whose labels
// include all of want (pairs of name, value).
func metricSum(t testing.TB, m *metrics.Metrics, name string, want ...string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var sum float64
	found := false
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, s := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(want); i += 2 {
				if labels[want[i]] != want[i+1] {
					continue series
				}
			}
			found = true
			switch {
			case s.GetCounter() != nil:
				sum += s.GetCounter().GetValue()
			case s.GetGauge() != nil:
				sum += s.GetGauge().GetValue()
			}
		}
	}
	if !found {
		t.Logf("metric %s%v has no series", name, want)
	}
	return sum
}

// connErrors is connection_errors_total for one reason.
func connErrors(m *metrics.Metrics, reason string) float64 {
	return testutil.ToFloat64(m.ConnectionErrors.WithLabelValues(reason))
}

// recordBatch encodes values as one uncompressed, non-idempotent magic v2
// batch, the way a minimal producer would.
func recordBatch(values ...string) []byte {
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(v)}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // the zero Length varint is one byte
		recs = r.AppendTo(recs)
	}
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{
		Magic:           2,
		LastOffsetDelta: int32(len(values) - 1),
		FirstTimestamp:  now,
		MaxTimestamp:    now,
		ProducerID:      -1,
		ProducerEpoch:   -1,
		FirstSequence:   -1,
		NumRecords:      int32(len(values)),
		Records:         recs,
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	crc := crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli))
	binary.BigEndian.PutUint32(raw[17:], crc)
	return raw
}

// produceRequest builds a Produce request for one partition.
func produceRequest(version, acks int16, topic string, partition int32, values ...string) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = acks
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = recordBatch(values...)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// metadataRequest asks for the given topics (nil: all) at version v.
func metadataRequest(v int16, topics ...string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = v
	if topics != nil {
		req.Topics = []kmsg.MetadataRequestTopic{}
	}
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	return req
}

func apiVersionsRequest(v int16) *kmsg.ApiVersionsRequest {
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = v
	req.ClientSoftwareName = "rawtest"
	req.ClientSoftwareVersion = "1.0"
	return req
}

// assertProxyAddr checks that node id is advertised at its proxy listener,
// BrokerPortBase+id, never at a kfake address.
func assertProxyAddr(t testing.TB, e *proxytest.Env, what string, id int32, host string, port int32) {
	t.Helper()
	addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
	for _, up := range e.Cluster.ListenAddrs() {
		if addr == up {
			t.Errorf("%s: node %d advertised at upstream address %s", what, id, addr)
			return
		}
	}
	if want := e.Proxy.NodeAddr(id); addr != want {
		t.Errorf("%s: node %d advertised at %s, want the proxy listener %q", what, id, addr, want)
	}
	if want := e.Config.BrokerPortBase + int(id); int(port) != want {
		t.Errorf("%s: node %d advertised on port %d, want BrokerPortBase+%d = %d", what, id, port, id, want)
	}
}

// recorder is a kgo dialer that records what it dials, for clients that
// cannot use proxytest.Env.Client (TLS, for which kgo refuses a custom
// Dialer together with DialTLSConfig).
type recorder struct {
	mu    sync.Mutex
	dials []string
	dial  func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (r *recorder) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	r.mu.Lock()
	r.dials = append(r.dials, addr)
	r.mu.Unlock()
	return r.dial(ctx, network, addr)
}

// assertOnlyProxy fails if r dialed anything but the proxy's listeners.
func (r *recorder) assertOnlyProxy(t testing.TB, e *proxytest.Env) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.dials) == 0 {
		t.Errorf("the client dialed nothing")
	}
	ok := map[string]bool{e.Bootstrap(): true}
	for id := int32(0); id < 16; id++ {
		if a := e.Proxy.NodeAddr(id); a != "" {
			ok[a] = true
		}
	}
	for _, d := range r.dials {
		if !ok[d] {
			t.Errorf("client dialed %s, which is not a proxy listener", d)
		}
	}
}

// newClient makes a kgo client that is closed when the test ends.
func newClient(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// directClient talks to kfake without the proxy, to check what landed.
func directClient(t testing.TB, e *proxytest.Env, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newClient(t, append([]kgo.Opt{kgo.SeedBrokers(e.Cluster.ListenAddrs()...)}, opts...)...)
}

// consumeN polls cl until it has n records or ctx ends, failing on fetch
// errors. It returns the values seen, with their counts.
func consumeN(ctx context.Context, t testing.TB, cl *kgo.Client, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	total := 0
	for total < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", total, n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			seen[string(r.Value)]++
			total++
		})
	}
	return seen
}

func values(prefix string, n int) []*kgo.Record {
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Value: []byte(prefix + strconv.Itoa(i))}
	}
	return recs
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func itoa(i int) string { return strconv.Itoa(i) }
