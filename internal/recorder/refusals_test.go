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
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
)

// refusingJob is a job whose status details the refusal of web-0 and identifies, past its
// details, web-1, web-2 and web-3 by their IDs, as the controller writes it; pods are the
// namespace's pods: the four refused ones, web-3 in another namespace, a target of the job
// whose ID the status happens to list, and a bystander.
func refusingJob() (*appsv1alpha1.EphemeralJob, []corev1.Pod) {
	job := makeJob("refusing", testJobUID, appsv1alpha1.EphemeralJobFailed)
	job.Status.Refused = []appsv1alpha1.RefusedPod{{Index: 0, Name: "web-0", UID: "pod-0",
		Reason: appsv1alpha1.ReasonTargetContainerNotFound, Message: `the pod has no container "app" to target`}}
	job.Status.Refusals = []appsv1alpha1.ReasonCount{
		{Reason: appsv1alpha1.ReasonTargetContainerNotFound, Count: 3,
			PodIDs: podstate.RefusedID("pod-0") + podstate.RefusedID("pod-1")},
		{Reason: appsv1alpha1.ReasonContainerNameTaken, Count: 3,
			PodIDs: podstate.RefusedID("pod-2") + podstate.RefusedID("pod-3") + podstate.RefusedID("pod-4")},
	}
	elsewhere := makePod("web-3", "pod-3").obj()
	elsewhere.Namespace = "other"
	pods := []corev1.Pod{
		*makePod("web-0", "pod-0").obj(), *makePod("web-1", "pod-1").obj(), *makePod("web-2", "pod-2").obj(),
		*elsewhere, *makePod("web-4", "pod-4").ephemeral(debugName, testJobUID, running(time.Minute)).obj(),
		*makePod("bystander", "pod-5").obj(),
	}
	return job, pods
}

func TestIdentifiedRefusalRecords(t *testing.T) {
	job, pods := refusingJob()
	recs := identifiedRefusalRecords([]appsv1alpha1.EphemeralJob{*job, *makeJob("other", "job-2", "")}, pods, testRegion)
	created := t0
	want := []PodRecord{
		{Name: "web-1", Namespace: "ns", PodID: "pod-1", Status: PodStatusFailed, Image: "busybox:1.36",
			JobID: testJobUID, ReplicaType: debugName, ContainerName: debugName, DeployRegion: testRegion, IsInEtcd: true,
			Reason: appsv1alpha1.ReasonTargetContainerNotFound, HostIP: "10.0.0.1", PodIP: "10.1.0.5",
			GmtCreated: created, GmtModified: created, Remark: `{"container":"debug","reason":"TargetContainerNotFound"}`},
		{Name: "web-2", Namespace: "ns", PodID: "pod-2", Status: PodStatusFailed, Image: "busybox:1.36",
			JobID: testJobUID, ReplicaType: debugName, ContainerName: debugName, DeployRegion: testRegion, IsInEtcd: true,
			Reason: appsv1alpha1.ReasonContainerNameTaken, HostIP: "10.0.0.1", PodIP: "10.1.0.5",
			GmtCreated: created, GmtModified: created, Remark: `{"container":"debug","reason":"ContainerNameTaken"}`},
	}
	if !reflect.DeepEqual(recs, want) {
		t.Errorf("rows =\n%+v\nwant (web-0 is detailed, web-3 elsewhere, web-4 a target, the bystander not listed)\n%+v",
			recs, want)
	}
	if recs := identifiedRefusalRecords([]appsv1alpha1.EphemeralJob{*makeJob("none", "job-3", "")}, pods,
		testRegion); recs != nil {
		t.Errorf("a job that identifies no pod gave rows %+v", recs)
	}
}

// The handlers note the pods a job identifies as refused when its refusals change; the
// writer reads them from the cache, and a refused pod deleted before that still gets its row.
func TestRefusedPodsIdentifiedByTheStatusGetRows(t *testing.T) {
	job, pods := refusingJob()
	reader := fake.NewClientBuilder().WithScheme(newScheme(t)).WithObjects(&pods[1], &pods[2], &pods[3], &pods[5]).Build()
	r := newRecorder(nil, nil, reader, Options{Region: testRegion}, testLogger(t), nil)

	before := job.DeepCopy()
	before.Status.Refusals = nil
	r.recordJob(nil, before, true)
	r.recordJob(before, job, true)
	r.pending.take(10)
	r.scanRefusals(context.Background())
	_, rows := r.pending.take(10)
	if got := podNames(rows); !slices.Equal(got, []string{"web-1", "web-2"}) {
		t.Errorf("the writer's scan queued rows of %v, want web-1 and web-2", got)
	}
	r.scanRefusals(context.Background())
	if _, rows := r.pending.take(10); len(rows) != 0 {
		t.Errorf("a second scan without a change queued %v", podNames(rows))
	}

	// An update that leaves the refusals alone asks for no scan.
	later := job.DeepCopy()
	later.ResourceVersion = "101"
	r.recordJob(job, later, true)
	r.pending.take(10)
	r.scanRefusals(context.Background())
	if _, rows := r.pending.take(10); len(rows) != 0 {
		t.Errorf("an update with the same refusals queued %v", podNames(rows))
	}

	// web-1 is deleted: its row says so; a deleted bystander makes none.
	r.recordPod(&pods[1], false)
	r.recordPod(&pods[5], false)
	_, rows = r.pending.take(10)
	if len(rows) != 1 || rows[0].Name != "web-1" || rows[0].IsInEtcd || rows[0].Status != PodStatusFailed ||
		rows[0].Reason != appsv1alpha1.ReasonTargetContainerNotFound {
		t.Errorf("the deletion of a refused pod queued %+v, want web-1's Failed row, gone", rows)
	}

	// Once the job is deleted and forgotten, its IDs no longer match.
	r.recordJob(nil, job, false)
	r.known.forgetDeleted(nil)
	r.recordPod(&pods[2], false)
	if _, rows := r.pending.take(10); len(rows) != 0 {
		t.Errorf("a forgotten job's refused pod queued %v", podNames(rows))
	}
}

func podNames(rows []PodRecord) []string {
	var names []string
	for _, r := range rows {
		names = append(names, r.Name)
	}
	slices.Sort(names)
	return names
}
