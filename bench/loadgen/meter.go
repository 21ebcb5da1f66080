package main

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// meter measures, over a stretch of a run, the CPU time this process used
// and the CPU time everything else on the machine used: the targets assume
// the machine to alerter and its load generator, and a busy neighbour
// explains a bad number.
type meter struct {
	wall   time.Time
	cpu    time.Duration
	system time.Duration // busy CPU time of the whole machine
}

type usage struct {
	Wall   time.Duration
	CPU    time.Duration // this process
	Others time.Duration // every other process
	events float64       // what the stretch did, if the caller says
}

func startMeter() meter { return meter{wall: time.Now(), cpu: cpuTime(), system: machineBusy()} }

func (m meter) stop() usage {
	u := usage{Wall: time.Since(m.wall), CPU: cpuTime() - m.cpu}
	if sys := machineBusy(); sys > 0 && m.system > 0 {
		u.Others = max(sys-m.system-u.CPU, 0)
	}
	return u
}

// cores is the average number of cores d of CPU time kept busy over the
// meter's wall time.
func (u usage) cores(d time.Duration) float64 {
	if u.Wall <= 0 {
		return 0
	}
	return float64(d) / float64(u.Wall)
}

// perEvent is this process's CPU time per event, in microseconds.
func (u usage) perEvent(n float64) float64 {
	if n <= 0 {
		return 0
	}
	return float64(u.CPU) / float64(time.Microsecond) / n
}

// machineBusy is the busy time of all CPUs from /proc/stat (Linux), or 0.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy uint64
	// user nice system idle iowait irq softirq steal ...: all but idle and iowait.
	for i, s := range f[1:] {
		if i == 3 || i == 4 {
			continue
		}
		if i >= 8 { // guest times are already in user
			break
		}
		v, _ := strconv.ParseUint(s, 10, 64)
		busy += v
	}
	return time.Duration(busy) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}
