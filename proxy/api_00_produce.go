package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/protocol"
)

// maxProduceVersion is the highest Produce version advertised. Produce v13
// (KIP-516, Kafka 4.1) names topics by ID only; v12 names them, which the
// topic policy needs, and still carries everything transactions v2
// (KIP-890) requires, so capping at 12 costs clients nothing. A client
// that sends v13 regardless is disconnected, checker or not
// (neverAdvertised).
const maxProduceVersion = 12

// handleProduce reads a whole Produce request, has every partition
// checked, and forwards what passes. acks=0 requests take no response
// slot: the broker sends nothing back, and a slot would wait forever (FR-03).
//
// The request leg of produce_proxy_seconds runs from the frame's last byte
// read to the end of its write upstream, or to the queueing of the local
// answer, a wait for a free in-flight slot included; a request that ends
// the connection is not observed.
func (pr *pair) handleProduce(version int16, corr int32, size int32) error {
	bp, err := pr.readFrame(size)
	if err != nil {
		return err
	}
	read := time.Now()
	// Every path below has written the frame upstream, or dropped it, when
	// it returns, and keeps nothing that aliases it (invariant 15).
	defer protocol.PutFrame(bp)
	if err := pr.produce(*bp, version, corr); err != nil {
		return err
	}
	pr.p.metrics.ProduceRequestTime.Observe(time.Since(read).Seconds())
	return nil
}

