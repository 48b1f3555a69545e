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
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

func TestStatusWriteDelay(t *testing.T) {
	const interval = time.Second
	base := appsv1alpha1.EphemeralJobStatus{Phase: appsv1alpha1.EphemeralJobRunning, Match: 4, Running: 2, Waiting: 2,
		IndexLimit: 100, ActiveIndexes: "0-1", Conditions: []metav1.Condition{{Type: appsv1alpha1.ConditionProgressing,
			Status: metav1.ConditionTrue, Reason: appsv1alpha1.ReasonInjecting, Message: "0 of 4 pods finished"}}}
	tests := []struct {
		name   string
		change func(*appsv1alpha1.EphemeralJobStatus)
		urgent bool
		since  time.Duration
		want   time.Duration
	}{
		{name: "only counts changed: held for the rest of the interval", since: 300 * time.Millisecond, want: 700 * time.Millisecond,
			change: func(s *appsv1alpha1.EphemeralJobStatus) {
				s.Running, s.Succeeded, s.SucceededIndexes, s.ActiveIndexes = 1, 1, "0", "1"
				s.Conditions[0].Message = "1 of 4 pods finished"
			}},
		{name: "a result group grew and another appeared: held like the counts", since: 300 * time.Millisecond,
			want: 700 * time.Millisecond, change: func(s *appsv1alpha1.EphemeralJobStatus) {
				s.Running, s.Succeeded, s.Failed, s.SucceededIndexes, s.FailedIndexes, s.ActiveIndexes = 0, 1, 1, "0", "1", ""
				s.Results = []appsv1alpha1.ResultGroup{{Succeeded: true, ExitCode: new(int32(0)), Count: 1, Pods: []string{"p-0/c"}},
					{ExitCode: new(int32(1)), Count: 1, Pods: []string{"p-1/c"}}}
				s.OtherResults = 3
			}},
		{name: "the interval passed: written", since: interval,
			change: func(s *appsv1alpha1.EphemeralJobStatus) { s.Running, s.Succeeded = 1, 1 }},
		{name: "a result only the ledger holds: written at once", urgent: true, since: 0,
			change: func(s *appsv1alpha1.EphemeralJobStatus) { s.Running, s.Failed = 1, 1 }},
		{name: "the job finished: written at once", since: 0,
			change: func(s *appsv1alpha1.EphemeralJobStatus) { s.Phase = appsv1alpha1.EphemeralJobSucceeded }},
		{name: "a raised index limit: written at once", since: 0,
			change: func(s *appsv1alpha1.EphemeralJobStatus) { s.IndexLimit = 200 }},
		{name: "a refusal: written at once", since: 0,
			change: func(s *appsv1alpha1.EphemeralJobStatus) {
				s.Refusals = []appsv1alpha1.ReasonCount{{Reason: appsv1alpha1.ReasonTargetContainerNotFound, Count: 1}}
			}},
		{name: "a new generation: written at once", since: 0,
			change: func(s *appsv1alpha1.EphemeralJobStatus) { s.ObservedGeneration = 2 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			computed := base.DeepCopy()
			tc.change(computed)
			if got := statusWriteDelay(progressOnly(&base, computed, tc.urgent), tc.since, interval); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestProgressTurns: jobs with progress to write take the shared turns first come, first
// served; a job keeps the turn it took, and takes none while it holds one.
func TestProgressTurns(t *testing.T) {
	r := &EphemeralJobReconciler{progress: rate.NewLimiter(1, 1)}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, b, c := &jobState{}, &jobState{}, &jobState{}
	for _, step := range []struct {
		name string
		s    *jobState
		at   time.Duration
		want time.Duration
	}{
		{"a, the first", a, 0, 0},
		{"b, behind a", b, 0, time.Second},
		{"c, behind b", c, 0, 2 * time.Second},
		{"b again, before its turn", b, 500 * time.Millisecond, 500 * time.Millisecond},
		{"c at its turn", c, 2 * time.Second, 0},
	} {
		if got := r.progressTurn(step.s, t0.Add(step.at)); got != step.want {
			t.Errorf("%s: waits %v, want %v", step.name, got, step.want)
		}
	}
	if got := (&EphemeralJobReconciler{}).progressTurn(&jobState{}, t0); got != 0 {
		t.Errorf("without shared turns: waits %v, want 0", got)
	}
}

// TestAJobsProgressWaitsForItsTurn: with one progress write every 4 s to share, a job whose
// targets finish one a second writes its progress at most every 4 s, and its end at once.
func TestAJobsProgressWaitsForItsTurn(t *testing.T) {
	job := testutil.MakeEphemeralJob("ej", testNS, "web").Parallelism(5).Obj()
	w := newWorld(t, job, makePods(5)...)
	w.r.progress = rate.NewLimiter(0.25, 1)
	type write struct {
		at time.Time
		st appsv1alpha1.EphemeralJobStatus
	}
	var writes []write
	inner := w.client
	w.r.Client = interceptor.NewClient(inner, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch,
			opts ...client.SubResourcePatchOption) error {
			err := c.SubResource(sub).Patch(ctx, obj, patch, opts...)
			if err == nil {
				writes = append(writes, write{at: w.clock.Now(), st: *obj.(*appsv1alpha1.EphemeralJob).Status.DeepCopy()})
			}
			return err
		},
	})
	for p := range 5 {
		w.hold[fmt.Sprintf("p%d", p)] = true
	}
	w.pass()
	w.kubelet()
	w.pass() // every pod injected, none finished
	var lastFinish time.Time
	for p := range 5 {
		delete(w.hold, fmt.Sprintf("p%d", p))
		w.kubelet()
		lastFinish = w.clock.Now()
		w.pass()
	}
	got := w.getJob()
	if got.Status.Phase != appsv1alpha1.EphemeralJobSucceeded || got.Status.Succeeded != 5 {
		t.Fatalf("job status %s with %d succeeded, want Succeeded with 5", got.Status.Phase, got.Status.Succeeded)
	}
	// A progress write is one in the same phase and with the same index limit as the
	// write before it: only counts moved. The others (the start, the first container
	// running, the end) are written at once and take no turn.
	var lastProgress *write
	progress := 0
	for i := range writes {
		wr := &writes[i]
		if wr.st.Phase.IsFinished() {
			if !wr.at.Equal(lastFinish) {
				t.Errorf("the job's end was written at %v, want at once, at %v", wr.at, lastFinish)
			}
			continue
		}
		if i == 0 || wr.st.Phase != writes[i-1].st.Phase || wr.st.IndexLimit != writes[i-1].st.IndexLimit {
			continue
		}
		progress++
		if lastProgress != nil {
			if gap := wr.at.Sub(lastProgress.at); gap < 4*time.Second {
				t.Errorf("progress written %v after the progress before (%d then %d succeeded), want 4s apart at least",
					gap, lastProgress.st.Succeeded, wr.st.Succeeded)
			}
		}
		lastProgress = wr
	}
	if progress < 2 {
		t.Errorf("%d progress writes while the job ran (%d writes in all), want 2 at least", progress, len(writes))
	}
}

// TestStatusWritesDoNotConflictWithALaggingCache serves the job from a cache that never
// catches up with the status writes: each write must be based on the version the last
// one returned, so none conflicts.
func TestStatusWritesDoNotConflictWithALaggingCache(t *testing.T) {
	job := testutil.MakeEphemeralJob("ej", testNS, "web").Parallelism(2).Obj()
	w := newWorld(t, job, makePods(6)...)
	w.exitCodes["p5"] = 3
	stale := job.DeepCopy()
	if err := w.client.Get(context.Background(), w.job, stale); err != nil {
		t.Fatal(err)
	}
	conflicts, writes := 0, 0
	inner := w.client
	w.r.Client = interceptor.NewClient(inner, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if j, ok := obj.(*appsv1alpha1.EphemeralJob); ok {
				stale.DeepCopyInto(j)
				return nil
			}
			return c.Get(ctx, key, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch,
			opts ...client.SubResourcePatchOption) error {
			err := c.SubResource(sub).Patch(ctx, obj, patch, opts...)
			writes++
			if apierrors.IsConflict(err) {
				conflicts++
			}
			return err
		},
	})
	got := w.run(job)
	if got.Status.Succeeded != 5 || got.Status.Failed != 1 {
		t.Errorf("status %+v", got.Status)
	}
	if conflicts != 0 || writes == 0 {
		t.Errorf("%d of %d status writes conflicted", conflicts, writes)
	}
}

// TestARefusedStatusIsWrittenTrimmed answers every status write that holds result groups
// with 422, as the API server does for a field over its bound: the job must still finish
// with exact counts, without the groups, and say why.
func TestARefusedStatusIsWrittenTrimmed(t *testing.T) {
	job := testutil.MakeEphemeralJob("ej", testNS, "web").Parallelism(2).Obj()
	w := newWorld(t, job, makePods(5)...)
	w.exitCodes["p1"], w.exitCodes["p3"] = 1, 2
	refused := 0
	inner := w.client
	w.r.Client = interceptor.NewClient(inner, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch,
			opts ...client.SubResourcePatchOption) error {
			if j, ok := obj.(*appsv1alpha1.EphemeralJob); ok && len(j.Status.Results) > 0 {
				refused++
				return apierrors.NewInvalid(schema.GroupKind{Group: "apps.kruise.io", Kind: "EphemeralJob"}, j.Name,
					field.ErrorList{field.TooLong(field.NewPath("status", "results").Index(0).Child("reason"), "", 128)})
			}
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
	got := w.run(job)
	st := got.Status
	if st.Phase != appsv1alpha1.EphemeralJobFailed || st.Succeeded != 3 || st.Failed != 2 || st.Match != 5 {
		t.Fatalf("status %+v", st)
	}
	exitCodesAgree(t, w, st, 0)
	if refused == 0 || len(st.Results) != 0 || st.OtherResults != 5 {
		t.Errorf("%d writes refused; results %+v, %d others", refused, st.Results, st.OtherResults)
	}
	c := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionStatusTrimmed)
	if c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "status.results[0].reason") {
		t.Errorf("condition %+v", c)
	}
	if refused > 1 {
		t.Errorf("%d writes refused: the groups were offered again after the first refusal", refused)
	}
	events := drainEvents(w)
	if !slices.ContainsFunc(events, func(e string) bool { return strings.Contains(e, appsv1alpha1.ReasonStatusFieldRefused) }) {
		t.Errorf("no %s event in %v", appsv1alpha1.ReasonStatusFieldRefused, events)
	}
}

