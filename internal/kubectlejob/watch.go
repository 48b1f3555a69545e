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
	"context"
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// liveState is what a live view was read from, for --watch to go on from.
type liveState struct {
	job  *appsv1alpha1.EphemeralJob
	pods map[types.UID]corev1.Pod
	// podsVersion is the resourceVersion the pods were listed at.
	podsVersion string
}

// watcher prints a live view, then each target again when it changes, as `kubectl get -w`
// does: a table's later rows keep the columns of the first ones; other formats print each
// target as an object of its own (an EphemeralJobTarget, or its pod with -o name), so a
// template applies to one target at a time.
type watcher struct {
	o *ResultsOptions
	// table is the table printed so far, whose column widths the later rows keep.
	table *table
	mixed bool
	// shown holds every target printed, by pod UID, as last printed.
	shown map[string]Target
	// fromHistory counts the targets of the first view read from the history.
	fromHistory int64
}

// watch prints the view and follows the job and its pods until the job finishes, it is
// deleted, or ctx ends (Ctrl-C), and returns the view as it ended.
func (o *ResultsOptions) watch(ctx context.Context, view *View, live *liveState) (*View, error) {
	w := &watcher{o: o, shown: map[string]Target{}}
	for _, t := range view.Targets {
		w.mixed = w.mixed || t.Source != view.Job.Source
		if t.Source == SourceHistory {
			w.fromHistory++
		}
	}
	if err := w.print(view.Job, view.Targets); err != nil {
		return nil, err
	}
	if live.job.Status.Phase.IsFinished() {
		return view, nil
	}

	podEvents, err := o.watchPods(ctx, live.podsVersion)
	if err != nil {
		return nil, err
	}
	defer podEvents.Stop()
	jobEvents, err := o.watchJob(ctx, live.job.ResourceVersion)
	if err != nil {
		return nil, err
	}
	defer jobEvents.Stop()
	job := live.job
	// keep is built again only when the job changes: it holds the refused pods' IDs.
	keep := keepsPod(job)
	for {
		select {
		case <-ctx.Done():
			// Ctrl-C: the rows printed are the results so far.
			return w.view(job), nil
		case ev, ok := <-podEvents.ResultChan():
			if !ok {
				return nil, fmt.Errorf("watching the pods of namespace %s ended; run the command again", o.Namespace)
			}
			pod, err := eventObject[corev1.Pod](ev, "pods")
			if err != nil {
				return nil, err
			}
			if ev.Type == watch.Deleted || !keep(pod) {
				// A target whose pod is gone keeps the row printed last.
				delete(live.pods, pod.UID)
				continue
			}
			live.pods[pod.UID] = *pod
			// Only this pod's target can have changed: a pass costs one pod, not the job's size.
			if err := w.update(job, []corev1.Pod{*pod}); err != nil {
				return nil, err
			}
			continue
		case ev, ok := <-jobEvents.ResultChan():
			if !ok {
				return nil, fmt.Errorf("watching ejob %s/%s ended; run the command again", o.Namespace, o.Name)
			}
			if ev.Type == watch.Deleted {
				fmt.Fprintf(o.ErrOut, "note: ejob %s/%s was deleted\n", o.Namespace, o.Name)
				return w.view(job), nil
			}
			previous := job
			if job, err = eventObject[appsv1alpha1.EphemeralJob](ev, "ejobs"); err != nil {
				return nil, err
			}
			keep = keepsPod(job)
			// The job's status is written after the pods it counts changed, but the two
			// watches need not deliver in that order: the pods are read once more when it
			// finished. They are also when it identifies more refused pods, which changed
			// before the status named them and may not change again.
			if job.Status.Phase.IsFinished() || refusedIDsLen(job) != refusedIDsLen(previous) {
				list, _, err := listJobPods(ctx, o.kube.CoreV1(), o.Namespace, keep)
				if err != nil {
					return nil, err
				}
				clear(live.pods)
				for _, p := range list {
					live.pods[p.UID] = p
				}
			}
		}
		all := make([]corev1.Pod, 0, len(live.pods))
		for _, p := range live.pods {
			all = append(all, p)
		}
		if err := w.update(job, all); err != nil {
			return nil, err
		}
		if job.Status.Phase.IsFinished() {
			return w.view(job), nil
		}
	}
}

