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
	"container/heap"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
)

// The ledger is a job's targets, kept in memory: the controller's one source of truth.
//
// It is built once from the job's status and the pods in the cache (when the manager
// starts, or the job is first seen) and then moved forward by the pod events that reach
// the job, so a pass costs what changed, never the job's size:
//
//   - Finished targets are counted, and their indexes are one interval set (closed) with
//     the gaps: they are never looked at again. The status' per-outcome lists are bounded.
//   - Active targets, injected and not finished, are a map by index: at most parallelism of them.
//   - Candidates, selected pods that may be targeted next, are a heap ordered oldest first.
//
// Every index is given once. New indexes come from next, which starts at the limit the
// status carried (IndexLimit) and never goes back; the status is written with a higher
// limit before an index at or above the written one is used. So an injection whose
// outcome was never learnt (a timeout after the API server applied it, a crash) can never
// share its index with a later one, and a container that claims an index at or above the
// limit was not injected by the job.

// injectState is what the controller knows of an active target's injection.
type injectState uint8

const (
	// injectUnknown: the write was sent and its outcome is not known (a timeout, a 5xx, a
	// conflict, a reset connection). The index stays reserved and the pod taken until the
	// cache shows the containers or a fresh read proves them absent.
	injectUnknown injectState = iota
	// injectAccepted: the API server accepted the write; the cache may not show it yet.
	injectAccepted
	// injectObserved: the cache shows the containers.
	injectObserved
)

// activeTarget is a target injected (or being injected) and not finished.
type activeTarget struct {
	index int32
	pod   types.NamespacedName
	uid   types.UID
	state injectState
	// sentVersion is the pod's resourceVersion the injection was sent with: while the pod
	// is at that version, the write may still land.
	sentVersion string
	// sentAt is when the injection was last sent.
	sentAt time.Time
	// injectedAt starts the start deadline.
	injectedAt time.Time
	// verifyAt is when an unknown outcome is checked with a fresh read.
	verifyAt time.Time
	// inFlight is set while the write is on its way: its answer has not come back yet.
	inFlight bool
	outcome  podstate.Outcome
	// unstarted, reason and message say which container has not started and why.
	unstarted, reason, message string
	// terminatingAt is when the pod was to be gone (its deletionTimestamp), if it is being deleted.
	terminatingAt time.Time
}

// candidate is a selected pod that may become a target.
type candidate struct {
	uid     types.UID
	key     types.NamespacedName
	created time.Time
	// heapIndex is the candidate's place in the heap, -1 once removed.
	heapIndex int
}

// ageQueue is a set of pods kept oldest first (then by name): a map by UID, and a heap
// whose oldest pod is at hand.
type ageQueue struct {
	byUID map[types.UID]*candidate
	heap  candidateHeap
}

func newAgeQueue() ageQueue { return ageQueue{byUID: map[types.UID]*candidate{}} }

func (q *ageQueue) len() int { return len(q.byUID) }

func (q *ageQueue) has(uid types.UID) bool { _, ok := q.byUID[uid]; return ok }

// add puts the pod in the queue, or renames it there.
func (q *ageQueue) add(pod *corev1.Pod) {
	key := types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}
	if c, ok := q.byUID[pod.UID]; ok {
		c.key = key
		return
	}
	c := &candidate{uid: pod.UID, key: key, created: pod.CreationTimestamp.Time}
	q.byUID[pod.UID] = c
	heap.Push(&q.heap, c)
}

func (q *ageQueue) drop(uid types.UID) {
	if c, ok := q.byUID[uid]; ok {
		delete(q.byUID, uid)
		heap.Remove(&q.heap, c.heapIndex)
	}
}

// peek returns the oldest pod, or nil.
func (q *ageQueue) peek() *candidate {
	if len(q.heap) == 0 {
		return nil
	}
	return q.heap[0]
}

// pop takes the oldest pod out, or returns nil.
func (q *ageQueue) pop() *candidate {
	if len(q.heap) == 0 {
		return nil
	}
	c := heap.Pop(&q.heap).(*candidate)
	delete(q.byUID, c.uid)
	return c
}

func (q *ageQueue) clear() { clear(q.byUID); q.heap = nil }

// candidateHeap orders candidates oldest first, then by name.
type candidateHeap []*candidate

func (h candidateHeap) Len() int { return len(h) }
func (h candidateHeap) Less(i, j int) bool {
	if !h[i].created.Equal(h[j].created) {
		return h[i].created.Before(h[j].created)
	}
	return h[i].key.Name < h[j].key.Name
}
func (h candidateHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex, h[j].heapIndex = i, j
}
func (h *candidateHeap) Push(x any) { c := x.(*candidate); c.heapIndex = len(*h); *h = append(*h, c) }
func (h *candidateHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	c.heapIndex = -1
	return c
}

// forgery is a pod holding containers with the job's UID that the job did not inject.
type forgery struct {
	pod    string
	reason string
	detail string
	// reported is set once an event said so; it goes with the forgery.
	reported bool
}

