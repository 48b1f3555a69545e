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
	"cmp"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
)

// pendingInjection is an injection the API server accepted that the cache does not show yet.
type pendingInjection struct {
	Index int32
	Name  string
}

// observation is what one reconcile reads: the job and the pods of its namespace that matter to it.
type observation struct {
	job *appsv1alpha1.EphemeralJob
	// selected are the pods that match the job's selector, in any phase.
	selected []*corev1.Pod
	// owned are the pods that hold containers of the job, whatever their labels now.
	owned []*corev1.Pod
	// pending are injections not yet visible in the cache, by pod UID.
	pending map[types.UID]pendingInjection
}

// target is one pod the job has committed to: injected, or refused at injection.
type target struct {
	Index int32
	// Name is the pod's name, when known.
	Name    string
	Outcome podstate.Outcome
	Reason  string
	Message string
	// Remembered is set when the outcome comes from the job's status alone: the pod is gone.
	Remembered bool
}

// assessment is the job's view of its targets, derived from an observation and its recorded status.
type assessment struct {
	// targets are the committed targets, by index 0..len-1.
	targets []target
	// next are the pods that would be targeted next, in order; they count as waiting.
	next []*corev1.Pod
	// unfinished is the number of committed targets with a container injected and not finished.
	unfinished int32
}

// counts returns succeeded, failed, running and waiting over every target, committed or next.
func (a *assessment) counts() (succeeded, failed, running, waiting int32) {
	for _, t := range a.targets {
		switch t.Outcome {
		case podstate.Succeeded:
			succeeded++
		case podstate.Failed:
			failed++
		case podstate.Running:
			running++
		default:
			waiting++
		}
	}
	return succeeded, failed, running, waiting + int32(len(a.next))
}

// assess works out every committed target's outcome and which pods come next.
//
// A committed target keeps its index for the job's life. Its outcome comes from its pod
// while the pod exists; once the pod is gone, from the result recorded in status; a pod
// that vanished unfinished counts as failed. acceptNew is false once the job may not take
// new targets (finished, past its deadline); next is then empty.
func assess(obs observation, acceptNew bool) (assessment, error) {
	st := &obs.job.Status
	succeeded, err := parseIndexSet(st.SucceededIndexes)
	if err != nil {
		return assessment{}, fmt.Errorf("reading status.succeededIndexes: %w", err)
	}
	failed, err := parseIndexSet(st.FailedIndexes)
	if err != nil {
		return assessment{}, fmt.Errorf("reading status.failedIndexes: %w", err)
	}

	size := st.Targeted
	live := map[int32]*corev1.Pod{}
	committed := map[types.UID]bool{}
	for _, pod := range obs.owned {
		if idx, ok := podstate.Index(pod, obs.job.UID); ok {
			live[idx] = pod
			committed[pod.UID] = true
			size = max(size, idx+1)
		}
	}
	pendingByIndex := map[int32]pendingInjection{}
	for uid, p := range obs.pending {
		committed[uid] = true
		pendingByIndex[p.Index] = p
		size = max(size, p.Index+1)
	}
	refused := map[int32]appsv1alpha1.RefusedPod{}
	for _, r := range st.Refused {
		committed[r.UID] = true
		refused[r.Index] = r
		size = max(size, r.Index+1)
	}

	var a assessment
	a.targets = make([]target, size)
	for i := range size {
		t := target{Index: i}
		switch pod, p, r := live[i], pendingByIndex[i], refused[i]; {
		case pod != nil:
			res, _ := podstate.Evaluate(pod, obs.job.UID)
			t.Name, t.Outcome, t.Reason, t.Message = pod.Name, res.Outcome, res.Reason, resultMessage(res)
			if !t.Outcome.IsFinished() {
				a.unfinished++
			}
		case p.Name != "":
			t.Name, t.Outcome = p.Name, podstate.Waiting
			a.unfinished++
		case r.Name != "":
			t.Name, t.Outcome, t.Reason, t.Message = r.Name, podstate.Failed, r.Reason, r.Message
		case succeeded.has(i):
			t.Outcome, t.Remembered = podstate.Succeeded, true
		default:
			t.Remembered = true
			// Recorded as failed, or its pod vanished before it finished.
			t.Outcome, t.Reason = podstate.Failed, appsv1alpha1.ReasonPodVanished
			if !failed.has(i) {
				t.Message = "the pod was deleted before its containers finished"
			}
		}
		a.targets[i] = t
	}

	if acceptNew {
		a.next = nextTargets(obs, committed, len(a.targets))
	}
	return a, nil
}

// nextTargets returns the pods that would be targeted next: selected, Running, not
// terminating, never committed to, ordered by creation time then name, and no more than
// spec.replicas allows over the job's life.
func nextTargets(obs observation, committed map[types.UID]bool, targeted int) []*corev1.Pod {
	var next []*corev1.Pod
	for _, pod := range obs.selected {
		if pod.Status.Phase == corev1.PodRunning && pod.DeletionTimestamp == nil && !committed[pod.UID] {
			next = append(next, pod)
		}
	}
	slices.SortFunc(next, func(a, b *corev1.Pod) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	if limit, ok := obs.job.Spec.ReplicasLimit(); ok {
		room := max(int(limit)-targeted, 0)
		next = next[:min(room, len(next))]
	}
	return next
}

// planInjections returns the pods to inject now: the first of next, as many as parallelism leaves room for.
func planInjections(job *appsv1alpha1.EphemeralJob, a assessment) []*corev1.Pod {
	room := int(job.Spec.GetParallelism() - a.unfinished)
	if room <= 0 {
		return nil
	}
	return a.next[:min(room, len(a.next))]
}

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
