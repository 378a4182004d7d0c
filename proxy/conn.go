package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/protocol"
)

// slot is one entry of a pair's in-flight FIFO: the response the client is
// owed next.
type slot struct {
	local   []byte // when not nil, the whole response frame, answered by the proxy
	key     int16
	version int16
	corr    int32
	rewrite bool         // decode the upstream response and rewrite broker addresses
	merge   *[]rejection // Produce partitions answered locally, merged into the response
	// patch, when not nil, is applied to the decoded response (refused
	// entries merged in, topic IDs noted) and says whether it changed it.
	patch func(kmsg.Response) bool
}

// pair is one client connection and its upstream connection.
//
// Goroutines: (*pair).readRequests (run's caller) owns client reads and
// upstream writes; (*pair).writeResponses owns upstream reads and client
// writes. slots carries, in request order, what each response will be.
type pair struct {
	p        *Proxy
	client   net.Conn
	upstream net.Conn
	log      *slog.Logger

	cr    *bufio.Reader // client reads, owned by readRequests
	ur    *bufio.Reader // upstream reads, owned by writeResponses
	slots chan slot

	done      chan struct{}
	closeOnce sync.Once
	draining  atomic.Bool // Shutdown asked this pair to finish what it has
	idle      atomic.Bool // writeResponses is parked on the upstream with nothing queued

	// readRequests only.
	forwarding bool // a frame is partly forwarded: a drain deadline must not cut it
	saslActive bool // between SaslHandshake and the first non-SASL request
	sizeBuf    [4]byte
	topics     map[string]string    // Produce topic names, interned (internTopics)
	lookups    *enforce.ConnLookups // registry look-ups left to this connection; nil: unlimited

	// writeResponses only.
	idlePeek bool
	respSize [4]byte
}

// aLongTimeAgo is a deadline in the past, used to wake a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

const connBufSize = 4 << 10

func newPair(p *Proxy, client, upstream net.Conn, log *slog.Logger) *pair {
	pr := &pair{
		p:        p,
		client:   client,
		upstream: upstream,
		log:      log,
		slots:    make(chan slot, p.cfg.MaxInFlight),
		done:     make(chan struct{}),
	}
	if p.cfg.Checker != nil {
		pr.lookups = enforce.NewConnLookups(p.cfg.RegistryLookupsPerConnection)
	}
	pr.cr = bufio.NewReaderSize(clientReader{pr}, connBufSize)
	pr.ur = bufio.NewReaderSize(upstreamReader{pr}, connBufSize)
	return pr
}

// run serves the pair until either side ends, then closes both.
func (pr *pair) run() {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pr.guard("writeResponses", pr.writeResponses)
	}()
	pr.guard("readRequests", pr.readRequests)
	wg.Wait()
	pr.close()
}

// guard runs fn, turning a panic into a logged, counted close of this pair
// alone, and logging the error fn ends with, once. A protocol error's line
// goes through the proxy's connection log limit (connLog), so junk
// traffic cannot flood the log.
func (pr *pair) guard(name string, fn func() error) {
	defer func() {
		if r := recover(); r != nil {
			pr.log.Error("panic in connection; closing it", "goroutine", name, "panic", r, "stack", string(debug.Stack()))
			pr.p.metrics.ConnectionErrors.WithLabelValues(metrics.ReasonPanic).Inc()
			pr.close()
		}
	}()
	err := fn()
	if err == nil {
		return
	}
	var pe *ProtocolError
	if errors.As(err, &pe) {
		pr.p.connLog.log(pr.log, slog.LevelWarn, "closing connection", "goroutine", name, "reason", pe.Reason, "err", err)
		pr.p.metrics.ConnectionErrors.WithLabelValues(pe.Reason).Inc()
		if name == "readRequests" {
			// A broker reads one request at a time, so it has answered
			// every earlier request before it reads the one that makes it
			// close: readRequests has ended the queue, and run closes the
			// pair once writeResponses has written it out.
			return
		}
	} else if !isClosed(err) {
		pr.log.Debug("connection ended", "goroutine", name, "err", err)
	}
	pr.close()
}

func (pr *pair) close() {
	pr.closeOnce.Do(func() {
		close(pr.done)
		pr.client.Close()
		pr.upstream.Close()
	})
}

// closed reports whether close has run: a read that fails afterwards
// failed because this side closed the connection, not because the peer did.
func (pr *pair) closed() bool {
	select {
	case <-pr.done:
		return true
	default:
		return false
	}
}