// drainEvents returns the events the reconciler recorded so far.
func drainEvents(w *world) []string {
	rec := w.r.Recorder.(*events.FakeRecorder)
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// TestAStatusWriteAppliedButAnsweredWithATimeoutKeepsTheLedger answers every other status
// write with a 504 after applying it. The next pass sees an index limit it did not know was
// written: it is its own, so the ledger must stay (its reservations and accepted targets
// with it), not be rebuilt from a cache that may lag.
func TestAStatusWriteAppliedButAnsweredWithATimeoutKeepsTheLedger(t *testing.T) {
	job := testutil.MakeEphemeralJob("ej", testNS, "web").Parallelism(3).Obj()
	w := newWorld(t, job, makePods(150)...)
	w.exitCodes["p7"] = 1
	inner := w.client
	var writes, faulted int
	w.r.Client = interceptor.NewClient(inner, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch,
			opts ...client.SubResourcePatchOption) error {
			if err := c.SubResource(sub).Patch(ctx, obj, patch, opts...); err != nil {
				return err
			}
			writes++
			if writes%2 == 1 {
				faulted++
				return apierrors.NewTimeoutError("request did not complete within requested timeout", 0)
			}
			return nil
		},
	})
	var first *ledger
	for range 2 {
		w.pass()
	}
	if s := w.r.existingState(w.job, "job-uid"); s != nil {
		first = s.ledger
	}
	got := w.run(job)
	if s := w.r.existingState(w.job, "job-uid"); first == nil || s.ledger != first {
		t.Errorf("the ledger was rebuilt after a status write of its own answered with a timeout")
	}
	if got.Status.Succeeded != 149 || got.Status.Failed != 1 || faulted == 0 {
		t.Errorf("status %+v after %d of %d writes answered with a timeout", got.Status, faulted, writes)
	}
	exitCodesAgree(t, w, got.Status, 0)
}

