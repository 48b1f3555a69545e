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

package podstate

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

func owned(name, uid string) corev1.EphemeralContainer {
	return corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: name,
		Env: []corev1.EnvVar{{Name: appsv1alpha1.EnvJobUID, Value: uid}, {Name: appsv1alpha1.EnvJobIndex, Value: "7"}}}}
}

func status(name string, s corev1.ContainerState) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: s}
}

var (
	runningState = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	exit0State   = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}
	exit2State   = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}}
)

func waitingState(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name       string
		containers []corev1.EphemeralContainer
		statuses   []corev1.ContainerStatus
		podPhase   corev1.PodPhase
		want       Outcome
		wantOwned  bool
	}{
		{name: "not owned", containers: []corev1.EphemeralContainer{owned("a", "other")}},
		{name: "injected, no status yet", containers: []corev1.EphemeralContainer{owned("a", "j")}, want: Waiting, wantOwned: true},
		{name: "image pulling can recover", containers: []corev1.EphemeralContainer{owned("a", "j")},
			statuses: []corev1.ContainerStatus{status("a", waitingState("ErrImagePull"))}, want: Waiting, wantOwned: true},
		{name: "never-pull image missing cannot", containers: []corev1.EphemeralContainer{owned("a", "j")},
			statuses: []corev1.ContainerStatus{status("a", waitingState("ErrImageNeverPull"))}, want: Failed, wantOwned: true},
		{name: "a missing Secret is retried by the kubelet", containers: []corev1.EphemeralContainer{owned("a", "j")},
			statuses: []corev1.ContainerStatus{status("a", waitingState("CreateContainerConfigError"))}, want: Waiting, wantOwned: true},
		{name: "an image running as root against runAsNonRoot never starts", containers: []corev1.EphemeralContainer{owned("a", "j")},
			statuses: []corev1.ContainerStatus{status("a", corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
				Reason:  "CreateContainerConfigError",
				Message: `container has runAsNonRoot and image will run as root (pod: "web_ns(6b1c)", container: a)`}})},
			want: Failed, wantOwned: true},
		{name: "a runAsUser 0 against runAsNonRoot never starts", containers: []corev1.EphemeralContainer{owned("a", "j")},
			statuses: []corev1.ContainerStatus{status("a", corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
				Reason:  "CreateContainerConfigError",
				Message: `container's runAsUser breaks non-root policy (pod: "web_ns(6b1c)", container: a)`}})},
			want: Failed, wantOwned: true},
		{name: "a missing ConfigMap key is retried", containers: []corev1.EphemeralContainer{owned("a", "j")},
			statuses: []corev1.ContainerStatus{status("a", corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
				Reason: "CreateContainerConfigError", Message: `couldn't find key k in ConfigMap ns/cm`}})},
			want: Waiting, wantOwned: true},
		{name: "an invalid image name never starts", containers: []corev1.EphemeralContainer{owned("a", "j")},
			statuses: []corev1.ContainerStatus{status("a", waitingState("InvalidImageName"))}, want: Failed, wantOwned: true},
		{name: "a container create error is retried by the kubelet", containers: []corev1.EphemeralContainer{owned("a", "j")},
			statuses: []corev1.ContainerStatus{status("a", waitingState("CreateContainerError"))}, want: Waiting, wantOwned: true},
		{name: "running", containers: []corev1.EphemeralContainer{owned("a", "j")},
			statuses: []corev1.ContainerStatus{status("a", runningState)}, want: Running, wantOwned: true},
		{name: "exit 0", containers: []corev1.EphemeralContainer{owned("a", "j")},
			statuses: []corev1.ContainerStatus{status("a", exit0State)}, want: Succeeded, wantOwned: true},
		{name: "exit non-zero", containers: []corev1.EphemeralContainer{owned("a", "j")},
			statuses: []corev1.ContainerStatus{status("a", exit2State)}, want: Failed, wantOwned: true},
		{name: "one of two still running", containers: []corev1.EphemeralContainer{owned("a", "j"), owned("b", "j")},
			statuses: []corev1.ContainerStatus{status("a", exit0State), status("b", runningState)}, want: Running, wantOwned: true},
		{name: "a failure waits for a running sibling", containers: []corev1.EphemeralContainer{owned("a", "j"), owned("b", "j")},
			statuses: []corev1.ContainerStatus{status("a", exit2State), status("b", runningState)}, want: Running, wantOwned: true},
		{name: "a failure waits for a sibling not started", containers: []corev1.EphemeralContainer{owned("a", "j"), owned("b", "j")},
			statuses: []corev1.ContainerStatus{status("a", exit2State)}, want: Waiting, wantOwned: true},
		{name: "a failure wins once every sibling ended", containers: []corev1.EphemeralContainer{owned("a", "j"), owned("b", "j")},
			statuses: []corev1.ContainerStatus{status("a", exit0State), status("b", exit2State)}, want: Failed, wantOwned: true},
		{name: "other jobs' containers don't count", containers: []corev1.EphemeralContainer{owned("a", "j"), owned("b", "other")},
			statuses: []corev1.ContainerStatus{status("a", exit0State), status("b", exit2State)}, want: Succeeded, wantOwned: true},
		{name: "pod ended before the container ran", containers: []corev1.EphemeralContainer{owned("a", "j")},
			podPhase: corev1.PodFailed, want: Failed, wantOwned: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{EphemeralContainers: tc.containers},
				Status: corev1.PodStatus{Phase: tc.podPhase, EphemeralContainerStatuses: tc.statuses}}
			got, ok := Evaluate(pod, "j")
			if ok != tc.wantOwned || got.Outcome != tc.want {
				t.Errorf("got (%q, %v), want (%q, %v)", got.Outcome, ok, tc.want, tc.wantOwned)
			}
			if got.Outcome.IsFinished() && got.Unstarted != "" {
				t.Errorf("a finished target reports container %q as not started", got.Unstarted)
			}
		})
	}
}

func TestIndexAndJobUIDs(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{EphemeralContainers: []corev1.EphemeralContainer{
		owned("a", "j1"), owned("b", "j2"), owned("c", "j1"),
	}}}
	if got := JobUIDs(pod); len(got) != 2 || got[0] != "j1" || got[1] != "j2" {
		t.Errorf("JobUIDs = %v", got)
	}
	if i, ok := Index(pod, "j2"); !ok || i != 7 {
		t.Errorf("Index = %d, %v", i, ok)
	}
	if _, ok := Index(pod, "nope"); ok {
		t.Errorf("Index of a job with no containers should be absent")
	}
}

// A final waiting message loses the kubelet's pod suffix, so that the same failure in many
// pods folds into one result group; other messages are kept whole.
func TestWithoutPodSuffix(t *testing.T) {
	for in, want := range map[string]string{
		`container has runAsNonRoot and image will run as root (pod: "web-1_shop(6b1c0d3e)", container: check)`: "container has runAsNonRoot and image will run as root",
		`couldn't find key k in ConfigMap ns/cm`: `couldn't find key k in ConfigMap ns/cm`,
		`something (pod: "x") and more`:          `something (pod: "x") and more`,
		``:                                       ``,
	} {
		if got := withoutPodSuffix(in); got != want {
			t.Errorf("withoutPodSuffix(%q) = %q, want %q", in, got, want)
		}
	}
}
