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
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil/mariadb"
)

// Plan says what to measure.
type Plan struct {
	// Sizes are the numbers of pods of the timed jobs (B1, B2).
	Sizes []int
	// WindowFloorUpTo also measures the sliding-window floor for sizes up to this.
	WindowFloorUpTo int
	// Parallelism of every job and floor.
	Parallelism int32
	// MySQL, when set, runs the largest job with the recorder, once with MySQL up and
	// once with it stopped (B4).
	MySQL *mariadb.Server
	// MemoryPods and MemoryMatching size the cache measurement (B3); none when zero.
	MemoryPods, MemoryMatching int
	// Refusals, when set, times a job over this many pods that all refuse injection.
	Refusals int
	// HeapProfile, when set, is where the cache measurement keeps the heap profile of the
	// manager with its cache full; the report then shows where its bytes go.
	HeapProfile string
	// Timeout bounds each job.
	Timeout time.Duration
	// Logf reports progress.
	Logf func(format string, args ...any)
}

// SizeRun is the figures of one job size.
type SizeRun struct {
	Pods int
	// FloorBatches and FloorWindow are the bare client's times (FloorWindow zero when not measured).
	FloorBatches, FloorWindow time.Duration
	FloorStubLatency          []time.Duration
	Job                       JobResult
}

// Report is everything a Run measured.
type Report struct {
	Started  time.Time
	Runs     []SizeRun
	Recorder *RecorderReport
	Memory   *MemoryReport
	Refusals *RefusalReport
}

// RefusalReport is a job whose every pod refuses injection.
type RefusalReport struct {
	Pods int
	Job  JobResult
	// StatusBytes is the size of the job's final status as JSON.
	StatusBytes int
}

// RecorderReport compares the largest job with MySQL up and stopped.
type RecorderReport struct {
	Pods    int
	Up      JobResult
	Stopped JobResult
}

// MemoryReport is the manager's memory with its cache full, with and without TrimPod,
// and with an empty cache (the bare process).
type MemoryReport struct {
	Pods, Matching            int
	Empty, Trimmed, Untrimmed Memory
	// Profile is `go tool pprof -top` of the trimmed manager's heap profile (live bytes).
	Profile string
}

// Run measures what the plan says, on a running harness.
func (h *Harness) Run(ctx context.Context, plan Plan) (*Report, error) {
	rep := &Report{Started: time.Now()}
	logf := plan.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	for i, n := range plan.Sizes {
		largest := i == len(plan.Sizes)-1
		run := SizeRun{Pods: n}
		floorNS, err := h.Namespace(ctx, fmt.Sprintf("floor-%d", n))
		if err != nil {
			return rep, err
		}
		logf("creating %d pods for the floor", n)
		pods, err := h.createRunningPods(ctx, floorNS, "pod", n, func(int) map[string]string { return map[string]string{"app": "floor"} })
		if err != nil {
			return rep, err
		}
		logf("floor (batches) over %d pods", n)
		if run.FloorBatches, run.FloorStubLatency, err = h.Floor(ctx, floorNS, pods, int(plan.Parallelism), FloorBatches); err != nil {
			return rep, err
		}
		logf("floor (batches): %v", run.FloorBatches)
		if err := h.DeletePods(ctx, floorNS); err != nil {
			return rep, err
		}
		if n <= plan.WindowFloorUpTo {
			if pods, err = h.createRunningPods(ctx, floorNS, "window", n, func(int) map[string]string { return map[string]string{"app": "floor"} }); err != nil {
				return rep, err
			}
			if run.FloorWindow, _, err = h.Floor(ctx, floorNS, pods, int(plan.Parallelism), FloorWindow); err != nil {
				return rep, err
			}
			logf("floor (window): %v", run.FloorWindow)
			if err := h.DeletePods(ctx, floorNS); err != nil {
				return rep, err
			}
		}

		var rec *recorder.Config
		var watcher *RowWatcher
		var db *sql.DB
		if largest && plan.MySQL != nil {
			name, err := plan.MySQL.NewDatabase(ctx)
			if err != nil {
				return rep, err
			}
			rec = &recorder.Config{Host: plan.MySQL.Host, Port: plan.MySQL.Port, User: plan.MySQL.User,
				Password: plan.MySQL.Password, DBName: name}
			if db, err = sql.Open("mysql", plan.MySQL.DSN(name)); err != nil {
				return rep, err
			}
			defer func() { _ = db.Close() }()
			watcher = &RowWatcher{DB: db, Interval: 100 * time.Millisecond}
		}
		run.Job, err = h.timedJob(ctx, plan, n, "job", rec, watcher)
		if err != nil {
			return rep, err
		}
		logf("job over %d pods: %v", n, run.Job.Took)
		rep.Runs = append(rep.Runs, run)

		if rec != nil {
			rep.Recorder = &RecorderReport{Pods: n, Up: run.Job}
			logf("stopping MySQL for a job over %d pods", n)
			if err := plan.MySQL.Stop(); err != nil {
				return rep, err
			}
			stopped, err := h.timedJob(ctx, plan, n, "nomysql", rec, nil)
			if restartErr := plan.MySQL.Restart(ctx); err == nil {
				err = restartErr
			}
			if err != nil {
				return rep, err
			}
			rep.Recorder.Stopped = stopped
			logf("job over %d pods with MySQL stopped: %v", n, stopped.Took)
		}
	}

	if plan.Refusals > 0 {
		ns, err := h.Namespace(ctx, fmt.Sprintf("refusals-%d", plan.Refusals))
		if err != nil {
			return rep, err
		}
		logf("creating %d pods that refuse injection", plan.Refusals)
		pods, err := h.createRunningPods(ctx, ns, "pod", plan.Refusals, func(int) map[string]string { return map[string]string{"app": "refuse"} })
		if err != nil {
			return rep, err
		}
		res, err := h.RunJob(ctx, JobRun{Namespace: ns, Pods: pods, Label: "refuse", Parallelism: plan.Parallelism,
			Timeout: plan.Timeout, TargetContainer: "absent"})
		if err != nil {
			return rep, err
		}
		data, err := json.Marshal(res.Status)
		if err != nil {
			return rep, err
		}
		rep.Refusals = &RefusalReport{Pods: plan.Refusals, Job: res, StatusBytes: len(data)}
		logf("job over %d refusing pods: %v", plan.Refusals, res.Took)
		if err := h.DeletePods(ctx, ns); err != nil {
			return rep, err
		}
	}
	if plan.MemoryPods > 0 {
		m, err := h.measureMemory(ctx, plan)
		if err != nil {
			return rep, err
		}
		rep.Memory = m
	}
	return rep, nil
}

