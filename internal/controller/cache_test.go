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
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/event"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

const jobUID = types.UID("0f5e6a2c-job")

// fullPod returns a pod as the API server sends it: managed fields, annotations, owner,
// volumes, containers with env, probes, mounts and resources, an init container, and the
// given ephemeral containers of jobUID with their states.
func fullPod(name string, labels map[string]string, states ...corev1.ContainerState) *corev1.Pod {
	res := func(cpu, mem string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(mem)},
		}
	}
	container := func(cname, cpu string) corev1.Container {
		return corev1.Container{
			Name: cname, Image: "registry.example.com/" + cname + ":1", Args: []string{"--port=8080"},
			Env:          []corev1.EnvVar{{Name: "SETTING", Value: "on"}},
			Resources:    res(cpu, "128Mi"),
			VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/" + cname}},
			LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt(8080)}}},
		}
	}
	always := corev1.ContainerRestartPolicyAlways
	created := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "ns", UID: types.UID("uid-" + name), ResourceVersion: "42",
			CreationTimestamp: created, Labels: labels,
			Annotations:     map[string]string{"prometheus.io/scrape": "true"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "rs-uid"}},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate}},
		},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{func() corev1.Container {
				c := container("proxy", "50m")
				c.RestartPolicy = &always
				return c
			}()},
			Containers: []corev1.Container{container("app", "100m"), container("sidecar", "200m")},
			Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
				EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			NodeName: "node-1",
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, HostIP: "10.0.0.1", PodIP: "10.1.0.7",
			PodIPs:            []corev1.PodIP{{IP: "10.1.0.7"}},
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, ImageID: "sha256:abc"}},
		},
	}
	for i, st := range states {
		cname := fmt.Sprintf("check-%d", i)
		pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: cname, Image: "busybox:1.36", Command: []string{"sh", "-c", "true"},
				ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePath: "/dev/termination-log",
				Env: []corev1.EnvVar{
					{Name: appsv1alpha1.EnvJobName, Value: "job"},
					{Name: appsv1alpha1.EnvJobUID, Value: string(jobUID)},
					{Name: appsv1alpha1.EnvJobIndex, Value: fmt.Sprint(i)},
				},
			},
			TargetContainerName: "app",
		})
		pod.Status.EphemeralContainerStatuses = append(pod.Status.EphemeralContainerStatuses, corev1.ContainerStatus{
			Name: cname, State: st, Image: "busybox:1.36", ImageID: "sha256:def", ContainerID: "containerd://" + cname,
		})
	}
	return pod
}

func trimmed(t *testing.T, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	out, err := TrimPod(pod)
	if err != nil {
		t.Fatalf("TrimPod: %v", err)
	}
	return out.(*corev1.Pod)
}

// TestTrimPodKeepsWhatReadersRead checks that every reader of cached pods — the controller's
// injection check, podstate's outcome and index, the recorder's rows, the owner index and
// the event predicate — gets the same answer from a trimmed pod as from the full one.
func TestTrimPodKeepsWhatReadersRead(t *testing.T) {
	started := metav1.NewTime(time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC))
	finished := metav1.NewTime(started.Add(time.Minute))
	deleted := metav1.NewTime(finished.Add(time.Minute))
	labels := map[string]string{"app": "web", "tier": "backend"}
	terminating := fullPod("terminating", labels, corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}})
	terminating.DeletionTimestamp = &deleted
	for name, pod := range map[string]*corev1.Pod{
		"not injected": fullPod("plain", labels),
		"waiting":      fullPod("waiting", labels, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "no such image"}}),
		"succeeded": fullPod("succeeded", labels, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 0, Reason: "Completed", StartedAt: started, FinishedAt: finished}}),
		"failed and running": fullPod("mixed", labels,
			corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error", Message: "bad", StartedAt: started, FinishedAt: finished}},
			corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}),
		"terminating": terminating,
	} {
		t.Run(name, func(t *testing.T) {
			before := pod.DeepCopy()
			got := trimmed(t, pod)
			if !equality.Semantic.DeepEqual(pod, before) {
				t.Fatalf("TrimPod modified its input")
			}
			if got == pod {
				t.Fatalf("TrimPod returned its input, want a new pod")
			}
			assertKeptFields(t, got, pod)
			assertSameReaderResults(t, got, pod)
			assertSameInjectionChecks(t, got, pod)
			assertSamePredicate(t, pod)
		})
	}
}

