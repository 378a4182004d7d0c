package proxy

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/protocol"
)

// handleProduce reads a whole Produce request and forwards it. acks=0
// requests take no response slot: the broker sends nothing back, and a
// slot would wait forever (FR-03).
func (pr *pair) handleProduce(version int16, corr int32, size int32) error {
	frame, err := pr.readFrame(size)
	if err != nil {
		return err
	}
	hdr, err := protocol.ParseRequestHeader(frame[4:])
	if err != nil {
		return protoErr(metrics.ReasonProtocol, "produce request header: %w", err)
	}
	body := frame[4+hdr.Len:]
	if version < 3 {
		return pr.refuseOldProduce(hdr, body)
	}
	acks, err := protocol.ProduceAcks(body, hdr.Flexible)
	if err != nil {
		return protoErr(metrics.ReasonProtocol, "produce v%d request: %w", version, err)
	}
	if acks != 0 {
		if err := pr.push(slot{key: keyProduce, version: version, corr: corr, rewrite: needsRewrite(keyProduce, version)}); err != nil {
			return err
		}
	}
	return pr.writeUpstream(frame)
}

// refuseOldProduce answers Produce v0-2 (message sets v0/v1, removed in
// Kafka 4.0 by KIP-896) with UNSUPPORTED_VERSION for every partition, as a
// Kafka 4 broker does; with acks=0 there is no way to answer, so the
// connection is closed.
func (pr *pair) refuseOldProduce(hdr protocol.RequestHeader, body []byte) error {
	req := kmsg.NewPtrProduceRequest()
	req.Version = hdr.Version
	if err := req.ReadFrom(body); err != nil {
		return protoErr(metrics.ReasonProtocol, "produce v%d request: %w", hdr.Version, err)
	}
	if req.Acks == 0 {
		return protoErr(metrics.ReasonProtocol, "produce v%d with acks=0 is not supported (message format v0/v1)", hdr.Version)
	}
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = 35 // UNSUPPORTED_VERSION
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	pr.p.metrics.LocalResponse(keyProduce)
	pr.log.Debug("refused old produce version", "api_version", hdr.Version)
	return pr.push(slot{local: protocol.AppendResponse(nil, hdr.CorrelationID, resp), key: keyProduce, version: hdr.Version, corr: hdr.CorrelationID})
}
