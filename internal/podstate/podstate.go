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

// Package podstate answers, for one pod and one EphemeralJob, which ephemeral
// containers of the pod the job owns and what the pod's outcome is for the job.
// It is pure: both the controller and the recorder use it, and it never calls a client.
package podstate

import (
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// Outcome is where a target pod stands for one job.
type Outcome string

const (
	// Waiting: not injected yet, or injected and not started.
	Waiting Outcome = "Waiting"
	// Running: at least one of the job's containers runs and none failed.
	Running Outcome = "Running"
	// Succeeded: every container of the job terminated with exit code 0.
	Succeeded Outcome = "Succeeded"
	// Failed: a container terminated non-zero, or can never start.
	Failed Outcome = "Failed"
)

// IsFinished reports whether the outcome can no longer change.
func (o Outcome) IsFinished() bool { return o == Succeeded || o == Failed }

// unrecoverableWaitingReasons are waiting reasons an ephemeral container never leaves:
// ephemeral containers are never restarted, so the kubelet gives up on them, or the
// container's spec (which cannot change) makes every retry fail the same way.
// CreateContainerConfigError and CreateContainerError are not among them: the kubelet
// retries those (a Secret or ConfigMap created a moment later lets the container start),
// so they end a target only through the job's start deadline, but for the messages in
// finalConfigErrors.
var unrecoverableWaitingReasons = map[string]bool{
	"RunContainerError":  true,
	"InvalidImageName":   true,
	"ErrImageNeverPull":  true,
	"PreCreateHookError": true,
	"PreStartHookError":  true,
}

// finalConfigErrors are the beginnings of the CreateContainerConfigError messages that the
// kubelet's runAsNonRoot check gives (pkg/kubelet/kuberuntime, verifyRunAsNonRoot): the
// container's securityContext and its image's user decide them, and neither changes
// between retries, so waiting out the start deadline would only hold a parallelism slot.
var finalConfigErrors = []string{
	"container's runAsUser breaks non-root policy",
	"container has runAsNonRoot and image will run as root",
	"container has runAsNonRoot and image has non-numeric user",
	"container has runAsNonRoot and image has an invalid user id",
}

// withoutPodSuffix drops the ` (pod: "name_namespace(uid)", container: name)` that the
// kubelet ends many of its messages with: the result already names the pod, and without
// it the same failure in many pods folds into one result group.
func withoutPodSuffix(msg string) string {
	i := strings.LastIndex(msg, ` (pod: "`)
	if i < 0 || !strings.HasSuffix(msg, ")") || !strings.Contains(msg[i:], `", container: `) {
		return msg
	}
	return msg[:i]
}

// IsFinalWaiting reports whether a container waiting with this reason and message will
// never start.
func IsFinalWaiting(reason, message string) bool {
	if unrecoverableWaitingReasons[reason] {
		return true
	}
	if reason == "CreateContainerConfigError" {
		for _, prefix := range finalConfigErrors {
			if strings.HasPrefix(message, prefix) {
				return true
			}
		}
	}
	return false
}

// Result is a pod's outcome for one job, with the details of the container that decided it.
type Result struct {
	Outcome Outcome
	// Container is the name of the container that decided the outcome.
	Container string
	// Reason, ExitCode and Message come from that container's state.
	Reason   string
	ExitCode *int32
	Message  string
	// StartedAt and FinishedAt span the job's containers in the pod.
	StartedAt  *metav1.Time
	FinishedAt *metav1.Time
	// Unstarted names the first of the job's containers that has not started yet, with the
	// kubelet's waiting reason and message; empty once every container started.
	Unstarted, UnstartedReason, UnstartedMessage string
}

// EnvValue returns the value of the named variable in a container's env, if set.
func EnvValue(c *corev1.EphemeralContainer, name string) (string, bool) {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return c.Env[i].Value, true
		}
	}
	return "", false
}

// IsOwnedBy reports whether the job with this UID injected the container.
func IsOwnedBy(c *corev1.EphemeralContainer, jobUID types.UID) bool {
	v, ok := EnvValue(c, appsv1alpha1.EnvJobUID)
	return ok && v == string(jobUID)
}

// OwnedContainers returns the pod's ephemeral containers injected by the job.
func OwnedContainers(pod *corev1.Pod, jobUID types.UID) []*corev1.EphemeralContainer {
	var owned []*corev1.EphemeralContainer
	for i := range pod.Spec.EphemeralContainers {
		if IsOwnedBy(&pod.Spec.EphemeralContainers[i], jobUID) {
			owned = append(owned, &pod.Spec.EphemeralContainers[i])
		}
	}
	return owned
}

// JobUIDs returns the UIDs of every job that owns a container in the pod, in order of first appearance.
func JobUIDs(pod *corev1.Pod) []types.UID {
	var uids []types.UID
	seen := map[string]bool{}
	for i := range pod.Spec.EphemeralContainers {
		v, ok := EnvValue(&pod.Spec.EphemeralContainers[i], appsv1alpha1.EnvJobUID)
		if ok && !seen[v] {
			seen[v] = true
			uids = append(uids, types.UID(v))
		}
	}
	return uids
}

