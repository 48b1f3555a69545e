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
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

// The ledger moves forward by events; the reference below recounts everything from the
// pods and what the controller observed of them, the slow and obviously correct way. A
// random sequence of events (pods created, relabelled, started and stopped, containers
// progressing, pods deleted, passes, restarts of the controller) must leave both equal.

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// refPod is the reference's view of one pod.
type refPod struct {
	pod     *corev1.Pod
	deleted bool
	// targeted is set once the controller injected or refused the pod.
	targeted, refused bool
	// seen is the pod's outcome for the job when a pass last looked at it.
	seen podstate.Outcome
}

type ledgerRun struct {
	t     *testing.T
	rng   *rand.Rand
	job   *appsv1alpha1.EphemeralJob
	l     *ledger
	pods  []*refPod
	dirty map[types.UID]bool
	now   time.Time
	// expiredAt is when a pass last stopped waiting for pods not running yet.
	expiredAt time.Time
	history   []string
}

func newLedgerRun(t *testing.T, seed uint64) *ledgerRun {
	rng := rand.New(rand.NewPCG(seed, 1))
	job := testutil.MakeEphemeralJob("ej", "ns", "web").UID("job-uid").Parallelism(int32(1 + rng.IntN(3))).Obj()
	if rng.IntN(2) == 0 {
		job.Spec.Replicas = new(int32(rng.IntN(12)))
	}
	// Short enough for pods that never run to stop counting within a run of 150 steps.
	job.Spec.StartDeadlineSeconds = new(int32(5 + rng.IntN(60)))
	r := &ledgerRun{t: t, rng: rng, job: job, dirty: map[types.UID]bool{}, now: t0}
	r.restart()
	return r
}

func (r *ledgerRun) logf(format string, args ...any) {
	r.history = append(r.history, fmt.Sprintf(format, args...))
}

// restart builds a new ledger from the written status and the live pods, as a new manager does.
func (r *ledgerRun) restart() {
	sel, err := metav1.LabelSelectorAsSelector(r.job.Spec.Selector)
	if err != nil {
		r.t.Fatal(err)
	}
	l := newLedger(r.job, sel)
	var owned, selected []*corev1.Pod
	for _, p := range r.pods {
		if p.deleted {
			continue
		}
		if len(podstate.OwnedContainers(p.pod, r.job.UID)) > 0 {
			owned = append(owned, p.pod)
		}
		if sel.Matches(labelSet(p.pod)) {
			selected = append(selected, p.pod)
		}
	}
	if err := l.rebuild(r.job, owned, selected, r.now); err != nil {
		r.t.Fatal(err)
	}
	r.l = l
	r.dirty = map[types.UID]bool{}
	r.expirePending()
	r.see()
}

// expirePending stops waiting for pods not running yet, as a pass does.
func (r *ledgerRun) expirePending() {
	r.l.expirePending(startedAt(&r.job.Status, r.now).Time, r.job.Spec.StartDeadline(), r.now)
	r.expiredAt = r.now
}

// see records what a pass observes of every live pod.
func (r *ledgerRun) see() {
	for _, p := range r.pods {
		if p.deleted {
			continue
		}
		if res, ok := podstate.Evaluate(p.pod, r.job.UID); ok && !p.seen.IsFinished() {
			p.seen = res.Outcome
		}
	}
}

// pass is one reconcile: observe the dirty pods, inject as room allows, write the status.
func (r *ledgerRun) pass() {
	for uid := range r.dirty {
		p := r.byUID(uid)
		if p.deleted {
			r.l.gone(uid)
		} else {
			r.l.observe(p.pod, r.now)
		}
	}
	r.dirty = map[types.UID]bool{}
	r.expirePending()
	for r.l.room(r.job) > 0 && r.l.next < r.l.writtenLimit {
		c := r.l.popCandidate()
		if c == nil {
			break
		}
		p := r.byUID(c.uid)
		if reason, msg := checkInjectable(r.job, p.pod); reason != "" {
			r.l.refuse(p.pod, nil, reason, msg)
			p.targeted, p.refused = true, true
			r.logf("refuse %s", p.pod.Name)
			continue
		}
		t := r.l.reserve(p.pod, r.now)
		t.state = injectAccepted
		containers, _, _ := containersFor(r.job, p.pod, t.index)
		p.pod.Spec.EphemeralContainers = append(p.pod.Spec.EphemeralContainers, containers...)
		p.targeted = true
		r.dirty[p.pod.UID] = true
		r.logf("inject %s as %d", p.pod.Name, t.index)
	}
	r.see()
	// A successful status write.
	r.job.Status = computeStatus(r.job, r.l, true, r.now)
	r.l.writtenLimit = r.job.Status.IndexLimit
	r.l.urgent = false
}

