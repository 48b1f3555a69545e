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

package kubectlejob

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

// The targets the status counts that no pod stands for, from complete lists and from
// truncated ones, where the counts and the closed indexes tell.
func TestMissingTargets(t *testing.T) {
	idx := func(i int32) *int32 { return &i }
	found := []Target{{Index: idx(0)}, {Index: idx(3)}, {Index: idx(9)}, {Pod: "no-index"}}
	tests := []struct {
		name   string
		status appsv1alpha1.EphemeralJobStatus
		want   int64
	}{
		{name: "complete lists", want: 3, status: appsv1alpha1.EphemeralJobStatus{
			SucceededIndexes: "0-2", FailedIndexes: "3-4", ActiveIndexes: "9", Succeeded: 3, Failed: 2}},
		{name: "truncated lists", want: 3, status: appsv1alpha1.EphemeralJobStatus{
			SucceededIndexes: "0", FailedIndexes: "", IndexListsTruncated: true, ClosedIndexes: "0-5",
			ActiveIndexes: "9", Succeeded: 3, Failed: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := missingTargets(&tc.status, found); got != tc.want {
				t.Errorf("missingTargets = %d, want %d", got, tc.want)
			}
		})
	}
}

// refusedJob is a job that refused twelve pods for lacking the target container: the
// status details the first two and identifies the other ten by their IDs, as the
// controller writes it once its ten details are used (here, two of them).
func refusedJob(t *testing.T) (*appsv1alpha1.EphemeralJob, []corev1.Pod) {
	t.Helper()
	job := testutil.MakeEphemeralJob("j", "ns", "web").UID("0b7c6a0e-2222-4000-8000-000000000000").Obj()
	var pods []corev1.Pod
	var ids string
	for i := range 12 {
		uid := fmt.Sprintf("0b7c6a0e-2222-4000-8000-0000000001%02d", i)
		pods = append(pods, *testutil.MakePod(fmt.Sprintf("web-%02d", i), "ns").Containers("other").UID(uid).Obj())
		if i < 2 {
			job.Status.Refused = append(job.Status.Refused, appsv1alpha1.RefusedPod{Index: int32(i),
				Name: pods[i].Name, UID: pods[i].UID, Reason: appsv1alpha1.ReasonTargetContainerNotFound,
				Message: `the pod has no container "app" to target`})
		} else {
			ids += podstate.RefusedID(pods[i].UID)
		}
	}
	injected := testutil.MakePod("web-12", "ns").UID("0b7c6a0e-2222-4000-8000-000000000112").
		Injected(job, 12).ExitedWith(0, "Completed", "").Obj()
	bystander := testutil.MakePod("bystander", "ns").UID("0b7c6a0e-2222-4000-8000-000000000113").Obj()
	pods = append(pods, *injected, *bystander)
	job.Status.Refusals = []appsv1alpha1.ReasonCount{
		{Reason: appsv1alpha1.ReasonTargetContainerNotFound, Count: 12, PodIDs: ids}}
	job.Status.SucceededIndexes, job.Status.FailedIndexes, job.Status.RefusedIndexes = "12", "0-11", "0-11"
	job.Status.IndexLimit = 13
	return job, pods
}

