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
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
)

// The objects -o prints (json, yaml, jsonpath, go-template, custom-columns) are Lists, as
// kubectl prints several objects: their items are what the table's rows are, so that
// `-o custom-columns=POD:.metadata.name,STATUS:.status` and `-o jsonpath='{.items[*]...}'`
// work as they do on kubectl's own. A target and a group are client-side kinds named after
// the job's API, which no API server serves; a job of the history is an EphemeralJob
// rebuilt from its row. docs/kubectl-ejob.md documents every field.
const (
	// KindTarget is the kind of a target's item: its pod in metadata, its result beside.
	KindTarget = "EphemeralJobTarget"
	// KindResultGroup is the kind of a group's item, with --group.
	KindResultGroup = "EphemeralJobResultGroup"
)

// listTypeMeta is the type of every List printed, as kubectl's.
var listTypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "List"}

// objectMeta is the metadata of an item: the pod of a target, the job of a history row.
type objectMeta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace,omitempty"`
	UID               string            `json:"uid,omitempty"`
	CreationTimestamp *metav1.Time      `json:"creationTimestamp,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
}

// targetItem is a target as -o prints it.
type targetItem struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        objectMeta `json:"metadata"`
	*Target         `json:",inline"`
}

// groupItem is a group of targets as -o prints it, with --group.
type groupItem struct {
	metav1.TypeMeta `json:",inline"`
	*Group          `json:",inline"`
}

// viewList is what `results` and `history pods` print with -o: a List whose items are the
// view's targets (its groups with --group), and the job they belong to.
type viewList struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        struct{} `json:"metadata"`
	Job             JobInfo  `json:"job"`
	Items           []any    `json:"items"`
	// Missing and Unidentified are View's.
	Missing      int64 `json:"missing,omitempty"`
	Unidentified int64 `json:"unidentified,omitempty"`
}

func itemTypeMeta(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: appsv1alpha1.GroupVersion.String(), Kind: kind}
}

// viewObject returns what -o prints of a view: with -o name the targets' pods, as
// `kubectl get pods -o name` names them; otherwise the viewList.
func viewObject(v *View, name bool) (runtime.Object, error) {
	if name {
		names := &unstructured.UnstructuredList{Object: map[string]any{}}
		names.SetGroupVersionKind(listTypeMeta.GroupVersionKind())
		for _, t := range v.Targets {
			u := unstructured.Unstructured{}
			u.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Pod"))
			u.SetName(t.Pod)
			u.SetNamespace(v.Job.Namespace)
			names.Items = append(names.Items, u)
		}
		return names, nil
	}
	list := viewList{TypeMeta: listTypeMeta, Job: v.Job, Items: []any{}, Missing: v.Missing,
		Unidentified: v.Unidentified}
	for i := range v.Targets {
		t := &v.Targets[i]
		list.Items = append(list.Items, targetItem{TypeMeta: itemTypeMeta(KindTarget),
			Metadata: objectMeta{Name: t.Pod, Namespace: v.Job.Namespace, UID: t.uid}, Target: t})
	}
	for i := range v.Groups {
		list.Items = append(list.Items, groupItem{TypeMeta: itemTypeMeta(KindResultGroup), Group: &v.Groups[i]})
	}
	return toUnstructuredList(list)
}

// historyJobItem is a job row as -o prints it: the EphemeralJob it was, as far as the row
// keeps it, and what the history adds.
type historyJobItem struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        objectMeta       `json:"metadata"`
	Status          historyJobStatus `json:"status"`
	History         historyInfo      `json:"history"`
}

// historyJobStatus is the part of the job's status its row keeps.
type historyJobStatus struct {
	// Phase is the job's phase; empty while the controller had set none (the row says Created).
	Phase          string       `json:"phase,omitempty"`
	Match          int32        `json:"match"`
	Succeeded      int32        `json:"succeeded"`
	Failed         int32        `json:"failed"`
	Running        int32        `json:"running"`
	Waiting        int32        `json:"waiting"`
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
}

// historyInfo is what the history knows of a job beyond the job itself.
type historyInfo struct {
	// InEtcd is false once the job was deleted from the API server.
	InEtcd bool `json:"inEtcd"`
	// ModifiedAt is when the job last changed, as the recorder saw it.
	ModifiedAt *metav1.Time `json:"modifiedAt,omitempty"`
	// Region is the region of the recorder that wrote the row.
	Region string `json:"region,omitempty"`
}

// historyJobsObject returns what `history jobs` prints with -o: a List of EphemeralJobs,
// which -o name names as kubectl names ejobs.
func historyJobsObject(jobs []recorder.JobRecord) (runtime.Object, error) {
	list := viewList{TypeMeta: listTypeMeta, Items: []any{}}
	for _, j := range jobs {
		item := historyJobItem{TypeMeta: itemTypeMeta("EphemeralJob"),
			Metadata: objectMeta{Name: j.Name, Namespace: j.Namespace, UID: j.JobID, CreationTimestamp: metaTime(j.GmtCreated)},
			Status: historyJobStatus{Match: j.MatchCount, Succeeded: j.Succeeded, Failed: j.Failed,
				Running: j.Running, Waiting: j.Waiting, CompletionTime: metaTimePtr(j.GmtFinished)},
			History: historyInfo{InEtcd: j.IsInEtcd, ModifiedAt: metaTime(j.GmtModified), Region: j.DeployRegion}}
		if j.Status != recorder.StatusCreated {
			item.Status.Phase = j.Status
		}
		for k, v := range map[string]string{recorder.AnnotationTenant: j.Tenant, recorder.AnnotationOwner: j.Owner} {
			if v != "" {
				if item.Metadata.Annotations == nil {
					item.Metadata.Annotations = map[string]string{}
				}
				item.Metadata.Annotations[k] = v
			}
		}
		list.Items = append(list.Items, item)
	}
	u, err := toUnstructuredList(list)
	if err != nil {
		return nil, err
	}
	// A List of jobs has no job of its own.
	delete(u.Object, "job")
	return u, nil
}

// toUnstructuredList turns a list into the unstructured form the printers take: the
// JSON printer then prints the keys sorted, as kubectl prints what the API server sends,
// and -o name and custom-columns find each item's kind and fields.
func toUnstructuredList(list any) (*unstructured.UnstructuredList, error) {
	b, err := json.Marshal(list)
	if err != nil {
		return nil, fmt.Errorf("encoding the output: %w", err)
	}
	u := &unstructured.UnstructuredList{}
	if err := u.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("encoding the output: %w", err)
	}
	return u, nil
}

// metaTime returns a row's time for an object, nil when it is unknown.
func metaTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	return &metav1.Time{Time: t.UTC()}
}

func metaTimePtr(t *time.Time) *metav1.Time {
	if t == nil {
		return nil
	}
	return metaTime(*t)
}
