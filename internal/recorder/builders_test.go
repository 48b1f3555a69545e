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

package recorder

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// Values shared by the tests.
const (
	testRegion   = "eu-1"
	testJobUID   = "job-1"
	debugName    = "debug"
	debugImage   = "busybox:debug"
	targetName   = "app"
	jobRunning   = string(appsv1alpha1.EphemeralJobRunning)
	jobSucceeded = string(appsv1alpha1.EphemeralJobSucceeded)
	jobFailed    = string(appsv1alpha1.EphemeralJobFailed)
)

// t0 is the base time of the objects built by the tests.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func mtime(d time.Duration) metav1.Time { return metav1.NewTime(t0.Add(d)) }

// makeJob builds an EphemeralJob with one "debug" container.
func makeJob(name, uid string, phase appsv1alpha1.EphemeralJobPhase) *appsv1alpha1.EphemeralJob {
	return &appsv1alpha1.EphemeralJob{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "ns", UID: types.UID(uid), ResourceVersion: "100",
			CreationTimestamp: mtime(0),
		},
		Spec: appsv1alpha1.EphemeralJobSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: appsv1alpha1.EphemeralContainerTemplateSpec{EphemeralContainers: []corev1.EphemeralContainer{{
				EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: debugName, Image: "busybox:1.36", Command: []string{"sh", "-c", "exit 0"}},
			}}},
		},
		Status: appsv1alpha1.EphemeralJobStatus{Phase: phase},
	}
}

// podBuilder builds a pod with an "app" container and ephemeral containers of jobs.
type podBuilder struct{ pod *corev1.Pod }

func makePod(name, uid string) *podBuilder {
	return &podBuilder{pod: &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "ns", UID: types.UID(uid), ResourceVersion: "7", CreationTimestamp: mtime(0),
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: targetName, Image: "nginx",
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("256Mi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
			},
		}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, HostIP: "10.0.0.1", PodIP: "10.1.0.5"},
	}}
}

// ephemeral adds an ephemeral container of the job, targeting the "app" container, with a status
// in the given state (none when nil).
func (b *podBuilder) ephemeral(name, jobUID string, state *corev1.ContainerState) *podBuilder {
	b.pod.Spec.EphemeralContainers = append(b.pod.Spec.EphemeralContainers, corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: name, Image: "busybox:" + name,
			Env: []corev1.EnvVar{{Name: appsv1alpha1.EnvJobUID, Value: jobUID}, {Name: appsv1alpha1.EnvJobIndex, Value: "0"}},
		},
		TargetContainerName: targetName,
	})
	if state != nil {
		b.pod.Status.EphemeralContainerStatuses = append(b.pod.Status.EphemeralContainerStatuses,
			corev1.ContainerStatus{Name: name, State: *state})
	}
	return b
}

func (b *podBuilder) phase(p corev1.PodPhase) *podBuilder {
	b.pod.Status.Phase = p
	return b
}

func (b *podBuilder) obj() *corev1.Pod { return b.pod }

func running(startedAt time.Duration) *corev1.ContainerState {
	return &corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: mtime(startedAt)}}
}

func terminated(code int32, reason, message string, startedAt, finishedAt time.Duration) *corev1.ContainerState {
	return &corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: code, Reason: reason, Message: message, StartedAt: mtime(startedAt), FinishedAt: mtime(finishedAt),
	}}
}

func waiting(reason string) *corev1.ContainerState {
	return &corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: reason + " happened"}}
}

func timeAt(d time.Duration) *time.Time {
	t := t0.Add(d)
	return &t
}
