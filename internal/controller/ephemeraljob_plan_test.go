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

	corev1 "k8s.io/api/core/v1"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

func TestCheckInjectable(t *testing.T) {
	job := newJob()
	tests := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"fine", testutil.MakePod("p", "ns").Obj(), ""},
		{"target missing", testutil.MakePod("p", "ns").Containers("other").Obj(), appsv1alpha1.ReasonTargetContainerNotFound},
		{"name taken by a container", testutil.MakePod("p", "ns").Containers("app", "check").Obj(), appsv1alpha1.ReasonContainerNameTaken},
		{"name taken by an ephemeral container", func() *corev1.Pod {
			p := testutil.MakePod("p", "ns").Obj()
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "check"}}}
			return p
		}(), appsv1alpha1.ReasonContainerNameTaken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := checkInjectable(job, tc.pod); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