// timedJob creates n Running pods in a new namespace and times a job over them.
func (h *Harness) timedJob(ctx context.Context, plan Plan, n int, prefix string, rec *recorder.Config,
	watcher *RowWatcher) (JobResult, error) {
	ns, err := h.Namespace(ctx, fmt.Sprintf("%s-%d", prefix, n))
	if err != nil {
		return JobResult{}, err
	}
	plan.Logf("creating %d pods for a job", n)
	pods, err := h.createRunningPods(ctx, ns, "pod", n, func(int) map[string]string { return map[string]string{"app": "target"} })
	if err != nil {
		return JobResult{}, err
	}
	res, err := h.RunJob(ctx, JobRun{Namespace: ns, Pods: pods, Label: "target", Parallelism: plan.Parallelism,
		Recorder: rec, WatchRows: watcher, Timeout: plan.Timeout})
	if err != nil {
		return res, err
	}
	return res, h.DeletePods(ctx, ns)
}

// measureMemory fills a namespace with pods, some of them holding a finished job
// container, and measures a manager's memory caching it, with and without TrimPod, against
// one caching an empty namespace.
func (h *Harness) measureMemory(ctx context.Context, plan Plan) (*MemoryReport, error) {
	rep := &MemoryReport{Pods: plan.MemoryPods, Matching: plan.MemoryMatching}
	ns, err := h.Namespace(ctx, "memory")
	if err != nil {
		return nil, err
	}
	empty, err := h.Namespace(ctx, "empty")
	if err != nil {
		return nil, err
	}
	plan.Logf("creating %d pods for the cache measurement", plan.MemoryPods)
	pods, err := h.createRunningPods(ctx, ns, "pod", plan.MemoryPods, func(i int) map[string]string {
		if i < plan.MemoryMatching {
			return map[string]string{"app": "target"}
		}
		return map[string]string{"app": "other"}
	})
	if err != nil {
		return nil, err
	}
	plan.Logf("injecting into %d of them", plan.MemoryMatching)
	if _, _, err := h.Floor(ctx, ns, pods[:plan.MemoryMatching], 50, FloorWindow); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ejob-bench-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	kubeconfig, err := h.WriteKubeconfig(dir)
	if err != nil {
		return nil, err
	}
	for _, m := range []struct {
		into *Memory
		run  CacheRun
	}{
		{&rep.Empty, CacheRun{Namespace: empty}},
		{&rep.Trimmed, CacheRun{Namespace: ns, Profile: plan.HeapProfile}},
		{&rep.Untrimmed, CacheRun{Namespace: ns, FullPods: true}},
	} {
		if *m.into, err = MeasureCache(ctx, kubeconfig, m.run); err != nil {
			return nil, err
		}
		plan.Logf("memory of a manager caching %d pods (full pods %v): heap in use %d MiB, live heap %d MiB, peak RSS %d MiB, RSS %d MiB, streamed %v",
			m.into.Pods, m.run.FullPods, m.into.HeapInuse>>20, m.into.HeapAlloc>>20, m.into.PeakRSS>>20, m.into.RSS>>20,
			m.into.StreamedPods)
	}
	if plan.HeapProfile != "" {
		if rep.Profile, err = topOfProfile(ctx, plan.HeapProfile); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// topOfProfile returns `go tool pprof -top` of a heap profile: the live bytes by the
// function that allocated them.
func topOfProfile(ctx context.Context, path string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-sample_index=inuse_space", "-nodecount=25", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("reading the heap profile %s: %w: %s", path, err, stderr.String())
	}
	return string(out), nil
}
