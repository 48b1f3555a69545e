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
	"sync"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
)

// PodOwnerIndex indexes pods by the UIDs of the jobs that own containers in them.
const PodOwnerIndex = "ephemeraljob.kruise.io/owner-uid"

const (
	// retryDelay is how soon a job is looked at again after an API error or an injection
	// whose outcome is unknown.
	retryDelay = 500 * time.Millisecond
	// maxVerifyDelay bounds the backoff between fresh reads of a pod whose injection
	// outcome is unknown.
	maxVerifyDelay = 10 * time.Second
	// maxWriteInFlight is how long after it was sent a write whose answer was lost may still
	// be applied: the API server's default request timeout.
	maxWriteInFlight = time.Minute
	// indexBatch is how many indexes beyond the next one a status write reserves at once.
	indexBatch = 100
	// DefaultEventBatchDelay is how long pod events that only move counts wait, so that
	// many of them make one pass.
	DefaultEventBatchDelay = 300 * time.Millisecond
)

// EphemeralJobReconciler turns EphemeralJobs into ephemeral containers in the pods they select.
type EphemeralJobReconciler struct {
	client.Client
	// APIReader reads pods past the cache, to learn the outcome of an injection the API
	// server answered with a timeout. Unset means the Client.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	// StatusWriteInterval is how often, at most, a running job's status is written when
	// only its counts changed (see statusWriteDelay). Zero means DefaultStatusWriteInterval;
	// a negative value writes every change at once.
	StatusWriteInterval time.Duration
	// StatusWriteQPS is how many progress writes per second (those StatusWriteInterval
	// holds back) all jobs share: a job whose interval passed waits for its turn in that
	// budget (see progressTurn). Zero means DefaultStatusWriteQPS; a negative value leaves
	// every job its StatusWriteInterval.
	StatusWriteQPS float64
	// EventBatchDelay is how long pod events that only move counts wait before the job's
	// next pass. Zero means DefaultEventBatchDelay; a negative value passes at once.
	EventBatchDelay time.Duration
	// Leader, with leader election, says how long this process may still write (see
	// internal/leader): no pass starts and no write is sent past that. Unset means no
	// bound but the manager's life.
	Leader interface{ Left() time.Duration }
	// MaxConcurrentReconciles is how many jobs are reconciled at once (passes of one job
	// never overlap). Zero means DefaultMaxConcurrentReconciles.
	MaxConcurrentReconciles int

	// ctx bounds the injections in flight; wake queues a job whose injection was answered.
	ctx      context.Context
	wake     chan event.GenericEvent
	inFlight sync.WaitGroup

	mu sync.Mutex
	// stopped is set once the manager stops: no injection starts after it.
	stopped bool
	// jobs holds what the reconciler keeps of each job between passes; byNamespace holds the
	// same states by namespace, for the pod event handler, which looks only at the jobs of
	// the pod's namespace.
	jobs        map[types.NamespacedName]*jobState
	byNamespace map[string]map[types.NamespacedName]*jobState

	// progress hands out the turns of progress writes, StatusWriteQPS a second; nil when
	// they are not shared.
	progress *rate.Limiter
}

// jobState is what the reconciler keeps of a job between passes: its ledger, the pod
// events not handled yet, and the job as the last status write returned it.
type jobState struct {
	uid types.UID

	// mu guards what the pod event handler reads and writes: inbox, freeSlots, selector
	// and finished.
	mu sync.Mutex
	// inbox holds the pods with events since the last pass, by UID.
	inbox     map[types.UID]types.NamespacedName
	freeSlots bool
	// selector is the job's, parsed once per generation.
	selector parsedSelector
	// finished is set once the job's status shows it finished: it takes no new targets, so
	// only the pods holding its containers matter to it.
	finished bool
	// answers are the API server's answers to injections sent by earlier passes.
	answers []injectAnswer

	// The rest belongs to the job's passes, which never run concurrently.
	ledger    *ledger
	written   *appsv1alpha1.EphemeralJob
	lastWrite time.Time
	// progressAt is when the job's turn for a progress write comes; zero when it holds none.
	progressAt time.Time
}