func (r *ledgerRun) byUID(uid types.UID) *refPod {
	for _, p := range r.pods {
		if p.pod.UID == uid {
			return p
		}
	}
	r.t.Fatalf("no pod %s", uid)
	return nil
}

// step applies one random event.
func (r *ledgerRun) step() {
	r.now = r.now.Add(time.Second)
	live := r.live()
	switch op := r.rng.IntN(10); {
	case op == 0 || len(live) == 0:
		i := len(r.pods)
		w := testutil.MakePod(fmt.Sprintf("p%02d", i), "ns").UID(fmt.Sprintf("uid-%d", i))
		if r.rng.IntN(3) > 0 {
			w.Label("app", "web")
		}
		if r.rng.IntN(4) > 0 {
			w.Running()
		}
		if r.rng.IntN(6) == 0 {
			w.Containers("other") // can't be targeted: refused
		}
		pod := w.Obj()
		pod.CreationTimestamp = metav1.NewTime(r.now)
		r.pods = append(r.pods, &refPod{pod: pod})
		r.dirty[pod.UID] = true
		r.logf("create %s", pod.Name)
	case op == 1:
		p := live[r.rng.IntN(len(live))]
		if p.pod.Labels["app"] == "web" {
			delete(p.pod.Labels, "app")
		} else {
			p.pod.Labels["app"] = "web"
		}
		r.dirty[p.pod.UID] = true
		r.logf("relabel %s", p.pod.Name)
	case op == 2:
		p := live[r.rng.IntN(len(live))]
		if p.pod.Status.Phase == corev1.PodRunning {
			p.pod.Status.Phase = corev1.PodPending
		} else {
			p.pod.Status.Phase = corev1.PodRunning
		}
		r.dirty[p.pod.UID] = true
		r.logf("phase %s %s", p.pod.Name, p.pod.Status.Phase)
	case op <= 4:
		p := live[r.rng.IntN(len(live))]
		res, ok := podstate.Evaluate(p.pod, r.job.UID)
		if !ok || res.Outcome.IsFinished() {
			return
		}
		w := &testutil.PodWrapper{Pod: *p.pod}
		switch {
		case res.Outcome == podstate.Waiting:
			w.Started()
		default:
			w.Exited(int32(r.rng.IntN(2)))
		}
		*p.pod = w.Pod
		r.dirty[p.pod.UID] = true
		r.logf("progress %s", p.pod.Name)
	case op == 5:
		p := live[r.rng.IntN(len(live))]
		p.deleted = true
		if res, ok := podstate.Evaluate(p.pod, r.job.UID); ok && !p.seen.IsFinished() {
			_ = res
			p.seen = podstate.Failed // vanished before the controller saw it finish
		}
		r.dirty[p.pod.UID] = true
		r.logf("delete %s", p.pod.Name)
	case op == 6:
		r.pass()
		r.logf("restart")
		r.restart()
	default:
		r.pass()
		r.logf("pass")
	}
}

func (r *ledgerRun) live() []*refPod {
	var out []*refPod
	for _, p := range r.pods {
		if !p.deleted {
			out = append(out, p)
		}
	}
	return out
}

// recount counts the job's targets from the reference, from scratch.
func (r *ledgerRun) recount() summary {
	var s summary
	var candidates, pending int32
	for _, p := range r.pods {
		switch {
		case p.refused:
			s.failed++
		case p.targeted:
			switch p.seen {
			case podstate.Succeeded:
				s.succeeded++
			case podstate.Failed:
				s.failed++
			case podstate.Running:
				s.running++
			default:
				s.waiting++
			}
		case !p.deleted && p.pod.Status.Phase == corev1.PodRunning && p.pod.Labels["app"] == "web":
			candidates++
		case !p.deleted && p.pod.Status.Phase != corev1.PodRunning && p.pod.Labels["app"] == "web" &&
			r.expiredAt.Before(r.waitFor(p.pod)):
			pending++
		}
	}
	s.targeted = s.succeeded + s.failed + s.running + s.waiting
	waiting := candidates + pending
	if limit, ok := r.job.Spec.ReplicasLimit(); ok {
		waiting = min(waiting, max(limit-s.targeted, 0))
	}
	s.waiting += waiting
	s.notRunning = max(waiting-candidates, 0)
	s.match = s.succeeded + s.failed + s.running + s.waiting
	return s
}

