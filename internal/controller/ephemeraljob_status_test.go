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
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// podState is what a test pod's single job container is doing.
type podState int

const (
	notInjected podState = iota
	injectedNoStatus
	running
	exit0
	exit1
	stuck // waiting for a reason it never leaves
	notRunning
)

// makePod returns a Running pod app=web created i seconds after t0, in the given state for job.
func makePod(job *appsv1alpha1.EphemeralJob, i int, index int32, state podState) *corev1.Pod {
	p := testutil.MakePod(fmt.Sprintf("web-%02d", i), "ns").Label("app", "web").Obj()
	p.UID = types.UID(fmt.Sprintf("pod-%d", i))
	p.CreationTimestamp = metav1.NewTime(t0.Add(time.Duration(i) * time.Second))
	p.Status.Phase = corev1.PodRunning
	if state == notRunning {
		p.Status.Phase = corev1.PodPending
	}
	if state == notInjected || state == notRunning {
		return p
	}
	p.Spec.EphemeralContainers = containersFor(job, index)
	st := corev1.ContainerStatus{Name: "check"}
	switch state {
	case running:
		st.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(t0)}
	case exit0, exit1:
		st.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: map[podState]int32{exit0: 0, exit1: 1}[state]}
	case stuck:
		st.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull"}
	default:
		return p
	}
	p.Status.EphemeralContainerStatuses = []corev1.ContainerStatus{st}
	return p
}

func newJob() *appsv1alpha1.EphemeralJob {
	j := testutil.MakeEphemeralJob("ej", "ns", "web").Obj()
	j.UID = "job-uid"
	j.CreationTimestamp = metav1.NewTime(t0)
	return j
}

