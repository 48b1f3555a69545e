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

package podstate

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// The IDs are what status.refusals holds: a pinned value catches a change of the hash,
// which would make every manager, recorder and CLI of another version miss the refused pods.
func TestRefusedID(t *testing.T) {
	uid := types.UID("6b1c0d3e-1111-4a2b-9c3d-000000000001")
	if got := RefusedID(uid); len(got) != RefusedIDLength || got != RefusedID(uid) {
		t.Fatalf("RefusedID = %q, not %d stable characters", got, RefusedIDLength)
	}
	if got, want := RefusedID(uid), "g3l1zJjg"; got != want {
		t.Errorf("RefusedID = %q, want %q", got, want)
	}
	if RefusedID(uid) == RefusedID("6b1c0d3e-1111-4a2b-9c3d-000000000002") {
		t.Error("two UIDs share an ID")
	}
}

func TestRefusedIDs(t *testing.T) {
	a, b, c := RefusedID("a"), RefusedID("b"), RefusedID("c")
	got := RefusedIDs([]appsv1alpha1.ReasonCount{
		{Reason: appsv1alpha1.ReasonTargetContainerNotFound, Count: 12, PodIDs: a + b},
		{Reason: appsv1alpha1.ReasonContainerNameTaken, Count: 1, PodIDs: c + "tail"},
		{Reason: appsv1alpha1.ReasonInjectionRefused, Count: 1, PodIDs: a},
	})
	want := map[string]string{a: appsv1alpha1.ReasonTargetContainerNotFound, b: appsv1alpha1.ReasonTargetContainerNotFound,
		c: appsv1alpha1.ReasonContainerNameTaken}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RefusedIDs (-want +got):\n%s", diff)
	}
	if RefusedIDs(nil) != nil {
		t.Error("no refusals identify a pod")
	}
}

func TestUnidentifiedRefusals(t *testing.T) {
	listed := []appsv1alpha1.RefusedPod{{Name: "p0"}, {Name: "p1"}}
	ids := RefusedID("a") + RefusedID("b") + RefusedID("c")
	for _, tt := range []struct {
		name   string
		status appsv1alpha1.EphemeralJobStatus
		want   int64
	}{
		{"every refusal detailed, before refusals were counted", appsv1alpha1.EphemeralJobStatus{Refused: listed}, 0},
		{"detailed and identified", appsv1alpha1.EphemeralJobStatus{Refused: listed,
			Refusals: []appsv1alpha1.ReasonCount{{Reason: "A", Count: 4, PodIDs: ids[:16]}, {Reason: "B", Count: 1, PodIDs: ids[16:]}}}, 0},
		{"past the IDs", appsv1alpha1.EphemeralJobStatus{Refused: listed,
			Refusals: []appsv1alpha1.ReasonCount{{Reason: "A", Count: 9, PodIDs: ids}}}, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := UnidentifiedRefusals(&tt.status); got != tt.want {
				t.Errorf("UnidentifiedRefusals = %d, want %d", got, tt.want)
			}
		})
	}
}
