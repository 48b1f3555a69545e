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
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/controller"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/manager"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
)

// JobRun describes one timed job.
type JobRun struct {
	Namespace string
	// Pods are the Running pods the job selects: those labelled Selector.
	Pods        []*corev1.Pod
	Selector    map[string]string
	Parallelism int32
	// Recorder, when set, runs the MySQL recorder in the manager with these settings.
	Recorder *recorder.Config
	// WatchRows, when set, reads the recorder's pod rows while the job runs to measure their lag.
	WatchRows *RowWatcher
	// Timeout bounds the wait for the job to finish.
	Timeout time.Duration
	// TargetContainer, when set, replaces the container the job's template targets: a name
	// the pods don't have makes every pod refuse injection.
	TargetContainer string
}

// JobResult is what one timed job showed.
type JobResult struct {
	// Took is the time from the job's creation to the controller reporting it Succeeded or Failed.
	Took     time.Duration
	Status   appsv1alpha1.EphemeralJobStatus
	Requests requestCounts
	// StubLatency is, per pod, the time from its injection returning to the stand-in's
	// terminated status being written.
	StubLatency []time.Duration
	Rows        *RowStats
}

// benchManager is a manager as cmd/main.go runs it (same cache transform and client rate
// limits), with its requests counted, started and synced.
type benchManager struct {
	counter *requestCounter
	stop    context.CancelFunc
	done    chan error
}

// startManager starts a manager and waits until its pod and job caches synced; the
// requests counted from then on are the steady state's.
func (h *Harness) startManager(ctx context.Context, opts manager.Options) (*benchManager, error) {
	cfg := rest.CopyConfig(h.Config)
	cfg.QPS, cfg.Burst = controller.DefaultClientQPS, controller.DefaultClientBurst
	m := &benchManager{counter: newRequestCounter(), done: make(chan error, 1)}
	cfg.Wrap(m.counter.wrap)
	mgrCtx, stop := context.WithCancel(ctx)
	m.stop = stop
	mgr, err := manager.New(mgrCtx, cfg, ctrl.Options{
		Scheme:                 Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: new(true)},
	}, opts)
	if err != nil {
		stop()
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	go func() { m.done <- mgr.Start(mgrCtx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return nil, errors.Join(errors.New("waiting for the manager's cache to start"), m.Stop())
	}
	for _, obj := range []client.Object{&corev1.Pod{}, &appsv1alpha1.EphemeralJob{}} {
		if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
			return nil, errors.Join(fmt.Errorf("waiting for the manager's cache: %w", err), m.Stop())
		}
	}
	m.counter.markSteady()
	return m, nil
}

// Stop stops the manager and returns what its Start returned.
func (m *benchManager) Stop() error {
	m.stop()
	if err := <-m.done; err != nil {
		return fmt.Errorf("running the manager: %w", err)
	}
	return nil
}

// benchJob is the job every timed run creates: the check container in the pods labelled
// selector, parallelism at a time.
func benchJob(ns, name string, selector map[string]string, parallelism int32) *appsv1alpha1.EphemeralJob {
	return &appsv1alpha1.EphemeralJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1alpha1.EphemeralJobSpec{
			Selector:    &metav1.LabelSelector{MatchLabels: selector},
			Parallelism: &parallelism,
			Template: appsv1alpha1.EphemeralContainerTemplateSpec{
				EphemeralContainers: []corev1.EphemeralContainer{checkContainer()}},
		},
	}
}

// RunJob starts a manager like cmd/main.go's (same cache transform and client rate
// limits, requests counted), creates an EphemeralJob selecting the pods and waits until
// it finished.
func (h *Harness) RunJob(ctx context.Context, run JobRun) (res JobResult, err error) {
	opts := manager.Options{}
	if run.Recorder != nil {
		opts.MySQL = run.Recorder
	}
	mgr, err := h.startManager(ctx, opts)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, mgr.Stop()) }()

	if run.WatchRows != nil {
		if err := run.WatchRows.Start(ctx, run.Pods); err != nil {
			return res, err
		}
	}
	job := benchJob(run.Namespace, "bench", run.Selector, run.Parallelism)
	if run.TargetContainer != "" {
		job.Spec.Template.EphemeralContainers[0].TargetContainerName = run.TargetContainer
	}
	start := time.Now()
	if err := h.Client.Create(ctx, job); err != nil {
		return res, fmt.Errorf("creating the job: %w", err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, run.Timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !job.Status.Phase.IsFinished() {
		select {
		case <-waitCtx.Done():
			return res, fmt.Errorf("waiting for the job to finish (status %+v): %w", job.Status, waitCtx.Err())
		case <-tick.C:
		}
		if err := h.Client.Get(ctx, client.ObjectKeyFromObject(job), job); err != nil {
			return res, fmt.Errorf("reading the job: %w", err)
		}
	}
	res.Took = time.Since(start)
	res.Status = job.Status
	if run.WatchRows != nil {
		stats, err := run.WatchRows.Finish(ctx, h, 60*time.Second)
		if err != nil {
			return res, err
		}
		res.Rows = &stats
	}
	res.Requests = mgr.counter.snapshot()
	res.StubLatency = h.stubLatency(ctx, res.Requests.Injected)
	return res, nil
}

// stubLatency returns, per injected pod, the time from its injection returning to the
// stand-in's terminated status being written.
func (h *Harness) stubLatency(ctx context.Context, injected map[string]time.Time) []time.Duration {
	h.waitStub(ctx, injected)
	_, finished := h.stubTimes()
	var out []time.Duration
	for key, at := range injected {
		if f, ok := finished[key]; ok && !f.Before(at) {
			out = append(out, f.Sub(at))
		}
	}
	return out
}
