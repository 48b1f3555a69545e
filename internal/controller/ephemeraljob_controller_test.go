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
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

const testNS = "ns"

// fault is what the fake API server does with one ephemeral-container write.
type fault int

const (
	answer         fault = iota // apply and answer
	conflict                    // refuse with 409 without applying
	timeoutApplied              // apply, then answer 504
	timeoutDropped              // don't apply, answer 504
	invalid                     // refuse with 422
	forbidden                   // refuse with 403
)

// world is a job, its pods in a fake API server, and a reconciler driven pass by pass.
type world struct {
	t      *testing.T
	client client.WithWatch
	r      *EphemeralJobReconciler
	clock  *clocktesting.FakeClock
	job    types.NamespacedName
	// faults gives, per pod name, what its next ephemeral-container writes meet, in order;
	// mu guards it, for the writes of one pass go out together.
	mu     sync.Mutex
	faults map[string][]fault
	// exitCodes gives, per pod name, the exit code its containers end with.
	exitCodes map[string]int32
	// hold keeps the named pods' containers running.
	hold map[string]bool
}

func testScheme(t *testing.T) *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := appsv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func newWorld(t *testing.T, job *appsv1alpha1.EphemeralJob, pods ...*corev1.Pod) *world {
	t.Helper()
	w := &world{t: t, faults: map[string][]fault{}, exitCodes: map[string]int32{}, hold: map[string]bool{},
		clock: clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	job.UID = "job-uid"
	job.CreationTimestamp = metav1.NewTime(w.clock.Now())
	objs := []client.Object{job}
	for i, p := range pods {
		p.UID = types.UID(fmt.Sprintf("pod-uid-%d", i))
		p.CreationTimestamp = metav1.NewTime(w.clock.Now().Add(time.Duration(i) * time.Second))
		p.Status.Phase = corev1.PodRunning
		objs = append(objs, p)
	}
	base := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).
		WithStatusSubresource(&appsv1alpha1.EphemeralJob{}, &corev1.Pod{}).
		WithIndex(&corev1.Pod{}, PodOwnerIndex, func(o client.Object) []string {
			var out []string
			for _, u := range podstate.JobUIDs(o.(*corev1.Pod)) {
				out = append(out, string(u))
			}
			return out
		}).Build()
	w.client = interceptor.NewClient(base, interceptor.Funcs{
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			if sub != "ephemeralcontainers" {
				return c.SubResource(sub).Update(ctx, obj, opts...)
			}
			f := answer
			w.mu.Lock()
			if q := w.faults[obj.GetName()]; len(q) > 0 {
				f, w.faults[obj.GetName()] = q[0], q[1:]
			}
			w.mu.Unlock()
			gr := schema.GroupResource{Resource: "pods"}
			switch f {
			case conflict:
				return apierrors.NewConflict(gr, obj.GetName(), fmt.Errorf("the object has been modified"))
			case invalid:
				return apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, obj.GetName(),
					field.ErrorList{field.Invalid(field.NewPath("spec", "ephemeralContainers"), "x", "not allowed")})
			case forbidden:
				return apierrors.NewForbidden(gr, obj.GetName(), fmt.Errorf("violates PodSecurity"))
			case timeoutDropped:
				return apierrors.NewGenericServerResponse(http.StatusGatewayTimeout, "update", gr, obj.GetName(), "", 0, true)
			}
			// The fake client has no ephemeralcontainers subresource: a plain update with the
			// resourceVersion precondition does what the API server's does.
			if err := c.Update(ctx, obj); err != nil {
				return err
			}
			if f == timeoutApplied {
				return apierrors.NewGenericServerResponse(http.StatusGatewayTimeout, "update", gr, obj.GetName(), "", 0, true)
			}
			return nil
		},
	})
	w.restart()
	w.job = client.ObjectKeyFromObject(job)
	return w
}

// pods returns the namespace's pods as the API server has them.
func (w *world) pods() []corev1.Pod {
	var list corev1.PodList
	if err := w.client.List(context.Background(), &list, client.InNamespace(testNS)); err != nil {
		w.t.Fatal(err)
	}
	return list.Items
}

