package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// TestReplicasHandOutIdenticalAddresses runs two serve replicas with the
// same flags, as behind one load balancer; on one machine they differ
// only in the loopback address they bind (127.0.0.1 and 127.0.0.2, same
// port). Asked through each, Metadata and FindCoordinator name the same
// brokers at the same advertised addresses.
func TestReplicasHandOutIdenticalAddresses(t *testing.T) {
	t.Parallel()
	if ln, err := net.Listen("tcp", "127.0.0.2:0"); err != nil {
		t.Skipf("127.0.0.2 is not usable here: %v", err)
	} else {
		ln.Close()
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(3, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	listen, base := proxytest.FreePorts(t, 4)
	_, port, _ := net.SplitHostPort(listen)
	flags := []string{"serve", "--advertised-host", "proxy.example", "--broker-port-base", strconv.Itoa(base),
		"--upstream", strings.Join(c.ListenAddrs(), ","), "--metrics-listen", ""}

	var addrs []string
	var cmds []*cmdRun
	for _, host := range []string{"127.0.0.1", "127.0.0.2"} {
		addr := net.JoinHostPort(host, port)
		addrs = append(addrs, addr)
		cmds = append(cmds, startCmd(t, append(flags, "--listen", addr)...))
	}
	var answers []string
	for _, addr := range addrs {
		proxytest.Eventually(t, 10*time.Second, func() error { return accepts(addr) })
		answers = append(answers, askBrokers(t, addr))
	}
	for _, cmd := range cmds {
		cmd.stop(t)
	}
	t.Logf("both replicas answered:\n%s", answers[0])
	for id := range 3 {
		want := fmt.Sprintf("broker %d proxy.example:%d", id, base+id)
		if !strings.Contains(answers[0], want) {
			t.Errorf("replica 1 answered\n%s\nwant it to contain %q", answers[0], want)
		}
	}
	if !strings.Contains(answers[0], "proxy.example:") || !strings.Contains(answers[0], "coordinator") {
		t.Errorf("replica 1 named no coordinator at the advertised host:\n%s", answers[0])
	}
	if answers[0] != answers[1] {
		t.Errorf("the replicas disagree:\n%s\nand\n%s", answers[0], answers[1])
	}
}

// askBrokers asks the proxy at addr itself (not the brokers it
// advertises) for Metadata and for the coordinator of group g, and
// returns the addresses they name, one a line.
func askBrokers(t *testing.T, addr string) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seed := cl.SeedBrokers()[0]

	var b strings.Builder
	mresp, err := seed.Request(ctx, kmsg.NewPtrMetadataRequest())
	if err != nil {
		t.Fatalf("metadata from %s: %v", addr, err)
	}
	for _, br := range mresp.(*kmsg.MetadataResponse).Brokers {
		fmt.Fprintf(&b, "broker %d %s:%d\n", br.NodeID, br.Host, br.Port)
	}
	freq := kmsg.NewPtrFindCoordinatorRequest()
	freq.CoordinatorKey, freq.CoordinatorKeys = "g", []string{"g"}
	fresp, err := seed.Request(ctx, freq)
	if err != nil {
		t.Fatalf("find coordinator from %s: %v", addr, err)
	}
	fr := fresp.(*kmsg.FindCoordinatorResponse)
	fmt.Fprintf(&b, "coordinator %d %s:%d\n", fr.NodeID, fr.Host, fr.Port)
	for _, co := range fr.Coordinators {
		fmt.Fprintf(&b, "coordinator %s %d %s:%d error %d\n", co.Key, co.NodeID, co.Host, co.Port, co.ErrorCode)
	}
	return b.String()
}