// targetResult is how a target ended, for status.results.
type targetResult struct {
	// pod and container name the target; either may be unknown (empty).
	pod, container string
	exitCode       *int32
	reason         string
	message        string
}

// maxMessageLength bounds a message read from a pod or the API server before it goes into
// status (the CRD allows 512 for status.results[].message).
const maxMessageLength = 256

// maxReasonLength bounds a reason read from a pod (the kubelet's are short CamelCase words):
// the CRD's maxLength of status.results[].reason. A longer one would make every status
// write of the job fail.
const maxReasonLength = 128

// ledger is one job's targets. It is pure: it never calls a client. The reconciler owns
// it and moves it forward; only its inbox is shared with the pod event handler.
type ledger struct {
	uid      types.UID
	jobName  string
	selector labels.Selector
	template []corev1.EphemeralContainer

	next         int32
	writtenLimit int32
	// unanswered are the last statuses this ledger sent whose writes were answered with an
	// error that leaves their outcome unknown (a timeout, a 5xx, a reset connection): one
	// applied shows later in the cache, and is this ledger's own (see ownsStatus).
	unanswered []*appsv1alpha1.EphemeralJobStatus

	// closed holds the indexes never counted again: the finished targets' and the gaps.
	// Outcomes do not split it, so it stays a few ranges whatever they are.
	closed              intervals
	nSucceeded, nFailed int32
	// succeeded, failed and refusedIdx are the status' per-outcome lists, kept until they
	// would pass MaxIndexListBytes together (listsTruncated); they then stay as written.
	succeeded, failed, refusedIdx intervals
	listsTruncated                bool
	// gaps are indexes this process gave to injections that can never be applied.
	gaps     intervals
	refusals map[string]int32
	listed   []appsv1alpha1.RefusedPod
	// refusedIDs identifies the refused pods that listed does not (see podstate.RefusedID),
	// by reason, for status.refusals; refusedByID holds the same IDs, to look pods up after a restart.
	refusedIDs  map[string][]byte
	refusedByID map[string]struct{}
	nIDs        int
	// refusalsWritten is status.refusals as last built; nil when a refusal changed since.
	refusalsWritten []appsv1alpha1.ReasonCount
	// unidentified counts refusals the status recorded, by reason, whose pods it neither
	// details nor identifies (past MaxRefusedIDs): after a restart, pods that fail the same
	// check again are taken to be those.
	unidentified map[string]int32
	// results folds the finished targets' results (status.results), otherResults counts
	// those that fit no group.
	results      []appsv1alpha1.ResultGroup
	otherResults int32

	active map[int32]*activeTarget
	byPod  map[types.UID]int32
	// refusedPods are live pods that refused injection, never tried again.
	refusedPods map[types.UID]struct{}
	candidates  ageQueue
	// pending are selected pods not running yet: they count as waiting and become
	// candidates once they run. They are kept oldest first, since the oldest is the first
	// whose wait (see expirePending) ends. One whose wait ended and comes back with an
	// event is dropped again by the same pass.
	pending ageQueue
	forged  map[types.UID]forgery

	// resultsChanged is set when a finished result changed since the status was last built.
	resultsChanged bool
	// written are the result ranges as last built.
	written writtenRanges
	// finishedUnwritten are the pods of targets finished since the last status write: if
	// such a pod goes away, only the ledger holds its result.
	finishedUnwritten map[types.UID]struct{}
	// urgent is set by a change only the status can keep (a vanished target, a refusal)
	// that must be written without waiting for the write interval.
	urgent bool
	// takesNone is set once the job takes no new targets: it keeps no candidates.
	takesNone bool
	// noGroups and noListed are set once the API server refused a status write for its
	// result groups or its refused pods' details: they are then left out (see trim), and
	// trimmed says so in the StatusTrimmed condition.
	noGroups, noListed bool
	trimmed            string
}

// newLedger returns an empty ledger for the job.
func newLedger(job *appsv1alpha1.EphemeralJob, selector labels.Selector) *ledger {
	return &ledger{
		uid:          job.UID,
		jobName:      job.Name,
		selector:     selector,
		template:     job.Spec.Template.EphemeralContainers,
		refusals:     map[string]int32{},
		unidentified: map[string]int32{},
		refusedIDs:   map[string][]byte{},
		refusedByID:  map[string]struct{}{},
		active:       map[int32]*activeTarget{},
		byPod:        map[types.UID]int32{},
		refusedPods:  map[types.UID]struct{}{},
		candidates:   newAgeQueue(),
		pending:      newAgeQueue(),
		forged:       map[types.UID]forgery{},

		finishedUnwritten: map[types.UID]struct{}{},
	}
}

