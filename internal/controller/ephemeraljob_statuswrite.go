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
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// Status writes are coalesced: while a job runs, a status that differs from the written
// one only in its counts and result ranges waits until StatusWriteInterval passed since
// the job's last write, then for its turn among all jobs' progress writes, of which there
// are StatusWriteQPS a second (progressTurn). Everything else is written at once: phase
// and condition changes (start, finish, pause, deadline), refusals, a raised index limit,
// a new observed generation, and the result of a target whose pod is gone (the ledger is
// then the only place that result lives). A held-back status is written when the interval ends (the
// pass asks to be requeued then); the ledger keeps every result meanwhile.
//
// Each write is an optimistic-lock merge patch based on the job as the last write
// returned it, not on the cache, which may not have caught up with that write: in steady
// state, when nobody else writes the job, no write conflicts.

// statusWriteDelay returns how long a changed status may wait for the rest of the job's
// interval before being written, or zero when it must be written now: progress (see
// progressOnly) waits, anything else does not. sinceWrite is the time since the job's last
// status write by this controller.
func statusWriteDelay(progress bool, sinceWrite, interval time.Duration) time.Duration {
	if !progress || interval <= 0 || sinceWrite >= interval {
		return 0
	}
	return interval - sinceWrite
}

// progressOnly reports whether the computed status is progress that may wait: it differs
// from the written one only in what moves as targets progress, and nothing urgent is due.
func progressOnly(written, computed *appsv1alpha1.EphemeralJobStatus, urgent bool) bool {
	return !urgent && !computed.Phase.IsFinished() &&
		equality.Semantic.DeepEqual(withoutCounts(written), withoutCounts(computed))
}

// progressTurn returns how long the job's progress write still waits for its turn among
// all jobs' (StatusWriteQPS a second in all), taking the next free turn when it holds
// none; zero or less: write now. Only jobs with progress to write take turns, first come
// first served, so that a job waits at most as long as the others ahead of it take. A turn
// held by a job that writes for another reason first (its end, a refusal) passes unused:
// progress is then written below StatusWriteQPS, never above it.
func (r *EphemeralJobReconciler) progressTurn(s *jobState, now time.Time) time.Duration {
	if r.progress == nil {
		return 0
	}
	if s.progressAt.IsZero() {
		s.progressAt = now.Add(r.progress.ReserveN(now, 1).DelayFrom(now))
	}
	return s.progressAt.Sub(now)
}

// withoutCounts returns a copy of the status without what changes as targets progress:
// counts, result ranges, result groups and the Progressing condition's message.
func withoutCounts(st *appsv1alpha1.EphemeralJobStatus) *appsv1alpha1.EphemeralJobStatus {
	out := st.DeepCopy()
	out.Match, out.Succeeded, out.Failed, out.Running, out.Waiting, out.Targeted = 0, 0, 0, 0, 0, 0
	out.SucceededIndexes, out.FailedIndexes, out.ActiveIndexes, out.ClosedIndexes = "", "", "", ""
	out.Results, out.OtherResults = nil, 0
	for i := range out.Conditions {
		if out.Conditions[i].Type == appsv1alpha1.ConditionProgressing {
			out.Conditions[i].Message = ""
		}
	}
	return out
}

// reconcileStatus writes the pass's status when it changed and may not wait, then emits
// the events it records and asks for the next pass.
func (r *EphemeralJobReconciler) reconcileStatus(ctx context.Context, p *pass) (ctrl.Result, error) {
	s, l := p.state, p.ledger
	old := &p.job.Status
	changed := !equality.Semantic.DeepEqual(*old, p.status)
	var since time.Duration = 1<<63 - 1
	if !s.lastWrite.IsZero() {
		since = p.now.Sub(s.lastWrite)
	}
	if changed {
		progress := progressOnly(old, &p.status, l.urgent)
		wait := statusWriteDelay(progress, since, r.StatusWriteInterval)
		if wait == 0 && progress && r.StatusWriteInterval > 0 {
			wait = r.progressTurn(s, p.now)
		}
		if wait > 0 {
			p.requeue(wait)
			changed = false
		}
	}
	if changed {
		work := p.job.DeepCopy()
		work.Status = p.status
		_, err := r.patchStatus(ctx, p.job, work)
		if apierrors.IsInvalid(err) {
			err = r.writeTrimmed(ctx, p, work, err)
		}
		l.sent(&work.Status, err)
		if err != nil {
			s.written = nil
			if apierrors.IsConflict(err) {
				statusConflicts.Inc()
				// Another writer changed the job: look again with its version.
				p.requeue(retryDelay)
				return p.result, errors.Join(p.errs...)
			}
			return ctrl.Result{}, errors.Join(append(p.errs, err)...)
		}
		s.written, s.lastWrite, s.progressAt = work, p.now, time.Time{}
		l.urgent = false
		l.writtenLimit = work.Status.IndexLimit
		clear(l.finishedUnwritten)
		if work.Status.Phase.IsFinished() {
			l.forgetCandidates() // a finished job takes no new targets
		}
		oldStatus := *old
		p.job = work
		r.emitEvents(p, &oldStatus)
		if l.next < l.writtenLimit && l.room(p.job) > 0 && l.candidates.len() > 0 && p.acceptNew {
			p.requeue(time.Millisecond) // the new index limit lets more injections go
		}
	}
	observePhase(p.job, p.status.Phase)
	s.mu.Lock()
	s.freeSlots = p.acceptNew && !p.job.Spec.Paused && l.room(p.job) > 0
	s.finished = p.job.Status.Phase.IsFinished()
	s.mu.Unlock()
	if _, after := expiry(p.job, &p.status, p.now); after > 0 {
		p.requeue(after)
	}
	return p.result, errors.Join(p.errs...)
}

