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
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// maxListedNames bounds how many pods a condition message names.
const maxListedNames = 3

// computeStatus derives the job's new status from its ledger. It never leaves a finished
// phase. The index limit it writes is raised ahead of the next index, so that the next
// injections may use it once this status is written.
func computeStatus(job *appsv1alpha1.EphemeralJob, l *ledger, acceptNew bool, now time.Time) appsv1alpha1.EphemeralJobStatus {
	st := *job.Status.DeepCopy()
	st.ObservedGeneration = job.Generation
	st.StartTime = startedAt(&st, now)
	l.writeResults(&st)
	spent := l.budgetSpent(job)
	var spared int32
	if spent && acceptNew {
		spared, acceptNew = l.spared(job), false
	}
	if acceptNew && !job.Spec.Paused && l.next+job.Spec.GetParallelism() > l.writtenLimit && l.candidates.len() > 0 {
		st.IndexLimit = l.next + max(indexBatch, job.Spec.GetParallelism())
	}

	s := l.summarize(job, acceptNew)
	st.Targeted = s.targeted
	st.Succeeded, st.Failed, st.Running, st.Waiting, st.Match = s.succeeded, s.failed, s.running, s.waiting, s.match

	phase, reason, message := decidePhase(job, &st, s.notRunning, spent, spared, now)
	st.Phase = phase
	if phase.IsFinished() && st.CompletionTime == nil {
		t := metav1.NewTime(now)
		st.CompletionTime = &t
	}
	setConditions(&st, job.Generation, phase, reason, message)
	setForgedCondition(&st, job.Generation, l.forgeries())
	setForeignWriterCondition(&st, job)
	if l.trimmed != "" {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: appsv1alpha1.ConditionStatusTrimmed,
			Status: metav1.ConditionTrue, Reason: appsv1alpha1.ReasonStatusFieldRefused, Message: l.trimmed,
			ObservedGeneration: job.Generation})
	}
	return st
}

// decidePhase returns the phase and a reason and message for it; notRunning is how many
// of the waiting targets are selected pods not running yet; spent says the failure budget
// is spent, sparing that many pods.
func decidePhase(job *appsv1alpha1.EphemeralJob, st *appsv1alpha1.EphemeralJobStatus, notRunning int32,
	spent bool, spared int32, now time.Time) (appsv1alpha1.EphemeralJobPhase, string, string) {
	old := job.Status
	finishedTargets := st.Running == 0 && st.Waiting == 0
	replicasZero := false
	if limit, ok := job.Spec.ReplicasLimit(); ok && limit == 0 {
		replicasZero = true
	}
	switch {
	case old.Phase.IsFinished() && old.CompletionTime != nil:
		typ := appsv1alpha1.ConditionComplete
		if old.Phase == appsv1alpha1.EphemeralJobFailed {
			typ = appsv1alpha1.ConditionFailed
		}
		if c := meta.FindStatusCondition(old.Conditions, typ); c != nil {
			return old.Phase, c.Reason, c.Message
		}
		return old.Phase, string(old.Phase), ""
	case deadlinePassed(job, st.StartTime, now) && st.Match == 0:
		return appsv1alpha1.EphemeralJobFailed, appsv1alpha1.ReasonNoTargets,
			fmt.Sprintf("activeDeadlineSeconds (%ds) passed before any pod was targeted", *job.Spec.ActiveDeadlineSeconds)
	case deadlinePassed(job, st.StartTime, now):
		return appsv1alpha1.EphemeralJobFailed, appsv1alpha1.ReasonDeadlineExceeded,
			fmt.Sprintf("the job ran longer than activeDeadlineSeconds (%ds) with %d of %d pods unfinished",
				*job.Spec.ActiveDeadlineSeconds, st.Running+st.Waiting, st.Match)
	case spent && finishedTargets:
		return appsv1alpha1.EphemeralJobFailed, appsv1alpha1.ReasonFailureBudgetExceeded,
			fmt.Sprintf("%d targets failed, reaching failureBudget (%d): %s spared; %s",
				st.Failed, *job.Spec.FailureBudget, pods(spared), failureMessage(job.Name, st))
	case spent:
		return appsv1alpha1.EphemeralJobRunning, appsv1alpha1.ReasonFailureBudgetExceeded,
			fmt.Sprintf("%d targets failed, reaching failureBudget (%d): no new target starts; %d running or starting finish first",
				st.Failed, *job.Spec.FailureBudget, st.Running+st.Waiting)
	case finishedTargets && st.Failed > 0:
		return appsv1alpha1.EphemeralJobFailed, appsv1alpha1.ReasonTargetsFailed, failureMessage(job.Name, st)
	case finishedTargets && (st.Match > 0 || replicasZero):
		return appsv1alpha1.EphemeralJobSucceeded, appsv1alpha1.ReasonAllSucceeded,
			fmt.Sprintf("all %d pods succeeded", st.Match)
	case job.Spec.Paused:
		return appsv1alpha1.EphemeralJobPaused, appsv1alpha1.ReasonPaused,
			fmt.Sprintf("paused with %d of %d pods finished", st.Succeeded+st.Failed, st.Match)
	case st.Match == 0:
		return appsv1alpha1.EphemeralJobWaiting, appsv1alpha1.ReasonNoMatchingPods,
			"no pod matches the selector"
	case st.Succeeded+st.Failed+st.Running > 0:
		return appsv1alpha1.EphemeralJobRunning, appsv1alpha1.ReasonInjecting,
			fmt.Sprintf("%d of %d pods finished, %d running, %d waiting", st.Succeeded+st.Failed, st.Match, st.Running, st.Waiting)
	default:
		msg := fmt.Sprintf("%d pods waiting for their containers to start", st.Waiting)
		if notRunning > 0 {
			msg = fmt.Sprintf("%d pods waiting, %d of them not running yet", st.Waiting, notRunning)
		}
		return appsv1alpha1.EphemeralJobWaiting, appsv1alpha1.ReasonInjecting, msg
	}
}