// rebuild fills the ledger from the job's status and the pods in the cache: owned are the
// pods holding the job's containers, selected those its selector matches. It is the only
// step that costs the job's size; it runs when the ledger is first built.
func (l *ledger) rebuild(job *appsv1alpha1.EphemeralJob, owned, selected []*corev1.Pod, now time.Time) error {
	st := &job.Status
	if err := l.readIndexes(st); err != nil {
		return err
	}
	active, err := parseIntervals(st.ActiveIndexes)
	if err != nil {
		return fmt.Errorf("reading status.activeIndexes: %w", err)
	}
	l.writtenLimit = st.IndexLimit
	if l.writtenLimit == 0 && st.Targeted > 0 {
		// Written before the limit existed: indexes were given in order from 0, at most
		// parallelism beyond the recorded count.
		l.writtenLimit = st.Targeted + job.Spec.GetParallelism()
	}
	l.next = l.writtenLimit

	if c := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionStatusTrimmed); c != nil &&
		c.Status == metav1.ConditionTrue {
		// A status the API server refused once is not offered the same parts again.
		l.trimmed = c.Message
		l.noGroups = strings.Contains(c.Message, "without status.results")
		l.noListed = strings.Contains(c.Message, "status.refused: `kubectl")
	}
	l.results = slices.Clone(st.Results)
	for i := range l.results {
		l.results[i].Pods = slices.Clone(l.results[i].Pods)
	}
	l.otherResults = st.OtherResults
	identified := map[string]int32{}
	for _, rc := range st.Refusals {
		l.refusals[rc.Reason] = max(rc.Count, 0)
		const n = podstate.RefusedIDLength
		for i := 0; i+n <= len(rc.PodIDs) && l.nIDs < appsv1alpha1.MaxRefusedIDs; i += n {
			l.identify(rc.Reason, rc.PodIDs[i:i+n])
			identified[rc.Reason]++
		}
	}
	listedByReason := map[string]int32{}
	for _, r := range st.Refused {
		if len(st.Refusals) == 0 {
			// Written before refusals were counted: every refusal was listed.
			l.refusals[r.Reason]++
			if !l.listsTruncated {
				l.refusedIdx.add(r.Index)
			}
		}
		if len(l.listed) < appsv1alpha1.MaxRefusedListed {
			l.listed = append(l.listed, r)
		}
		listedByReason[r.Reason]++
		l.refusedPods[r.UID] = struct{}{}
	}
	for reason, n := range l.refusals {
		if left := n - listedByReason[reason] - identified[reason]; left > 0 {
			l.unidentified[reason] = left
		}
	}

	// Live targets: adopt each pod's index when the job can have given it.
	slices.SortFunc(owned, func(a, b *corev1.Pod) int { return strings.Compare(string(a.UID), string(b.UID)) })
	for _, pod := range owned {
		l.observe(pod, now)
	}
	// An active target the status recorded whose pod is gone failed. Only indexes below
	// the limit can be targets, and there are at most a few of them: a status edited by
	// hand into a huge range costs no more than that.
	budget := 10 * int(appsv1alpha1.MaxParallelism)
	for _, r := range active.ranges {
		for i := r.lo; i <= min(r.hi, l.writtenLimit-1) && budget > 0; i++ {
			budget--
			if _, ok := l.active[i]; !ok && !l.closed.has(i) {
				l.finish(i, podstate.Failed, targetResult{reason: appsv1alpha1.ReasonPodVanished,
					message: "the pod was deleted before its containers finished"})
				l.urgent = true
			}
		}
	}
	for _, pod := range selected {
		l.observe(pod, now)
		// A pod that fails the same check as a refusal the status counted without naming
		// its pod is taken to be that refusal, not a new candidate.
		if l.candidates.has(pod.UID) {
			if reason, _ := checkInjectable(job, pod); reason != "" && l.unidentified[reason] > 0 {
				l.unidentified[reason]--
				l.candidates.drop(pod.UID)
				l.refusedPods[pod.UID] = struct{}{}
			}
		}
	}
	// A status written before results were grouped counts its finished targets in no
	// group: they go to otherResults, so that the groups always account for every result.
	grouped := l.otherResults
	for _, g := range l.results {
		grouped += g.Count
	}
	if finished := l.nSucceeded + l.nFailed; grouped < finished {
		l.otherResults += finished - grouped
	}
	l.resultsChanged = true
	return nil
}

