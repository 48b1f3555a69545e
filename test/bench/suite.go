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
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
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
	// MemoryPods are the sizes of the cache measurement (B3), ascending; none when empty.
	// The pods are created once: each size adds to the pods of the one before.
	MemoryPods []int
	// Refusals, when set, times a job over the pods of the cache measurement's largest size,
	// every one of which refuses it: its template targets a container they lack.
	Refusals bool
	// Handover, when set, times the leader's handovers (B9).
	Handover *HandoverPlan
	// ManyJobs and ManyPods, when set, time ManyJobs jobs of ManyPods pods each, created at
	// once, against a bare client keeping as many windows in flight.
	ManyJobs, ManyPods int
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
	Started time.Time
	// CommandStarted, when set, is when the command that runs the report started: the
	// report states how long it took.
	CommandStarted time.Time
	Runs           []SizeRun
	Recorder       *RecorderReport
	Memory         *MemoryReport
	Refusals       *RefusalReport
	Many           *ManyReport
	Handover       *HandoverReport
}

// ManyReport is many jobs at once against the floor of as many windows, twice each over
// the same pods in the order floor, jobs, jobs, floor: whatever drifts meanwhile (the
// machine, the containers piling up in each pod) weighs alike on both.
type ManyReport struct {
	Jobs, PodsPerJob int
	Parallelism      int32
	Floors           [2]ManyFloor
	Results          [2]ManyResult
}

// ManyFloor is one run of the floor of many windows.
type ManyFloor struct {
	// Took is the bare client's time, StubLatency its stand-in latencies, CPU the processor
	// time used meanwhile.
	Took        time.Duration
	StubLatency []time.Duration
	CPU         CPU
}

// Floor is the time of both floors.
func (m *ManyReport) Floor() time.Duration { return m.Floors[0].Took + m.Floors[1].Took }

// Took is the time of both runs of the jobs.
func (m *ManyReport) Took() time.Duration { return m.Results[0].Took + m.Results[1].Took }

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

// MemoryReport is the manager's memory with its cache full at each size, with TrimPod,
// and at the smallest size without; and with an empty cache (the bare process).
type MemoryReport struct {
	Empty Memory
	// Sizes are the figures at each size, ascending.
	Sizes []MemorySize
	// Untrimmed is the smallest size cached with full pods.
	Untrimmed Memory
	// Profile is `go tool pprof -top` of the trimmed manager's heap profile (live bytes) at
	// the largest size.
	Profile string
}

// MemorySize is the manager's memory with Pods pods in its cache, Matching of them holding a
// finished job's container.
type MemorySize struct {
	Pods, Matching int
	Trimmed        Memory
}

// matchingShare is one in how many pods of the cache measurement hold a job's container:
// the same share at every size, so that the cost per pod is comparable.
const matchingShare = 5

