//go:build ignore

// Command capture runs a one-broker kfake cluster on 127.0.0.1:19092 and
// writes the Records bytes of each Produce partition it receives to
// OUTDIR/java-<name>.bin, naming them in the order Gen.java produces
// them (Produce v13 carries topic IDs, not names). Ctrl-C stops it.
//
//	go run gen/capture.go OUTDIR
package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run gen/capture.go OUTDIR")
		os.Exit(2)
	}
	out := os.Args[1]
	names := []string{"none", "gzip", "gzip-big", "snappy", "snappy-big", "lz4", "lz4-big", "zstd", "zstd-big"}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(19092), kfake.SeedTopics(1, names...))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	var (
		mu sync.Mutex
		n  int
	)
	c.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, t := range r.(*kmsg.ProduceRequest).Topics {
			for _, p := range t.Partitions {
				name := fmt.Sprintf("extra-%d", n)
				if n < len(names) {
					name = names[n]
				}
				n++
				path := filepath.Join(out, "java-"+name+".bin")
				if err := os.WriteFile(path, p.Records, 0o644); err != nil {
					fmt.Fprintln(os.Stderr, err)
				}
				fmt.Println("wrote", path, len(p.Records), "bytes")
			}
		}
		return nil, nil, false // observe only
	})
	fmt.Println("listening on", c.ListenAddrs())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	<-sig
}