// readIndexes reads the finished targets from the status: their counts and closed
// indexes, and the per-outcome lists unless they were truncated. A status written before
// closedIndexes existed has complete lists, whose union is closed.
func (l *ledger) readIndexes(st *appsv1alpha1.EphemeralJobStatus) error {
	var err error
	if l.closed, err = parseIntervals(st.ClosedIndexes); err != nil {
		return fmt.Errorf("reading status.closedIndexes: %w", err)
	}
	if st.IndexListsTruncated {
		// Kept as written; the counts and closed hold the results.
		l.listsTruncated = true
		l.written = writtenRanges{succeeded: st.SucceededIndexes, failed: st.FailedIndexes, refused: st.RefusedIndexes}
		l.nSucceeded, l.nFailed = max(st.Succeeded, 0), max(st.Failed, 0)
		return nil
	}
	if l.succeeded, err = parseIntervals(st.SucceededIndexes); err != nil {
		return fmt.Errorf("reading status.succeededIndexes: %w", err)
	}
	if l.failed, err = parseIntervals(st.FailedIndexes); err != nil {
		return fmt.Errorf("reading status.failedIndexes: %w", err)
	}
	if l.refusedIdx, err = parseIntervals(st.RefusedIndexes); err != nil {
		return fmt.Errorf("reading status.refusedIndexes: %w", err)
	}
	l.nSucceeded, l.nFailed = l.succeeded.len(), l.failed.len()
	l.closed = union(l.closed, union(l.succeeded, l.failed))
	return nil
}

// observe moves the ledger forward with the pod as the cache shows it now. It is
// idempotent: the same pod observed twice changes nothing the second time.
func (l *ledger) observe(pod *corev1.Pod, now time.Time) {
	if idx, claims := l.claimedIndex(pod); claims {
		l.candidates.drop(pod.UID)
		l.observeTarget(pod, idx, now)
		return
	}
	if _, ok := l.byPod[pod.UID]; ok {
		return // injected or being injected; the cache does not show the containers yet
	}
	delete(l.forged, pod.UID)
	if _, refused := l.refusedPods[pod.UID]; refused {
		return
	}
	if len(l.refusedByID) > 0 {
		if _, refused := l.refusedByID[podstate.RefusedID(pod.UID)]; refused {
			// Refused before the manager restarted: never tried again.
			l.refusedPods[pod.UID] = struct{}{}
			l.candidates.drop(pod.UID)
			l.pending.drop(pod.UID)
			return
		}
	}
	switch {
	case l.takesNone:
		// A finished job: pod events that were on their way keep nothing in memory.
	case l.isCandidate(pod):
		l.pending.drop(pod.UID)
		l.candidates.add(pod)
	case l.isPending(pod):
		l.candidates.drop(pod.UID)
		l.pending.add(pod)
	default:
		l.candidates.drop(pod.UID)
		l.pending.drop(pod.UID)
	}
}

// claimedIndex returns the index the pod's containers of this job claim, if any.
func (l *ledger) claimedIndex(pod *corev1.Pod) (int32, bool) {
	owned := podstate.OwnedContainers(pod, l.uid)
	if len(owned) == 0 {
		return 0, false
	}
	v, _ := podstate.EnvValue(owned[0], appsv1alpha1.EnvJobIndex)
	i, err := strconv.ParseInt(v, 10, 32)
	if err != nil || i < 0 {
		return -1, true
	}
	return int32(i), true
}

// observeTarget handles a pod holding containers with the job's UID.
func (l *ledger) observeTarget(pod *corev1.Pod, idx int32, now time.Time) {
	if reason, detail := l.checkForged(pod, idx); reason != "" {
		f := forgery{pod: pod.Name, reason: reason, detail: detail}
		if old, ok := l.forged[pod.UID]; ok && old.reason == reason {
			f.reported = old.reported
		}
		l.forged[pod.UID] = f
		return
	}
	delete(l.forged, pod.UID)
	if l.closed.has(idx) {
		return // finished targets are never looked at again
	}
	t := l.active[idx]
	if t == nil {
		// A target given before the manager started, or whose injection this process
		// sent with an unknown outcome and then forgot: adopt it.
		t = &activeTarget{index: idx, pod: types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name},
			uid: pod.UID, injectedAt: now}
		if at, ok := podstate.EphemeralContainersWrittenAt(pod); ok && at.Before(now) {
			// Injected no later than that: a restart does not give the target a new start deadline.
			t.injectedAt = at
		}
		l.active[idx] = t
		l.byPod[pod.UID] = idx
	}
	t.state = injectObserved
	res, _ := podstate.Evaluate(pod, l.uid)
	if res.Outcome.IsFinished() {
		l.finish(idx, res.Outcome, targetResult{pod: pod.Name, container: res.Container, exitCode: res.ExitCode,
			reason: truncateTo(res.Reason, maxReasonLength), message: truncate(res.Message)})
		return
	}
	t.outcome, t.unstarted, t.reason, t.message = res.Outcome, res.Unstarted, res.UnstartedReason, res.UnstartedMessage
	if pod.DeletionTimestamp != nil {
		t.terminatingAt = pod.DeletionTimestamp.Time
	}
}

