package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// gnetPass is a minimal Kafka-frame-aware plaintext passthrough on gnet/v2.
// Each accepted client connection gets an upstream connection, dialled off
// the loop and enrolled on the client's event loop (EventLoop.Enroll), so
// both sides of a pair are only ever touched by one loop goroutine and need
// no locks.
//
// Requests are forwarded cut-through (every chunk read is written on at
// once, its frame boundaries followed) or, with wholeFrames, assembled into
// a per-connection buffer and written one whole frame at a time, as a proxy
// that checks Produce requests must. Responses are always cut-through.
//
// It is correct for the comparison's traffic and no more: no TLS, no
// deadlines, no read backpressure (gnet has none), no limit on what gnet
// buffers for a slow peer.
type gnetPass struct {
	gnet.BuiltinEventEngine
	upstream    string
	wholeFrames bool
	log         *slog.Logger
	booted      chan struct{}
}

// gnetSession is one client connection and its upstream. Every field is
// touched only on the pair's event loop.
type gnetSession struct {
	client  gnet.Conn
	up      gnet.Conn // nil until the upstream connection opens
	closed  bool
	pending []byte // client bytes that arrived before the upstream opened
	req     frameWalker
	resp    frameWalker
	buf     []byte // wholeFrames: the request frame being assembled, reused
	have    int    // wholeFrames: bytes of buf filled; 0 while reading a size prefix
}

// gnetUpstream marks an upstream connection: its context value.
type gnetUpstream struct{ s *gnetSession }

func runGnet(ctx context.Context, c config, in *bufio.Reader, stdout io.Writer, log *slog.Logger) error {
	if listenPort(c.Listen) == "" || listenPort(c.Listen) == "0" {
		return fmt.Errorf("role %s needs a --listen address with a port", c.Role)
	}
	p := &gnetPass{upstream: c.Upstream, wholeFrames: c.Role == engineGnetFrame, log: log, booted: make(chan struct{}, 1)}
	opts := []gnet.Option{
		gnet.WithReadBufferCap(c.GnetReadBuffer),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithReuseAddr(true),
		gnet.WithLogger(gnetLogger{log}),
	}
	if c.GnetLoops > 0 {
		opts = append(opts, gnet.WithNumEventLoop(c.GnetLoops))
	} else {
		opts = append(opts, gnet.WithMulticore(true))
	}
	ctx, cancel := untilEOF(ctx, in)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- gnet.Run(p, "tcp://"+c.Listen, opts...) }()
	select {
	case <-p.booted:
	case err := <-errc:
		return fmt.Errorf("gnet: %w", err)
	}
	fmt.Fprintf(stdout, "ready %s\n", c.Listen)
	select {
	case <-ctx.Done():
		// The process exits now and the kernel closes every connection:
		// Engine.Stop would only add its 500 ms shutdown poll.
		return nil
	case err := <-errc:
		return fmt.Errorf("gnet stopped: %w", err)
	}
}

func (p *gnetPass) OnBoot(gnet.Engine) gnet.Action {
	p.booted <- struct{}{}
	return gnet.None
}

func (p *gnetPass) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if u, ok := c.Context().(*gnetUpstream); ok {
		s := u.s
		if s.closed { // the client left while the upstream was dialled
			return nil, gnet.Close
		}
		s.up = c
		pending := s.pending
		s.pending = nil
		if err := p.toUpstream(s, pending); err != nil {
			p.log.Warn("client frame", "err", err)
			return nil, gnet.Close
		}
		return nil, gnet.None
	}
	s := &gnetSession{client: c}
	c.SetContext(s)
	go p.dialUpstream(c, s)
	return nil, gnet.None
}

// dialUpstream runs off the loop, one goroutine per new client connection,
// and ends once the upstream connection is enrolled or has failed. It
// touches no session field: s only travels in the upstream's context.
func (p *gnetPass) dialUpstream(client gnet.Conn, s *gnetSession) {
	nc, err := net.DialTimeout("tcp", p.upstream, 10*time.Second)
	if err != nil {
		p.log.Warn("upstream dial", "err", err)
		client.Close() //nolint:errcheck // concurrency-safe; the close is what matters
		return
	}
	// Enroll duplicates the descriptor and closes nc itself.
	ch, err := client.EventLoop().Enroll(gnet.NewContext(context.Background(), &gnetUpstream{s}), nc)
	if err != nil {
		nc.Close()
		client.Close() //nolint:errcheck // as above
		return
	}
	if r := <-ch; r.Err != nil {
		p.log.Warn("upstream enroll", "err", r.Err)
		client.Close() //nolint:errcheck // as above
	}
}