// Every refused pod is a row, whether the status details it or only identifies it, and the
// pods it identifies are not counted as gone.
func TestLiveTargetsRefusals(t *testing.T) {
	job, pods := refusedJob(t)
	keep := keepsPod(job)
	var kept []corev1.Pod
	for i := range pods {
		if keep(&pods[i]) {
			kept = append(kept, pods[i])
		}
	}
	// The two refusals the status details are rows of their own: their pods are not needed.
	if len(kept) != 11 {
		t.Fatalf("kept %d pods, want the 10 refused that the status identifies and the injected one", len(kept))
	}
	targets, forged := liveTargets(job, kept)
	if len(forged) != 0 {
		t.Errorf("forged %v", forged)
	}
	var rows []string
	for _, tg := range targets {
		index := "-"
		if tg.Index != nil {
			index = fmt.Sprint(*tg.Index)
		}
		rows = append(rows, strings.Join([]string{index, tg.Pod, tg.Status, tg.Reason, tg.Message}, " "))
	}
	want := []string{
		`0 web-00 Failed TargetContainerNotFound the pod has no container "app" to target`,
		`1 web-01 Failed TargetContainerNotFound the pod has no container "app" to target`,
		"12 web-12 Succeeded Completed ",
	}
	for i := 2; i < 12; i++ {
		want = append(want, fmt.Sprintf("- web-%02d Failed TargetContainerNotFound ", i))
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	if got := missingTargets(&job.Status, targets); got != 0 {
		t.Errorf("missingTargets = %d, want 0: every refused pod exists", got)
	}
	// Two identified pods are gone: they are missing, and nothing else.
	targets, _ = liveTargets(job, kept[2:])
	if got := missingTargets(&job.Status, targets); got != 2 {
		t.Errorf("missingTargets with two identified pods gone = %d, want 2", got)
	}
}

// Refusals past the IDs the status holds are neither rows nor missing: their pods may exist.
func TestMissingTargetsUnidentifiedRefusals(t *testing.T) {
	job, pods := refusedJob(t)
	job.Status.Refusals[0].Count = 15 // three more than it details and identifies
	job.Status.FailedIndexes, job.Status.RefusedIndexes, job.Status.SucceededIndexes = "0-11,13-15", "0-11,13-15", "12"
	targets, _ := liveTargets(job, pods)
	if len(targets) != 13 {
		t.Fatalf("%d targets, want 13", len(targets))
	}
	if got := missingTargets(&job.Status, targets); got != 0 {
		t.Errorf("missingTargets = %d, want 0", got)
	}
}

// Refusals without a message join the group of their reason, so that --group counts every
// refusal in one group; where the reason has two messages, which one is theirs is unknown.
func TestGroupTargetsRefusals(t *testing.T) {
	job, pods := refusedJob(t)
	targets, _ := liveTargets(job, pods)
	summary := func(groups []Group) []string {
		var out []string
		for _, g := range groups {
			out = append(out, fmt.Sprintf("%d %s %s %q", g.Count, g.Status, g.Reason, g.Message))
		}
		return out
	}
	want := []string{
		`12 Failed TargetContainerNotFound "the pod has no container \"app\" to target"`,
		`1 Succeeded Completed ""`,
	}
	if diff := cmp.Diff(want, summary(groupTargets(targets))); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if got := len(groupTargets(targets)[0].Pods); got != 12 {
		t.Errorf("the group names %d pods, want 12", got)
	}

	targets[1].Message = "another message"
	want = []string{
		`10 Failed TargetContainerNotFound ""`,
		`1 Failed TargetContainerNotFound "the pod has no container \"app\" to target"`,
		`1 Failed TargetContainerNotFound "another message"`,
		`1 Succeeded Completed ""`,
	}
	if diff := cmp.Diff(want, summary(groupTargets(targets))); diff != "" {
		t.Errorf("groups with two messages for the reason (-want +got):\n%s", diff)
	}
}

// The exit code counts the targets without a row: refusals past the status' IDs as not run,
// gone pods as the job's counts say.
func TestExitCodeFor(t *testing.T) {
	code := int32(0)
	started := metav1.Now()
	ok := Target{Status: "Succeeded", ExitCode: &code, StartedAt: &started}
	refused := Target{Status: "Failed", Reason: appsv1alpha1.ReasonTargetContainerNotFound}
	failed := Target{Status: "Failed", ExitCode: new(int32(1)), StartedAt: &started}
	for _, tt := range []struct {
		name string
		view View
		want int
	}{
		{"no target", View{}, ExitNoneRan},
		{"all succeeded", View{Targets: []Target{ok, ok}}, ExitAllSucceeded},
		{"one failed", View{Targets: []Target{ok, failed}}, ExitSomeFailed},
		{"one refused", View{Targets: []Target{ok, refused}}, ExitSomeFailed},
		{"all refused, some past the IDs", View{Targets: []Target{refused}, Unidentified: 3}, ExitNoneRan},
		{"succeeded and refusals past the IDs", View{Targets: []Target{ok}, Unidentified: 1}, ExitSomeFailed},
		{"a gone pod the counts call succeeded", View{Targets: []Target{ok}, Missing: 1,
			Job: JobInfo{Match: 2, Succeeded: 2}}, ExitAllSucceeded},
		{"a gone pod the counts call failed", View{Targets: []Target{ok}, Missing: 1,
			Job: JobInfo{Match: 2, Succeeded: 1, Failed: 1}}, ExitSomeFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCodeFor(&tt.view); got != tt.want {
				t.Errorf("exitCodeFor = %d, want %d", got, tt.want)
			}
		})
	}
}
