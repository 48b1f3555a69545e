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
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

// jobScenario is a job and its target pods written into the API server as the controller
// and a kubelet would leave them, changed step by step by the test.
type jobScenario struct {
	t   *testing.T
	ctx context.Context
	c   client.Client
	cs  kubernetes.Interface
	job *appsv1alpha1.EphemeralJob
}

func newJobScenario(t *testing.T, ctx context.Context, namespace, name string) *jobScenario {
	t.Helper()
	c, cs := newClients(t)
	if _, err := cs.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{}); err != nil {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
			metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	job := testutil.MakeEphemeralJob(name, namespace, name).Obj()
	if err := c.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	return &jobScenario{t: t, ctx: ctx, c: c, cs: cs, job: job}
}

// target creates a pod holding the job's containers with the index, in the state.
func (s *jobScenario) target(name string, index int32, state corev1.ContainerState) {
	s.t.Helper()
	pod, err := s.cs.CoreV1().Pods(s.job.Namespace).Create(s.ctx, testutil.MakePod(name, s.job.Namespace).Obj(),
		metav1.CreateOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	pod.Spec.EphemeralContainers = testutil.MakePod(name, s.job.Namespace).Injected(s.job, index).Obj().Spec.EphemeralContainers
	if _, err := s.cs.CoreV1().Pods(s.job.Namespace).UpdateEphemeralContainers(s.ctx, name, pod,
		metav1.UpdateOptions{}); err != nil {
		s.t.Fatal(err)
	}
	s.setState(name, state)
}

// setState sets the state of the pod's container of the job, as its kubelet would.
func (s *jobScenario) setState(name string, state corev1.ContainerState) {
	s.t.Helper()
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := s.cs.CoreV1().Pods(s.job.Namespace).Get(s.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		pod.Status.Phase = corev1.PodRunning
		pod.Status.EphemeralContainerStatuses = []corev1.ContainerStatus{{Name: "check", Image: "busybox:latest",
			State: state}}
		_, err = s.cs.CoreV1().Pods(s.job.Namespace).UpdateStatus(s.ctx, pod, metav1.UpdateOptions{})
		return err
	}); err != nil {
		s.t.Fatal(err)
	}
}

// setStatus writes the job's status, as its controller would.
func (s *jobScenario) setStatus(status appsv1alpha1.EphemeralJobStatus) {
	s.t.Helper()
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := s.c.Get(s.ctx, client.ObjectKeyFromObject(s.job), s.job); err != nil {
			return err
		}
		s.job.Status = status
		return s.c.Status().Update(s.ctx, s.job)
	}); err != nil {
		s.t.Fatal(err)
	}
}

func running(start int) corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(start)}}
}

func exited(code int32, start, end int) corev1.ContainerState {
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason,
		StartedAt: at(start), FinishedAt: at(end)}}
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// TestResultsWatch follows a job with -w: the rows, then each target's row again as it
// changes, until the job finishes; --exit-code then tells how it ended.
func TestResultsWatch(t *testing.T) {
	t.Setenv("MYSQL_HOST", "")
	for _, tt := range []struct {
		golden string
		args   []string
	}{
		{"results-watch", nil},
		{"results-watch-name", []string{"-o", "name"}},
		{"results-watch-custom-columns", []string{"-o", "custom-columns=POD:.metadata.name,STATUS:.status,EXIT:.exitCode"}},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			s := newJobScenario(t, ctx, tt.golden, "followed")
			s.target("web-0", 0, running(0))
			s.target("web-1", 1, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}})
			s.setStatus(appsv1alpha1.EphemeralJobStatus{Phase: appsv1alpha1.EphemeralJobRunning, Match: 2, Running: 1,
				Waiting: 1, Targeted: 2, IndexLimit: 2, ActiveIndexes: "0-1"})

			var stdout, stderr testutil.SyncBuffer
			done := make(chan int)
			go func() {
				done <- Run(ctx, append([]string{"results", "followed", "-w", "--exit-code", "--kubeconfig", kubeconfig,
					"-n", s.job.Namespace}, tt.args...), &stdout, &stderr, Options{Now: func() time.Time { return now }})
			}()
			lines := func() int { return strings.Count(stdout.String(), "\n") }
			first := 2
			if tt.golden != "results-watch-name" {
				first = 3 // and a header
			}
			waitFor(t, "the first rows are printed", func() bool { return lines() == first })

			s.setState("web-0", exited(0, 0, 3))
			waitFor(t, "web-0's new row is printed", func() bool { return lines() == first+1 })
			s.setState("web-1", exited(1, 4, 6))
			waitFor(t, "web-1's new row is printed", func() bool { return lines() == first+2 })
			select {
			case code := <-done:
				t.Fatalf("the watch ended with exit code %d before the job finished", code)
			default:
			}
			s.setStatus(appsv1alpha1.EphemeralJobStatus{Phase: appsv1alpha1.EphemeralJobFailed, Match: 2, Succeeded: 1,
				Failed: 1, Targeted: 2, IndexLimit: 2, SucceededIndexes: "0", FailedIndexes: "1", ClosedIndexes: "0-1"})
			var code int
			select {
			case code = <-done:
			case <-ctx.Done():
				t.Fatal("the watch did not end when the job finished")
			}
			golden(t, tt.golden, transcript(code, stdout.String(), stderr.String()))
		})
	}
}