// note records a pod event for the job's next pass.
func (s *jobState) note(uid types.UID, key types.NamespacedName) {
	s.mu.Lock()
	s.inbox[uid] = key
	s.mu.Unlock()
}

// injectAnswer is the API server's answer to one injection.
type injectAnswer struct {
	index int32
	pod   *corev1.Pod
	err   error
}

// answer records the answer to an injection for the job's next pass.
func (s *jobState) answer(a injectAnswer) {
	s.mu.Lock()
	s.answers = append(s.answers, a)
	s.mu.Unlock()
}

// takeAnswers returns the answers that came back since the last pass.
func (s *jobState) takeAnswers() []injectAnswer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.answers
	s.answers = nil
	return out
}

// drain returns the pods with events since the last pass and empties the inbox.
func (s *jobState) drain() map[types.UID]types.NamespacedName {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.inbox) == 0 {
		return nil
	}
	out := s.inbox
	s.inbox = map[types.UID]types.NamespacedName{}
	return out
}

// +kubebuilder:rbac:groups=apps.kruise.io,resources=ephemeraljobs,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=apps.kruise.io,resources=ephemeraljobs/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods/ephemeralcontainers,verbs=update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one job a step forward: read, expire, observe, inject, status, write.
func (r *EphemeralJobReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	defer func(start time.Time) { passDuration.Observe(time.Since(start).Seconds()) }(time.Now())
	left, ok := r.actFor()
	if !ok {
		// The lease may be lost: whoever leads now acts. The elector ends the process, or
		// renews the lease and the job is looked at again.
		fencedPasses.Inc()
		return ctrl.Result{RequeueAfter: retryDelay}, nil
	}
	if left > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, left)
		defer cancel()
	}
	p, err := r.read(ctx, req.NamespacedName)
	if p == nil || err != nil {
		return ctrl.Result{}, err
	}
	if expired, _ := expiry(p.job, &p.job.Status, p.now); expired {
		return ctrl.Result{}, r.deleteExpired(ctx, p.job)
	}
	if p.invalid != nil {
		return ctrl.Result{}, r.reconcileInvalid(ctx, p.job, p.invalid)
	}
	if err := r.observe(ctx, p); err != nil {
		return ctrl.Result{}, err
	}
	p.requeue(r.reconcileUnknown(ctx, p))
	p.requeue(p.ledger.expireStarts(p.job.Spec.StartDeadline(), p.now))
	if p.acceptNew {
		p.requeue(p.ledger.expirePending(startedAt(&p.job.Status, p.now).Time, p.job.Spec.StartDeadline(), p.now))
	}
	r.reconcileInjections(ctx, p)
	p.status = computeStatus(p.job, p.ledger, p.acceptNew, p.now)
	return r.reconcileStatus(ctx, p)
}

// pass is one reconcile of one job.
type pass struct {
	key   types.NamespacedName
	state *jobState
	// job is the newest version known: the cache's, or the one the last status write returned.
	job       *appsv1alpha1.EphemeralJob
	ledger    *ledger
	now       time.Time
	acceptNew bool
	invalid   error
	status    appsv1alpha1.EphemeralJobStatus
	result    ctrl.Result
	errs      []error
}

// requeue asks for the job to be looked at again after d; the lowest non-zero delay wins.
func (p *pass) requeue(d time.Duration) {
	if d > 0 && (p.result.RequeueAfter == 0 || d < p.result.RequeueAfter) {
		p.result.RequeueAfter = d
	}
}

