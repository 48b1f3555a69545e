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
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// FloorMode is how the bare client paces its injections.
type FloorMode string

const (
	// FloorBatches injects into parallelism pods, waits until the stand-in finished all
	// of them, then goes on with the next ones.
	FloorBatches FloorMode = "batches"
	// FloorWindow keeps parallelism pods unfinished at all times: a pod is injected as
	// soon as another one finished, as the controller is allowed to.
	FloorWindow FloorMode = "window"
)

// Floor does, with a bare client and no controller, the writes a job makes: it injects
// the job's container into every pod, parallelism at a time, watching the pods to learn
// when the stand-in finished them. It returns the time from the first injection to the
// last pod finished, and per pod the time from its injection returning to the stand-in's
// terminated status being written.
func (h *Harness) Floor(ctx context.Context, ns string, pods []*corev1.Pod, parallelism int,
	mode FloorMode) (time.Duration, []time.Duration, error) {
	return h.floor(ctx, ns, [][]*corev1.Pod{pods}, parallelism, mode)
}

// FloorMany does, with a bare client, the writes of as many jobs as there are groups,
// created at once: each group of pods is a job's, injected parallelism at a time in a
// sliding window of its own, every window in flight together. It returns the time from
// the first injection to the last pod of any group finished, and per pod the time from
// its injection returning to the stand-in's terminated status being written.
func (h *Harness) FloorMany(ctx context.Context, ns string, groups [][]*corev1.Pod,
	parallelism int) (time.Duration, []time.Duration, error) {
	return h.floor(ctx, ns, groups, parallelism, FloorWindow)
}

// floor injects into every group's pods at once, each group paced by its own slots.
func (h *Harness) floor(ctx context.Context, ns string, groups [][]*corev1.Pod, parallelism int,
	mode FloorMode) (time.Duration, []time.Duration, error) {
	total := 0
	for _, g := range groups {
		total += len(g)
	}
	done := make(map[string]chan struct{}, total)
	// A pod injected before finished its earlier containers: it is done once it holds one
	// more, all terminated.
	before := make(map[string]int, total)
	for _, g := range groups {
		for _, p := range g {
			done[p.Name] = make(chan struct{})
			before[p.Name] = len(p.Spec.EphemeralContainers)
		}
	}
	var closeMu sync.Mutex
	closed := map[string]bool{}
	check := func(obj any) {
		pod, ok := obj.(*corev1.Pod)
		if !ok || len(pod.Spec.EphemeralContainers) <= before[pod.Name] {
			return
		}
		finished := len(pod.Status.EphemeralContainerStatuses) == len(pod.Spec.EphemeralContainers)
		for _, st := range pod.Status.EphemeralContainerStatuses {
			finished = finished && st.State.Terminated != nil
		}
		closeMu.Lock()
		defer closeMu.Unlock()
		if ch := done[pod.Name]; finished && ch != nil && !closed[pod.Name] {
			closed[pod.Name] = true
			close(ch)
		}
	}
	factory := informers.NewSharedInformerFactoryWithOptions(h.Clientset, 0, informers.WithNamespace(ns))
	informer := factory.Core().V1().Pods().Informer()
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: check, UpdateFunc: func(_, obj any) { check(obj) },
	}); err != nil {
		return 0, nil, err
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	factory.Start(watchCtx.Done())
	if !cache.WaitForCacheSync(watchCtx.Done(), informer.HasSynced) {
		return 0, nil, fmt.Errorf("watching the pods of %s: %w", ns, ctx.Err())
	}

	errs := make(chan error, total+len(groups))
	var injectedMu sync.Mutex
	injected := make(map[string]time.Time, total)
	var groupsDone sync.WaitGroup
	start := time.Now()
	for _, pods := range groups {
		groupsDone.Go(func() {
			slots := make(chan struct{}, parallelism)
			var wg sync.WaitGroup
			defer wg.Wait()
			for i := 0; i < len(pods); i += parallelism {
				batch := pods[i:min(i+parallelism, len(pods))]
				for j, pod := range batch {
					select {
					case slots <- struct{}{}:
					case <-ctx.Done():
						errs <- ctx.Err()
						return
					}
					wg.Go(func() {
						defer func() { <-slots }()
						if err := h.inject(ctx, pod, i+j); err != nil {
							errs <- err
							return
						}
						injectedMu.Lock()
						injected[pod.Namespace+"/"+pod.Name] = time.Now()
						injectedMu.Unlock()
						select {
						case <-done[pod.Name]:
						case <-ctx.Done():
							errs <- ctx.Err()
						}
					})
				}
				if mode == FloorBatches {
					wg.Wait()
				}
			}
		})
	}
	groupsDone.Wait()
	took := time.Since(start)
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if len(all) == 0 {
		all = append(all, h.checkFinished(ctx, ns, before))
	}
	return took, h.stubLatency(ctx, injected), errors.Join(all...)
}

// checkFinished checks what the floor saw: each pod holds one container more than before
// it, every one terminated.
func (h *Harness) checkFinished(ctx context.Context, ns string, before map[string]int) error {
	list, err := h.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing the pods of %s: %w", ns, err)
	}
	seen := 0
	for _, pod := range list.Items {
		n, ok := before[pod.Name]
		if !ok {
			continue
		}
		seen++
		terminated := 0
		for _, st := range pod.Status.EphemeralContainerStatuses {
			if st.State.Terminated != nil {
				terminated++
			}
		}
		if len(pod.Spec.EphemeralContainers) != n+1 || terminated != n+1 {
			return fmt.Errorf("the floor finished, but pod %s/%s holds %d ephemeral containers, %d terminated; want %d",
				ns, pod.Name, len(pod.Spec.EphemeralContainers), terminated, n+1)
		}
	}
	if seen != len(before) {
		return fmt.Errorf("the floor finished, but %d of its %d pods are gone from %s", len(before)-seen, len(before), ns)
	}
	return nil
}

// inject adds the job's container to the pod, reading the pod again after a conflict.
func (h *Harness) inject(ctx context.Context, pod *corev1.Pod, index int) error {
	pods, name := h.Clientset.CoreV1().Pods(pod.Namespace), pod.Name
	for {
		updated := pod.DeepCopy()
		c := floorContainers("floor", "00000000-0000-0000-0000-000000000000", index)
		// A pod a job injected before holds its container's name already.
		if n := len(updated.Spec.EphemeralContainers); n > 0 {
			c[0].Name = fmt.Sprintf("%s-%d", c[0].Name, n)
		}
		updated.Spec.EphemeralContainers = append(updated.Spec.EphemeralContainers, c...)
		_, err := pods.UpdateEphemeralContainers(ctx, name, updated, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) {
			if err != nil {
				return fmt.Errorf("injecting into pod %s: %w", name, err)
			}
			return nil
		}
		if pod, err = pods.Get(ctx, name, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("reading pod %s: %w", name, err)
		}
	}
}
