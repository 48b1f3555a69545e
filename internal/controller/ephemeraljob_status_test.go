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
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

// ledgerFrom builds the job's ledger from its status and the pods, as a starting manager does.
func ledgerFrom(t testing.TB, job *appsv1alpha1.EphemeralJob, pods ...*corev1.Pod) *ledger {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	l := newLedger(job, sel)
	var owned, selected []*corev1.Pod
	for _, p := range pods {
		if len(p.Spec.EphemeralContainers) > 0 {
			owned = append(owned, p)
		}
		if sel.Matches(labelSet(p)) {
			selected = append(selected, p)
		}
	}
	if err := l.rebuild(job, owned, selected, t0); err != nil {
		t.Fatal(err)
	}
	return l
}

// pod returns a Running pod app=web created i seconds after t0.
func pod(i int) *testutil.PodWrapper {
	w := testutil.MakePod(fmt.Sprintf("web-%02d", i), "ns").Label("app", "web").Running().UID(fmt.Sprintf("pod-%d", i))
	w.CreationTimestamp = metav1.NewTime(t0.Add(time.Duration(i) * time.Second))
	return w
}

// written returns a job whose status says indexes up to limit may have been given.
func written(limit int32, mutate ...func(*appsv1alpha1.EphemeralJob)) *appsv1alpha1.EphemeralJob {
	j := newJob()
	j.Status.IndexLimit = limit
	j.Status.StartTime = &metav1.Time{Time: t0}
	for _, m := range mutate {
		m(j)
	}
	return j
}

type counts struct {
	phase                                      appsv1alpha1.EphemeralJobPhase
	match, succeeded, failed, running, waiting int32
}