// assertKeptFields checks that the trimmed pod holds the fields its readers read, as in the full pod.
func assertKeptFields(t *testing.T, got, pod *corev1.Pod) {
	t.Helper()
	for field, eq := range map[string]bool{
		"name, namespace, UID, resourceVersion": got.Name == pod.Name && got.Namespace == pod.Namespace &&
			got.UID == pod.UID && got.ResourceVersion == pod.ResourceVersion,
		"creation and deletion timestamps": got.CreationTimestamp.Equal(&pod.CreationTimestamp) &&
			got.DeletionTimestamp.Equal(pod.DeletionTimestamp),
		"labels":                       reflect.DeepEqual(got.Labels, pod.Labels),
		"phase and IPs":                got.Status.Phase == pod.Status.Phase && got.Status.PodIP == pod.Status.PodIP && got.Status.HostIP == pod.Status.HostIP,
		"ephemeral containers, whole":  equality.Semantic.DeepEqual(got.Spec.EphemeralContainers, pod.Spec.EphemeralContainers),
		"ephemeral container statuses": len(got.Status.EphemeralContainerStatuses) == len(pod.Status.EphemeralContainerStatuses),
	} {
		if !eq {
			t.Errorf("%s differ: trimmed %+v, full %+v", field, got, pod)
		}
	}
	for i := range got.Status.EphemeralContainerStatuses {
		g, w := got.Status.EphemeralContainerStatuses[i], pod.Status.EphemeralContainerStatuses[i]
		if g.Name != w.Name || !equality.Semantic.DeepEqual(g.State, w.State) {
			t.Errorf("ephemeral container status %d = %+v, want name and state of %+v", i, g, w)
		}
	}
}

// assertSameReaderResults checks that podstate and the recorder answer the same for both pods.
func assertSameReaderResults(t *testing.T, got, pod *corev1.Pod) {
	t.Helper()
	gotEval, gotOK := podstate.Evaluate(got, jobUID)
	wantEval, wantOK := podstate.Evaluate(pod, jobUID)
	if gotOK != wantOK || !reflect.DeepEqual(gotEval, wantEval) {
		t.Errorf("podstate.Evaluate = %+v, %v; want %+v, %v", gotEval, gotOK, wantEval, wantOK)
	}
	gotIdx, gotOK := podstate.Index(got, jobUID)
	wantIdx, wantOK := podstate.Index(pod, jobUID)
	if gotIdx != wantIdx || gotOK != wantOK {
		t.Errorf("podstate.Index = %d, %v; want %d, %v", gotIdx, gotOK, wantIdx, wantOK)
	}
	if g, w := podstate.JobUIDs(got), podstate.JobUIDs(pod); !reflect.DeepEqual(g, w) {
		t.Errorf("podstate.JobUIDs = %v, want %v", g, w)
	}
	// Every job whose UID a container carries is known, with every container name.
	known := func(types.UID) (recorder.KnownJob, bool) {
		k := recorder.KnownJob{Namespace: pod.Namespace, Containers: map[string]string{}}
		for _, c := range pod.Spec.EphemeralContainers {
			k.Containers[c.Name] = c.Name
		}
		return k, true
	}
	for _, inEtcd := range []bool{true, false} {
		g, w := recorder.PodRecordsFor(got, "region", inEtcd, known), recorder.PodRecordsFor(pod, "region", inEtcd, known)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("recorder.PodRecordsFor(inEtcd %v) = %+v, want %+v", inEtcd, g, w)
		}
	}
	if len(pod.Spec.EphemeralContainers) > 0 {
		// The recorder must see the resources of the container the job targets.
		recs := recorder.PodRecordsFor(got, "region", true, known)
		if len(recs) != 1 || recs[0].Resources == "{}" {
			t.Errorf("recorder rows %+v lack the target's resources", recs)
		}
	}
}