// checkForged says why a pod's containers with the job's UID were not injected by the job,
// or "" when they may have been. Nothing read from the pod sizes an allocation.
func (l *ledger) checkForged(pod *corev1.Pod, idx int32) (reason, detail string) {
	if idx < 0 || idx >= l.writtenLimit {
		return appsv1alpha1.ReasonIndexOutOfRange,
			fmt.Sprintf("its index is outside the %d indexes the job may have given", l.writtenLimit)
	}
	if idx >= l.next || l.gaps.has(idx) {
		// Above the next index, or given to an injection that can never be applied: not
		// given to any pod.
		return appsv1alpha1.ReasonIndexOutOfRange, fmt.Sprintf("the job never gave index %d to a pod", idx)
	}
	if other, ok := l.active[idx]; ok && other.uid != pod.UID {
		return appsv1alpha1.ReasonIndexClaimedTwice, fmt.Sprintf("index %d belongs to pod %s", idx, other.pod.Name)
	}
	if mine, ok := l.byPod[pod.UID]; ok && mine != idx {
		return appsv1alpha1.ReasonIndexClaimedTwice, fmt.Sprintf("the job gave the pod index %d, not %d", mine, idx)
	}
	if !l.matchesTemplate(podstate.OwnedContainers(pod, l.uid), idx) {
		return appsv1alpha1.ReasonTemplateMismatch, "its containers differ from the job's template"
	}
	return "", ""
}

// matchesTemplate reports whether the containers are the job's template as containersFor
// writes it for this index (see podstate.MatchesTemplate).
func (l *ledger) matchesTemplate(owned []*corev1.EphemeralContainer, idx int32) bool {
	return podstate.MatchesTemplate(owned, l.template, l.uid, l.jobName, idx)
}

// gone handles a pod the cache no longer has (deleted, or replaced by one of the same name).
func (l *ledger) gone(uid types.UID) {
	l.candidates.drop(uid)
	l.pending.drop(uid)
	delete(l.refusedPods, uid)
	delete(l.forged, uid)
	if _, ok := l.finishedUnwritten[uid]; ok {
		l.urgent = true // its result must reach the status before anything else forgets it
	}
	idx, ok := l.byPod[uid]
	if !ok {
		return
	}
	t := l.active[idx]
	if t.state == injectUnknown {
		// Never seen with the containers: the injection may not have been applied, and the
		// pod is gone either way. The index stays given, as a gap.
		l.abandon(idx)
		return
	}
	l.finish(idx, podstate.Failed, targetResult{pod: t.pod.Name, reason: appsv1alpha1.ReasonPodVanished,
		message: "the pod was deleted before its containers finished"})
	l.urgent = true
}

// release drops an active target whose injection was never applied; its index stays a
// gap. A write that may still be applied (the pod is still at the version it was sent
// with) leaves the index open: if it lands, the pod's event brings the target back.
func (l *ledger) release(idx int32) {
	if t := l.active[idx]; t != nil {
		delete(l.byPod, t.uid)
		delete(l.active, idx)
	}
}

// abandon releases an active target whose injection can never be applied (its pod is gone,
// moved on to another version, or refused it): a container claiming its index later was
// not injected by the job.
func (l *ledger) abandon(idx int32) {
	l.release(idx)
	l.gaps.add(idx)
	if l.closed.add(idx) {
		l.resultsChanged = true
	}
}

// finish records a target's result for good.
func (l *ledger) finish(idx int32, outcome podstate.Outcome, r targetResult) {
	if t := l.active[idx]; t != nil {
		delete(l.byPod, t.uid)
		delete(l.active, idx)
		l.finishedUnwritten[t.uid] = struct{}{}
	}
	if !outcome.IsFinished() || !l.closed.add(idx) {
		return
	}
	succeeded := outcome == podstate.Succeeded
	if succeeded {
		l.nSucceeded++
	} else {
		l.nFailed++
	}
	if !l.listsTruncated {
		if succeeded {
			l.succeeded.add(idx)
		} else {
			l.failed.add(idx)
		}
	}
	l.addResult(succeeded, r)
	l.resultsChanged = true
}

// addResult folds a finished target's result into its group: the same outcome, exit code,
// reason and message. Looking for the group costs at most MaxResultGroups comparisons.
func (l *ledger) addResult(succeeded bool, r targetResult) {
	r.reason, r.message = truncateTo(r.reason, maxReasonLength), truncate(r.message)
	var g *appsv1alpha1.ResultGroup
	for i := range l.results {
		c := &l.results[i]
		if c.Succeeded == succeeded && c.Reason == r.reason && c.Message == r.message &&
			(c.ExitCode == nil) == (r.exitCode == nil) && (c.ExitCode == nil || *c.ExitCode == *r.exitCode) {
			g = c
			break
		}
	}
	if g == nil {
		if l.noGroups || len(l.results) >= appsv1alpha1.MaxResultGroups {
			l.otherResults++
			return
		}
		l.results = append(l.results, appsv1alpha1.ResultGroup{Succeeded: succeeded, Reason: r.reason, Message: r.message})
		g = &l.results[len(l.results)-1]
		if r.exitCode != nil {
			g.ExitCode = new(*r.exitCode)
		}
	}
	g.Count++
	if r.pod != "" && len(g.Pods) < appsv1alpha1.MaxResultSamples {
		name := r.pod
		if r.container != "" {
			name += "/" + r.container
		}
		g.Pods = append(g.Pods, name)
	}
}

