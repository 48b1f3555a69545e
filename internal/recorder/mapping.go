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

package recorder

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
)

// Annotations of an EphemeralJob that the recorder copies into the job table; see
// appsv1alpha1.AnnotationOwner and appsv1alpha1.AnnotationTenant for who may set them.
const (
	// AnnotationTenant names the tenant the job belongs to (column tenant).
	AnnotationTenant = appsv1alpha1.AnnotationTenant
	// AnnotationOwner names the user who owns the job (column owner).
	AnnotationOwner = appsv1alpha1.AnnotationOwner
)

// JobKind is the kind recorded for every job.
const JobKind = "EphemeralJob"

// StatusCreated is the job status recorded before the controller set a phase.
const StatusCreated = "Created"

// Pod row statuses: the state of the job's containers in the pod.
const (
	// PodStatusPending means the job's containers were injected and none started yet.
	PodStatusPending = "Pending"
	// PodStatusRunning means a container of the job runs.
	PodStatusRunning = "Running"
	// PodStatusSucceeded means every container of the job exited 0.
	PodStatusSucceeded = "Succeeded"
	// PodStatusFailed means a container of the job failed or can never start.
	PodStatusFailed = "Failed"
	// PodStatusUnknown means the pod was gone before the job's containers finished.
	PodStatusUnknown = "Unknown"
)

// Column widths, in characters; longer values are cut to fit.
const (
	maxNameLen      = 253
	maxNamespaceLen = 128
	maxUIDLen       = 64
	maxVersionLen   = 64
	maxStatusLen    = 32
	maxRegionLen    = 64
	maxTenantLen    = 255
	maxImageLen     = 512
	maxReplicaLen   = 128
	maxIPLen        = 64
	// maxContainerLen is the longest container name the API server accepts (a DNS label).
	maxContainerLen = 63
	maxReasonLen    = 128
)

// MaxMessageBytes bounds a termination message, in bytes of valid UTF-8: the kubelet
// writes at most 4096 bytes, and anyone allowed to write a pod's status could write more.
const MaxMessageBytes = 4096

// JobResources is what the job table's resources column holds, as JSON.
type JobResources struct {
	// Replicas is spec.replicas; absent means every matching pod.
	Replicas *int32 `json:"replicas,omitempty"`
	// Parallelism is spec.parallelism, defaulted.
	Parallelism int32 `json:"parallelism"`
	// Selector is spec.selector.
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// Containers summarises the template's ephemeral containers.
	Containers []ContainerSummary `json:"containers"`
}

// ContainerSummary is one ephemeral container of a job's template.
type ContainerSummary struct {
	Name    string   `json:"name"`
	Image   string   `json:"image"`
	Command []string `json:"command,omitempty"`
	Args    []string `json:"args,omitempty"`
}

// PodRemark is what the pod table's remark column holds, as JSON: the details of
// the container that decided the row's status.
type PodRemark struct {
	Container string `json:"container,omitempty"`
	Reason    string `json:"reason,omitempty"`
	ExitCode  *int32 `json:"exitCode,omitempty"`
	Message   string `json:"message,omitempty"`
}

// JobRecordFor maps an EphemeralJob to its job row. inEtcd is false for a job seen
// in a delete event.
func JobRecordFor(ej *appsv1alpha1.EphemeralJob, region string, inEtcd bool) JobRecord {
	status := string(ej.Status.Phase)
	if status == "" {
		status = StatusCreated
	}
	rec := JobRecord{
		Name:         clip(ej.Name, maxNameLen),
		Namespace:    clip(ej.Namespace, maxNamespaceLen),
		JobID:        clip(string(ej.UID), maxUIDLen),
		Version:      clip(ej.ResourceVersion, maxVersionLen),
		Status:       clip(status, maxStatusLen),
		Kind:         JobKind,
		Resources:    jobResourcesJSON(&ej.Spec),
		DeployRegion: clip(region, maxRegionLen),
		Tenant:       clip(ej.Annotations[AnnotationTenant], maxTenantLen),
		Owner:        clip(ej.Annotations[AnnotationOwner], maxTenantLen),
		IsInEtcd:     inEtcd,
		MatchCount:   ej.Status.Match,
		Succeeded:    ej.Status.Succeeded,
		Failed:       ej.Status.Failed,
		Running:      ej.Status.Running,
		Waiting:      ej.Status.Waiting,
		GmtCreated:   utc(ej.CreationTimestamp),
		GmtModified:  utc(ej.CreationTimestamp),
		GmtFinished:  utcPtr(ej.Status.CompletionTime),
	}
	var lastTransition time.Time
	for i := range ej.Status.Conditions {
		if t := ej.Status.Conditions[i].LastTransitionTime.Time; t.After(lastTransition) {
			lastTransition = t
		}
	}
	if !lastTransition.IsZero() {
		rec.GmtModified = lastTransition.UTC()
	}
	return rec
}

