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
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// statusOf assesses pods for job (with its current status) and computes the new status.
func statusOf(t *testing.T, job *appsv1alpha1.EphemeralJob, pods []*corev1.Pod, now time.Time) (appsv1alpha1.EphemeralJobStatus, assessment) {
	t.Helper()
	var owned []*corev1.Pod
	for _, p := range pods {
		if len(p.Spec.EphemeralContainers) > 0 {
			owned = append(owned, p)
		}
	}
	a, err := assess(observation{job: job, selected: pods, owned: owned, pending: map[types.UID]pendingInjection{}}, true)
	if err != nil {
		t.Fatal(err)
	}
	return computeStatus(job, a, now), a
}

func TestStatusWriteDelay(t *testing.T) {
	const interval = time.Second
	now := t0.Add(time.Minute)
	// written: 4 pods, 0 and 1 injected and running, 2 and 3 waiting; the job is Running.
	job := newJob()
	job.Spec.Parallelism = new(int32(2))
	base := []*corev1.Pod{makePod(job, 0, 0, running), makePod(job, 1, 1, running),
		makePod(job, 2, 0, notInjected), makePod(job, 3, 0, notInjected)}
	job.Status, _ = statusOf(t, job, base, t0)
	if job.Status.Phase != appsv1alpha1.EphemeralJobRunning {
		t.Fatalf("written phase = %s, want Running", job.Status.Phase)
	}

	tests := []struct {
		name string
		pods []*corev1.Pod
		// mutate changes the job before the status is computed.
		mutate     func(*appsv1alpha1.EphemeralJob)
		sinceWrite time.Duration
		interval   time.Duration
		wantDelay  time.Duration
	}{{
		name: "only a count changed: held back for the rest of the interval",
		pods: []*corev1.Pod{makePod(job, 0, 0, exit0), makePod(job, 1, 1, running),
			makePod(job, 2, 0, notInjected), makePod(job, 3, 0, notInjected)},
		sinceWrite: 300 * time.Millisecond, interval: interval, wantDelay: 700 * time.Millisecond,
	}, {
		name: "only a count changed but the interval passed: written",
		pods: []*corev1.Pod{makePod(job, 0, 0, exit0), makePod(job, 1, 1, running),
			makePod(job, 2, 0, notInjected), makePod(job, 3, 0, notInjected)},
		sinceWrite: interval, interval: interval,
	}, {
		name: "coalescing off: written",
		pods: []*corev1.Pod{makePod(job, 0, 0, exit0), makePod(job, 1, 1, running),
			makePod(job, 2, 0, notInjected), makePod(job, 3, 0, notInjected)},
		sinceWrite: 0, interval: -1,
	}, {
		name: "every target finished: the phase changes, written at once",
		pods: []*corev1.Pod{makePod(job, 0, 0, exit0), makePod(job, 1, 1, exit0),
			makePod(job, 2, 2, exit0), makePod(job, 3, 3, exit1)},
		sinceWrite: 0, interval: interval,
	}, {
		name: "a finished target's pod is gone: its result lives only in status, written at once",
		pods: []*corev1.Pod{makePod(job, 1, 1, running),
			makePod(job, 2, 0, notInjected), makePod(job, 3, 0, notInjected)},
		mutate: func(j *appsv1alpha1.EphemeralJob) {
			// The result of target 0 was held back in memory, then its pod vanished.
			j.Status.SucceededIndexes = "0"
		},
		sinceWrite: 0, interval: interval,
	}, {
		name: "a target's pod vanished unfinished: written at once",
		pods: []*corev1.Pod{makePod(job, 1, 1, running),
			makePod(job, 2, 0, notInjected), makePod(job, 3, 0, notInjected)},
		sinceWrite: 0, interval: interval,
	}, {
		name: "paused: the phase changes, written at once",
		pods: base,
		mutate: func(j *appsv1alpha1.EphemeralJob) {
			j.Spec.Paused = true
		},
		sinceWrite: 0, interval: interval,
	}, {
		name: "a new generation: written at once",
		pods: base,
		mutate: func(j *appsv1alpha1.EphemeralJob) {
			j.Generation++
		},
		sinceWrite: 0, interval: interval,
	}, {
		name: "a refusal: written at once",
		pods: base,
		mutate: func(j *appsv1alpha1.EphemeralJob) {
			j.Status.Refused = append(j.Status.Refused, appsv1alpha1.RefusedPod{Index: 2, Name: "web-02", UID: "pod-2",
				Reason: appsv1alpha1.ReasonContainerNameTaken, Message: "taken"})
		},
		sinceWrite: 0, interval: interval,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			work := job.DeepCopy()
			if tt.mutate != nil {
				tt.mutate(work)
			}
			computed, a := statusOf(t, work, tt.pods, now)
			got := statusWriteDelay(&job.Status, &computed, a, tt.sinceWrite, tt.interval)
			if got != tt.wantDelay {
				t.Errorf("statusWriteDelay = %v, want %v (written %+v, computed %+v)", got, tt.wantDelay, job.Status, computed)
			}
		})
	}
}