func TestAssessAndComputeStatus(t *testing.T) {
	type want struct {
		phase                                      appsv1alpha1.EphemeralJobPhase
		match, succeeded, failed, running, waiting int32
		inject                                     []string
	}
	tests := []struct {
		name   string
		job    func(*appsv1alpha1.EphemeralJob)
		status appsv1alpha1.EphemeralJobStatus
		// pods: state per pod, in creation order; injected pods get indexes in order.
		pods []podState
		// gone are indexes recorded in status whose pods no longer exist.
		want want
	}{
		{name: "no pod matches", pods: nil,
			want: want{phase: appsv1alpha1.EphemeralJobWaiting}},
		{name: "fresh job injects the oldest pod first", pods: []podState{notInjected, notInjected, notInjected},
			want: want{phase: appsv1alpha1.EphemeralJobWaiting, match: 3, waiting: 3, inject: []string{"web-00"}}},
		{name: "parallelism counts waiting containers too",
			job:  func(j *appsv1alpha1.EphemeralJob) { j.Spec.Parallelism = new(int32(2)) },
			pods: []podState{injectedNoStatus, running, notInjected},
			want: want{phase: appsv1alpha1.EphemeralJobRunning, match: 3, running: 1, waiting: 2}},
		{name: "a finished pod frees a slot",
			job:  func(j *appsv1alpha1.EphemeralJob) { j.Spec.Parallelism = new(int32(2)) },
			pods: []podState{exit0, running, notInjected, notInjected},
			want: want{phase: appsv1alpha1.EphemeralJobRunning, match: 4, succeeded: 1, running: 1, waiting: 2, inject: []string{"web-02"}}},
		{name: "mixed results end Failed, never in limbo", pods: []podState{exit0, exit1, exit0, exit1},
			want: want{phase: appsv1alpha1.EphemeralJobFailed, match: 4, succeeded: 2, failed: 2}},
		{name: "all failed", pods: []podState{exit1, exit1},
			want: want{phase: appsv1alpha1.EphemeralJobFailed, match: 2, failed: 2}},
		{name: "all succeeded", pods: []podState{exit0, exit0},
			want: want{phase: appsv1alpha1.EphemeralJobSucceeded, match: 2, succeeded: 2}},
		{name: "a waiting reason it can never leave is a failure", pods: []podState{stuck, exit0},
			want: want{phase: appsv1alpha1.EphemeralJobFailed, match: 2, succeeded: 1, failed: 1}},
		{name: "replicas larger than the matching pods still finishes",
			job:  func(j *appsv1alpha1.EphemeralJob) { j.Spec.Replicas = new(int32(10)) },
			pods: []podState{exit0, exit0},
			want: want{phase: appsv1alpha1.EphemeralJobSucceeded, match: 2, succeeded: 2}},
		{name: "replicas caps the targets",
			job: func(j *appsv1alpha1.EphemeralJob) {
				j.Spec.Replicas = new(int32(2))
				j.Spec.Parallelism = new(int32(5))
			},
			pods: []podState{exit0, notInjected, notInjected, notInjected},
			want: want{phase: appsv1alpha1.EphemeralJobRunning, match: 2, succeeded: 1, waiting: 1, inject: []string{"web-01"}}},
		{name: "pods not running are not targets", pods: []podState{notRunning, notInjected},
			want: want{phase: appsv1alpha1.EphemeralJobWaiting, match: 1, waiting: 1, inject: []string{"web-01"}}},
		{name: "paused injects nothing and keeps counting",
			job:  func(j *appsv1alpha1.EphemeralJob) { j.Spec.Paused = true },
			pods: []podState{exit0, notInjected},
			want: want{phase: appsv1alpha1.EphemeralJobPaused, match: 2, succeeded: 1, waiting: 1}},
		{name: "recorded results of vanished pods are kept, unfinished ones fail",
			status: appsv1alpha1.EphemeralJobStatus{Targeted: 3, SucceededIndexes: "0", Phase: appsv1alpha1.EphemeralJobRunning},
			pods:   []podState{},
			want:   want{phase: appsv1alpha1.EphemeralJobFailed, match: 3, succeeded: 1, failed: 2}},
		{name: "a finished phase is kept",
			status: appsv1alpha1.EphemeralJobStatus{Targeted: 1, SucceededIndexes: "0", Phase: appsv1alpha1.EphemeralJobSucceeded,
				CompletionTime: &metav1.Time{Time: t0}},
			pods: []podState{exit0, notInjected},
			want: want{phase: appsv1alpha1.EphemeralJobSucceeded, match: 1, succeeded: 1}},
		{name: "deadline passed fails the job and injects nothing",
			job:    func(j *appsv1alpha1.EphemeralJob) { j.Spec.ActiveDeadlineSeconds = new(int64(10)) },
			status: appsv1alpha1.EphemeralJobStatus{StartTime: &metav1.Time{Time: t0.Add(-time.Minute)}},
			pods:   []podState{running, notInjected},
			want:   want{phase: appsv1alpha1.EphemeralJobFailed, match: 1, running: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			job := newJob()
			if tc.job != nil {
				tc.job(job)
			}
			job.Status = tc.status
			clk := clocktesting.NewFakePassiveClock(t0)
			var pods []*corev1.Pod
			var owned []*corev1.Pod
			next := int32(0)
			for i, s := range tc.pods {
				idx := int32(-1)
				if s != notInjected && s != notRunning {
					idx = next
					next++
				}
				p := makePod(job, i, idx, s)
				pods = append(pods, p)
				if idx >= 0 {
					owned = append(owned, p)
				}
			}
			now := clk.Now()
			start := now
			if job.Status.StartTime != nil {
				start = job.Status.StartTime.Time
			}
			acceptNew := !job.Status.Phase.IsFinished() && !deadlinePassed(job, &metav1.Time{Time: start}, now)
			a, err := assess(observation{job: job, selected: pods, owned: owned, pending: map[types.UID]pendingInjection{}}, acceptNew)
			if err != nil {
				t.Fatal(err)
			}
			var inject []string
			if !job.Spec.Paused {
				for _, p := range planInjections(job, a) {
					inject = append(inject, p.Name)
				}
			}
			st := computeStatus(job, a, now)
			got := want{st.Phase, st.Match, st.Succeeded, st.Failed, st.Running, st.Waiting, inject}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if st.Match != st.Succeeded+st.Failed+st.Running+st.Waiting {
				t.Errorf("invariant broken: %+v", st)
			}
			if st.Phase.IsFinished() != (st.CompletionTime != nil) {
				t.Errorf("phase %s with completionTime %v", st.Phase, st.CompletionTime)
			}
			if st.StartTime == nil {
				t.Errorf("startTime not set")
			}
		})
	}
}