// assertSameInjectionChecks checks that the controller's injection check answers the same
// for both pods, and that init containers keep their restart policy.
func assertSameInjectionChecks(t *testing.T, got, pod *corev1.Pod) {
	t.Helper()
	for _, job := range []*appsv1alpha1.EphemeralJob{
		testutil.MakeEphemeralJob("ok", "ns", "web").Container("debug", "app").Obj(),
		testutil.MakeEphemeralJob("sidecar", "ns", "web").Container("debug", "sidecar").Obj(),
		testutil.MakeEphemeralJob("name-taken", "ns", "web").Container("sidecar", "app").Obj(),
		testutil.MakeEphemeralJob("init-name-taken", "ns", "web").Container("proxy", "app").Obj(),
		testutil.MakeEphemeralJob("ephemeral-name-taken", "ns", "web").Container("check-0", "app").Obj(),
		testutil.MakeEphemeralJob("no-target", "ns", "web").Container("debug", "db").Obj(),
	} {
		gr, gm := checkInjectable(job, got)
		wr, wm := checkInjectable(job, pod)
		if gr != wr || gm != wm {
			t.Errorf("checkInjectable(%s) = %q %q, want %q %q", job.Name, gr, gm, wr, wm)
		}
	}
	if got.Spec.InitContainers[0].RestartPolicy == nil ||
		*got.Spec.InitContainers[0].RestartPolicy != *pod.Spec.InitContainers[0].RestartPolicy {
		t.Errorf("init container restart policy = %v, want %v", got.Spec.InitContainers[0].RestartPolicy,
			*pod.Spec.InitContainers[0].RestartPolicy)
	}
}

// assertSamePredicate checks that the pod event predicate decides the same on trimmed pods
// as on full ones.
func assertSamePredicate(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	// An update from the full pod to itself must look the same to the predicate
	// on trimmed pods as on full ones, and a change of phase must still pass.
	changed := pod.DeepCopy()
	changed.Status.Phase = corev1.PodSucceeded
	pred := podChangePredicate()
	for _, c := range []struct {
		from, to *corev1.Pod
	}{{pod, pod}, {pod, changed}} {
		full := pred.Update(updateEvent(c.from, c.to))
		trim := pred.Update(updateEvent(trimmed(t, c.from), trimmed(t, c.to)))
		if full != trim {
			t.Errorf("predicate on trimmed pods = %v, on full pods %v", trim, full)
		}
	}
}

// TestTrimPodDropsTheRest checks that what no reader reads is gone, so the cache stays small.
func TestTrimPodDropsTheRest(t *testing.T) {
	got := trimmed(t, fullPod("p", map[string]string{"app": "web"}, corev1.ContainerState{
		Running: &corev1.ContainerStateRunning{}}))
	if got.Annotations != nil || got.ManagedFields != nil || got.OwnerReferences != nil {
		t.Errorf("metadata kept annotations, managed fields or owners: %+v", got.ObjectMeta)
	}
	if got.Spec.Volumes != nil || got.Spec.NodeName != "" {
		t.Errorf("spec kept volumes or node name: %+v", got.Spec)
	}
	for _, c := range append(append([]corev1.Container{}, got.Spec.Containers...), got.Spec.InitContainers...) {
		want := corev1.Container{Name: c.Name, RestartPolicy: c.RestartPolicy}
		if c.Name == "app" { // the ephemeral container's target keeps its resources
			want.Resources = c.Resources
			if c.Resources.Requests.Cpu().IsZero() {
				t.Errorf("target container %s lost its resources", c.Name)
			}
		}
		if !equality.Semantic.DeepEqual(c, want) {
			t.Errorf("container %s kept more than its name, restart policy and a target's resources: %+v", c.Name, c)
		}
	}
	if got.Status.Conditions != nil || got.Status.ContainerStatuses != nil || got.Status.PodIPs != nil {
		t.Errorf("status kept conditions, container statuses or pod IPs: %+v", got.Status)
	}
	st := got.Status.EphemeralContainerStatuses[0]
	if st.Image != "" || st.ImageID != "" || st.ContainerID != "" {
		t.Errorf("ephemeral container status kept more than name and state: %+v", st)
	}
}