func TestMergeResults(t *testing.T) {
	tests := []struct {
		name               string
		written            appsv1alpha1.EphemeralJobStatus
		held               unwrittenResults
		wantSucc, wantFail string
		wantTargeted       int32
		wantErr            bool
	}{{
		name:     "nothing held",
		written:  appsv1alpha1.EphemeralJobStatus{SucceededIndexes: "0-2", Targeted: 4},
		held:     unwrittenResults{succeeded: "7", hasUnwrittenResults: false},
		wantSucc: "0-2", wantTargeted: 4,
	}, {
		name:     "held results are added to the written ones",
		written:  appsv1alpha1.EphemeralJobStatus{SucceededIndexes: "0-2", FailedIndexes: "5", Targeted: 6},
		held:     unwrittenResults{succeeded: "0-3", failed: "4", targeted: 8, hasUnwrittenResults: true},
		wantSucc: "0-3", wantFail: "4-5", wantTargeted: 8,
	}, {
		name:     "a newer written status keeps what it has",
		written:  appsv1alpha1.EphemeralJobStatus{SucceededIndexes: "0-9", Targeted: 10},
		held:     unwrittenResults{succeeded: "0-3", targeted: 5, hasUnwrittenResults: true},
		wantSucc: "0-9", wantTargeted: 10,
	}, {
		name:    "a malformed written index set is an error",
		written: appsv1alpha1.EphemeralJobStatus{SucceededIndexes: "x"},
		held:    unwrittenResults{succeeded: "1", hasUnwrittenResults: true},
		wantErr: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mergeResults(&tt.written, tt.held)
			if (err != nil) != tt.wantErr {
				t.Fatalf("mergeResults error = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if got.SucceededIndexes != tt.wantSucc || got.FailedIndexes != tt.wantFail || got.Targeted != tt.wantTargeted {
				t.Errorf("mergeResults = succeeded %q failed %q targeted %d, want %q %q %d",
					got.SucceededIndexes, got.FailedIndexes, got.Targeted, tt.wantSucc, tt.wantFail, tt.wantTargeted)
			}
		})
	}
}

// TestHeldResultSurvivesPodDeletion pins the reason for holding results in memory: a
// target that succeeded while its status write was held back, and whose pod then
// vanished, still counts as succeeded.
func TestHeldResultSurvivesPodDeletion(t *testing.T) {
	r := &EphemeralJobReconciler{unwritten: map[types.NamespacedName]unwrittenResults{}}
	job := newJob()
	job.Spec.Parallelism = new(int32(2))
	pods := []*corev1.Pod{makePod(job, 0, 0, running), makePod(job, 1, 1, running)}
	job.Status, _ = statusOf(t, job, pods, t0)
	r.statusWritten(job, t0, true)

	// Pod 0 succeeds: only a count changes, so the write is held back.
	pods[0] = makePod(job, 0, 0, exit0)
	now := t0.Add(100 * time.Millisecond)
	merged, err := r.withUnwritten(job)
	if err != nil {
		t.Fatal(err)
	}
	computed, a := statusOf(t, merged, pods, now)
	if d := statusWriteDelay(&job.Status, &computed, a, r.sinceStatusWrite(job, now), time.Second); d <= 0 {
		t.Fatalf("a count-only change was not held back")
	}
	r.holdStatus(job, &computed)

	// Pod 0 vanishes before any write; the next pass must still count it as succeeded.
	merged, err = r.withUnwritten(job)
	if err != nil {
		t.Fatal(err)
	}
	computed, a = statusOf(t, merged, pods[1:], now.Add(100*time.Millisecond))
	if computed.Succeeded != 1 || computed.Failed != 0 || computed.SucceededIndexes != "0" {
		t.Errorf("after the pod vanished: succeeded %d failed %d indexes %q, want 1, 0, \"0\"",
			computed.Succeeded, computed.Failed, computed.SucceededIndexes)
	}
	if d := statusWriteDelay(&job.Status, &computed, a, r.sinceStatusWrite(job, now), time.Second); d != 0 {
		t.Errorf("a result whose pod is gone was held back %v, want written at once", d)
	}
}