func TestComputeStatus(t *testing.T) {
	now := t0.Add(time.Minute)
	job := written(100)
	tests := []struct {
		name   string
		job    *appsv1alpha1.EphemeralJob
		pods   []*corev1.Pod
		want   counts
		reason string
	}{
		{name: "no pod matches", job: written(0), want: counts{phase: appsv1alpha1.EphemeralJobWaiting},
			reason: appsv1alpha1.ReasonNoMatchingPods},
		{name: "replicas 0 succeeds at once", job: written(0, func(j *appsv1alpha1.EphemeralJob) { j.Spec.Replicas = new(int32(0)) }),
			pods: []*corev1.Pod{pod(0).Obj()}, want: counts{phase: appsv1alpha1.EphemeralJobSucceeded}},
		{name: "candidates wait", job: written(0), pods: []*corev1.Pod{pod(0).Obj(), pod(1).Obj()},
			want: counts{phase: appsv1alpha1.EphemeralJobWaiting, match: 2, waiting: 2}},
		{name: "mixed results end Failed, never in limbo", job: job,
			pods: []*corev1.Pod{pod(0).Injected(job, 0).Exited(0).Obj(), pod(1).Injected(job, 1).Exited(1).Obj()},
			want: counts{phase: appsv1alpha1.EphemeralJobFailed, match: 2, succeeded: 1, failed: 1}, reason: appsv1alpha1.ReasonTargetsFailed},
		{name: "all succeeded", job: job,
			pods: []*corev1.Pod{pod(0).Injected(job, 0).Exited(0).Obj(), pod(1).Injected(job, 1).Exited(0).Obj()},
			want: counts{phase: appsv1alpha1.EphemeralJobSucceeded, match: 2, succeeded: 2}},
		{name: "a waiting reason it can never leave is a failure", job: job,
			pods: []*corev1.Pod{pod(0).Injected(job, 0).Waiting("ErrImageNeverPull").Obj()},
			want: counts{phase: appsv1alpha1.EphemeralJobFailed, match: 1, failed: 1}},
		{name: "a waiting reason the kubelet retries is not final", job: job,
			pods: []*corev1.Pod{pod(0).Injected(job, 0).Waiting("CreateContainerConfigError").Obj()},
			want: counts{phase: appsv1alpha1.EphemeralJobWaiting, match: 1, waiting: 1}},
		{name: "an image that runs as root against runAsNonRoot is final", job: job,
			pods: []*corev1.Pod{pod(0).Injected(job, 0).WaitingWith("CreateContainerConfigError",
				`container has runAsNonRoot and image will run as root (pod: "ns/web-00", container: check)`).Obj()},
			want: counts{phase: appsv1alpha1.EphemeralJobFailed, match: 1, failed: 1}, reason: appsv1alpha1.ReasonTargetsFailed},
		{name: "a failure budget spent stops new targets; running ones finish",
			job: written(100, func(j *appsv1alpha1.EphemeralJob) { j.Spec.FailureBudget = new(int32(2)) }),
			pods: []*corev1.Pod{pod(0).Injected(job, 0).Exited(1).Obj(), pod(1).Injected(job, 1).Exited(3).Obj(),
				pod(2).Injected(job, 2).Started().Obj(), pod(3).Obj(), pod(4).Obj()},
			want:   counts{phase: appsv1alpha1.EphemeralJobRunning, match: 3, failed: 2, running: 1},
			reason: appsv1alpha1.ReasonFailureBudgetExceeded},
		{name: "a failure budget spent ends the job Failed once the running targets finished",
			job: written(100, func(j *appsv1alpha1.EphemeralJob) { j.Spec.FailureBudget = new(int32(2)) }),
			pods: []*corev1.Pod{pod(0).Injected(job, 0).Exited(1).Obj(), pod(1).Injected(job, 1).Exited(3).Obj(),
				pod(2).Injected(job, 2).Exited(0).Obj(), pod(3).Obj(), pod(4).Obj()},
			want:   counts{phase: appsv1alpha1.EphemeralJobFailed, match: 3, succeeded: 1, failed: 2},
			reason: appsv1alpha1.ReasonFailureBudgetExceeded},
		{name: "a failure budget not spent changes nothing",
			job: written(100, func(j *appsv1alpha1.EphemeralJob) { j.Spec.FailureBudget = new(int32(3)) }),
			pods: []*corev1.Pod{pod(0).Injected(job, 0).Exited(1).Obj(), pod(1).Injected(job, 1).Exited(3).Obj(),
				pod(2).Obj()},
			want: counts{phase: appsv1alpha1.EphemeralJobRunning, match: 3, failed: 2, waiting: 1}, reason: appsv1alpha1.ReasonInjecting},
		{name: "replicas caps the targets", job: written(100, func(j *appsv1alpha1.EphemeralJob) { j.Spec.Replicas = new(int32(2)) }),
			pods: []*corev1.Pod{pod(0).Injected(job, 0).Started().Obj(), pod(1).Obj(), pod(2).Obj()},
			want: counts{phase: appsv1alpha1.EphemeralJobRunning, match: 2, running: 1, waiting: 1}},
		{name: "pods not running yet count as waiting", job: written(0),
			pods: []*corev1.Pod{func() *corev1.Pod { p := pod(0).Obj(); p.Status.Phase = corev1.PodPending; return p }(), pod(1).Obj()},
			want: counts{phase: appsv1alpha1.EphemeralJobWaiting, match: 2, waiting: 2}},
		{name: "pods that ended or are terminating do not count", job: written(0),
			pods: []*corev1.Pod{
				func() *corev1.Pod { p := pod(0).Obj(); p.Status.Phase = corev1.PodSucceeded; return p }(),
				func() *corev1.Pod {
					p := pod(2).Obj()
					p.Status.Phase = corev1.PodPending
					p.DeletionTimestamp = &metav1.Time{Time: t0}
					return p
				}(),
				pod(1).Obj()},
			want: counts{phase: appsv1alpha1.EphemeralJobWaiting, match: 1, waiting: 1}},
		{name: "pods not running yet count up to replicas",
			job: written(100, func(j *appsv1alpha1.EphemeralJob) { j.Spec.Replicas = new(int32(2)) }),
			pods: []*corev1.Pod{pod(0).Injected(job, 0).Exited(0).Obj(),
				func() *corev1.Pod { p := pod(1).Obj(); p.Status.Phase = corev1.PodPending; return p }(),
				func() *corev1.Pod { p := pod(2).Obj(); p.Status.Phase = corev1.PodPending; return p }()},
			want: counts{phase: appsv1alpha1.EphemeralJobRunning, match: 2, succeeded: 1, waiting: 1}},
		{name: "paused keeps counting", job: written(100, func(j *appsv1alpha1.EphemeralJob) { j.Spec.Paused = true }),
			pods: []*corev1.Pod{pod(0).Injected(job, 0).Exited(0).Obj(), pod(1).Obj()},
			want: counts{phase: appsv1alpha1.EphemeralJobPaused, match: 2, succeeded: 1, waiting: 1}, reason: appsv1alpha1.ReasonPaused},
		{name: "recorded results of vanished pods are kept, active ones fail",
			job: written(100, func(j *appsv1alpha1.EphemeralJob) {
				j.Status.SucceededIndexes, j.Status.ActiveIndexes = "0-1", "2"
			}),
			want: counts{phase: appsv1alpha1.EphemeralJobFailed, match: 3, succeeded: 2, failed: 1}},
		{name: "a finished phase is kept", job: written(100, func(j *appsv1alpha1.EphemeralJob) {
			j.Status.Phase, j.Status.CompletionTime = appsv1alpha1.EphemeralJobSucceeded, &metav1.Time{Time: t0}
			j.Status.SucceededIndexes = "0"
		}), pods: []*corev1.Pod{pod(1).Obj()}, want: counts{phase: appsv1alpha1.EphemeralJobSucceeded, match: 1, succeeded: 1}},
		{name: "deadline passed fails the job and counts no candidate",
			job:  written(100, func(j *appsv1alpha1.EphemeralJob) { j.Spec.ActiveDeadlineSeconds = new(int64(30)) }),
			pods: []*corev1.Pod{pod(0).Injected(job, 0).Started().Obj(), pod(1).Obj()},
			want: counts{phase: appsv1alpha1.EphemeralJobFailed, match: 1, running: 1}, reason: appsv1alpha1.ReasonDeadlineExceeded},
		{name: "deadline passed with no target fails the job with NoTargets",
			job:  written(0, func(j *appsv1alpha1.EphemeralJob) { j.Spec.ActiveDeadlineSeconds = new(int64(30)) }),
			want: counts{phase: appsv1alpha1.EphemeralJobFailed}, reason: appsv1alpha1.ReasonNoTargets},
		{name: "all succeeded completes", job: job,
			pods: []*corev1.Pod{pod(0).Injected(job, 0).Exited(0).Obj()},
			want: counts{phase: appsv1alpha1.EphemeralJobSucceeded, match: 1, succeeded: 1}, reason: appsv1alpha1.ReasonAllSucceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := ledgerFrom(t, tc.job, tc.pods...)
			acceptNew := !tc.job.Status.Phase.IsFinished() && !deadlinePassed(tc.job, tc.job.Status.StartTime, now)
			st := computeStatus(tc.job, l, acceptNew, now)
			got := counts{st.Phase, st.Match, st.Succeeded, st.Failed, st.Running, st.Waiting}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if st.Match != st.Succeeded+st.Failed+st.Running+st.Waiting {
				t.Errorf("match %d is not the sum of the counts: %+v", st.Match, st)
			}
			if st.Phase.IsFinished() != (st.CompletionTime != nil) {
				t.Errorf("phase %s with completionTime %v", st.Phase, st.CompletionTime)
			}
			// As for batch/v1 Jobs: Complete only on success, Failed only on failure.
			complete := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionComplete)
			failed := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionFailed)
			typ := appsv1alpha1.ConditionProgressing
			switch st.Phase {
			case appsv1alpha1.EphemeralJobSucceeded:
				typ = appsv1alpha1.ConditionComplete
				if complete == nil || complete.Status != metav1.ConditionTrue || failed != nil {
					t.Errorf("succeeded with Complete %+v and Failed %+v", complete, failed)
				}
			case appsv1alpha1.EphemeralJobFailed:
				typ = appsv1alpha1.ConditionFailed
				if failed == nil || failed.Status != metav1.ConditionTrue || complete != nil {
					t.Errorf("failed with Complete %+v and Failed %+v", complete, failed)
				}
			default:
				if complete != nil || failed != nil {
					t.Errorf("%s with Complete %+v and Failed %+v", st.Phase, complete, failed)
				}
			}
			if tc.reason != "" {
				if c := meta.FindStatusCondition(st.Conditions, typ); c == nil || c.Reason != tc.reason {
					t.Errorf("condition %s: %+v, want reason %s", typ, c, tc.reason)
				}
			}
		})
	}
}