// TestExitCode checks --exit-code: 0 when every target succeeded, 1 when one failed, 2 when
// none could run; and 0 without the flag whatever the results.
func TestExitCode(t *testing.T) {
	t.Setenv("MYSQL_HOST", "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ns = "exit-codes"
	succeeded := newJobScenario(t, ctx, ns, "succeeded")
	succeeded.target("ok-0", 0, exited(0, 0, 1))
	succeeded.target("ok-1", 1, exited(0, 0, 1))
	succeeded.setStatus(appsv1alpha1.EphemeralJobStatus{Phase: appsv1alpha1.EphemeralJobSucceeded, Match: 2,
		Succeeded: 2, Targeted: 2, IndexLimit: 2, SucceededIndexes: "0-1", ClosedIndexes: "0-1"})
	failed := newJobScenario(t, ctx, ns, "failed")
	failed.target("bad-0", 0, exited(0, 0, 1))
	failed.target("bad-1", 1, exited(3, 0, 1))
	failed.setStatus(appsv1alpha1.EphemeralJobStatus{Phase: appsv1alpha1.EphemeralJobFailed, Match: 2,
		Succeeded: 1, Failed: 1, Targeted: 2, IndexLimit: 2, SucceededIndexes: "0", FailedIndexes: "1",
		ClosedIndexes: "0-1"})
	unfinished := newJobScenario(t, ctx, ns, "unfinished")
	unfinished.target("slow-0", 0, exited(0, 0, 1))
	unfinished.target("slow-1", 1, running(0))
	unfinished.setStatus(appsv1alpha1.EphemeralJobStatus{Phase: appsv1alpha1.EphemeralJobRunning, Match: 2,
		Succeeded: 1, Running: 1, Targeted: 2, IndexLimit: 2, SucceededIndexes: "0", ActiveIndexes: "1",
		ClosedIndexes: "0"})
	refused := newJobScenario(t, ctx, ns, "refused")
	refused.setStatus(appsv1alpha1.EphemeralJobStatus{Phase: appsv1alpha1.EphemeralJobFailed, Match: 1, Failed: 1,
		Targeted: 1, IndexLimit: 1, FailedIndexes: "0", RefusedIndexes: "0", ClosedIndexes: "0",
		Refusals: []appsv1alpha1.ReasonCount{{Reason: appsv1alpha1.ReasonTargetContainerNotFound, Count: 1}},
		Refused: []appsv1alpha1.RefusedPod{{Index: 0, Name: "nope", UID: "0b7c6a0e-3333-4000-8000-000000000000",
			Reason: appsv1alpha1.ReasonTargetContainerNotFound}}})
	newJobScenario(t, ctx, ns, "empty").setStatus(appsv1alpha1.EphemeralJobStatus{
		Phase: appsv1alpha1.EphemeralJobWaiting})
	// Jobs whose target's pod is gone, and no history says how it ended: the counts do.
	gone := newJobScenario(t, ctx, ns, "gone-succeeded")
	gone.setStatus(appsv1alpha1.EphemeralJobStatus{Phase: appsv1alpha1.EphemeralJobSucceeded, Match: 1,
		Succeeded: 1, Targeted: 1, IndexLimit: 1, SucceededIndexes: "0", ClosedIndexes: "0"})
	gone = newJobScenario(t, ctx, ns, "gone-failed")
	gone.setStatus(appsv1alpha1.EphemeralJobStatus{Phase: appsv1alpha1.EphemeralJobFailed, Match: 1,
		Failed: 1, Targeted: 1, IndexLimit: 1, FailedIndexes: "0", ClosedIndexes: "0"})

	for _, tt := range []struct {
		job  string
		want int
	}{
		{"succeeded", 0},
		{"failed", 1},
		{"unfinished", 1},
		{"gone-succeeded", 0},
		{"gone-failed", 1},
		{"refused", 2},
		{"empty", 2},
	} {
		t.Run(tt.job, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "results", tt.job, "--exit-code", "--kubeconfig", kubeconfig, "-n", ns)
			if code != tt.want {
				t.Errorf("exit code %d, want %d\n%s%s", code, tt.want, stdout, stderr)
			}
			if strings.Contains(stderr, "error:") {
				t.Errorf("an exit code is no error: %s", stderr)
			}
			for _, args := range [][]string{{"--group"}, {"-o", "json"}} {
				if got, _, _ := runCLI(t, append([]string{"results", tt.job, "--exit-code", "--kubeconfig", kubeconfig,
					"-n", ns}, args...)...); got != tt.want {
					t.Errorf("with %v: exit code %d, want %d", args, got, tt.want)
				}
			}
			if code, _, stderr := runCLI(t, "results", tt.job, "--kubeconfig", kubeconfig, "-n", ns); code != 0 {
				t.Errorf("without --exit-code: exit code %d, want 0 (%s)", code, stderr)
			}
		})
	}
}

