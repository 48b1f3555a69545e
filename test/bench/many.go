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
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/manager"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
)

// ManyRun is many jobs created at once in one namespace, each over its own pods.
type ManyRun struct {
	Namespace string
	// Labels are the jobs' selectors: job i selects the pods labelled manyLabel=Labels[i].
	Labels      []string
	Parallelism int32
	// Timeout bounds the wait for every job to finish.
	Timeout time.Duration
	// Manager is the manager's options.
	Manager manager.Options
}

// ManyResult is what many jobs at once showed.
type ManyResult struct {
	// Took is the time from the first job's creation to the last job reported finished.
	Took time.Duration
	// Statuses are the jobs' final statuses, by name.
	Statuses map[string]appsv1alpha1.EphemeralJobStatus
	Requests requestCounts
	// StatusLag is, per target, the time from the stand-in's terminated status write to the
	// first status of its job that counted it among the finished indexes.
	StatusLag   []time.Duration
	StubLatency []time.Duration
	// Workers is what the controller's workers did meanwhile, CPU the processor time used.
	Workers WorkerLoad
	CPU     CPU
}

// jobWatch records, for each job of a namespace, when each finished index first showed in
// its status, and when the job first showed a terminal phase.
type jobWatch struct {
	mu       sync.Mutex
	shown    map[string]map[int32]time.Time // job name -> index -> first seen finished
	finished map[string]time.Time
	statuses map[string]appsv1alpha1.EphemeralJobStatus
	want     int
	all      chan struct{}
}

func (w *jobWatch) see(job *appsv1alpha1.EphemeralJob) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.statuses[job.Name] = job.Status
	shown := w.shown[job.Name]
	if shown == nil {
		shown = map[int32]time.Time{}
		w.shown[job.Name] = shown
	}
	for _, list := range []string{job.Status.SucceededIndexes, job.Status.FailedIndexes} {
		eachIndex(list, func(i int32) {
			if _, seen := shown[i]; !seen {
				shown[i] = now
			}
		})
	}
	if _, seen := w.finished[job.Name]; !seen && job.Status.Phase.IsFinished() {
		w.finished[job.Name] = now
		if len(w.finished) == w.want {
			close(w.all)
		}
	}
}

// eachIndex calls f with every index of a status index list ("0-4,7,9-10"). The lists of
// the jobs measured here are short and complete: 50 targets never reach the bound of
// their length.
func eachIndex(list string, f func(int32)) {
	if list == "" {
		return
	}
	for part := range strings.SplitSeq(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, errA := strconv.ParseInt(lo, 10, 32)
		b := a
		var errB error
		if isRange {
			b, errB = strconv.ParseInt(hi, 10, 32)
		}
		if errA != nil || errB != nil {
			continue
		}
		for i := a; i <= b; i++ {
			f(int32(i))
		}
	}
}

