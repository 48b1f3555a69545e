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
	corev1 "k8s.io/api/core/v1"
)

// TrimPod is the cache transform for pods: it drops what neither the controller nor the
// recorder reads (managed fields, annotations, volumes, most of each container), so a
// cache of many pods stays small. Injection stays correct with a trimmed pod: the
// ephemeralcontainers subresource takes only spec.ephemeralContainers from the body and
// keeps everything else from the stored pod.
func TrimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	pod.ManagedFields = nil
	pod.Annotations = nil
	pod.OwnerReferences = nil
	pod.Spec.Volumes = nil
	pod.Spec.Affinity = nil
	pod.Spec.Tolerations = nil
	for i := range pod.Spec.Containers {
		trimContainer(&pod.Spec.Containers[i])
	}
	for i := range pod.Spec.InitContainers {
		trimContainer(&pod.Spec.InitContainers[i])
	}
	pod.Status.Conditions = nil
	pod.Status.ContainerStatuses = nil
	pod.Status.InitContainerStatuses = nil
	return pod, nil
}

// trimContainer keeps a container's name, image and resources: enough to check a target
// container exists and to record what it asked for.
func trimContainer(c *corev1.Container) {
	*c = corev1.Container{Name: c.Name, Image: c.Image, Resources: c.Resources}
}
