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
	"strings"
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

// TestSmoke runs the benchmark's code at 100 pods, without timing assertions: the job
// must succeed with the right counts, each pod get exactly one injection, and the
// recorder a Succeeded row per pod.
func TestSmoke(t *testing.T) {
	if os.Getenv(EnvBench) != "" {
		t.Skip("the full benchmark runs instead")
	}
	ctx := context.Background()
	h := startHarness(t)
	srv := mariadb.StartT(t)
	rep, err := h.Run(ctx, Plan{Sizes: []int{100}, WindowFloorUpTo: 100, Parallelism: 10, MySQL: srv,
		MemoryPods: 200, MemoryMatching: 40, HeapProfile: filepath.Join(t.TempDir(), "heap.pprof"),
		Refusals: 50, Timeout: 5 * time.Minute, Logf: t.Logf})
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
	if m.Empty.Pods != 0 || m.Trimmed.Pods != 200 || m.Untrimmed.Pods != 200 || m.Trimmed.HeapInuse == 0 {
		t.Errorf("cache measurement saw %d/%d/%d pods (heap %d), want 0/200/200", m.Empty.Pods, m.Trimmed.Pods,
			m.Untrimmed.Pods, m.Trimmed.HeapInuse)
	}
	if rf := rep.Refusals; rf == nil || rf.Job.Status.Failed != 50 || rf.Job.Status.Phase != v1alpha1.EphemeralJobFailed ||
		rf.Job.Requests.count("WRITE", "pods/ephemeralcontainers") != 0 {
		t.Errorf("refusals: %+v", rf)
	}
	if m.Trimmed.PeakRSS < m.Trimmed.RSS || m.Trimmed.HeapAlloc > m.Trimmed.HeapInuse {
		t.Errorf("cache measurement: peak RSS %d below RSS %d, or live heap %d above heap in use %d",
			m.Trimmed.PeakRSS, m.Trimmed.RSS, m.Trimmed.HeapAlloc, m.Trimmed.HeapInuse)
	}
	if !strings.Contains(m.Profile, "flat%") {
		t.Errorf("the heap profile's top lacks its header:\n%s", m.Profile)
	}
	md := rep.Markdown("go test ./test/bench", standIn, "BenchmarkPass/finished=5000-2  100  9000 ns/op")
	for _, want := range []string{"B1 job over 100 pods", "B2 ephemeralcontainers", "B3 heap", "B3 peak RSS",
		"B3 live heap", "B4 lag", "## Heap profile", "B5 job over 50 pods", "B6 one pass"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// TestBench is `make bench`: B1–B4 at 1,000 and 5,000 pods, the report printed and
// written to docs/benchmarks.md.
func TestBench(t *testing.T) {
	if os.Getenv(EnvBench) == "" {
		t.Skip("set " + EnvBench + "=1 (make bench)")
	}
	ctx := context.Background()
	h := startHarness(t)
	srv := mariadb.StartT(t)
	rep, err := h.Run(ctx, Plan{Sizes: []int{1000, 5000}, WindowFloorUpTo: 1000, Parallelism: 10, MySQL: srv,
		MemoryPods: MemoryPods, MemoryMatching: MemoryMatching, HeapProfile: heapProfilePath(),
		Refusals: 10000, Timeout: 30 * time.Minute, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
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

// MemoryPods and MemoryMatching size the cache measurement of `make bench`: pods in the
// cache, and how many of them hold a finished job's container.
const (
	MemoryPods     = 10000
	MemoryMatching = 2000
)

// TestBenchMemory is `make bench-memory`: only the cache measurement of `make bench` (B3)
// at 10,000 pods, in a few minutes. It prints the B3 rows and the heap profile's top, and
// leaves docs/benchmarks.md alone.
func TestBenchMemory(t *testing.T) {
	if os.Getenv(EnvBench) == "" {
		t.Skip("set " + EnvBench + "=1 (make bench-memory)")
	}
	h := startHarness(t)
	rep, err := h.Run(context.Background(), Plan{MemoryPods: MemoryPods, MemoryMatching: MemoryMatching,
		HeapProfile: heapProfilePath(), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.Markdown("make bench-memory", standIn, ""))
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
