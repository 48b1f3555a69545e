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
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
)

// podEventHandler hands each pod event to the jobs it matters to: the pod goes into each
// job's inbox, and the job is queued. Events that can free a slot or start an injection
// queue the job at once; the others (a container started, a count moved) wait
// EventBatchDelay, so that a burst of them makes one pass.
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

func (h *podEventHandler) handle(ctx context.Context, oldObj, obj client.Object, deleted bool, q podQueue) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	oldPod, _ := oldObj.(*corev1.Pod)
	r := h.r
	var jobs appsv1alpha1.EphemeralJobList
	if err := r.List(ctx, &jobs, client.InNamespace(pod.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		logf.FromContext(ctx).Error(err, "listing jobs for a pod event", "pod", klog.KObj(pod))
		return
	}
	owners := podstate.JobUIDs(pod)
	key := client.ObjectKeyFromObject(pod)
	for i := range jobs.Items {
		job := &jobs.Items[i]
		owns := slices.Contains(owners, job.UID)
		if !owns {
			// The parsed selector is kept only for a job the reconciler knows: one the cache
			// still lists after it was deleted and forgotten must not come back.
			sel, err := r.selector(job, true)
			if err != nil {
				continue
			}
			selects := sel.Matches(labels.Set(pod.Labels)) || (oldPod != nil && sel.Matches(labels.Set(oldPod.Labels)))
			if !selects || job.Status.Phase.IsFinished() {
				continue // a finished job takes no new targets
			}
		}
		req := reconcile.Request{NamespacedName: client.ObjectKeyFromObject(job)}
		s := r.existingState(req.NamespacedName, job.UID)
		if s == nil {
			q.Add(req) // the job's first pass reads every pod it needs
			continue
		}
		s.note(pod.UID, key)
		if r.EventBatchDelay < 0 || h.urgent(s, job, pod, owns, deleted) {
			q.Add(req)
		} else {
			q.AddAfter(req, r.EventBatchDelay)
		}
	}
}

// urgent reports whether the event may let the job act at once: a target finished or its
// pod went away (a slot frees), or a pod may be targeted while a slot is free.
func (h *podEventHandler) urgent(s *jobState, job *appsv1alpha1.EphemeralJob, pod *corev1.Pod, owns, deleted bool) bool {
	if deleted {
		return owns
	}
	if owns {
		res, _ := podstate.Evaluate(pod, job.UID)
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
