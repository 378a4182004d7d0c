package main

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/pflag"
)

// Engines, by the name --engines takes.
const (
	engineSchemaproxy = "schemaproxy" // the net data plane: schemaproxy serve, enforcement off
	engineGnet        = "gnet"        // gnet/v2 passthrough, cut-through both ways
	engineGnetFrame   = "gnet-frame"  // gnet/v2 passthrough, whole request frames assembled
	engineNetFrame    = "net-frame"   // net.Conn, whole request frames read into a reused buffer
	engineSplice      = "splice"      // net.Conn, size prefix read then io.CopyN (splice) both ways
)

var allEngines = []string{engineSchemaproxy, engineGnet, engineGnetFrame, engineNetFrame, engineSplice}

// Roles: the processes this program can be, besides the proxy engines
// gnet, gnet-frame, net-frame and splice, which are roles of the same name.
const (
	roleSink = "sink" // the upstream broker
	roleLoad = "load" // the Produce load client
	roleIdle = "idle" // the idle-connection client
)

// config is everything the command line says. The comparison fields are
// used by the orchestrating process, the role fields by role processes.
type config struct {
	Engines        []string
	Rounds         int
	ProduceMiB     int
	BatchBytes     int
	Conns          int
	Depth          int
	ProduceVersion int16
	IdleConns      int
	IdleSettle     time.Duration
	Pin            string
	Schemaproxy    string
	Out            string
	GnetLoops      int
	GnetReadBuffer int

	Role     string
	Listen   string
	Upstream string
	Addr     string
	Bytes    int64
}

func (c *config) flags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&c.Engines, "engines", allEngines, "engines to compare, in order: schemaproxy (the net data plane), gnet, gnet-frame, net-frame, splice; the first is the reference for ratios")
	fs.IntVar(&c.Rounds, "rounds", 3, "rounds; every engine runs once per round, in an order rotated each round")
	fs.IntVar(&c.ProduceMiB, "produce-mib", 2048, "Produce request bytes sent per engine per round, in MiB")
	fs.IntVar(&c.BatchBytes, "batch-bytes", 1<<20, "size of the record batch in each Produce request, in bytes (the frame is about 60 bytes more)")
	fs.IntVar(&c.Conns, "conns", 2, "load connections")
	fs.IntVar(&c.Depth, "depth", 8, "Produce requests in flight per load connection")
	fs.Int16Var(&c.ProduceVersion, "produce-version", 12, "Produce request version the load client sends (3-12)")
	fs.IntVar(&c.IdleConns, "idle-conns", 0, "idle client connections per engine and round (default 10000, or fewer if the fd limit cannot hold two per connection)")
	fs.DurationVar(&c.IdleSettle, "idle-settle", 2*time.Second, "wait after the last idle connection is answered before RSS is read")
	fs.StringVar(&c.Pin, "pin", "auto", "taskset pinning: on (proxy on CPU 1, load and upstream on CPU 0), off, or auto (on when taskset exists and there are 2+ CPUs)")
	fs.StringVar(&c.Schemaproxy, "schemaproxy", "", "schemaproxy binary to run as the net data plane (default: built from this module into a temporary directory)")
	fs.StringVar(&c.Out, "out", "", "also write the results as JSON to this file (default: none)")
	fs.IntVar(&c.GnetLoops, "gnet-loops", 0, "gnet event loops (default: the CPUs the gnet process may use)")
	fs.IntVar(&c.GnetReadBuffer, "gnet-read-buffer", 1<<20, "gnet ReadBufferCap, per event loop, in bytes (gnet's own default is 64 KiB)")

	fs.StringVar(&c.Role, "role", "", "internal: run as one process of the comparison (sink, load, idle, or an engine but schemaproxy)")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:0", "internal: role listen address, HOST:PORT")
	fs.StringVar(&c.Upstream, "upstream", "", "internal: proxy roles' upstream address, HOST:PORT")
	fs.StringVar(&c.Addr, "addr", "", "internal: client roles' target address, HOST:PORT")
	fs.Int64Var(&c.Bytes, "bytes", 0, "internal: load role's Produce bytes")
	for _, name := range []string{"role", "listen", "upstream", "addr", "bytes"} {
		fs.MarkHidden(name) //nolint:errcheck // the flag exists
	}
}

func (c *config) validate() error {
	switch c.Role {
	case "", roleSink, roleLoad, roleIdle, engineGnet, engineGnetFrame, engineNetFrame, engineSplice:
	default:
		return fmt.Errorf("--role %q is not a role", c.Role)
	}
	if len(c.Engines) == 0 {
		return errors.New("--engines names no engine")
	}
	for _, e := range c.Engines {
		if !slices.Contains(allEngines, e) {
			return fmt.Errorf("--engines: unknown engine %q (want schemaproxy, gnet, gnet-frame, net-frame or splice)", e)
		}
	}
	switch {
	case c.Rounds < 1:
		return errors.New("--rounds must be at least 1")
	case c.ProduceMiB < 1:
		return errors.New("--produce-mib must be at least 1")
	case c.BatchBytes < 1024 || c.BatchBytes > 64<<20:
		return fmt.Errorf("--batch-bytes %d: want 1024 to 64 MiB", c.BatchBytes)
	case c.Conns < 1 || c.Depth < 1:
		return errors.New("--conns and --depth must be at least 1")
	case c.ProduceVersion < 3 || c.ProduceVersion > 12:
		return fmt.Errorf("--produce-version %d: want 3 to 12 (record batches, topics by name)", c.ProduceVersion)
	case c.IdleConns < 0:
		return errors.New("--idle-conns must not be negative")
	case c.IdleSettle < 0:
		return errors.New("--idle-settle must not be negative")
	case c.GnetLoops < 0 || c.GnetReadBuffer < 4096:
		return errors.New("--gnet-loops must not be negative and --gnet-read-buffer must be at least 4096")
	}
	switch c.Pin {
	case "auto", "on", "off":
	default:
		return fmt.Errorf("--pin %q: want auto, on or off", c.Pin)
	}
	return nil
}