// TestTrimPodIsIdempotent checks that a trimmed pod passes through TrimPod unchanged:
// client-go's streaming initial list transforms each pod twice.
func TestTrimPodIsIdempotent(t *testing.T) {
	once := trimmed(t, fullPod("p", map[string]string{"app": "web"}, corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}))
	if twice := trimmed(t, once.DeepCopy()); !equality.Semantic.DeepEqual(once, twice) {
		t.Errorf("trimming twice = %+v, want %+v", twice, once)
	}
}

// A large pod keeps its size through trimming, trimmed once or twice; a size its author
// wrote in the annotation can make it larger, never smaller; a small pod carries nothing.
func TestTrimPodKeepsTheSizeOfALargePod(t *testing.T) {
	big := fullPod("p", map[string]string{"app": "web"})
	big.Annotations = map[string]string{"blob": strings.Repeat("x", 400<<10), annotationObjectBytes: "10"}
	size := big.Size()
	once := trimmed(t, big)
	if got := objectBytes(once); got != size {
		t.Errorf("trimmed, the pod says %d bytes, want %d", got, size)
	}
	if got := objectBytes(trimmed(t, once.DeepCopy())); got != size {
		t.Errorf("trimmed twice, the pod says %d bytes, want %d", got, size)
	}
	small := trimmed(t, fullPod("q", map[string]string{"app": "web"}))
	if len(small.Annotations) != 0 {
		t.Errorf("a small pod carries %v", small.Annotations)
	}
	forged := fullPod("r", map[string]string{"app": "web"})
	forged.Annotations = map[string]string{annotationObjectBytes: "2000000"}
	if got := objectBytes(trimmed(t, forged)); got != 2000000 {
		t.Errorf("a size written larger is not kept: %d", got)
	}
}

// TestTrimPodSharesRepeatedParts checks that pods of the same shape share their label set
// and container list, and that pods of different shapes do not.
func TestTrimPodSharesRepeatedParts(t *testing.T) {
	a := trimmed(t, fullPod("a", map[string]string{"app": "web", "tier": "backend"}))
	b := trimmed(t, fullPod("b", map[string]string{"tier": "backend", "app": "web"}))
	c := trimmed(t, fullPod("c", map[string]string{"app": "db", "tier": "backend"}))
	injected := trimmed(t, fullPod("d", map[string]string{"app": "web", "tier": "backend"},
		corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}))
	if reflect.ValueOf(a.Labels).UnsafePointer() != reflect.ValueOf(b.Labels).UnsafePointer() {
		t.Errorf("pods with the same labels do not share them")
	}
	if reflect.ValueOf(a.Labels).UnsafePointer() == reflect.ValueOf(c.Labels).UnsafePointer() || c.Labels["app"] != "db" {
		t.Errorf("pods with different labels share them: %v", c.Labels)
	}
	if &a.Spec.Containers[0] != &b.Spec.Containers[0] {
		t.Errorf("pods with the same containers do not share the list")
	}
	if &a.Spec.Containers[0] == &injected.Spec.Containers[0] || injected.Spec.Containers[0].Resources.Requests == nil {
		t.Errorf("an injected pod shares the container list without the target's resources")
	}
}

// TestTrimPodSharesTargetedContainers checks that pods whose targets keep the same
// resources (the pods of one ReplicaSet a job ran in) share their container list, and that
// pods whose targets or resources differ do not.
func TestTrimPodSharesTargetedContainers(t *testing.T) {
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	labels := map[string]string{"app": "web"}
	a := trimmed(t, fullPod("a", labels, running))
	b := trimmed(t, fullPod("b", labels, running))
	// 0.1 CPU is 100m: the same quantity, written otherwise.
	respelled := fullPod("respelled", labels, running)
	respelled.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("0.1")
	moreCPU := fullPod("more-cpu", labels, running)
	moreCPU.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("150m")
	sidecar := fullPod("sidecar", labels, running)
	sidecar.Spec.EphemeralContainers[0].TargetContainerName = "sidecar"
	if &a.Spec.Containers[0] != &b.Spec.Containers[0] || &a.Spec.InitContainers[0] != &b.Spec.InitContainers[0] {
		t.Errorf("pods whose target keeps the same resources do not share their containers")
	}
	if got := trimmed(t, respelled); &got.Spec.Containers[0] != &a.Spec.Containers[0] {
		t.Errorf("resources that differ only in how a quantity is written are not shared")
	}
	for name, pod := range map[string]*corev1.Pod{"more CPU": moreCPU, "another target": sidecar} {
		got := trimmed(t, pod)
		if &got.Spec.Containers[0] == &a.Spec.Containers[0] {
			t.Errorf("%s: shares the container list of a pod with other kept resources", name)
		}
		for i, c := range got.Spec.Containers {
			want := corev1.ResourceRequirements{}
			if c.Name == pod.Spec.EphemeralContainers[0].TargetContainerName {
				want = pod.Spec.Containers[i].Resources
			}
			if !equality.Semantic.DeepEqual(c.Resources, want) {
				t.Errorf("%s: container %s keeps resources %+v, want %+v", name, c.Name, c.Resources, want)
			}
		}
	}
}