// getJob returns the job as the API server has it.
func (w *world) getJob() *appsv1alpha1.EphemeralJob {
	job := &appsv1alpha1.EphemeralJob{}
	if err := w.client.Get(context.Background(), w.job, job); err != nil {
		w.t.Fatal(err)
	}
	return job
}

// pass runs one reconcile after telling the reconciler of every pod, as the watch would.
func (w *world) pass() ctrl.Result {
	w.t.Helper()
	if s := w.r.existingState(w.job, "job-uid"); s != nil {
		for _, p := range w.pods() {
			s.note(p.UID, client.ObjectKeyFromObject(&p))
		}
	}
	res, err := w.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: w.job})
	if err != nil {
		w.t.Logf("pass: %v", err)
	}
	w.r.inFlight.Wait() // the answers reach the next pass
	w.clock.Step(time.Second)
	return res
}

// kubelet ends every container of the job that has no status yet, with the pod's exit code.
func (w *world) kubelet() {
	for _, p := range w.pods() {
		if w.hold[p.Name] {
			continue
		}
		done := map[string]bool{}
		for _, s := range p.Status.EphemeralContainerStatuses {
			done[s.Name] = true
		}
		changed := false
		for _, c := range p.Spec.EphemeralContainers {
			if !done[c.Name] {
				p.Status.EphemeralContainerStatuses = append(p.Status.EphemeralContainerStatuses, corev1.ContainerStatus{
					Name: c.Name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: w.exitCodes[p.Name]}}})
				changed = true
			}
		}
		if changed {
			if err := w.client.Status().Update(context.Background(), &p); err != nil {
				w.t.Fatal(err)
			}
		}
	}
}

// checkInvariants fails the test when a pod holds two of the job's containers, two pods
// share an index, more than replicas pods were injected, or more than parallelism targets
// are unfinished.
func (w *world) checkInvariants(job *appsv1alpha1.EphemeralJob) (injected int, unfinished int) {
	w.t.Helper()
	seen := map[string]string{}
	for _, p := range w.pods() {
		owned := podstate.OwnedContainers(&p, "job-uid")
		if len(owned) > len(job.Spec.Template.EphemeralContainers) {
			w.t.Fatalf("pod %s holds %d containers of the job", p.Name, len(owned))
		}
		if len(owned) == 0 {
			continue
		}
		injected++
		idx, _ := podstate.EnvValue(owned[0], appsv1alpha1.EnvJobIndex)
		if other, dup := seen[idx]; dup {
			w.t.Fatalf("pods %s and %s share index %s", other, p.Name, idx)
		}
		seen[idx] = p.Name
		if res, _ := podstate.Evaluate(&p, "job-uid"); !res.Outcome.IsFinished() {
			unfinished++
		}
	}
	if limit, ok := job.Spec.ReplicasLimit(); ok && injected > int(limit) {
		w.t.Fatalf("%d pods injected, replicas is %d", injected, limit)
	}
	if unfinished > int(job.Spec.GetParallelism()) {
		w.t.Fatalf("%d targets unfinished, parallelism is %d", unfinished, job.Spec.GetParallelism())
	}
	return injected, unfinished
}

// run drives passes and the kubelet until the job finishes, checking the invariants after every step.
func (w *world) run(job *appsv1alpha1.EphemeralJob) *appsv1alpha1.EphemeralJob {
	w.t.Helper()
	for range 200 {
		w.pass()
		w.checkInvariants(job)
		w.kubelet()
		w.checkInvariants(job)
		if got := w.getJob(); got.Status.Phase.IsFinished() {
			return got
		}
	}
	w.t.Fatalf("the job did not finish: %+v", w.getJob().Status)
	return nil
}

func makePods(n int) []*corev1.Pod {
	var pods []*corev1.Pod
	for i := range n {
		pods = append(pods, testutil.MakePod(fmt.Sprintf("p%d", i), testNS).Label("app", "web").Obj())
	}
	return pods
}

