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
	"strings"

	corev1 "k8s.io/api/core/v1"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
)

// checkInjectable reports why the job's containers can't go into the pod, or "" when they can.
// It catches, without an API call, what would otherwise fail on every attempt.
func checkInjectable(job *appsv1alpha1.EphemeralJob, pod *corev1.Pod) (reason, message string) {
	names := map[string]bool{}
	for _, c := range pod.Spec.Containers {
		names[c.Name] = true
	}
	taken := map[string]bool{}
	for _, c := range pod.Spec.InitContainers {
		taken[c.Name] = true
	}
	for _, c := range pod.Spec.EphemeralContainers {
		taken[c.Name] = true
	}
	for _, c := range job.Spec.Template.EphemeralContainers {
		if names[c.Name] || taken[c.Name] {
			return appsv1alpha1.ReasonContainerNameTaken,
				fmt.Sprintf("pod %s already has a container named %q", pod.Name, c.Name)
		}
		if c.TargetContainerName != "" && !names[c.TargetContainerName] {
			return appsv1alpha1.ReasonTargetContainerNotFound,
				fmt.Sprintf("pod %s has no container %q to target", pod.Name, c.TargetContainerName)
		}
	}
	return "", ""
}

// containersFor returns the job's ephemeral containers for the target with this index,
// marked with the job's name, UID and the index.
func containersFor(job *appsv1alpha1.EphemeralJob, index int32) []corev1.EphemeralContainer {
	out := make([]corev1.EphemeralContainer, 0, len(job.Spec.Template.EphemeralContainers))
	for _, c := range job.Spec.Template.EphemeralContainers {
		c = *c.DeepCopy()
		c.Env = append(c.Env,
			corev1.EnvVar{Name: appsv1alpha1.EnvJobName, Value: job.Name},
			corev1.EnvVar{Name: appsv1alpha1.EnvJobUID, Value: string(job.UID)},
			corev1.EnvVar{Name: appsv1alpha1.EnvJobIndex, Value: fmt.Sprint(index)},
		)
		out = append(out, c)
	}
	return out
}

// resultMessage says in words how a pod ended for the job.
func resultMessage(r podstate.Result) string {
	var parts []string
	if r.Container != "" {
		parts = append(parts, "container "+r.Container)
	}
	if r.ExitCode != nil {
		parts = append(parts, fmt.Sprintf("exit code %d", *r.ExitCode))
	}
	if r.Reason != "" {
		parts = append(parts, r.Reason)
	}
	if m := strings.TrimSpace(r.Message); m != "" {
		parts = append(parts, m)
	}
	return strings.Join(parts, ", ")
}