// A job an earlier version finished Failed with Complete=True loses Complete with the next
// status, and keeps its Failed condition as it was written.
func TestFailedJobOfAnEarlierVersionLosesComplete(t *testing.T) {
	job := written(100, func(j *appsv1alpha1.EphemeralJob) {
		j.Status.Phase, j.Status.CompletionTime = appsv1alpha1.EphemeralJobFailed, &metav1.Time{Time: t0}
		j.Status.FailedIndexes = "0"
		j.Status.Conditions = []metav1.Condition{
			{Type: appsv1alpha1.ConditionComplete, Status: metav1.ConditionTrue, Reason: "SomeFailed", Message: "1 of 1 pods finished"},
			{Type: appsv1alpha1.ConditionFailed, Status: metav1.ConditionTrue, Reason: "SomeFailed", Message: "1 of 1 pods failed"},
		}
	})
	st := computeStatus(job, ledgerFrom(t, job), false, t0.Add(time.Hour))
	if c := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionComplete); c != nil {
		t.Errorf("a failed job keeps Complete: %+v", c)
	}
	if c := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionFailed); c == nil ||
		c.Reason != "SomeFailed" || c.Message != "1 of 1 pods failed" {
		t.Errorf("Failed changed: %+v", c)
	}
}

// The failure budget's messages say how many targets failed, the budget, and how many pods
// were spared.
func TestFailureBudgetMessage(t *testing.T) {
	job := written(100, func(j *appsv1alpha1.EphemeralJob) { j.Spec.FailureBudget = new(int32(2)) })
	pods := []*corev1.Pod{pod(0).Injected(job, 0).Exited(1).Obj(), pod(1).Injected(job, 1).Exited(1).Obj(),
		pod(2).Obj(), pod(3).Obj(), pod(4).Obj()}
	st := computeStatus(job, ledgerFrom(t, job, pods...), true, t0)
	c := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionFailed)
	if c == nil || !strings.HasPrefix(c.Message, "2 targets failed, reaching failureBudget (2): 3 pods spared; 2 of 2 pods failed") {
		t.Errorf("Failed: %+v", c)
	}
}