// decoded returns pod as the informer receives it: decoded from protobuf, each string
// allocated apart.
func decoded(t *testing.T, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	data, err := pod.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out := &corev1.Pod{}
	if err := out.Unmarshal(data); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTrimPodSharesTheStringsOfAJobsContainers checks that the ephemeral containers a job
// put into two pods, and their reasons, share the strings that repeat, not only equal them.
func TestTrimPodSharesTheStringsOfAJobsContainers(t *testing.T) {
	labels := map[string]string{"app": "web"}
	done := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}
	a := trimmed(t, decoded(t, fullPod("a", labels, done)))
	b := trimmed(t, decoded(t, fullPod("b", labels, done)))
	ca, cb := &a.Spec.EphemeralContainers[0], &b.Spec.EphemeralContainers[0]
	for field, pair := range map[string][2]string{
		"name":      {ca.Name, cb.Name},
		"image":     {ca.Image, cb.Image},
		"command":   {ca.Command[2], cb.Command[2]},
		"target":    {ca.TargetContainerName, cb.TargetContainerName},
		"env name":  {ca.Env[1].Name, cb.Env[1].Name},
		"env value": {ca.Env[1].Value, cb.Env[1].Value},
		"terminated reason": {a.Status.EphemeralContainerStatuses[0].State.Terminated.Reason,
			b.Status.EphemeralContainerStatuses[0].State.Terminated.Reason},
		"message path": {ca.TerminationMessagePath, cb.TerminationMessagePath},
	} {
		if pair[0] != pair[1] || unsafe.StringData(pair[0]) != unsafe.StringData(pair[1]) {
			t.Errorf("%s: %q and %q are not one shared string", field, pair[0], pair[1])
		}
	}
}

// TestTrimPodCopiesThePodsOwnStringsTogether checks that the strings of one pod alone
// are copies, not the decoder's, in one allocation.
func TestTrimPodCopiesThePodsOwnStringsTogether(t *testing.T) {
	pod := fullPod("pod-a", map[string]string{"app": "web"})
	pod.UID = "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b"
	in := decoded(t, pod)
	got := trimmed(t, in)
	own := []string{got.Name, string(got.UID), got.ResourceVersion, got.Status.PodIP}
	for i, s := range own {
		if s != []string{in.Name, string(in.UID), in.ResourceVersion, in.Status.PodIP}[i] {
			t.Fatalf("kept %q, want the pod's", s)
		}
		if i > 0 && unsafe.Pointer(unsafe.StringData(s)) != unsafe.Add(unsafe.Pointer(unsafe.StringData(own[i-1])), len(own[i-1])) {
			t.Errorf("%q does not follow %q in one allocation", s, own[i-1])
		}
	}
	if unsafe.StringData(got.Name) == unsafe.StringData(in.Name) {
		t.Errorf("the name is the decoder's")
	}
}

