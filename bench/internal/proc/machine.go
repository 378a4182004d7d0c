package proc

import (
	"os"
	"strings"
)

// CPUInfo reads /proc/cpuinfo: the first processor's model name and how
// many processors are online; "" and 0 when it cannot be read.
func CPUInfo() (model string, online int) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "", 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "processor":
			online++
		case "model name":
			if model == "" {
				model = strings.TrimSpace(v)
			}
		}
	}
	return model, online
}

// Kernel is the kernel's release (/proc/sys/kernel/osrelease), or "" when
// it cannot be read.
func Kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// LoadAvg is the first three fields of /proc/loadavg, the 1, 5 and 15
// minute load averages: how busy the machine was, for judging how noisy a
// run's figures are. It is "" when the file cannot be read.
func LoadAvg() string {
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
