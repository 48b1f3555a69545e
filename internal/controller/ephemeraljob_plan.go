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

	corev1 "k8s.io/api/core/v1"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
)

// checkInjectable reports why the job's containers can't go into the pod, or "" when they can.
// It catches, without an API call, what would otherwise fail on every attempt.
func checkInjectable(job *appsv1alpha1.EphemeralJob, pod *corev1.Pod) (reason, message string) {
	_, reason, message = containersFor(job, pod, 0)
	return reason, message
}

// containersFor returns the job's ephemeral containers for the pod's target with this
// index, marked with the job's name, UID and the index, or why the pod can't take them.
//
// Each container keeps its template name when the pod has no container of that name; when
// it has one (an earlier run of the same manifest, since ephemeral containers can never be
// removed, or any other container), it takes the name derived from the job's UID, so the
// same manifest can run again and again on the same pods while its first run keeps the
// name people exec into. A target may be the pod's container or a native sidecar (an init
// container with restartPolicy Always, which runs beside them); the API server would
// accept any init container, but the others have ended and there is nothing to share.
func containersFor(job *appsv1alpha1.EphemeralJob, pod *corev1.Pod, index int32) (out []corev1.EphemeralContainer,
	reason, message string) {
	taken := make(map[string]bool, len(pod.Spec.Containers)+len(pod.Spec.InitContainers)+len(pod.Spec.EphemeralContainers))
	targets := make(map[string]string, len(pod.Spec.Containers)+len(pod.Spec.InitContainers))
	for _, c := range pod.Spec.Containers {
		taken[c.Name] = true
		targets[c.Name] = ""
	}
	for _, c := range pod.Spec.InitContainers {
		taken[c.Name] = true
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			targets[c.Name] = ""
		} else {
			targets[c.Name] = fmt.Sprintf("container %q is an init container that has ended; only a native sidecar "+
				"(restartPolicy: Always) or a regular container can be targeted", c.Name)
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		taken[c.Name] = true
	}
	if have, limit := len(pod.Spec.EphemeralContainers), int(job.Spec.GetMaxEphemeralContainersPerPod()); have+
		len(job.Spec.Template.EphemeralContainers) > limit {
		return nil, appsv1alpha1.ReasonTooManyEphemeralContainers, fmt.Sprintf("the pod already holds %d ephemeral "+
			"containers and the job's would pass maxEphemeralContainersPerPod (%d): ephemeral containers are never "+
			"removed, so recreate the pod (for example with kubectl rollout restart) to run here again", have, limit)
	}
	out = make([]corev1.EphemeralContainer, 0, len(job.Spec.Template.EphemeralContainers))
	for _, c := range job.Spec.Template.EphemeralContainers {
		if why, ok := targets[c.TargetContainerName]; c.TargetContainerName != "" && (!ok || why != "") {
			if !ok {
				why = fmt.Sprintf("the pod has no container %q to target", c.TargetContainerName)
			}
			return nil, appsv1alpha1.ReasonTargetContainerNotFound, why
		}
		name := c.Name
		if taken[name] {
			name = podstate.DerivedName(c.Name, job.UID)
			if taken[name] {
				return nil, appsv1alpha1.ReasonContainerNameTaken,
					fmt.Sprintf("the pod already has containers named %q and %q", c.Name, name)
			}
		}
		taken[name] = true
		c = *c.DeepCopy()
		c.Name = name
		c.Env = append(c.Env,
			corev1.EnvVar{Name: appsv1alpha1.EnvJobName, Value: job.Name},
			corev1.EnvVar{Name: appsv1alpha1.EnvJobUID, Value: string(job.UID)},
			corev1.EnvVar{Name: appsv1alpha1.EnvJobIndex, Value: fmt.Sprint(index)},
		)
		out = append(out, c)
	}
	// Each container grows the pod by its own size and about as much again in the managed
	// fields that record who wrote it. A cached pod without the size annotation is smaller
	// than recordedObjectBytes, but trimmed it no longer shows by how much: it counts as that.
	size := objectBytes(pod)
	if _, recorded := pod.Annotations[annotationObjectBytes]; !recorded {
		size = max(size, recordedObjectBytes)
	}
	for i := range out {
		size += 2 * out[i].Size()
	}
	if size > appsv1alpha1.MaxPodBytes {
		return nil, appsv1alpha1.ReasonPodTooLarge, fmt.Sprintf("with the job's containers the pod would take "+
			"about %d KiB, more than the %d KiB allowed so that etcd keeps accepting its updates: ephemeral "+
			"containers are never removed, so recreate the pod to run here again", size>>10, appsv1alpha1.MaxPodBytes>>10)
	}
	return out, "", ""
}
