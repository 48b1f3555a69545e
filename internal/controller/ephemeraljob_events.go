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

package controller

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
)

// podEventHandler hands each pod event to the jobs it matters to: the pod goes into each
// job's inbox, and the job is queued. Events that can free a slot or start an injection
// queue the job at once; the others (a container started, a count moved) wait
// EventBatchDelay, so that a burst of them makes one pass.
//
// Every pod event of the manager goes through the handler, one at a time, so it looks only
// at what the reconciler keeps of the jobs of the pod's namespace, with no copy of them: the
// jobs holding containers in the pod, and those whose selector matches it (before or after
// the event) that still take targets. A job the reconciler has no state for is left out:
// its own event queues its first pass, which reads every pod it needs from the cache.
type podEventHandler struct{ r *EphemeralJobReconciler }

type podQueue = workqueue.TypedRateLimitingInterface[reconcile.Request]

func (h *podEventHandler) Create(ctx context.Context, e event.TypedCreateEvent[client.Object], q podQueue) {
	h.handle(ctx, nil, e.Object, false, q)
}

func (h *podEventHandler) Update(ctx context.Context, e event.TypedUpdateEvent[client.Object], q podQueue) {
	h.handle(ctx, e.ObjectOld, e.ObjectNew, false, q)
}

func (h *podEventHandler) Delete(ctx context.Context, e event.TypedDeleteEvent[client.Object], q podQueue) {
	h.handle(ctx, nil, e.Object, true, q)
}

func (h *podEventHandler) Generic(ctx context.Context, e event.TypedGenericEvent[client.Object], q podQueue) {
	h.handle(ctx, nil, e.Object, false, q)
}

func (h *podEventHandler) handle(_ context.Context, oldObj, obj client.Object, deleted bool, q podQueue) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	oldPod, _ := oldObj.(*corev1.Pod)
	r := h.r
	key := client.ObjectKeyFromObject(pod)
	for _, j := range r.jobsFor(pod, oldPod) {
		j.state.note(pod.UID, key)
		req := reconcile.Request{NamespacedName: j.key}
		if r.EventBatchDelay < 0 || h.urgent(j.state, pod, j.owns, deleted) {
			q.Add(req)
		} else {
			q.AddAfter(req, r.EventBatchDelay)
		}
	}
}

// podJob is a job a pod event matters to.
type podJob struct {
	key   types.NamespacedName
	state *jobState
	// owns is set when the pod holds containers of the job.
	owns bool
}

// jobsFor returns the jobs of the pod's namespace that a pod event matters to: those whose
// containers the pod holds, and those that select the pod (with its labels before or after
// the event) and still take targets. It costs one selector match per job of the namespace
// that the reconciler knows.
func (r *EphemeralJobReconciler) jobsFor(pod, oldPod *corev1.Pod) []podJob {
	owners := podstate.JobUIDs(pod)
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []podJob
	for key, s := range r.byNamespace[pod.Namespace] {
		if owns := slices.Contains(owners, s.uid); owns || s.selects(pod, oldPod) {
			out = append(out, podJob{key: key, state: s, owns: owns})
		}
	}
	return out
}

// selects reports whether the job selects the pod, with its labels now or before the
// event, and still takes targets.
func (s *jobState) selects(pod, oldPod *corev1.Pod) bool {
	s.mu.Lock()
	sel, finished := s.selector, s.finished
	s.mu.Unlock()
	if finished || sel.err != nil || sel.selector == nil {
		return false
	}
	return sel.selector.Matches(labels.Set(pod.Labels)) || (oldPod != nil && sel.selector.Matches(labels.Set(oldPod.Labels)))
}

// urgent reports whether the event may let the job act at once: a target finished or its
// pod went away (a slot frees), or a pod may be targeted while a slot is free.
func (h *podEventHandler) urgent(s *jobState, pod *corev1.Pod, owns, deleted bool) bool {
	if deleted {
		return owns
	}
	if owns {
		res, _ := podstate.Evaluate(pod, s.uid)
		return res.Outcome.IsFinished()
	}
	s.mu.Lock()
	free := s.freeSlots
	s.mu.Unlock()
	return free && pod.Status.Phase == corev1.PodRunning
}

// podChangePredicate passes pod updates that can change a job: labels, phase, deletion,
// ephemeral containers and their statuses.
func podChangePredicate() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldPod, ok1 := e.ObjectOld.(*corev1.Pod)
			newPod, ok2 := e.ObjectNew.(*corev1.Pod)
			if !ok1 || !ok2 {
				return false
			}
			return !equality.Semantic.DeepEqual(oldPod.Labels, newPod.Labels) ||
				oldPod.Status.Phase != newPod.Status.Phase ||
				(oldPod.DeletionTimestamp == nil) != (newPod.DeletionTimestamp == nil) ||
				len(oldPod.Spec.EphemeralContainers) != len(newPod.Spec.EphemeralContainers) ||
				!equality.Semantic.DeepEqual(oldPod.Status.EphemeralContainerStatuses, newPod.Status.EphemeralContainerStatuses)
		},
	}
}
