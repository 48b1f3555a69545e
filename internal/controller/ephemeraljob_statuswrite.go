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
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// Status writes are coalesced: while a job runs, a status that differs from the written
// one only in its counts waits until StatusWriteInterval passed since the job's last
// write. Everything else is written at once: phase and condition changes (start, finish,
// pause, deadline), refusals, a new observed generation, and the result of any target
// whose pod is gone (the status is then the only place that result lives). A held-back
// status is written when the interval ends (the reconcile asks to be requeued then), so
// no final count is lost.
//
// Results held back are kept in memory (unwrittenResults) and merged into the job's
// status at the next reconcile: a pod that finishes and vanishes before the next write
// keeps its result.

// statusWriteDelay returns how long the computed status may wait before being written, or
// zero when it must be written now. written is the status the API server has; sinceWrite
// is the time since the job's last status write by this controller.
func statusWriteDelay(written, computed *appsv1alpha1.EphemeralJobStatus, a assessment,
	sinceWrite, interval time.Duration) time.Duration {
	if interval <= 0 || sinceWrite >= interval || computed.Phase.IsFinished() {
		return 0
	}
	if !equality.Semantic.DeepEqual(withoutCounts(written), withoutCounts(computed)) {
		return 0
	}
	succeeded, errS := parseIndexSet(written.SucceededIndexes)
	failed, errF := parseIndexSet(written.FailedIndexes)
	if errS != nil || errF != nil {
		return 0
	}
	for _, t := range a.targets {
		if t.Remembered && !succeeded.has(t.Index) && !failed.has(t.Index) {
			return 0 // a result only the job's status can keep
		}
	}
	return interval - sinceWrite
}

// withoutCounts returns a copy of the status without what changes as targets progress:
// counts, index sets and the Progressing condition's message.
func withoutCounts(st *appsv1alpha1.EphemeralJobStatus) *appsv1alpha1.EphemeralJobStatus {
	out := st.DeepCopy()
	out.Match, out.Succeeded, out.Failed, out.Running, out.Waiting, out.Targeted = 0, 0, 0, 0, 0, 0
	out.SucceededIndexes, out.FailedIndexes = "", ""
	for i := range out.Conditions {
		if out.Conditions[i].Type == appsv1alpha1.ConditionProgressing {
			out.Conditions[i].Message = ""
		}
	}
	return out
}

// unwrittenResults is what a job's held-back status knows that its written status may not.
type unwrittenResults struct {
	uid                 types.UID
	lastWrite           time.Time
	succeeded, failed   string
	targeted            int32
	hasUnwrittenResults bool
}

// mergeResults returns the job's status with the held-back results added: the union of
// the finished index sets and the larger target count. Both only grow over a job's life,
// so the union is never wrong, whatever was written since.
func mergeResults(st *appsv1alpha1.EphemeralJobStatus, u unwrittenResults) (appsv1alpha1.EphemeralJobStatus, error) {
	out := *st.DeepCopy()
	if !u.hasUnwrittenResults {
		return out, nil
	}
	for _, f := range []struct {
		into *string
		add  string
	}{{&out.SucceededIndexes, u.succeeded}, {&out.FailedIndexes, u.failed}} {
		set, err := parseIndexSet(*f.into)
		if err != nil {
			return out, err
		}
		add, err := parseIndexSet(f.add)
		if err != nil {
			return out, err
		}
		for i := range add {
			set[i] = struct{}{}
		}
		*f.into = set.String()
	}
	out.Targeted = max(out.Targeted, u.targeted)
	return out, nil
}

// withUnwritten returns the job with the results of its held-back status merged in.
func (r *EphemeralJobReconciler) withUnwritten(job *appsv1alpha1.EphemeralJob) (*appsv1alpha1.EphemeralJob, error) {
	r.mu.Lock()
	u, ok := r.unwritten[types.NamespacedName{Namespace: job.Namespace, Name: job.Name}]
	r.mu.Unlock()
	if !ok || u.uid != job.UID || !u.hasUnwrittenResults {
		return job, nil
	}
	st, err := mergeResults(&job.Status, u)
	if err != nil {
		return job, err
	}
	out := job.DeepCopy()
	out.Status = st
	return out, nil
}

// sinceStatusWrite returns the time since the controller last wrote the job's status
// (forever when it never did).
func (r *EphemeralJobReconciler) sinceStatusWrite(job *appsv1alpha1.EphemeralJob, now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	u, ok := r.unwritten[types.NamespacedName{Namespace: job.Namespace, Name: job.Name}]
	if !ok || u.uid != job.UID {
		return time.Duration(1<<63 - 1)
	}
	return now.Sub(u.lastWrite)
}

// holdStatus remembers the results of a status that was not written.
func (r *EphemeralJobReconciler) holdStatus(job *appsv1alpha1.EphemeralJob, st *appsv1alpha1.EphemeralJobStatus) {
	key := types.NamespacedName{Namespace: job.Namespace, Name: job.Name}
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.unwritten[key]
	if u.uid != job.UID {
		u = unwrittenResults{uid: job.UID}
	}
	u.succeeded, u.failed, u.targeted, u.hasUnwrittenResults = st.SucceededIndexes, st.FailedIndexes, st.Targeted, true
	r.unwritten[key] = u
}

// statusWritten notes that the job's status was written (or needed no write) at now.
func (r *EphemeralJobReconciler) statusWritten(job *appsv1alpha1.EphemeralJob, now time.Time, wrote bool) {
	key := types.NamespacedName{Namespace: job.Namespace, Name: job.Name}
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.unwritten[key]
	if u.uid != job.UID {
		u = unwrittenResults{uid: job.UID}
	}
	if wrote {
		u.lastWrite = now
	}
	u.hasUnwrittenResults = false
	u.succeeded, u.failed, u.targeted = "", "", 0
	r.unwritten[key] = u
}
