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
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil/mariadb"
)

// EnvBench makes TestBench run the full benchmark (`make bench`).
const EnvBench = "EJOB_BENCH"

// envGoBench names a file of `go test -bench` output to include in the report.
const envGoBench = "EJOB_BENCH_GO_RESULTS"

// envStarted is when `make bench` started, in seconds since the epoch: the report states
// how long the whole command took.
const envStarted = "EJOB_BENCH_STARTED"

const standIn = "test/kubelet Stub (informer + 16 workers, unthrottled client): each injected container is " +
	"written running, then terminated with exit code 0, as soon as the stand-in sees it"

// TestMemoryChild is the process MeasureCache starts; it does nothing in a normal run.
func TestMemoryChild(t *testing.T) {
	if os.Getenv(EnvChildKubeconfig) == "" {
		t.Skip("run by MeasureCache only")
	}
	runtime.MemProfileRate = ChildMemProfileRate
	if err := RunMemoryChild(); err != nil {
		t.Fatal(err)
	}
}

// TestManagerChild is the process MeasureHandover starts; it does nothing in a normal run.
func TestManagerChild(t *testing.T) {
	if os.Getenv(EnvManagerChild) == "" {
		t.Skip("run by MeasureHandover only")
	}
	if err := RunManagerChild(); err != nil {
		t.Fatal(err)
	}
}

