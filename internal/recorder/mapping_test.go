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

package recorder

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
)

const appResources = `{"limits":{"cpu":"1","memory":"256Mi"},"requests":{"cpu":"500m"}}`

func TestPodRecordFor(t *testing.T) {
	tests := []struct {
		name   string
		pod    *corev1.Pod
		jobUID string
		inEtcd bool
		wantOK bool
		want   PodRecord
	}{
		{
			name:   "a pod without the job's containers gives no row",
			pod:    makePod("p", "pod-1").ephemeral("other", "job-2", nil).obj(),
			jobUID: testJobUID, inEtcd: true,
		},
		{
			name:   "injected and not started is Pending",
			pod:    makePod("p", "pod-1").ephemeral(debugName, testJobUID, nil).obj(),
			jobUID: testJobUID, inEtcd: true, wantOK: true,
			want: PodRecord{Status: PodStatusPending, Image: debugImage, ReplicaType: debugName, ContainerName: debugName,
				GmtModified: t0},
		},
		{
			name:   "running",
			pod:    makePod("p", "pod-1").ephemeral(debugName, testJobUID, running(90*time.Second)).obj(),
			jobUID: testJobUID, inEtcd: true, wantOK: true,
			want: PodRecord{Status: PodStatusRunning, Image: debugImage, ReplicaType: debugName, ContainerName: debugName,
				GmtStarted: timeAt(90 * time.Second), GmtModified: t0.Add(90 * time.Second)},
		},
		{
			name:   "exit 0 is Succeeded with its exit code and times",
			pod:    makePod("p", "pod-1").ephemeral(debugName, testJobUID, terminated(0, "Completed", "", time.Minute, 3*time.Minute)).obj(),
			jobUID: testJobUID, inEtcd: true, wantOK: true,
			want: PodRecord{Status: PodStatusSucceeded, Image: debugImage, ReplicaType: debugName, ContainerName: debugName,
				ExitCode: ptr.To[int32](0), Reason: "Completed",
				Remark:     `{"container":"debug","reason":"Completed","exitCode":0}`,
				GmtStarted: timeAt(time.Minute), GmtFinished: timeAt(3 * time.Minute), GmtModified: t0.Add(3 * time.Minute)},
		},
		{
			name: "a non-zero exit is Failed with reason, exit code and termination message",
			pod: makePod("p", "pod-1").
				ephemeral("first", testJobUID, terminated(0, "Completed", "", time.Minute, 2*time.Minute)).
				ephemeral("second", testJobUID, terminated(3, "Error", "disk full 💥", 2*time.Minute, 4*time.Minute)).obj(),
			jobUID: testJobUID, inEtcd: true, wantOK: true,
			want: PodRecord{Status: PodStatusFailed, Image: "busybox:second", ReplicaType: "second", ContainerName: "second",
				ExitCode: ptr.To[int32](3), Reason: "Error", Message: "disk full 💥",
				Remark:     `{"container":"second","reason":"Error","exitCode":3,"message":"disk full 💥"}`,
				GmtStarted: timeAt(time.Minute), GmtFinished: timeAt(4 * time.Minute), GmtModified: t0.Add(4 * time.Minute)},
		},
		{
			name:   "a waiting reason an ephemeral container never leaves is Failed",
			pod:    makePod("p", "pod-1").ephemeral(debugName, testJobUID, waiting("RunContainerError")).obj(),
			jobUID: testJobUID, inEtcd: true, wantOK: true,
			want: PodRecord{Status: PodStatusFailed, Image: debugImage, ReplicaType: debugName, ContainerName: debugName,
				Reason: "RunContainerError", Message: "RunContainerError happened",
				Remark: `{"container":"debug","reason":"RunContainerError","message":"RunContainerError happened"}`, GmtModified: t0},
		},
		{
			name:   "a waiting reason the kubelet retries stays Pending",
			pod:    makePod("p", "pod-1").ephemeral(debugName, testJobUID, waiting("ErrImagePull")).obj(),
			jobUID: testJobUID, inEtcd: true, wantOK: true,
			want: PodRecord{Status: PodStatusPending, Image: debugImage, ReplicaType: debugName, ContainerName: debugName,
				Reason: "ErrImagePull", Message: "ErrImagePull happened",
				Remark: `{"container":"debug","reason":"ErrImagePull","message":"ErrImagePull happened"}`, GmtModified: t0},
		},
		{
			name:   "a pod deleted while the container runs is Unknown and gone",
			pod:    makePod("p", "pod-1").ephemeral(debugName, testJobUID, running(time.Minute)).obj(),
			jobUID: testJobUID, inEtcd: false, wantOK: true,
			want: PodRecord{Status: PodStatusUnknown, Image: debugImage, ReplicaType: debugName, ContainerName: debugName,
				GmtStarted: timeAt(time.Minute), GmtModified: t0.Add(time.Minute)},
		},
		{
			name:   "a pod deleted after the container finished keeps its outcome",
			pod:    makePod("p", "pod-1").ephemeral(debugName, testJobUID, terminated(0, "Completed", "", time.Minute, 2*time.Minute)).obj(),
			jobUID: testJobUID, inEtcd: false, wantOK: true,
			want: PodRecord{Status: PodStatusSucceeded, Image: debugImage, ReplicaType: debugName, ContainerName: debugName,
				ExitCode: ptr.To[int32](0), Reason: "Completed",
				Remark:     `{"container":"debug","reason":"Completed","exitCode":0}`,
				GmtStarted: timeAt(time.Minute), GmtFinished: timeAt(2 * time.Minute), GmtModified: t0.Add(2 * time.Minute)},
		},
		{
			name:   "a pod that terminated before the container started is Failed",
			pod:    makePod("p", "pod-1").ephemeral(debugName, testJobUID, nil).phase(corev1.PodSucceeded).obj(),
			jobUID: testJobUID, inEtcd: true, wantOK: true,
			want: PodRecord{Status: PodStatusFailed, Image: debugImage, ReplicaType: debugName, ContainerName: debugName,
				Reason: "PodVanished", Message: "the pod terminated before the container started",
				Remark:      `{"container":"debug","reason":"PodVanished","message":"the pod terminated before the container started"}`,
				GmtModified: t0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := PodRecordFor(tt.pod, types.UID(tt.jobUID), testRegion, tt.inEtcd)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			want := tt.want
			want.Name, want.Namespace, want.PodID, want.Version, want.JobID = "p", "ns", "pod-1", "7", tt.jobUID
			want.Resources, want.HostIP, want.PodIP, want.DeployRegion = appResources, "10.0.0.1", "10.1.0.5", testRegion
			want.IsInEtcd, want.GmtCreated = tt.inEtcd, t0
			if !reflect.DeepEqual(got, want) {
				t.Errorf("PodRecordFor() =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestPodRecordsForGivesOneRowPerJob(t *testing.T) {
	pod := makePod("p", "pod-1").
		ephemeral("a", testJobUID, running(time.Minute)).
		ephemeral("b", "job-2", terminated(0, "Completed", "", time.Minute, 2*time.Minute)).
		ephemeral("c", testJobUID, nil).obj()
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "sidecar"})
	pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "manual", Image: "x"},
	})
	recs := PodRecordsFor(pod, "", true, knownAs(map[string][]string{testJobUID: {"a", "c"}, "job-2": {"b"}}))
	if len(recs) != 2 {
		t.Fatalf("got %d rows, want 2: %+v", len(recs), recs)
	}
	got := map[string]string{}
	for _, r := range recs {
		got[r.JobID] = r.Status + "/" + r.ReplicaType
	}
	want := map[string]string{testJobUID: PodStatusRunning + "/a", "job-2": PodStatusSucceeded + "/b"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows = %v, want %v", got, want)
	}
}

