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
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

// Targets of the project.
const (
	TargetFloorRatio       = 1.3
	TargetStatusWritesPod  = 0.1
	TargetHeapRatio        = 0.5
	TargetHeapMiB          = 47
	TargetSyncRSSMiB       = 160
	TargetRowLagP99        = 2 * time.Second
	TargetMySQLStoppedTime = 1.05
	TargetRefusalsTime     = time.Minute
	TargetPassNanos        = 50_000
)

// Machine describes where the figures were taken.
func Machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "unknown memory"
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int64
				if _, err := fmt.Sscan(rest, &kb); err == nil {
					mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				}
			}
		}
	}
	return fmt.Sprintf("%d cores (%s), %s, %s/%s, %s", runtime.NumCPU(), model, mem, runtime.GOOS, runtime.GOARCH,
		runtime.Version())
}

// benchNanos reads a benchmark's ns/op from `go test -bench` output.
func benchNanos(out, name string) (float64, bool) {
	for line := range strings.SplitSeq(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 4 || !strings.HasPrefix(fields[0], name+"-") && fields[0] != name {
			continue
		}
		for i := 2; i+1 < len(fields); i++ {
			if fields[i+1] == "ns/op" {
				var v float64
				if _, err := fmt.Sscan(fields[i], &v); err == nil {
					return v, true
				}
			}
		}
	}
	return 0, false
}

