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

package kubelet

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestStubStartsPodsAndRunsContainersForRunFor checks that a pending pod is started, and
// that its container is seen running before it ends, no sooner than RunFor after it started.
func TestStubStartsPodsAndRunsContainersForRunFor(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-p"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: app, Image: app}},
			EphemeralContainers: []corev1.EphemeralContainer{{TargetContainerName: app,
				EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "ec", Image: "busybox",
					Command: []string{"pidof", sleep}}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	clientset := fake.NewClientset(pod)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Every write of the stand-in, in order.
	w, err := clientset.CoreV1().Pods("ns").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("watching pods: %v", err)
	}
	defer w.Stop()

	const runFor = 300 * time.Millisecond
	stub := &Stub{Client: clientset, Decide: Pidof, RunFor: runFor, StartPods: true}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- stub.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	var seenRunning bool
	var last *corev1.Pod
	for last == nil || len(last.Status.EphemeralContainerStatuses) == 0 ||
		last.Status.EphemeralContainerStatuses[0].State.Terminated == nil {
		select {
		case ev := <-w.ResultChan():
			last = ev.Object.(*corev1.Pod)
			if sts := last.Status.EphemeralContainerStatuses; len(sts) == 1 && sts[0].State.Running != nil {
				seenRunning = true
			}
		case <-ctx.Done():
			t.Fatalf("waiting for the container to end: %v; pod status: %+v", ctx.Err(), last)
		}
	}
	if last.Status.Phase != corev1.PodRunning {
		t.Errorf("pod phase: got %q, want Running", last.Status.Phase)
	}
	if !seenRunning {
		t.Error("the container was never seen running before it ended")
	}
	term := last.Status.EphemeralContainerStatuses[0].State.Terminated
	if term.ExitCode != 1 || term.Reason != "Error" {
		t.Errorf("pidof sleep in a pod running helloworld: got exit code %d (%s), want 1 (Error)", term.ExitCode, term.Reason)
	}
	if ran := term.FinishedAt.Sub(term.StartedAt.Time); ran < runFor {
		t.Errorf("the container ran %s, less than RunFor %s", ran, runFor)
	}
}
