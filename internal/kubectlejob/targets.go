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
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
)

// Where a view or a target was read from.
const (
	SourceLive    = "live"
	SourceHistory = "history"
)

// Statuses of a target, besides podstate's outcomes: a history row whose pod was deleted
// before the job's containers finished.
const statusUnknown = "Unknown"

// maxMessageBytes bounds a reason or a termination message read from a pod or a row: the
// kubelet writes at most 4096 bytes of a termination message, but a status is written by
// whoever may update pods/status, so nothing read from it is trusted to be that short.
const (
	maxMessageBytes = 4096
	maxReasonBytes  = 256
)

// View is what `kubectl ejob results` prints: a job and its targets, or their groups. A
// table shows it row by row; -o prints it as a List (viewObject), documented in
// docs/kubectl-ejob.md.
type View struct {
	Job JobInfo `json:"job"`
	// Targets holds one entry per target, sorted by index (history rows, which have no
	// index, after them by pod name); Groups replaces it with --group.
	Targets []Target `json:"targets,omitempty"`
	Groups  []Group  `json:"groups,omitempty"`
	// Missing counts the targets the job's status lists whose pods are gone and that no
	// history row stands for.
	Missing int64 `json:"missing,omitempty"`
	// Unidentified counts the refusals the job's status neither details nor identifies
	// (past the first 4,106): they are counted by reason only, and have no row.
	Unidentified int64 `json:"unidentified,omitempty"`
}

// JobInfo is the job the view is about.
type JobInfo struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	Phase     string `json:"phase,omitempty"`
	Match     int32  `json:"match"`
	Succeeded int32  `json:"succeeded"`
	Failed    int32  `json:"failed"`
	Running   int32  `json:"running"`
	Waiting   int32  `json:"waiting"`
	// CreatedAt and CompletionTime come from the job, or from its history row.
	CreatedAt      *metav1.Time `json:"createdAt,omitempty"`
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// Source is "live" when the job was read from the API server, "history" from MySQL.
	Source string `json:"source"`
}

// Target is one target pod's result for the job.
type Target struct {
	// Index is the target index the job gave the pod; history rows, and refusals the status
	// identifies by their pods' IDs only, have none.
	Index *int32 `json:"index,omitempty"`
	// Pod is the pod's name, the item's metadata.name with -o.
	Pod string `json:"-"`
	// Node is the pod's node (history rows: its host IP).
	Node string `json:"node,omitempty"`
	// Container is the name the job's deciding container has in the pod: the template's,
	// or the one derived from it where that was taken. Empty for a refused target.
	Container string `json:"container,omitempty"`
	// Status is Succeeded, Failed, Running or Waiting (Unknown: a history row whose pod was
	// deleted before the job's containers finished).
	Status     string       `json:"status"`
	ExitCode   *int32       `json:"exitCode,omitempty"`
	Reason     string       `json:"reason,omitempty"`
	Message    string       `json:"message,omitempty"`
	StartedAt  *metav1.Time `json:"startedAt,omitempty"`
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// Output is the container's output, with --logs; OutputTruncated says it was cut at
	// --limit-bytes, OutputError why it could not be read.
	Output          *string `json:"output,omitempty"`
	OutputTruncated bool    `json:"outputTruncated,omitempty"`
	OutputError     string  `json:"outputError,omitempty"`
	// Image is the image of the job's container that decided the status (history rows of
	// refusals: the template's, which would have run).
	Image string `json:"image,omitempty"`
	// Source is "live" for a target read from the API server, "history" from MySQL.
	Source string `json:"source"`
	// InEtcd, for a history row only, is false once the pod was deleted from the API server.
	InEtcd *bool `json:"inEtcd,omitempty"`
	// uid is the pod's UID: a pod recreated under the same name is another target.
	uid string
	// identified is set on a refusal found by its pod's ID in status.refusals, which keeps
	// no index and no message for it.
	identified bool
}

