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

package chaos

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
)

// maxReasonBytes is the CRD's bound of status.results[].reason: a longer one makes the API
// server refuse the whole status.
const maxReasonBytes = 128

// observer checks the invariants at every pod event and at every status of the job.
type observer struct {
	// replicas is the most pods that may hold the job's containers: the job's replicas, or
	// less when a failure budget bounds them.
	replicas int
	pods     kubernetes.Interface

	mu         sync.Mutex
	holding    map[string]bool
	unfinished map[string]bool
	// indexes maps each index the pods' containers carry to the pod.
	indexes  map[int32]string
	maxUnfin int
	// statuses counts the job's statuses checked against the pods; finished is set once one
	// of them had a terminal phase.
	statuses int
	finished bool
	// firstBroken says how an invariant was first broken, of violations times.
	firstBroken string
	violations  int
}

// startObserver watches the pods and the job through their own informers; cfg is the
// test's.
func startObserver(ctx context.Context, t *testing.T, cfg *rest.Config, scheme *runtime.Scheme, replicas int) *observer {
	t.Helper()
	// Protobuf: a check of the job's status lists every pod, many times a second.
	cfg = rest.CopyConfig(cfg)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	c := kubernetes.NewForConfigOrDie(cfg)
	o := &observer{replicas: replicas, pods: c, holding: map[string]bool{}, unfinished: map[string]bool{},
		indexes: map[int32]string{}}
	factory := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(namespace))
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { o.see(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { o.see(obj.(*corev1.Pod)) },
	}); err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced)

	jobs, err := crcache.New(cfg, crcache.Options{Scheme: scheme,
		DefaultNamespaces: map[string]crcache.Config{namespace: {}}})
	if err != nil {
		t.Fatal(err)
	}
	jobInf, err := jobs.GetInformer(ctx, &appsv1alpha1.EphemeralJob{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jobInf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { o.seeJob(ctx, obj.(*appsv1alpha1.EphemeralJob)) },
		UpdateFunc: func(_, obj any) { o.seeJob(ctx, obj.(*appsv1alpha1.EphemeralJob)) },
	}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = jobs.Start(ctx) }()
	if !jobs.WaitForCacheSync(ctx) {
		t.Fatal("the job informer did not sync")
	}
	return o
}

func (o *observer) see(pod *corev1.Pod) {
	o.mu.Lock()
	defer o.mu.Unlock()
	uids := podstate.JobUIDs(pod)
	if len(uids) == 0 {
		return
	}
	owned := podstate.OwnedContainers(pod, uids[0])
	if len(owned) > 1 {
		o.broken(fmt.Sprintf("pod %s holds %d containers of the job", pod.Name, len(owned)))
	}
	o.holding[pod.Name] = true
	if idx, ok := podstate.Index(pod, uids[0]); !ok {
		o.broken(fmt.Sprintf("pod %s holds a container of the job without an index", pod.Name))
	} else if other, seen := o.indexes[idx]; seen && other != pod.Name {
		o.broken(fmt.Sprintf("pods %s and %s share index %d", other, pod.Name, idx))
	} else {
		o.indexes[idx] = pod.Name
	}
	res, _ := podstate.Evaluate(pod, uids[0])
	if res.Outcome.IsFinished() {
		delete(o.unfinished, pod.Name)
	} else {
		o.unfinished[pod.Name] = true
	}
	if n := len(o.unfinished); n > o.maxUnfin {
		o.maxUnfin = n
	}
	if len(o.holding) > o.replicas {
		o.broken(fmt.Sprintf("%d pods hold the job's container, more than the %d allowed", len(o.holding), o.replicas))
	}
	if len(o.unfinished) > parallelism {
		o.broken(fmt.Sprintf("%d targets unfinished at once, parallelism is %d", len(o.unfinished), parallelism))
	}
}

// seeJob checks a status of the job against the pods as the API server has them now. The
// controller wrote the status after it saw the pods, and a pod's result never changes once
// it has one, so no status may count more results of either kind than the pods hold.
// Refusals count as failures without a container that failed; none of the modes expects
// them, and the final check requires the counts to equal the pods'.
func (o *observer) seeJob(ctx context.Context, job *appsv1alpha1.EphemeralJob) {
	st := job.Status
	for i, g := range st.Results {
		if len(g.Reason) > maxReasonBytes {
			o.brokenLocked(fmt.Sprintf("status.results[%d].reason is %d bytes, more than %d", i, len(g.Reason), maxReasonBytes))
		}
	}
	var list *corev1.PodList
	if err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		var err error
		list, err = o.pods.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
		return err == nil, nil
	}); err != nil {
		return // the run is over
	}
	var succeeded, failed, refused int32
	for i := range list.Items {
		res, _ := podstate.Evaluate(&list.Items[i], job.UID)
		switch res.Outcome {
		case podstate.Succeeded:
			succeeded++
		case podstate.Failed:
			failed++
		}
	}
	for _, rc := range st.Refusals {
		refused += rc.Count
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if st.Succeeded > succeeded {
		o.broken(fmt.Sprintf("the status counts %d succeeded targets (phase %s); the pods hold %d",
			st.Succeeded, st.Phase, succeeded))
	}
	if st.Failed > failed+refused {
		o.broken(fmt.Sprintf("the status counts %d failed targets (phase %s); the pods hold %d, and %d were refused",
			st.Failed, st.Phase, failed, refused))
	}
	o.statuses++
	if st.Phase.IsFinished() {
		o.finished = true
	}
}

func (o *observer) brokenLocked(msg string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.broken(msg)
}

func (o *observer) broken(msg string) {
	o.violations++
	if o.firstBroken == "" {
		o.firstBroken = msg
	}
}

func (o *observer) injected() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.holding)
}

func (o *observer) maxUnfinished() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.maxUnfin
}

// checked returns how many statuses of the job were checked, and whether one of them had
// a terminal phase.
func (o *observer) checked() (int, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.statuses, o.finished
}

// violation says how the invariants were broken, or "" when they were not.
func (o *observer) violation() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.violations == 0 {
		return ""
	}
	return fmt.Sprintf("%d violations of the invariants, the first: %s", o.violations, o.firstBroken)
}

func (o *observer) summary() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return fmt.Sprintf("%d pods injected, %d unfinished, %d statuses checked", len(o.holding), len(o.unfinished),
		o.statuses)
}
