package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// processCPU is the CPU time (user + system, every thread, live or
// exited) process pid has used: the kernel's sum_exec_runtime, read from
// the process's CPU-time clock (clock_getcpuclockid(3): the clock ID is
// (^pid)<<3 | CPUCLOCK_SCHED), in nanoseconds. This is the figure
// /proc/<pid>/stat shows as utime+stime in clock ticks; that is the
// fallback when the clock cannot be read.
func processCPU(pid int) (time.Duration, error) {
	const cpuClockSched = 2
	clk := int32(^uint32(pid)<<3 | cpuClockSched)
	var ts syscall.Timespec
	_, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, uintptr(int64(clk)), uintptr(unsafe.Pointer(&ts)), 0)
	if errno == 0 {
		return time.Duration(ts.Nano()), nil
	}
	return statCPU(pid)
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's utime and stime:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// statCPU reads utime+stime from /proc/<pid>/stat (10 ms resolution).
func statCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state is field 3, so utime (14) and stime (15) are
	// f[11] and f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// statusKB reads one "Key:   N kB" line of /proc/<pid>/status, in bytes.
func statusKB(pid int, key string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), key+":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/status %s: %w", pid, key, err)
		}
		return n << 10, nil
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, key)
}

// RSS methods, as results.json names them.
const (
	rssHWM     = "VmHWM after clear_refs"
	rssSampled = "VmRSS sampled every 20ms"
)

// peakRSS measures process pid's peak resident set over a window. The
// kernel's own peak (VmHWM) lasts the process's lifetime, so start resets
// it by writing 5 to /proc/<pid>/clear_refs (Linux 4.0+; needs the right
// to ptrace the process, which a parent has over its child); when that is
// refused, a goroutine samples VmRSS instead, which can miss short peaks.
type peakRSS struct {
	pid    int
	method string

	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	max  int64
	err  error
}

// startPeakRSS begins a window. Call end exactly once.
func startPeakRSS(pid int) *peakRSS {
	p := &peakRSS{pid: pid}
	if err := clearRefs(pid); err == nil {
		p.method = rssHWM
		return p
	}
	p.method = rssSampled
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go p.sample()
	return p
}

// clearRefs resets process pid's VmHWM to its current RSS.
func clearRefs(pid int) error {
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/clear_refs", pid), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte("5"))
	return errors.Join(err, f.Close())
}

// sample polls VmRSS until end; owned by the peakRSS it updates.
func (p *peakRSS) sample() {
	defer close(p.done)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		n, err := statusKB(p.pid, "VmRSS")
		p.mu.Lock()
		if err != nil && p.err == nil {
			p.err = err
		}
		p.max = max(p.max, n)
		p.mu.Unlock()
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
	}
}

// end closes the window and returns the peak, in bytes.
func (p *peakRSS) end() (int64, string, error) {
	if p.stop == nil {
		n, err := statusKB(p.pid, "VmHWM")
		return n, p.method, err
	}
	close(p.stop)
	<-p.done
	if n, err := statusKB(p.pid, "VmRSS"); err == nil {
		p.max = max(p.max, n)
	}
	return p.max, p.method, p.err
}

// allowedCPUs lists the CPUs this process may run on.
func allowedCPUs() ([]int, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return parseCPUList(strings.TrimSpace(v))
		}
	}
	return nil, errors.New("/proc/self/status has no Cpus_allowed_list")
}

// parseCPUList parses the kernel's list format, e.g. "0-3,6".
func parseCPUList(s string) ([]int, error) {
	var cpus []int
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("CPU list %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("CPU list %q: %w", s, err)
			}
		}
		for i := a; i <= b; i++ {
			cpus = append(cpus, i)
		}
	}
	return cpus, nil
}

// canPin reports whether pieces can be pinned: taskset exists and at
// least two CPUs are allowed; if not, it says why.
func canPin() (bool, string) {
	if _, err := exec.LookPath("taskset"); err != nil {
		return false, "taskset is not installed"
	}
	cpus, err := allowedCPUs()
	if err != nil {
		return false, err.Error()
	}
	if len(cpus) < 2 {
		return false, fmt.Sprintf("only %d CPU is allowed", len(cpus))
	}
	return true, ""
}

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
	cpus, err := allowedCPUs()
	if err != nil {
		return Placement{}, err
	}
	if len(cpus) < 2 {
		return Placement{}, fmt.Errorf("only %d CPU is allowed", len(cpus))
	}
	a, b := strconv.Itoa(cpus[0]), strconv.Itoa(cpus[1])
	return Placement{Load: a, Upstream: a, Proxy: b}, nil
}

// pinned prefixes a command with taskset when cpus is set.
func pinned(cpus, exe string, args ...string) (string, []string) {
	if cpus == "" {
		return exe, args
	}
	return "taskset", append([]string{"-c", cpus, exe}, args...)
}

// affinity reads process pid's allowed CPU list, as the kernel prints it.
func affinity(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("/proc/%d/status has no Cpus_allowed_list", pid)
}

// setAffinity pins every thread of process pid to cpus.
func setAffinity(pid int, cpus string) error {
	out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(pid)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset -a -p -c %s %d: %v: %s", cpus, pid, err, bytes.TrimSpace(out))
	}
	return nil
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
		GoVersion:  runtime.Version(),
		OSArch:     runtime.GOOS + "/" + runtime.GOARCH,
		GOMAXPROCS: os.Getenv("GOMAXPROCS"),
		GOGC:       os.Getenv("GOGC"),
	}
	m.CPUsAllowed, _ = allowedCPUs()
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "processor":
				m.CPUsOnline++
			case "model name":
				if m.CPUModel == "" {
					m.CPUModel = strings.TrimSpace(v)
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.LoadAvgStart = loadAvg()
	return m
}

// loadAvg is the first three fields of /proc/loadavg: how busy the
// machine was, for judging how noisy a run's figures are.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) > 3 {
		f = f[:3]
	}
	return strings.Join(f, " ")
}
