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
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

func TestContainersFor(t *testing.T) {
	job := newJob() // one container "check" targeting "app"
	derived := podstate.DerivedName("check", job.UID)
	withEphemeral := func(names ...string) *corev1.Pod {
		p := testutil.MakePod("p", "ns").Obj()
		for _, n := range names {
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers,
				corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: n}})
		}
		return p
	}
	sidecar := func(policy *corev1.ContainerRestartPolicy) *corev1.Pod {
		p := testutil.MakePod("p", "ns").Containers("main").Obj()
		p.Spec.InitContainers = []corev1.Container{{Name: "app", RestartPolicy: policy}}
		return p
	}
	tests := []struct {
		name       string
		pod        *corev1.Pod
		wantReason string
		wantName   string
	}{
		{"the template's name when it is free", testutil.MakePod("p", "ns").Obj(), "", "check"},
		{"target missing", testutil.MakePod("p", "ns").Containers("other").Obj(), appsv1alpha1.ReasonTargetContainerNotFound, ""},
		{"a re-run takes the derived name", withEphemeral("check"), "", derived},
		{"the name taken by a regular container", testutil.MakePod("p", "ns").Containers("app", "check").Obj(), "", derived},
		{"both names taken", withEphemeral("check", derived), appsv1alpha1.ReasonContainerNameTaken, ""},
		{"a native sidecar is a target", sidecar(new(corev1.ContainerRestartPolicyAlways)), "", "check"},
		{"an init container that ended is not", sidecar(nil), appsv1alpha1.ReasonTargetContainerNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, reason, msg := containersFor(job, tc.pod, 7)
			if reason != tc.wantReason {
				t.Fatalf("reason %q (%s), want %q", reason, msg, tc.wantReason)
			}
			if r, _ := checkInjectable(job, tc.pod); r != tc.wantReason {
				t.Errorf("checkInjectable says %q, containersFor %q", r, reason)
			}
			if reason != "" {
				if msg == "" {
					t.Error("a refusal without a message")
				}
				return
			}
			if len(got) != 1 || got[0].Name != tc.wantName || got[0].TargetContainerName != "app" {
				t.Fatalf("containers %+v, want one named %q targeting app", got, tc.wantName)
			}
			if v, _ := podstate.EnvValue(&got[0], appsv1alpha1.EnvJobIndex); v != "7" {
				t.Errorf("index %q", v)
			}
			if job.Spec.Template.EphemeralContainers[0].Name != "check" || len(job.Spec.Template.EphemeralContainers[0].Env) != 0 {
				t.Error("the template was changed")
			}
		})
	}
}

func TestTwoTemplateContainersNeverTakeOneName(t *testing.T) {
	job := newJob()
	second := *job.Spec.Template.EphemeralContainers[0].DeepCopy()
	second.Name = podstate.DerivedName("check", job.UID) // a template that already uses the derived name
	job.Spec.Template.EphemeralContainers = append(job.Spec.Template.EphemeralContainers, second)
	p := testutil.MakePod("p", "ns").Obj()
	p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "check"}}}
	got, reason, _ := containersFor(job, p, 0)
	if reason != "" || len(got) != 2 || got[0].Name == got[1].Name || got[0].Name == "check" || got[1].Name == "check" {
		t.Fatalf("containers %v, reason %q: two containers share a name, or one takes a taken name", got, reason)
	}
}

// A pod refuses a job that would make it hold more ephemeral containers than the job allows,
// or make its object too large for etcd, with a reason and a message that says what to do.
func TestPodSpecGrowthIsBounded(t *testing.T) {
	many := func(n int) *corev1.Pod {
		p := testutil.MakePod("p", "ns").Obj()
		for i := range n {
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
				EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: fmt.Sprintf("old-%d", i)}})
		}
		return p
	}
	large := func(bytes int) *corev1.Pod {
		p := testutil.MakePod("p", "ns").Obj()
		p.Annotations = map[string]string{"big": strings.Repeat("x", bytes)}
		out, _ := TrimPod(p)
		return out.(*corev1.Pod)
	}
	withTemplateEnv := func(j *appsv1alpha1.EphemeralJob, bytes int) *appsv1alpha1.EphemeralJob {
		j.Spec.Template.EphemeralContainers[0].Env = []corev1.EnvVar{{Name: "BIG", Value: strings.Repeat("x", bytes)}}
		return j
	}
	withLimit := func(n int32) *appsv1alpha1.EphemeralJob {
		j := newJob()
		j.Spec.MaxEphemeralContainersPerPod = &n
		return j
	}
	tests := []struct {
		name       string
		job        *appsv1alpha1.EphemeralJob
		pod        *corev1.Pod
		wantReason string
	}{
		{"49 and the job's make 50, the default", newJob(), many(49), ""},
		{"50 and the job's pass the default", newJob(), many(50), appsv1alpha1.ReasonTooManyEphemeralContainers},
		{"the job's limit counts", withLimit(60), many(50), ""},
		{"a limit of 1 allows a pod's first only", withLimit(1), many(1), appsv1alpha1.ReasonTooManyEphemeralContainers},
		{"a pod of 700 KiB still takes a container", newJob(), large(700 << 10), ""},
		{"a small pod still takes a large container", withTemplateEnv(newJob(), 300<<10), testutil.MakePod("p", "ns").Obj(), ""},
		{"a pod under the recorded size counts as that size", withTemplateEnv(newJob(), 400<<10), testutil.MakePod("p", "ns").Obj(),
			appsv1alpha1.ReasonPodTooLarge},
		{"a pod of 1 MiB, once trimmed, is refused", newJob(), large(appsv1alpha1.MaxPodBytes), appsv1alpha1.ReasonPodTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, reason, msg := containersFor(tc.job, tc.pod, 0); reason != tc.wantReason {
				t.Errorf("reason %q (%s), want %q", reason, msg, tc.wantReason)
			} else if reason != "" && !strings.Contains(msg, "recreate the pod") {
				t.Errorf("the message does not say what to do: %s", msg)
			}
		})
	}
}