// read builds the pass: the job, its state, and its ledger (built when first needed).
// It returns nil when there is nothing to do.
func (r *EphemeralJobReconciler) read(ctx context.Context, key types.NamespacedName) (*pass, error) {
	job := &appsv1alpha1.EphemeralJob{}
	if err := r.Get(ctx, key, job); err != nil {
		if apierrors.IsNotFound(err) {
			r.forgetJob(key)
		}
		return nil, client.IgnoreNotFound(err)
	}
	if job.DeletionTimestamp != nil {
		return nil, nil
	}
	p := &pass{key: key, now: r.Clock.Now(), state: r.stateOf(job)}
	p.job = newerJob(job, p.state.written)
	selector, err := p.state.selectorOf(p.job)
	if err != nil {
		p.invalid = err
		return p, nil
	}
	start := p.now
	if p.job.Status.StartTime != nil {
		start = p.job.Status.StartTime.Time
	}
	p.acceptNew = !p.job.Status.Phase.IsFinished() && !deadlinePassed(p.job, &metav1.Time{Time: start}, p.now)
	if l := p.state.ledger; l != nil && p.job.Status.IndexLimit > l.writtenLimit {
		if l.ownsStatus(&p.job.Status) {
			// A status write of this ledger's was applied although its answer was an error.
			l.writtenLimit = p.job.Status.IndexLimit
		} else {
			// Another writer (a former leader) moved the job on: start again from what it wrote.
			p.state.ledger = nil
		}
	}
	if p.state.ledger == nil {
		l := newLedger(p.job, selector)
		var owned, selected corev1.PodList
		if err := r.List(ctx, &owned, client.InNamespace(key.Namespace),
			client.MatchingFields{PodOwnerIndex: string(job.UID)}, client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("listing pods holding the job's containers: %w", err)
		}
		// A job that takes no new targets (finished, or past its deadline) needs no candidates:
		// its ledger holds only its results and unfinished targets.
		if p.acceptNew {
			if err := r.List(ctx, &selected, client.InNamespace(key.Namespace),
				client.MatchingLabelsSelector{Selector: selector}, client.UnsafeDisableDeepCopy); err != nil {
				return nil, fmt.Errorf("listing selected pods: %w", err)
			}
		}
		if err := l.rebuild(p.job, podPointers(owned.Items), podPointers(selected.Items), p.now); err != nil {
			return nil, err
		}
		if !p.acceptNew {
			l.forgetCandidates()
		}
		p.state.ledger = l
	}
	p.ledger = p.state.ledger
	return p, nil
}

// newerJob returns the newer of the cached job and the one the last status write returned:
// the cache may not have caught up with that write yet.
func newerJob(cached, written *appsv1alpha1.EphemeralJob) *appsv1alpha1.EphemeralJob {
	if written == nil || written.UID != cached.UID {
		return cached
	}
	if c, err := resourceversion.CompareResourceVersion(written.ResourceVersion, cached.ResourceVersion); err == nil && c > 0 {
		return written.DeepCopy()
	}
	return cached
}

// observe moves the ledger forward with the pods whose events arrived since the last pass.
func (r *EphemeralJobReconciler) observe(ctx context.Context, p *pass) error {
	for _, a := range p.state.takeAnswers() {
		r.settle(ctx, p, a)
	}
	inbox := p.state.drain()
	for uid, key := range inbox {
		pod := &corev1.Pod{}
		err := r.Get(ctx, key, pod, client.UnsafeDisableDeepCopy)
		delete(inbox, uid)
		switch {
		case apierrors.IsNotFound(err):
			p.ledger.gone(uid)
		case err != nil:
			// Keep this pod and the ones not handled yet for the next pass.
			p.state.note(uid, key)
			for uid, key := range inbox {
				p.state.note(uid, key)
			}
			return fmt.Errorf("reading pod %s from the cache: %w", key.Name, err)
		case pod.UID != uid:
			p.ledger.gone(uid)
			p.ledger.observe(pod, p.now)
		default:
			p.ledger.observe(pod, p.now)
		}
	}
	return nil
}

