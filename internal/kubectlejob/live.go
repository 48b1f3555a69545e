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
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// podPageSize is how many pods one list request asks for; a variable so that a test can
// make a few pods take several pages.
var podPageSize int64 = 500

// logWorkers is how many logs are read at once.
const logWorkers = 8

// maxLimitBytes bounds --limit-bytes: the output of a thousand targets stays in memory.
const maxLimitBytes = 1 << 20

// getJob reads the job with the user's credentials.
func getJob(ctx context.Context, dyn dynamic.Interface, namespace, name string) (*appsv1alpha1.EphemeralJob, error) {
	u, err := dyn.Resource(appsv1alpha1.GroupVersion.WithResource("ephemeraljobs")).Namespace(namespace).
		Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	job := &appsv1alpha1.EphemeralJob{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, job); err != nil {
		return nil, fmt.Errorf("decoding ejob %s/%s: %w", namespace, name, err)
	}
	return job, nil
}

// listJobPods lists the namespace's pods a page at a time and keeps those keep accepts
// (keepsPod: those holding containers of the job, and those its status identifies as
// refused); the others of a page are dropped before the next page. The containers carry the
// job's UID in their env, which no selector can match, so every pod of the namespace is read
// once. It also returns the resourceVersion the pages were read at, to watch from.
func listJobPods(ctx context.Context, pods corev1client.PodsGetter, namespace string, keep func(*corev1.Pod) bool) (
	[]corev1.Pod, string, error) {
	var kept []corev1.Pod
	opts := metav1.ListOptions{Limit: podPageSize}
	version := ""
	for {
		page, err := pods.Pods(namespace).List(ctx, opts)
		if err != nil {
			return nil, "", fmt.Errorf("listing the pods of namespace %s: %w", namespace, err)
		}
		if version == "" {
			// Every page of a list is read at the first page's resourceVersion.
			version = page.ResourceVersion
		}
		for i := range page.Items {
			if keep(&page.Items[i]) {
				kept = append(kept, page.Items[i])
			}
		}
		if page.Continue == "" {
			return kept, version, nil
		}
		opts.Continue = page.Continue
	}
}

func holdsJob(pod *corev1.Pod, uid string) bool {
	for i := range pod.Spec.EphemeralContainers {
		for _, e := range pod.Spec.EphemeralContainers[i].Env {
			if e.Name == appsv1alpha1.EnvJobUID && e.Value == uid {
				return true
			}
		}
	}
	return false
}

// fetchLogs reads the output of every live target's container through pods/log, logWorkers
// at a time, each cut at limit bytes. A log that cannot be read leaves its target an error
// and does not stop the others.
func fetchLogs(ctx context.Context, pods corev1client.PodsGetter, namespace string, targets []Target, limit int64) {
	sem := make(chan struct{}, logWorkers)
	var wg sync.WaitGroup
	for i := range targets {
		t := &targets[i]
		// A container that never started has no output, and asking for it only earns an error.
		if t.Source != SourceLive || t.Container == "" || t.StartedAt == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out, truncated, err := readLog(ctx, pods, namespace, t.Pod, t.Container, limit)
			if err != nil {
				t.OutputError = clip(strings.Join(strings.Fields(err.Error()), " "), maxMessageBytes)
				return
			}
			t.Output, t.OutputTruncated = &out, truncated
		}()
	}
	wg.Wait()
}

// readLog reads at most limit bytes of a container's output. It asks for one byte more,
// to tell a log of exactly limit bytes from a longer one, and reads no more than that
// whatever the server sends.
func readLog(ctx context.Context, pods corev1client.PodsGetter, namespace, pod, container string, limit int64) (
	string, bool, error) {
	ask := limit + 1
	stream, err := pods.Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container, LimitBytes: &ask}).
		Stream(ctx)
	if err != nil {
		return "", false, err
	}
	defer func() { _ = stream.Close() }()
	b, err := io.ReadAll(io.LimitReader(stream, ask))
	if err != nil {
		return "", false, err
	}
	if int64(len(b)) > limit {
		return string(b[:limit]), true, nil
	}
	return string(b), false, nil
}