func TestIndexLimitIsRaisedAheadOfInjections(t *testing.T) {
	job := written(0)
	l := ledgerFrom(t, job, pod(0).Obj())
	st := computeStatus(job, l, true, t0)
	if st.IndexLimit < job.Spec.GetParallelism() {
		t.Errorf("index limit %d leaves no room to inject", st.IndexLimit)
	}
	if l.writtenLimit != 0 {
		t.Errorf("the ledger takes the limit as written before the status is: %d", l.writtenLimit)
	}
}

func TestConditionMessagesStayShort(t *testing.T) {
	job := written(1000)
	var pods []*corev1.Pod
	for i := range 200 {
		pods = append(pods, pod(i).Containers("other").Obj())
	}
	l := ledgerFrom(t, job, pods...)
	for _, p := range pods {
		reason, msg := checkInjectable(job, p)
		l.refuse(p, nil, reason, msg+strings.Repeat(" and more", 100))
	}
	st := computeStatus(job, l, true, t0)
	if len(st.Refused) != appsv1alpha1.MaxRefusedListed || st.Failed != 200 {
		t.Fatalf("%d refusals listed, %d failed", len(st.Refused), st.Failed)
	}
	for _, c := range st.Conditions {
		if len(c.Message) > 2*maxMessageLength {
			t.Errorf("condition %s has a message of %d bytes", c.Type, len(c.Message))
		}
	}
	for _, r := range st.Refused {
		if len(r.Message) > maxMessageLength+len("…") {
			t.Errorf("refusal message of %d bytes", len(r.Message))
		}
	}
}