func jobResourcesJSON(spec *appsv1alpha1.EphemeralJobSpec) string {
	res := JobResources{
		Replicas:    spec.Replicas,
		Parallelism: spec.GetParallelism(),
		Selector:    spec.Selector,
		Containers:  make([]ContainerSummary, 0, len(spec.Template.EphemeralContainers)),
	}
	for i := range spec.Template.EphemeralContainers {
		c := &spec.Template.EphemeralContainers[i]
		res.Containers = append(res.Containers, ContainerSummary{Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args})
	}
	return mustJSON(res)
}

// KnownJob is what the recorder knows of a job to tell the containers its controller
// injected from others: the job's namespace, and the names its containers may have in a
// pod, each mapped to the name of the template container it stands for.
type KnownJob struct {
	Namespace string
	// Containers maps each template container's name, and the name derived from it for
	// pods where it was taken (podstate.DerivedName), to the template container's name.
	Containers map[string]string
}

// KnownJobFor returns what the recorder keeps of a job.
func KnownJobFor(ej *appsv1alpha1.EphemeralJob) KnownJob {
	k := KnownJob{Namespace: ej.Namespace, Containers: map[string]string{}}
	for i := range ej.Spec.Template.EphemeralContainers {
		name := ej.Spec.Template.EphemeralContainers[i].Name
		k.Containers[podstate.DerivedName(name, ej.UID)] = name
	}
	// A template name wins over a derived name that happens to equal it.
	for i := range ej.Spec.Template.EphemeralContainers {
		name := ej.Spec.Template.EphemeralContainers[i].Name
		k.Containers[name] = name
	}
	return k
}

// PodRecordsFor maps a pod to one row per job that owns containers in it, counting only
// the containers its controller injected: a container marks a job by the
// EPHEMERALJOB_UID in its env, which anyone allowed to add ephemeral containers can
// write, so a job counts only when known says it exists in the pod's namespace, and
// only its containers named as in its template, or by the name derived from it
// (podstate.NameMatches), count. A container naming an unknown job, or another
// namespace's, makes no row. inEtcd is false for a pod seen in a delete event.
func PodRecordsFor(pod *corev1.Pod, region string, inEtcd bool, known func(types.UID) (KnownJob, bool)) []PodRecord {
	uids := podstate.JobUIDs(pod)
	if len(uids) == 0 {
		return nil
	}
	recs := make([]PodRecord, 0, len(uids))
	for _, uid := range uids {
		job, ok := known(uid)
		if !ok || job.Namespace != pod.Namespace {
			continue
		}
		if rec, ok := podRecordFor(injectedOnly(pod, uid, job.Containers), uid, region, inEtcd, job.Containers); ok {
			recs = append(recs, rec)
		}
	}
	return recs
}

// injectedOnly returns the pod without the containers that carry the job's UID under
// a name the job's containers cannot have; the pod itself when there are none.
func injectedOnly(pod *corev1.Pod, uid types.UID, names map[string]string) *corev1.Pod {
	forged := 0
	for i := range pod.Spec.EphemeralContainers {
		c := &pod.Spec.EphemeralContainers[i]
		if _, named := names[c.Name]; podstate.IsOwnedBy(c, uid) && !named {
			forged++
		}
	}
	if forged == 0 {
		return pod
	}
	view := *pod
	view.Spec.EphemeralContainers = make([]corev1.EphemeralContainer, 0, len(pod.Spec.EphemeralContainers)-forged)
	for i := range pod.Spec.EphemeralContainers {
		c := &pod.Spec.EphemeralContainers[i]
		if _, named := names[c.Name]; !podstate.IsOwnedBy(c, uid) || named {
			view.Spec.EphemeralContainers = append(view.Spec.EphemeralContainers, *c)
		}
	}
	return &view
}

// RefusedPodRecords maps the targets a job could not inject that status.refused details
// to their pod rows: status Failed, the refusal's reason and message in reason, message and
// remark, the template's first container as replica_type, container_name and image
// (what would have run), no exit code. Nothing ran, so
// gmt_started and gmt_finished stay NULL. The rows carry no resourceVersion: they come
// from the job, whose versions do not compare with the pod's, and a pod that refused
// injection never gets a container of the job that could give it another row. The other
// refused targets are identified by their pods' IDs only (see refusalIDs).
func RefusedPodRecords(ej *appsv1alpha1.EphemeralJob, region string) []PodRecord {
	if len(ej.Status.Refused) == 0 {
		return nil
	}
	tmpl := refusalTemplateOf(ej)
	recs := make([]PodRecord, 0, len(ej.Status.Refused))
	for _, r := range ej.Status.Refused {
		recs = append(recs, tmpl.record(r.Name, r.UID, r.Reason, r.Message, region))
	}
	return recs
}

