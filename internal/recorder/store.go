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
	"context"
	"time"
)

// JobRecord is one row of the job table: an EphemeralJob as last observed.
type JobRecord struct {
	// ID is the row's id, assigned by the database; it is ignored on writes.
	ID int64
	// Name and Namespace name the job.
	Name      string
	Namespace string
	// JobID is the job's UID.
	JobID string
	// Version is the job's resourceVersion; it orders the observations of the job (see MySQLStore).
	Version string
	// Status is the job's phase, or StatusCreated before the controller set one.
	Status string
	// Kind is always JobKind.
	Kind string
	// Resources is the JSON of a JobResources.
	Resources string
	// DeployRegion is the region the recorder runs in.
	DeployRegion string
	// Tenant and Owner come from the AnnotationTenant and AnnotationOwner annotations.
	Tenant string
	Owner  string
	// IsInEtcd is true while the job exists in the API server.
	IsInEtcd bool
	// MatchCount, Succeeded, Failed, Running and Waiting are the job's status counts.
	MatchCount int32
	Succeeded  int32
	Failed     int32
	Running    int32
	Waiting    int32
	// GmtCreated is the job's creation time; GmtModified the time of its last status
	// change; GmtFinished its completion time. Zero or nil means unknown (NULL).
	GmtCreated  time.Time
	GmtModified time.Time
	GmtFinished *time.Time
}

// PodRecord is one row of the pod table: one pod as last observed, for one job.
type PodRecord struct {
	// ID is the row's id, assigned by the database; it is ignored on writes.
	ID int64
	// Name and Namespace name the pod.
	Name      string
	Namespace string
	// PodID is the pod's UID.
	PodID string
	// Version is the pod's resourceVersion; it orders the observations of the row (see MySQLStore).
	Version string
	// Status is the state of the job's containers in the pod: one of PodStatusPending,
	// PodStatusRunning, PodStatusSucceeded, PodStatusFailed and PodStatusUnknown.
	Status string
	// Image and ReplicaType are the image and name of the job's container that decided Status.
	Image       string
	ReplicaType string
	// JobID is the UID of the job that owns the containers.
	JobID string
	// Resources is the JSON of the target container's corev1.ResourceRequirements.
	Resources string
	// HostIP and PodIP are the pod's addresses.
	HostIP string
	PodIP  string
	// DeployRegion is the region the recorder runs in.
	DeployRegion string
	// IsInEtcd is true while the pod exists in the API server.
	IsInEtcd bool
	// Remark is the JSON of a PodRemark, or empty.
	Remark string
	// ContainerName is the name the job's deciding container has in the pod: the template's
	// name, or the name derived from it when that was taken (see podstate.DerivedName).
	ContainerName string
	// ExitCode, Reason and Message are that container's result: its exit code (nil until it
	// ended), the kubelet's or the job's reason, and its termination message (bounded).
	ExitCode *int32
	Reason   string
	Message  string
	// Output is the container's output, fetched once when it finished if the recorder was
	// asked to (bounded); empty otherwise. OutputRecorded, set on reads, tells an output
	// that was fetched and empty from one never fetched.
	Output         string
	OutputRecorded bool
	// GmtCreated is the pod's creation time; GmtModified the time of the last change of
	// the job's containers; GmtStarted and GmtFinished span them. Zero or nil means NULL.
	GmtCreated  time.Time
	GmtModified time.Time
	GmtStarted  *time.Time
	GmtFinished *time.Time
}

// JobFilter selects jobs for ListJobs. Zero fields do not filter.
type JobFilter struct {
	Namespace string
	// Name selects jobs of this name; jobs re-created under one name have one row each.
	Name string
	// JobID selects the job of this UID.
	JobID  string
	Status string
	// CreatedAfter and CreatedBefore bound gmt_created: after <= created < before.
	CreatedAfter  time.Time
	CreatedBefore time.Time
	// NewestFirst returns rows in descending id order (the newest row first) instead
	// of ascending.
	NewestFirst bool
	// AfterID is the cursor: only rows after it in the chosen order are returned (a
	// larger id, or a smaller one with NewestFirst). Pass the ID of the last row of the
	// previous page; 0 starts at the first row.
	AfterID int64
	// Limit caps the rows returned: DefaultListLimit when 0, at most MaxListLimit.
	Limit int
}

// ListJobs page sizes.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// Exists reports whether the object with this namespace, name and UID is still in the
// API server (its cache). An error means "cannot tell", and the row is left alone.
type Exists func(ctx context.Context, namespace, name, uid string) (bool, error)

// Store persists job and pod records. Its writes are idempotent and keyed by UID:
// a record never replaces a row written from a later observation (a deletion after
// every live state, then a larger resourceVersion; see compareObservations), and a row
// marked gone (IsInEtcd false) never comes back.
type Store interface {
	// UpsertJobs inserts or updates job rows by job_id.
	UpsertJobs(ctx context.Context, jobs []JobRecord) error
	// UpsertPods inserts or updates pod rows by (job_id, pod_id).
	UpsertPods(ctx context.Context, pods []PodRecord) error
	// InsertMissingJobs inserts the jobs that have no row yet, leaves existing rows
	// untouched and returns how many it inserted.
	InsertMissingJobs(ctx context.Context, jobs []JobRecord) (int, error)
	// InsertMissingPods inserts the pods that have no row yet, leaves existing rows
	// untouched and returns how many it inserted.
	InsertMissingPods(ctx context.Context, pods []PodRecord) (int, error)
	// SweepJobs marks gone every job row still marked present whose job no longer
	// exists, keeping its last state, and returns how many it marked.
	SweepJobs(ctx context.Context, exists Exists) (int, error)
	// SweepPods marks gone every pod row still marked present whose pod no longer
	// exists, turning an unfinished status into PodStatusUnknown, and returns how many it marked.
	SweepPods(ctx context.Context, exists Exists) (int, error)
	// ListJobs returns job rows matching the filter, in id order (descending with NewestFirst).
	ListJobs(ctx context.Context, filter JobFilter) ([]JobRecord, error)
	// ListPods returns the pod rows of one job, in id order.
	ListPods(ctx context.Context, jobUID string) ([]PodRecord, error)
}
