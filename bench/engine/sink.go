package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/protocol"
)

// benchTopic is the one topic the sink knows and the load client writes.
const benchTopic = "bench"

// sinkStats is what the sink reports when it stops.
type sinkStats struct {
	Conns           int64  `json:"conns"`
	Requests        int64  `json:"requests"`
	BytesIn         int64  `json:"bytes_in"`
	ProduceRequests int64  `json:"produce_requests"`
	ProduceBytes    int64  `json:"produce_bytes"` // whole Produce frames, size prefix included
	Batches         int64  `json:"batches"`
	BadBatches      int64  `json:"bad_batches"`
	BytesOut        int64  `json:"bytes_out"`
	FirstError      string `json:"first_error,omitempty"`
}

// sink is a minimal Kafka broker: node 0, one topic of one partition. It
// answers ApiVersions, Metadata (itself as the only broker) and Produce
// (success after checking each batch's framing and CRC), and discards the
// records. Any other request closes the connection.
type sink struct {
	host string
	port int32
	log  *slog.Logger

	conns, requests, bytesIn, produceRequests, produceBytes atomic.Int64
	batches, badBatches, bytesOut, offset                   atomic.Int64

	mu       sync.Mutex
	firstErr string
}

func runSink(ctx context.Context, c config, in *bufio.Reader, stdout io.Writer, log *slog.Logger) error {
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return err
	}
	host, portStr, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(portStr)
	s := &sink{host: host, port: int32(port), log: log}
	ctx, cancel := untilEOF(ctx, in)
	defer cancel()
	go s.accept(ln)
	fmt.Fprintf(stdout, "ready %s\n", ln.Addr())
	<-ctx.Done()
	ln.Close()
	return json.NewEncoder(stdout).Encode(s.stats())
}

// accept owns the listener until it is closed; each connection's goroutine
// ends when its peer closes or the process exits.
func (s *sink) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.fail(fmt.Errorf("accept: %w", err))
			}
			return
		}
		s.conns.Add(1)
		go s.serve(c)
	}
}

func (s *sink) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.firstErr == "" {
		s.firstErr = err.Error()
		s.log.Warn("sink", "err", err)
	}
}

func (s *sink) stats() sinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sinkStats{
		Conns: s.conns.Load(), Requests: s.requests.Load(), BytesIn: s.bytesIn.Load(),
		ProduceRequests: s.produceRequests.Load(), ProduceBytes: s.produceBytes.Load(),
		Batches: s.batches.Load(), BadBatches: s.badBatches.Load(), BytesOut: s.bytesOut.Load(),
		FirstError: s.firstErr,
	}
}

// serve answers one connection's requests in order until it closes.
func (s *sink) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	var sizeBuf [4]byte
	var frame []byte
	for {
		size, err := protocol.ReadSize(br, &sizeBuf, maxFrame)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.fail(fmt.Errorf("read: %w", err))
			}
			return
		}
		if cap(frame) < int(size) {
			frame = make([]byte, size)
		}
		frame = frame[:size]
		if _, err := io.ReadFull(br, frame); err != nil {
			s.fail(fmt.Errorf("read: %w", err))
			return
		}
		s.requests.Add(1)
		s.bytesIn.Add(int64(size) + 4)
		resp, err := s.handle(frame)
		if err != nil {
			s.fail(err)
			return
		}
		if resp == nil {
			continue
		}
		if _, err := c.Write(resp); err != nil {
			s.fail(fmt.Errorf("write: %w", err))
			return
		}
		s.bytesOut.Add(int64(len(resp)))
	}
}

// handle returns the response frame to one request frame (without its size
// prefix), or nil for an acks=0 Produce.
func (s *sink) handle(frame []byte) ([]byte, error) {
	hdr, err := protocol.ParseRequestHeader(frame)
	if err != nil {
		return nil, fmt.Errorf("request header: %w", err)
	}
	body := frame[hdr.Len:]
	switch hdr.Key {
	case 0:
		s.produceRequests.Add(1)
		s.produceBytes.Add(int64(len(frame)) + 4)
		req := kmsg.NewPtrProduceRequest()
		req.Version = hdr.Version
		// Unsafe: the records alias frame, which is not reused before
		// the response is built.
		if err := req.UnsafeReadFrom(body); err != nil {
			return nil, fmt.Errorf("produce v%d: %w", hdr.Version, err)
		}
		resp := s.produce(req)
		if req.Acks == 0 {
			return nil, nil
		}
		return protocol.AppendResponse(nil, hdr.CorrelationID, resp), nil
	case 3:
		req := kmsg.NewPtrMetadataRequest()
		req.Version = hdr.Version
		if err := req.ReadFrom(body); err != nil {
			return nil, fmt.Errorf("metadata v%d: %w", hdr.Version, err)
		}
		return protocol.AppendResponse(nil, hdr.CorrelationID, s.metadata(req)), nil
	case 18:
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = hdr.Version
		if err := req.ReadFrom(body); err != nil {
			return nil, fmt.Errorf("api versions v%d: %w", hdr.Version, err)
		}
		resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
		for _, r := range []kmsg.Request{kmsg.NewPtrProduceRequest(), kmsg.NewPtrMetadataRequest(), kmsg.NewPtrApiVersionsRequest()} {
			k := kmsg.NewApiVersionsResponseApiKey()
			k.ApiKey, k.MinVersion, k.MaxVersion = r.Key(), 0, r.MaxVersion()
			resp.ApiKeys = append(resp.ApiKeys, k)
		}
		return protocol.AppendResponse(nil, hdr.CorrelationID, resp), nil
	}
	return nil, fmt.Errorf("sink answers ApiVersions, Metadata and Produce only, not %s", hdr.APIName())
}

// produce checks every batch (framing and CRC, as a broker does before it
// appends) and answers each partition: success, or CORRUPT_MESSAGE.
func (s *sink) produce(req *kmsg.ProduceRequest) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		rt.TopicID = t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			rp.LogAppendTime = -1
			s.batches.Add(1)
			b, err := protocol.ReadBatch(p.Records)
			if err != nil {
				s.badBatches.Add(1)
				s.fail(fmt.Errorf("%s[%d]: %w", t.Topic, p.Partition, err))
				rp.ErrorCode = 2 // CORRUPT_MESSAGE
			} else {
				rp.BaseOffset = s.offset.Add(int64(b.NumRecords)) - int64(b.NumRecords)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// metadata names the sink as the only broker, node 0, leading partition 0
// of every topic asked for (benchTopic when all are asked for).
func (s *sink) metadata(req *kmsg.MetadataRequest) *kmsg.MetadataResponse {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID, b.Host, b.Port = 0, s.host, s.port
	resp.Brokers = []kmsg.MetadataResponseBroker{b}
	resp.ClusterID = kmsg.StringPtr("schemaproxy-bench")
	resp.ControllerID = 0
	names := []string{benchTopic}
	if req.Topics != nil {
		names = names[:0]
		for _, t := range req.Topics {
			if t.Topic != nil {
				names = append(names, *t.Topic)
			}
		}
	}
	for _, name := range names {
		t := kmsg.NewMetadataResponseTopic()
		t.Topic = kmsg.StringPtr(name)
		t.TopicID = [16]byte{15: 1}
		p := kmsg.NewMetadataResponseTopicPartition()
		p.Partition, p.Leader, p.Replicas, p.ISR = 0, 0, []int32{0}, []int32{0}
		t.Partitions = []kmsg.MetadataResponseTopicPartition{p}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}