// A pod refused before the status names it by its ID is printed when the status does, not
// only once the job finished: the pod itself no longer changes.
func TestResultsWatchRefusals(t *testing.T) {
	t.Setenv("MYSQL_HOST", "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := newJobScenario(t, ctx, "watch-refusals", "refusing")
	s.target("web-0", 0, running(0))
	status := appsv1alpha1.EphemeralJobStatus{Phase: appsv1alpha1.EphemeralJobRunning, Match: 1, Running: 1,
		Targeted: 1, IndexLimit: 1, ActiveIndexes: "0"}
	s.setStatus(status)
	refused, err := s.cs.CoreV1().Pods(s.job.Namespace).Create(ctx,
		testutil.MakePod("lacking", s.job.Namespace).Containers("other").Obj(), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	var stdout, stderr testutil.SyncBuffer
	done := make(chan int)
	go func() {
		done <- Run(ctx, []string{"results", "refusing", "-w", "-o", "name", "--kubeconfig", kubeconfig,
			"-n", s.job.Namespace}, &stdout, &stderr, Options{Now: func() time.Time { return now }})
	}()
	waitFor(t, "the first row is printed", func() bool { return stdout.String() == "pod/web-0\n" })

	status.Match, status.Failed, status.Targeted, status.IndexLimit = 2, 1, 2, 2
	status.FailedIndexes, status.RefusedIndexes, status.ClosedIndexes = "1", "1", "1"
	status.Refusals = []appsv1alpha1.ReasonCount{{Reason: appsv1alpha1.ReasonTargetContainerNotFound, Count: 1,
		PodIDs: podstate.RefusedID(refused.UID)}}
	s.setStatus(status)
	waitFor(t, "the refused pod is printed", func() bool { return stdout.String() == "pod/web-0\npod/lacking\n" })

	s.setState("web-0", exited(0, 0, 1))
	final := status
	final.Phase, final.Running, final.Succeeded = appsv1alpha1.EphemeralJobFailed, 0, 1
	final.ActiveIndexes, final.SucceededIndexes, final.ClosedIndexes = "", "0", "0-1"
	s.setStatus(final)
	select {
	case code := <-done:
		if code != 0 || stdout.String() != "pod/web-0\npod/lacking\npod/web-0\n" || stderr.String() != "" {
			t.Errorf("exit code %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
		}
	case <-ctx.Done():
		t.Fatal("the watch did not end when the job finished")
	}
}