// reconcileUnknown learns the outcome of injections the API server did not confirm, with
// a fresh read of each pod: the containers are there (injected), the pod moved on without
// them (never applied: the pod is a candidate again, its index a gap), or the pod is still
// at the version the write was sent with (the write is sent again with that version, so at
// most one of the two is applied). It returns when to look again.
func (r *EphemeralJobReconciler) reconcileUnknown(ctx context.Context, p *pass) time.Duration {
	l := p.ledger
	var again time.Duration
	for _, t := range l.unknown() {
		if wait := t.verifyAt.Sub(p.now); wait > 0 {
			if again == 0 || wait < again {
				again = wait
			}
			continue
		}
		pod := &corev1.Pod{}
		err := r.reader().Get(ctx, t.pod, pod)
		switch {
		case apierrors.IsNotFound(err) || (err == nil && pod.UID != t.uid):
			l.abandon(t.index)
			continue
		case err != nil:
			t.backoff(p.now)
			again = retryDelay
			continue
		}
		if _, claims := l.claimedIndex(pod); claims {
			l.observe(pod, p.now)
			if t.state == injectUnknown {
				// The pod holds another index of the job: this write was not the one applied.
				l.abandon(t.index)
				l.observe(pod, p.now)
			}
			continue
		}
		if !p.acceptNew || p.job.Spec.Paused || l.budgetSpent(p.job) || !l.isCandidate(pod) {
			// Not to be sent again now that the job or the pod takes no new target. Once the
			// pod moved on without the containers, the write can never land. While the pod is
			// still at the version it was sent with, the write may still be under way at the
			// API server: the target keeps its parallelism slot (a resumed job must not start
			// another beside it, nor a spent failure budget be passed) until the server would
			// have given up on it; if it lands later, the pod's event brings the target back.
			switch {
			case pod.ResourceVersion != t.sentVersion:
				l.abandon(t.index)
			case p.now.Sub(t.sentAt) < maxWriteInFlight:
				t.backoff(p.now)
				if wait := t.verifyAt.Sub(p.now); again == 0 || wait < again {
					again = wait
				}
				continue
			default:
				l.release(t.index)
			}
			l.observe(pod, p.now)
			continue
		}
		if pod.ResourceVersion != t.sentVersion {
			// The pod moved on without the containers: the write sent with the old version can
			// never be applied, so the same index goes out again with the version just read,
			// fresher than the cache's (a pod that keeps changing would otherwise conflict
			// on every cached version).
			if reason, message := checkInjectable(p.job, pod); reason != "" {
				l.refuse(pod, t, reason, message)
				continue
			}
			t.sentVersion = pod.ResourceVersion
		}
		t.sentAt = p.now
		switch err := r.inject(ctx, p.job, pod, t.index); {
		case err == nil:
			t.state = injectAccepted
		case isRefusal(err):
			l.refuse(pod, t, refusalOf(err).reason, refusalOf(err).message)
		case apierrors.IsConflict(err):
			// Someone else changed the pod meanwhile: read it again on the next pass.
			again = retryDelay
		default:
			t.backoff(p.now)
			again = retryDelay
		}
	}
	return again
}

// reconcileInjections injects into the next candidates as long as parallelism and
// replicas leave room and the written index limit allows. A pod that can't take the
// containers is refused and the loop goes on with the others, so a refused pod never
// blocks them. The indexes are given first, one by one; the writes then go out together,
// and their answers come back to a later pass and wake the job.
func (r *EphemeralJobReconciler) reconcileInjections(ctx context.Context, p *pass) {
	l, job := p.ledger, p.job
	if !p.acceptNew || job.Spec.Paused {
		return
	}
	type shot struct {
		pod *corev1.Pod
		t   *activeTarget
	}
	var shots []shot
	for l.room(job) > 0 && l.next < l.writtenLimit {
		c := l.popCandidate()
		if c == nil {
			break
		}
		pod := &corev1.Pod{}
		if err := r.Get(ctx, c.key, pod, client.UnsafeDisableDeepCopy); err != nil {
			if !apierrors.IsNotFound(err) {
				p.state.note(c.uid, c.key)
				p.errs = append(p.errs, fmt.Errorf("reading pod %s from the cache: %w", c.key.Name, err))
				break
			}
			l.gone(c.uid)
			continue
		}
		if pod.UID != c.uid {
			l.gone(c.uid)
			l.observe(pod, p.now)
			continue
		}
		if _, claims := l.claimedIndex(pod); claims || !l.isCandidate(pod) {
			l.observe(pod, p.now)
			continue
		}
		if reason, message := checkInjectable(job, pod); reason != "" {
			injections.WithLabelValues(reason).Inc()
			l.refuse(pod, nil, reason, message)
			continue
		}
		shots = append(shots, shot{pod: pod, t: l.reserve(pod, p.now)})
	}

	// The writes go out together and the pass ends: their answers come back through the
	// job's state and wake the job, so slots refill as each answer arrives, not when the
	// slowest of them did.
	for _, sh := range shots {
		sh.t.inFlight = r.launch(func() {
			ctx, cancel := r.writeContext()
			defer cancel()
			err := r.inject(ctx, job, sh.pod, sh.t.index)
			p.state.answer(injectAnswer{index: sh.t.index, pod: sh.pod, err: err})
			r.wakeUp(p.key)
		})
	}
}

