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

package testutil

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// PodWrapper builds pods for tests.
type PodWrapper struct{ corev1.Pod }

// MakePod starts a pod with one container named "app".
func MakePod(name, namespace string) *PodWrapper {
	return &PodWrapper{corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:v1"}},
			AutomountServiceAccountToken: new(false)},
	}}
}

// Label sets a label.
func (p *PodWrapper) Label(k, v string) *PodWrapper { p.Labels[k] = v; return p }

// Containers replaces the pod's containers with ones of these names.
func (p *PodWrapper) Containers(names ...string) *PodWrapper {
	p.Spec.Containers = nil
	for _, n := range names {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: n, Image: n + ":v1"})
	}
	return p
}

// Env adds an env var to the first container.
func (p *PodWrapper) Env(k, v string) *PodWrapper {
	p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: k, Value: v})
	return p
}

// UID sets the pod's UID.
func (p *PodWrapper) UID(uid string) *PodWrapper { p.Pod.UID = types.UID(uid); return p }

// Running marks the pod Running, as a kubelet would.
func (p *PodWrapper) Running() *PodWrapper { p.Status.Phase = corev1.PodRunning; return p }

// Injected adds the job's template containers with the given index, as the controller writes them.
func (p *PodWrapper) Injected(job *appsv1alpha1.EphemeralJob, index int32) *PodWrapper {
	for _, c := range job.Spec.Template.EphemeralContainers {
		c = *c.DeepCopy()
		c.Env = append(c.Env,
			corev1.EnvVar{Name: appsv1alpha1.EnvJobName, Value: job.Name},
			corev1.EnvVar{Name: appsv1alpha1.EnvJobUID, Value: string(job.UID)},
			corev1.EnvVar{Name: appsv1alpha1.EnvJobIndex, Value: strconv.Itoa(int(index))},
		)
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, c)
	}
	return p
}

// Started marks every ephemeral container running.
func (p *PodWrapper) Started() *PodWrapper {
	return p.containerStates(corev1.ContainerState{Running: &corev1.ContainerStateRunning{}})
}

// Exited marks every ephemeral container terminated with the exit code.
func (p *PodWrapper) Exited(code int32) *PodWrapper {
	return p.containerStates(corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}})
}

// ExitedWith marks every ephemeral container terminated with the exit code, the kubelet's
// reason and the termination message.
func (p *PodWrapper) ExitedWith(code int32, reason, message string) *PodWrapper {
	return p.containerStates(corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: code, Reason: reason, Message: message}})
}

// Waiting marks every ephemeral container waiting for the reason.
func (p *PodWrapper) Waiting(reason string) *PodWrapper {
	return p.containerStates(corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}})
}

// WaitingWith marks every ephemeral container waiting for the reason, with the kubelet's message.
func (p *PodWrapper) WaitingWith(reason, message string) *PodWrapper {
	return p.containerStates(corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}})
}

func (p *PodWrapper) containerStates(state corev1.ContainerState) *PodWrapper {
	p.Status.EphemeralContainerStatuses = nil
	for _, c := range p.Spec.EphemeralContainers {
		p.Status.EphemeralContainerStatuses = append(p.Status.EphemeralContainerStatuses,
			corev1.ContainerStatus{Name: c.Name, State: *state.DeepCopy()})
	}
	return p
}

// Obj returns the pod.
func (p *PodWrapper) Obj() *corev1.Pod { return &p.Pod }

// JobWrapper builds EphemeralJobs for tests.
type JobWrapper struct{ appsv1alpha1.EphemeralJob }

// MakeEphemeralJob starts a job selecting app=<app> with one container "check" targeting "app".
func MakeEphemeralJob(name, namespace, app string) *JobWrapper {
	return &JobWrapper{appsv1alpha1.EphemeralJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: appsv1alpha1.EphemeralJobSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			Template: appsv1alpha1.EphemeralContainerTemplateSpec{EphemeralContainers: []corev1.EphemeralContainer{{
				EphemeralContainerCommon: corev1.EphemeralContainerCommon{
					Name: "check", Image: "busybox:latest", Command: []string{"true"},
					ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				},
				TargetContainerName: "app",
			}}},
		},
	}}
}

// Parallelism sets spec.parallelism.
func (j *JobWrapper) Parallelism(n int32) *JobWrapper { j.Spec.Parallelism = &n; return j }

// Replicas sets spec.replicas.
func (j *JobWrapper) Replicas(n int32) *JobWrapper { j.Spec.Replicas = &n; return j }

// Paused sets spec.paused.
func (j *JobWrapper) Paused(p bool) *JobWrapper { j.Spec.Paused = p; return j }

// Deadline sets spec.activeDeadlineSeconds.
func (j *JobWrapper) Deadline(s int64) *JobWrapper { j.Spec.ActiveDeadlineSeconds = &s; return j }

// TTLAfterCreated sets spec.ttlSecondsAfterCreated.
func (j *JobWrapper) TTLAfterCreated(s int32) *JobWrapper {
	j.Spec.TTLSecondsAfterCreated = &s
	return j
}

// TTLAfterFinished sets spec.ttlSecondsAfterFinished.
func (j *JobWrapper) TTLAfterFinished(s int32) *JobWrapper {
	j.Spec.TTLSecondsAfterFinished = &s
	return j
}

// Container renames the template's container and its target.
func (j *JobWrapper) Container(name, target string) *JobWrapper {
	j.Spec.Template.EphemeralContainers[0].Name = name
	j.Spec.Template.EphemeralContainers[0].TargetContainerName = target
	return j
}

// UID sets the job's UID.
func (j *JobWrapper) UID(uid string) *JobWrapper { j.EphemeralJob.UID = types.UID(uid); return j }

// StartDeadline sets spec.startDeadlineSeconds.
func (j *JobWrapper) StartDeadline(s int32) *JobWrapper { j.Spec.StartDeadlineSeconds = &s; return j }

// Obj returns the job.
func (j *JobWrapper) Obj() *appsv1alpha1.EphemeralJob { return &j.EphemeralJob }