// waitFor returns until when the job waits for a selected pod to run: the start deadline
// after the later of the job's start and the pod's creation.
func (r *ledgerRun) waitFor(pod *corev1.Pod) time.Time {
	from := startedAt(&r.job.Status, r.now).Time
	if pod.CreationTimestamp.After(from) {
		from = pod.CreationTimestamp.Time
	}
	return from.Add(r.job.Spec.StartDeadline())
}

func (r *ledgerRun) check() {
	r.t.Helper()
	got, want := r.l.summarize(r.job, true), r.recount()
	got.active = 0
	if got != want {
		r.t.Fatalf("ledger %+v, recount %+v after:\n%v", got, want, r.history)
	}
	grouped := r.l.otherResults
	for _, g := range r.l.results {
		grouped += g.Count
		if g.Succeeded != (g.ExitCode != nil && *g.ExitCode == 0) && g.Reason != appsv1alpha1.ReasonPodVanished {
			r.t.Fatalf("group %+v mixes outcomes after:\n%v", g, r.history)
		}
	}
	if grouped != got.succeeded+got.failed {
		r.t.Fatalf("results group %d targets, %d finished, after:\n%v", grouped, got.succeeded+got.failed, r.history)
	}
	seen := map[string]string{}
	var injected, unfinished int32
	for _, p := range r.pods {
		owned := podstate.OwnedContainers(p.pod, r.job.UID)
		if len(owned) == 0 {
			continue
		}
		injected++
		idx, _ := podstate.EnvValue(owned[0], appsv1alpha1.EnvJobIndex)
		if other, dup := seen[idx]; dup {
			r.t.Fatalf("pods %s and %s share index %s after:\n%v", other, p.pod.Name, idx, r.history)
		}
		seen[idx] = p.pod.Name
		if !p.deleted && !p.seen.IsFinished() {
			unfinished++
		}
	}
	if limit, ok := r.job.Spec.ReplicasLimit(); ok && injected > limit {
		r.t.Fatalf("%d pods injected, replicas %d, after:\n%v", injected, limit, r.history)
	}
	if unfinished > r.job.Spec.GetParallelism() {
		r.t.Fatalf("%d unfinished, parallelism %d, after:\n%v", unfinished, r.job.Spec.GetParallelism(), r.history)
	}
}

func TestLedgerMatchesRecount(t *testing.T) {
	for seed := range uint64(400) {
		r := newLedgerRun(t, seed)
		for range 150 {
			r.step()
			if len(r.dirty) == 0 {
				r.check()
			}
		}
		r.pass()
		r.check()
	}
}

func labelSet(p *corev1.Pod) labels.Set { return labels.Set(p.Labels) }

// observed returns a ledger that injected pod as index 0 and saw it.
func observed(t *testing.T, job *appsv1alpha1.EphemeralJob, pod *corev1.Pod) *ledger {
	t.Helper()
	job.Status.IndexLimit = 100
	l := ledgerFrom(t, job)
	l.next = 0
	tgt := l.reserve(pod, t0)
	tgt.state = injectAccepted
	l.observe(pod, t0)
	return l
}