// actFor says whether this process may write now and for how long: zero means no bound.
// It may not once the manager stops, or past its leader fence.
func (r *EphemeralJobReconciler) actFor() (time.Duration, bool) {
	if r.context().Err() != nil {
		return 0, false
	}
	if r.Leader == nil {
		return 0, true
	}
	left := r.Leader.Left()
	return left, left > 0
}

// writeContext returns the context of a write sent in the background: the manager's,
// ending at the leader fence, so that a write not sent by then never is.
func (r *EphemeralJobReconciler) writeContext() (context.Context, context.CancelFunc) {
	left, ok := r.actFor()
	switch {
	case !ok:
		ctx, cancel := context.WithCancel(r.context())
		cancel()
		return ctx, cancel
	case left == 0:
		return context.WithCancel(r.context())
	}
	return context.WithTimeout(r.context(), left)
}

// launch runs an injection in the background and reports whether it did: none starts once
// the manager stops, so that waitInFlight sees every one.
func (r *EphemeralJobReconciler) launch(f func()) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return false
	}
	r.inFlight.Go(f)
	return true
}

// waitInFlight runs with the controller: when the manager stops, it waits for the
// injections on their way, so that none is sent after the manager released its lease.
func (r *EphemeralJobReconciler) waitInFlight(ctx context.Context) error {
	<-ctx.Done()
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.inFlight.Wait()
	return nil
}

// settle applies the API server's answer to an injection sent by an earlier pass.
func (r *EphemeralJobReconciler) settle(ctx context.Context, p *pass, a injectAnswer) {
	l := p.ledger
	t := l.active[a.index]
	if t == nil || !t.inFlight || t.uid != a.pod.UID {
		return // the target moved on meanwhile (the cache showed it, or its pod went)
	}
	t.inFlight = false
	switch err := a.err; {
	case err == nil:
		logf.FromContext(ctx).V(1).Info("injected", "pod", klog.KObj(a.pod), "index", a.index)
		if t.state == injectUnknown {
			t.state = injectAccepted
		}
	case t.state != injectUnknown:
		// The cache already shows the containers: the answer was lost on the way back.
	case isRefusal(err):
		l.refuse(a.pod, t, refusalOf(err).reason, refusalOf(err).message)
	case apierrors.IsNotFound(err):
		l.abandon(t.index) // the pod is gone
	default:
		// Applied or not: a fresh read of the pod tells.
		logf.FromContext(ctx).V(1).Info("injection outcome unknown", "pod", klog.KObj(a.pod), "index", a.index,
			"error", err.Error())
		t.verifyAt = p.now
		p.requeue(retryDelay)
	}
}

// context returns the context injections in flight run under: the manager's.
func (r *EphemeralJobReconciler) context() context.Context {
	if r.ctx != nil {
		return r.ctx
	}
	return context.Background()
}