// isCandidate reports whether the pod may become a target: selected, running, not
// terminating, never targeted by the job.
func (l *ledger) isCandidate(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodRunning && pod.DeletionTimestamp == nil &&
		l.selector.Matches(labels.Set(pod.Labels))
}

// isPending reports whether the pod is selected and not running yet: it will be a
// candidate once it runs (a Deployment applied together with the job).
func (l *ledger) isPending(pod *corev1.Pod) bool {
	return (pod.Status.Phase == corev1.PodPending || pod.Status.Phase == "") && pod.DeletionTimestamp == nil &&
		l.selector.Matches(labels.Set(pod.Labels))
}

// expirePending stops waiting for the selected pods that did not run within wait of the
// later of the job's start and their creation: they no longer count, and are targeted
// only if they run while the job still takes targets. It returns how long until the next
// one's wait ends (0 when none is pending). Only expired pods are looked at.
func (l *ledger) expirePending(start time.Time, wait time.Duration, now time.Time) time.Duration {
	for c := l.pending.peek(); c != nil; c = l.pending.peek() {
		until := c.created
		if until.Before(start) {
			until = start
		}
		until = until.Add(wait)
		if until.After(now) {
			return until.Sub(now)
		}
		l.pending.pop()
	}
	return 0
}

// popCandidate takes the oldest candidate out, or returns nil.
func (l *ledger) popCandidate() *candidate { return l.candidates.pop() }

// reserve gives the next index to an injection about to be sent into the pod.
func (l *ledger) reserve(pod *corev1.Pod, now time.Time) *activeTarget {
	t := &activeTarget{index: l.next, pod: types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name},
		uid: pod.UID, state: injectUnknown, sentVersion: pod.ResourceVersion, sentAt: now, injectedAt: now, verifyAt: now,
		outcome: podstate.Waiting}
	l.next++
	l.active[t.index] = t
	l.byPod[pod.UID] = t.index
	return t
}

// refuse records that the pod refused injection: a failed target, never tried again.
// reserved is the target the injection was sent as, or nil when the pod was refused
// before any write.
func (l *ledger) refuse(pod *corev1.Pod, reserved *activeTarget, reason, message string) {
	if l.unidentified[reason] > 0 {
		// A refusal the status counted before the manager restarted, without naming its pod.
		l.unidentified[reason]--
		if reserved != nil {
			l.abandon(reserved.index)
		}
		l.refusedPods[pod.UID] = struct{}{}
		return
	}
	var idx int32
	if reserved != nil {
		idx = reserved.index
		l.release(idx)
	} else {
		idx = l.next
		l.next++
	}
	message = truncate(message)
	if !l.listsTruncated {
		l.refusedIdx.add(idx)
	}
	l.refusals[reason]++
	if !l.noListed && len(l.listed) < appsv1alpha1.MaxRefusedListed {
		l.listed = append(l.listed, appsv1alpha1.RefusedPod{Index: idx, Name: pod.Name, UID: pod.UID,
			Reason: reason, Message: message})
	} else {
		l.identify(reason, podstate.RefusedID(pod.UID))
	}
	l.refusalsWritten = nil
	l.refusedPods[pod.UID] = struct{}{}
	l.finish(idx, podstate.Failed, targetResult{pod: pod.Name, reason: reason, message: message})
	l.urgent = true
}

// expireStarts fails the active targets whose containers did not start within the start
// deadline, and those whose pod has been terminating for longer than that past its grace
// period (a node that stopped answering), and returns how long until the next one may
// expire (0 when none can). A target keeps its slot while one of its containers runs.
func (l *ledger) expireStarts(deadline time.Duration, now time.Time) time.Duration {
	var next time.Duration
	soonest := func(d time.Duration) {
		if next == 0 || d < next {
			next = d
		}
	}
	for idx, t := range l.active {
		if t.state == injectUnknown {
			continue
		}
		if !t.terminatingAt.IsZero() {
			if left := t.terminatingAt.Add(deadline).Sub(now); left > 0 {
				soonest(left)
			} else {
				l.finish(idx, podstate.Failed, targetResult{pod: t.pod.Name, reason: appsv1alpha1.ReasonPodVanished,
					message: fmt.Sprintf("the pod has been terminating since %s and its containers did not end",
						t.terminatingAt.UTC().Format(time.RFC3339))})
				continue
			}
		}
		if t.outcome == podstate.Running || (t.state == injectObserved && t.unstarted == "") {
			continue
		}
		left := t.injectedAt.Add(deadline).Sub(now)
		if left > 0 {
			soonest(left)
			continue
		}
		why := "its containers did not start"
		if t.unstarted != "" {
			why = "container " + t.unstarted + " did not start"
		}
		msg := fmt.Sprintf("%s within %s of injection", why, deadline)
		if t.reason != "" {
			msg += ": " + t.reason
			if t.message != "" {
				msg += ", " + t.message
			}
		}
		l.finish(idx, podstate.Failed, targetResult{pod: t.pod.Name, container: t.unstarted,
			reason: appsv1alpha1.ReasonStartDeadlineExceeded, message: truncate(msg)})
	}
	return next
}