func TestDefaultedAndMutatedContainersAreTheJobs(t *testing.T) {
	job := newJob()
	job.Spec.Template.EphemeralContainers[0].Env = []corev1.EnvVar{{Name: "POD",
		ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}
	p := pod(0).Injected(job, 0).Exited(0).Obj()
	// What the API server and a mutating webhook make of the containers.
	c := &p.Spec.EphemeralContainers[0]
	c.Env[0].ValueFrom.FieldRef.APIVersion = "v1"
	c.ImagePullPolicy = corev1.PullAlways
	c.SecurityContext = &corev1.SecurityContext{RunAsNonRoot: new(true)}
	l := observed(t, job, p)
	if len(l.forged) != 0 || l.nSucceeded != 1 {
		t.Errorf("forged %v, %d succeeded", l.forged, l.nSucceeded)
	}
}

func TestAResultWhosePodGoesBeforeTheWriteIsUrgent(t *testing.T) {
	job := newJob()
	p := pod(0).Injected(job, 0).Exited(0).Obj()
	l := observed(t, job, p)
	l.urgent = false
	l.gone(p.UID)
	if !l.urgent || l.nSucceeded != 1 {
		t.Errorf("urgent %v, %d succeeded", l.urgent, l.nSucceeded)
	}
}

func TestStartDeadline(t *testing.T) {
	const deadline = time.Minute
	tests := []struct {
		name       string
		pod        func(job *appsv1alpha1.EphemeralJob) *corev1.Pod
		wantFailed bool
	}{
		{name: "not started past the deadline fails", wantFailed: true,
			pod: func(job *appsv1alpha1.EphemeralJob) *corev1.Pod {
				return pod(0).Injected(job, 0).Waiting("ImagePullBackOff").Obj()
			}},
		{name: "a running sibling keeps the slot", pod: func(job *appsv1alpha1.EphemeralJob) *corev1.Pod {
			p := pod(0).Injected(job, 0).Started().Obj()
			p.Status.EphemeralContainerStatuses[1].State = corev1.ContainerState{
				Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}
			return p
		}},
		{name: "a pod terminating past its grace period and the deadline fails", wantFailed: true,
			pod: func(job *appsv1alpha1.EphemeralJob) *corev1.Pod {
				p := pod(0).Injected(job, 0).Started().Obj()
				p.DeletionTimestamp = &metav1.Time{Time: t0}
				return p
			}},
		{name: "a running container is not failed", pod: func(job *appsv1alpha1.EphemeralJob) *corev1.Pod {
			return pod(0).Injected(job, 0).Started().Obj()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			job := newJob()
			second := *job.Spec.Template.EphemeralContainers[0].DeepCopy()
			second.Name = "second"
			job.Spec.Template.EphemeralContainers = append(job.Spec.Template.EphemeralContainers, second)
			l := observed(t, job, tc.pod(job))
			if next := l.expireStarts(deadline, t0.Add(deadline-time.Second)); next == 0 && tc.wantFailed {
				t.Errorf("no requeue before the deadline")
			}
			if l.nFailed != 0 {
				t.Fatalf("failed before the deadline")
			}
			l.expireStarts(deadline, t0.Add(deadline+time.Second))
			if got := l.nFailed == 1; got != tc.wantFailed {
				t.Errorf("failed = %v, want %v", got, tc.wantFailed)
			}
		})
	}
}

// A container claiming an index below the written limit that the job never gave — above
// the next index, or given to an injection that can never be applied — is not counted.
func TestAnIndexNeverGivenIsForged(t *testing.T) {
	job := newJob()
	job.Status.IndexLimit = 100
	l := ledgerFrom(t, job)
	l.next = 3
	l.reserve(pod(7).Obj(), t0) // index 3, then its pod goes before the write is known to land
	l.gone(pod(7).Obj().UID)
	for _, idx := range []int32{3, 50} {
		p := pod(int(idx)).Injected(job, idx).Started().Obj()
		l.observe(p, t0)
		if f, ok := l.forged[p.UID]; !ok || f.reason != appsv1alpha1.ReasonIndexOutOfRange {
			t.Errorf("index %d: forgery %+v", idx, f)
		}
	}
	if s := l.summarize(job, false); s.running+s.waiting != 0 || len(l.active) != 0 {
		t.Errorf("forged containers counted: %+v, %d active", s, len(l.active))
	}
	// An index the job gave is the job's.
	given := pod(1).Injected(job, 1).Started().Obj()
	l.observe(given, t0)
	if _, forged := l.forged[given.UID]; forged || len(l.active) != 1 {
		t.Errorf("a given index was taken for forged: %v", l.forged)
	}
}

// A target adopted after a restart keeps the start deadline of its injection, read from
// when the pod's ephemeral containers were written, instead of getting a new one at every
// restart.
func TestAnAdoptedTargetKeepsItsStartDeadline(t *testing.T) {
	const deadline = time.Minute
	job := newJob()
	job.Status.IndexLimit = 100
	p := pod(0).Injected(job, 0).Waiting("ImagePullBackOff").Obj()
	p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "manager", Subresource: "ephemeralcontainers",
		Time: &metav1.Time{Time: t0}}}
	restartedAt := t0.Add(50 * time.Second)
	l := ledgerFrom(t, job)
	if err := l.rebuild(job, []*corev1.Pod{p}, nil, restartedAt); err != nil {
		t.Fatal(err)
	}
	l.expireStarts(deadline, t0.Add(deadline+time.Second))
	if l.nFailed != 1 {
		t.Errorf("an adopted target injected at %v did not fail at its deadline: the restart at %v restarted it",
			t0, restartedAt)
	}
}
