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

// Package controller holds the EphemeralJob reconciler: it selects pods, injects the
// job's ephemeral containers into them a few at a time, and reports their progress.
package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
)

// PodOwnerIndex indexes pods by the UIDs of the jobs that own containers in them.
const PodOwnerIndex = "ephemeraljob.kruise.io/owner-uid"

// conflictRetryDelay is how soon a job is looked at again after a pod changed under an injection.
const conflictRetryDelay = 200 * time.Millisecond

// EphemeralJobReconciler turns EphemeralJobs into ephemeral containers in the pods they select.
type EphemeralJobReconciler struct {
	client.Client
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	// StatusWriteInterval is how often, at most, a running job's status is written when
	// only its counts changed (see statusWriteDelay). Zero means DefaultStatusWriteInterval;
	// a negative value writes every change at once.
	StatusWriteInterval time.Duration

	mu sync.Mutex
	// pending holds, per job UID, injections the cache does not show yet.
	pending map[types.UID]map[types.UID]pendingInjection
	// unwritten holds, per job, the results of a status held back and when it was last written.
	unwritten map[types.NamespacedName]unwrittenResults
	// selectors caches each job's parsed selector, by job.
	selectors map[types.NamespacedName]parsedSelector
}

// +kubebuilder:rbac:groups=apps.kruise.io,resources=ephemeraljobs,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=apps.kruise.io,resources=ephemeraljobs/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods/ephemeralcontainers,verbs=update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one job a step forward: it expires it when a TTL ran out, otherwise it
// assesses its targets, injects as many as parallelism allows, and writes the status once.
func (r *EphemeralJobReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	job := &appsv1alpha1.EphemeralJob{}
	if err := r.Get(ctx, req.NamespacedName, job); err != nil {
		if apierrors.IsNotFound(err) {
			r.forgetJob(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if job.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	now := r.Clock.Now()
	// written is the job as the API server has it; job adds the results of a status
	// held back by write coalescing.
	written := job
	job, err := r.withUnwritten(written)
	if err != nil {
		return ctrl.Result{}, err
	}

	if expired, _ := expiry(job, &job.Status, now); expired {
		return ctrl.Result{}, r.deleteExpired(ctx, job)
	}

	selector, err := r.selectorOf(job)
	if err != nil {
		return ctrl.Result{}, r.reconcileInvalid(ctx, written, err)
	}

	obs, err := r.observe(ctx, job, selector)
	if err != nil {
		return ctrl.Result{}, err
	}
	start := now
	if job.Status.StartTime != nil {
		start = job.Status.StartTime.Time
	}
	acceptNew := !job.Status.Phase.IsFinished() && !deadlinePassed(job, &metav1.Time{Time: start}, now)
	a, err := assess(obs, acceptNew)
	if err != nil {
		return ctrl.Result{}, err
	}

	work := job.DeepCopy()
	var result ctrl.Result
	var injectErr error
	if acceptNew && !job.Spec.Paused {
		var retry bool
		a, retry, injectErr = r.reconcileInjections(ctx, work, obs, a)
		if retry {
			result.RequeueAfter = conflictRetryDelay
		}
	}

	work.Status = computeStatus(work, a, now)
	if wait := statusWriteDelay(&written.Status, &work.Status, a, r.sinceStatusWrite(written, now),
		r.StatusWriteInterval); wait > 0 {
		r.holdStatus(written, &work.Status)
		if result.RequeueAfter == 0 || wait < result.RequeueAfter {
			result.RequeueAfter = wait
		}
		return result, injectErr
	}
	wrote, err := r.writeStatus(ctx, written, work)
	if err != nil {
		if apierrors.IsConflict(err) && injectErr == nil {
			// The cache had not caught up with the job yet: look again with the new version.
			return ctrl.Result{RequeueAfter: conflictRetryDelay}, nil
		}
		return ctrl.Result{}, errors.Join(injectErr, err)
	}
	r.statusWritten(written, now, wrote)
	r.emitEvents(written, work)
	observePhase(written, work.Status.Phase)

	if _, after := expiry(work, &work.Status, now); after > 0 && (result.RequeueAfter == 0 || after < result.RequeueAfter) {
		result.RequeueAfter = after
	}
	return result, injectErr
}

// observe reads from the cache the pods that matter to the job, and settles its pending injections.
func (r *EphemeralJobReconciler) observe(ctx context.Context, job *appsv1alpha1.EphemeralJob,
	selector labels.Selector) (observation, error) {
	obs := observation{job: job}
	var selected, owned corev1.PodList
	if err := r.List(ctx, &selected, client.InNamespace(job.Namespace),
		client.MatchingLabelsSelector{Selector: selector}, client.UnsafeDisableDeepCopy); err != nil {
		return obs, fmt.Errorf("listing selected pods: %w", err)
	}
	if err := r.List(ctx, &owned, client.InNamespace(job.Namespace),
		client.MatchingFields{PodOwnerIndex: string(job.UID)}, client.UnsafeDisableDeepCopy); err != nil {
		return obs, fmt.Errorf("listing pods holding the job's containers: %w", err)
	}
	obs.selected = podPointers(selected.Items)
	obs.owned = podPointers(owned.Items)

	r.mu.Lock()
	defer r.mu.Unlock()
	pending := r.pending[job.UID]
	for _, pod := range obs.owned {
		delete(pending, pod.UID)
	}
	if len(pending) > 0 {
		inCache := map[types.UID]bool{}
		for _, pod := range obs.selected {
			inCache[pod.UID] = true
		}
		for uid := range pending {
			if !inCache[uid] {
				// Gone or relabelled before the cache showed the injection: the job's
				// recorded status keeps the target; a relabelled pod shows up as owned.
				delete(pending, uid)
			}
		}
	}
	obs.pending = make(map[types.UID]pendingInjection, len(pending))
	for uid, p := range pending {
		obs.pending[uid] = p
	}
	return obs, nil
}

// reconcileInjections injects the planned pods. A pod the job can't go into is recorded as
// refused, and the pass ends there so that the refusal, which only the status remembers,
// is written before any later index is used by an injection; the next pass goes on with
// the others, so a refused pod never blocks them. It returns the new assessment, whether
// to look again soon (a pod changed under us, or a refusal ended the pass), and any other error.
func (r *EphemeralJobReconciler) reconcileInjections(ctx context.Context, work *appsv1alpha1.EphemeralJob,
	obs observation, a assessment) (assessment, bool, error) {
	log := logf.FromContext(ctx)
	obs.job = work
	var retry bool
	var errs []error
	for {
		plan := planInjections(work, a)
		if len(plan) == 0 {
			return a, retry, errors.Join(errs...)
		}
		pod, index := plan[0], int32(len(a.targets))
		err := r.inject(ctx, work, pod, index)
		var refusal *refusalError
		switch {
		case err == nil:
			log.V(1).Info("injected", "pod", klog.KObj(pod), "index", index)
			r.expect(work.UID, pod, index)
			obs.pending[pod.UID] = pendingInjection{Index: index, Name: pod.Name}
		case errors.As(err, &refusal):
			work.Status.Refused = append(work.Status.Refused, appsv1alpha1.RefusedPod{
				Index: index, Name: pod.Name, UID: pod.UID, Reason: refusal.reason, Message: refusal.message,
			})
			a, err = assess(obs, true)
			return a, true, errors.Join(append(errs, err)...)
		default:
			// The pod changed or went away since the cache saw it, or the API server failed:
			// leave it for the next pass and go on with the others.
			if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
			retry = true
			obs.selected = slices.DeleteFunc(slices.Clone(obs.selected), func(p *corev1.Pod) bool { return p.UID == pod.UID })
		}
		if a, err = assess(obs, true); err != nil {
			return a, retry, err
		}
	}
}

// refusalError is an injection the pod or the API server refuses for good.
type refusalError struct{ reason, message string }

func (e *refusalError) Error() string { return e.message }

// inject adds the job's containers to the pod through the ephemeralcontainers subresource.
// The update carries the pod's resourceVersion, so a concurrent change is a conflict, never
// a lost or duplicated container.
func (r *EphemeralJobReconciler) inject(ctx context.Context, job *appsv1alpha1.EphemeralJob, pod *corev1.Pod, index int32) error {
	if reason, message := checkInjectable(job, pod); reason != "" {
		injections.WithLabelValues(reason).Inc()
		return &refusalError{reason: reason, message: message}
	}
	updated := pod.DeepCopy()
	updated.Spec.EphemeralContainers = append(updated.Spec.EphemeralContainers, containersFor(job, index)...)
	err := r.SubResource("ephemeralcontainers").Update(ctx, updated)
	switch {
	case err == nil:
		injections.WithLabelValues("Injected").Inc()
		injectionDelay.Observe(r.Clock.Since(job.CreationTimestamp.Time).Seconds())
		return nil
	case apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || apierrors.IsBadRequest(err):
		injections.WithLabelValues(appsv1alpha1.ReasonInjectionRefused).Inc()
		return &refusalError{reason: appsv1alpha1.ReasonInjectionRefused,
			message: fmt.Sprintf("pod %s refused the containers: %v", pod.Name, err)}
	case apierrors.IsConflict(err):
		injections.WithLabelValues("Conflict").Inc()
		return err
	default:
		injections.WithLabelValues("Error").Inc()
		return fmt.Errorf("injecting into pod %s: %w", pod.Name, err)
	}
}

// writeStatus patches the status when it changed, guarded by the resourceVersion read at
// the start, so counts are never computed from a stale job.
// It reports whether it wrote.
func (r *EphemeralJobReconciler) writeStatus(ctx context.Context, old, work *appsv1alpha1.EphemeralJob) (bool, error) {
	if equality.Semantic.DeepEqual(old.Status, work.Status) {
		return false, nil
	}
	patch := client.MergeFromWithOptions(old, client.MergeFromWithOptimisticLock{})
	if err := r.Status().Patch(ctx, work, patch); err != nil {
		return false, fmt.Errorf("writing status: %w", err)
	}
	return true, nil
}

// reconcileInvalid reports a job that cannot run at all.
func (r *EphemeralJobReconciler) reconcileInvalid(ctx context.Context, job *appsv1alpha1.EphemeralJob, cause error) error {
	work := job.DeepCopy()
	work.Status.Phase = appsv1alpha1.EphemeralJobError
	work.Status.ObservedGeneration = job.Generation
	setConditions(&work.Status, job.Generation, appsv1alpha1.EphemeralJobError, appsv1alpha1.ReasonInvalidSelector,
		"spec.selector: "+cause.Error())
	if _, err := r.writeStatus(ctx, job, work); err != nil {
		return err
	}
	if job.Status.Phase != appsv1alpha1.EphemeralJobError {
		r.Recorder.Eventf(job, nil, corev1.EventTypeWarning, appsv1alpha1.ReasonInvalidSelector, "Validate",
			"spec.selector: %v", cause)
	}
	observePhase(job, work.Status.Phase)
	return nil
}

// deleteExpired deletes a job whose TTL ran out; the precondition keeps a recreated job with the same name safe.
func (r *EphemeralJobReconciler) deleteExpired(ctx context.Context, job *appsv1alpha1.EphemeralJob) error {
	err := r.Delete(ctx, job, client.Preconditions{UID: &job.UID}, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting expired job: %w", err)
	}
	logf.FromContext(ctx).V(1).Info("deleted expired job")
	return nil
}

// emitEvents reports refusals and completion, once each, after the status that records them was written.
func (r *EphemeralJobReconciler) emitEvents(old, work *appsv1alpha1.EphemeralJob) {
	for _, refused := range work.Status.Refused[len(old.Status.Refused):] {
		r.Recorder.Eventf(work, nil, corev1.EventTypeWarning, refused.Reason, "Inject", "%s", refused.Message)
	}
	if work.Status.Phase.IsFinished() && !old.Status.Phase.IsFinished() {
		typ := corev1.EventTypeNormal
		if work.Status.Phase == appsv1alpha1.EphemeralJobFailed {
			typ = corev1.EventTypeWarning
		}
		if c := meta.FindStatusCondition(work.Status.Conditions, appsv1alpha1.ConditionComplete); c != nil {
			r.Recorder.Eventf(work, nil, typ, c.Reason, "Complete", "%s", c.Message)
		}
	}
}

func (r *EphemeralJobReconciler) expect(jobUID types.UID, pod *corev1.Pod, index int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending[jobUID] == nil {
		r.pending[jobUID] = map[types.UID]pendingInjection{}
	}
	r.pending[jobUID][pod.UID] = pendingInjection{Index: index, Name: pod.Name}
}

// forgetJob drops what the reconciler remembers of a deleted job.
func (r *EphemeralJobReconciler) forgetJob(key types.NamespacedName) {
	forgetPhase(key)
	r.mu.Lock()
	delete(r.unwritten, key)
	delete(r.selectors, key)
	r.mu.Unlock()
	// Pending injections are keyed by UID, which a deleted job no longer tells; entries of
	// jobs that are gone are dropped when their pods show up, and are few (parallelism at most).
}

func podPointers(items []corev1.Pod) []*corev1.Pod {
	out := make([]*corev1.Pod, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// SetupWithManager registers the reconciler, the pod index it reads, and its watches.
func (r *EphemeralJobReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.StatusWriteInterval == 0 {
		r.StatusWriteInterval = DefaultStatusWriteInterval
	}
	r.pending = map[types.UID]map[types.UID]pendingInjection{}
	r.unwritten = map[types.NamespacedName]unwrittenResults{}
	r.selectors = map[types.NamespacedName]parsedSelector{}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.Pod{}, PodOwnerIndex, func(o client.Object) []string {
		uids := podstate.JobUIDs(o.(*corev1.Pod))
		out := make([]string, len(uids))
		for i, u := range uids {
			out[i] = string(u)
		}
		return out
	}); err != nil {
		return fmt.Errorf("indexing pods by owning job: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&appsv1alpha1.EphemeralJob{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.jobsForPod),
			builder.WithPredicates(podChangePredicate())).
		Named("ephemeraljob").
		Complete(r)
}

// jobsForPod maps a pod to the jobs of its namespace that select it or own containers in it.
func (r *EphemeralJobReconciler) jobsForPod(ctx context.Context, o client.Object) []reconcile.Request {
	pod, ok := o.(*corev1.Pod)
	if !ok {
		return nil
	}
	var jobs appsv1alpha1.EphemeralJobList
	if err := r.List(ctx, &jobs, client.InNamespace(pod.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		logf.FromContext(ctx).Error(err, "listing jobs for a pod event", "pod", klog.KObj(pod))
		return nil
	}
	owners := map[types.UID]bool{}
	for _, uid := range podstate.JobUIDs(pod) {
		owners[uid] = true
	}
	podLabels := labels.Set(pod.Labels)
	var reqs []reconcile.Request
	for i := range jobs.Items {
		job := &jobs.Items[i]
		if !owners[job.UID] {
			sel, err := r.selectorOf(job)
			if err != nil || !sel.Matches(podLabels) {
				continue
			}
			if job.Status.Phase.IsFinished() {
				continue // a finished job takes no new targets
			}
		}
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(job)})
	}
	return reqs
}

// parsedSelector is a job's selector, parsed for one generation of its spec.
type parsedSelector struct {
	uid        types.UID
	generation int64
	selector   labels.Selector
	err        error
}

// selectorOf returns the job's selector, parsed once per generation. An empty selector
// is an error: it would pick every pod of the namespace.
func (r *EphemeralJobReconciler) selectorOf(job *appsv1alpha1.EphemeralJob) (labels.Selector, error) {
	key := types.NamespacedName{Namespace: job.Namespace, Name: job.Name}
	r.mu.Lock()
	p, ok := r.selectors[key]
	r.mu.Unlock()
	if ok && p.uid == job.UID && p.generation == job.Generation {
		return p.selector, p.err
	}
	p = parsedSelector{uid: job.UID, generation: job.Generation}
	p.selector, p.err = metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if p.err == nil && p.selector.Empty() {
		p.err = errors.New("an empty selector would pick every pod in the namespace")
	}
	r.mu.Lock()
	r.selectors[key] = p
	r.mu.Unlock()
	return p.selector, p.err
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