// EphemeralContainersWrittenAt returns the last time the pod's ephemeral containers were
// written, from the managed fields the API server keeps for the ephemeralcontainers
// subresource: no earlier than the injection of any of them. False when the pod carries
// no such entry.
func EphemeralContainersWrittenAt(pod *corev1.Pod) (time.Time, bool) {
	var at time.Time
	for i := range pod.ManagedFields {
		e := &pod.ManagedFields[i]
		if e.Subresource == "ephemeralcontainers" && e.Time != nil && e.Time.After(at) {
			at = e.Time.Time
		}
	}
	return at, !at.IsZero()
}

// Index returns the target index the job gave the pod, read from its containers' env.
func Index(pod *corev1.Pod, jobUID types.UID) (int32, bool) {
	for _, c := range OwnedContainers(pod, jobUID) {
		if v, ok := EnvValue(c, appsv1alpha1.EnvJobIndex); ok {
			i, err := strconv.ParseInt(v, 10, 32)
			if err == nil && i >= 0 {
				return int32(i), true
			}
		}
	}
	return 0, false
}

// Evaluate returns the pod's outcome for the job, and false when the job owns no container in the pod.
//
// A target is finished once every container of the job in it ended: Succeeded when all
// exited 0, Failed when one exited non-zero, waits for a reason it can never leave, or the
// pod itself terminated first. Until then it is Running when one of them runs, and Waiting
// otherwise, even if a sibling already failed: the target still holds its parallelism slot.
func Evaluate(pod *corev1.Pod, jobUID types.UID) (Result, bool) {
	owned := OwnedContainers(pod, jobUID)
	if len(owned) == 0 {
		return Result{}, false
	}
	statuses := make(map[string]*corev1.ContainerStatus, len(pod.Status.EphemeralContainerStatuses))
	for i := range pod.Status.EphemeralContainerStatuses {
		statuses[pod.Status.EphemeralContainerStatuses[i].Name] = &pod.Status.EphemeralContainerStatuses[i]
	}
	podDone := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed

	var res Result
	var failed, running, waiting, last *Result
	finished := 0
	for _, c := range owned {
		r := evaluateContainer(c.Name, statuses[c.Name], podDone)
		res.StartedAt = earliest(res.StartedAt, r.StartedAt)
		res.FinishedAt = latest(res.FinishedAt, r.FinishedAt)
		switch r.Outcome {
		case Failed:
			finished++
			if failed == nil {
				failed = &r
			}
		case Succeeded:
			finished++
			last = &r
		case Running:
			if running == nil {
				running = &r
			}
		case Waiting:
			if waiting == nil {
				waiting = &r
			}
		}
	}
	var decider *Result
	switch {
	case finished == len(owned) && failed != nil:
		res.Outcome, decider = Failed, failed
	case finished == len(owned):
		// Every container succeeded: report the last one.
		res.Outcome, decider = Succeeded, last
	case running != nil:
		res.Outcome, decider = Running, running
	default:
		res.Outcome, decider = Waiting, waiting
	}
	res.Container, res.Reason, res.ExitCode, res.Message = decider.Container, decider.Reason, decider.ExitCode, decider.Message
	if waiting != nil {
		res.Unstarted, res.UnstartedReason, res.UnstartedMessage = waiting.Container, waiting.Reason, waiting.Message
	}
	if !res.Outcome.IsFinished() {
		res.FinishedAt = nil
	}
	return res, true
}

func evaluateContainer(name string, st *corev1.ContainerStatus, podDone bool) Result {
	r := Result{Outcome: Waiting, Container: name}
	switch {
	case st == nil:
		if podDone {
			r.Outcome, r.Reason, r.Message = Failed, appsv1alpha1.ReasonPodVanished, "the pod terminated before the container started"
		}
	case st.State.Terminated != nil:
		t := st.State.Terminated
		code := t.ExitCode
		r.ExitCode, r.Reason, r.Message = &code, t.Reason, t.Message
		r.StartedAt, r.FinishedAt = timePtr(t.StartedAt), timePtr(t.FinishedAt)
		r.Outcome = Succeeded
		if code != 0 {
			r.Outcome = Failed
		}
	case st.State.Running != nil:
		r.Outcome, r.StartedAt = Running, timePtr(st.State.Running.StartedAt)
		if podDone {
			r.Outcome, r.Reason, r.Message = Failed, appsv1alpha1.ReasonPodVanished, "the pod terminated while the container ran"
		}
	case st.State.Waiting != nil:
		r.Reason, r.Message = st.State.Waiting.Reason, withoutPodSuffix(st.State.Waiting.Message)
		if IsFinalWaiting(r.Reason, r.Message) || podDone {
			r.Outcome = Failed
		}
	}
	return r
}

func timePtr(t metav1.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func earliest(a, b *metav1.Time) *metav1.Time {
	if a == nil || (b != nil && b.Before(a)) {
		return b
	}
	return a
}

func latest(a, b *metav1.Time) *metav1.Time {
	if a == nil || (b != nil && a.Before(b)) {
		return b
	}
	return a
}
