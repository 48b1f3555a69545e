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
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

// memClient serves one job and its pods from memory, as the manager's cache does (the job
// copied, pods shared when asked), so that a benchmark measures the pass, not a fake API server.
type memClient struct {
	client.Client
	job    *appsv1alpha1.EphemeralJob
	pods   map[types.NamespacedName]*corev1.Pod
	owned  []corev1.Pod
	writes int
	// injections counts the ephemeralcontainers updates, which are sent in the background.
	injections atomic.Int32
}

func (c *memClient) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	switch o := obj.(type) {
	case *appsv1alpha1.EphemeralJob:
		c.job.DeepCopyInto(o)
	case *corev1.Pod:
		p, ok := c.pods[key]
		if !ok {
			return apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, key.Name)
		}
		*o = *p
	}
	return nil
}

func (c *memClient) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o := &client.ListOptions{}
	o.ApplyOptions(opts)
	pods := list.(*corev1.PodList)
	if o.FieldSelector != nil {
		pods.Items = c.owned
		return nil
	}
	pods.Items = make([]corev1.Pod, 0, len(c.pods))
	for _, p := range c.pods {
		pods.Items = append(pods.Items, *p)
	}
	return nil
}

func (c *memClient) Status() client.SubResourceWriter { return memStatus{c} }

type memStatus struct{ c *memClient }

func (s memStatus) Patch(_ context.Context, obj client.Object, _ client.Patch, _ ...client.SubResourcePatchOption) error {
	job := obj.(*appsv1alpha1.EphemeralJob)
	s.c.writes++
	rv, _ := strconv.Atoi(s.c.job.ResourceVersion)
	job.ResourceVersion = strconv.Itoa(rv + 1)
	s.c.job = job.DeepCopy()
	return nil
}
func (c *memClient) SubResource(string) client.SubResourceClient { return memInjections{c} }

// memInjections takes the ephemeralcontainers updates: it counts them and changes nothing.
type memInjections struct{ c *memClient }

func (s memInjections) Get(context.Context, client.Object, client.Object, ...client.SubResourceGetOption) error {
	return nil
}
func (s memInjections) Create(context.Context, client.Object, client.Object, ...client.SubResourceCreateOption) error {
	return nil
}
func (s memInjections) Update(context.Context, client.Object, ...client.SubResourceUpdateOption) error {
	s.c.injections.Add(1)
	return nil
}
func (s memInjections) Patch(context.Context, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
	return nil
}
func (s memInjections) Apply(context.Context, runtime.ApplyConfiguration, ...client.SubResourceApplyOption) error {
	return nil
}

func (s memStatus) Create(context.Context, client.Object, client.Object, ...client.SubResourceCreateOption) error {
	return nil
}
func (s memStatus) Update(context.Context, client.Object, ...client.SubResourceUpdateOption) error {
	return nil
}
func (s memStatus) Apply(context.Context, runtime.ApplyConfiguration, ...client.SubResourceApplyOption) error {
	return nil
}