// drain asks the pair to stop reading new requests at the next frame
// boundary and to finish the ones in flight.
func (pr *pair) drain() {
	pr.draining.Store(true)
	pr.client.SetReadDeadline(aLongTimeAgo)
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF)
}

// clientReader retries a read cut by the drain deadline while a frame is
// partly forwarded, so Shutdown never leaves half a request upstream.
type clientReader struct{ pr *pair }

func (r clientReader) Read(b []byte) (int, error) {
	for {
		n, err := r.pr.client.Read(b)
		if n == 0 && err != nil && r.pr.retryClient(err) {
			continue
		}
		return n, err
	}
}

func (pr *pair) retryClient(err error) bool {
	if isTimeout(err) && pr.forwarding && pr.draining.Load() {
		pr.client.SetReadDeadline(time.Time{})
		return true
	}
	return false
}

// upstreamReader retries reads cut by a wake-up deadline unless
// writeResponses is parked waiting for one.
type upstreamReader struct{ pr *pair }

func (r upstreamReader) Read(b []byte) (int, error) {
	for {
		n, err := r.pr.upstream.Read(b)
		if n == 0 && err != nil && r.pr.retryUpstream(err) {
			continue
		}
		return n, err
	}
}

func (pr *pair) retryUpstream(err error) bool {
	if isTimeout(err) && !pr.idlePeek {
		pr.upstream.SetReadDeadline(time.Time{})
		return true
	}
	return false
}

// push queues s, waking writeResponses if it is parked on the upstream.
func (pr *pair) push(s slot) error {
	select {
	case pr.slots <- s:
	case <-pr.done:
		return net.ErrClosed
	}
	if s.local != nil && pr.idle.Load() {
		pr.upstream.SetReadDeadline(aLongTimeAgo)
	}
	return nil
}

// readRequests reads client frames until the client closes, the pair is
// drained, or a protocol error; it then closes the slot queue so that
// writeResponses finishes the responses still owed.
func (pr *pair) readRequests() error {
	defer func() {
		close(pr.slots)
		if pr.idle.Load() {
			pr.upstream.SetReadDeadline(aLongTimeAgo)
		}
	}()
	for {
		if pr.draining.Load() && pr.cr.Buffered() == 0 {
			return nil
		}
		size, err := protocol.ReadSize(pr.cr, &pr.sizeBuf, pr.p.cfg.MaxRequestBytes)
		if err != nil {
			var se *protocol.SizeError
			switch {
			case errors.As(err, &se):
				return &ProtocolError{Reason: metrics.ReasonFraming, Err: fmt.Errorf("client frame: %w", err)}
			case isTimeout(err) && pr.draining.Load():
				return nil
			}
			return err
		}
		if size < protocol.RequestPrefixLen {
			return protoErr(metrics.ReasonFraming, "client frame of %d bytes is too short for a request header", size)
		}
		pr.p.metrics.ClientReceived.Add(float64(size) + 4)
		prefix, err := pr.cr.Peek(protocol.RequestPrefixLen)
		if err != nil {
			return err
		}
		key, version, corr, _ := protocol.ParsePrefix(prefix)
		if pr.saslActive && size > protocol.PreAuthMaxBytes && saslPhaseKey(key) {
			// sasl.server.max.receive.size bounds what an unauthenticated
			// client can make us buffer. It applies to the exchange only:
			// the first other request, typically a full produce batch,
			// comes after the client has authenticated.
			se := &protocol.SizeError{Size: size, Limit: protocol.PreAuthMaxBytes, Raw: append([]byte(nil), pr.sizeBuf[:]...),
				Cause: "the limit while a SASL exchange is under way (sasl.server.max.receive.size)"}
			return &ProtocolError{Reason: metrics.ReasonFraming, Err: fmt.Errorf("client %s frame: %w", apiName(key), se)}
		}
		pr.p.metrics.Request(key)
		if err := pr.handleRequest(key, version, corr, size); err != nil {
			if isTimeout(err) && pr.draining.Load() {
				// The drain deadline cut a frame before any of it went
				// upstream (a partly forwarded frame is never cut): drop
				// it, unanswered, and let the earlier responses finish.
				return nil
			}
			return err
		}
	}
}

// saslPhaseKey reports whether key may be sent before SASL authentication
// completes; a broker closes a connection that sends anything else first.
func saslPhaseKey(key int16) bool {
	return key == keySaslHandshake || key == keySaslAuthenticate || key == keyAPIVersions
}