// pods says how many pods: "1 pod", "2 pods".
func pods(n int32) string {
	if n == 1 {
		return "1 pod"
	}
	return fmt.Sprintf("%d pods", n)
}

// failureMessage says how many targets failed and how the largest group of them ended,
// in one short sentence: status.results and `kubectl ejob results` hold the rest.
func failureMessage(job string, st *appsv1alpha1.EphemeralJobStatus) string {
	msg := fmt.Sprintf("%d of %d pods failed", st.Failed, st.Match)
	var top *appsv1alpha1.ResultGroup
	for i := range st.Results {
		if g := &st.Results[i]; !g.Succeeded && (top == nil || g.Count > top.Count) {
			top = g
		}
	}
	if top != nil {
		how := top.Reason
		if top.ExitCode != nil {
			how = fmt.Sprintf("exit code %d", *top.ExitCode)
		}
		if m := shorten(top.Message, 80); m != "" {
			how += " (" + m + ")"
		}
		msg += fmt.Sprintf(", %d with %s", top.Count, how)
		if len(top.Pods) > 0 {
			msg += ": " + strings.Join(top.Pods, ", ")
			if int(top.Count) > len(top.Pods) {
				msg += ", …"
			}
		}
	}
	return msg + "; `kubectl ejob results " + job + "` lists each pod"
}

// shorten returns the first line of s, cut to n bytes at a character boundary.
func shorten(s string, n int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i]) + " …"
	}
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// setConditions records the phase in the conditions, keeping transition times stable.
func setConditions(st *appsv1alpha1.EphemeralJobStatus, generation int64, phase appsv1alpha1.EphemeralJobPhase,
	reason, message string) {
	set := func(typ string, status metav1.ConditionStatus, reason, message string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: typ, Status: status, Reason: reason, Message: message, ObservedGeneration: generation,
		})
	}
	if phase.IsFinished() {
		// As for a batch/v1 Job, Complete is True only when the job succeeded and Failed only
		// when it failed; the other is absent, so that `kubectl wait --for=condition=Complete`
		// never returns for a failed job. (Jobs written by earlier versions had Complete=True
		// on failure too: it goes with the first status written after an upgrade.)
		set(appsv1alpha1.ConditionProgressing, metav1.ConditionFalse, reason, "")
		if phase == appsv1alpha1.EphemeralJobFailed {
			meta.RemoveStatusCondition(&st.Conditions, appsv1alpha1.ConditionComplete)
			set(appsv1alpha1.ConditionFailed, metav1.ConditionTrue, reason, message)
		} else {
			meta.RemoveStatusCondition(&st.Conditions, appsv1alpha1.ConditionFailed)
			set(appsv1alpha1.ConditionComplete, metav1.ConditionTrue, reason, message)
		}
	} else if phase == appsv1alpha1.EphemeralJobError {
		// A job that cannot run has failed, for whoever waits on it (kubectl wait --for=condition=Failed).
		set(appsv1alpha1.ConditionProgressing, metav1.ConditionFalse, reason, "")
		set(appsv1alpha1.ConditionFailed, metav1.ConditionTrue, reason, message)
	} else {
		set(appsv1alpha1.ConditionProgressing, metav1.ConditionTrue, reason, message)
	}
	var total int32
	var byReason []string
	for _, rc := range st.Refusals {
		total += rc.Count
		byReason = append(byReason, fmt.Sprintf("%s %d", rc.Reason, rc.Count))
	}
	if total == 0 {
		total = int32(len(st.Refused))
	}
	if total > 0 {
		msg := fmt.Sprintf("%d pods refused injection (%s)", total, strings.Join(byReason, ", "))
		var reason string
		if len(st.Refused) > 0 {
			first := st.Refused[0]
			reason = first.Reason
			msg += fmt.Sprintf("; first: pod %s: %s", first.Name, first.Message)
		} else {
			reason = st.Refusals[0].Reason // the details were left out (StatusTrimmed)
		}
		set(appsv1alpha1.ConditionInjectionFailed, metav1.ConditionTrue, reason, msg)
	}
}

