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
	"slices"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
)

// TrimPod is the cache transform for pods. The cache holds every pod of the cluster, so
// it keeps only what the controller and the recorder read, in a newly allocated pod:
//
//   - metadata: name, namespace, UID, resourceVersion, creation and deletion timestamps,
//     labels, when the ephemeral containers were last written (a managed fields entry
//     holding only its subresource and time), and for a large pod its size (an annotation);
//   - spec: the containers' and init containers' names and restart policies, the resources
//     of the containers an ephemeral container targets (the recorder records them), and the
//     ephemeral containers whole (an injection sends them back to the ephemeralcontainers
//     subresource, which refuses any change to an existing one);
//   - status: phase, host and pod IPs, and each ephemeral container's name and state.
//
// The copy is compact: a pod decoded from the API server is many small objects, and
// keeping some of them in place would leave the rest of their memory spans unusable; the
// kept parts are allocated together instead. Strings that repeat across pods
// (namespace, label keys and values, container names, phase, host IP, the strings a
// job's ephemeral containers repeat from pod to pod and their reasons) and whole label
// sets and container lists that repeat (the pods of one ReplicaSet, a target's
// resources included) are shared between the cached pods. Readers of the cache already
// must not modify what it returns without a copy; with the sharing, such a
// modification would reach other pods too.
//
// Injection stays correct with a trimmed pod: the ephemeralcontainers subresource takes
// only spec.ephemeralContainers from the body and keeps everything else from the stored
// pod. TrimPod is idempotent, as a transform must be: the streaming initial list of
// client-go may pass a pod through it twice.
func TrimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	return podInterner.trim(pod), nil
}

// podInterner shares repeated strings, label sets and container lists between the pods
// of the cache.
var podInterner = newInterner()

// Bounds of the interner's tables: when a table is full it starts anew, so values that
// stopped repeating (a rolled-out ReplicaSet's labels, a unique label per pod) cannot
// accumulate. Pods keep what they were given; only later pods miss the sharing.
const (
	maxInternedStrings    = 8192
	maxInternedLabelSets  = 2048
	maxInternedContainers = 1024
)

// interner hands out canonical copies of strings, label sets and container lists.
type interner struct {
	mu         sync.Mutex
	strings    map[string]string
	labels     map[string]map[string]string
	containers map[string][]corev1.Container
}

func newInterner() *interner {
	return &interner{
		strings:    map[string]string{},
		labels:     map[string]map[string]string{},
		containers: map[string][]corev1.Container{},
	}
}

// trim returns the compact copy of pod that TrimPod describes.
func (in *interner) trim(pod *corev1.Pod) *corev1.Pod {
	in.mu.Lock()
	defer in.mu.Unlock()
	// The strings of this pod alone share one allocation: apart, each would be a small
	// object among the decoder's garbage, and keep a memory span of its own in use.
	own := copiedTogether(pod.Name, string(pod.UID), pod.ResourceVersion, pod.Status.PodIP)
	out := &corev1.Pod{
		TypeMeta: pod.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:              own[0],
			Namespace:         in.str(pod.Namespace),
			UID:               types.UID(own[1]),
			ResourceVersion:   own[2],
			CreationTimestamp: pod.CreationTimestamp,
			DeletionTimestamp: pod.DeletionTimestamp.DeepCopy(),
			Labels:            in.labelSet(pod.Labels),
		},
		Status: corev1.PodStatus{
			Phase:  corev1.PodPhase(in.str(string(pod.Status.Phase))),
			HostIP: in.str(pod.Status.HostIP),
			PodIP:  own[3],
		},
	}
	var targets map[string]bool
	if n := len(pod.Spec.EphemeralContainers); n > 0 {
		targets = make(map[string]bool, n)
		out.Spec.EphemeralContainers = make([]corev1.EphemeralContainer, n)
		for i := range pod.Spec.EphemeralContainers {
			c := &pod.Spec.EphemeralContainers[i]
			in.ephemeralContainer(c, &out.Spec.EphemeralContainers[i])
			targets[c.TargetContainerName] = true
		}
	}
	out.Spec.Containers = in.containerList(pod.Spec.Containers, targets)
	out.Spec.InitContainers = in.containerList(pod.Spec.InitContainers, targets)
	if at, ok := podstate.EphemeralContainersWrittenAt(pod); ok {
		// When the ephemeral containers were last written bounds when a target adopted after
		// a restart was injected: its start deadline counts from there, not from the restart.
		out.ManagedFields = []metav1.ManagedFieldsEntry{{Subresource: in.str("ephemeralcontainers"),
			Time: &metav1.Time{Time: at}}}
	}
	if size := objectBytes(pod); size >= recordedObjectBytes {
		// Trimmed, the pod no longer shows how large it is: a large one says it here, so
		// that an injection that would make it too large for etcd is refused.
		out.Annotations = map[string]string{annotationObjectBytes: strconv.Itoa(size)}
	}
	if n := len(pod.Status.EphemeralContainerStatuses); n > 0 {
		out.Status.EphemeralContainerStatuses = make([]corev1.ContainerStatus, n)
		for i := range pod.Status.EphemeralContainerStatuses {
			st := &pod.Status.EphemeralContainerStatuses[i]
			kept := &out.Status.EphemeralContainerStatuses[i]
			kept.Name = in.str(st.Name)
			in.state(&st.State, &kept.State)
		}
	}
	return out
}