// produce checks and forwards, or answers, the Produce request in frame,
// which aliases a pooled buffer.
func (pr *pair) produce(frame []byte, version int16, corr int32) error {
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
	chk := pr.p.cfg.Checker
	if chk == nil {
		return pr.forwardProduce(frame, version, corr, acks, nil)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	// Unsafe: topic names and records alias frame, which goes back to its
	// pool when this returns; internTopics replaces the names with copies
	// before anything can keep them.
	if err := req.UnsafeReadFrom(body); err != nil {
		return protoErr(metrics.ReasonProtocol, "produce v%d request: %w", version, err)
	}
	pr.internTopics(req)
	prot := protectProduce(chk, req)
	rejs, err := pr.checkProduce(chk, req)
	if err != nil {
		return err
	}
	if len(rejs) == 0 && len(prot) == 0 {
		return pr.forwardProduce(frame, version, corr, acks, nil)
	}
	dropRejected(req, rejs)
	rejs = append(prot, rejs...)
	if len(req.Topics) > 0 {
		frame = append(append(protocol.AppendSize(nil, 0), frame[4:4+hdr.Len]...), req.AppendTo(nil)...)
		protocol.PatchSize(frame)
	} else {
		frame = nil
	}
	if acks == 0 {
		// Nothing can be reported: forward what passed, then close, as a
		// broker does when an acks=0 request fails, so the client notices;
		// but only after the responses owed for earlier requests, which a
		// broker would have sent before reading this one.
		if frame != nil {
			if err := pr.writeUpstream(frame); err != nil {
				return err
			}
		}
		return &ProtocolError{Reason: metrics.ReasonAcks0Rejected,
			Err: fmt.Errorf("acks=0 produce: %d partition(s) rejected (first: %s); closing the connection as a broker does", len(rejs), rejs[0].message())}
	}
	if frame == nil {
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		applyRejections(resp, rejs)
		pr.p.metrics.LocalResponse(keyProduce)
		return pr.push(slot{local: protocol.AppendResponse(nil, corr, resp), key: keyProduce, version: version, corr: corr})
	}
	return pr.forwardProduce(frame, version, corr, acks, rejs)
}

// protectProduce refuses every partition of a protected topic with
// TOPIC_AUTHORIZATION_FAILED, as a broker whose ACLs deny the write, and
// drops them from req, before any record is checked: nothing written to
// _schemas behind the registry's back can register a schema. The
// request scope does not spread these refusals to other partitions.
func protectProduce(chk Checker, req *kmsg.ProduceRequest) []rejection {
	if !chk.HasProtected() {
		return nil
	}
	var rejs []rejection
	for _, t := range req.Topics {
		if !chk.Protected(t.Topic) {
			continue
		}
		for _, p := range t.Partitions {
			rejs = append(rejs, rejection{topic: t.Topic, partition: p.Partition, code: codeTopicAuthFailed, err: protectedError(t.Topic)})
		}
	}
	if len(rejs) > 0 {
		dropRejected(req, rejs)
	}
	return rejs
}

// maxInternedTopics bounds each connection's table of interned topic names.
const maxInternedTopics = 256

// internTopics replaces every topic name of req, which aliases the pooled
// frame, with a copy kept for the connection, so the checker, the metrics
// and the rejections merged later may keep it. A producer writes to a few
// topics, so names are copied once per connection; past maxInternedTopics
// the table starts over.
func (pr *pair) internTopics(req *kmsg.ProduceRequest) {
	for i := range req.Topics {
		t := &req.Topics[i]
		s, ok := pr.topics[t.Topic]
		if !ok {
			if len(pr.topics) >= maxInternedTopics {
				clear(pr.topics)
			}
			if pr.topics == nil {
				pr.topics = make(map[string]string)
			}
			s = strings.Clone(t.Topic)
			pr.topics[s] = s
		}
		t.Topic = s
	}
}

// forwardProduce queues the response slot (none for acks=0), with the
// rejections to merge into the broker's answer, and writes frame upstream.
func (pr *pair) forwardProduce(frame []byte, version int16, corr int32, acks int16, rejs []rejection) error {
	if acks != 0 {
		s := slot{key: keyProduce, version: version, corr: corr, rewrite: needsRewrite(keyProduce, version)}
		if len(rejs) > 0 {
			s.merge, s.rewrite = &rejs, true
		}
		if err := pr.push(s); err != nil {
			return err
		}
	}
	return pr.writeUpstream(frame)
}

// checkProduce asks the checker about every partition of req and returns
// the partitions to answer locally. A schema failure is INVALID_RECORD
// (non-retriable, as a broker's own record validation); a registry that
// cannot answer is NOT_ENOUGH_REPLICAS, which every client retries and
// which means "not written", so no data is lost and nothing unchecked
// passes. With the request scope, one rejection fails every partition.
//
// The checks share one enforce.RequestLookups, drawn on the connection's:
// what a request, or a connection, can make the registry answer is
// bounded, and past the bound a partition gets NOT_ENOUGH_REPLICAS, so an
// honest producer with a burst of new schemas gets them on retry.
//
// Checking stops, with net.ErrClosed, once the pair is closed: from
// partition watchClientAfter on, watchClient closes it, and ends the
// checks' context, when the client goes away, so a client that sends a
// huge request and leaves does not keep a core busy checking it.
func (pr *pair) checkProduce(chk Checker, req *kmsg.ProduceRequest) ([]rejection, error) {
	cctx := newCheckCtx(time.Now().Add(pr.p.cfg.CheckTimeout))
	defer cctx.release()
	ctx := enforce.WithLookups(cctx, enforce.NewRequestLookups(pr.p.cfg.RegistryLookupsPerRequest, pr.lookups))
	var rejs []rejection
	n := 0
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			if n++; n == watchClientAfter {
				defer pr.watchClient(cctx)()
			}
			if pr.closed() {
				return nil, net.ErrClosed
			}
			err := chk.Check(ctx, t.Topic, p.Partition, p.Records)
			if err == nil {
				continue
			}
			r := rejection{topic: t.Topic, partition: p.Partition, code: codeNotEnoughReplicas, err: err}
			if _, ok := errors.AsType[*enforce.ValidationError](err); ok {
				r.code = codeInvalidRecord
			}
			if pr.log.Enabled(ctx, slog.LevelDebug) {
				pr.log.Debug("produce partition rejected", "topic", t.Topic, "partition", p.Partition, "error_code", r.code, "err", r.message())
			}
			rejs = append(rejs, r)
		}
	}
	if len(rejs) == 0 || chk.RejectScope() != enforce.ScopeRequest {
		return rejs, nil
	}
	// Request scope: the rest of the request fails with the first cause.
	first := rejs[0]
	code := codeNotEnoughReplicas
	for _, r := range rejs {
		if r.code == codeInvalidRecord {
			code, first = codeInvalidRecord, r
			break
		}
	}
	done := rejectedSet(rejs)
	for _, t := range req.Topics {
		tdone := done[t.Topic]
		for _, p := range t.Partitions {
			if _, ok := tdone[p.Partition]; !ok {
				rejs = append(rejs, rejection{topic: t.Topic, partition: p.Partition, code: code, with: &first})
			}
		}
	}
	return rejs, nil
}