// exitCodesAgree checks the job's counts against the exit codes the pods hold.
func exitCodesAgree(t *testing.T, w *world, st appsv1alpha1.EphemeralJobStatus, refused int32) {
	t.Helper()
	var succeeded, failed int32
	for _, p := range w.pods() {
		if res, ok := podstate.Evaluate(&p, "job-uid"); ok {
			switch res.Outcome {
			case podstate.Succeeded:
				succeeded++
			case podstate.Failed:
				failed++
			}
		}
	}
	if st.Succeeded != succeeded || st.Failed != failed+refused {
		t.Errorf("status says %d succeeded, %d failed; the pods say %d succeeded, %d failed, plus %d refused",
			st.Succeeded, st.Failed, succeeded, failed, refused)
	}
}

func TestInjectionsUnderFaults(t *testing.T) {
	tests := []struct {
		name     string
		faults   map[string][]fault
		replicas int32
		// refused is how many pods refuse for good.
		refused int32
	}{
		{name: "a conflict leaves the pod for a later pass", faults: map[string][]fault{"p1": {conflict, conflict}}},
		{name: "a timeout after the write was applied keeps the index",
			faults: map[string][]fault{"p0": {timeoutApplied}, "p2": {timeoutApplied}, "p3": {timeoutApplied}}},
		{name: "a timeout before the write was applied sends it again",
			faults: map[string][]fault{"p0": {timeoutDropped, timeoutDropped}, "p4": {timeoutDropped}}},
		{name: "Invalid and Forbidden refuse the pod and the job goes on",
			faults: map[string][]fault{"p1": {invalid}, "p3": {forbidden}}, refused: 2},
		{name: "replicas holds under timeouts", replicas: 3,
			faults: map[string][]fault{"p0": {timeoutApplied}, "p1": {timeoutDropped}, "p2": {timeoutApplied}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			job := testutil.MakeEphemeralJob("ej", testNS, "web").Parallelism(2).Obj()
			if tc.replicas > 0 {
				job.Spec.Replicas = &tc.replicas
			}
			w := newWorld(t, job, makePods(6)...)
			w.faults = tc.faults
			w.exitCodes["p5"] = 3
			got := w.run(job)
			injected, _ := w.checkInvariants(job)
			want := int32(6)
			if tc.replicas > 0 {
				want = tc.replicas
			}
			if got.Status.Match != want || int32(injected)+tc.refused != want {
				t.Errorf("match %d, %d pods injected, %d refused; want %d targets", got.Status.Match, injected, tc.refused, want)
			}
			exitCodesAgree(t, w, got.Status, tc.refused)
			if got.Status.Match != got.Status.Succeeded+got.Status.Failed {
				t.Errorf("finished job with unfinished targets: %+v", got.Status)
			}
		})
	}
}