func TestResultsFoldIdenticalResults(t *testing.T) {
	job := written(100)
	pods := []*corev1.Pod{
		pod(0).Injected(job, 0).ExitedWith(0, "Completed", "").Obj(),
		pod(1).Injected(job, 1).ExitedWith(1, "Error", "helloworld is not running\n").Obj(),
		pod(2).Injected(job, 2).ExitedWith(0, "Completed", "").Obj(),
		pod(3).Injected(job, 3).ExitedWith(1, "Error", "helloworld is not running\n").Obj(),
		pod(4).Injected(job, 4).ExitedWith(1, "Error", "helloworld is not running\n").Obj(),
	}
	l := ledgerFrom(t, job, pods...)
	st := computeStatus(job, l, true, t0)
	want := []appsv1alpha1.ResultGroup{
		{Succeeded: true, ExitCode: new(int32(0)), Reason: "Completed", Count: 2, Pods: []string{"web-00/check", "web-02/check"}},
		{ExitCode: new(int32(1)), Reason: "Error", Message: "helloworld is not running", Count: 3,
			Pods: []string{"web-01/check", "web-03/check", "web-04/check"}},
	}
	if !equality.Semantic.DeepEqual(st.Results, want) {
		t.Fatalf("results %+v, want %+v", st.Results, want)
	}
	failed := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionFailed)
	if failed == nil {
		t.Fatalf("conditions %+v", st.Conditions)
	}
	if got := failed.Message; got != "3 of 5 pods failed, 3 with exit code 1 (helloworld is not running): "+
		"web-01/check, web-03/check, web-04/check; `kubectl ejob results ej` lists each pod" {
		t.Errorf("Failed says %q", got)
	}

	// After a restart the groups carry on from the status, without counting a target twice.
	job.Status = st
	l = ledgerFrom(t, job, pods...)
	if again := computeStatus(job, l, true, t0); !equality.Semantic.DeepEqual(again.Results, want) {
		t.Errorf("after a restart: %+v", again.Results)
	}
}

func TestResultsAreBounded(t *testing.T) {
	job := written(100)
	var pods []*corev1.Pod
	for i := range 25 {
		pods = append(pods, pod(i).Injected(job, int32(i)).ExitedWith(int32(i%15), "Error", "").Obj())
	}
	st := computeStatus(job, ledgerFrom(t, job, pods...), true, t0)
	var grouped int32
	for _, g := range st.Results {
		grouped += g.Count
		if len(g.Pods) > appsv1alpha1.MaxResultSamples {
			t.Errorf("group names %d pods", len(g.Pods))
		}
	}
	if len(st.Results) != appsv1alpha1.MaxResultGroups || grouped+st.OtherResults != 25 || st.OtherResults == 0 {
		t.Errorf("%d groups of %d targets, %d others", len(st.Results), grouped, st.OtherResults)
	}
}

func TestResultsWrittenBeforeGroupsCountAsOthers(t *testing.T) {
	job := written(100, func(j *appsv1alpha1.EphemeralJob) { j.Status.SucceededIndexes, j.Status.FailedIndexes = "0-2", "3" })
	st := computeStatus(job, ledgerFrom(t, job, pod(4).Injected(job, 4).ExitedWith(0, "Completed", "").Obj()), true, t0)
	if len(st.Results) != 1 || st.Results[0].Count != 1 || st.OtherResults != 4 {
		t.Errorf("results %+v, %d others; want the new result grouped and the 4 old ones as others", st.Results, st.OtherResults)
	}
}