// refusalTemplate is what a refused target's row takes from its job.
type refusalTemplate struct {
	jobUID                      types.UID
	namespace, container, image string
}

func refusalTemplateOf(ej *appsv1alpha1.EphemeralJob) refusalTemplate {
	t := refusalTemplate{jobUID: ej.UID, namespace: ej.Namespace}
	if cs := ej.Spec.Template.EphemeralContainers; len(cs) > 0 {
		t.container, t.image = cs[0].Name, cs[0].Image
	}
	return t
}

// record returns the row of a refused target (see RefusedPodRecords).
func (t refusalTemplate) record(pod string, podUID types.UID, reason, message, region string) PodRecord {
	message = clipBytes(message, MaxMessageBytes)
	remark := PodRemark{Container: t.container, Reason: reason, Message: message}
	return PodRecord{
		Name:          clip(pod, maxNameLen),
		Namespace:     clip(t.namespace, maxNamespaceLen),
		PodID:         clip(string(podUID), maxUIDLen),
		Status:        PodStatusFailed,
		Image:         clip(t.image, maxImageLen),
		JobID:         clip(string(t.jobUID), maxUIDLen),
		ReplicaType:   clip(t.container, maxReplicaLen),
		ContainerName: clip(t.container, maxContainerLen),
		Reason:        clip(reason, maxReasonLen),
		Message:       message,
		DeployRegion:  clip(region, maxRegionLen),
		IsInEtcd:      true,
		Remark:        mustJSON(remark),
	}
}

// refusalIDs finds, among the pods of a job's namespace, the refused targets that the job's
// status.refusals identifies by their pods' IDs (podstate.RefusedID) and status.refused does
// not detail: the status keeps the first ten refusals in detail, and past them only these
// IDs, so that without them the history would keep ten refused targets of a thousand.
type refusalIDs struct {
	refusalTemplate
	// reasons maps each ID to the reason its refusal is counted under.
	reasons  map[string]string
	detailed map[types.UID]bool
}

// newRefusalIDs returns the job's refusal IDs, or nil when its status identifies no pod.
func newRefusalIDs(ej *appsv1alpha1.EphemeralJob) *refusalIDs {
	reasons := podstate.RefusedIDs(ej.Status.Refusals)
	if reasons == nil {
		return nil
	}
	m := &refusalIDs{refusalTemplate: refusalTemplateOf(ej), reasons: reasons,
		detailed: make(map[types.UID]bool, len(ej.Status.Refused))}
	for _, r := range ej.Status.Refused {
		m.detailed[r.UID] = true
	}
	return m
}

// recordFor returns the row of the pod when the job's status identifies it as refused: as
// RefusedPodRecords' rows, with the reason the refusal is counted under and no message (the
// status keeps none for it), and the pod's addresses and creation time. A pod holding
// containers of the job is its target, not a refusal, whatever its ID. inEtcd is false for
// a pod seen in a delete event.
func (m *refusalIDs) recordFor(pod *corev1.Pod, region string, inEtcd bool) (PodRecord, bool) {
	if pod.Namespace != m.namespace || m.detailed[pod.UID] {
		return PodRecord{}, false
	}
	reason, ok := m.reasons[podstate.RefusedID(pod.UID)]
	if !ok || slices.Contains(podstate.JobUIDs(pod), m.jobUID) {
		return PodRecord{}, false
	}
	rec := m.record(pod.Name, pod.UID, reason, "", region)
	rec.Message = ""
	rec.HostIP, rec.PodIP = clip(pod.Status.HostIP, maxIPLen), clip(pod.Status.PodIP, maxIPLen)
	rec.GmtCreated = utc(pod.CreationTimestamp)
	rec.GmtModified = rec.GmtCreated
	rec.IsInEtcd = inEtcd
	return rec, true
}

// identifiedRefusalRecords returns the rows of the pods that the jobs' statuses identify as
// refused (see refusalIDs), for jobs and pods listed together (maintain, reread).
func identifiedRefusalRecords(jobs []appsv1alpha1.EphemeralJob, pods []corev1.Pod, region string) []PodRecord {
	byNamespace := map[string][]*refusalIDs{}
	for i := range jobs {
		if m := newRefusalIDs(&jobs[i]); m != nil {
			byNamespace[m.namespace] = append(byNamespace[m.namespace], m)
		}
	}
	if len(byNamespace) == 0 {
		return nil
	}
	var recs []PodRecord
	for i := range pods {
		for _, m := range byNamespace[pods[i].Namespace] {
			if rec, ok := m.recordFor(&pods[i], region, true); ok {
				recs = append(recs, rec)
			}
		}
	}
	return recs
}