// wakeUp queues the job for a pass.
func (r *EphemeralJobReconciler) wakeUp(key types.NamespacedName) {
	if r.wake == nil {
		return
	}
	obj := &appsv1alpha1.EphemeralJob{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	select {
	case r.wake <- event.GenericEvent{Object: obj}:
	case <-r.context().Done():
	}
}

// refusalError is an injection the pod or the API server refuses for good.
type refusalError struct{ reason, message string }

func (e *refusalError) Error() string { return e.message }

func isRefusal(err error) bool { return refusalOf(err) != nil }

func refusalOf(err error) *refusalError {
	var refusal *refusalError
	if errors.As(err, &refusal) {
		return refusal
	}
	return nil
}

// inject adds the job's containers to the pod through the ephemeralcontainers subresource.
// The update carries the pod's resourceVersion, so a concurrent change is a conflict, never
// a lost or duplicated container, and a write sent twice with the same version is applied
// at most once.
func (r *EphemeralJobReconciler) inject(ctx context.Context, job *appsv1alpha1.EphemeralJob, pod *corev1.Pod, index int32) error {
	containers, reason, message := containersFor(job, pod, index)
	if reason != "" {
		injections.WithLabelValues(reason).Inc()
		return &refusalError{reason: reason, message: message}
	}
	updated := pod.DeepCopy()
	updated.Spec.EphemeralContainers = append(updated.Spec.EphemeralContainers, containers...)
	// The size the cache noted is the cache's: the subresource ignores metadata, but the
	// request carries nothing the pod does not have.
	delete(updated.Annotations, annotationObjectBytes)
	if err := ctx.Err(); err != nil {
		// Past the leader fence, or the manager stopped: not sent (the outcome is known,
		// but is reported as unknown, so that the target is settled by a fresh read).
		return fmt.Errorf("not sent: %w", err)
	}
	err := r.SubResource("ephemeralcontainers").Update(ctx, updated, client.FieldOwner(appsv1alpha1.FieldManager))
	switch {
	case err == nil:
		injections.WithLabelValues("Injected").Inc()
		injectionDelay.Observe(r.Clock.Since(job.CreationTimestamp.Time).Seconds())
		return nil
	case apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || apierrors.IsBadRequest(err):
		injections.WithLabelValues(appsv1alpha1.ReasonInjectionRefused).Inc()
		return &refusalError{reason: appsv1alpha1.ReasonInjectionRefused,
			message: fmt.Sprintf("the API server refused the containers: %v", err)}
	case apierrors.IsConflict(err):
		injections.WithLabelValues("Conflict").Inc()
		return err
	case apierrors.IsNotFound(err):
		injections.WithLabelValues("NotFound").Inc()
		return err
	default:
		injections.WithLabelValues("Error").Inc()
		return fmt.Errorf("injecting into pod %s: %w", pod.Name, err)
	}
}

func (r *EphemeralJobReconciler) reader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

// reconcileInvalid reports a job that cannot run at all.
func (r *EphemeralJobReconciler) reconcileInvalid(ctx context.Context, job *appsv1alpha1.EphemeralJob, cause error) error {
	work := job.DeepCopy()
	work.Status.Phase = appsv1alpha1.EphemeralJobError
	work.Status.ObservedGeneration = job.Generation
	setConditions(&work.Status, job.Generation, appsv1alpha1.EphemeralJobError, appsv1alpha1.ReasonInvalidSelector,
		"spec.selector: "+cause.Error())
	if _, err := r.patchStatus(ctx, job, work); err != nil {
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

// emitEvents reports refusals, forged containers and completion, once each, after the
// status that records them was written.
func (r *EphemeralJobReconciler) emitEvents(p *pass, old *appsv1alpha1.EphemeralJobStatus) {
	work := p.job
	if len(work.Status.Refused) > len(old.Refused) {
		for _, refused := range work.Status.Refused[len(old.Refused):] {
			r.Recorder.Eventf(work, nil, corev1.EventTypeWarning, refused.Reason, "Inject", "pod %s: %s",
				refused.Name, refused.Message)
		}
	}
	for uid, f := range p.ledger.forged {
		if !f.reported {
			f.reported = true
			p.ledger.forged[uid] = f
			forgedContainers.WithLabelValues(f.reason).Inc()
			r.Recorder.Eventf(work, nil, corev1.EventTypeWarning, f.reason, "Observe",
				"pod %s holds containers with this job's UID that it did not inject (%s); they are not counted", f.pod, f.detail)
		}
	}
	if c := meta.FindStatusCondition(work.Status.Conditions, appsv1alpha1.ConditionForeignStatusWriter); c != nil {
		if was := meta.FindStatusCondition(old.Conditions, appsv1alpha1.ConditionForeignStatusWriter); was == nil ||
			was.Message != c.Message {
			r.Recorder.Eventf(work, nil, corev1.EventTypeWarning, c.Reason, "Observe", "%s", c.Message)
		}
	}
	if c := meta.FindStatusCondition(work.Status.Conditions, appsv1alpha1.ConditionStatusTrimmed); c != nil {
		if was := meta.FindStatusCondition(old.Conditions, appsv1alpha1.ConditionStatusTrimmed); was == nil ||
			was.Message != c.Message {
			r.Recorder.Eventf(work, nil, corev1.EventTypeWarning, c.Reason, "WriteStatus", "%s", c.Message)
		}
	}
	if work.Status.Phase.IsFinished() && !old.Phase.IsFinished() {
		typ := corev1.EventTypeNormal
		cond := appsv1alpha1.ConditionComplete
		if work.Status.Phase == appsv1alpha1.EphemeralJobFailed {
			typ, cond = corev1.EventTypeWarning, appsv1alpha1.ConditionFailed
		}
		if c := meta.FindStatusCondition(work.Status.Conditions, cond); c != nil {
			r.Recorder.Eventf(work, nil, typ, c.Reason, "Complete", "%s", c.Message)
		}
	}
}

// stateOf returns the reconciler's state of the job, new when the job is new.
func (r *EphemeralJobReconciler) stateOf(job *appsv1alpha1.EphemeralJob) *jobState {
	key := client.ObjectKeyFromObject(job)
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.jobs[key]
	if !ok || s.uid != job.UID {
		s = &jobState{uid: job.UID, inbox: map[types.UID]types.NamespacedName{}}
		r.jobs[key] = s
		if r.byNamespace[key.Namespace] == nil {
			r.byNamespace[key.Namespace] = map[types.NamespacedName]*jobState{}
		}
		r.byNamespace[key.Namespace][key] = s
	}
	return s
}

// forgetJob drops what the reconciler keeps of a deleted job.
func (r *EphemeralJobReconciler) forgetJob(key types.NamespacedName) {
	forgetPhase(key)
	r.mu.Lock()
	delete(r.jobs, key)
	if inNamespace := r.byNamespace[key.Namespace]; inNamespace != nil {
		delete(inNamespace, key)
		if len(inNamespace) == 0 {
			delete(r.byNamespace, key.Namespace)
		}
	}
	r.mu.Unlock()
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
	if r.StatusWriteQPS == 0 {
		r.StatusWriteQPS = DefaultStatusWriteQPS
	}
	if r.StatusWriteQPS > 0 {
		r.progress = rate.NewLimiter(rate.Limit(r.StatusWriteQPS), max(1, int(r.StatusWriteQPS)))
	}
	if r.EventBatchDelay == 0 {
		r.EventBatchDelay = DefaultEventBatchDelay
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.MaxConcurrentReconciles == 0 {
		r.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	r.jobs = map[types.NamespacedName]*jobState{}
	r.byNamespace = map[string]map[types.NamespacedName]*jobState{}
	r.ctx = ctx
	r.wake = make(chan event.GenericEvent, 1024)
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
	// A runnable of the leader's, stopped with the controller and before the lease is released.
	if err := mgr.Add(manager.RunnableFunc(r.waitInFlight)); err != nil {
		return fmt.Errorf("adding the in-flight injection waiter: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		// A status write alone wakes the job only when another controller made it.
		For(&appsv1alpha1.EphemeralJob{}, builder.WithPredicates(predicate.Or[client.Object](
			predicate.GenerationChangedPredicate{},
			predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
				job, ok := e.ObjectNew.(*appsv1alpha1.EphemeralJob)
				return ok && foreignWriteUnreported(job)
			}}))).
		Watches(&corev1.Pod{}, &podEventHandler{r: r}, builder.WithPredicates(podChangePredicate())).
		WatchesRawSource(source.Channel(r.wake, &handler.EnqueueRequestForObject{})).
		WithOptions(crcontroller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Named("ephemeraljob").
		Complete(r)
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
func (s *jobState) selectorOf(job *appsv1alpha1.EphemeralJob) (labels.Selector, error) {
	s.mu.Lock()
	p := s.selector
	s.mu.Unlock()
	if p.uid == job.UID && p.generation == job.Generation && (p.selector != nil || p.err != nil) {
		return p.selector, p.err
	}
	p = parsedSelector{uid: job.UID, generation: job.Generation}
	p.selector, p.err = metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if p.err == nil && p.selector.Empty() {
		p.err = errors.New("an empty selector would pick every pod in the namespace")
	}
	s.mu.Lock()
	s.selector = p
	s.mu.Unlock()
	return p.selector, p.err
}