// benchPass measures one pass over a job with finished finished targets and 10 running
// ones, after an event from one of the running pods.
func benchPass(b *testing.B, finished int) {
	job := testutil.MakeEphemeralJob("ej", "ns", "web").UID("job-uid").Parallelism(10).Obj()
	job.ResourceVersion = "1"
	job.Status.IndexLimit = int32(finished + 100)
	job.Status.StartTime = &metav1.Time{Time: t0}
	job.Status.SucceededIndexes = fmt.Sprintf("0-%d", finished-1)
	c := &memClient{job: job, pods: map[types.NamespacedName]*corev1.Pod{}}
	for i := range finished + 10 {
		w := testutil.MakePod(fmt.Sprintf("web-%05d", i), "ns").Label("app", "web").Running().
			UID(fmt.Sprintf("pod-%d", i)).Injected(job, int32(i))
		if i < finished {
			w.Exited(0)
		} else {
			w.Started()
		}
		p := w.Obj()
		c.pods[client.ObjectKeyFromObject(p)] = p
		c.owned = append(c.owned, *p)
	}
	r := &EphemeralJobReconciler{Client: c, APIReader: c, Recorder: events.NewFakeRecorder(10),
		Clock: clocktesting.NewFakeClock(t0), StatusWriteInterval: DefaultStatusWriteInterval,
		jobs: map[types.NamespacedName]*jobState{}, byNamespace: map[string]map[types.NamespacedName]*jobState{}}
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(job)}
	for range 2 { // build the ledger, write the status once
		if _, err := r.Reconcile(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	if st := c.job.Status; st.Succeeded != int32(finished) || st.Running != 10 {
		b.Fatalf("status %+v", st)
	}
	s := r.existingState(req.NamespacedName, job.UID)
	active := c.owned[finished]
	writes := c.writes
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s.note(active.UID, client.ObjectKeyFromObject(&active))
		if _, err := r.Reconcile(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	if c.writes != writes {
		b.Fatalf("%d status writes while nothing changed", c.writes-writes)
	}
}

// BenchmarkPass is one pass of a job with 10 running targets after a pod event: its cost
// must not grow with the finished targets.
func BenchmarkPass(b *testing.B) {
	for _, finished := range []int{500, 5000, 50000} {
		b.Run(fmt.Sprintf("finished=%d", finished), func(b *testing.B) { benchPass(b, finished) })
	}
}

// benchResume measures what a new leader does before its first injection into a job with
// finished finished targets and 10 running, one of which finished while nobody led: it
// knows nothing of the job, so its first pass rebuilds the ledger from the status and the
// cache and writes the status with a higher index limit (the indexes below the written one
// may have been given by the former leader), and the pass that follows at once sends the
// injection into the freed slot.
func benchResume(b *testing.B, finished int) {
	job := testutil.MakeEphemeralJob("ej", "ns", "web").UID("job-uid").Parallelism(10).Obj()
	job.ResourceVersion = "1"
	job.Status.IndexLimit = int32(finished + 10 + indexBatch)
	job.Status.StartTime = &metav1.Time{Time: t0}
	job.Status.SucceededIndexes = fmt.Sprintf("0-%d", finished-1)
	c := &memClient{job: job, pods: map[types.NamespacedName]*corev1.Pod{}}
	add := func(p *corev1.Pod, owned bool) {
		c.pods[client.ObjectKeyFromObject(p)] = p
		if owned {
			c.owned = append(c.owned, *p)
		}
	}
	for i := range finished + 10 {
		w := testutil.MakePod(fmt.Sprintf("web-%06d", i), "ns").Label("app", "web").Running().
			UID(fmt.Sprintf("pod-%d", i)).Injected(job, int32(i))
		if i < finished {
			w.Exited(0)
		} else {
			w.Started()
		}
		add(w.Obj(), true)
	}
	// Pods not targeted yet: the next injection goes into the oldest of them.
	for i := range 1000 {
		add(testutil.MakePod(fmt.Sprintf("web-new-%04d", i), "ns").Label("app", "web").Running().
			UID(fmt.Sprintf("new-%d", i)).Obj(), false)
	}
	newReconciler := func() *EphemeralJobReconciler {
		return &EphemeralJobReconciler{Client: c, APIReader: c, Recorder: events.NewFakeRecorder(10),
			Clock: clocktesting.NewFakeClock(t0), StatusWriteInterval: DefaultStatusWriteInterval,
			jobs: map[types.NamespacedName]*jobState{}, byNamespace: map[string]map[types.NamespacedName]*jobState{}}
	}
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(job)}
	// The former leader's passes: the status it wrote records the 10 running targets.
	former := newReconciler()
	for range 2 {
		if _, err := former.Reconcile(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	if st := c.job.Status; st.Succeeded != int32(finished) || st.Running != 10 || c.injections.Load() != 0 {
		b.Fatalf("the former leader wrote %+v and injected %d times", st, c.injections.Load())
	}
	written := c.job.DeepCopy()
	// One running target finished while nobody led.
	last := testutil.MakePod(fmt.Sprintf("web-%06d", finished), "ns").Label("app", "web").Running().
		UID(fmt.Sprintf("pod-%d", finished)).Injected(job, int32(finished)).Exited(0).Obj()
	c.pods[client.ObjectKeyFromObject(last)] = last
	c.owned[finished] = *last
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c.job = written.DeepCopy()
		before := c.injections.Load()
		r := newReconciler()
		for pass := 0; c.injections.Load() == before; pass++ {
			res, err := r.Reconcile(context.Background(), req)
			if err != nil {
				b.Fatal(err)
			}
			r.inFlight.Wait()
			if pass == 2 || (res.RequeueAfter == 0 && c.injections.Load() == before) {
				b.Fatalf("no injection after %d passes (the last asked to be requeued after %v)", pass+1, res.RequeueAfter)
			}
		}
		if n := c.injections.Load() - before; n != 1 {
			b.Fatalf("%d injections, want 1 into the slot that freed", n)
		}
	}
	if st := c.job.Status; st.Succeeded != int32(finished+1) || st.Running != 9 {
		b.Fatalf("the new leader wrote %+v", st)
	}
}

// BenchmarkResume is a new leader's first pass over a job with 10,000 finished targets, up to
// its first injection: the ledger rebuilt from the status and the cache.
func BenchmarkResume(b *testing.B) {
	for _, finished := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("finished=%d", finished), func(b *testing.B) { benchResume(b, finished) })
	}
}