// RunJobs starts a manager like cmd/main.go's, creates one job per label at once and waits
// until every one finished. The jobs' statuses are watched as the API server sends them,
// so that each target's end can be matched with the first status counting it.
func (h *Harness) RunJobs(ctx context.Context, run ManyRun) (res ManyResult, err error) {
	w := &jobWatch{shown: map[string]map[int32]time.Time{}, finished: map[string]time.Time{},
		statuses: map[string]appsv1alpha1.EphemeralJobStatus{}, want: len(run.Labels), all: make(chan struct{})}
	jobs, err := crcache.New(h.Config, crcache.Options{Scheme: Scheme,
		DefaultNamespaces: map[string]crcache.Config{run.Namespace: {}}})
	if err != nil {
		return res, fmt.Errorf("watching the jobs: %w", err)
	}
	informer, err := jobs.GetInformer(ctx, &appsv1alpha1.EphemeralJob{})
	if err != nil {
		return res, fmt.Errorf("watching the jobs: %w", err)
	}
	if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.see(obj.(*appsv1alpha1.EphemeralJob)) },
		UpdateFunc: func(_, obj any) { w.see(obj.(*appsv1alpha1.EphemeralJob)) },
	}); err != nil {
		return res, fmt.Errorf("watching the jobs: %w", err)
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() { _ = jobs.Start(watchCtx) }()
	if !jobs.WaitForCacheSync(watchCtx) {
		return res, errors.New("watching the jobs: the informer did not sync")
	}

	mgr, err := h.startManager(ctx, run.Manager)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, mgr.Stop()) }()

	load := readWorkerLoad()
	cpu, err := readCPU()
	if err != nil {
		return res, err
	}
	start := time.Now()
	uids, err := h.createJobs(ctx, run)
	if err != nil {
		return res, err
	}
	select {
	case <-w.all:
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(run.Timeout):
		w.mu.Lock()
		defer w.mu.Unlock()
		return res, fmt.Errorf("waiting for %d jobs to finish: %d finished within %v", w.want, len(w.finished), run.Timeout)
	}
	w.mu.Lock()
	for _, at := range w.finished {
		res.Took = max(res.Took, at.Sub(start))
	}
	res.Statuses = w.statuses
	w.mu.Unlock()
	res.Workers = readWorkerLoad().since(load)
	cpuAfter, err := readCPU()
	if err != nil {
		return res, err
	}
	res.CPU = cpuAfter.Sub(cpu)
	res.Requests = mgr.counter.snapshot()
	res.StubLatency = h.stubLatency(ctx, res.Requests.Injected)
	res.StatusLag, err = h.statusLag(ctx, run.Namespace, uids, w)
	return res, err
}

// createJobs creates the run's jobs, a few at a time, and returns their names by UID.
func (h *Harness) createJobs(ctx context.Context, run ManyRun) (map[types.UID]string, error) {
	uids := make(map[types.UID]string, len(run.Labels))
	var mu sync.Mutex
	var errs []error
	next := make(chan int)
	var wg sync.WaitGroup
	for range createWorkers {
		wg.Go(func() {
			for i := range next {
				job := benchJob(run.Namespace, run.Labels[i], map[string]string{manyLabel: run.Labels[i]}, run.Parallelism)
				err := h.Client.Create(ctx, job)
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("creating job %s: %w", job.Name, err))
				} else {
					uids[job.UID] = job.Name
				}
				mu.Unlock()
			}
		})
	}
	for i := range run.Labels {
		next <- i
	}
	close(next)
	wg.Wait()
	return uids, errors.Join(errs...)
}

// statusLag matches each target's end, as the stand-in wrote it, with the first status of
// its job that counted its index as finished.
func (h *Harness) statusLag(ctx context.Context, ns string, jobOf map[types.UID]string, w *jobWatch) ([]time.Duration, error) {
	pods, err := h.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing the pods of %s: %w", ns, err)
	}
	_, finished := h.stubTimes()
	w.mu.Lock()
	defer w.mu.Unlock()
	var lag []time.Duration
	for i := range pods.Items {
		pod := &pods.Items[i]
		for _, uid := range podstate.JobUIDs(pod) {
			idx, ok := podstate.Index(pod, uid)
			end, ended := finished[pod.Namespace+"/"+pod.Name]
			shown, counted := w.shown[jobOf[uid]][idx]
			if ok && ended && counted {
				lag = append(lag, shown.Sub(end))
			}
		}
	}
	return lag, nil
}

// manyLabel is the key of the many jobs' selectors.
const manyLabel = "many-job"

// manyPods returns, for jobs jobs of perJob pods each, the values of the jobs' selectors
// and the labels of each pod beside base: pod i belongs to job i / perJob, the pods past
// jobs*perJob to none.
func manyPods(jobs, perJob int, base map[string]string) (labels []string, labelsFor func(int) map[string]string) {
	for j := range jobs {
		labels = append(labels, fmt.Sprintf("many-%03d", j))
	}
	return labels, func(i int) map[string]string {
		out := maps.Clone(base)
		if out == nil {
			out = map[string]string{}
		}
		if i < jobs*perJob {
			out[manyLabel] = labels[i/perJob]
		}
		return out
	}
}