// setForgedCondition reports pods holding containers the job did not inject.
func setForgedCondition(st *appsv1alpha1.EphemeralJobStatus, generation int64, forged []forgery) {
	if len(forged) == 0 {
		if c := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionForgedContainers); c != nil {
			meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: appsv1alpha1.ConditionForgedContainers,
				Status: metav1.ConditionFalse, Reason: "NoForgedContainers", ObservedGeneration: generation})
		}
		return
	}
	var named []string
	for _, f := range forged[:min(len(forged), maxListedNames)] {
		named = append(named, fmt.Sprintf("%s (%s)", f.pod, f.detail))
	}
	msg := fmt.Sprintf("%d pods hold containers with this job's UID that it did not inject; they are not counted: %s",
		len(forged), strings.Join(named, "; "))
	if len(forged) > len(named) {
		msg += "; ..."
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: appsv1alpha1.ConditionForgedContainers,
		Status: metav1.ConditionTrue, Reason: forged[0].reason, Message: msg, ObservedGeneration: generation})
}

// foreignStatusWriter returns the field manager other than the operator that wrote the
// job's status last, no earlier than the operator last did, and when; "" when there is none. Nothing
// is said before the operator wrote the status once under its name, so that a manager name
// of an earlier version, or a writer that came first, is not taken for one.
func foreignStatusWriter(job *appsv1alpha1.EphemeralJob) (manager string, at time.Time) {
	var ours time.Time
	for _, e := range job.ManagedFields {
		if e.Subresource == "status" && e.Manager == appsv1alpha1.FieldManager && e.Time != nil && e.Time.After(ours) {
			ours = e.Time.Time
		}
	}
	if ours.IsZero() {
		return "", time.Time{}
	}
	for _, e := range job.ManagedFields {
		// Managed fields keep whole seconds: a write in the same second as the operator's counts.
		if e.Subresource == "status" && e.Manager != appsv1alpha1.FieldManager && e.Time != nil &&
			!e.Time.Time.Before(ours) && e.Time.After(at) {
			manager, at = e.Manager, e.Time.Time
		}
	}
	return manager, at
}

// foreignWriterMessage is the ForeignStatusWriter condition's message for a writer.
func foreignWriterMessage(manager string, at time.Time) string {
	return fmt.Sprintf("field manager %q wrote this job's status at %s, after the operator: another controller "+
		"acts on ephemeraljobs.apps.kruise.io (OpenKruise installs the same CRD) and the two overwrite each "+
		"other's status; run one of them", shorten(manager, 128), at.UTC().Format(time.RFC3339))
}

// foreignWriteUnreported reports whether a write of the job's status by another field
// manager is not in its ForeignStatusWriter condition yet: the job is looked at for it,
// although only its status changed.
func foreignWriteUnreported(job *appsv1alpha1.EphemeralJob) bool {
	manager, at := foreignStatusWriter(job)
	if manager == "" {
		return false
	}
	c := meta.FindStatusCondition(job.Status.Conditions, appsv1alpha1.ConditionForeignStatusWriter)
	return c == nil || c.Message != foreignWriterMessage(manager, at)
}

// setForeignWriterCondition reports a field manager other than the operator that wrote the
// job's status after the operator last did: another controller acting on the same kind,
// whose writes and the operator's overwrite each other. The condition stays once set, with
// the latest such writer: it is a fact about the job, and the two controllers take turns.
func setForeignWriterCondition(st *appsv1alpha1.EphemeralJobStatus, job *appsv1alpha1.EphemeralJob) {
	manager, at := foreignStatusWriter(job)
	if manager == "" {
		return
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: appsv1alpha1.ConditionForeignStatusWriter,
		Status: metav1.ConditionTrue, Reason: appsv1alpha1.ReasonAnotherStatusWriter, ObservedGeneration: job.Generation,
		Message: foreignWriterMessage(manager, at)})
}