// summary is the ledger's counts for the job's status.
type summary struct {
	succeeded, failed, running, waiting int32
	targeted, match, active             int32
	// notRunning is how many of the waiting are selected pods not running yet.
	notRunning int32
}

// summarize counts the targets; candidates count as waiting, as many as replicas leaves
// room for, while the job takes new targets.
func (l *ledger) summarize(job *appsv1alpha1.EphemeralJob, acceptNew bool) summary {
	s := summary{succeeded: l.nSucceeded, failed: l.nFailed, active: int32(len(l.active))}
	for _, t := range l.active {
		if t.outcome == podstate.Running {
			s.running++
		} else {
			s.waiting++
		}
	}
	s.targeted = s.succeeded + s.failed + s.active
	if acceptNew {
		waiting := l.spared(job)
		s.waiting += waiting
		s.notRunning = max(waiting-int32(l.candidates.len()), 0)
	}
	s.match = s.succeeded + s.failed + s.running + s.waiting
	return s
}

// room returns how many more targets the job may take now: parallelism less the active
// targets, within what replicas leaves, and none once the failure budget is spent.
func (l *ledger) room(job *appsv1alpha1.EphemeralJob) int32 {
	if l.budgetSpent(job) {
		return 0
	}
	room := job.Spec.GetParallelism() - int32(len(l.active))
	if limit, ok := job.Spec.ReplicasLimit(); ok {
		room = min(room, limit-(l.nSucceeded+l.nFailed+int32(len(l.active))))
	}
	return max(room, 0)
}

// budgetSpent reports whether as many targets failed as spec.failureBudget allows: the
// job then starts no new target. A target only frees its slot once it is seen finished,
// so at most parallelism - 1 others can still fail after the one that spent the budget.
func (l *ledger) budgetSpent(job *appsv1alpha1.EphemeralJob) bool {
	return job.Spec.FailureBudget != nil && l.nFailed >= *job.Spec.FailureBudget
}

// spared returns how many selected pods the job would still have targeted: those a spent
// failure budget or a passed deadline leaves untouched.
func (l *ledger) spared(job *appsv1alpha1.EphemeralJob) int32 {
	n := int32(l.candidates.len() + l.pending.len())
	if limit, ok := job.Spec.ReplicasLimit(); ok {
		n = min(n, max(limit-(l.nSucceeded+l.nFailed+int32(len(l.active))), 0))
	}
	return n
}

// writeResults puts the ledger's results into the status.
func (l *ledger) writeResults(st *appsv1alpha1.EphemeralJobStatus) {
	if l.resultsChanged {
		// Built again only when a result changed: a pass that finishes nothing costs no
		// more with 5,000 finished targets than with 5. The lists cost at most their bound.
		l.written.closed = l.closed.String()
		if !l.listsTruncated {
			w := writtenRanges{l.succeeded.String(), l.failed.String(), l.refusedIdx.String(), l.written.closed}
			if len(w.succeeded)+len(w.failed)+len(w.refused) > appsv1alpha1.MaxIndexListBytes {
				// Outcomes that alternate make a range per target: keep the first ranges,
				// and from now on only the counts and closed.
				third := appsv1alpha1.MaxIndexListBytes / 3
				w.succeeded, w.failed, w.refused = l.succeeded.prefixString(third), l.failed.prefixString(third),
					l.refusedIdx.prefixString(third)
				l.succeeded, l.failed, l.refusedIdx = intervals{}, intervals{}, intervals{}
				l.listsTruncated = true
			}
			l.written = w
		}
		l.resultsChanged = false
	}
	st.SucceededIndexes, st.FailedIndexes, st.RefusedIndexes = l.written.succeeded, l.written.failed, l.written.refused
	st.IndexListsTruncated, st.ClosedIndexes = l.listsTruncated, l.written.closed
	var active intervals
	for _, idx := range slices.Sorted(maps.Keys(l.active)) {
		if l.active[idx].state != injectUnknown {
			active.add(idx)
		}
	}
	st.ActiveIndexes = active.String()
	if l.refusalsWritten == nil {
		// Built again only when a refusal changed: the IDs are up to 32 KiB.
		l.refusalsWritten = []appsv1alpha1.ReasonCount{}
		for _, reason := range slices.Sorted(maps.Keys(l.refusals)) {
			if n := l.refusals[reason]; n > 0 {
				l.refusalsWritten = append(l.refusalsWritten, appsv1alpha1.ReasonCount{Reason: reason, Count: n,
					PodIDs: string(l.refusedIDs[reason])})
			}
		}
	}
	st.Refusals = nil
	if len(l.refusalsWritten) > 0 {
		st.Refusals = slices.Clone(l.refusalsWritten)
	}
	st.Refused = slices.Clone(l.listed)
	st.Results = make([]appsv1alpha1.ResultGroup, len(l.results))
	for i, g := range l.results {
		g.Pods = slices.Clone(g.Pods)
		if g.ExitCode != nil {
			g.ExitCode = new(*g.ExitCode)
		}
		st.Results[i] = g
	}
	if len(st.Results) == 0 {
		st.Results = nil
	}
	st.OtherResults = l.otherResults
	st.IndexLimit = max(st.IndexLimit, l.writtenLimit)
}

