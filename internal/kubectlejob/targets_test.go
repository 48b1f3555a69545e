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
	"testing"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// The targets the status counts that no pod stands for, from complete lists and from
// truncated ones, where the counts and the closed indexes tell.
func TestMissingTargets(t *testing.T) {
	idx := func(i int32) *int32 { return &i }
	found := []Target{{Index: idx(0)}, {Index: idx(3)}, {Index: idx(9)}, {Pod: "no-index"}}
	tests := []struct {
		name   string
		status appsv1alpha1.EphemeralJobStatus
		want   int64
	}{
		{name: "complete lists", want: 3, status: appsv1alpha1.EphemeralJobStatus{
			SucceededIndexes: "0-2", FailedIndexes: "3-4", ActiveIndexes: "9", Succeeded: 3, Failed: 2}},
		{name: "truncated lists", want: 3, status: appsv1alpha1.EphemeralJobStatus{
			SucceededIndexes: "0", FailedIndexes: "", IndexListsTruncated: true, ClosedIndexes: "0-5",
			ActiveIndexes: "9", Succeeded: 3, Failed: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := missingTargets(&tc.status, found); got != tc.want {
				t.Errorf("missingTargets = %d, want %d", got, tc.want)
			}
		})
	}
}
