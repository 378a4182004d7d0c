package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/protocol"
)

// brokerMap maps upstream node IDs to their upstream address and the
// proxy listener that serves them. Node IDs are kept 1:1 with upstream, so
// node-ID fields (leaders, replicas, controller IDs) never need rewriting;
// only host and port do.
type brokerMap struct {
	p     *Proxy
	mu    sync.Mutex // guards nodes; held while a listener opens
	nodes map[int32]*node
}

type node struct {
	id       int32
	upstream atomic.Pointer[string]
	ln       *listener
}

func (n *node) upstreamAddr() string { return *n.upstream.Load() }

func (b *brokerMap) get(id int32) *node {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nodes[id]
}

// ensure records that node id lives upstream at host:port and makes sure a
// listener serves it, opening one if needed, before it returns the
// address to advertise. A later call with a new upstream address updates
// where new connections for that node go.
func (b *brokerMap) ensure(id int32, host string, port int32) (string, int32, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
	b.mu.Lock()
	defer b.mu.Unlock()
	if n, ok := b.nodes[id]; ok {
		if n.upstreamAddr() != addr {
			b.p.log.Info("upstream node moved", "broker_id", id, "from", n.upstreamAddr(), "to", addr)
			n.upstream.Store(&addr)
		}
		h, p := b.p.advertised(id)
		return h, p, nil
	}
	lport, err := b.p.nodePort(id)
	if err != nil {
		return "", 0, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(b.p.listenHost(), strconv.Itoa(lport)))
	if err != nil {
		return "", 0, fmt.Errorf("listener for node %d: %w", id, err)
	}
	n := &node{id: id}
	n.upstream.Store(&addr)
	n.ln = &listener{ln: ln, name: "broker-" + itoa(int(id)), node: n}
	if err := b.p.addListener(n.ln); err != nil {
		return "", 0, err
	}
	b.nodes[id] = n
	b.p.log.Info("listening", "listener", n.ln.name, "broker_id", id, "addr", ln.Addr().String(), "upstream_addr", addr)
	h, p := b.p.advertised(id)
	return h, p, nil
}

// prime asks an upstream bootstrap broker for the cluster's brokers and
// opens their listeners, so a client (or a replica of this proxy behind a
// load balancer) can connect to a node port before any client has fetched
// metadata through this process. Failure is logged, not returned: node
// listeners also open as metadata passes through, and an upstream that
// requires SASL answers nothing before authentication.
func (p *Proxy) prime(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	brokers, err := p.fetchBrokers(ctx)
	if err != nil {
		p.log.Info("could not list upstream brokers at start; node listeners open as clients fetch metadata", "err", err)
		return
	}
	for _, b := range brokers {
		if _, _, err := p.brokers.ensure(b.NodeID, b.Host, b.Port); err != nil {
			p.log.Warn("cannot serve upstream node", "broker_id", b.NodeID, "err", err)
		}
	}
}

// fetchBrokers sends one Metadata v12 request for no topics upstream.
func (p *Proxy) fetchBrokers(ctx context.Context) ([]kmsg.MetadataResponseBroker, error) {
	c, _, err := p.dialFor(&listener{name: "bootstrap"})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	req.Topics = []kmsg.MetadataRequestTopic{}
	const corr = 1
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("schemaproxy")).AppendRequest(nil, req, corr)
	if _, err := c.Write(frame); err != nil {
		return nil, err
	}
	var sizeBuf [4]byte
	size, err := protocol.ReadSize(c, &sizeBuf, p.cfg.MaxResponseBytes)
	if err != nil {
		return nil, err
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(c, body); err != nil {
		return nil, err
	}
	hlen, err := protocol.ResponseHeaderLen(req.Key(), req.Version, body)
	if err != nil {
		return nil, err
	}
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	if err := resp.ReadFrom(body[hlen:]); err != nil {
		return nil, fmt.Errorf("metadata response: %w", err)
	}
	return resp.Brokers, nil
}
