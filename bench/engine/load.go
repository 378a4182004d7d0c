package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sync/errgroup"

	"github.com/schemaproxy/schemaproxy/protocol"
)

// loadResult is what the load role reports.
type loadResult struct {
	Conns         int     `json:"conns"`
	Depth         int     `json:"depth"`
	FrameBytes    int     `json:"frame_bytes"`
	Requests      int64   `json:"requests"`
	ProduceBytes  int64   `json:"produce_bytes"` // whole Produce frames sent, size prefix included
	ResponseBytes int64   `json:"response_bytes"`
	Seconds       float64 `json:"seconds"`
}

// requestTimeout bounds every wait for a response.
const requestTimeout = 60 * time.Second

// runLoad connects, sends one ApiVersions per connection, prints "ready",
// waits for a line on stdin, then sends about c.Bytes of Produce requests
// (acks=1) spread over c.Conns connections with c.Depth in flight on each,
// checks every response (correlation IDs in order, error code 0), and
// prints a loadResult.
func runLoad(ctx context.Context, c config, in *bufio.Reader, stdout io.Writer) error {
	frame, err := produceFrame(c.BatchBytes, c.ProduceVersion)
	if err != nil {
		return err
	}
	total := max(1, (c.Bytes+int64(len(frame))-1)/int64(len(frame)))
	conns := make([]net.Conn, c.Conns)
	for i := range conns {
		conn, err := net.DialTimeout("tcp", c.Addr, 10*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		if err := apiVersions(conn, 0); err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		conns[i] = conn
	}
	fmt.Fprintln(stdout, "ready")
	if _, err := waitLine(ctx, in); err != nil {
		return fmt.Errorf("waiting for the start: %w", err)
	}
	res := loadResult{Conns: c.Conns, Depth: c.Depth, FrameBytes: len(frame)}
	var mu sync.Mutex
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for i, conn := range conns {
		n := total / int64(len(conns))
		if int64(i) < total%int64(len(conns)) {
			n++
		}
		if n == 0 {
			continue
		}
		g.Go(func() error {
			d := &driver{conn: conn, frame: slices.Clone(frame), count: n, version: c.ProduceVersion,
				tokens: make(chan struct{}, c.Depth)}
			if err := d.run(gctx); err != nil {
				return fmt.Errorf("connection %d: %w", i, err)
			}
			mu.Lock()
			res.Requests += n
			res.ProduceBytes += n * int64(len(frame))
			res.ResponseBytes += d.respBytes
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	res.Seconds = time.Since(start).Seconds()
	return json.NewEncoder(stdout).Encode(res)
}

// driver pipelines count Produce requests on one connection.
type driver struct {
	conn      net.Conn
	frame     []byte // this connection's copy: the correlation ID is patched in place
	count     int64
	version   int16
	tokens    chan struct{} // one per request in flight
	respBytes int64         // read only after run returns
}

// run writes the requests while a second goroutine, which run waits for,
// reads and checks the responses.
func (d *driver) run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { d.conn.Close() })
	defer stop()
	readErr := make(chan error, 1)
	go func() { readErr <- d.readResponses() }()
	for i := int64(1); i <= d.count; i++ {
		select {
		case d.tokens <- struct{}{}:
		case err := <-readErr:
			if err == nil {
				err = errors.New("responses ended early")
			}
			return err
		}
		binary.BigEndian.PutUint32(d.frame[8:], uint32(i))
		if _, err := d.conn.Write(d.frame); err != nil {
			d.conn.Close()
			<-readErr
			return fmt.Errorf("request %d: %w", i, err)
		}
	}
	err := <-readErr
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// readResponses reads count Produce responses and checks each.
func (d *driver) readResponses() error {
	br := bufio.NewReaderSize(d.conn, 4<<10)
	var sizeBuf [4]byte
	var body []byte
	for i := int64(1); i <= d.count; i++ {
		d.conn.SetReadDeadline(time.Now().Add(requestTimeout))
		size, err := protocol.ReadSize(br, &sizeBuf, 1<<20)
		if err != nil {
			return fmt.Errorf("response %d: %w", i, err)
		}
		body = slices.Grow(body[:0], int(size))[:size]
		if _, err := io.ReadFull(br, body); err != nil {
			return fmt.Errorf("response %d: %w", i, err)
		}
		d.respBytes += int64(size) + 4
		if err := checkProduceResponse(body, d.version, int32(i)); err != nil {
			return err
		}
		<-d.tokens
	}
	return nil
}

// checkProduceResponse checks one response frame (without its size
// prefix): the correlation ID expected, one topic, one partition, no error.
func checkProduceResponse(body []byte, version int16, corr int32) error {
	if len(body) < 4 {
		return fmt.Errorf("response of %d bytes", len(body))
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != corr {
		return fmt.Errorf("correlation ID %d, want %d: responses out of order", got, corr)
	}
	hl, err := protocol.ResponseHeaderLen(0, version, body)
	if err != nil {
		return err
	}
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = version
	if err := resp.ReadFrom(body[hl:]); err != nil {
		return fmt.Errorf("produce response %d: %w", corr, err)
	}
	if len(resp.Topics) != 1 || resp.Topics[0].Topic != benchTopic || len(resp.Topics[0].Partitions) != 1 {
		return fmt.Errorf("produce response %d: want topic %q with one partition", corr, benchTopic)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 {
		return fmt.Errorf("produce response %d: error code %d", corr, p.ErrorCode)
	}
	return nil
}

// apiVersions sends one ApiVersions v3 request with correlation ID corr on
// conn and checks the answer.
func apiVersions(conn net.Conn, corr int32) error {
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName = "schemaproxy-bench-engine"
	req.ClientSoftwareVersion = "1"
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench-engine")).AppendRequest(nil, req, corr)
	conn.SetDeadline(time.Now().Add(requestTimeout))
	defer conn.SetDeadline(time.Time{})
	if _, err := conn.Write(frame); err != nil {
		return fmt.Errorf("api versions: %w", err)
	}
	var sizeBuf [4]byte
	size, err := protocol.ReadSize(conn, &sizeBuf, 1<<20)
	if err != nil {
		return fmt.Errorf("api versions response: %w", err)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(conn, body); err != nil {
		return fmt.Errorf("api versions response: %w", err)
	}
	if size < 4 || int32(binary.BigEndian.Uint32(body)) != corr {
		return errors.New("api versions response: wrong correlation ID")
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = req.Version
	if err := resp.ReadFrom(body[4:]); err != nil {
		return fmt.Errorf("api versions response: %w", err)
	}
	if resp.ErrorCode != 0 {
		return fmt.Errorf("api versions response: error code %d", resp.ErrorCode)
	}
	return nil
}

// produceFrame returns a Produce request frame (size prefix included,
// correlation ID 0 at offset 8) with acks=1 and one uncompressed record
// batch of exactly batchBytes bytes for partition 0 of benchTopic.
func produceFrame(batchBytes int, version int16) ([]byte, error) {
	batch := recordBatch(batchBytes)
	if len(batch) != batchBytes {
		return nil, fmt.Errorf("a record batch of exactly %d bytes cannot be built", batchBytes)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = 1
	req.TimeoutMillis = 30000
	t := kmsg.NewProduceRequestTopic()
	t.Topic = benchTopic
	p := kmsg.NewProduceRequestTopicPartition()
	p.Partition = 0
	p.Records = batch
	t.Partitions = []kmsg.ProduceRequestTopicPartition{p}
	req.Topics = []kmsg.ProduceRequestTopic{t}
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench-engine")).AppendRequest(nil, req, 0), nil
}

// recordBatch returns a magic-2 batch holding one record whose value is
// sized so the batch is size bytes, or as close as varint lengths allow.
// The value is pseudo-random, so nothing on the path can shortcut it.
func recordBatch(size int) []byte {
	const batchHeader = 61
	value := size - batchHeader - 8
	for range 4 {
		b := encodeBatch(value)
		if len(b) == size {
			return b
		}
		value += size - len(b)
	}
	return encodeBatch(value)
}

func encodeBatch(valueLen int) []byte {
	value := make([]byte, max(0, valueLen))
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(value); i += 8 {
		binary.LittleEndian.PutUint64(value[i:], r.Uint64())
	}
	var rec []byte
	rec = append(rec, 0)               // attributes
	rec = binary.AppendVarint(rec, 0)  // timestamp delta
	rec = binary.AppendVarint(rec, 0)  // offset delta
	rec = binary.AppendVarint(rec, -1) // null key
	rec = binary.AppendVarint(rec, int64(len(value)))
	rec = append(rec, value...)
	rec = binary.AppendVarint(rec, 0) // no headers

	now := time.Now().UnixMilli()
	b := make([]byte, 0, 61+len(rec)+binary.MaxVarintLen32)
	b = binary.BigEndian.AppendUint64(b, 0)                  // base offset
	b = binary.BigEndian.AppendUint32(b, 0)                  // batch length, patched below
	b = binary.BigEndian.AppendUint32(b, 0xffffffff)         // partition leader epoch -1
	b = append(b, 2)                                         // magic
	b = binary.BigEndian.AppendUint32(b, 0)                  // CRC, patched below
	b = binary.BigEndian.AppendUint16(b, 0)                  // attributes: no compression
	b = binary.BigEndian.AppendUint32(b, 0)                  // last offset delta
	b = binary.BigEndian.AppendUint64(b, uint64(now))        // first timestamp
	b = binary.BigEndian.AppendUint64(b, uint64(now))        // max timestamp
	b = binary.BigEndian.AppendUint64(b, 0xffffffffffffffff) // producer ID -1
	b = binary.BigEndian.AppendUint16(b, 0xffff)             // producer epoch -1
	b = binary.BigEndian.AppendUint32(b, 0xffffffff)         // base sequence -1
	b = binary.BigEndian.AppendUint32(b, 1)                  // record count
	b = binary.AppendVarint(b, int64(len(rec)))
	b = append(b, rec...)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}
