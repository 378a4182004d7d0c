// Package proc runs and measures the processes of the bench tools (bench,
// bench/conns, bench/engine) on Linux: a process's CPU time, its
// /proc/<pid>/status figures and descriptors, its peak RSS over a window;
// the CPUs a process may run on and taskset pinning; the open-file limit;
// facts about the machine; and child processes started pinned, whose
// stdout is read as lines and the tail of whose stderr is kept for error
// messages. It does not know the tools' roles, flags or output formats.
package proc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// CPU is the CPU time (user + system, every thread, live or exited)
// process pid has used: the kernel's sum_exec_runtime, read from the
// process's CPU-time clock (clock_getcpuclockid(3): the clock ID is
// (^pid)<<3 | CPUCLOCK_SCHED), in nanoseconds. This is the figure
// /proc/<pid>/stat shows as utime+stime in clock ticks; that is the
// fallback when the clock cannot be read.
func CPU(pid int) (time.Duration, error) {
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

// Status reads the fields of /proc/<pid>/status named in keys (VmRSS,
// VmHWM, Threads, ...): the figures of fields in kB in bytes, the others
// as the kernel prints them. A key the file does not have is an error.
func Status(pid int, keys ...string) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want := make(map[string]bool, len(keys))
	for _, k := range keys {
		want[k] = true
	}
	out := make(map[string]int64, len(keys))
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || !want[name] {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("/proc/%d/status %s: %w", pid, name, err)
		}
		if len(fields) > 1 && fields[1] == "kB" {
			n <<= 10
		}
		out[name] = n
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("/proc/%d/status has no %s", pid, k)
		}
	}
	return out, nil
}

// status1 reads one field of /proc/<pid>/status, as Status does.
func status1(pid int, key string) (int64, error) {
	m, err := Status(pid, key)
	return m[key], err
}

// RSS is process pid's resident set size (VmRSS), in bytes.
func RSS(pid int) (int64, error) { return status1(pid, "VmRSS") }

// FDs is how many file descriptors process pid has open.
func FDs(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents), err
}

// RaiseNoFile lifts this process's soft RLIMIT_NOFILE to its hard limit
// and returns the soft limit then in force: the one it had, with the
// error, if raising it failed; 0 if it could not be read. (Go does this at
// start since 1.19; doing it again states the intent and reports the
// figure.)
func RaiseNoFile() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur < l.Max {
		raised := l
		raised.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			return l.Cur, err
		}
		l = raised
	}
	return l.Cur, nil
}