// ephemeralContainer copies c into out whole, with the strings that the containers of
// one job repeat from pod to pod (names, image, command, environment) shared between
// pods: the decoder allocated each apart.
func (in *interner) ephemeralContainer(c, out *corev1.EphemeralContainer) {
	c.DeepCopyInto(out)
	out.Name = in.str(out.Name)
	out.Image = in.str(out.Image)
	out.TargetContainerName = in.str(out.TargetContainerName)
	out.ImagePullPolicy = corev1.PullPolicy(in.str(string(out.ImagePullPolicy)))
	out.TerminationMessagePath = in.str(out.TerminationMessagePath)
	out.TerminationMessagePolicy = corev1.TerminationMessagePolicy(in.str(string(out.TerminationMessagePolicy)))
	for _, list := range [][]string{out.Command, out.Args} {
		for i := range list {
			list[i] = in.str(list[i])
		}
	}
	for i := range out.Env {
		out.Env[i].Name = in.str(out.Env[i].Name)
		out.Env[i].Value = in.str(out.Env[i].Value)
	}
}

// state copies st into out, with its reason shared between pods.
func (in *interner) state(st, out *corev1.ContainerState) {
	st.DeepCopyInto(out)
	if w := out.Waiting; w != nil {
		w.Reason = in.str(w.Reason)
	}
	if t := out.Terminated; t != nil {
		t.Reason = in.str(t.Reason)
	}
}

// copiedTogether returns copies of ss that share one allocation.
func copiedTogether(ss ...string) []string {
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	var b strings.Builder
	b.Grow(n)
	for _, s := range ss {
		b.WriteString(s)
	}
	all := b.String()
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i], all = all[:len(s)], all[len(s):]
	}
	return out
}

// annotationObjectBytes carries, on a cached pod only, the size of the pod as the API server
// stores it, when that is at least recordedObjectBytes.
const annotationObjectBytes = "ephemeraljob.kruise.io/cached-object-bytes"

// recordedObjectBytes is the size from which a cached pod carries annotationObjectBytes: a
// quarter of MaxPodBytes, so that the pods of most clusters carry nothing more.
const recordedObjectBytes = appsv1alpha1.MaxPodBytes / 4

// objectBytes estimates the size of the pod as etcd stores it (protobuf, managed fields
// included), without allocating. A trimmed pod passed again keeps the size its
// annotation recorded; an annotation a pod's author set can only make it larger.
func objectBytes(pod *corev1.Pod) int {
	size := pod.Size()
	if v, ok := pod.Annotations[annotationObjectBytes]; ok && len(v) <= 10 {
		if n, err := strconv.Atoi(v); err == nil && n > size {
			size = n
		}
	}
	return size
}

// str returns the canonical copy of s.
func (in *interner) str(s string) string {
	if s == "" {
		return ""
	}
	if c, ok := in.strings[s]; ok {
		return c
	}
	if len(in.strings) >= maxInternedStrings {
		clear(in.strings)
	}
	c := strings.Clone(s)
	in.strings[c] = c
	return c
}

// labelSet returns a canonical copy of the labels, shared by every pod with the same ones.
func (in *interner) labelSet(labels map[string]string) map[string]string {
	if len(labels) == 0 {
		return nil
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		// A NUL cannot occur in a label key or value, so the key is unambiguous.
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(labels[k])
		b.WriteByte(0)
	}
	key := b.String()
	if c, ok := in.labels[key]; ok {
		return c
	}
	if len(in.labels) >= maxInternedLabelSets {
		clear(in.labels)
	}
	c := make(map[string]string, len(labels))
	for k, v := range labels {
		c[in.str(k)] = in.str(v)
	}
	in.labels[key] = c
	return c
}

// containerList keeps each container's name and restart policy, and the resources of
// the containers in targets. A list is shared by every pod with the same names, policies
// and targets' resources: the pods of one ReplicaSet share it whether or not a job
// targets them.
func (in *interner) containerList(cs []corev1.Container, targets map[string]bool) []corev1.Container {
	if len(cs) == 0 {
		return nil
	}
	shareable := true
	var b strings.Builder
	for i := range cs {
		// A NUL cannot occur in a container name or a restart policy; a target's resources
		// come with the length of their serialization, which may hold any byte. That
		// serialization is protobuf, canonical: its generated code writes map entries in
		// key order and each quantity as its canonical string. Resources that serialize
		// alike read alike in every way a reader reads them (value, string, JSON); decoded
		// from the API server, which derives a quantity's format from that string, they
		// are equal field by field.
		b.WriteString(cs[i].Name)
		b.WriteByte(0)
		if p := cs[i].RestartPolicy; p != nil {
			b.WriteString(string(*p))
		}
		b.WriteByte(0)
		if targets[cs[i].Name] {
			res, err := cs[i].Resources.Marshal()
			if err != nil {
				// Nothing the API server sends fails to serialize; should something, its
				// list is not shared.
				shareable = false
			}
			b.WriteString(strconv.Itoa(len(res)))
			b.WriteByte(0)
			b.Write(res)
		}
	}
	key := b.String()
	if c, ok := in.containers[key]; ok && shareable {
		return c
	}
	out := make([]corev1.Container, len(cs))
	for i := range cs {
		out[i].Name = in.str(cs[i].Name)
		if p := cs[i].RestartPolicy; p != nil {
			policy := corev1.ContainerRestartPolicy(in.str(string(*p)))
			out[i].RestartPolicy = &policy
		}
		if targets[cs[i].Name] {
			cs[i].Resources.DeepCopyInto(&out[i].Resources)
		}
	}
	if !shareable {
		return out
	}
	if len(in.containers) >= maxInternedContainers {
		clear(in.containers)
	}
	in.containers[key] = out
	return out
}