func (p *gnetPass) OnTraffic(c gnet.Conn) gnet.Action {
	// Peek(-1) aliases the loop's read buffer: everything is consumed
	// before returning, so nothing piles up in gnet's per-connection ring.
	data, _ := c.Peek(-1)
	var err error
	switch v := c.Context().(type) {
	case *gnetSession:
		err = p.toUpstream(v, data)
	case *gnetUpstream:
		s := v.s
		if err = s.resp.walk(data); err == nil && !s.closed {
			_, err = s.client.Write(data)
		}
	}
	c.Discard(-1) //nolint:errcheck // discarding everything cannot fail
	if err != nil {
		p.log.Warn("closing pair", "err", err)
		return gnet.Close
	}
	return gnet.None
}

// toUpstream forwards client bytes, or keeps a copy of them until the
// upstream connection is open.
func (p *gnetPass) toUpstream(s *gnetSession, data []byte) error {
	if s.closed {
		return nil // the upstream is closing: drop what the client still sends
	}
	if s.up == nil {
		s.pending = append(s.pending, data...)
		return nil
	}
	if !p.wholeFrames {
		if err := s.req.walk(data); err != nil {
			return err
		}
		_, err := s.up.Write(data)
		return err
	}
	return s.assemble(data)
}

// assemble copies request bytes into s.buf and writes each frame upstream
// once it is whole. Write copies whatever the socket does not take at once,
// so buf is reused for the next frame.
func (s *gnetSession) assemble(data []byte) error {
	for len(data) > 0 {
		if s.have == 0 {
			n, err := s.req.prefix(data)
			if err != nil {
				return err
			}
			data = data[n:]
			if s.req.rem < 0 {
				return nil // the size prefix is not complete yet
			}
			need := 4 + s.req.rem
			if cap(s.buf) < need {
				s.buf = make([]byte, need)
			}
			s.buf = s.buf[:need]
			copy(s.buf, s.req.hdr[:])
			s.have = 4
		}
		n := copy(s.buf[s.have:], data)
		s.have += n
		data = data[n:]
		if s.have == len(s.buf) {
			s.have, s.req.rem = 0, 0
			if _, err := s.up.Write(s.buf); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *gnetPass) OnClose(c gnet.Conn, _ error) gnet.Action {
	var s *gnetSession
	var peer gnet.Conn
	switch v := c.Context().(type) {
	case *gnetSession:
		s, peer = v, v.up
	case *gnetUpstream:
		s, peer = v.s, v.s.client
	default:
		return gnet.None
	}
	if s.closed {
		return gnet.None
	}
	s.closed = true
	s.pending, s.buf = nil, nil
	if peer != nil {
		peer.Close() //nolint:errcheck // asynchronous: no OnClose nested in this one
	}
	return gnet.None
}

// frameWalker follows Kafka frame boundaries through a byte stream: a
// four-byte big-endian size, then that many bytes.
type frameWalker struct {
	rem  int // body bytes of the current frame still to come; -1 while a size prefix is incomplete
	hdr  [4]byte
	nhdr int
}

// walk follows data through the frames, failing on an impossible size.
func (w *frameWalker) walk(data []byte) error {
	for len(data) > 0 {
		if w.rem > 0 {
			k := min(w.rem, len(data))
			w.rem -= k
			data = data[k:]
			continue
		}
		n, err := w.prefix(data)
		if err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// prefix consumes size-prefix bytes from the start of data and returns how
// many it took. Once the prefix is whole, rem is the frame's body size;
// until then it is -1.
func (w *frameWalker) prefix(data []byte) (int, error) {
	n := copy(w.hdr[w.nhdr:], data)
	w.nhdr += n
	if w.nhdr < 4 {
		w.rem = -1
		return n, nil
	}
	w.nhdr = 0
	size := int32(binary.BigEndian.Uint32(w.hdr[:]))
	if size < 0 || size > maxFrame {
		return n, fmt.Errorf("frame size %d is outside 0..%d", size, maxFrame)
	}
	w.rem = int(size)
	return n, nil
}

// gnetLogger sends gnet's own log lines to the role's logger.
type gnetLogger struct{ log *slog.Logger }

func (l gnetLogger) Debugf(format string, args ...any) {}
func (l gnetLogger) Infof(format string, args ...any)  {}
func (l gnetLogger) Warnf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...), "component", "gnet")
}
func (l gnetLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "component", "gnet")
}
func (l gnetLogger) Fatalf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "component", "gnet")
}
