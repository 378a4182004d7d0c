package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"github.com/schemaproxy/schemaproxy/bench/internal/proc"
)

// Placement is which CPUs each piece runs on; empty means unpinned.
type Placement struct {
	Load     string `json:"load"`
	Upstream string `json:"upstream"`
	Proxy    string `json:"proxy"`
}

// placement pins the load generator and the upstream to the first
// allowed CPU and the proxy to the second.
func placement(pin bool) (Placement, error) {
	if !pin {
		return Placement{}, nil
	}
	cpus, err := proc.AllowedCPUs()
	if err != nil {
		return Placement{}, err
	}
	if len(cpus) < 2 {
		return Placement{}, fmt.Errorf("only %d CPU is allowed", len(cpus))
	}
	a, b := strconv.Itoa(cpus[0]), strconv.Itoa(cpus[1])
	return Placement{Load: a, Upstream: a, Proxy: b}, nil
}

// Machine is what results.json records about where it ran.
type Machine struct {
	CPUModel     string `json:"cpu_model"`
	CPUsOnline   int    `json:"cpus_online"`
	CPUsAllowed  []int  `json:"cpus_allowed"`
	Kernel       string `json:"kernel"`
	GoVersion    string `json:"go_version"`
	OSArch       string `json:"os_arch"`
	LoadAvgStart string `json:"loadavg_start"`
	LoadAvgEnd   string `json:"loadavg_end,omitempty"`
	GOMAXPROCS   string `json:"env_gomaxprocs,omitempty"`
	GOGC         string `json:"env_gogc,omitempty"`
}

func machineFacts() Machine {
	m := Machine{
		Kernel:       proc.Kernel(),
		GoVersion:    runtime.Version(),
		OSArch:       runtime.GOOS + "/" + runtime.GOARCH,
		LoadAvgStart: proc.LoadAvg(),
		GOMAXPROCS:   os.Getenv("GOMAXPROCS"),
		GOGC:         os.Getenv("GOGC"),
	}
	m.CPUModel, m.CPUsOnline = proc.CPUInfo()
	m.CPUsAllowed, _ = proc.AllowedCPUs()
	return m
}