// BenchmarkPodEvent is the pod event handler for a job's pod, with 100 jobs in the namespace.
func BenchmarkPodEvent(b *testing.B) {
	r := &EphemeralJobReconciler{EventBatchDelay: DefaultEventBatchDelay,
		jobs: map[types.NamespacedName]*jobState{}, byNamespace: map[string]map[types.NamespacedName]*jobState{}}
	for i := range 100 {
		job := testutil.MakeEphemeralJob(fmt.Sprintf("ej-%d", i), "ns", fmt.Sprintf("app-%d", i)).
			UID(fmt.Sprintf("uid-%d", i)).Obj()
		// Known to the reconciler, as every job is after its first pass.
		if _, err := r.stateOf(job).selectorOf(job); err != nil {
			b.Fatal(err)
		}
	}
	pod := testutil.MakePod("p", "ns").Label("app", "app-7").Running().Obj()
	h := &podEventHandler{r: r}
	q := &countingQueue{}
	events := 0
	b.ReportAllocs()
	for b.Loop() {
		h.handle(context.Background(), pod, pod, false, q)
		events++
	}
	if q.adds != events {
		b.Fatalf("%d events queued %d passes, want one each: the pod's one job", events, q.adds)
	}
}

// countingQueue counts what the handler queues.
type countingQueue struct {
	podQueue
	adds int
}

func (q *countingQueue) Add(ctrl.Request)                     { q.adds++ }
func (q *countingQueue) AddAfter(ctrl.Request, time.Duration) { q.adds++ }

// BenchmarkResult is counting one more finished target and building the job's status,
// after targets whose outcomes alternated (a range per target, the worst case for the
// status' index lists): its cost must not grow with the finished targets.
func BenchmarkResult(b *testing.B) {
	for _, n := range []int32{10000, 100000} {
		b.Run(fmt.Sprintf("finished=%d", n), func(b *testing.B) {
			job, l := alternating(b, n)
			computeStatus(job, l, true, t0)
			b.ReportAllocs()
			for b.Loop() {
				l.next++
				l.finish(l.next-1, podstate.Failed, targetResult{pod: "p", exitCode: new(int32(1))})
				computeStatus(job, l, true, t0)
			}
		})
	}
}