// knownAs returns a lookup of jobs in namespace "ns" by UID, with their template's container names.
func knownAs(jobs map[string][]string) func(types.UID) (KnownJob, bool) {
	return func(uid types.UID) (KnownJob, bool) {
		names, ok := jobs[string(uid)]
		if !ok {
			return KnownJob{}, false
		}
		k := KnownJob{Namespace: "ns", Containers: map[string]string{}}
		for _, n := range names {
			k.Containers[n] = n
			k.Containers[podstate.DerivedName(n, uid)] = n
		}
		return k, true
	}
}

func TestPodRecordsForCountsOnlyInjectedContainers(t *testing.T) {
	known := knownAs(map[string][]string{testJobUID: {"a"}})
	// A container someone else added, carrying the UID of a job that does not exist.
	stray := makePod("p", "pod-1").ephemeral("x", "made-up-uid", terminated(1, "Error", "", 0, time.Minute)).obj()
	if recs := PodRecordsFor(stray, "", true, known); len(recs) != 0 {
		t.Errorf("a container of an unknown job gave rows %+v", recs)
	}
	// The UID of a job of another namespace.
	elsewhere := makePod("p", "pod-1").ephemeral("a", testJobUID, running(time.Minute)).obj()
	elsewhere.Namespace = "elsewhere"
	if recs := PodRecordsFor(elsewhere, "", true, known); len(recs) != 0 {
		t.Errorf("a container of another namespace's job gave rows %+v", recs)
	}
	// A container named unlike the job's template, carrying the job's UID, next to the
	// job's own: only the job's own counts.
	forged := makePod("p", "pod-1").ephemeral("a", testJobUID, running(time.Minute)).
		ephemeral("forged", testJobUID, terminated(1, "Error", "", 0, time.Minute)).obj()
	recs := PodRecordsFor(forged, "", true, known)
	if len(recs) != 1 || recs[0].Status != PodStatusRunning || recs[0].ReplicaType != "a" {
		t.Errorf("rows = %+v, want one Running row decided by container a", recs)
	}
	if len(forged.Spec.EphemeralContainers) != 2 {
		t.Error("PodRecordsFor changed the pod")
	}
	// Only forged containers: no row.
	onlyForged := makePod("p", "pod-1").ephemeral("forged", testJobUID, running(time.Minute)).obj()
	if recs := PodRecordsFor(onlyForged, "", true, known); len(recs) != 0 {
		t.Errorf("a pod with only forged containers gave rows %+v", recs)
	}
}

