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
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/controller"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

// Targets of the project.
const (
	TargetFloorRatio      = 1.3
	TargetStatusWritesPod = 0.1
	TargetHeapRatio       = 0.5
	TargetHeapMiB         = 47
	TargetSyncRSSMiB      = 160
	// TargetHeapFlat bounds the heap in use per cached pod at the largest size measured
	// against the smallest: the cost per pod stays flat.
	TargetHeapFlat = 1.1
	// TargetHeapAtMiB bounds the whole process's heap in use with TargetHeapAtPods pods cached.
	TargetHeapAtMiB  = 256
	TargetHeapAtPods = 100_000
	// TargetGracefulHandover bounds the time from the old leader's last write to the new
	// leader's first when the old one stops gracefully (SIGTERM) and releases its lease.
	TargetGracefulHandover = 2 * time.Second
	// TargetKilledHandoverMargin is what a handover after SIGKILL may take beyond the lease
	// duration: the standby's jittered retry period (up to 2.2 of it) and a pass.
	TargetKilledHandoverMargin = 5 * time.Second
	// TargetResumption bounds the time from the new leader's lease to its first injection.
	TargetResumption = time.Second
	// TargetSyncPer10k bounds the time the cache takes to sync, per 10,000 pods.
	TargetSyncPer10k       = 5 * time.Second
	TargetRowLagP99        = 2 * time.Second
	TargetMySQLStoppedTime = 1.05
	TargetRefusalsTime     = time.Minute
	TargetPassNanos        = 50_000
	// TargetManyRatio bounds many jobs at once against the floor of as many windows.
	TargetManyRatio = 1.2
	// TargetManyStatusLagSlack bounds the time from a target's end to its job's status
	// counting it (p99), beyond the turn of its job's progress write among the running
	// jobs': the event batching (0.3 s) and a pass.
	TargetManyStatusLagSlack = time.Second
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

// plural returns the "s" of a count other than one.
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// thousands writes n with a comma between groups of three digits, as the report's prose does.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
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

// podsConditions says which runs share pods: ephemeral containers stay in a pod, so a pod
// injected before holds more containers, each making its writes larger.
const podsConditions = "B1's floors, B1's jobs and B4's job with MySQL stopped each run over Running pods created " +
	"for them, deleted after; B8's floor, jobs, jobs and floor run in that order over the pods of the largest B1 job " +
	"once it finished (so with one to four earlier containers in each pod); B5's job runs over the cache " +
	"measurement's pods once it is over"

// Markdown renders the report: the figures against their targets, then the details.
func (r *Report) Markdown(command, standIn, goBench string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Benchmarks\n\n")
	w("- date: %s\n- machine: %s\n- command: `%s`\n", r.Started.UTC().Format(time.RFC3339), Machine(), command)
	if !r.CommandStarted.IsZero() {
		w("- time: `%s` took %s from its start to this report (the Go benchmarks included)\n", command,
			time.Since(r.CommandStarted).Round(time.Second))
	}
	w("- kubelet stand-in: %s\n", standIn)
	w("- control plane: envtest kube-apiserver and %s (`bin/k8s`), the manager in the same process as the harness, "+
		"client limits as in `cmd/main.go`\n", etcdVersion())
	w("- %s\n", memoryConditions)
	w("- pods: %s\n\n", podsConditions)
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
	if m := r.Many; m != nil {
		writeManyRows(w, m)
	}
	if ho := r.Handover; ho != nil {
		writeHandoverRows(w, ho)
	}
	if ns, ok := benchNanos(goBench, "BenchmarkResume/finished=10000"); ok {
		w("| B10 a new leader's first passes over a job with 10,000 finished and 10 running targets, up to its first injection: the ledger rebuilt from the status and the cache, the index limit raised (Go benchmark) | ≤ %s | %.1f ms | %s |\n",
			secs(TargetResumption), ns/1e6, met(ns <= float64(TargetResumption.Nanoseconds())))
	}
	if m := r.Memory; m != nil && len(m.Sizes) > 0 {
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

	if m := r.Many; m != nil {
		floor := append(slices.Clone(m.Floors[0].StubLatency), m.Floors[1].StubLatency...)
		jobs := append(slices.Clone(m.Results[0].StubLatency), m.Results[1].StubLatency...)
		w("| stand-in: injection → terminated status written, %d jobs of %d pods, p50 / p99 (floors; jobs) | not the bottleneck | %s / %s; %s / %s | |\n",
			m.Jobs, m.PodsPerJob, ms(percentile(floor, 0.5)), ms(percentile(floor, 0.99)),
			ms(percentile(jobs, 0.5)), ms(percentile(jobs, 0.99)))
	}

	for _, run := range r.Runs {
		w("\n## Requests of the manager, job over %d pods\n\n%s", run.Pods, run.Job.Requests.table())
	}
	if m := r.Many; m != nil {
		w("\n## Requests of the manager, %d jobs of %d pods at once (the first run)\n\n%s", m.Jobs, m.PodsPerJob,
			m.Results[0].Requests.table())
	}
	if m := r.Memory; m != nil && m.Profile != "" {
		writeProfileTop(w, "##", m)
	}
	if goBench != "" {
		w("\n## Go benchmarks of the hot paths\n\n```\n%s\n```\n", strings.TrimSpace(goBench))
	}
	return b.String()
}

// memoryConditions says how the cache measurement (B3) is taken.
const memoryConditions = "cache memory (B3): a child process running only a manager built by `internal/manager.New`, " +
	"its cache holding one namespace, a fifth of whose pods hold a finished job's container; figures over the same " +
	"process with an empty namespace (the bare process), after two GCs"

// MemorySection renders the cache measurement alone, as `make bench-memory` writes it into
// docs/benchmarks.md: its conditions, the B3 rows and the heap profile's top at the largest
// size. Its heading stays the same from run to run, so that a run replaces the last one's.
func (r *Report) MemorySection(command, standIn string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := r.Memory
	sizes := make([]string, len(m.Sizes))
	for i, sz := range m.Sizes {
		sizes[i] = thousands(sz.Pods)
	}
	w("## Cache memory (`%s`)\n\n", command)
	w("- date: %s\n- machine: %s\n- command: `%s` at %s pods, in %s (most of it creating the pods)\n",
		r.Started.UTC().Format(time.RFC3339), Machine(), command, strings.Join(sizes, ", "),
		time.Since(r.Started).Round(time.Second))
	w("- control plane: envtest kube-apiserver and %s (`bin/k8s`); kubelet stand-in: %s\n", etcdVersion(), standIn)
	w("- %s\n\n", memoryConditions)
	w("| figure | target | measured | |\n|---|---|---|---|\n")
	writeMemoryRows(w, m)
	if m.Profile != "" {
		writeProfileTop(w, "###", m)
	}
	return b.String()
}

// writeProfileTop renders the top of the heap profile at the largest size, under a heading
// of the given level.
func writeProfileTop(w func(string, ...any), level string, m *MemoryReport) {
	w("\n%s Heap profile of the manager with %s cached pods\n\n", level, thousands(m.Sizes[len(m.Sizes)-1].Pods))
	w("`go tool pprof -top -sample_index=inuse_space` of the profile the measuring process wrote after the sync "+
		"(one sample per %d KiB allocated): live bytes by the function that allocated them.\n\n```\n%s\n```\n",
		ChildMemProfileRate>>10, strings.TrimSpace(m.Profile))
}

// writeHandoverRows renders the leader's handovers (B9) and the resumption they include (B10).
func writeHandoverRows(w func(string, ...any), r *HandoverReport) {
	var graceful, killed []string
	var worstGraceful, worstKilled, worstResume time.Duration
	var resumes []string
	finished := int32(0)
	for _, ho := range r.Handovers {
		gap := ho.Gap()
		if ho.Signal == syscall.SIGKILL {
			killed = append(killed, ms(gap))
			worstKilled = max(worstKilled, gap)
		} else {
			graceful = append(graceful, ms(gap))
			worstGraceful = max(worstGraceful, gap)
		}
		resume := ho.FirstInjection.Sub(ho.Acquired)
		worstResume = max(worstResume, resume)
		resumes = append(resumes, ms(resume))
		finished = max(finished, ho.Finished)
	}
	lease := r.Plan.Lease.Lease()
	w("| B9 handover after a graceful stop (SIGTERM: the lease released), the old leader's last write → the new leader's first write, as the API server answered them; %d stop%s, the standby retrying every %s | ≤ %s each | %s | %s |\n",
		len(graceful), plural(len(graceful)), r.Plan.Lease.Retry(), secs(TargetGracefulHandover), strings.Join(graceful, ", "),
		met(len(graceful) > 0 && worstGraceful <= TargetGracefulHandover))
	w("| B9 handover after SIGKILL (the lease runs out; lease duration %s), the same | ≤ the lease + %s = %s | %s | %s |\n",
		lease, TargetKilledHandoverMargin, secs(lease+TargetKilledHandoverMargin), strings.Join(killed, ", "),
		met(len(killed) > 0 && worstKilled <= lease+TargetKilledHandoverMargin))
	w("| B10 the new leader's write taking the lease → its first injection, in those handovers (job of %d pods, up to %d finished targets; envtest) | ≤ %s | %s | %s |\n",
		r.Plan.Pods, finished, secs(TargetResumption), strings.Join(resumes, ", "), met(worstResume <= TargetResumption))
}

// writeManyRows renders many jobs at once (B8) against the floor of as many windows: both
// runs of each, summed.
func writeManyRows(w func(string, ...any), m *ManyReport) {
	targets := m.Jobs * m.PodsPerJob
	ratio := m.Took().Seconds() / m.Floor().Seconds()
	succeeded, targetsOK, writesTotal, writesMost, conflicts := 0, 0, 0, 0, 0
	var writesRun [2]int
	var injections []string
	var lag []time.Duration
	var load WorkerLoad
	var cpu CPU
	injectionsOK, everyJobWrote := true, true
	for k, res := range m.Results {
		for _, st := range res.Statuses {
			if st.Phase == appsv1alpha1.EphemeralJobSucceeded {
				succeeded++
			}
			targetsOK += int(st.Succeeded)
		}
		writes := res.Requests.WritesPerObject["ephemeraljobs/status"]
		everyJobWrote = everyJobWrote && len(writes) == m.Jobs
		for _, n := range writes {
			writesRun[k] += n
			writesMost = max(writesMost, n)
		}
		writesTotal += writesRun[k]
		for k, v := range res.Requests.Errors {
			if strings.HasSuffix(k, " 409") {
				conflicts += v
			}
		}
		inj := res.Requests.count("WRITE", "pods/ephemeralcontainers")
		injectionsOK = injectionsOK && inj == targets
		injections = append(injections, strconv.Itoa(inj))
		lag = append(lag, res.StatusLag...)
		load.Busy += res.Workers.Busy
		load.Passes += res.Workers.Passes
		load.Waited += res.Workers.Waited
		load.Waits += res.Workers.Waits
		load.Workers = res.Workers.Workers
		cpu = cpu.Add(res.CPU)
	}
	f0, f1, r0, r1 := m.Floors[0].Took, m.Floors[1].Took, m.Results[0].Took, m.Results[1].Took
	w("| B8 %d jobs of %d pods created at once (%d targets, parallelism %d each), first creation to last finished / floor (%d windows of %d); run twice each over the same pods, in the order floor, jobs, jobs, floor | ≤ %.1f× | (%s + %s) / (%s + %s) = **%.2f×**; %d of %d jobs Succeeded, %d of %d targets | %s |\n",
		m.Jobs, m.PodsPerJob, targets, m.Parallelism, m.Jobs, m.Parallelism, TargetManyRatio, secs(r0), secs(r1),
		secs(f0), secs(f1), ratio, succeeded, 2*m.Jobs, targetsOK, 2*targets,
		met(ratio <= TargetManyRatio && succeeded == 2*m.Jobs && targetsOK == 2*targets))
	// A job's status is written when it starts and when its first container runs, and at
	// its end, at once; in between, its progress takes turns with the other jobs' at
	// DefaultStatusWriteQPS a second (after a burst of as many): with every job writing,
	// a job's turn comes about every jobs / DefaultStatusWriteQPS seconds.
	qps := float64(controller.DefaultStatusWriteQPS)
	interval := max(controller.DefaultStatusWriteInterval, time.Duration(float64(m.Jobs)/qps*float64(time.Second)))
	bound := func(took time.Duration) int { return 3*m.Jobs + int(math.Ceil(qps*took.Seconds()+qps)) }
	w("| B8 status writes of each run: 3 a job at once (its start, its first container running, its end), and its progress taking turns at %d a second in all (about one per %s per job) | ≤ 3 × %d + %d a second of the run + %d = %d, %d | %d, %d (a job: mean %.1f, max %d) | %s |\n",
		controller.DefaultStatusWriteQPS, interval, m.Jobs, controller.DefaultStatusWriteQPS, controller.DefaultStatusWriteQPS,
		bound(r0), bound(r1), writesRun[0], writesRun[1], float64(writesTotal)/float64(max(2*m.Jobs, 1)), writesMost,
		met(writesRun[0] <= bound(r0) && writesRun[1] <= bound(r1) && everyJobWrote))
	w("| B8 conflicts (409), status or injection / ephemeralcontainers writes of each run | 0 / exactly %d | %d / %s | %s |\n",
		targets, conflicts, strings.Join(injections, ", "), met(conflicts == 0 && injectionsOK))
	p99 := percentile(lag, 0.99)
	w("| B8 a target's end (the stand-in's terminated write) → its job's status counting it, p50 / p99 (%d targets); the jobs' progress taking turns | p99 ≤ a job's turn (%s) + %s | %s / %s | %s |\n",
		len(lag), interval, TargetManyStatusLagSlack, ms(percentile(lag, 0.5)), ms(p99),
		met(p99 <= interval+TargetManyStatusLagSlack && len(lag) == 2*targets))
	peak := func(res string) int {
		return max(m.Results[0].Requests.PeakWrites[res], m.Results[1].Requests.PeakWrites[res])
	}
	w("| B8 what limits the jobs: the controller's %d workers' time in reconciles / the runs (near 1 per worker: the workers); a job's mean wait in the queue; the most injections and status writes sent in one second (near %d: the client's rate limit) | | %s / %s = %.2f per worker (%d reconciles); %s; %d and %d | |\n",
		load.Workers, controller.DefaultClientQPS, secs(load.Busy), secs(m.Took()),
		load.Busy.Seconds()/m.Took().Seconds()/float64(max(load.Workers, 1)), load.Passes,
		ms(load.Waited/time.Duration(max(load.Waits, 1))), peak("pods/ephemeralcontainers"), peak("ephemeraljobs/status"))
	floorCPU := m.Floors[0].CPU.Add(m.Floors[1].CPU)
	w("| B8 processor time, jobs / floor (both runs): of the control plane (kube-apiserver and etcd); of the harness's process (stand-in, manager, clients); of the rest of the machine, beside the measurement | | %s / %s = %.2f×; %s / %s; %s / %s | |\n",
		secs(cpu.ControlPlane), secs(floorCPU.ControlPlane),
		cpu.ControlPlane.Seconds()/max(floorCPU.ControlPlane.Seconds(), 0.001), secs(cpu.Harness),
		secs(floorCPU.Harness), secs(cpu.Others()), secs(floorCPU.Others()))
}

// writeMemoryRows renders the cache measurement (B3): each figure over the bare process,
// its targets scaled to 10,000 pods, at each size; then how the cost per pod grows.
func writeMemoryRows(w func(string, ...any), m *MemoryReport) {
	perPod := func(b uint64, pods int) float64 { return float64(b) / 1024 / float64(max(pods, 1)) }
	per10k := func(b uint64, pods int) float64 { return mib(b) * 10000 / float64(max(pods, 1)) }
	for _, sz := range m.Sizes {
		t := sz.Trimmed
		inuse, alloc := diff(t.HeapInuse, m.Empty.HeapInuse), diff(t.HeapAlloc, m.Empty.HeapAlloc)
		peak, rss := diff(t.PeakRSS, m.Empty.PeakRSS), diff(t.RSS, m.Empty.RSS)
		w("| B3 heap in use for %d cached pods (%d with a job's container), over the bare process | ≤ %d MiB per 10,000 pods | %.1f MiB (%.2f KiB per pod) | %s |\n",
			sz.Pods, sz.Matching, TargetHeapMiB, mib(inuse), perPod(inuse, sz.Pods), met(per10k(inuse, sz.Pods) <= TargetHeapMiB))
		w("| B3 live heap (HeapAlloc) for %d cached pods, over the bare process | | %.1f MiB = **%.2f KiB per pod** (heap in use / live %.2f×) | |\n",
			sz.Pods, mib(alloc), perPod(alloc, sz.Pods), float64(inuse)/float64(max(alloc, 1)))
		sync := "one LIST"
		if t.StreamedPods {
			sync = "streamed (watch-list)"
		}
		w("| B3 peak RSS while the cache of %d pods syncs (initial list %s), over the bare process | ≤ %d MiB per 10,000 pods | %.1f MiB | %s |\n",
			sz.Pods, sync, TargetSyncRSSMiB, mib(peak), met(per10k(peak, sz.Pods) <= TargetSyncRSSMiB))
		// The bare process's sync is the manager's start: its figure is taken off.
		perSync := (t.Synced - m.Empty.Synced).Seconds() * 10000 / float64(max(sz.Pods, 1))
		w("| B3 time to sync the cache of %d pods (the manager's start to its pod and job caches synced), over the bare process's %s | ≤ %s per 10,000 pods | %s (%.2f s per 10,000 pods) | %s |\n",
			sz.Pods, ms(m.Empty.Synced), secs(TargetSyncPer10k), secs(t.Synced-m.Empty.Synced), perSync,
			met(perSync <= TargetSyncPer10k.Seconds()))
		w("| B3 RSS for %d cached pods after returning free memory, over the bare process | | %.1f MiB | |\n",
			sz.Pods, mib(rss))
	}
	if n := len(m.Sizes); n >= 2 {
		small, large := m.Sizes[0], m.Sizes[n-1]
		ps := perPod(diff(small.Trimmed.HeapInuse, m.Empty.HeapInuse), small.Pods)
		pl := perPod(diff(large.Trimmed.HeapInuse, m.Empty.HeapInuse), large.Pods)
		w("| B3 heap in use per cached pod at %d pods / at %d pods, over the bare process | ≤ %.1f× (flat) | %.2f KiB / %.2f KiB = **%.2f×** | %s |\n",
			large.Pods, small.Pods, TargetHeapFlat, pl, ps, pl/ps, met(pl <= TargetHeapFlat*ps))
	}
	largest := m.Sizes[len(m.Sizes)-1]
	if largest.Pods >= TargetHeapAtPods {
		w("| B3 heap in use of the whole manager process (the bare process's %.1f MiB included) with %s cached pods | ≤ %d MiB at %s pods | %.1f MiB | %s |\n",
			mib(m.Empty.HeapInuse), thousands(largest.Pods), TargetHeapAtMiB, thousands(TargetHeapAtPods), mib(largest.Trimmed.HeapInuse),
			met(mib(largest.Trimmed.HeapInuse)*float64(TargetHeapAtPods)/float64(largest.Pods) <= TargetHeapAtMiB))
	} else {
		// Not measured: the cost per pod of the largest size, which stays flat across sizes
		// (the row above), carried to the target's size.
		inuse := diff(largest.Trimmed.HeapInuse, m.Empty.HeapInuse)
		at := m.Empty.HeapInuse + inuse*uint64(TargetHeapAtPods)/uint64(max(largest.Pods, 1))
		w("| B3 heap in use of the whole manager process with %s cached pods | ≤ %d MiB at %s pods | not measured here (`make bench-memory` measures it): %.1f MiB carried from %s pods (%.2f KiB per pod over the bare process's %.1f MiB) | %s (carried) |\n",
			thousands(TargetHeapAtPods), TargetHeapAtMiB, thousands(TargetHeapAtPods), mib(at), thousands(largest.Pods),
			perPod(inuse, largest.Pods), mib(m.Empty.HeapInuse), met(mib(at) <= TargetHeapAtMiB))
	}
	small := m.Sizes[0]
	inuse := diff(small.Trimmed.HeapInuse, m.Empty.HeapInuse)
	fullInuse := diff(m.Untrimmed.HeapInuse, m.Empty.HeapInuse)
	ratio := float64(inuse) / float64(max(fullInuse, 1))
	w("| B3 heap in use for %d cached pods, with TrimPod / full pods | ≤ %.1f× | %.1f MiB / %.1f MiB = **%.2f×** | %s |\n",
		small.Pods, TargetHeapRatio, mib(inuse), mib(fullInuse), ratio, met(ratio <= TargetHeapRatio))
	w("| B3 full pods (%d): live heap / peak RSS while syncing / RSS after, over the bare process | | %.1f MiB / %.1f MiB / %.1f MiB | |\n",
		small.Pods, mib(diff(m.Untrimmed.HeapAlloc, m.Empty.HeapAlloc)), mib(diff(m.Untrimmed.PeakRSS, m.Empty.PeakRSS)),
		mib(diff(m.Untrimmed.RSS, m.Empty.RSS)))
}
