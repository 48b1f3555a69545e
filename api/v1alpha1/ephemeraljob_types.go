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

package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// EphemeralJobSpec is the desired state of an EphemeralJob: which pods to run in,
// how many at once, and what to run.
type EphemeralJobSpec struct {
	// Selector picks the pods, in the job's namespace, that get the ephemeral containers.
	// +required
	Selector *metav1.LabelSelector `json:"selector"`

	// Replicas is the most pods this job ever targets over its whole life.
	// Unset means every matching pod, including pods that start running while the job is unfinished.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Parallelism is the most targets that may have an unfinished ephemeral container at once.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	// +kubebuilder:default=1
	// +optional
	Parallelism *int32 `json:"parallelism,omitempty"`

	// Template holds the ephemeral containers injected into each target pod.
	// +required
	Template EphemeralContainerTemplateSpec `json:"template"`

	// TTLSecondsAfterCreated deletes the job this many seconds after it was created,
	// finished or not. Unset means never.
	// +kubebuilder:validation:Minimum=0
	// +optional
	TTLSecondsAfterCreated *int32 `json:"ttlSecondsAfterCreated,omitempty"`

	// TTLSecondsAfterFinished deletes the job this many seconds after it finished.
	// Unset means never.
	// +kubebuilder:validation:Minimum=0
	// +optional
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`

	// ActiveDeadlineSeconds fails the job this many seconds after it started;
	// no container is injected after that.
	// +kubebuilder:validation:Minimum=1
	// +optional
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`

	// Paused stops new injections; containers already injected keep running and are counted.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// StartDeadlineSeconds is how long a target's containers may take to start after they
	// were injected (an image pull, a Secret that does not exist yet, a node that stopped
	// answering). Past it the target counts as failed with the kubelet's last waiting reason,
	// so that it frees its parallelism slot and the job can finish. Unset means 300 seconds.
	// +kubebuilder:validation:Minimum=1
	// +optional
	StartDeadlineSeconds *int32 `json:"startDeadlineSeconds,omitempty"`

	// FailureBudget stops the job once this many targets failed: no new target starts,
	// the running ones finish, and the job ends Failed with reason FailureBudgetExceeded,
	// sparing the pods it had not reached. A command that fails everywhere then fails on
	// a few pods, not on the whole fleet. The failed targets never pass
	// failureBudget + parallelism - 1. Unset means the job runs on every target whatever
	// fails.
	// +kubebuilder:validation:Minimum=1
	// +optional
	FailureBudget *int32 `json:"failureBudget,omitempty"`

	// MaxEphemeralContainersPerPod refuses a pod that would hold more ephemeral containers
	// than this with the job's: ephemeral containers can never be removed from a pod, so
	// each run grows its spec, and every watch event of it, for the pod's lifetime. A pod
	// whose object nears the size etcd accepts is refused whatever this says. Unset means 50.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	MaxEphemeralContainersPerPod *int32 `json:"maxEphemeralContainersPerPod,omitempty"`
}

// EphemeralContainerTemplateSpec describes the ephemeral containers added to each target pod.
type EphemeralContainerTemplateSpec struct {
	// EphemeralContainers are added to each target pod, in this order.
	// +kubebuilder:validation:MinItems=1
	// +listType=atomic
	// +required
	EphemeralContainers []corev1.EphemeralContainer `json:"ephemeralContainers"`
}

// EphemeralJobPhase is the lifecycle phase of an EphemeralJob.
// +kubebuilder:validation:Enum=Waiting;Running;Succeeded;Failed;Error;Paused
type EphemeralJobPhase string

const (
	// EphemeralJobWaiting means no ephemeral container has started yet, or no pod matches.
	EphemeralJobWaiting EphemeralJobPhase = "Waiting"
	// EphemeralJobRunning means containers were injected and not every target has finished.
	EphemeralJobRunning EphemeralJobPhase = "Running"
	// EphemeralJobSucceeded means every target finished and none failed.
	EphemeralJobSucceeded EphemeralJobPhase = "Succeeded"
	// EphemeralJobFailed means every target finished and at least one failed, the failure
	// budget was spent, or the deadline passed.
	EphemeralJobFailed EphemeralJobPhase = "Failed"
	// EphemeralJobError means the job cannot run at all (for example, an invalid selector).
	EphemeralJobError EphemeralJobPhase = "Error"
	// EphemeralJobPaused means spec.paused is set and the job is unfinished.
	EphemeralJobPaused EphemeralJobPhase = "Paused"
)