// etcdVersion names the envtest etcd: the API server streams initial lists only from
// etcd 3.4.31 / 3.5.13 on.
func etcdVersion() string {
	out, err := exec.Command(filepath.Join(testutil.AssetsDir(), "etcd"), "--version").Output()
	if err != nil {
		return "etcd"
	}
	first, _, _ := strings.Cut(string(out), "\n")
	if v, ok := strings.CutPrefix(first, "etcd Version: "); ok {
		return "etcd " + strings.TrimSpace(v)
	}
	return "etcd"
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return s[i]
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func diff(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// Markdown renders the report: the figures against their targets, then the details.
func (r *Report) Markdown(command, standIn, goBench string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Benchmarks\n\n")
	w("- date: %s\n- machine: %s\n- command: `%s`\n- kubelet stand-in: %s\n", r.Started.UTC().Format(time.RFC3339),
		Machine(), command, standIn)
	w("- control plane: envtest kube-apiserver and %s (`bin/k8s`), the manager in the same process as the harness, "+
		"client limits as in `cmd/main.go`\n", etcdVersion())
	w("- cache memory (B3): a child process running only a manager built by `internal/manager.New`, its cache " +
		"holding one namespace; figures over the same process with an empty namespace (the bare process), after two GCs\n\n")
	w("| figure | target | measured | |\n|---|---|---|---|\n")
	for _, run := range r.Runs {
		j := run.Job
		ratio := j.Took.Seconds() / run.FloorBatches.Seconds()
		w("| B1 job over %d pods, creation to Succeeded / floor (batches of 10) | ≤ %.1f× | %s / %s = **%.2f×** | %s |\n",
			run.Pods, TargetFloorRatio, secs(j.Took), secs(run.FloorBatches), ratio, met(ratio <= TargetFloorRatio))
		if run.FloorWindow > 0 {
			w("| B1 job over %d pods / floor (sliding window of 10) | (stricter floor) | %s / %s = %.2f× | |\n",
				run.Pods, secs(j.Took), secs(run.FloorWindow), j.Took.Seconds()/run.FloorWindow.Seconds())
		}
		rq := j.Requests
		inj := rq.count("WRITE", "pods/ephemeralcontainers") + rq.count("POST", "pods/ephemeralcontainers")
		perPod := float64(inj) / float64(run.Pods)
		w("| B2 ephemeralcontainers writes per injected pod (%d pods) | exactly 1 | %.3f (%d writes) | %s |\n",
			run.Pods, perPod, inj, met(inj == run.Pods))
		st := rq.count("WRITE", "ephemeraljobs/status")
		stConf := rq.errorsWith("ephemeraljobs/status", 409)
		w("| B2 EphemeralJob status writes (%d pods) | ≤ %.1f per pod, no conflicts | %d = %.3f per pod, %d conflicts | %s |\n",
			run.Pods, TargetStatusWritesPod, st, float64(st)/float64(run.Pods), stConf,
			met(float64(st)/float64(run.Pods) <= TargetStatusWritesPod && stConf == 0))
		conflicts := 0
		for k, v := range rq.Errors {
			if strings.HasSuffix(k, " 409") {
				conflicts += v
			}
		}
		retries := 0
		for _, n := range rq.WritesPerObject["pods/ephemeralcontainers"] {
			retries += n - 1
		}
		w("| B2 conflicts (409) / repeated injection writes (%d pods) | 0 / 0 | %d / %d | %s |\n",
			run.Pods, conflicts, retries, met(conflicts == 0 && retries == 0))
		reads := 0
		var readKeys []string
		for k, v := range rq.SteadyReads {
			reads += v
			readKeys = append(readKeys, fmt.Sprintf("%s ×%d", k, v))
		}
		slices.Sort(readKeys)
		w("| B2 GET/LIST past the cache after sync (%d pods) | none | %d %s | %s |\n",
			run.Pods, reads, strings.Join(readKeys, ", "), met(reads == 0))
	}
	if n := len(r.Runs); n >= 2 {
		small, large := r.Runs[0], r.Runs[n-1]
		rs := small.Job.Took.Seconds() / small.FloorBatches.Seconds()
		rl := large.Job.Took.Seconds() / large.FloorBatches.Seconds()
		w("| B1 ratio at %d pods / ratio at %d pods | ≤ 1.0 (cost per pod does not grow) | %.2f× / %.2f× = %.2f | %s |\n",
			large.Pods, small.Pods, rl, rs, rl/rs, met(rl <= rs*1.0))
	}
	if rf := r.Refusals; rf != nil {
		st := rf.Job.Status
		w("| B5 job over %d pods that all refuse injection, creation to Failed | ≤ %s | %s (%d failed, %d refusals listed) | %s |\n",
			rf.Pods, secs(TargetRefusalsTime), secs(rf.Job.Took), st.Failed, len(st.Refused),
			met(rf.Job.Took <= TargetRefusalsTime && int(st.Failed) == rf.Pods))
		w("| B5 size of that job's status (refused pods identified: 8 bytes each, at most %d) | ≤ 48 KiB, whatever the refusals | %d bytes | %s |\n",
			appsv1alpha1.MaxRefusedIDs, rf.StatusBytes, met(rf.StatusBytes <= 48<<10))
	}
	if ns, ok := benchNanos(goBench, "BenchmarkPass/finished=5000"); ok {
		w("| B6 one pass, 5,000 finished and 10 running targets (Go benchmark) | ≤ %d µs | %.1f µs | %s |\n",
			TargetPassNanos/1000, ns/1000, met(ns <= TargetPassNanos))
	}
	small, okSmall := benchNanos(goBench, "BenchmarkResult/finished=10000")
	large, okLarge := benchNanos(goBench, "BenchmarkResult/finished=100000")
	if okSmall && okLarge {
		w("| B7 one more result and the status, after 100,000 / 10,000 finished targets whose outcomes alternate (Go benchmark) | ≤ 1.2× (a pass stays O(changed); the index lists are bounded) | %.1f µs / %.1f µs = %.2f× | %s |\n",
			large/1000, small/1000, large/small, met(large <= 1.2*small))
	}
	if m := r.Memory; m != nil {
		writeMemoryRows(w, m)
	}
	if rr := r.Recorder; rr != nil && rr.Up.Rows != nil {
		rows := rr.Up.Rows
		w("| B4 recorder rows written (%d pods) | | %d rows in %s = %.0f rows/s; %d of %d rows Succeeded | %s |\n",
			rr.Pods, rows.Written, secs(rows.Took), float64(rows.Written)/rows.Took.Seconds(), rows.Rows, rows.Expected,
			met(rows.Rows == rows.Expected))
		p99 := percentile(rows.Lag, 0.99)
		w("| B4 lag, pod finished → its row Succeeded, p50 / p99 | p99 ≤ %s | %s / %s | %s |\n",
			secs(TargetRowLagP99), ms(percentile(rows.Lag, 0.5)), ms(p99), met(p99 <= TargetRowLagP99 && len(rows.Lag) > 0))
		ratio := rr.Stopped.Took.Seconds() / rr.Up.Took.Seconds()
		w("| B4 job over %d pods with MySQL stopped / running | ≤ %.2f× | %s / %s = %.2f× | %s |\n",
			rr.Pods, TargetMySQLStoppedTime, secs(rr.Stopped.Took), secs(rr.Up.Took), ratio, met(ratio <= TargetMySQLStoppedTime))
	}
	for _, run := range r.Runs {
		w("| stand-in: injection → terminated status written, %d pods, p50 / p99 (floor; job) | not the bottleneck | %s / %s; %s / %s | |\n",
			run.Pods, ms(percentile(run.FloorStubLatency, 0.5)), ms(percentile(run.FloorStubLatency, 0.99)),
			ms(percentile(run.Job.StubLatency, 0.5)), ms(percentile(run.Job.StubLatency, 0.99)))
	}

	for _, run := range r.Runs {
		w("\n## Requests of the manager, job over %d pods\n\n%s", run.Pods, run.Job.Requests.table())
	}
	if m := r.Memory; m != nil && m.Profile != "" {
		w("\n## Heap profile of the manager with %d cached pods\n\n", m.Pods)
		w("`go tool pprof -top -sample_index=inuse_space` of the profile the measuring process wrote after the sync "+
			"(one sample per %d KiB allocated): live bytes by the function that allocated them.\n\n```\n%s\n```\n",
			ChildMemProfileRate>>10, strings.TrimSpace(m.Profile))
	}
	if goBench != "" {
		w("\n## Go benchmarks of the hot paths\n\n```\n%s\n```\n", strings.TrimSpace(goBench))
	}
	return b.String()
}

// writeMemoryRows renders the cache measurement (B3): each figure over the bare process,
// its targets scaled to 10,000 pods.
func writeMemoryRows(w func(string, ...any), m *MemoryReport) {
	per10k := func(b uint64) float64 { return mib(b) * 10000 / float64(max(m.Pods, 1)) }
	perPod := func(b uint64) float64 { return float64(b) / 1024 / float64(max(m.Pods, 1)) }
	inuse, alloc := diff(m.Trimmed.HeapInuse, m.Empty.HeapInuse), diff(m.Trimmed.HeapAlloc, m.Empty.HeapAlloc)
	peak, rss := diff(m.Trimmed.PeakRSS, m.Empty.PeakRSS), diff(m.Trimmed.RSS, m.Empty.RSS)
	w("| B3 heap in use for %d cached pods (%d with a job's container), over the bare process | ≤ %d MiB per 10,000 pods | %.1f MiB (%.2f KiB per pod) | %s |\n",
		m.Pods, m.Matching, TargetHeapMiB, mib(inuse), perPod(inuse), met(per10k(inuse) <= TargetHeapMiB))
	w("| B3 live heap (HeapAlloc) for %d cached pods, over the bare process | | %.1f MiB = **%.2f KiB per pod** (heap in use / live %.2f×) | |\n",
		m.Pods, mib(alloc), perPod(alloc), float64(inuse)/float64(max(alloc, 1)))
	sync := "one LIST"
	if m.Trimmed.StreamedPods {
		sync = "streamed (watch-list)"
	}
	w("| B3 peak RSS while the cache of %d pods syncs (initial list %s), over the bare process | ≤ %d MiB per 10,000 pods | %.1f MiB | %s |\n",
		m.Pods, sync, TargetSyncRSSMiB, mib(peak), met(per10k(peak) <= TargetSyncRSSMiB))
	w("| B3 RSS for %d cached pods after returning free memory, over the bare process | | %.1f MiB | |\n", m.Pods, mib(rss))
	fullInuse := diff(m.Untrimmed.HeapInuse, m.Empty.HeapInuse)
	ratio := float64(inuse) / float64(max(fullInuse, 1))
	w("| B3 heap in use for %d cached pods, with TrimPod / full pods | ≤ %.1f× | %.1f MiB / %.1f MiB = **%.2f×** | %s |\n",
		m.Pods, TargetHeapRatio, mib(inuse), mib(fullInuse), ratio, met(ratio <= TargetHeapRatio))
	w("| B3 full pods: live heap / peak RSS while syncing / RSS after, over the bare process | | %.1f MiB / %.1f MiB / %.1f MiB | |\n",
		mib(diff(m.Untrimmed.HeapAlloc, m.Empty.HeapAlloc)), mib(diff(m.Untrimmed.PeakRSS, m.Empty.PeakRSS)),
		mib(diff(m.Untrimmed.RSS, m.Empty.RSS)))
}