// handleRequest routes one request whose size prefix has been read and
// whose first eight bytes are buffered in pr.cr.
func (pr *pair) handleRequest(key, version int16, corr int32, size int32) error {
	if key == keyAPIVersions && version > protocol.MaxVersion(keyAPIVersions) {
		// KIP-511: answer in v0 without parsing the body.
		if _, err := pr.cr.Discard(int(size)); err != nil {
			return err
		}
		pr.p.metrics.LocalResponse(key)
		return pr.push(slot{local: apiVersionsUnsupported(corr), key: key, version: version, corr: corr})
	}
	if err := neverAdvertised(key, version); err != nil {
		return protoErr(metrics.ReasonProtocol, "client sent %w; schemaproxy never advertises it", err)
	}
	if interBroker[key] {
		return protoErr(metrics.ReasonProtocol, "client sent inter-broker request %s; schemaproxy carries client requests only", apiName(key))
	}
	switch key {
	case keySaslHandshake:
		if version == 0 {
			return protoErr(metrics.ReasonProtocol, "client sent SaslHandshake v0, whose raw-token framing schemaproxy refuses; use a client from Kafka 1.0 or later (SaslHandshake v1)")
		}
		pr.saslActive = true
	case keySaslAuthenticate, keyAPIVersions:
	default:
		pr.saslActive = false
	}
	if key == keyProduce {
		return pr.handleProduce(version, corr, size)
	}
	if chk := pr.p.cfg.Checker; chk != nil {
		if protect := protectors[key]; protect != nil && chk.HasProtected() {
			return pr.handleProtected(chk, protect, version, corr, size)
		}
		if key == keyDescribeTopicPartitions {
			// Its topic IDs resolve DeleteTopics by ID (protect.go).
			if err := pr.push(slot{key: key, version: version, corr: corr, rewrite: true, patch: pr.noteDescribedIDs}); err != nil {
				return err
			}
			return pr.forward(size)
		}
	}
	if err := pr.push(slot{key: key, version: version, corr: corr, rewrite: needsRewrite(key, version)}); err != nil {
		return err
	}
	return pr.forward(size)
}

// forward copies the current frame, whose size prefix is in pr.sizeBuf,
// to the upstream unchanged.
func (pr *pair) forward(size int32) error {
	pr.forwarding = true
	defer func() { pr.forwarding = false }()
	return copyFrame(pr.upstream, pr.cr, pr.client, pr.sizeBuf, int(size), pr.retryClient)
}

// readFrame reads the rest of the current frame into a pooled buffer that
// starts with its size prefix. The caller gives it back with
// protocol.PutFrame once nothing aliases it (DESIGN.md invariant 15).
func (pr *pair) readFrame(size int32) (*[]byte, error) {
	bp := protocol.GetFrame(4 + int(size))
	buf := *bp
	copy(buf, pr.sizeBuf[:])
	if _, err := io.ReadFull(pr.cr, buf[4:]); err != nil {
		protocol.PutFrame(bp)
		return nil, err
	}
	return bp, nil
}

// writeUpstream writes a whole request frame upstream.
func (pr *pair) writeUpstream(frame []byte) error {
	_, err := pr.upstream.Write(frame)
	return err
}

// writeResponses writes one response per slot, in order, until the slot
// queue is closed and empty or either side fails.
func (pr *pair) writeResponses() error {
	for {
		s, ok, err := pr.nextSlot()
		if err != nil || !ok {
			return err
		}
		if s.local != nil {
			if _, err := pr.client.Write(s.local); err != nil {
				return err
			}
			pr.p.metrics.ClientSent.Add(float64(len(s.local)))
			continue
		}
		if err := pr.relayResponse(s); err != nil {
			return err
		}
	}
}

// nextSlot returns the next slot. With nothing queued it parks on the
// upstream connection, so a broker that closes an idle connection closes
// the client's at once instead of at its next request; push and
// readRequests wake it with a past read deadline when they queue a local
// answer or close the queue.
func (pr *pair) nextSlot() (slot, bool, error) {
	for {
		select {
		case s, ok := <-pr.slots:
			return s, ok, nil
		default:
		}
		pr.idle.Store(true)
		if len(pr.slots) > 0 {
			pr.idle.Store(false)
			continue
		}
		pr.idlePeek = true
		_, err := pr.ur.Peek(1)
		pr.idlePeek = false
		pr.idle.Store(false)
		if err == nil {
			// A response is arriving, so its slot was queued before the
			// request was forwarded.
			select {
			case s, ok := <-pr.slots:
				return s, ok, nil
			case <-pr.done:
				return slot{}, false, net.ErrClosed
			}
		}
		if !isTimeout(err) {
			if pr.closed() {
				return slot{}, false, net.ErrClosed // closed from the client side
			}
			if isClosed(err) {
				return slot{}, false, protoErr(metrics.ReasonUpstream, "upstream closed the connection")
			}
			return slot{}, false, &ProtocolError{Reason: metrics.ReasonUpstream, Err: fmt.Errorf("upstream: %w", err)}
		}
		// Woken by push or by the end of the queue, or by a deadline left
		// from an earlier wake-up: clear it and look again, parking once
		// more if nothing is queued.
		pr.upstream.SetReadDeadline(time.Time{})
	}
}

