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

package bench

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/test/kubelet"
)

// createWorkers is how many pods the harness creates at once.
const createWorkers = 16

// realisticPod returns a pod as a typical Deployment makes it: two containers with env,
// volume mounts, probes and resources, volumes, owner reference, annotations.
func realisticPod(ns, name string, podLabels map[string]string) *corev1.Pod {
	env := func(prefix string) []corev1.EnvVar {
		out := []corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		}
		for i := range 6 {
			out = append(out, corev1.EnvVar{Name: fmt.Sprintf("%s_SETTING_%d", prefix, i), Value: fmt.Sprintf("value-%d-of-%s", i, name)})
		}
		return out
	}
	probe := func(path string, port int) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt(port)}},
			InitialDelaySeconds: 5, PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3,
		}
	}
	res := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
	}
	labels := map[string]string{"pod-template-hash": "5d8f7b9c6d", "tier": "backend"}
	for k, v := range podLabels {
		labels[k] = v
	}
	controller := true
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns, Labels: labels,
			Annotations: map[string]string{
				"prometheus.io/scrape": "true", "prometheus.io/port": "9090",
				"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z",
			},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "app-5d8f7b9c6d",
				UID: "6a0b1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d", Controller: &controller, BlockOwnerDeletion: &controller}},
		},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: new(false),
			Containers: []corev1.Container{
				{
					Name: "app", Image: "registry.example.com/team/app:1.42.0", Args: []string{"--config=/etc/app/config.yaml", "--port=8080"},
					Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "metrics", ContainerPort: 9090}},
					Env:            env("APP"),
					Resources:      res,
					VolumeMounts:   []corev1.VolumeMount{{Name: "config", MountPath: "/etc/app"}, {Name: "data", MountPath: "/var/lib/app"}},
					LivenessProbe:  probe("/healthz", 8080),
					ReadinessProbe: probe("/readyz", 8080),
				},
				{
					Name: "sidecar", Image: "registry.example.com/infra/proxy:2.7.1", Args: []string{"--upstream=127.0.0.1:8080"},
					Ports:          []corev1.ContainerPort{{Name: "proxy", ContainerPort: 15001}},
					Env:            env("PROXY"),
					Resources:      res,
					VolumeMounts:   []corev1.VolumeMount{{Name: "config", MountPath: "/etc/proxy", ReadOnly: true}},
					LivenessProbe:  probe("/healthz/proxy", 15021),
					ReadinessProbe: probe("/healthz/ready", 15021),
				},
			},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}}}},
				{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
			Tolerations: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists,
				Effect: corev1.TaintEffectNoExecute, TolerationSeconds: new(int64(300))}},
		},
	}
}

// checkContainer is the ephemeral container every benchmark job (and the floor) adds.
func checkContainer() corev1.EphemeralContainer {
	return corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "check", Image: "busybox:1.36", Command: []string{"sh", "-c", "pidof app"},
			ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		},
		TargetContainerName: "app",
	}
}

// floorContainers is what the controller puts into a pod: the template, marked with the job.
func floorContainers(jobName, jobUID string, index int) []corev1.EphemeralContainer {
	c := checkContainer()
	c.Env = append(c.Env,
		corev1.EnvVar{Name: appsv1alpha1.EnvJobName, Value: jobName},
		corev1.EnvVar{Name: appsv1alpha1.EnvJobUID, Value: jobUID},
		corev1.EnvVar{Name: appsv1alpha1.EnvJobIndex, Value: fmt.Sprint(index)},
	)
	return []corev1.EphemeralContainer{c}
}

// createRunningPods creates n realistic pods named <prefix>-<i> and marks them Running,
// as the API server and a kubelet would write them (so with their managedFields).
func (h *Harness) createRunningPods(ctx context.Context, ns, prefix string, n int,
	labelsFor func(i int) map[string]string) ([]*corev1.Pod, error) {
	return h.createPodRange(ctx, ns, prefix, 0, n, labelsFor)
}

// createPodRange is createRunningPods for the pods numbered from to to-1; it returns them
// in that order.
func (h *Harness) createPodRange(ctx context.Context, ns, prefix string, from, to int,
	labelsFor func(i int) map[string]string) ([]*corev1.Pod, error) {
	pods := make([]*corev1.Pod, to-from)
	idx := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range createWorkers {
		wg.Go(func() {
			for i := range idx {
				pod, err := h.Clientset.CoreV1().Pods(ns).Create(ctx,
					realisticPod(ns, fmt.Sprintf("%s-%05d", prefix, i), labelsFor(i)), metav1.CreateOptions{})
				if err == nil {
					pod, err = kubelet.MarkRunning(ctx, h.Clientset, pod)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("creating pod %s/%s-%05d: %w", ns, prefix, i, err)
					}
					mu.Unlock()
					continue
				}
				pods[i-from] = pod
			}
		})
	}
	for i := from; i < to; i++ {
		idx <- i
	}
	close(idx)
	wg.Wait()
	return pods, firstErr
}