// pausedAfterALostInjection is a job of parallelism 1 over two pods whose first injection
// was answered with a timeout and not applied, then paused.
func pausedAfterALostInjection(t *testing.T) *world {
	job := testutil.MakeEphemeralJob("ej", testNS, "web").Parallelism(1).Obj()
	w := newWorld(t, job, makePods(2)...)
	w.faults = map[string][]fault{"p0": {timeoutDropped}}
	for range 2 { // write the index limit, inject (504, not applied)
		w.pass()
	}
	got := w.getJob()
	got.Spec.Paused = true
	if err := w.client.Update(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestAnUnknownOutcomeIsNotSentAgainOncePaused(t *testing.T) {
	w := pausedAfterALostInjection(t)
	for range 5 {
		w.pass()
	}
	for _, p := range w.pods() {
		if len(p.Spec.EphemeralContainers) != 0 {
			t.Errorf("pod %s was injected into a paused job", p.Name)
		}
	}
	if st := w.getJob().Status; st.Phase != appsv1alpha1.EphemeralJobPaused || st.Running+st.Succeeded+st.Failed != 0 {
		t.Errorf("status %+v", st)
	}
}

// An injection whose answer was lost may still land while its pod is at the version it was
// sent with: paused, the job keeps that target and its slot, so that once resumed it sends
// that injection again rather than starting another target beside it; past the time a
// write can take, the slot is freed.
func TestAnUnknownOutcomeKeepsItsSlotWhilePaused(t *testing.T) {
	w := pausedAfterALostInjection(t)
	held := func() bool {
		w.r.mu.Lock()
		defer w.r.mu.Unlock()
		s := w.r.jobs[w.job]
		return s != nil && s.ledger != nil && s.ledger.active[0] != nil
	}
	for range 3 {
		w.clock.Step(10 * time.Second)
		w.pass()
		if !held() {
			t.Fatalf("paused %s after the write of index 0 was sent, the job no longer holds its slot",
				w.clock.Since(w.getJob().CreationTimestamp.Time))
		}
	}
	w.clock.Step(maxWriteInFlight)
	for range 2 {
		w.pass()
	}
	if held() {
		t.Error("past the time a write can take, the job still holds the slot")
	}
	if st := w.getJob().Status; st.Phase != appsv1alpha1.EphemeralJobPaused {
		t.Errorf("phase %s", st.Phase)
	}
}

func TestRestartInjectsNothingTwice(t *testing.T) {
	job := testutil.MakeEphemeralJob("ej", testNS, "web").Parallelism(3).Obj()
	w := newWorld(t, job, makePods(8)...)
	w.faults = map[string][]fault{"p0": {timeoutApplied}, "p1": {timeoutApplied}}
	for p := range 8 {
		w.hold[fmt.Sprintf("p%d", p)] = true
	}
	for range 4 {
		w.pass()
		w.checkInvariants(job)
	}
	w.restart() // a new reconciler knows only what the API server has
	w.hold = map[string]bool{}
	got := w.run(job)
	injected, _ := w.checkInvariants(job)
	if injected != 8 || got.Status.Match != 8 || got.Status.Succeeded != 8 {
		t.Errorf("%d pods injected; status %+v", injected, got.Status)
	}
}

func TestForgedIndexIsNotCounted(t *testing.T) {
	job := testutil.MakeEphemeralJob("ej", testNS, "web").Parallelism(1).Obj()
	pods := makePods(3)
	forged, _, _ := containersFor(&appsv1alpha1.EphemeralJob{ObjectMeta: metav1.ObjectMeta{Name: "ej", UID: "job-uid"},
		Spec: job.Spec}, pods[1], 2147483646)
	pods[1].Spec.EphemeralContainers = forged
	w := newWorld(t, job, pods...)
	got := w.run(job)
	if got.Status.Match != 2 || got.Status.Succeeded != 2 {
		t.Errorf("status %+v, want 2 targets: the forged pod is not one", got.Status)
	}
	c := findCondition(got.Status.Conditions, appsv1alpha1.ConditionForgedContainers)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != appsv1alpha1.ReasonIndexOutOfRange {
		t.Errorf("forged container not reported: %+v", c)
	}
	if l := w.r.existingState(w.job, "job-uid").ledger; l.next > 2*indexBatch {
		t.Errorf("the forged index moved the ledger to %d", l.next)
	}
}

func TestManyRefusalsKeepTheStatusSmall(t *testing.T) {
	job := testutil.MakeEphemeralJob("ej", testNS, "web").Parallelism(1).Obj()
	pods := makePods(300)
	for _, p := range pods[1:] {
		p.Spec.Containers[0].Name = "other" // no container "app" to target
	}
	w := newWorld(t, job, pods...)
	got := w.run(job)
	if got.Status.Match != 300 || got.Status.Failed != 299 || got.Status.Succeeded != 1 {
		t.Errorf("status counts %+v", got.Status)
	}
	if len(got.Status.Refused) != appsv1alpha1.MaxRefusedListed {
		t.Errorf("status lists %d refusals, want %d", len(got.Status.Refused), appsv1alpha1.MaxRefusedListed)
	}
	if len(got.Status.Refusals) != 1 || got.Status.Refusals[0].Count != 299 {
		t.Errorf("refusals by reason: %+v", got.Status.Refusals)
	}
	// Restarted, the reconciler counts no refusal twice.
	w.restart()
	w.pass()
	if again := w.getJob(); again.Status.Failed != 299 || again.Status.Match != 300 {
		t.Errorf("after a restart: %+v", again.Status)
	}
}

func findCondition(conds []metav1.Condition, typ string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

// fence is a leader fence the test moves by hand, on the world's clock.
type fence struct {
	until time.Time
	clock interface{ Now() time.Time }
}

func (f *fence) Left() time.Duration {
	if f.until.IsZero() {
		return 0
	}
	return f.until.Sub(f.clock.Now())
}

// TestAFencedLeaderSendsNothing: once the lease was not renewed within the renew deadline,
// the leader may have been replaced; no injection and no status write may leave.
func TestAFencedLeaderSendsNothing(t *testing.T) {
	job := testutil.MakeEphemeralJob("ej", testNS, "web").Parallelism(2).Obj()
	w := newWorld(t, job, makePods(4)...)
	// Injections are sent in the background: the count is shared with their goroutines.
	var writes atomic.Int32
	inner := w.client
	w.r.Client = interceptor.NewClient(inner, interceptor.Funcs{
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			writes.Add(1)
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch,
			opts ...client.SubResourcePatchOption) error {
			writes.Add(1)
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
	f := &fence{until: w.clock.Now().Add(-time.Millisecond), clock: w.clock}
	w.r.Leader = f
	for range 3 {
		if res := w.pass(); res.RequeueAfter == 0 {
			t.Errorf("a fenced pass asks for no requeue")
		}
		f.until = w.clock.Now().Add(-time.Millisecond)
	}
	if n := writes.Load(); n != 0 {
		t.Fatalf("%d writes sent past the fence", n)
	}
	// Renewed: the job runs, and every write leaves before the fence.
	w.r.Leader = &fence{until: w.clock.Now().Add(time.Hour), clock: w.clock}
	got := w.run(job)
	if n := writes.Load(); n == 0 || got.Status.Succeeded != 4 {
		t.Errorf("%d writes; status %+v", n, got.Status)
	}
}

// TestAnInjectionNotSentByTheFenceNeverIs: an injection handed to the background after
// the fence closed (a pause between the pass and the write) is not sent; its outcome is
// unknown until a fresh read after a renewal tells.
func TestAnInjectionNotSentByTheFenceNeverIs(t *testing.T) {
	job := testutil.MakeEphemeralJob("ej", testNS, "web").Parallelism(1).Obj()
	w := newWorld(t, job, makePods(1)...)
	w.r.Leader = &fence{until: w.clock.Now().Add(time.Hour), clock: w.clock}
	w.pass() // writes the index limit
	w.r.Leader = &fence{clock: w.clock}
	ctx, cancel := w.r.writeContext()
	defer cancel()
	if ctx.Err() == nil {
		t.Fatal("a write context past the fence is live")
	}
	if err := w.r.inject(ctx, w.getJob(), &w.pods()[0], 0); err == nil {
		t.Fatal("an injection was sent past the fence")
	}
	if n := len(w.pods()[0].Spec.EphemeralContainers); n != 0 {
		t.Fatalf("pod holds %d containers", n)
	}
}

// TestAFinishedJobHoldsNoCandidatesAfterARestart: a finished job takes no new targets, so
// a new manager keeps none of its selected pods in memory.
func TestAFinishedJobHoldsNoCandidatesAfterARestart(t *testing.T) {
	job := testutil.MakeEphemeralJob("ej", testNS, "web").Parallelism(2).Replicas(2).Obj()
	pods := makePods(6)
	pods[5].Status.Phase = corev1.PodPending
	w := newWorld(t, job, pods...)
	w.run(job)
	w.restart()
	w.pass()
	w.pass() // with an event of every pod
	l := w.r.existingState(w.job, "job-uid").ledger
	if l.candidates.len() != 0 || l.pending.len() != 0 {
		t.Errorf("a finished job keeps %d candidates and %d pending pods after a restart", l.candidates.len(), l.pending.len())
	}
	if st := w.getJob().Status; st.Succeeded != 2 || st.Match != 2 {
		t.Errorf("status %+v", st)
	}
}

// TestAForgottenJobStaysForgotten: a pod event after a job was deleted and forgotten (its
// pods' events may still be on their way) must neither queue it nor bring back what the
// reconciler kept of it.
func TestAForgottenJobStaysForgotten(t *testing.T) {
	job := testutil.MakeEphemeralJob("ej", testNS, "web").Parallelism(1).Obj()
	w := newWorld(t, job, makePods(1)...)
	w.pass()
	w.r.forgetJob(w.job)
	h := &podEventHandler{r: w.r}
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	p := w.pods()[0]
	h.Update(context.Background(), event.TypedUpdateEvent[client.Object]{ObjectOld: &p, ObjectNew: &p}, q)
	if s := w.r.existingState(w.job, "job-uid"); s != nil || q.Len() != 0 {
		t.Errorf("a pod event after the job was forgotten: state %v, %d passes queued; want none", s, q.Len())
	}
	if len(w.r.byNamespace) != 0 {
		t.Errorf("the forgotten job's namespace is still indexed: %v", w.r.byNamespace)
	}
}

// TestPodEventsReachTheJobsTheyMatterTo: a pod event queues the jobs holding containers in
// the pod and those selecting it, before or after the event, that still take targets; a
// finished job only for its own pods, a job of another namespace never.
func TestPodEventsReachTheJobsTheyMatterTo(t *testing.T) {
	r := &EphemeralJobReconciler{EventBatchDelay: -1,
		jobs: map[types.NamespacedName]*jobState{}, byNamespace: map[string]map[types.NamespacedName]*jobState{}}
	known := func(job *appsv1alpha1.EphemeralJob, finished bool) *appsv1alpha1.EphemeralJob {
		s := r.stateOf(job)
		if _, err := s.selectorOf(job); err != nil {
			t.Fatal(err)
		}
		s.finished = finished
		return job
	}
	known(testutil.MakeEphemeralJob("web", testNS, "web").UID("web-uid").Obj(), false)
	db := known(testutil.MakeEphemeralJob("db", testNS, "db").UID("db-uid").Obj(), false)
	done := known(testutil.MakeEphemeralJob("done", testNS, "web").UID("done-uid").Obj(), true)
	known(testutil.MakeEphemeralJob("elsewhere", "other", "web").UID("elsewhere-uid").Obj(), false)

	for _, tc := range []struct {
		name     string
		old, pod *corev1.Pod
		want     []string
	}{
		{"selected", nil, testutil.MakePod("p", testNS).Label("app", "web").Running().Obj(), []string{"web"}},
		{"relabelled", testutil.MakePod("p", testNS).Label("app", "web").Running().Obj(),
			testutil.MakePod("p", testNS).Label("app", "db").Running().Obj(), []string{"db", "web"}},
		{"holding a finished job's containers", nil,
			testutil.MakePod("p", testNS).Label("app", "web").Running().Injected(done, 0).Exited(0).Obj(), []string{"done", "web"}},
		{"holding a job's containers, selected by none", nil,
			testutil.MakePod("p", testNS).Label("app", "cache").Running().Injected(db, 3).Obj(), []string{"db"}},
		{"selected by none", nil, testutil.MakePod("p", testNS).Label("app", "cache").Running().Obj(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
			defer q.ShutDown()
			h := &podEventHandler{r: r}
			if tc.old == nil {
				h.Create(context.Background(), event.TypedCreateEvent[client.Object]{Object: tc.pod}, q)
			} else {
				h.Update(context.Background(), event.TypedUpdateEvent[client.Object]{ObjectOld: tc.old, ObjectNew: tc.pod}, q)
			}
			var got []string
			for q.Len() > 0 {
				req, _ := q.Get()
				got = append(got, req.Name)
				q.Done(req)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("queued %v, want %v", got, tc.want)
			}
			for _, name := range got {
				s := r.jobs[types.NamespacedName{Namespace: testNS, Name: name}]
				if uid := s.drain(); len(uid) != 1 {
					t.Errorf("job %s's inbox holds %v, want the pod", name, uid)
				}
			}
		})
	}
}

// restart gives the world a new reconciler that knows only what the API server has, as after a restart.
func (w *world) restart() {
	w.r = &EphemeralJobReconciler{Client: w.client, APIReader: w.client, Recorder: events.NewFakeRecorder(1000),
		Clock: w.clock, StatusWriteInterval: time.Second, EventBatchDelay: -1,
		jobs: map[types.NamespacedName]*jobState{}, byNamespace: map[string]map[types.NamespacedName]*jobState{}}
}

// TestPodsTheAPIServerRefusedAreNotTriedAgainAfterARestart: refusals past the ten the status
// details are remembered too, so that a new manager neither targets those pods again nor
// counts them twice, even when the API server would now accept them.
func TestPodsTheAPIServerRefusedAreNotTriedAgainAfterARestart(t *testing.T) {
	job := testutil.MakeEphemeralJob("ej", testNS, "web").Parallelism(2).Obj()
	w := newWorld(t, job, makePods(20)...)
	for i := range 15 {
		w.faults[fmt.Sprintf("p%d", i)] = []fault{forbidden}
	}
	for p := range 20 {
		w.hold[fmt.Sprintf("p%d", p)] = true
	}
	for w.getJob().Status.Failed < 15 {
		w.pass()
	}
	w.restart()
	w.hold = map[string]bool{}
	got := w.run(job)
	injected, _ := w.checkInvariants(job)
	if injected != 5 || got.Status.Failed != 15 || got.Status.Succeeded != 5 || got.Status.Match != 20 {
		t.Errorf("%d pods injected; status match %d succeeded %d failed %d, want 5 injected, 20 = 5 + 15 refused",
			injected, got.Status.Match, got.Status.Succeeded, got.Status.Failed)
	}
}

// TestARefusalAfterARestartIsNotSwallowed: a pod that fails the pre-check after a restart
// is a new refusal, not one of those the status counted without detailing them.
func TestARefusalAfterARestartIsNotSwallowed(t *testing.T) {
	job := testutil.MakeEphemeralJob("ej", testNS, "web").Parallelism(1).Obj()
	pods := makePods(13)
	for _, p := range pods[:12] {
		p.Spec.Containers[0].Name = "other" // no container "app" to target
	}
	w := newWorld(t, job, pods...)
	w.run(job)
	if st := w.getJob().Status; st.Failed != 12 || st.Succeeded != 1 {
		t.Fatalf("status %+v", st)
	}
	// One of the refused pods not detailed goes, a new one without the target comes.
	if err := w.client.Delete(context.Background(), pods[11]); err != nil {
		t.Fatal(err)
	}
	late := testutil.MakePod("late", testNS).Label("app", "web").Containers("other").Obj()
	late.UID, late.CreationTimestamp = "late-uid", metav1.NewTime(w.clock.Now())
	late.Status.Phase = corev1.PodRunning
	if err := w.client.Create(context.Background(), late); err != nil {
		t.Fatal(err)
	}
	w.restart()
	got := w.getJob()
	got.Status.Phase, got.Status.CompletionTime = appsv1alpha1.EphemeralJobRunning, nil // still taking targets
	if err := w.client.Status().Update(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		w.pass()
	}
	if st := w.getJob().Status; st.Failed != 13 || st.Match != 14 {
		t.Errorf("failed %d, match %d: want the late pod's refusal counted, 13 failed of 14", st.Failed, st.Match)
	}
}

// TestJobsReconciledAtOnce: passes of different jobs run together, as the controller's
// workers run them, while pod events reach the handler and a kubelet finishes containers;
// every job still injects each of its pods once and counts them all. Run with -race, it
// also checks that the passes share nothing unguarded.
func TestJobsReconciledAtOnce(t *testing.T) {
	const jobs, perJob = 6, 5
	first := testutil.MakeEphemeralJob("ej-0", testNS, "app-0").Parallelism(2).Obj()
	var pods []*corev1.Pod
	for i := range jobs * perJob {
		pods = append(pods, testutil.MakePod(fmt.Sprintf("p%02d", i), testNS).Label("app", fmt.Sprintf("app-%d", i/perJob)).Obj())
	}
	w := newWorld(t, first, pods...)
	keys := []types.NamespacedName{w.job}
	for j := 1; j < jobs; j++ {
		job := testutil.MakeEphemeralJob(fmt.Sprintf("ej-%d", j), testNS, fmt.Sprintf("app-%d", j)).Parallelism(2).
			UID(fmt.Sprintf("job-uid-%d", j)).Obj()
		job.CreationTimestamp = metav1.NewTime(w.clock.Now())
		if err := w.client.Create(context.Background(), job); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, client.ObjectKeyFromObject(job))
	}
	finished := func(key types.NamespacedName) bool {
		job := &appsv1alpha1.EphemeralJob{}
		return w.client.Get(context.Background(), key, job) == nil && job.Status.Phase.IsFinished()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The jobs' first passes start once the handler delivers events, so that they meet
	// events on their way.
	stop, delivering := make(chan struct{}), make(chan struct{})
	var once sync.Once
	delivered := func() { once.Do(func() { close(delivering) }) }
	var helpers sync.WaitGroup
	// The kubelet ends each injected container, and every pod change reaches the handler.
	helpers.Go(func() {
		defer delivered()
		h := &podEventHandler{r: w.r}
		q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
		defer q.ShutDown()
		for {
			select {
			case <-stop:
				return
			default:
			}
			var list corev1.PodList
			if err := w.client.List(ctx, &list); err != nil {
				continue
			}
			for i := range list.Items {
				p := &list.Items[i]
				if len(p.Spec.EphemeralContainers) > len(p.Status.EphemeralContainerStatuses) {
					c := p.Spec.EphemeralContainers[len(p.Status.EphemeralContainerStatuses)]
					p.Status.EphemeralContainerStatuses = append(p.Status.EphemeralContainerStatuses, corev1.ContainerStatus{
						Name: c.Name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{}}})
					_ = w.client.Status().Update(ctx, p) // a conflict is retried on the next round
				}
				h.Update(ctx, event.TypedUpdateEvent[client.Object]{ObjectOld: p, ObjectNew: p}, q)
				delivered()
			}
			w.clock.Step(100 * time.Millisecond)
		}
	})
	var passes sync.WaitGroup
	for _, key := range keys {
		// One goroutine per job: a job's passes never overlap, as the work queue guarantees.
		passes.Go(func() {
			<-delivering
			for !finished(key) && ctx.Err() == nil {
				if _, err := w.r.Reconcile(ctx, ctrl.Request{NamespacedName: key}); err != nil {
					t.Logf("pass of %s: %v", key.Name, err)
				}
			}
		})
	}
	passes.Wait()
	close(stop)
	helpers.Wait()
	w.r.inFlight.Wait()
	for _, key := range keys {
		job := &appsv1alpha1.EphemeralJob{}
		if err := w.client.Get(context.Background(), key, job); err != nil {
			t.Fatal(err)
		}
		if st := job.Status; st.Phase != appsv1alpha1.EphemeralJobSucceeded || st.Succeeded != perJob || st.Match != perJob {
			t.Errorf("job %s: %s, %d of %d succeeded", key.Name, st.Phase, st.Succeeded, st.Match)
		}
	}
	for _, p := range w.pods() {
		if n := len(p.Spec.EphemeralContainers); n != 1 {
			t.Errorf("pod %s holds %d containers, want 1", p.Name, n)
		}
	}
}

// existingState returns, for the tests, the reconciler's state of the job if it has one.
func (r *EphemeralJobReconciler) existingState(key types.NamespacedName, uid types.UID) *jobState {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.jobs[key]; ok && s.uid == uid {
		return s
	}
	return nil
}
