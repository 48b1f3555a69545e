/*
Copyright 2026.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is the unit of the times in /proc/<pid>/stat (USER_HZ), 100 on Linux.
const clockTicks = 100

// CPU is the processor time used by the control plane (this harness's kube-apiserver
// and etcd) and by the harness's own process (the kubelet stand-in, the managers run in
// it, the floor's client). On a machine shared with other work, wall time varies from run
// to run; the processor time a run costs the control plane varies far less, and says
// where a run's time goes when the API server is what limits it.
//
// Machine is the processor time every process of the machine used: what it holds beyond the
// other two is work that ran beside the measurement and may have slowed it.
type CPU struct {
	ControlPlane, Harness, Machine time.Duration
}

// Sub returns the time used from an earlier reading to this one.
func (c CPU) Sub(before CPU) CPU {
	return CPU{ControlPlane: c.ControlPlane - before.ControlPlane, Harness: c.Harness - before.Harness,
		Machine: c.Machine - before.Machine}
}

// Add returns the time used in both.
func (c CPU) Add(o CPU) CPU {
	return CPU{ControlPlane: c.ControlPlane + o.ControlPlane, Harness: c.Harness + o.Harness, Machine: c.Machine + o.Machine}
}

// Others returns the processor time the rest of the machine used.
func (c CPU) Others() time.Duration { return max(c.Machine-c.ControlPlane-c.Harness, 0) }

// readCPU returns the processor time used so far by this process and by its children
// named kube-apiserver and etcd: envtest starts them.
func readCPU() (CPU, error) {
	var c CPU
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return c, fmt.Errorf("reading this process's processor time: %w", err)
	}
	c.Harness = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	machine, err := os.ReadFile("/proc/stat")
	if err != nil {
		return c, fmt.Errorf("reading the machine's processor time: %w", err)
	}
	if c.Machine, err = busyTime(string(machine)); err != nil {
		return c, err
	}
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return c, err
	}
	self := os.Getpid()
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // the process ended meanwhile
		}
		name, ppid, ticks, ok := parseStat(string(data))
		if ok && ppid == self && (name == "kube-apiserver" || name == "etcd") {
			c.ControlPlane += time.Duration(ticks) * time.Second / clockTicks
		}
	}
	return c, nil
}

// parseStat reads a process's name, parent and user plus system time (in clock ticks) from
// its /proc/<pid>/stat line. The name is in parentheses and may hold spaces: the fields are
// counted from its closing one.
func parseStat(line string) (name string, ppid int, ticks int64, ok bool) {
	open, closing := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || closing < open {
		return "", 0, 0, false
	}
	name = line[open+1 : closing]
	// After the name: state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt, cminflt,
	// majflt, cmajflt, utime, stime.
	f := strings.Fields(line[closing+1:])
	if len(f) < 13 {
		return "", 0, 0, false
	}
	ppid, errP := strconv.Atoi(f[1])
	utime, errU := strconv.ParseInt(f[11], 10, 64)
	stime, errS := strconv.ParseInt(f[12], 10, 64)
	if errP != nil || errU != nil || errS != nil {
		return "", 0, 0, false
	}
	return name, ppid, utime + stime, true
}

// busyTime reads from /proc/stat the time all processors spent on anything but idling and
// waiting for I/O: the first line, "cpu user nice system idle iowait irq softirq steal ...".
func busyTime(procStat string) (time.Duration, error) {
	first, _, _ := strings.Cut(procStat, "\n")
	f := strings.Fields(first)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("reading /proc/stat: unexpected first line %q", first)
	}
	var busy int64
	for i, v := range f[1:9] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("reading /proc/stat %q: %w", first, err)
		}
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / clockTicks, nil
}