// PodRecordFor maps a pod to its row for one job, and false when the job owns no
// container in the pod. inEtcd is false for a pod seen in a delete event; its row then
// says PodStatusUnknown unless the job's containers had finished. It counts every
// container carrying the job's UID, and records the name of the deciding container as
// both replica_type and container_name; PodRecordsFor checks the names against the job.
func PodRecordFor(pod *corev1.Pod, jobUID types.UID, region string, inEtcd bool) (PodRecord, bool) {
	return podRecordFor(pod, jobUID, region, inEtcd, nil)
}

// podRecordFor is PodRecordFor with the job's container names (see KnownJob.Containers):
// replica_type is the template name the deciding container stands for, container_name
// the name it has in the pod.
func podRecordFor(pod *corev1.Pod, jobUID types.UID, region string, inEtcd bool, names map[string]string) (PodRecord, bool) {
	res, ok := podstate.Evaluate(pod, jobUID)
	if !ok {
		return PodRecord{}, false
	}
	replicaType := res.Container
	if t, ok := names[res.Container]; ok {
		replicaType = t
	}
	message := clipBytes(res.Message, MaxMessageBytes)
	res.Message = message
	rec := PodRecord{
		Name:          clip(pod.Name, maxNameLen),
		Namespace:     clip(pod.Namespace, maxNamespaceLen),
		PodID:         clip(string(pod.UID), maxUIDLen),
		Version:       clip(pod.ResourceVersion, maxVersionLen),
		Status:        podStatus(res.Outcome, inEtcd),
		JobID:         clip(string(jobUID), maxUIDLen),
		ReplicaType:   clip(replicaType, maxReplicaLen),
		ContainerName: clip(res.Container, maxContainerLen),
		ExitCode:      copyInt32(res.ExitCode),
		Reason:        clip(res.Reason, maxReasonLen),
		Message:       message,
		HostIP:        clip(pod.Status.HostIP, maxIPLen),
		PodIP:         clip(pod.Status.PodIP, maxIPLen),
		DeployRegion:  clip(region, maxRegionLen),
		IsInEtcd:      inEtcd,
		Remark:        podRemarkJSON(res),
		GmtCreated:    utc(pod.CreationTimestamp),
		GmtStarted:    utcPtr(res.StartedAt),
		GmtFinished:   utcPtr(res.FinishedAt),
	}
	rec.GmtModified = rec.GmtCreated
	for _, t := range []*time.Time{rec.GmtStarted, rec.GmtFinished} {
		if t != nil && t.After(rec.GmtModified) {
			rec.GmtModified = *t
		}
	}
	target := ""
	for i := range pod.Spec.EphemeralContainers {
		if c := &pod.Spec.EphemeralContainers[i]; c.Name == res.Container {
			rec.Image = clip(c.Image, maxImageLen)
			target = c.TargetContainerName
			break
		}
	}
	rec.Resources = mustJSON(targetResources(pod, target))
	return rec, true
}

func podStatus(o podstate.Outcome, inEtcd bool) string {
	if !inEtcd && !o.IsFinished() {
		return PodStatusUnknown
	}
	switch o {
	case podstate.Waiting:
		return PodStatusPending
	case podstate.Running:
		return PodStatusRunning
	case podstate.Succeeded:
		return PodStatusSucceeded
	case podstate.Failed:
		return PodStatusFailed
	}
	return PodStatusUnknown
}

// targetResources returns the resource requirements of the named container of the
// pod, or none when the ephemeral container targets no container.
func targetResources(pod *corev1.Pod, name string) corev1.ResourceRequirements {
	if name == "" {
		return corev1.ResourceRequirements{}
	}
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return list[i].Resources
			}
		}
	}
	return corev1.ResourceRequirements{}
}

// podRemarkJSON returns the remark of a result whose message is already bounded.
func podRemarkJSON(res podstate.Result) string {
	r := PodRemark{Container: res.Container, Reason: res.Reason, ExitCode: res.ExitCode, Message: res.Message}
	if r.Reason == "" && r.ExitCode == nil && r.Message == "" {
		return ""
	}
	return mustJSON(r)
}

// mustJSON marshals values that cannot fail to marshal: plain structs of strings,
// numbers and Kubernetes API types.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// clip cuts s to at most n characters, on a character boundary, replacing invalid UTF-8.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// clipBytes cuts s to at most n bytes, on a character boundary, replacing invalid UTF-8
// first, so that the result is valid UTF-8 however s was cut or forged.
func clipBytes(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func copyInt32(p *int32) *int32 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func utc(t metav1.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func utcPtr(t *metav1.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