// refusedIDsLen measures the IDs of refused pods the job's status holds.
func refusedIDsLen(job *appsv1alpha1.EphemeralJob) int {
	n := 0
	for _, rc := range job.Status.Refusals {
		n += len(rc.PodIDs)
	}
	return n
}

// update prints the targets of these pods (and those the job's status details) that
// changed since they were last printed.
func (w *watcher) update(job *appsv1alpha1.EphemeralJob, pods []corev1.Pod) error {
	targets, _ := liveTargets(job, pods)
	var changed []Target
	for _, t := range targets {
		if last, ok := w.shown[t.uid]; !ok || !reflect.DeepEqual(last, t) {
			changed = append(changed, t)
		}
	}
	return w.print(jobInfoLive(job), changed)
}

// print prints targets, the table's header first if none was printed yet.
func (w *watcher) print(job JobInfo, targets []Target) error {
	for _, t := range targets {
		w.shown[t.uid] = t
	}
	o := w.o
	if o.printer == nil {
		t := &table{noHeaders: o.PrintFlags.noHeaders || w.table != nil}
		if w.table != nil {
			t.widths = w.table.widths
		}
		wide := o.PrintFlags.output == formatWide
		t.header(targetHeader(wide, w.mixed)...)
		for _, tg := range targets {
			t.row(targetCells(tg, wide, w.mixed, o.f.now())...)
		}
		w.table = t
		return t.write(o.Out)
	}
	for i := range targets {
		obj, err := targetObject(job, &targets[i], o.PrintFlags.name())
		if err != nil {
			return err
		}
		if err := o.printer.PrintObj(obj, o.Out); err != nil {
			return err
		}
	}
	return nil
}

// view is the view of every target printed, for the exit code.
func (w *watcher) view(job *appsv1alpha1.EphemeralJob) *View {
	v := &View{Job: jobInfoLive(job)}
	for _, t := range w.shown {
		v.Targets = append(v.Targets, t)
	}
	sortTargets(v.Targets)
	// The history's rows stand for targets that the status lists and no pod does.
	v.Missing = max(missingTargets(&job.Status, v.Targets)-w.fromHistory, 0)
	return v
}

// targetObject is one target as -o prints it with --watch: its item, or its pod with -o name.
func targetObject(job JobInfo, t *Target, name bool) (runtime.Object, error) {
	list, err := viewObject(&View{Job: job, Targets: []Target{*t}}, name)
	if err != nil {
		return nil, err
	}
	item := list.(*unstructured.UnstructuredList).Items[0]
	return &item, nil
}

func (o *ResultsOptions) watchPods(ctx context.Context, version string) (watch.Interface, error) {
	w, err := watchtools.NewRetryWatcherWithContext(ctx, version, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return o.kube.CoreV1().Pods(o.Namespace).Watch(ctx, opts)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("watching the pods of namespace %s: %w", o.Namespace, err)
	}
	return w, nil
}

func (o *ResultsOptions) watchJob(ctx context.Context, version string) (watch.Interface, error) {
	byName := fields.OneTermEqualSelector("metadata.name", o.Name).String()
	w, err := watchtools.NewRetryWatcherWithContext(ctx, version, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = byName
			return o.dyn.Resource(appsv1alpha1.GroupVersion.WithResource("ephemeraljobs")).Namespace(o.Namespace).
				Watch(ctx, opts)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("watching ejob %s/%s: %w", o.Namespace, o.Name, err)
	}
	return w, nil
}

// eventObject decodes the object of a watch event; an Error event (the watch expired, or
// was refused) is an error that says what to do.
func eventObject[T any, PT interface {
	*T
	runtime.Object
}](ev watch.Event, what string) (PT, error) {
	if ev.Type == watch.Error {
		err := apierrors.FromObject(ev.Object)
		return nil, fmt.Errorf("watching %s: %w; run the command again", what, err)
	}
	if obj, ok := ev.Object.(PT); ok {
		return obj, nil
	}
	u, ok := ev.Object.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("watching %s: unexpected %T", what, ev.Object)
	}
	var obj PT = new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", what, err)
	}
	return obj, nil
}