func TestAReasonReadFromAPodIsBounded(t *testing.T) {
	job := written(100)
	p := pod(0).Injected(job, 0).ExitedWith(1, strings.Repeat("R", 100000), strings.Repeat("m", 100000)).Obj()
	st := computeStatus(job, ledgerFrom(t, job, p), true, t0)
	if len(st.Results) != 1 || len(st.Results[0].Reason) > maxReasonLength ||
		len(st.Results[0].Message) > maxMessageLength {
		t.Fatalf("results %d, reason of %d bytes, message of %d", len(st.Results), len(st.Results[0].Reason), len(st.Results[0].Message))
	}
	for _, c := range st.Conditions {
		if len(c.Message) > 2*maxMessageLength {
			t.Errorf("condition %s has a message of %d bytes", c.Type, len(c.Message))
		}
	}
}

// alternating returns a job's ledger with n finished targets whose outcomes alternate,
// the worst case for ranges: one per target.
func alternating(t testing.TB, n int32) (*appsv1alpha1.EphemeralJob, *ledger) {
	job := written(n + 1000)
	l := ledgerFrom(t, job)
	l.next = 0
	for i := range n {
		outcome := podstate.Succeeded
		if i%2 == 1 {
			outcome = podstate.Failed
		}
		l.next++
		l.finish(i, outcome, targetResult{pod: fmt.Sprintf("p-%d", i), exitCode: new(i % 2)})
		if i%1000 == 0 {
			computeStatus(job, l, true, t0) // status writes along the way
		}
	}
	return job, l
}

// A 100,000-target job whose outcomes alternate keeps its status within the bound, and
// still counts exactly, also after a restart.
func TestIndexListsStayWithinTheirBound(t *testing.T) {
	const n = 100000
	job, l := alternating(t, n)
	st := computeStatus(job, l, true, t0)
	lists := len(st.SucceededIndexes) + len(st.FailedIndexes) + len(st.RefusedIndexes)
	if lists > appsv1alpha1.MaxIndexListBytes || !st.IndexListsTruncated {
		t.Errorf("index lists of %d bytes, truncated %v", lists, st.IndexListsTruncated)
	}
	if st.ClosedIndexes != "0-99999" || st.Succeeded != n/2 || st.Failed != n/2 {
		t.Errorf("closed %q, %d succeeded, %d failed", st.ClosedIndexes, st.Succeeded, st.Failed)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > appsv1alpha1.MaxIndexListBytes+8<<10 {
		t.Errorf("the status is %d bytes", len(b))
	}
	// The lists keep their first ranges: the start of each is right.
	if !strings.HasPrefix(st.SucceededIndexes, "0,2,4,6") || !strings.HasPrefix(st.FailedIndexes, "1,3,5,7") {
		t.Errorf("lists start %.20q, %.20q", st.SucceededIndexes, st.FailedIndexes)
	}

	// Restarted from that status, with a finished target still in its pod and a new one.
	job.Status = st
	old := pod(5).Injected(job, 5).Exited(1).Obj()
	fresh := pod(n).Injected(job, n).Exited(0).Obj()
	l2 := ledgerFrom(t, job, old, fresh)
	st2 := computeStatus(job, l2, true, t0)
	if st2.Succeeded != n/2+1 || st2.Failed != n/2 || st2.ClosedIndexes != "0-100000" {
		t.Errorf("after a restart: %d succeeded, %d failed, closed %q", st2.Succeeded, st2.Failed, st2.ClosedIndexes)
	}
	if st2.SucceededIndexes != st.SucceededIndexes || !st2.IndexListsTruncated {
		t.Errorf("the truncated lists changed after a restart")
	}
}

// A status written before closedIndexes existed is read from its complete lists.
func TestClosedIndexesFromAnOlderStatus(t *testing.T) {
	job := written(100, func(j *appsv1alpha1.EphemeralJob) {
		j.Status.SucceededIndexes, j.Status.FailedIndexes = "0-3,6", "4-5"
		j.Status.Succeeded, j.Status.Failed = 5, 2
	})
	l := ledgerFrom(t, job, pod(4).Injected(job, 4).Exited(1).Obj())
	st := computeStatus(job, l, true, t0)
	if st.ClosedIndexes != "0-6" || st.Succeeded != 5 || st.Failed != 2 {
		t.Errorf("closed %q, %d succeeded, %d failed", st.ClosedIndexes, st.Succeeded, st.Failed)
	}
}

// Counting one more result costs the same with 100,000 finished targets as with 10,000:
// the status' lists are bounded and the closed set is one range.
func TestAResultCostsTheSameAtAnySize(t *testing.T) {
	allocs := map[int32]float64{}
	for _, n := range []int32{10000, 100000} {
		job, l := alternating(t, n)
		computeStatus(job, l, true, t0)
		allocs[n] = testing.AllocsPerRun(50, func() {
			l.next++
			l.finish(l.next-1, podstate.Failed, targetResult{pod: "p", exitCode: new(int32(1))})
			computeStatus(job, l, true, t0)
		})
	}
	if allocs[100000] > allocs[10000]+2 {
		t.Errorf("a result allocates %.0f times at 100,000 targets, %.0f at 10,000", allocs[100000], allocs[10000])
	}
}

// A job that cannot run (an invalid selector) has failed for whoever waits on it: Failed is
// True with the reason, Progressing False, and Complete absent.
func TestErrorPhaseIsFailed(t *testing.T) {
	var st appsv1alpha1.EphemeralJobStatus
	setConditions(&st, 1, appsv1alpha1.EphemeralJobError, appsv1alpha1.ReasonInvalidSelector, "spec.selector: bad")
	failed := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionFailed)
	progressing := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionProgressing)
	if failed == nil || failed.Status != metav1.ConditionTrue || failed.Reason != appsv1alpha1.ReasonInvalidSelector ||
		progressing == nil || progressing.Status != metav1.ConditionFalse ||
		meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionComplete) != nil {
		t.Errorf("conditions %+v", st.Conditions)
	}
}

