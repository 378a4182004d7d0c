package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/schemaproxy/schemaproxy/protocol"
)

// runNet runs one of the two net.Conn passthroughs, each with two
// goroutines per connection:
//
//   - splice, the reference: each direction reads a size prefix with
//     one small read and moves the frame body with io.CopyN, which the
//     kernel splices TCP to TCP. Reading frame by frame, not io.Copy, keeps
//     an idle pair from holding a splice pipe.
//   - net-frame: requests are read whole into a buffer the connection
//     reuses, then written, as a proxy that checks Produce requests must;
//     responses are spliced. It is gnet-frame's counterpart on net.
func runNet(ctx context.Context, c config, in *bufio.Reader, stdout io.Writer, log *slog.Logger) error {
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return err
	}
	ctx, cancel := untilEOF(ctx, in)
	defer cancel()
	go acceptNet(ln, c.Upstream, c.Role == engineNetFrame, log)
	fmt.Fprintf(stdout, "ready %s\n", ln.Addr())
	<-ctx.Done()
	return ln.Close()
}

// acceptNet owns ln until it is closed; connections end with their peers
// or the process.
func acceptNet(ln net.Listener, upstream string, wholeFrames bool, log *slog.Logger) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				log.Warn("accept", "err", err)
			}
			return
		}
		go netPair(c, upstream, wholeFrames, log)
	}
}

// netPair dials the upstream for client and copies frames both ways until
// either side ends.
func netPair(client net.Conn, upstream string, wholeFrames bool, log *slog.Logger) {
	defer client.Close()
	up, err := net.DialTimeout("tcp", upstream, 10*time.Second)
	if err != nil {
		log.Warn("upstream dial", "err", err)
		return
	}
	defer up.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		spliceFrames(client, up) //nolint:errcheck // the end of either direction ends the pair
		client.Close()
	}()
	if wholeFrames {
		copyFrames(up, client) //nolint:errcheck // as above
	} else {
		spliceFrames(up, client) //nolint:errcheck // as above
	}
	up.Close()
	<-done
}

// spliceFrames copies whole frames from src to dst until src ends.
func spliceFrames(dst, src net.Conn) error {
	var hdr [4]byte
	for {
		size, err := protocol.ReadSize(src, &hdr, maxFrame)
		if err != nil {
			return err
		}
		if _, err := dst.Write(hdr[:]); err != nil {
			return err
		}
		if _, err := io.CopyN(dst, src, int64(size)); err != nil {
			return err
		}
	}
}

// copyFrames reads each frame from src whole into one buffer, reused from
// frame to frame, and writes it to dst, until src ends.
func copyFrames(dst, src net.Conn) error {
	var hdr [4]byte
	var buf []byte
	for {
		size, err := protocol.ReadSize(src, &hdr, maxFrame)
		if err != nil {
			return err
		}
		if cap(buf) < 4+int(size) {
			buf = make([]byte, 4+int(size))
		}
		buf = buf[:4+int(size)]
		copy(buf, hdr[:])
		if _, err := io.ReadFull(src, buf[4:]); err != nil {
			return err
		}
		if _, err := dst.Write(buf); err != nil {
			return err
		}
	}
}