// TestANewLeaderWithALaggingCacheGivesNoIndexTwice: a new leader whose cache does not yet
// show the old leader's last status sends a status with the same index limit, refused as a
// conflict. Once the cache catches up, that limit is the old leader's, not its own: the
// ledger is rebuilt from it, and no index is given twice.
func TestANewLeaderWithALaggingCacheGivesNoIndexTwice(t *testing.T) {
	job := testutil.MakeEphemeralJob("ej", testNS, "web").Parallelism(3).Obj()
	w := newWorld(t, job, makePods(8)...)
	for p := range 8 {
		w.hold[fmt.Sprintf("p%d", p)] = true
	}
	stale := w.getJob()
	for range 3 {
		w.pass()
		w.checkInvariants(job)
	}
	lag := true
	w.restart()
	w.r.Client = interceptor.NewClient(w.client, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if j, ok := obj.(*appsv1alpha1.EphemeralJob); ok && lag {
				stale.DeepCopyInto(j)
				return nil
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	w.pass()
	lag = false
	for range 3 {
		w.pass()
		w.checkInvariants(job)
	}
	w.hold = map[string]bool{}
	got := w.run(job)
	exitCodesAgree(t, w, got.Status, 0)
}

// TestATrimmedStatusSaysSoEvenIfItsFirstWriteFails: the write without the refused part
// meets a conflict; the next one, already without it, still carries the condition and the
// event goes out with it.
func TestATrimmedStatusSaysSoEvenIfItsFirstWriteFails(t *testing.T) {
	job := testutil.MakeEphemeralJob("ej", testNS, "web").Parallelism(2).Obj()
	w := newWorld(t, job, makePods(5)...)
	w.exitCodes["p1"] = 1
	inner := w.client
	conflictNext := false
	w.r.Client = interceptor.NewClient(inner, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch,
			opts ...client.SubResourcePatchOption) error {
			j, ok := obj.(*appsv1alpha1.EphemeralJob)
			if ok && len(j.Status.Results) > 0 {
				conflictNext = true
				return apierrors.NewInvalid(schema.GroupKind{Group: "apps.kruise.io", Kind: "EphemeralJob"}, j.Name,
					field.ErrorList{field.TooLong(field.NewPath("status", "results").Index(0).Child("reason"), "", 128)})
			}
			if ok && conflictNext {
				conflictNext = false
				return apierrors.NewConflict(schema.GroupResource{Resource: "ephemeraljobs"}, j.Name, nil)
			}
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
	got := w.run(job)
	c := meta.FindStatusCondition(got.Status.Conditions, appsv1alpha1.ConditionStatusTrimmed)
	if c == nil || !strings.Contains(c.Message, "status.results[0].reason") {
		t.Errorf("condition %+v", c)
	}
	events := drainEvents(w)
	if !slices.ContainsFunc(events, func(e string) bool { return strings.Contains(e, appsv1alpha1.ReasonStatusFieldRefused) }) {
		t.Errorf("no %s event in %v", appsv1alpha1.ReasonStatusFieldRefused, events)
	}
	// A new manager keeps leaving the groups out, and says why.
	w.restart()
	w.pass()
	l := w.r.existingState(w.job, "job-uid").ledger
	if !l.noGroups || l.noListed || l.trimmed != c.Message {
		t.Errorf("after a restart: groups left out %v, details left out %v, message %q", l.noGroups, l.noListed, l.trimmed)
	}
}