// relayResponse reads the upstream response for s and writes it to the
// client, rewritten if s asks for it.
func (pr *pair) relayResponse(s slot) error {
	limit := int32(1<<31 - 1)
	if s.rewrite {
		limit = pr.p.cfg.MaxResponseBytes
	}
	size, err := protocol.ReadSize(pr.ur, &pr.respSize, limit)
	if err != nil {
		var se *protocol.SizeError
		if errors.As(err, &se) {
			return &ProtocolError{Reason: metrics.ReasonUpstream, Err: fmt.Errorf("upstream %s response: %w", apiName(s.key), err)}
		}
		if pr.closed() {
			return net.ErrClosed // closed from the client side
		}
		if isClosed(err) {
			return protoErr(metrics.ReasonUpstream, "upstream closed the connection with a %s response outstanding", apiName(s.key))
		}
		return err
	}
	var start time.Time // the response leg of produce_proxy_seconds
	if s.key == keyProduce {
		start = time.Now()
	}
	if size < 4 {
		return protoErr(metrics.ReasonUpstream, "upstream %s response of %d bytes is too short", apiName(s.key), size)
	}
	head, err := pr.ur.Peek(4)
	if err != nil {
		return err
	}
	if corr := int32(uint32(head[0])<<24 | uint32(head[1])<<16 | uint32(head[2])<<8 | uint32(head[3])); corr != s.corr {
		return protoErr(metrics.ReasonUpstream, "upstream answered correlation id %d, expected %d for %s", corr, s.corr, apiName(s.key))
	}
	if !s.rewrite {
		pr.p.metrics.ClientSent.Add(float64(size) + 4)
		if err := copyFrame(pr.client, pr.ur, pr.upstream, pr.respSize, int(size), pr.retryUpstream); err != nil {
			return err
		}
		pr.relayed(s, start)
		return nil
	}
	frame := make([]byte, 4+int(size))
	copy(frame, pr.respSize[:])
	if _, err := io.ReadFull(pr.ur, frame[4:]); err != nil {
		return err
	}
	out, err := pr.rewriteResponse(s, frame)
	if err != nil {
		return &ProtocolError{Reason: metrics.ReasonRewrite, Err: fmt.Errorf("%s v%d response: %w", apiName(s.key), s.version, err)}
	}
	pr.p.metrics.ClientSent.Add(float64(len(out)))
	if _, err := pr.client.Write(out); err != nil {
		return err
	}
	pr.relayed(s, start)
	return nil
}

// relayed observes the response leg of a Produce whose upstream response,
// its size prefix read at start, has been written to the client.
func (pr *pair) relayed(s slot, start time.Time) {
	if s.key == keyProduce {
		pr.p.metrics.ProduceResponseTime.Observe(time.Since(start).Seconds())
	}
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyFrame writes prefix and the n frame bytes that follow in br/src to
// dst. The bytes already buffered in br go out with the prefix in one
// write; the rest is copied straight from src, which lets the kernel
// splice TCP to TCP. retry says whether a read error is a wake-up to
// ignore.
func copyFrame(dst net.Conn, br *bufio.Reader, src net.Conn, prefix [4]byte, n int, retry func(error) bool) error {
	take := min(br.Buffered(), n)
	chunk, _ := br.Peek(take)
	bufs := net.Buffers{prefix[:], chunk}
	if _, err := bufs.WriteTo(dst); err != nil {
		return err
	}
	br.Discard(take)
	rem := int64(n - take)
	if rem == 0 {
		return nil
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	for rem > 0 {
		w, err := io.CopyBuffer(dst, &io.LimitedReader{R: src, N: rem}, *bp)
		rem -= w
		switch {
		case err != nil && retry(err):
		case err != nil:
			return err
		case rem > 0 && w == 0:
			return io.ErrUnexpectedEOF
		}
	}
	return nil
}