// TestInjectionLeavesSharedPartsAlone checks that an injection into a cached pod, whose
// containers are shared with other cached pods, changes none of them: the controller
// sends a copy.
func TestInjectionLeavesSharedPartsAlone(t *testing.T) {
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	labels := map[string]string{"app": "web"}
	job := testutil.MakeEphemeralJob("ej", testNS, "web").Container("debug", "app").Obj()
	pods := []*corev1.Pod{fullPod("a", labels, running), fullPod("b", labels, running)}
	for _, p := range pods { // as the fake client takes them
		p.ManagedFields, p.ResourceVersion = nil, ""
	}
	w := newWorld(t, job, pods...)
	stored := w.pods()
	a, b := trimmed(t, &stored[0]), trimmed(t, &stored[1])
	a.Annotations = map[string]string{annotationObjectBytes: "1"} // dropped from what is sent
	if &a.Spec.Containers[0] != &b.Spec.Containers[0] {
		t.Fatalf("the pods do not share their containers")
	}
	wantA, wantB := a.DeepCopy(), b.DeepCopy()
	ctx, cancel := w.r.writeContext()
	defer cancel()
	if err := w.r.inject(ctx, w.getJob(), a, 1); err != nil {
		t.Fatalf("inject: %v", err)
	}
	if got := w.pods()[0].Spec.EphemeralContainers; len(got) != 2 {
		t.Fatalf("the pod holds %d ephemeral containers after the injection, want 2", len(got))
	}
	if !reflect.DeepEqual(a, wantA) || !reflect.DeepEqual(b, wantB) {
		t.Errorf("the injection modified cached pods: %+v, %+v; want %+v, %+v", a, b, wantA, wantB)
	}
}

// TestInternerIsBounded checks that values which stop repeating cannot grow the tables
// without bound.
func TestInternerIsBounded(t *testing.T) {
	in := newInterner()
	for i := range 3 * maxInternedLabelSets {
		in.labelSet(map[string]string{"pod-name": fmt.Sprintf("pod-%d", i)})
		in.containerList([]corev1.Container{{Name: fmt.Sprintf("c-%d", i)}}, nil)
	}
	if len(in.strings) > maxInternedStrings || len(in.labels) > maxInternedLabelSets ||
		len(in.containers) > maxInternedContainers {
		t.Errorf("tables hold %d strings, %d label sets, %d container lists; want at most %d, %d, %d",
			len(in.strings), len(in.labels), len(in.containers), maxInternedStrings, maxInternedLabelSets, maxInternedContainers)
	}
	if got := in.labelSet(map[string]string{"pod-name": "pod-1"}); got["pod-name"] != "pod-1" {
		t.Errorf("labels after the tables started anew = %v", got)
	}
}

// TestTrimPodPassesOtherObjects checks that an object other than a pod is returned as given.
func TestTrimPodPassesOtherObjects(t *testing.T) {
	cm := &corev1.ConfigMap{Data: map[string]string{"k": "v"}}
	if got, err := TrimPod(cm); err != nil || got != cm {
		t.Errorf("TrimPod(ConfigMap) = %v, %v; want it unchanged", got, err)
	}
}

func updateEvent(from, to *corev1.Pod) event.UpdateEvent {
	return event.UpdateEvent{ObjectOld: from, ObjectNew: to}
}

// TestTrimPodKeepsWhenTheEphemeralContainersWereWritten: a target adopted after a restart
// counts its start deadline from there.
func TestTrimPodKeepsWhenTheEphemeralContainersWereWritten(t *testing.T) {
	pod := fullPod("p", map[string]string{"app": "web"}, corev1.ContainerState{Running: &corev1.ContainerStateRunning{}})
	at := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	pod.ManagedFields = append(pod.ManagedFields,
		metav1.ManagedFieldsEntry{Manager: "other", Subresource: "ephemeralcontainers", Time: &metav1.Time{Time: at.Add(-time.Hour)}},
		metav1.ManagedFieldsEntry{Manager: "manager", Subresource: "ephemeralcontainers", Time: &at,
			FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{}}`)}})
	got := trimmed(t, pod)
	if len(got.ManagedFields) != 1 || got.ManagedFields[0].FieldsV1 != nil || !got.ManagedFields[0].Time.Equal(&at) {
		t.Errorf("managed fields %+v, want one entry with the latest time only", got.ManagedFields)
	}
	if again := trimmed(t, got); !again.ManagedFields[0].Time.Equal(&at) {
		t.Errorf("not idempotent: %+v", again.ManagedFields)
	}
}