// writeTrimmed writes the status again without the parts the API server refused as
// invalid. A refused status write is a bug — everything copied from a pod is bounded
// before it reaches the status — but retrying it forever would leave the job running for
// good: instead the status is written with its counts, index sets and phase, without the
// refused part, and says so in the StatusTrimmed condition and an event.
func (r *EphemeralJobReconciler) writeTrimmed(ctx context.Context, p *pass, work *appsv1alpha1.EphemeralJob, refused error) error {
	fields, causes := invalidFields(refused)
	left := p.ledger.trim(fields, shorten(causes, 512), p.job.Name)
	if left == "" {
		return refused // nothing left to leave out: the refusal is about the counts themselves
	}
	logf.FromContext(ctx).Error(refused, "status write refused; writing it without "+left)
	// The ledger now carries the StatusTrimmed condition into every status it builds, and
	// the event goes out with the first write that holds it (emitEvents).
	p.status = computeStatus(p.job, p.ledger, p.acceptNew, p.now)
	work.Status = p.status
	_, err := r.patchStatus(ctx, p.job, work)
	return err
}

// notSentError is a write that was not sent: its outcome is known.
type notSentError struct{ cause error }

func (e *notSentError) Error() string { return "status not written: " + e.cause.Error() }
func (e *notSentError) Unwrap() error { return e.cause }

// outcomeUnknown reports whether a write answered with err may have been applied.
func outcomeUnknown(err error) bool {
	var notSent *notSentError
	return err != nil && !errors.As(err, &notSent) && !apierrors.IsConflict(err) && !apierrors.IsInvalid(err) &&
		!apierrors.IsForbidden(err) && !apierrors.IsBadRequest(err) && !apierrors.IsNotFound(err)
}

// sent records the outcome of a status write of st: when it is unknown, st is kept so that
// a later pass recognises it in the cache; any answered write ends the wait for those before.
func (l *ledger) sent(st *appsv1alpha1.EphemeralJobStatus, err error) {
	switch {
	case err == nil:
		l.unanswered = nil
	case outcomeUnknown(err):
		if len(l.unanswered) == maxUnanswered {
			l.unanswered = l.unanswered[1:]
		}
		l.unanswered = append(l.unanswered, st.DeepCopy())
	}
}

// maxUnanswered bounds the statuses kept whose writes' outcome is unknown.
const maxUnanswered = 4

// ownsStatus reports whether the status the cache shows is one this ledger sent without
// learning whether it was applied: then it did not come from another writer, and the ledger
// stays. Compared whole, so that another writer's status with the same index limit is not
// taken for this ledger's.
func (l *ledger) ownsStatus(st *appsv1alpha1.EphemeralJobStatus) bool {
	for _, u := range l.unanswered {
		if equality.Semantic.DeepEqual(u, st) {
			return true
		}
	}
	return false
}

// invalidFields returns the field paths an Invalid answer names, and its causes in words.
func invalidFields(err error) ([]string, string) {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return nil, err.Error()
	}
	var fields, causes []string
	for _, c := range status.Status().Details.Causes {
		fields = append(fields, c.Field)
		causes = append(causes, c.Field+": "+c.Message)
	}
	if len(causes) == 0 {
		return nil, err.Error()
	}
	return fields, strings.Join(causes, "; ")
}

// patchStatus writes work's status as a merge patch from old, guarded by old's
// resourceVersion. On success work holds the job as the API server returned it.
func (r *EphemeralJobReconciler) patchStatus(ctx context.Context, old, work *appsv1alpha1.EphemeralJob) (bool, error) {
	if equality.Semantic.DeepEqual(old.Status, work.Status) {
		return false, nil
	}
	patch := client.MergeFromWithOptions(old, client.MergeFromWithOptimisticLock{})
	if err := ctx.Err(); err != nil {
		return false, &notSentError{err} // past the leader fence
	}
	if err := r.Status().Patch(ctx, work, patch, client.FieldOwner(appsv1alpha1.FieldManager)); err != nil {
		return false, fmt.Errorf("writing status: %w", err)
	}
	return true, nil
}
