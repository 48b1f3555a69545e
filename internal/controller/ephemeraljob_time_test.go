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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

func newJob() *appsv1alpha1.EphemeralJob {
	j := testutil.MakeEphemeralJob("ej", "ns", "web").UID("job-uid").Obj()
	j.CreationTimestamp = metav1.NewTime(t0)
	return j
}

func TestExpiry(t *testing.T) {
	finished := &metav1.Time{Time: t0.Add(30 * time.Second)}
	tests := []struct {
		name        string
		spec        func(*appsv1alpha1.EphemeralJob)
		status      appsv1alpha1.EphemeralJobStatus
		now         time.Time
		wantExpired bool
		wantAfter   time.Duration
	}{
		{name: "no TTL, no deadline", now: t0.Add(time.Hour)},
		{name: "before ttlSecondsAfterCreated", spec: func(j *appsv1alpha1.EphemeralJob) { j.Spec.TTLSecondsAfterCreated = new(int32(60)) },
			now: t0.Add(20 * time.Second), wantAfter: 40 * time.Second},
		{name: "at ttlSecondsAfterCreated", spec: func(j *appsv1alpha1.EphemeralJob) { j.Spec.TTLSecondsAfterCreated = new(int32(60)) },
			now: t0.Add(60 * time.Second), wantExpired: true},
		{name: "ttlSecondsAfterFinished waits for completion", spec: func(j *appsv1alpha1.EphemeralJob) { j.Spec.TTLSecondsAfterFinished = new(int32(5)) },
			now: t0.Add(time.Hour)},
		{name: "ttlSecondsAfterFinished after completion", spec: func(j *appsv1alpha1.EphemeralJob) { j.Spec.TTLSecondsAfterFinished = new(int32(5)) },
			status: appsv1alpha1.EphemeralJobStatus{CompletionTime: finished, Phase: appsv1alpha1.EphemeralJobSucceeded},
			now:    t0.Add(32 * time.Second), wantAfter: 3 * time.Second},
		{name: "deadline requeue", spec: func(j *appsv1alpha1.EphemeralJob) { j.Spec.ActiveDeadlineSeconds = new(int64(100)) },
			status: appsv1alpha1.EphemeralJobStatus{StartTime: &metav1.Time{Time: t0}, Phase: appsv1alpha1.EphemeralJobRunning},
			now:    t0.Add(90 * time.Second), wantAfter: 10 * time.Second},
		{name: "the earliest moment wins", spec: func(j *appsv1alpha1.EphemeralJob) {
			j.Spec.ActiveDeadlineSeconds = new(int64(100))
			j.Spec.TTLSecondsAfterCreated = new(int32(50))
		}, status: appsv1alpha1.EphemeralJobStatus{StartTime: &metav1.Time{Time: t0}, Phase: appsv1alpha1.EphemeralJobRunning},
			now: t0.Add(10 * time.Second), wantAfter: 40 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			job := newJob()
			if tc.spec != nil {
				tc.spec(job)
			}
			expired, after := expiry(job, &tc.status, tc.now)
			if expired != tc.wantExpired || after != tc.wantAfter {
				t.Errorf("got (%v, %v), want (%v, %v)", expired, after, tc.wantExpired, tc.wantAfter)
			}
		})
	}
}