func TestRefusedPodRecords(t *testing.T) {
	job := makeJob("ej", testJobUID, appsv1alpha1.EphemeralJobFailed)
	if recs := RefusedPodRecords(job, testRegion); len(recs) != 0 {
		t.Errorf("a job that refused nothing gave rows %+v", recs)
	}
	job.Status.Refused = []appsv1alpha1.RefusedPod{
		{Index: 0, Name: "web-0", UID: "pod-0", Reason: appsv1alpha1.ReasonTargetContainerNotFound,
			Message: "pod web-0 has no container \"app\" to target"},
		{Index: 2, Name: "web-2", UID: "pod-2", Reason: appsv1alpha1.ReasonInjectionRefused, Message: "forbidden"},
	}
	recs := RefusedPodRecords(job, testRegion)
	if len(recs) != 2 {
		t.Fatalf("got %d rows, want 2", len(recs))
	}
	want := PodRecord{Name: "web-0", Namespace: "ns", PodID: "pod-0", Status: PodStatusFailed, Image: "busybox:1.36",
		JobID: testJobUID, ReplicaType: debugName, ContainerName: debugName, DeployRegion: testRegion, IsInEtcd: true,
		Reason: appsv1alpha1.ReasonTargetContainerNotFound, Message: "pod web-0 has no container \"app\" to target",
		Remark: `{"container":"debug","reason":"TargetContainerNotFound","message":"pod web-0 has no container \"app\" to target"}`}
	if !reflect.DeepEqual(recs[0], want) {
		t.Errorf("row =\n%+v\nwant\n%+v", recs[0], want)
	}
	if recs[1].PodID != "pod-2" || recs[1].Status != PodStatusFailed || !strings.Contains(recs[1].Remark, "InjectionRefused") {
		t.Errorf("second row = %+v", recs[1])
	}
}

func TestPodRecordForResourcesOfTheTarget(t *testing.T) {
	pod := makePod("p", "pod-1").ephemeral(debugName, testJobUID, nil).obj()
	pod.Spec.EphemeralContainers[0].TargetContainerName = ""
	rec, _ := PodRecordFor(pod, testJobUID, "", true)
	if rec.Resources != "{}" {
		t.Errorf("resources without a target = %q, want {}", rec.Resources)
	}
	pod.Spec.EphemeralContainers[0].TargetContainerName = "init"
	pod.Spec.InitContainers = []corev1.Container{{Name: "init", Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceMemory: pod.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]},
	}}}
	rec, _ = PodRecordFor(pod, testJobUID, "", true)
	if rec.Resources != `{"limits":{"memory":"256Mi"}}` {
		t.Errorf("resources of an init container target = %q", rec.Resources)
	}
}