// Run measures what the plan says, on a running harness.
func (h *Harness) Run(ctx context.Context, plan Plan) (*Report, error) {
	rep := &Report{Started: time.Now()}
	if plan.Logf == nil {
		plan.Logf = func(string, ...any) {}
	}
	logf := plan.Logf
	target := map[string]string{"app": "target"}
	for i, n := range plan.Sizes {
		largest := i == len(plan.Sizes)-1
		run := SizeRun{Pods: n}
		floorNS, err := h.Namespace(ctx, fmt.Sprintf("floor-%d", n))
		if err != nil {
			return rep, err
		}
		logf("creating %d pods for the floor", n)
		pods, err := h.createRunningPods(ctx, floorNS, "pod", n, func(int) map[string]string { return target })
		if err != nil {
			return rep, err
		}
		logf("floor (batches) over %d pods", n)
		if run.FloorBatches, run.FloorStubLatency, err = h.Floor(ctx, floorNS, pods, int(plan.Parallelism), FloorBatches); err != nil {
			return rep, err
		}
		logf("floor (batches): %v", run.FloorBatches)
		if err := h.deletePods(ctx, floorNS, logf); err != nil {
			return rep, err
		}
		if n <= plan.WindowFloorUpTo {
			if pods, err = h.createRunningPods(ctx, floorNS, "window", n, func(int) map[string]string { return target }); err != nil {
				return rep, err
			}
			if run.FloorWindow, _, err = h.Floor(ctx, floorNS, pods, int(plan.Parallelism), FloorWindow); err != nil {
				return rep, err
			}
			logf("floor (window): %v", run.FloorWindow)
			if err := h.deletePods(ctx, floorNS, logf); err != nil {
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
		// The many jobs run over the pods of the largest job, once it finished: creating
		// them costs as much as either run.
		labelsFor := func(int) map[string]string { return target }
		var manyLabels []string
		shareMany := largest && plan.ManyJobs > 0 && plan.ManyJobs*plan.ManyPods <= n
		if shareMany {
			manyLabels, labelsFor = manyPods(plan.ManyJobs, plan.ManyPods, target)
		}
		jobNS, err := h.Namespace(ctx, fmt.Sprintf("job-%d", n))
		if err != nil {
			return rep, err
		}
		logf("creating %d pods for a job", n)
		if pods, err = h.createRunningPods(ctx, jobNS, "pod", n, labelsFor); err != nil {
			return rep, err
		}
		if run.Job, err = h.RunJob(ctx, JobRun{Namespace: jobNS, Pods: pods, Selector: target,
			Parallelism: plan.Parallelism, Recorder: rec, WatchRows: watcher, Timeout: plan.Timeout}); err != nil {
			return rep, err
		}
		logf("job over %d pods: %v", n, run.Job.Took)
		rep.Runs = append(rep.Runs, run)
		if shareMany {
			if rep.Many, err = h.runMany(ctx, plan, jobNS, manyLabels); err != nil {
				return rep, err
			}
		}
		if err := h.deletePods(ctx, jobNS, logf); err != nil {
			return rep, err
		}

		if rec != nil {
			rep.Recorder = &RecorderReport{Pods: n, Up: run.Job}
			logf("stopping MySQL for a job over %d pods", n)
			if err := plan.MySQL.Stop(); err != nil {
				return rep, err
			}
			stopped, err := h.timedJob(ctx, plan, n, "nomysql", rec)
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

	if plan.ManyJobs > 0 && rep.Many == nil {
		labels, labelsFor := manyPods(plan.ManyJobs, plan.ManyPods, nil)
		ns, err := h.Namespace(ctx, "many")
		if err != nil {
			return rep, err
		}
		logf("creating %d pods for %d jobs", plan.ManyJobs*plan.ManyPods, plan.ManyJobs)
		if _, err := h.createRunningPods(ctx, ns, "pod", plan.ManyJobs*plan.ManyPods, labelsFor); err != nil {
			return rep, err
		}
		if rep.Many, err = h.runMany(ctx, plan, ns, labels); err != nil {
			return rep, err
		}
		if err := h.deletePods(ctx, ns, logf); err != nil {
			return rep, err
		}
	}
	if plan.Handover != nil {
		var err error
		if rep.Handover, err = h.MeasureHandover(ctx, *plan.Handover, logf); err != nil {
			return rep, err
		}
	}
	if len(plan.MemoryPods) > 0 {
		m, ns, err := h.measureMemory(ctx, plan)
		if err != nil {
			return rep, err
		}
		rep.Memory = m
		// Every pod of the cache measurement refuses a job whose template targets a
		// container they lack; the measurement is over, so the job is not in its way.
		if plan.Refusals {
			n := plan.MemoryPods[len(plan.MemoryPods)-1]
			res, err := h.RunJob(ctx, JobRun{Namespace: ns, Selector: map[string]string{"tier": "backend"},
				Parallelism: plan.Parallelism, Timeout: plan.Timeout, TargetContainer: "absent"})
			if err != nil {
				return rep, err
			}
			data, err := json.Marshal(res.Status)
			if err != nil {
				return rep, err
			}
			rep.Refusals = &RefusalReport{Pods: n, Job: res, StatusBytes: len(data)}
			logf("job over %d refusing pods: %v", n, res.Took)
		}
	}
	return rep, nil
}

// runMany times plan.ManyJobs jobs created at once against the floor of as many windows,
// over the pods of ns labelled manyLabel=labels[j] for job j: the floor, the jobs, the
// jobs again and the floor again, all over the same pods. A job's container takes its
// derived name beside those of the runs before.
func (h *Harness) runMany(ctx context.Context, plan Plan, ns string, labels []string) (*ManyReport, error) {
	rep := &ManyReport{Jobs: plan.ManyJobs, PodsPerJob: plan.ManyPods, Parallelism: plan.Parallelism}
	for round, floor := range []bool{true, false, false, true} {
		// The jobs that ran over these pods before would count among the many.
		if err := h.Client.DeleteAllOf(ctx, &appsv1alpha1.EphemeralJob{}, client.InNamespace(ns)); err != nil {
			return nil, fmt.Errorf("deleting the jobs of %s: %w", ns, err)
		}
		if !floor {
			k := round - 1
			var err error
			if rep.Results[k], err = h.RunJobs(ctx, ManyRun{Namespace: ns, Labels: labels,
				Parallelism: plan.Parallelism, Timeout: plan.Timeout}); err != nil {
				return nil, err
			}
			plan.Logf("%d jobs of %d pods: %v", plan.ManyJobs, plan.ManyPods, rep.Results[k].Took)
			continue
		}
		groups, err := h.manyGroups(ctx, ns, labels, plan.ManyPods)
		if err != nil {
			return nil, err
		}
		k := round / 3
		f := &rep.Floors[k]
		cpu, err := readCPU()
		if err != nil {
			return nil, err
		}
		if f.Took, f.StubLatency, err = h.FloorMany(ctx, ns, groups, int(plan.Parallelism)); err != nil {
			return nil, err
		}
		after, err := readCPU()
		if err != nil {
			return nil, err
		}
		f.CPU = after.Sub(cpu)
		plan.Logf("floor of %d windows: %v", plan.ManyJobs, f.Took)
	}
	return rep, nil
}

// manyGroups returns the pods of each many job, as they are now: injecting into an older
// copy would cost the floor a conflict.
func (h *Harness) manyGroups(ctx context.Context, ns string, labels []string, perJob int) ([][]*corev1.Pod, error) {
	list, err := h.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: manyLabel})
	if err != nil {
		return nil, fmt.Errorf("listing the pods of %s: %w", ns, err)
	}
	groups := make([][]*corev1.Pod, len(labels))
	group := make(map[string]int, len(labels))
	for j, l := range labels {
		group[l] = j
	}
	for i := range list.Items {
		pod := &list.Items[i]
		j, ok := group[pod.Labels[manyLabel]]
		if !ok {
			return nil, fmt.Errorf("pod %s/%s is labelled %s=%q, not one of the jobs'", ns, pod.Name, manyLabel, pod.Labels[manyLabel])
		}
		groups[j] = append(groups[j], pod)
	}
	for j, g := range groups {
		if len(g) != perJob {
			return nil, fmt.Errorf("%d pods of %s are labelled %s=%s, want %d", len(g), ns, manyLabel, labels[j], perJob)
		}
	}
	return groups, nil
}

// timedJob creates n Running pods in a new namespace, times a job over them and deletes them.
func (h *Harness) timedJob(ctx context.Context, plan Plan, n int, prefix string, rec *recorder.Config) (JobResult, error) {
	ns, err := h.Namespace(ctx, fmt.Sprintf("%s-%d", prefix, n))
	if err != nil {
		return JobResult{}, err
	}
	plan.Logf("creating %d pods for a job", n)
	target := map[string]string{"app": "target"}
	pods, err := h.createRunningPods(ctx, ns, "pod", n, func(int) map[string]string { return target })
	if err != nil {
		return JobResult{}, err
	}
	res, err := h.RunJob(ctx, JobRun{Namespace: ns, Pods: pods, Selector: target, Parallelism: plan.Parallelism,
		Recorder: rec, Timeout: plan.Timeout})
	if err != nil {
		return res, err
	}
	return res, h.deletePods(ctx, ns, plan.Logf)
}

// deletePods deletes the jobs and the pods of a namespace and logs the time it took: a
// later run starts with neither in its manager's cache.
func (h *Harness) deletePods(ctx context.Context, ns string, logf func(string, ...any)) error {
	start := time.Now()
	if err := h.Client.DeleteAllOf(ctx, &appsv1alpha1.EphemeralJob{}, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("deleting the jobs of %s: %w", ns, err)
	}
	err := h.DeletePods(ctx, ns)
	logf("deleted the jobs and pods of %s in %v", ns, time.Since(start).Round(time.Millisecond))
	return err
}

// measureMemory fills a namespace with pods, one in matchingShare of them holding a
// finished job container, and measures at each size a manager's memory caching it, with
// TrimPod, against one caching an empty namespace; at the smallest size also without TrimPod.
func (h *Harness) measureMemory(ctx context.Context, plan Plan) (*MemoryReport, string, error) {
	rep := &MemoryReport{}
	ns, err := h.Namespace(ctx, "memory")
	if err != nil {
		return nil, "", err
	}
	empty, err := h.Namespace(ctx, "empty")
	if err != nil {
		return nil, "", err
	}
	dir, err := os.MkdirTemp("", "ejob-bench-")
	if err != nil {
		return nil, "", err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	kubeconfig, err := h.WriteKubeconfig(dir)
	if err != nil {
		return nil, "", err
	}
	measure := func(into *Memory, run CacheRun) error {
		var err error
		if *into, err = MeasureCache(ctx, kubeconfig, run); err != nil {
			return err
		}
		plan.Logf("memory of a manager caching %d pods (full pods %v): heap in use %d MiB, live heap %d MiB, peak RSS %d MiB, RSS %d MiB, synced in %v, streamed %v",
			into.Pods, run.FullPods, into.HeapInuse>>20, into.HeapAlloc>>20, into.PeakRSS>>20, into.RSS>>20,
			into.Synced.Round(time.Millisecond), into.StreamedPods)
		return nil
	}
	if err := measure(&rep.Empty, CacheRun{Namespace: empty}); err != nil {
		return nil, "", err
	}
	isMatching := func(i int) bool { return i%matchingShare == 0 }
	created := 0
	for k, n := range plan.MemoryPods {
		if err := checkMemoryFor(n - created); err != nil {
			return nil, "", err
		}
		plan.Logf("creating pods %d to %d for the cache measurement", created, n-1)
		start := time.Now()
		pods, err := h.createPodRange(ctx, ns, "pod", created, n, func(i int) map[string]string {
			if isMatching(i) {
				return map[string]string{"app": "target"}
			}
			return map[string]string{"app": "other"}
		})
		if err != nil {
			return nil, "", err
		}
		var matching []*corev1.Pod
		for i, pod := range pods {
			if isMatching(created + i) {
				matching = append(matching, pod)
			}
		}
		plan.Logf("injecting into %d of them", len(matching))
		if _, _, err := h.Floor(ctx, ns, matching, 50, FloorWindow); err != nil {
			return nil, "", err
		}
		plan.Logf("%d pods created and %d injected in %v", n-created, len(matching), time.Since(start).Round(time.Second))
		created = n
		size := MemorySize{Pods: n, Matching: (n + matchingShare - 1) / matchingShare}
		run := CacheRun{Namespace: ns}
		if k == len(plan.MemoryPods)-1 {
			run.Profile = plan.HeapProfile
		}
		if err := measure(&size.Trimmed, run); err != nil {
			return nil, "", err
		}
		rep.Sizes = append(rep.Sizes, size)
		if k == 0 {
			if err := measure(&rep.Untrimmed, CacheRun{Namespace: ns, FullPods: true}); err != nil {
				return nil, "", err
			}
		}
	}
	if plan.HeapProfile != "" {
		if rep.Profile, err = topOfProfile(ctx, plan.HeapProfile); err != nil {
			return nil, "", err
		}
	}
	return rep, ns, nil
}

// envtestBytesPerPod is what one more realistic pod costs the machine in this harness, at
// its peak: with 100,000 of them the envtest kube-apiserver held 10.1 GB, etcd 1.6 GB, and
// the harness's processes (the stand-in's informer, the pods it created, the measuring
// manager) 8.7 GB, about 195 KiB a pod.
const envtestBytesPerPod = 200 << 10

// checkMemoryFor refuses to create n more pods when the machine lacks the memory they would
// take: run out of it, the machine would kill a process of its choosing, not necessarily
// one of the benchmark's.
func checkMemoryFor(n int) error {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return nil // not Linux: nothing to check against
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, "MemAvailable:")
		if !ok {
			continue
		}
		var kb uint64
		if _, err := fmt.Sscan(rest, &kb); err != nil {
			return nil
		}
		if need := uint64(n) * envtestBytesPerPod; kb<<10 < need {
			return fmt.Errorf("creating %d more pods takes about %.1f GiB (the envtest kube-apiserver, etcd and the "+
				"stand-in hold about %d KiB per pod); the machine has %.1f GiB available", n, float64(need)/(1<<30),
				envtestBytesPerPod>>10, float64(kb)/(1<<20))
		}
		return nil
	}
	return nil
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
