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
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// deadlinePassed reports whether activeDeadlineSeconds has run out since startTime.
func deadlinePassed(job *appsv1alpha1.EphemeralJob, start *metav1.Time, now time.Time) bool {
	if job.Spec.ActiveDeadlineSeconds == nil || start == nil {
		return false
	}
	return !now.Before(start.Add(time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second))
}

// expiry returns whether a TTL has run out, and otherwise how long until the next moment
// the job must be looked at again for time alone (0 when never): a TTL or the deadline.
func expiry(job *appsv1alpha1.EphemeralJob, status *appsv1alpha1.EphemeralJobStatus, now time.Time) (bool, time.Duration) {
	var moments []time.Time
	if ttl := job.Spec.TTLSecondsAfterCreated; ttl != nil {
		moments = append(moments, job.CreationTimestamp.Add(time.Duration(*ttl)*time.Second))
	}
	if ttl := job.Spec.TTLSecondsAfterFinished; ttl != nil && status.CompletionTime != nil {
		moments = append(moments, status.CompletionTime.Add(time.Duration(*ttl)*time.Second))
	}
	for _, m := range moments {
		if !now.Before(m) {
			return true, 0
		}
	}
	if d := job.Spec.ActiveDeadlineSeconds; d != nil && status.StartTime != nil && !status.Phase.IsFinished() {
		moments = append(moments, status.StartTime.Add(time.Duration(*d)*time.Second))
	}
	var next time.Duration
	for _, m := range moments {
		if d := m.Sub(now); d > 0 && (next == 0 || d < next) {
			next = d
		}
	}
	return false, next
}
