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

package v1alpha1

import "testing"

func TestSpecHelpers(t *testing.T) {
	three := int32(3)
	tests := []struct {
		name            string
		spec            EphemeralJobSpec
		wantParallelism int32
		wantLimit       int32
		wantLimited     bool
	}{
		{name: "defaults", spec: EphemeralJobSpec{}, wantParallelism: DefaultParallelism},
		{name: "set", spec: EphemeralJobSpec{Parallelism: &three, Replicas: &three}, wantParallelism: 3, wantLimit: 3, wantLimited: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.spec.GetParallelism(); got != tc.wantParallelism {
				t.Errorf("GetParallelism() = %d, want %d", got, tc.wantParallelism)
			}
			limit, limited := tc.spec.ReplicasLimit()
			if limit != tc.wantLimit || limited != tc.wantLimited {
				t.Errorf("ReplicasLimit() = (%d, %v), want (%d, %v)", limit, limited, tc.wantLimit, tc.wantLimited)
			}
		})
	}
}

func TestPhaseIsFinished(t *testing.T) {
	finished := map[EphemeralJobPhase]bool{EphemeralJobSucceeded: true, EphemeralJobFailed: true}
	for _, p := range []EphemeralJobPhase{EphemeralJobWaiting, EphemeralJobRunning, EphemeralJobSucceeded,
		EphemeralJobFailed, EphemeralJobError, EphemeralJobPaused} {
		if p.IsFinished() != finished[p] {
			t.Errorf("%s.IsFinished() = %v", p, p.IsFinished())
		}
	}
}
