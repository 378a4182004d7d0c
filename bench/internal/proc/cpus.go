package proc

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// AllowedCPUs lists the CPUs this process may run on.
func AllowedCPUs() ([]int, error) {
	s, err := cpusAllowed("self")
	if err != nil {
		return nil, err
	}
	return parseCPUList(s)
}

// Affinity reads process pid's allowed CPU list, as the kernel prints it
// ("0-3,6").
func Affinity(pid int) (string, error) {
	return cpusAllowed(strconv.Itoa(pid))
}

// cpusAllowed reads Cpus_allowed_list from /proc/<proc>/status.
func cpusAllowed(proc string) (string, error) {
	b, err := os.ReadFile("/proc/" + proc + "/status")
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("/proc/%s/status has no Cpus_allowed_list", proc)
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

// CanPin reports whether processes can be pinned to CPUs of their own:
// taskset exists and at least two CPUs are allowed; if not, it says why.
func CanPin() (bool, string) {
	if _, err := exec.LookPath("taskset"); err != nil {
		return false, "taskset is not installed"
	}
	cpus, err := AllowedCPUs()
	if err != nil {
		return false, err.Error()
	}
	if len(cpus) < 2 {
		return false, fmt.Sprintf("only %d CPU is allowed", len(cpus))
	}
	return true, ""
}

// pinned prefixes a command with taskset when cpus is set.
func pinned(cpus, exe string, args ...string) (string, []string) {
	if cpus == "" {
		return exe, args
	}
	return "taskset", append([]string{"-c", cpus, exe}, args...)
}

// SetAffinity pins every thread of process pid to cpus, a list in the
// kernel's format.
func SetAffinity(pid int, cpus string) error {
	out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(pid)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset -a -p -c %s %d: %v: %s", cpus, pid, err, bytes.TrimSpace(out))
	}
	return nil
}
