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

// Package kubelet stands in for the kubelet where none runs (envtest): it watches pods and
// writes the status of their ephemeral containers as a kubelet would, with outcomes the
// test chooses.
package kubelet

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Outcome is what the stand-in makes of one ephemeral container.
type Outcome struct {
	// WaitingReason, when set, leaves the container waiting with this reason.
	WaitingReason string
	// WaitingMessage is the kubelet's message with WaitingReason; when empty it names the
	// container and the reason.
	WaitingMessage string
	// Hold keeps the container running (a long-running command).
	Hold bool
	// ExitCode is the code the container terminates with, after running.
	ExitCode int32
	// Reason, when set, is the terminated container's reason instead of the kubelet's
	// Completed or Error: a runtime may report any string there, of any length.
	Reason string
	// Message is the termination message. When empty, a container whose
	// terminationMessagePolicy is FallbackToLogsOnError and that exits non-zero gets the
	// tail of its output, as the kubelet gives it.
	Message string
	// Output is what the container prints: Stub serves it as a LogSource once the container
	// runs.
	Output string
}

// Decider chooses the outcome of an ephemeral container in a pod.
type Decider func(pod *corev1.Pod, c *corev1.EphemeralContainer) Outcome

// ExitZero runs every container and ends it with exit code 0.
func ExitZero(*corev1.Pod, *corev1.EphemeralContainer) Outcome { return Outcome{} }

// Stub is the kubelet stand-in.
type Stub struct {
	Client kubernetes.Interface
	Decide Decider
	// Namespace limits the stand-in to one namespace; empty means all.
	Namespace string
	// Workers is how many pods it updates at once (default 4).
	Workers int
	// RunFor is how long each container runs before it terminates; zero ends it at the
	// next step, as soon as its running state was written.
	RunFor time.Duration
	// StartPods marks Running the pods that are still Pending, as the kubelet does once
	// their containers started, so that pods created with kubectl become targets.
	StartPods bool
	// NodeName, with StartPods, binds the pods it starts to this node first, as the
	// scheduler would; with a LogServer serving the Stub and registered as that node, the
	// API server's pods/log reads the containers' Output.
	NodeName string

	mu      sync.Mutex
	started map[string]time.Time // container ID -> when the stand-in reported it running
	logs    Logs                 // the output of every container it ran
	// Written, when set, is called after each status write with the pod as the API server
	// returned it.
	Written func(pod *corev1.Pod)
}

// Run watches pods until ctx ends. Each injected container is reported running, then
// terminated (unless held or waiting), one status write at a time, as a kubelet does.
func (s *Stub) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(s.Client, 0, informers.WithNamespace(s.Namespace))
	informer := factory.Core().V1().Pods().Informer()
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	defer queue.ShutDown()
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			queue.Add(key)
		}
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return ctx.Err()
	}
	workers := s.Workers
	if workers == 0 {
		workers = 4
	}
	for range workers {
		go func() {
			for {
				key, quit := queue.Get()
				if quit {
					return
				}
				obj, exists, err := informer.GetIndexer().GetByKey(key)
				var after time.Duration
				if err == nil && exists {
					after, err = s.step(ctx, obj.(*corev1.Pod))
				}
				switch {
				case err != nil && ctx.Err() == nil:
					queue.AddRateLimited(key)
				case after > 0:
					queue.Forget(key)
					queue.AddAfter(key, after)
				default:
					queue.Forget(key)
				}
				queue.Done(key)
			}
		}()
	}
	<-ctx.Done()
	return nil
}

// step moves every ephemeral container of the pod one state forward, in one status write.
// It returns when to look at the pod again: when its first container still running
// reaches RunFor.
func (s *Stub) step(ctx context.Context, pod *corev1.Pod) (time.Duration, error) {
	if pod.DeletionTimestamp != nil && s.NodeName != "" && pod.Spec.NodeName == s.NodeName {
		// The API server deletes a pod bound to a node only once that node's kubelet has
		// stopped its containers and confirms with a deletion without grace period.
		err := s.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: new(int64(0)), Preconditions: metav1.NewUIDPreconditions(string(pod.UID))})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return 0, nil
		}
		return 0, err
	}
	if pod.Status.Phase != corev1.PodRunning {
		if s.StartPods && pod.DeletionTimestamp == nil &&
			(pod.Status.Phase == "" || pod.Status.Phase == corev1.PodPending) {
			if s.NodeName != "" && pod.Spec.NodeName == "" {
				// The binding's update wakes the stand-in again, to mark the bound pod running.
				err := Bind(ctx, s.Client, pod, s.NodeName)
				if apierrors.IsNotFound(err) {
					return 0, nil
				}
				return 0, err
			}
			_, err := MarkRunning(ctx, s.Client, pod)
			if apierrors.IsNotFound(err) {
				return 0, nil
			}
			return 0, err
		}
		return 0, nil
	}
	statuses := map[string]corev1.ContainerStatus{}
	for _, st := range pod.Status.EphemeralContainerStatuses {
		statuses[st.Name] = st
	}
	now := metav1.NewTime(time.Now())
	changed := false
	var after time.Duration
	var next []corev1.ContainerStatus
	for i := range pod.Spec.EphemeralContainers {
		c := &pod.Spec.EphemeralContainers[i]
		st, seen := statuses[c.Name]
		if !seen {
			st = corev1.ContainerStatus{Name: c.Name, Image: c.Image,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
		}
		out := s.Decide(pod, c)
		switch {
		case st.State.Terminated != nil:
		case out.WaitingReason != "":
			if st.State.Waiting == nil || st.State.Waiting.Reason != out.WaitingReason {
				msg := out.WaitingMessage
				if msg == "" {
					msg = fmt.Sprintf("container %s: %s", c.Name, out.WaitingReason)
				}
				st.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: out.WaitingReason,
					Message: msg}}
				changed = true
			}
		case st.State.Running == nil:
			st.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
			st.ContainerID = fmt.Sprintf("stub://%s/%s", pod.UID, c.Name)
			s.noteStarted(st.ContainerID, now.Time)
			s.logs.Set(pod.Namespace, pod.Name, c.Name, out.Output)
			after = soonest(after, s.RunFor)
			changed = true
		case out.Hold:
		case s.runningFor(st, now.Time) < s.RunFor:
			after = soonest(after, s.RunFor-s.runningFor(st, now.Time))
		default:
			s.forget(st.ContainerID)
			st.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: out.ExitCode, Reason: terminatedReason(out), Message: terminationMessage(c, out),
				StartedAt: st.State.Running.StartedAt, FinishedAt: now, ContainerID: st.ContainerID,
			}}
			changed = true
		}
		next = append(next, st)
	}
	if !changed {
		return after, nil
	}
	updated := pod.DeepCopy()
	updated.Status.EphemeralContainerStatuses = next
	written, err := s.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return 0, nil
	case err == nil && s.Written != nil:
		s.Written(written)
	}
	return after, err
}