func TestJobRecordFor(t *testing.T) {
	full := makeJob("ej", testJobUID, appsv1alpha1.EphemeralJobFailed)
	full.Annotations = map[string]string{AnnotationTenant: "team-a", AnnotationOwner: "alice"}
	full.Spec.Replicas = ptr.To[int32](5)
	full.Spec.Parallelism = ptr.To[int32](2)
	full.Status = appsv1alpha1.EphemeralJobStatus{
		Phase: appsv1alpha1.EphemeralJobFailed, Match: 5, Succeeded: 3, Failed: 1, Running: 1,
		CompletionTime: ptr.To(mtime(9 * time.Minute)),
		Conditions: []metav1.Condition{
			{Type: appsv1alpha1.ConditionFailed, LastTransitionTime: mtime(9 * time.Minute)},
			{Type: appsv1alpha1.ConditionProgressing, LastTransitionTime: mtime(2 * time.Minute)},
		},
	}

	tests := []struct {
		name   string
		job    *appsv1alpha1.EphemeralJob
		inEtcd bool
		want   JobRecord
	}{
		{
			name: "a new job without status is Created and modified at creation",
			job:  makeJob("ej", testJobUID, ""), inEtcd: true,
			want: JobRecord{Status: StatusCreated, GmtModified: t0,
				Resources: `{"parallelism":1,"selector":{"matchLabels":{"app":"web"}},"containers":[{"name":"debug","image":"busybox:1.36","command":["sh","-c","exit 0"]}]}`},
		},
		{
			name: "a finished job with counts, annotations and conditions", job: full, inEtcd: false,
			want: JobRecord{Status: "Failed", Tenant: "team-a", Owner: "alice",
				MatchCount: 5, Succeeded: 3, Failed: 1, Running: 1,
				GmtModified: t0.Add(9 * time.Minute), GmtFinished: timeAt(9 * time.Minute),
				Resources: `{"replicas":5,"parallelism":2,"selector":{"matchLabels":{"app":"web"}},"containers":[{"name":"debug","image":"busybox:1.36","command":["sh","-c","exit 0"]}]}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := JobRecordFor(tt.job, testRegion, tt.inEtcd)
			want := tt.want
			want.Name, want.Namespace, want.JobID, want.Version, want.Kind = "ej", "ns", testJobUID, "100", JobKind
			want.DeployRegion, want.IsInEtcd, want.GmtCreated = testRegion, tt.inEtcd, t0
			if !reflect.DeepEqual(got, want) {
				t.Errorf("JobRecordFor() =\n%+v\nwant\n%+v", got, want)
			}
			var res JobResources
			if err := json.Unmarshal([]byte(got.Resources), &res); err != nil {
				t.Errorf("resources are not a JobResources: %v", err)
			}
		})
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"short strings stay", "abc", 5, "abc"},
		{"long strings are cut", "abcdef", 4, "abcd"},
		{"cuts fall between characters", "ééééé", 3, "ééé"},
		{"emoji count as one character", "🙂🙂🙂", 2, "🙂🙂"},
		{"invalid UTF-8 is replaced", "a\xffb", 5, "a\uFFFDb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clip(tt.in, tt.n); got != tt.want {
				t.Errorf("clip(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
		})
	}
}

func TestJobRecordForClipsAnnotations(t *testing.T) {
	ej := makeJob("ej", testJobUID, "")
	ej.Annotations = map[string]string{AnnotationOwner: strings.Repeat("o", 1000)}
	if got := len(JobRecordFor(ej, "", true).Owner); got != maxTenantLen {
		t.Errorf("owner length = %d, want %d", got, maxTenantLen)
	}
}

// TestPodRecordsForDerivedName runs the job's container under the name derived from its
// template's, as the controller does where the template name was taken: the row names
// the container used in the pod, keeps the template's name as replica_type, and carries
// that container's result, not the result of the container that took the name.
func TestPodRecordsForDerivedName(t *testing.T) {
	derived := podstate.DerivedName(debugName, testJobUID)
	pod := makePod("p", "pod-1").
		// An earlier run of the same manifest, by another job, took the template's name.
		ephemeral(debugName, "job-earlier", terminated(0, "Completed", "", 0, time.Minute)).
		ephemeral(derived, testJobUID, terminated(2, "Error", "no such file", 2*time.Minute, 3*time.Minute)).
		// A name derived for another job, carrying this job's UID, is not this job's.
		ephemeral(podstate.DerivedName(debugName, "job-other"), testJobUID, terminated(9, "Error", "", 0, 4*time.Minute)).obj()
	recs := PodRecordsFor(pod, testRegion, true, knownAs(map[string][]string{testJobUID: {debugName}}))
	if len(recs) != 1 {
		t.Fatalf("got %d rows, want 1: %+v", len(recs), recs)
	}
	got := recs[0]
	if got.ContainerName != derived || got.ReplicaType != debugName || got.Image != "busybox:"+derived {
		t.Errorf("container_name %q replica_type %q image %q, want %q %q %q", got.ContainerName, got.ReplicaType,
			got.Image, derived, debugName, "busybox:"+derived)
	}
	if got.Status != PodStatusFailed || got.ExitCode == nil || *got.ExitCode != 2 || got.Reason != "Error" ||
		got.Message != "no such file" {
		t.Errorf("result = %s exit %v reason %q message %q, want Failed 2 Error %q", got.Status, deref32(got.ExitCode),
			got.Reason, got.Message, "no such file")
	}
	if got.GmtFinished == nil || !got.GmtFinished.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("gmt_finished = %v, want the derived container's", got.GmtFinished)
	}
}

func deref32(p *int32) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

// TestMessagesAreBounded feeds messages beyond the kubelet's 4096 bytes, cut in the
// middle of a multibyte character and holding invalid UTF-8: the recorded message is
// valid UTF-8 of at most MaxMessageBytes, a prefix of what was written.
func TestMessagesAreBounded(t *testing.T) {
	long := strings.Repeat("a", MaxMessageBytes-1) + "é" + strings.Repeat("b", 100) // é straddles the bound
	forged := "\xff\xfe" + strings.Repeat("🙂", MaxMessageBytes)
	for _, tt := range []struct {
		name, message, want string
	}{
		{"a multibyte character at the cut", long, strings.Repeat("a", MaxMessageBytes-1)},
		{"invalid UTF-8 and four-byte characters", forged,
			"\uFFFD" + strings.Repeat("🙂", (MaxMessageBytes-3)/4)},
		{"a short message stays whole", "exit status 1 ✗", "exit status 1 ✗"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pod := makePod("p", "pod-1").ephemeral(debugName, testJobUID, terminated(1, "Error", tt.message, 0, time.Minute)).obj()
			rec, ok := PodRecordFor(pod, testJobUID, "", true)
			if !ok {
				t.Fatal("no row")
			}
			job := makeJob("ej", testJobUID, appsv1alpha1.EphemeralJobFailed)
			job.Status.Refused = []appsv1alpha1.RefusedPod{{Name: "p", UID: "pod-2", Reason: "InjectionRefused", Message: tt.message}}
			refused := RefusedPodRecords(job, "")[0]
			for what, got := range map[string]string{"message": rec.Message, "refusal message": refused.Message,
				"remark's message": remarkMessage(t, rec.Remark), "refusal remark's message": remarkMessage(t, refused.Remark)} {
				if len(got) > MaxMessageBytes || !utf8.ValidString(got) {
					t.Errorf("%s: %d bytes, valid UTF-8 %v; want at most %d valid", what, len(got), utf8.ValidString(got), MaxMessageBytes)
				}
				if got != tt.want {
					t.Errorf("%s = %.40q… (%d bytes), want %.40q… (%d bytes)", what, got, len(got), tt.want, len(tt.want))
				}
			}
		})
	}
}

func remarkMessage(t *testing.T, remark string) string {
	t.Helper()
	var r PodRemark
	if err := json.Unmarshal([]byte(remark), &r); err != nil {
		t.Fatalf("remark %q: %v", remark, err)
	}
	return r.Message
}

func TestReasonIsBounded(t *testing.T) {
	reason := strings.Repeat("R", maxReasonLen+10)
	pod := makePod("p", "pod-1").ephemeral(debugName, testJobUID, terminated(1, reason, "", 0, time.Minute)).obj()
	rec, _ := PodRecordFor(pod, testJobUID, "", true)
	if rec.Reason != reason[:maxReasonLen] {
		t.Errorf("reason of %d characters, want the first %d", len(rec.Reason), maxReasonLen)
	}
}