// TestSmoke runs the benchmark's code at 100 pods, and 5 jobs of 10 pods at once, without
// timing assertions: every job must succeed with the right counts, each pod get exactly
// one injection, every target's end be matched with a status of its job, and the recorder
// a Succeeded row per pod.
func TestSmoke(t *testing.T) {
	if os.Getenv(EnvBench) != "" {
		t.Skip("the full benchmark runs instead")
	}
	ctx := context.Background()
	h := startHarness(t)
	srv := mariadb.StartT(t)
	rep, err := h.Run(ctx, Plan{Sizes: []int{100}, WindowFloorUpTo: 100, Parallelism: 10, MySQL: srv,
		MemoryPods: []int{100, 200}, HeapProfile: filepath.Join(t.TempDir(), "heap.pprof"),
		Refusals: true, ManyJobs: 5, ManyPods: 10, Timeout: 5 * time.Minute, Logf: t.Logf,
		// Short lease timings: a handover after SIGKILL then costs seconds.
		Handover: &HandoverPlan{Pods: 200, Parallelism: 10, Graceful: 1, Timeout: time.Minute,
			Lease: LeaseTimings{LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 500 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, job := range []JobResult{rep.Runs[0].Job, rep.Recorder.Stopped} {
		st := job.Status
		if st.Phase != v1alpha1.EphemeralJobSucceeded || st.Match != 100 || st.Succeeded != 100 || st.Failed != 0 ||
			st.Running != 0 || st.Waiting != 0 {
			t.Errorf("job status = %s match %d succeeded %d failed %d running %d waiting %d, want Succeeded with 100 succeeded",
				st.Phase, st.Match, st.Succeeded, st.Failed, st.Running, st.Waiting)
		}
		if n := job.Requests.count("WRITE", "pods/ephemeralcontainers"); n != 100 {
			t.Errorf("ephemeralcontainers writes = %d, want 100", n)
		}
		// Progress is written at most once per second (the write interval); at once only
		// the start, the index limit's raises, the end and results only the ledger holds.
		if n, most := job.Requests.count("WRITE", "ephemeraljobs/status"), 8+2*int(job.Took.Seconds()); n == 0 || n > most {
			t.Errorf("%d status writes for a job of 100 pods that took %v, want 1 to %d", n, job.Took, most)
		}
		t.Logf("%d status writes for a job of 100 pods that took %v", job.Requests.count("WRITE", "ephemeraljobs/status"), job.Took)
		if len(job.StubLatency) != 100 {
			t.Errorf("stand-in finished %d injected pods, want 100", len(job.StubLatency))
		}
	}
	if rows := rep.Recorder.Up.Rows; rows.Rows != 100 || len(rows.Lag) != 100 || rows.Written < 100 {
		t.Errorf("recorder: %d Succeeded rows, %d lags, %d rows written; want 100, 100, ≥ 100", rows.Rows, len(rows.Lag), rows.Written)
	}
	if r := rep.Runs[0]; r.FloorBatches <= 0 || r.FloorWindow <= 0 || len(r.FloorStubLatency) != 100 {
		t.Errorf("floor: batches %v, window %v, %d pods finished; want both timed and 100 finished",
			r.FloorBatches, r.FloorWindow, len(r.FloorStubLatency))
	}
	m := rep.Memory
	if len(m.Sizes) != 2 || m.Empty.Pods != 0 || m.Sizes[0].Trimmed.Pods != 100 || m.Sizes[1].Trimmed.Pods != 200 ||
		m.Untrimmed.Pods != 100 || m.Sizes[1].Matching != 40 || m.Sizes[1].Trimmed.HeapInuse == 0 {
		t.Errorf("cache measurement saw %+v, want 0 pods, then 100 and 200 pods (40 matching), and 100 full pods", m)
	}
	if rf := rep.Refusals; rf == nil || rf.Job.Status.Failed != 200 || rf.Job.Status.Phase != v1alpha1.EphemeralJobFailed ||
		rf.Job.Requests.count("WRITE", "pods/ephemeralcontainers") != 0 {
		t.Errorf("refusals: %+v", rf)
	}
	for _, sz := range m.Sizes {
		if tr := sz.Trimmed; tr.PeakRSS < tr.RSS || tr.HeapAlloc > tr.HeapInuse || tr.Synced <= 0 {
			t.Errorf("cache measurement at %d pods: peak RSS %d below RSS %d, live heap %d above heap in use %d, or synced in %v",
				sz.Pods, tr.PeakRSS, tr.RSS, tr.HeapAlloc, tr.HeapInuse, tr.Synced)
		}
	}
	if !strings.Contains(m.Profile, "flat%") {
		t.Errorf("the heap profile's top lacks its header:\n%s", m.Profile)
	}
	checkMany(t, rep.Many)
	checkHandover(t, rep.Handover)
	if section := rep.MemorySection("go test ./test/bench", standIn); !strings.HasPrefix(section,
		"## Cache memory (`go test ./test/bench`)\n") || !strings.Contains(section, "B3 heap in use per cached pod at 200 pods") ||
		!strings.Contains(section, "### Heap profile of the manager with 200 cached pods") {
		t.Errorf("the cache measurement's section lacks its heading, a row or the profile:\n%s", section)
	}
	md := rep.Markdown("go test ./test/bench", standIn, "BenchmarkPass/finished=5000-2  100  9000 ns/op")
	for _, want := range []string{"B1 job over 100 pods", "B2 ephemeralcontainers", "B3 heap", "B3 peak RSS",
		"B3 live heap", "B3 time to sync the cache of 200 pods", "B3 heap in use per cached pod at 200 pods / at 100 pods",
		"B4 lag", "## Heap profile", "B5 job over 200 pods", "B6 one pass", "B8 5 jobs of 10 pods", "B8 status writes of each run",
		"B8 a target's end", "## Requests of the manager, 5 jobs of 10 pods at once", "B9 handover after a graceful stop",
		"B9 handover after SIGKILL", "B10 the new leader's write taking the lease"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// checkMany checks the many-jobs runs of the smoke test: in each, every job succeeded over
// its own pods, each pod was injected once, and every target's end was matched with a
// status; each floor finished every pod.
func checkMany(t *testing.T, m *ManyReport) {
	t.Helper()
	if m == nil {
		t.Fatal("no many-jobs run")
	}
	targets := m.Jobs * m.PodsPerJob
	for k, f := range m.Floors {
		if len(f.StubLatency) != targets || f.Took <= 0 {
			t.Errorf("floor %d finished %d pods in %v; want %d and a time", k+1, len(f.StubLatency), f.Took, targets)
		}
	}
	for k, res := range m.Results {
		if len(res.Statuses) != m.Jobs {
			t.Errorf("run %d: %d job statuses, want %d", k+1, len(res.Statuses), m.Jobs)
		}
		for name, st := range res.Statuses {
			if st.Phase != v1alpha1.EphemeralJobSucceeded || int(st.Match) != m.PodsPerJob || int(st.Succeeded) != m.PodsPerJob {
				t.Errorf("run %d, job %s: %s, match %d, succeeded %d; want Succeeded over %d pods", k+1, name, st.Phase,
					st.Match, st.Succeeded, m.PodsPerJob)
			}
		}
		rq := res.Requests
		if n := rq.count("WRITE", "pods/ephemeralcontainers"); n != targets {
			t.Errorf("run %d: ephemeralcontainers writes = %d, want %d", k+1, n, targets)
		}
		if n := len(rq.WritesPerObject["ephemeraljobs/status"]); n != m.Jobs {
			t.Errorf("run %d: status writes reached %d jobs, want %d", k+1, n, m.Jobs)
		}
		if len(res.StatusLag) != targets {
			t.Errorf("run %d: %d targets matched with a status, want %d", k+1, len(res.StatusLag), targets)
		}
		if w := res.Workers; w.Passes == 0 || w.Busy <= 0 || w.Workers == 0 {
			t.Errorf("run %d: the controller's workers: %+v, want passes counted", k+1, w)
		}
	}
}

// checkHandover checks the handovers of the smoke test: one after SIGTERM, then one after
// SIGKILL, each new leader writing after the old one's last write and after taking the lease.
func checkHandover(t *testing.T, r *HandoverReport) {
	t.Helper()
	if r == nil || len(r.Handovers) != 2 {
		t.Fatalf("handovers: %+v, want 2", r)
	}
	for i, ho := range r.Handovers {
		want := syscall.SIGTERM
		if i == 1 {
			want = syscall.SIGKILL
		}
		if ho.Signal != want || ho.From == ho.To || ho.Gap() <= 0 || ho.Acquired.IsZero() ||
			ho.FirstWrite.Before(ho.Acquired) || ho.FirstInjection.Before(ho.FirstWrite) || ho.Finished == 0 {
			t.Errorf("handover %d: %+v; want after %v, from one manager to another, the new one writing after the old "+
				"one's last write and after taking the lease, into a job under way", i+1, ho, want)
		}
	}
	if gap := r.Handovers[1].Gap(); gap < r.Plan.Lease.LeaseDuration-r.Plan.Lease.RenewDeadline {
		t.Errorf("handover after SIGKILL took %v: the new leader cannot have waited for the lease to run out", gap)
	}
}

// TestBench is `make bench`: B1–B5 at 1,000 and 5,000 pods, B8 with 100 jobs of 50 pods,
// B3 at the sizes of MemoryPods, the report printed and written to docs/benchmarks.md.
func TestBench(t *testing.T) {
	if os.Getenv(EnvBench) == "" {
		t.Skip("set " + EnvBench + "=1 (make bench)")
	}
	ctx := context.Background()
	h := startHarness(t)
	srv := mariadb.StartT(t)
	start := time.Now()
	logf := func(format string, args ...any) {
		t.Logf("[%v] "+format, append([]any{time.Since(start).Round(time.Second)}, args...)...)
	}
	rep, err := h.Run(ctx, Plan{Sizes: []int{1000, 5000}, WindowFloorUpTo: 1000, Parallelism: 10, MySQL: srv,
		MemoryPods: MemoryPods, HeapProfile: heapProfilePath(), Refusals: true, ManyJobs: 100, ManyPods: 50,
		// A handover round uses a few dozen targets: 500 pods outlast the four.
		Handover: &HandoverPlan{Pods: 500, Parallelism: 10, Graceful: 3, Timeout: 2 * time.Minute},
		Timeout:  30 * time.Minute, Logf: logf})
	if err != nil {
		t.Fatal(err)
	}
	if s := os.Getenv(envStarted); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", envStarted, s, err)
		}
		rep.CommandStarted = time.Unix(sec, 0)
	}
	var goBench string
	if path := os.Getenv(envGoBench); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		goBench = string(data)
	}
	md := rep.Markdown("make bench", standIn, goBench)
	t.Log("\n" + md)
	path := filepath.Join(testutil.RepoRoot(), "docs", "benchmarks.md")
	if old, err := os.ReadFile(path); err == nil {
		if i := strings.Index(string(old), keptSections); i >= 0 {
			md += "\n" + string(old[i:])
		}
	}
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
}

// keptSections starts the part of docs/benchmarks.md that other targets write (make
// bench-e2e-node's, on the real node): make bench keeps it as it is.
const keptSections = "<!-- Below: measured by other targets; make bench keeps these sections. -->"

// MemoryPods are the sizes of the cache measurement of `make bench`, and MemoryPodsAll
// those of `make bench-memory`; a fifth of the pods hold a finished job's container.
// Creating 20,000 more pods in envtest for 30,000 would add two to four minutes to the
// 9–14 of `make bench`: the sizes past 10,000 are `make bench-memory`'s, which writes its
// own section of the report.
// 100,000 pods take about 19 GB in envtest (see envtestBytesPerPod): a machine with less
// runs `make bench-memory PODS="10000 30000"`.
var (
	MemoryPods    = []int{10000}
	MemoryPodsAll = []int{10000, 30000, 100000}
)

// envMemoryPods lists the sizes `make bench-memory` measures (its PODS), ascending.
const envMemoryPods = "EJOB_BENCH_PODS"

// TestBenchMemory is `make bench-memory`: only the cache measurement (B3), at the sizes of
// EJOB_BENCH_PODS (MemoryPodsAll when unset). It prints the B3 rows and the heap profile's
// top at the largest size, and writes them as its section of docs/benchmarks.md, among
// those make bench keeps.
func TestBenchMemory(t *testing.T) {
	if os.Getenv(EnvBench) == "" {
		t.Skip("set " + EnvBench + "=1 (make bench-memory)")
	}
	sizes := MemoryPodsAll
	if list := os.Getenv(envMemoryPods); strings.TrimSpace(list) != "" {
		sizes = nil
		for f := range strings.FieldsSeq(list) {
			n, err := strconv.Atoi(f)
			if err != nil || n <= 0 || (len(sizes) > 0 && n <= sizes[len(sizes)-1]) {
				t.Fatalf("%s=%q: want pod counts, ascending", envMemoryPods, list)
			}
			sizes = append(sizes, n)
		}
	}
	// Refused now rather than after creating the smaller sizes' pods; each size is checked
	// again before its pods are created.
	if err := checkMemoryFor(sizes[len(sizes)-1]); err != nil {
		t.Fatalf("%v: measure fewer pods, e.g. make bench-memory PODS=\"10000 30000\"", err)
	}
	h := startHarness(t)
	rep, err := h.Run(context.Background(), Plan{MemoryPods: sizes, HeapProfile: heapProfilePath(), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	section := rep.MemorySection("make bench-memory", standIn)
	t.Log("\n" + section)
	path := filepath.Join(testutil.RepoRoot(), "docs", "benchmarks.md")
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(withSection(string(old), section)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// withSection returns the report doc with section among the kept sections: in place of
// one with the same heading, or after the others.
func withSection(doc, section string) string {
	heading, _, _ := strings.Cut(section, "\n")
	i := strings.Index(doc, keptSections)
	if i < 0 {
		return strings.TrimRight(doc, "\n") + "\n\n" + keptSections + "\n\n" + section
	}
	kept := doc[i:]
	j := strings.Index(kept, "\n"+heading+"\n")
	if j < 0 {
		return strings.TrimRight(doc, "\n") + "\n\n" + section
	}
	before, after := doc[:i]+kept[:j+1], kept[j+1+len(heading):]
	if k := strings.Index(after, "\n## "); k >= 0 {
		return before + section + "\n" + after[k+1:]
	}
	return before + section
}

// heapProfilePath is where the benchmarks keep the heap profile of the manager with its
// cache full, for `go tool pprof`: bin/bench-heap.pprof.
func heapProfilePath() string {
	return filepath.Join(testutil.RepoRoot(), "bin", "bench-heap.pprof")
}

func startHarness(t *testing.T) *Harness {
	t.Helper()
	h, err := Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	return h
}