// trim leaves out of the status, for good, the parts the API server refused: the result
// groups (their counts go to otherResults) when every refused field is under
// status.results, the refused pods' details when every one is under status.refused, both
// otherwise. Counts, index sets and phase stay. It reports what it left out, or "" when
// there was nothing left to leave out.
func (l *ledger) trim(fields []string, causes, jobName string) string {
	groups, listed := true, true
	if len(fields) > 0 {
		groups, listed = false, false
		for _, f := range fields {
			switch {
			case strings.HasPrefix(f, "status.results"):
				groups = true
			case strings.HasPrefix(f, "status.refused"):
				listed = true
			default:
				groups, listed = true, true
			}
		}
	}
	var left []string
	if groups && !l.noGroups {
		l.noGroups = true
		for _, g := range l.results {
			l.otherResults += g.Count
		}
		l.results = nil
		left = append(left, "status.results")
	}
	if listed && !l.noListed {
		l.noListed = true
		for _, r := range l.listed {
			l.identify(r.Reason, podstate.RefusedID(r.UID)) // still told apart after a restart
		}
		l.listed = nil
		l.refusalsWritten = nil
		left = append(left, "status.refused")
	}
	if len(left) == 0 {
		return ""
	}
	var out []string
	if l.noGroups {
		out = append(out, "status.results")
	}
	if l.noListed {
		out = append(out, "status.refused")
	}
	l.trimmed = fmt.Sprintf("the API server refused the status (%s); it is written without %s: "+
		"`kubectl ejob results %s` lists each pod", causes, strings.Join(out, " and "), jobName)
	return strings.Join(left, " and ")
}

// identify records a refused pod's ID under its reason, up to MaxRefusedIDs in all (the
// CRD's bound on podIDs is that many IDs).
func (l *ledger) identify(reason, id string) {
	if _, ok := l.refusedByID[id]; ok || l.nIDs >= appsv1alpha1.MaxRefusedIDs {
		return
	}
	l.refusedByID[id] = struct{}{}
	l.refusedIDs[reason] = append(l.refusedIDs[reason], id...)
	l.nIDs++
}

// forgeries returns the pods holding containers the job did not inject, sorted by name.
func (l *ledger) forgeries() []forgery {
	out := slices.Collect(maps.Values(l.forged))
	slices.SortFunc(out, func(a, b forgery) int { return strings.Compare(a.pod, b.pod) })
	return out
}

// truncate bounds a message read from a pod or the API server.
func truncate(s string) string { return truncateTo(s, maxMessageLength) }

// ellipsis marks a string that was cut.
const ellipsis = "…"

// truncateTo bounds a string read from a pod or the API server to n bytes, the ellipsis
// that marks the cut included, at a character boundary. Invalid UTF-8 is replaced first,
// as the JSON encoding would, so the bound holds for the bytes the API server receives and
// for the characters its maxLength counts.
func truncateTo(s string, n int) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) <= n {
		return s
	}
	cut := max(n-len(ellipsis), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	if n < len(ellipsis) {
		return s[:cut]
	}
	return s[:cut] + ellipsis
}

// startedAt returns the time to record for a job's start.
func startedAt(st *appsv1alpha1.EphemeralJobStatus, now time.Time) *metav1.Time {
	if st.StartTime != nil {
		return st.StartTime
	}
	t := metav1.NewTime(now)
	return &t
}

// unknown returns the active targets whose injection outcome is unknown, by index.
func (l *ledger) unknown() []*activeTarget {
	var out []*activeTarget
	for _, t := range l.active {
		if t.state == injectUnknown && !t.inFlight {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b *activeTarget) int { return int(a.index - b.index) })
	return out
}

// backoff delays the next fresh read of a target whose outcome is unknown, doubling the wait.
func (t *activeTarget) backoff(now time.Time) {
	wait := min(max(2*t.verifyAt.Sub(t.injectedAt), retryDelay), maxVerifyDelay)
	t.verifyAt = now.Add(wait)
}

// forgetCandidates drops the candidates and the refused pods of a finished job, which
// takes no new targets: its ledger then holds only its results and unfinished targets.
func (l *ledger) forgetCandidates() {
	l.candidates.clear()
	l.pending.clear()
	clear(l.refusedPods)
	l.takesNone = true
}

// writtenRanges are the ledger's result sets in the status' notation.
type writtenRanges struct{ succeeded, failed, refused, closed string }