func TestIndexSetRoundTrip(t *testing.T) {
	tests := []struct{ in, out string }{
		{"", ""}, {"0", "0"}, {"0-3,7", "0-3,7"}, {"3,0,1,2", "0-3"}, {"5-6,1", "1,5-6"},
	}
	for _, tc := range tests {
		s, err := parseIndexSet(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if got := s.String(); got != tc.out {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.out)
		}
	}
	for _, bad := range []string{"a", "3-1", "-1", "1,,2"} {
		if _, err := parseIndexSet(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestExpiry(t *testing.T) {
	finished := &metav1.Time{Time: t0.Add(30 * time.Second)}
	tests := []struct {
		name        string
		spec        func(*appsv1alpha1.EphemeralJob)
		status      appsv1alpha1.EphemeralJobStatus
		now         time.Time
		wantExpired bool
		wantAfter   time.Duration
	}{
		{name: "no TTL, no deadline", now: t0.Add(time.Hour)},
		{name: "before ttlSecondsAfterCreated", spec: func(j *appsv1alpha1.EphemeralJob) { j.Spec.TTLSecondsAfterCreated = new(int32(60)) },
			now: t0.Add(20 * time.Second), wantAfter: 40 * time.Second},
		{name: "at ttlSecondsAfterCreated", spec: func(j *appsv1alpha1.EphemeralJob) { j.Spec.TTLSecondsAfterCreated = new(int32(60)) },
			now: t0.Add(60 * time.Second), wantExpired: true},
		{name: "ttlSecondsAfterFinished waits for completion", spec: func(j *appsv1alpha1.EphemeralJob) { j.Spec.TTLSecondsAfterFinished = new(int32(5)) },
			now: t0.Add(time.Hour)},
		{name: "ttlSecondsAfterFinished after completion", spec: func(j *appsv1alpha1.EphemeralJob) { j.Spec.TTLSecondsAfterFinished = new(int32(5)) },
			status: appsv1alpha1.EphemeralJobStatus{CompletionTime: finished, Phase: appsv1alpha1.EphemeralJobSucceeded},
			now:    t0.Add(32 * time.Second), wantAfter: 3 * time.Second},
		{name: "deadline requeue", spec: func(j *appsv1alpha1.EphemeralJob) { j.Spec.ActiveDeadlineSeconds = new(int64(100)) },
			status: appsv1alpha1.EphemeralJobStatus{StartTime: &metav1.Time{Time: t0}, Phase: appsv1alpha1.EphemeralJobRunning},
			now:    t0.Add(90 * time.Second), wantAfter: 10 * time.Second},
		{name: "the earliest moment wins", spec: func(j *appsv1alpha1.EphemeralJob) {
			j.Spec.ActiveDeadlineSeconds = new(int64(100))
			j.Spec.TTLSecondsAfterCreated = new(int32(50))
		}, status: appsv1alpha1.EphemeralJobStatus{StartTime: &metav1.Time{Time: t0}, Phase: appsv1alpha1.EphemeralJobRunning},
			now: t0.Add(10 * time.Second), wantAfter: 40 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			job := newJob()
			if tc.spec != nil {
				tc.spec(job)
			}
			expired, after := expiry(job, &tc.status, tc.now)
			if expired != tc.wantExpired || after != tc.wantAfter {
				t.Errorf("got (%v, %v), want (%v, %v)", expired, after, tc.wantExpired, tc.wantAfter)
			}
		})
	}
}

func TestCheckInjectable(t *testing.T) {
	job := newJob()
	tests := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"fine", testutil.MakePod("p", "ns").Obj(), ""},
		{"target missing", testutil.MakePod("p", "ns").Containers("other").Obj(), appsv1alpha1.ReasonTargetContainerNotFound},
		{"name taken by a container", testutil.MakePod("p", "ns").Containers("app", "check").Obj(), appsv1alpha1.ReasonContainerNameTaken},
		{"name taken by an ephemeral container", func() *corev1.Pod {
			p := testutil.MakePod("p", "ns").Obj()
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "check"}}}
			return p
		}(), appsv1alpha1.ReasonContainerNameTaken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := checkInjectable(job, tc.pod); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