// IsFinished reports whether the phase is terminal.
func (p EphemeralJobPhase) IsFinished() bool {
	return p == EphemeralJobSucceeded || p == EphemeralJobFailed
}

// EphemeralJobStatus is the observed state of an EphemeralJob.
//
// Every target pod is in exactly one of succeeded, failed, running and waiting,
// so match = succeeded + failed + running + waiting at all times.
type EphemeralJobStatus struct {
	// Phase is where the job is in its lifecycle.
	// +optional
	Phase EphemeralJobPhase `json:"phase,omitempty"`

	// Match is the number of target pods.
	// +kubebuilder:default=0
	// +optional
	Match int32 `json:"match"`

	// Succeeded is the number of targets whose containers all exited 0.
	// +kubebuilder:default=0
	// +optional
	Succeeded int32 `json:"succeeded"`

	// Failed is the number of targets where a container failed, could not start,
	// was refused at injection, or whose pod vanished before it finished.
	// +kubebuilder:default=0
	// +optional
	Failed int32 `json:"failed"`

	// Running is the number of targets with a running container.
	// +kubebuilder:default=0
	// +optional
	Running int32 `json:"running"`

	// Waiting is the number of targets not started yet, injected or not.
	// +kubebuilder:default=0
	// +optional
	Waiting int32 `json:"waiting"`

	// Targeted is the number of pods this job has committed to (injected or refused).
	// Each got its own index, carried by its containers in the EPHEMERALJOB_INDEX environment
	// variable; an index is never given twice, and an injection that was never applied leaves
	// a gap.
	// +optional
	Targeted int32 `json:"targeted,omitempty"`

	// IndexLimit is one more than the highest index the job may have given: it is written
	// before any index at or above the previous limit is used, so a container that claims a
	// higher index was not injected by the job and is not counted.
	// +optional
	IndexLimit int32 `json:"indexLimit,omitempty"`

	// ActiveIndexes lists the indexes of targets injected and not finished, as ranges; a target
	// listed here whose pod is gone failed.
	// +optional
	ActiveIndexes string `json:"activeIndexes,omitempty"`

	// SucceededIndexes lists the indexes of targets that succeeded, as ranges ("0-3,7").
	// With failedIndexes it keeps each result after its pod is gone.
	// +optional
	SucceededIndexes string `json:"succeededIndexes,omitempty"`

	// FailedIndexes lists the indexes of targets that failed, as ranges ("4,6").
	// +optional
	FailedIndexes string `json:"failedIndexes,omitempty"`

	// RefusedIndexes lists the indexes of targets that refused injection, as ranges; they are
	// among failedIndexes.
	// +optional
	RefusedIndexes string `json:"refusedIndexes,omitempty"`

	// IndexListsTruncated is set once succeededIndexes, failedIndexes and refusedIndexes
	// together would pass 32 KiB (outcomes that alternate make a range per target): they
	// then keep only the ranges they had, and succeeded, failed and closedIndexes carry the
	// results. `kubectl ejob results` lists every target.
	// +optional
	IndexListsTruncated bool `json:"indexListsTruncated,omitempty"`

	// ClosedIndexes lists, as ranges, the indexes that are never counted again: finished
	// targets, and indexes given to injections that never landed. Outcomes do not split it,
	// so it stays a few ranges whatever they are.
	// +optional
	ClosedIndexes string `json:"closedIndexes,omitempty"`

	// Refusals counts the targets that refused injection, by reason.
	// +listType=map
	// +listMapKey=reason
	// +optional
	Refusals []ReasonCount `json:"refusals,omitempty"`

	// Refused details the first refusals (at most 10), so that the status stays small
	// whatever the number of refusals.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	// +optional
	Refused []RefusedPod `json:"refused,omitempty"`

	// Results folds the finished targets' results: targets that ended with the same exit
	// code, reason and message share one group, with a count and a few of their pods, the
	// way identical output of many hosts is folded. At most 10 groups, in the order they
	// first appeared; targets whose result would open an eleventh are counted in
	// otherResults. `kubectl ejob results` lists every target.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	// +optional
	Results []ResultGroup `json:"results,omitempty"`

	// OtherResults counts the finished targets whose result is in no group of results.
	// +optional
	OtherResults int32 `json:"otherResults,omitempty"`

	// StartTime is when the controller started the job; activeDeadlineSeconds counts from it.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// CompletionTime is when the job finished.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// Conditions say in words what happened to the job.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the spec generation this status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// RefusedPod is a target pod that could not be injected.
type RefusedPod struct {
	// Index is the target index the pod was given.
	Index int32 `json:"index"`
	// Name is the pod's name.
	Name string `json:"name"`
	// UID is the pod's UID.
	UID types.UID `json:"uid"`
	// Reason is a CamelCase reason such as TargetContainerNotFound.
	Reason string `json:"reason"`
	// Message says why, in words.
	// +optional
	Message string `json:"message,omitempty"`
}

// ResultGroup is a set of finished targets that ended the same way.
type ResultGroup struct {
	// Succeeded is true when these targets succeeded.
	Succeeded bool `json:"succeeded"`
	// ExitCode is the exit code of the container that decided the result, when it ended.
	// +optional
	ExitCode *int32 `json:"exitCode,omitempty"`
	// Reason is the kubelet's reason (Completed, Error, ErrImageNeverPull) or the job's
	// (StartDeadlineExceeded, PodVanished, a refusal's), at most 128 bytes.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message is the termination message (the tail of the output, with
	// terminationMessagePolicy FallbackToLogsOnError) or the job's explanation, at most 256 bytes.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Message string `json:"message,omitempty"`
	// Count is the number of targets in the group.
	Count int32 `json:"count"`
	// Pods names the first few targets of the group (at most 3), as pod/container.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=3
	// +kubebuilder:validation:items:MaxLength=317
	// +optional
	Pods []string `json:"pods,omitempty"`
}

// MaxResultGroups is how many groups status.results holds.
const MaxResultGroups = 10

// MaxResultSamples is how many pods a result group names.
const MaxResultSamples = 3

// ReasonCount is how many targets share a reason.
type ReasonCount struct {
	// Reason is a CamelCase reason such as TargetContainerNotFound.
	Reason string `json:"reason"`
	// Count is the number of targets.
	Count int32 `json:"count"`
	// PodIDs identifies the pods of these refusals that refused does not detail, 8
	// characters per pod (48 bits of a hash of its UID), so that a restarted controller
	// neither tries them again nor counts them twice. All reasons together identify at most
	// MaxRefusedIDs pods; refusals past that are told apart by reason only.
	// +kubebuilder:validation:MaxLength=32768
	// +optional
	PodIDs string `json:"podIDs,omitempty"`
}

// MaxRefusedIDs is how many refused pods status.refusals identifies, all reasons together.
const MaxRefusedIDs = 4096

// MaxIndexListBytes bounds succeededIndexes, failedIndexes and refusedIndexes together.
const MaxIndexListBytes = 32 << 10

// MaxRefusedListed is how many refusals status.refused details.
const MaxRefusedListed = 10

// DefaultStartDeadlineSeconds is used when spec.startDeadlineSeconds is unset.
const DefaultStartDeadlineSeconds int32 = 300

// Condition types of an EphemeralJob.
const (
	// ConditionComplete is True once every target succeeded, as for a batch/v1 Job: a
	// failed job never has it, so `kubectl wait --for=condition=Complete` waits for success.
	ConditionComplete = "Complete"
	// ConditionFailed is True once the job has failed; its reason says how: TargetsFailed,
	// FailureBudgetExceeded, DeadlineExceeded or NoTargets.
	ConditionFailed = "Failed"
	// ConditionProgressing is True while targets are unfinished.
	ConditionProgressing = "Progressing"
	// ConditionInjectionFailed is True when at least one pod refused injection.
	ConditionInjectionFailed = "InjectionFailed"
	// ConditionForgedContainers is True while pods hold containers that carry the job's UID
	// but that the job did not inject; they are not counted.
	ConditionForgedContainers = "ForgedContainers"
	// ConditionStatusTrimmed is True once the API server refused a status write as invalid:
	// the status is then written without the part it refused (result groups, refused pods'
	// details), counts and phase intact.
	ConditionStatusTrimmed = "StatusTrimmed"
	// ConditionForeignStatusWriter is True once a field manager other than the operator wrote
	// the job's status after the operator did: another controller acts on the same kind
	// (OpenKruise installs the same CRD), and the two overwrite each other's status.
	ConditionForeignStatusWriter = "ForeignStatusWriter"
)

// Condition reasons of an EphemeralJob.
const (
	ReasonNoMatchingPods          = "NoMatchingPods"
	ReasonInjecting               = "Injecting"
	ReasonPaused                  = "Paused"
	ReasonAllSucceeded            = "AllSucceeded"
	ReasonTargetsFailed           = "TargetsFailed"
	ReasonFailureBudgetExceeded   = "FailureBudgetExceeded"
	ReasonDeadlineExceeded        = "DeadlineExceeded"
	ReasonNoTargets               = "NoTargets"
	ReasonInvalidSelector         = "InvalidSelector"
	ReasonTargetContainerNotFound = "TargetContainerNotFound"
	ReasonContainerNameTaken      = "ContainerNameTaken"
	ReasonInjectionRefused        = "InjectionRefused"
	ReasonPodVanished             = "PodVanished"
	ReasonNoRefusals              = "NoRefusals"
	ReasonStartDeadlineExceeded   = "StartDeadlineExceeded"
	ReasonIndexOutOfRange         = "IndexOutOfRange"
	ReasonIndexClaimedTwice       = "IndexClaimedTwice"
	ReasonTemplateMismatch        = "TemplateMismatch"
	ReasonStatusFieldRefused      = "StatusFieldRefused"
	// ReasonTooManyEphemeralContainers refuses a pod that would pass maxEphemeralContainersPerPod.
	ReasonTooManyEphemeralContainers = "TooManyEphemeralContainers"
	// ReasonPodTooLarge refuses a pod whose object would near the size etcd accepts.
	ReasonPodTooLarge = "PodTooLarge"
	// ReasonAnotherStatusWriter says which field manager wrote the status (ConditionForeignStatusWriter).
	ReasonAnotherStatusWriter = "AnotherStatusWriter"
	// FieldManager is the name the operator writes jobs' status and pods' ephemeral containers under.
	FieldManager = "ephemeraljob-operator"
)

// Environment variables set in every injected container.
const (
	// EnvJobName carries the job's name, as in the proposal's Story 2.
	EnvJobName = "ephemeraljob"
	// EnvJobUID carries the job's UID; it marks which containers of a pod the job owns.
	EnvJobUID = "EPHEMERALJOB_UID"
	// EnvJobIndex carries the pod's target index within the job.
	EnvJobIndex = "EPHEMERALJOB_INDEX"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ejob
// +kubebuilder:printcolumn:name="STATUS",type=string,JSONPath=`.status.phase`,description="The phase of the job"
// +kubebuilder:printcolumn:name="MATCH",type=integer,JSONPath=`.status.match`,description="Number of target pods"
// +kubebuilder:printcolumn:name="SUCCEED",type=integer,JSONPath=`.status.succeeded`,description="Targets that succeeded"
// +kubebuilder:printcolumn:name="FAILED",type=integer,JSONPath=`.status.failed`,description="Targets that failed"
// +kubebuilder:printcolumn:name="RUNNING",type=integer,JSONPath=`.status.running`,description="Targets running"
// +kubebuilder:printcolumn:name="WAITING",type=integer,JSONPath=`.status.waiting`,description="Targets waiting"
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`

// EphemeralJob runs ephemeral containers in every pod matching a selector.
type EphemeralJob struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   EphemeralJobSpec   `json:"spec"`
	Status EphemeralJobStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// EphemeralJobList contains a list of EphemeralJob.
type EphemeralJobList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EphemeralJob `json:"items"`
}
