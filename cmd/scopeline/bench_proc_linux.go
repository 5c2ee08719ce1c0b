package main

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of the CPU times in /proc: clock ticks of 1/100 s on
// every Linux architecture Go supports (USER_HZ, fixed by the kernel ABI).
const userHZ = 100

func ticks(n uint64) time.Duration { return time.Duration(n) * time.Second / userHZ }

// procUsage is a process's CPU time so far and its memory, from
// /proc/<pid>/stat and /proc/<pid>/status ("self" for this process).
func procUsage(pid string) (procStats, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return procStats{}, err
	}
	// The command name, field 2, is in parentheses and may hold anything:
	// the fields after its last ')' start with field 3 (state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStats{}, errors.New("bench: unreadable /proc/" + pid + "/stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return procStats{}, errors.New("bench: unreadable /proc/" + pid + "/stat")
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return procStats{}, err
	}
	s := procStats{CPU: ticks(utime + stime), known: true}
	st, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return procStats{}, err
	}
	for line := range strings.Lines(string(st)) {
		name, value, _ := strings.Cut(line, ":")
		switch name {
		case "VmRSS":
			s.RSS = kibLine(value)
		case "VmHWM":
			s.PeakRSS = kibLine(value)
		}
	}
	return s, nil
}

// kibLine reads "   1234 kB" as bytes.
func kibLine(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
	return n << 10
}

// machineUsage is the CPU time all cores spent busy and in total so far,
// from the first line of /proc/stat.
func machineUsage() (busy, total time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, errors.New("bench: unreadable /proc/stat")
	}
	// user nice system idle iowait irq softirq steal (guest time is
	// already counted in user).
	var v [8]uint64
	for i := range v {
		if v[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
			return 0, 0, err
		}
	}
	all := v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7]
	return ticks(all - v[3] - v[4]), ticks(all), nil
}

// loadAverage is the 1, 5 and 15 minute load averages.
func loadAverage() []float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return nil
	}
	var l []float64
	for _, s := range f[:3] {
		v, _ := strconv.ParseFloat(s, 64)
		l = append(l, v)
	}
	return l
}

// childProcAttr makes a server started by the bench stop when the bench
// dies, however it dies.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