// soonest returns the earlier of two delays, where zero means none.
func soonest(a, b time.Duration) time.Duration {
	if a <= 0 || (b > 0 && b < a) {
		return b
	}
	return a
}

func (s *Stub) noteStarted(containerID string, at time.Time) {
	if s.RunFor <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started == nil {
		s.started = map[string]time.Time{}
	}
	s.started[containerID] = at
}

func (s *Stub) forget(containerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.started, containerID)
}

// runningFor returns how long a running container has been running: since the stand-in
// reported it, or since its StartedAt (whole seconds) when another process did.
func (s *Stub) runningFor(st corev1.ContainerStatus, now time.Time) time.Duration {
	if s.RunFor <= 0 {
		return 0
	}
	s.mu.Lock()
	at, ok := s.started[st.ContainerID]
	s.mu.Unlock()
	if !ok {
		at = st.State.Running.StartedAt.Time
	}
	return now.Sub(at)
}

// ContainerLog returns the output of a container the stand-in ran: a Stub is the LogSource
// of a LogServer.
func (s *Stub) ContainerLog(namespace, pod, container string) (string, bool) {
	return s.logs.ContainerLog(namespace, pod, container)
}

// maxFallbackMessage is how much of the output the kubelet keeps as the termination message
// of a container with terminationMessagePolicy FallbackToLogsOnError (the last 80 lines, at
// most 2048 bytes).
const (
	maxFallbackMessage      = 2048
	maxFallbackMessageLines = 80
)

// terminationMessage is the message the kubelet reports for a container that ended.
func terminationMessage(c *corev1.EphemeralContainer, out Outcome) string {
	if out.Message != "" || out.ExitCode == 0 || c.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
		return out.Message
	}
	lines := strings.SplitAfter(out.Output, "\n")
	msg := strings.Join(lines[max(0, len(lines)-maxFallbackMessageLines):], "")
	if len(msg) > maxFallbackMessage {
		msg = msg[len(msg)-maxFallbackMessage:]
	}
	return msg
}

// terminatedReason is the reason the stand-in reports for a container that ended: the
// outcome's, or the kubelet's.
func terminatedReason(out Outcome) string {
	if out.Reason != "" {
		return out.Reason
	}
	if out.ExitCode == 0 {
		return "Completed"
	}
	return "Error"
}

// MarkRunning sets a pod's phase to Running, as the kubelet does once its containers start.
func MarkRunning(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod) (*corev1.Pod, error) {
	pod = pod.DeepCopy()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP, pod.Status.HostIP = "10.0.0.1", "192.168.0.1"
	for _, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, Ready: true, Started: new(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
		})
	}
	return c.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
}

// FailWhenEnv returns a Decider that ends a container with exit code 1 in pods whose
// first container has the env var name=value, and with 0 elsewhere. With
// APP_STATE=false it plays the proposal's Story 1, `pidof helloworld`, which fails in
// the pods where the application does not run.
func FailWhenEnv(name, value string) Decider {
	return func(pod *corev1.Pod, _ *corev1.EphemeralContainer) Outcome {
		if len(pod.Spec.Containers) == 0 {
			return Outcome{}
		}
		for _, e := range pod.Spec.Containers[0].Env {
			if e.Name == name && e.Value == value {
				return Outcome{ExitCode: 1}
			}
		}
		return Outcome{}
	}
}

// Hold keeps every container running.
func Hold(*corev1.Pod, *corev1.EphemeralContainer) Outcome { return Outcome{Hold: true} }

// Deciders chooses a Decider per namespace, so that the specs of a suite share one
// stand-in; namespaces without one get ExitZero. The zero value is ready to use.
type Deciders struct {
	mu sync.Mutex
	m  map[string]Decider
}

// Set makes decide the Decider of the namespace.
func (d *Deciders) Set(namespace string, decide Decider) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]Decider{}
	}
	d.m[namespace] = decide
}

// Decide is the Decider that dispatches by the pod's namespace.
func (d *Deciders) Decide(pod *corev1.Pod, c *corev1.EphemeralContainer) Outcome {
	d.mu.Lock()
	decide := d.m[pod.Namespace]
	d.mu.Unlock()
	if decide == nil {
		return ExitZero(pod, c)
	}
	return decide(pod, c)
}

// CreateRunning creates the pod and marks it Running, as a scheduler and kubelet would.
func CreateRunning(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod) (*corev1.Pod, error) {
	created, err := c.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	return MarkRunning(ctx, c, created)
}
