package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/protocol"
)

var formatter = kmsg.NewRequestFormatter(kmsg.FormatterClientID("schemaproxy-bench-conns"))

// apiVersionsFrame is the first request every client sends.
func apiVersionsFrame(corr int32) []byte {
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName = "schemaproxy-bench-conns"
	req.ClientSoftwareVersion = "1.0.0"
	return formatter.AppendRequest(nil, req, corr)
}

// produceFrame is a Produce v9 request, acks=1, of one uncompressed batch
// of batchBytes (1 KiB records, every value different) for benchTopic[0].
func produceFrame(corr int32, batchBytes int) []byte {
	rng := rand.New(rand.NewPCG(3, 4))
	var recs []enforcetest.Rec
	for n := 0; n < batchBytes; n += 1 << 10 {
		v := make([]byte, 1<<10-16)
		for i := range v {
			v[i] = byte(rng.Uint32())
		}
		recs = append(recs, enforcetest.Rec{Value: v})
	}
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = 1
	req.TimeoutMillis = 30000
	req.Topics = []kmsg.ProduceRequestTopic{{Topic: benchTopic, Partitions: []kmsg.ProduceRequestTopicPartition{
		{Partition: 0, Records: enforcetest.Batch(protocol.CodecNone, recs...)},
	}}}
	return formatter.AppendRequest(nil, req, corr)
}

// fetchFrame is a Fetch v12 request (sessionless) for benchTopic[0] of at
// most maxBytes, answered at once: the upstream always has data.
func fetchFrame(corr int32, maxBytes int32) []byte {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.ReplicaID = -1
	req.MaxWaitMillis = 500
	req.MinBytes = 1
	req.MaxBytes = maxBytes
	req.SessionEpoch = -1
	p := kmsg.NewFetchRequestTopicPartition()
	p.Partition = 0
	p.FetchOffset = 0
	p.PartitionMaxBytes = maxBytes
	req.Topics = []kmsg.FetchRequestTopic{{Topic: benchTopic, Partitions: []kmsg.FetchRequestTopicPartition{p}}}
	return formatter.AppendRequest(nil, req, corr)
}

// readResponse reads one response frame from c and checks its
// correlation ID; it returns the frame's length, size prefix included.
func readResponse(c net.Conn, corr int32) (int, error) {
	var sb [4]byte
	size, err := protocol.ReadSize(c, &sb, 256<<20)
	if err != nil {
		return 0, err
	}
	if size < 4 {
		return 0, fmt.Errorf("response of %d bytes", size)
	}
	var head [4]byte
	if _, err := io.ReadFull(c, head[:]); err != nil {
		return 0, err
	}
	if got := int32(uint32(head[0])<<24 | uint32(head[1])<<16 | uint32(head[2])<<8 | uint32(head[3])); got != corr {
		return 0, fmt.Errorf("correlation id %d, want %d", got, corr)
	}
	if _, err := io.CopyN(io.Discard, c, int64(size)-4); err != nil {
		return 0, err
	}
	return 4 + int(size), nil
}

// roundTrip writes frame and reads its response, returning the response
// length.
func roundTrip(c net.Conn, frame []byte, corr int32) (int, error) {
	if _, err := c.Write(frame); err != nil {
		return 0, err
	}
	return readResponse(c, corr)
}