// Group is a set of targets that ended the same way, with --group.
type Group struct {
	Count    int    `json:"count"`
	Status   string `json:"status"`
	ExitCode *int32 `json:"exitCode,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Message  string `json:"message,omitempty"`
	// Output is the targets' common output, with --logs.
	Output          *string `json:"output,omitempty"`
	OutputTruncated bool    `json:"outputTruncated,omitempty"`
	// Pods names every target of the group, in the order of the targets.
	Pods []string `json:"pods"`
}

// jobInfoLive describes a job read from the API server.
func jobInfoLive(job *appsv1alpha1.EphemeralJob) JobInfo {
	info := JobInfo{Namespace: job.Namespace, Name: job.Name, UID: string(job.UID), Phase: string(job.Status.Phase),
		Match: job.Status.Match, Succeeded: job.Status.Succeeded, Failed: job.Status.Failed,
		Running: job.Status.Running, Waiting: job.Status.Waiting, CompletionTime: job.Status.CompletionTime,
		Source: SourceLive}
	if !job.CreationTimestamp.IsZero() {
		created := job.CreationTimestamp
		info.CreatedAt = &created
	}
	return info
}

// liveTargets returns a target per pod holding the job's containers, one per refusal the
// status details (status.refused, with its index and message), and one per pod that
// status.refusals identifies by its ID (podstate.RefusedID, with the reason it is counted
// under; the status keeps no index or message for these): refusals are Failed, with the
// refusal's reason. Targets are sorted by index, those without one after them by pod name.
// Pods whose containers claim no index, one the job never gave (at or past
// status.indexLimit), or differ from the job's template (as the controller checks them)
// were not injected by the job: they are left out and counted in forged.
func liveTargets(job *appsv1alpha1.EphemeralJob, pods []corev1.Pod) (targets []Target, forged []string) {
	refusedIDs := podstate.RefusedIDs(job.Status.Refusals)
	detailed := make(map[types.UID]bool, len(job.Status.Refused))
	for _, r := range job.Status.Refused {
		detailed[r.UID] = true
	}
	for i := range pods {
		pod := &pods[i]
		res, ok := podstate.Evaluate(pod, job.UID)
		if !ok {
			// A pod the status details is its refusal's row, with the index and message.
			if reason, refused := refusedIDs[podstate.RefusedID(pod.UID)]; refused && !detailed[pod.UID] {
				targets = append(targets, Target{uid: string(pod.UID), Pod: pod.Name, Status: string(podstate.Failed),
					Reason: clip(reason, maxReasonBytes), Source: SourceLive, identified: true})
			}
			continue
		}
		index, ok := podstate.Index(pod, job.UID)
		if !ok || (job.Status.IndexLimit > 0 && index >= job.Status.IndexLimit) ||
			!podstate.MatchesTemplate(podstate.OwnedContainers(pod, job.UID), job.Spec.Template.EphemeralContainers,
				job.UID, job.Name, index) {
			forged = append(forged, pod.Name)
			continue
		}
		t := Target{uid: string(pod.UID), Index: &index, Pod: pod.Name, Node: pod.Spec.NodeName, Container: res.Container,
			Status: string(res.Outcome), ExitCode: res.ExitCode, Reason: clip(res.Reason, maxReasonBytes),
			Message: clip(res.Message, maxMessageBytes), StartedAt: res.StartedAt, FinishedAt: res.FinishedAt,
			Image: containerImage(pod, res.Container), Source: SourceLive}
		if res.Outcome == podstate.Waiting && res.Reason == "" && res.UnstartedReason != "" {
			t.Reason, t.Message = clip(res.UnstartedReason, maxReasonBytes), clip(res.UnstartedMessage, maxMessageBytes)
		}
		targets = append(targets, t)
	}
	for _, r := range job.Status.Refused {
		index := r.Index
		targets = append(targets, Target{uid: string(r.UID), Index: &index, Pod: r.Name, Status: string(podstate.Failed),
			Reason: clip(r.Reason, maxReasonBytes), Message: clip(r.Message, maxMessageBytes), Source: SourceLive})
	}
	sortTargets(targets)
	return targets, forged
}

// containerImage returns the image of the pod's ephemeral container of that name.
func containerImage(pod *corev1.Pod, name string) string {
	for i := range pod.Spec.EphemeralContainers {
		if c := &pod.Spec.EphemeralContainers[i]; c.Name == name {
			return c.Image
		}
	}
	return ""
}

// keepsPod returns whether a pod of the namespace is one of the job's targets to list: it
// holds the job's containers, or status.refusals identifies it.
func keepsPod(job *appsv1alpha1.EphemeralJob) func(*corev1.Pod) bool {
	refusedIDs := podstate.RefusedIDs(job.Status.Refusals)
	uid := string(job.UID)
	return func(pod *corev1.Pod) bool {
		if holdsJob(pod, uid) {
			return true
		}
		_, refused := refusedIDs[podstate.RefusedID(pod.UID)]
		return refused
	}
}

// sortTargets orders targets by index, then those without one by pod name.
func sortTargets(targets []Target) {
	slices.SortStableFunc(targets, func(a, b Target) int {
		switch {
		case a.Index != nil && b.Index != nil:
			return cmp.Or(cmp.Compare(*a.Index, *b.Index), strings.Compare(a.Pod, b.Pod))
		case a.Index != nil:
			return -1
		case b.Index != nil:
			return 1
		}
		return strings.Compare(a.Pod, b.Pod)
	})
}

// missingTargets counts the targets the job's status lists (succeeded, failed or active
// indexes) that no target stands for: their pods are gone. A refusal the status identifies
// by its pod's ID stands for one of the refused indexes, which the status does not pair
// with pods; the refusals it neither details nor identifies (podstate.UnidentifiedRefusals)
// are not counted as missing either: their pods may well exist, the status just cannot
// name them. It never walks the ranges, whose bounds come from the status.
func missingTargets(status *appsv1alpha1.EphemeralJobStatus, targets []Target) int64 {
	var listed []indexRanges
	var total int64
	lists := []string{status.SucceededIndexes, status.FailedIndexes, status.ActiveIndexes}
	if status.IndexListsTruncated {
		// The per-outcome lists hold only their first ranges: the counts and the closed
		// indexes (finished targets, and gaps that no pod can hold) tell instead.
		lists = []string{status.ClosedIndexes, status.ActiveIndexes}
	}
	for _, s := range lists {
		r, err := parseIndexRanges(s)
		if err != nil {
			// A status the CLI cannot read tells nothing about missing targets.
			return 0
		}
		listed = append(listed, r)
		total += r.count()
	}
	if status.IndexListsTruncated {
		total = int64(status.Succeeded) + int64(status.Failed) + listed[1].count()
	}
	total -= podstate.UnidentifiedRefusals(status)
	seen := map[int32]bool{}
	for _, t := range targets {
		if t.identified {
			total--
			continue
		}
		if t.Index == nil || seen[*t.Index] {
			continue
		}
		for _, r := range listed {
			if r.has(*t.Index) {
				seen[*t.Index] = true
				total--
				break
			}
		}
	}
	return max(total, 0)
}

// indexRanges is a parsed index list of the status, such as "0-3,7".
type indexRanges [][2]int32

func parseIndexRanges(s string) (indexRanges, error) {
	var r indexRanges
	if s == "" {
		return r, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseInt(lo, 10, 32)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = strconv.ParseInt(hi, 10, 32); err != nil {
				return nil, err
			}
		}
		if a < 0 || b < a {
			return nil, strconv.ErrRange
		}
		r = append(r, [2]int32{int32(a), int32(b)})
	}
	return r, nil
}

func (r indexRanges) count() int64 {
	var n int64
	for _, p := range r {
		n += int64(p[1]) - int64(p[0]) + 1
	}
	return n
}

func (r indexRanges) has(i int32) bool {
	for _, p := range r {
		if p[0] <= i && i <= p[1] {
			return true
		}
	}
	return false
}

// jobInfoHistory describes a job from its history row.
func jobInfoHistory(j recorder.JobRecord) JobInfo {
	info := JobInfo{Namespace: j.Namespace, Name: j.Name, UID: j.JobID, Phase: j.Status, Match: j.MatchCount,
		Succeeded: j.Succeeded, Failed: j.Failed, Running: j.Running, Waiting: j.Waiting, Source: SourceHistory}
	if !j.GmtCreated.IsZero() {
		info.CreatedAt = &metav1.Time{Time: j.GmtCreated.UTC()}
	}
	if j.GmtFinished != nil {
		info.CompletionTime = &metav1.Time{Time: j.GmtFinished.UTC()}
	}
	return info
}

// historyTarget turns a pod row into a target. Rows written before the result's columns
// existed carry the container, reason, exit code and message in their remark only.
func historyTarget(p recorder.PodRecord, withOutput bool) Target {
	remark := parseRemark(p.Remark)
	t := Target{uid: p.PodID, Pod: p.Name, Node: p.HostIP, Container: cmp.Or(p.ContainerName, remark.Container),
		Status: historyStatus(p.Status), ExitCode: p.ExitCode, Reason: clip(cmp.Or(p.Reason, remark.Reason), maxReasonBytes),
		Message: clip(cmp.Or(p.Message, remark.Message), maxMessageBytes), Image: p.Image, Source: SourceHistory,
		InEtcd: &p.IsInEtcd}
	if t.ExitCode == nil {
		t.ExitCode = remark.ExitCode
	}
	if p.GmtStarted != nil {
		t.StartedAt = &metav1.Time{Time: p.GmtStarted.UTC()}
	}
	if p.GmtFinished != nil {
		t.FinishedAt = &metav1.Time{Time: p.GmtFinished.UTC()}
	}
	// A target that never started (a refusal) has no output to show; one whose output the
	// recorder did not keep (--record-output-bytes off, or the fetch failed) says so.
	switch {
	case !withOutput || t.StartedAt == nil:
	case p.OutputRecorded:
		out := p.Output
		t.Output = &out
	default:
		t.OutputError = "not recorded: the manager keeps output only with --record-output-bytes"
	}
	return t
}

// historyStatus maps a pod row's status to a target's: a row says Pending where the
// job's containers have not started, which the live view calls Waiting.
func historyStatus(s string) string {
	switch s {
	case recorder.PodStatusPending:
		return string(podstate.Waiting)
	case "":
		return statusUnknown
	}
	return s
}

// parseRemark decodes a pod row's remark; a remark that is not a PodRemark (written by
// something else) shows as its reason, so it is not lost.
func parseRemark(s string) recorder.PodRemark {
	var r recorder.PodRemark
	if s == "" {
		return r
	}
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return recorder.PodRemark{Reason: s}
	}
	return r
}

// groupTargets folds targets with the same status, exit code, reason, message and (with
// --logs) output into one group each, the largest first, ties in the order of their first
// target. The status keeps the message of the first ten refusals only: a refusal without
// a message joins the group of refusals with the same reason when there is exactly one, so
// that 25 pods refused for one reason make one group of 25, not one of 10 and one of 15.
func groupTargets(targets []Target) []Group {
	type key struct {
		status, reason, message, output string
		exit                            int64
		hasOutput, truncated            bool
	}
	type group struct {
		Group
		// notStarted is set while every target of the group failed before it started.
		notStarted bool
	}
	var groups []*group
	byKey := map[key]*group{}
	var unknownMessage []Target
	apart := map[string]*group{} // by reason: refusals without a message that join no group
	for _, t := range targets {
		if failedUnstarted(t) && t.Message == "" {
			unknownMessage = append(unknownMessage, t)
			continue
		}
		k := key{status: t.Status, reason: t.Reason, message: t.Message, exit: -1 << 40, truncated: t.OutputTruncated}
		if t.ExitCode != nil {
			k.exit = int64(*t.ExitCode)
		}
		if t.Output != nil {
			k.output, k.hasOutput = *t.Output, true
		}
		g, ok := byKey[k]
		if !ok {
			g = &group{Group: Group{Status: t.Status, ExitCode: t.ExitCode, Reason: t.Reason, Message: t.Message,
				Output: t.Output, OutputTruncated: t.OutputTruncated}, notStarted: true}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.notStarted = g.notStarted && failedUnstarted(t)
		g.Count++
		g.Pods = append(g.Pods, t.Pod)
	}
	for _, t := range unknownMessage {
		var into *group
		for _, g := range groups {
			if g.notStarted && g.Reason == t.Reason {
				if into != nil {
					into = nil // two messages for the reason: which one is this target's is unknown
					break
				}
				into = g
			}
		}
		if into == nil {
			if into = apart[t.Reason]; into == nil {
				into = &group{Group: Group{Status: t.Status, Reason: t.Reason}}
				apart[t.Reason] = into
				groups = append(groups, into)
			}
		}
		into.Count++
		into.Pods = append(into.Pods, t.Pod)
	}
	out := make([]Group, len(groups))
	for i, g := range groups {
		out[i] = g.Group
	}
	slices.SortStableFunc(out, func(a, b Group) int { return cmp.Compare(b.Count, a.Count) })
	return out
}

// failedUnstarted reports whether a target failed before its containers started: a
// refusal, or containers that never started (their result has no exit code).
func failedUnstarted(t Target) bool {
	return t.Status == string(podstate.Failed) && t.StartedAt == nil && t.ExitCode == nil && t.Output == nil
}

// clip cuts s to at most n bytes, at a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "...[truncated]"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
