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

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
)

// maxListedFailures bounds how many failed pods a condition message names.
const maxListedFailures = 5

// computeStatus derives the job's new status from its assessment. It never lowers a count
// of finished targets and never leaves a finished phase.
func computeStatus(job *appsv1alpha1.EphemeralJob, a assessment, now time.Time) appsv1alpha1.EphemeralJobStatus {
	st := *job.Status.DeepCopy()
	st.ObservedGeneration = job.Generation
	if st.StartTime == nil {
		t := metav1.NewTime(now)
		st.StartTime = &t
	}

	succeeded, failed := indexSet{}, indexSet{}
	for _, t := range a.targets {
		switch t.Outcome {
		case podstate.Succeeded:
			succeeded[t.Index] = struct{}{}
		case podstate.Failed:
			failed[t.Index] = struct{}{}
		}
	}
	st.Targeted = int32(len(a.targets))
	st.SucceededIndexes, st.FailedIndexes = succeeded.String(), failed.String()
	st.Succeeded, st.Failed, st.Running, st.Waiting = a.counts()
	st.Match = st.Targeted + int32(len(a.next))

	phase, reason, message := decidePhase(job, &st, a, now)
	st.Phase = phase
	if phase.IsFinished() && st.CompletionTime == nil {
		t := metav1.NewTime(now)
		st.CompletionTime = &t
	}
	setConditions(&st, job.Generation, phase, reason, message)
	return st
}

// decidePhase returns the phase and a reason and message for it.
func decidePhase(job *appsv1alpha1.EphemeralJob, st *appsv1alpha1.EphemeralJobStatus, a assessment,
	now time.Time) (appsv1alpha1.EphemeralJobPhase, string, string) {
	old := job.Status
	finishedTargets := st.Running == 0 && st.Waiting == 0 && st.Match > 0
	switch {
	case old.Phase.IsFinished() && old.CompletionTime != nil:
		if c := meta.FindStatusCondition(old.Conditions, appsv1alpha1.ConditionComplete); c != nil {
			return old.Phase, c.Reason, c.Message
		}
		return old.Phase, string(old.Phase), ""
	case deadlinePassed(job, st.StartTime, now):
		return appsv1alpha1.EphemeralJobFailed, appsv1alpha1.ReasonDeadlineExceeded,
			fmt.Sprintf("the job ran longer than activeDeadlineSeconds (%ds) with %d of %d pods unfinished",
				*job.Spec.ActiveDeadlineSeconds, st.Running+st.Waiting, st.Match)
	case finishedTargets && st.Failed > 0:
		return appsv1alpha1.EphemeralJobFailed, appsv1alpha1.ReasonSomeFailed, failureMessage(st, a)
	case finishedTargets:
		return appsv1alpha1.EphemeralJobSucceeded, appsv1alpha1.ReasonAllSucceeded,
			fmt.Sprintf("all %d pods succeeded", st.Match)
	case job.Spec.Paused:
		return appsv1alpha1.EphemeralJobPaused, appsv1alpha1.ReasonPaused,
			fmt.Sprintf("paused with %d of %d pods finished", st.Succeeded+st.Failed, st.Match)
	case st.Match == 0:
		return appsv1alpha1.EphemeralJobWaiting, appsv1alpha1.ReasonNoMatchingPods,
			"no running pod matches the selector"
	case st.Succeeded+st.Failed+st.Running > 0:
		return appsv1alpha1.EphemeralJobRunning, appsv1alpha1.ReasonInjecting,
			fmt.Sprintf("%d of %d pods finished, %d running, %d waiting", st.Succeeded+st.Failed, st.Match, st.Running, st.Waiting)
	default:
		return appsv1alpha1.EphemeralJobWaiting, appsv1alpha1.ReasonInjecting,
			fmt.Sprintf("%d pods waiting for their containers to start", st.Waiting)
	}
}

// failureMessage says how many targets failed and names the first few.
func failureMessage(st *appsv1alpha1.EphemeralJobStatus, a assessment) string {
	var named []string
	for _, t := range a.targets {
		if t.Outcome != podstate.Failed || len(named) == maxListedFailures {
			continue
		}
		name := t.Name
		if name == "" {
			name = fmt.Sprintf("target %d", t.Index)
		}
		detail := t.Message
		if detail == "" {
			detail = t.Reason
		}
		named = append(named, fmt.Sprintf("%s (%s)", name, detail))
	}
	msg := fmt.Sprintf("%d of %d pods failed: %s", st.Failed, st.Match, strings.Join(named, "; "))
	if int(st.Failed) > len(named) {
		msg += "; ..."
	}
	return msg
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
		set(appsv1alpha1.ConditionProgressing, metav1.ConditionFalse, reason, message)
		set(appsv1alpha1.ConditionComplete, metav1.ConditionTrue, reason, message)
		if phase == appsv1alpha1.EphemeralJobFailed {
			set(appsv1alpha1.ConditionFailed, metav1.ConditionTrue, reason, message)
		}
	} else {
		set(appsv1alpha1.ConditionProgressing, metav1.ConditionTrue, reason, message)
	}
	if len(st.Refused) > 0 {
		var named []string
		for _, r := range st.Refused[:min(len(st.Refused), maxListedFailures)] {
			named = append(named, fmt.Sprintf("%s: %s", r.Name, r.Message))
		}
		msg := fmt.Sprintf("%d pods refused injection: %s", len(st.Refused), strings.Join(named, "; "))
		if len(st.Refused) > maxListedFailures {
			msg += "; ..."
		}
		set(appsv1alpha1.ConditionInjectionFailed, metav1.ConditionTrue, st.Refused[0].Reason, msg)
	}
}