// Another field manager that wrote the status after the operator is named; one that wrote
// before it, or before the operator ever wrote under its name, is not.
func TestForeignStatusWriter(t *testing.T) {
	at := func(sec int) *metav1.Time { return &metav1.Time{Time: t0.Add(time.Duration(sec) * time.Second)} }
	entry := func(manager string, sec int) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Subresource: "status", Time: at(sec)}
	}
	tests := []struct {
		name    string
		entries []metav1.ManagedFieldsEntry
		want    string
	}{
		{"only the operator", []metav1.ManagedFieldsEntry{entry(appsv1alpha1.FieldManager, 10)}, ""},
		{"another wrote after it", []metav1.ManagedFieldsEntry{entry(appsv1alpha1.FieldManager, 10), entry("kruise-manager", 20)},
			"kruise-manager"},
		{"another wrote in the same second", []metav1.ManagedFieldsEntry{entry(appsv1alpha1.FieldManager, 10), entry("kruise-manager", 10)},
			"kruise-manager"},
		{"another wrote before it", []metav1.ManagedFieldsEntry{entry("manager", 5), entry(appsv1alpha1.FieldManager, 10)}, ""},
		{"the operator never wrote under its name", []metav1.ManagedFieldsEntry{entry("manager", 5)}, ""},
		{"a write of the spec is not one of the status",
			[]metav1.ManagedFieldsEntry{entry(appsv1alpha1.FieldManager, 10), {Manager: "kubectl", Time: at(20)}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			job := written(0)
			job.ManagedFields = tc.entries
			var st appsv1alpha1.EphemeralJobStatus
			setForeignWriterCondition(&st, job)
			c := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionForeignStatusWriter)
			switch {
			case tc.want == "" && c != nil:
				t.Errorf("condition %+v", c)
			case tc.want != "" && (c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, `"`+tc.want+`"`)):
				t.Errorf("condition %+v, want one naming %s", c, tc.want)
			}
		})
	}
}
