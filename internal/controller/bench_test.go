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
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

// benchObservation is a job halfway through 5,000 pods: 2,490 finished, 10 running,
// 2,500 not injected yet.
func benchObservation(b *testing.B) observation {
	b.Helper()
	job := newJob()
	job.Spec.Parallelism = new(int32(10))
	obs := observation{job: job, pending: map[types.UID]pendingInjection{}}
	for i := range 5000 {
		var pod *corev1.Pod
		switch {
		case i < 2490:
			pod = makePod(job, i, int32(i), exit0)
		case i < 2500:
			pod = makePod(job, i, int32(i), running)
		default:
			pod = makePod(job, i, 0, notInjected)
		}
		obs.selected = append(obs.selected, pod)
		if len(pod.Spec.EphemeralContainers) > 0 {
			obs.owned = append(obs.owned, pod)
		}
	}
	job.Status.Targeted = 2500
	return obs
}

// BenchmarkAssessAndPlan5000 is one reconcile's pure work over 5,000 pods: every
// target's outcome, the next candidates in order, and the pods to inject now.
func BenchmarkAssessAndPlan5000(b *testing.B) {
	obs := benchObservation(b)
	b.ReportAllocs()
	for b.Loop() {
		a, err := assess(obs, true)
		if err != nil {
			b.Fatal(err)
		}
		if len(planInjections(obs.job, a)) != 0 {
			b.Fatal("parallelism is full, yet the plan injects")
		}
	}
}

// BenchmarkComputeStatus5000 is the status computed from the assessment of 5,000 pods.
func BenchmarkComputeStatus5000(b *testing.B) {
	obs := benchObservation(b)
	a, err := assess(obs, true)
	if err != nil {
		b.Fatal(err)
	}
	now := t0.Add(time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		st := computeStatus(obs.job, a, now)
		if st.Succeeded != 2490 || st.Match != 5000 {
			b.Fatalf("succeeded %d match %d, want 2490 and 5000", st.Succeeded, st.Match)
		}
	}
}

// listedJobs is a reader serving EphemeralJob lists as the informer cache does with
// UnsafeDisableDeepCopy: shallow copies of stored objects.
type listedJobs struct {
	client.Client
	jobs []appsv1alpha1.EphemeralJob
}

func (l listedJobs) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	jl, ok := list.(*appsv1alpha1.EphemeralJobList)
	if !ok {
		return fmt.Errorf("unexpected list %T", list)
	}
	jl.Items = append(jl.Items[:0], l.jobs...)
	return nil
}

// BenchmarkJobsForPod100Jobs maps a pod event to its jobs with 100 jobs in the namespace.
func BenchmarkJobsForPod100Jobs(b *testing.B) {
	var jobs []appsv1alpha1.EphemeralJob
	for i := range 100 {
		j := testutil.MakeEphemeralJob(fmt.Sprintf("job-%d", i), "ns", fmt.Sprintf("app-%d", i)).Obj()
		j.UID = types.UID(fmt.Sprintf("job-uid-%d", i))
		j.Generation = 1
		j.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"backend", "frontend"}}}
		jobs = append(jobs, *j)
	}
	r := &EphemeralJobReconciler{Client: listedJobs{jobs: jobs}, selectors: map[types.NamespacedName]parsedSelector{}}
	pod := makePod(&jobs[42], 1, 0, running)
	pod.Labels = map[string]string{"app": "app-42", "tier": "backend"}
	pod.Spec.EphemeralContainers = containersFor(&jobs[7], 3)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if reqs := r.jobsForPod(ctx, pod); len(reqs) != 2 {
			b.Fatalf("mapped to %d jobs, want 2 (the selecting one and the owning one)", len(reqs))
		}
	}
}

// BenchmarkPodChangePredicate filters a pod update that changes an ephemeral container's status.
func BenchmarkPodChangePredicate(b *testing.B) {
	job := newJob()
	oldPod, newPod := makePod(job, 1, 0, running), makePod(job, 1, 0, exit0)
	p := podChangePredicate()
	e := event.UpdateEvent{ObjectOld: oldPod, ObjectNew: newPod}
	b.ReportAllocs()
	for b.Loop() {
		if !p.Update(e) {
			b.Fatal("a container status change was filtered out")
		}
	}
}