// watchClientAfter is the partition of a Produce request from which
// checkProduce watches the client: a request that small is checked
// quickly, and the watch costs a goroutine and a wake-up.
const watchClientAfter = 64

// watchClient watches the client connection, while readRequests, its
// reader, checks a request, and if the client goes away closes the pair
// and releases cctx, ending a registry look-up under way. The returned
// stop ends the watch and must run before the next client read. What the
// client sends meanwhile (its next requests) stays buffered in pr.cr, and
// the watch ends when that buffer is full.
func (pr *pair) watchClient(cctx *checkCtx) (stop func()) {
	exited := make(chan struct{})
	go pr.watchClientGone(cctx, exited)
	return func() {
		pr.client.SetReadDeadline(aLongTimeAgo)
		<-exited
		pr.client.SetReadDeadline(time.Time{})
		if pr.draining.Load() {
			// drain stores draining before it sets its deadline, so
			// either it set it after the line above or it is seen here.
			pr.client.SetReadDeadline(aLongTimeAgo)
		}
	}
}

// watchClientGone reads ahead from the client until its buffer is full,
// stop wakes it with a past deadline, or the client is gone: then it
// closes the pair, as readRequests does at a client's EOF, and releases
// cctx.
func (pr *pair) watchClientGone(cctx *checkCtx, exited chan<- struct{}) {
	defer close(exited)
	for pr.cr.Buffered() < pr.cr.Size() {
		if _, err := pr.cr.Peek(pr.cr.Buffered() + 1); err != nil {
			if !isTimeout(err) {
				pr.close()
				cctx.release()
			}
			return
		}
	}
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
	var rejs []rejection
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			rejs = append(rejs, rejection{topic: t.Topic, partition: p.Partition, code: codeUnsupportedVersion})
		}
	}
	applyRejections(resp, rejs)
	pr.p.metrics.LocalResponse(keyProduce)
	pr.log.Debug("refused old produce version", "api_version", hdr.Version)
	return pr.push(slot{local: protocol.AppendResponse(nil, hdr.CorrelationID, resp), key: keyProduce, version: hdr.Version, corr: hdr.CorrelationID})
}

// checkCtx is the context of one Produce request's checks: it has the
// CheckTimeout deadline, but starts its timer only when something waits
// on it (Done or Err). Checks answered from the registry cache never do,
// and a timer per request, started then stopped, costs a wake-up of the
// runtime's network poller each time. Safe for concurrent use: a registry
// call may outlive the request.
type checkCtx struct {
	deadline time.Time

	mu       sync.Mutex
	ctx      context.Context // the deadline context, made on first wait
	cancel   context.CancelFunc
	released bool
}

func newCheckCtx(deadline time.Time) *checkCtx { return &checkCtx{deadline: deadline} }

// timer returns the deadline context, making it on first use; after
// release it is already canceled.
func (c *checkCtx) timer() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		c.ctx, c.cancel = context.WithDeadline(context.Background(), c.deadline)
		if c.released {
			c.cancel()
		}
	}
	return c.ctx
}

func (c *checkCtx) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *checkCtx) Done() <-chan struct{}       { return c.timer().Done() }
func (c *checkCtx) Err() error                  { return c.timer().Err() }
func (c *checkCtx) Value(any) any               { return nil }

// release ends the context, as the cancel function of WithDeadline does.
func (c *checkCtx) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.released = true
	if c.cancel != nil {
		c.cancel()
	}
}
