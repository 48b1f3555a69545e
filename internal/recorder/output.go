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
	"fmt"
	"io"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// MaxOutputBytes is the most output Options.OutputBytes may ask to keep per target: 1 MiB.
const MaxOutputBytes = 1 << 20

// Bounds of the output fetcher.
const (
	// outputWorkers is how many outputs are fetched at once: a slow kubelet holds at
	// most this many requests, and nothing else waits for them.
	outputWorkers = 4
	// maxOutputsQueued bounds the targets waiting for their output to be fetched (a
	// key takes about 300 bytes); beyond it, offers are dropped and counted.
	maxOutputsQueued = 10000
	// outputFetchAttempts bounds the attempts for one target's output.
	outputFetchAttempts = 5
	// outputFetchTimeout bounds one attempt: the request, reading the log and storing it.
	outputFetchTimeout = 30 * time.Second
	// outputRetryBaseDelay is the wait before the second attempt; it doubles up to
	// outputRetryMaxDelay, so that the attempts span about 15 s: a kubelet restarting
	// or a node briefly unreachable does not cost the output.
	outputRetryBaseDelay = time.Second
	outputRetryMaxDelay  = 30 * time.Second
)

// Results of an output fetch, the label values of ephemeraljob_recorder_output_fetches_total.
const (
	outputStored        = "stored"
	outputAlreadyStored = "already_stored"
	outputGone          = "gone"
	outputRetried       = "retried"
	outputFailed        = "failed"
	outputDropped       = "dropped"
)

// ValidateOutputBytes checks a bound for the output kept per target: 0 (off) up to MaxOutputBytes.
func ValidateOutputBytes(n int64) error {
	if n < 0 || n > MaxOutputBytes {
		return fmt.Errorf("must be between 0 (off) and %d (1 MiB), not %d", MaxOutputBytes, n)
	}
	return nil
}

// outputStore is what the fetcher needs of the store.
type outputStore interface {
	// OutputState reports whether the row exists and whether its output is stored.
	OutputState(ctx context.Context, jobUID, podUID string) (exists, stored bool, err error)
	// StoreOutput sets the row's output unless one is stored, and reports whether it did.
	StoreOutput(ctx context.Context, jobUID, podUID, output string) (bool, error)
	// PodsWithoutOutput returns up to limit rows of finished targets whose output is not stored.
	PodsWithoutOutput(ctx context.Context, limit int) ([]PodRecord, error)
}

// logSource opens a container's log, at most limit bytes of it.
type logSource func(ctx context.Context, namespace, pod, container string, limit int64) (io.ReadCloser, error)

// podLogs reads logs through the API server's pods/log subresource, which the kubelet serves.
func podLogs(cs kubernetes.Interface) logSource {
	return func(ctx context.Context, namespace, pod, container string, limit int64) (io.ReadCloser, error) {
		return cs.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container, LimitBytes: &limit}).
			Stream(ctx)
	}
}

// outputKey names one target's output: the row (job and pod UIDs) and where to read it.
type outputKey struct {
	jobUID, podUID, namespace, pod, container string
}

// outputFetcher fetches the output of each finished target once and stores it in the
// row's output column. The recorder offers it the rows it wrote; offering never blocks:
// a target is queued at most once at a time, at most maxOutputsQueued of them, and
// outputWorkers goroutines fetch them. A failed attempt is retried with exponential
// backoff, outputFetchAttempts attempts in all, each bounded by outputFetchTimeout.
//
// "Once" rests on the column, not on memory: before fetching, a worker reads whether
// the row's output is stored, and the output is stored only where none is (first one
// wins). So a target is not fetched again after its output was stored, neither by this
// process nor after a restart or a leader change, when the new leader is offered every
// row again as its informers list the pods. Two fetches of one target happen only when
// a fetch was under way on the old leader while the new one checked the row, or when
// storing failed after the fetch (MySQL down) and the attempt is retried; both store
// the same output, and the first stored is kept.
type outputFetcher struct {
	store    outputStore
	logs     logSource
	reader   client.Reader
	limit    int64
	log      logr.Logger
	workers  int
	maxQueue int
	attempts int
	timeout  time.Duration

	queue workqueue.TypedRateLimitingInterface[outputKey]
	mu    sync.Mutex
	// admitted holds the targets queued, being fetched or waiting for a retry.
	admitted map[outputKey]struct{}
	// dropped is set when an offer found the queue full: a finished target is rarely
	// written again, so the recorder's next maintenance pass offers the rows without
	// output from MySQL (see takeDropped).
	dropped bool
}

// offerDropped offers again, when offers found the queue full, the rows of finished
// targets whose output is not stored, as many as the queue has room for: such a target
// is rarely written again, so its output would otherwise never be fetched. Rows from
// MySQL are those without output only, so each call makes progress however many wait.
func (f *outputFetcher) offerDropped(ctx context.Context) error {
	dropped, room := f.takeDropped()
	if !dropped {
		return nil
	}
	if room <= 0 {
		f.markDropped()
		return nil
	}
	recs, err := f.store.PodsWithoutOutput(ctx, room)
	if err != nil {
		f.markDropped()
		return err
	}
	f.offer(recs)
	if len(recs) == room {
		f.markDropped() // more may wait: the next pass offers them
	}
	return nil
}

// markDropped asks the next maintenance pass to offer the rows without output again.
func (f *outputFetcher) markDropped() {
	f.mu.Lock()
	f.dropped = true
	f.mu.Unlock()
}

// takeDropped reports whether offers were dropped since the last call, and how many
// targets the queue has room for now.
func (f *outputFetcher) takeDropped() (bool, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	dropped := f.dropped
	f.dropped = false
	return dropped, f.maxQueue - len(f.admitted)
}

// newOutputFetcher returns a fetcher keeping at most limit bytes of each output, which
// waits retryBase before the second attempt of a target, doubling up to retryMax.
func newOutputFetcher(store outputStore, logs logSource, reader client.Reader, limit int64,
	retryBase, retryMax time.Duration, log logr.Logger) *outputFetcher {
	return &outputFetcher{
		store: store, logs: logs, reader: reader, limit: limit, log: log,
		workers: outputWorkers, maxQueue: maxOutputsQueued, attempts: outputFetchAttempts, timeout: outputFetchTimeout,
		queue: workqueue.NewTypedRateLimitingQueue(
			workqueue.NewTypedItemExponentialFailureRateLimiter[outputKey](retryBase, retryMax)),
		admitted: map[outputKey]struct{}{},
	}
}

// wantsOutput reports whether a written row is one whose output is to be fetched: a
// target in the API server whose job containers all finished, the deciding one having
// run (a container that never started has no log; a refused target ran nothing).
func wantsOutput(rec *PodRecord) bool {
	return rec.IsInEtcd && (rec.Status == PodStatusSucceeded || rec.Status == PodStatusFailed) &&
		rec.ExitCode != nil && rec.ContainerName != "" && rec.Version != ""
}

// offer queues the fetch of the outputs of the rows that want one. It never blocks.
func (f *outputFetcher) offer(recs []PodRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range recs {
		rec := &recs[i]
		if !wantsOutput(rec) {
			continue
		}
		key := outputKey{jobUID: rec.JobID, podUID: rec.PodID, namespace: rec.Namespace, pod: rec.Name,
			container: rec.ContainerName}
		if _, ok := f.admitted[key]; ok {
			continue
		}
		if len(f.admitted) >= f.maxQueue {
			outputFetches.WithLabelValues(outputDropped).Inc()
			f.dropped = true
			continue
		}
		f.admitted[key] = struct{}{}
		f.queue.Add(key)
	}
	outputsQueued.Set(float64(len(f.admitted)))
}

// run fetches offered outputs with the fetcher's workers until ctx ends.
func (f *outputFetcher) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range f.workers {
		wg.Go(func() {
			for {
				key, shutdown := f.queue.Get()
				if shutdown {
					return
				}
				f.process(ctx, key)
				f.queue.Done(key)
			}
		})
	}
	<-ctx.Done()
	f.queue.ShutDown()
	wg.Wait()
}

// process makes one attempt for a target and queues the next one when it may be retried.
func (f *outputFetcher) process(ctx context.Context, key outputKey) {
	result, err := f.fetch(ctx, key)
	if err != nil && ctx.Err() == nil {
		if f.queue.NumRequeues(key) < f.attempts-1 {
			outputFetches.WithLabelValues(outputRetried).Inc()
			f.log.V(1).Info("fetching an output failed; retrying", "namespace", key.namespace, "pod", key.pod,
				"container", key.container, "error", err.Error())
			f.queue.AddRateLimited(key)
			return
		}
		result = outputFailed
		f.log.Error(err, "fetching an output failed; giving up", "namespace", key.namespace, "pod", key.pod,
			"container", key.container, "attempts", f.attempts)
	}
	f.queue.Forget(key)
	f.mu.Lock()
	delete(f.admitted, key)
	outputsQueued.Set(float64(len(f.admitted)))
	f.mu.Unlock()
	if result != "" {
		outputFetches.WithLabelValues(result).Inc()
	}
}

// fetch makes one attempt: it skips a target whose output is stored or whose pod is
// gone, else reads the container's log, bounds it and stores it.
func (f *outputFetcher) fetch(ctx context.Context, key outputKey) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	exists, stored, err := f.store.OutputState(ctx, key.jobUID, key.podUID)
	if err != nil {
		return "", err
	}
	if stored {
		return outputAlreadyStored, nil
	}
	if !exists {
		// The row was refused by MySQL, or its database replaced: there is nothing to add the output to.
		return outputGone, nil
	}
	var pod corev1.Pod
	err = f.reader.Get(ctx, client.ObjectKey{Namespace: key.namespace, Name: key.pod}, &pod, client.UnsafeDisableDeepCopy)
	if apierrors.IsNotFound(err) || (err == nil && string(pod.UID) != key.podUID) {
		return outputGone, nil
	}
	if err != nil {
		return "", fmt.Errorf("reading pod %s/%s: %w", key.namespace, key.pod, err)
	}
	body, err := f.logs(ctx, key.namespace, key.pod, key.container, f.limit)
	if apierrors.IsNotFound(err) {
		return outputGone, nil
	}
	if err != nil {
		return "", fmt.Errorf("requesting the log of %s/%s container %s: %w", key.namespace, key.pod, key.container, err)
	}
	// The kubelet honours LimitBytes, but the body is read with the same bound whatever it sends.
	raw, err := io.ReadAll(io.LimitReader(body, f.limit))
	_ = body.Close()
	if err != nil {
		return "", fmt.Errorf("reading the log of %s/%s container %s: %w", key.namespace, key.pod, key.container, err)
	}
	ok, err := f.store.StoreOutput(ctx, key.jobUID, key.podUID, boundOutput(raw, int(f.limit)))
	if err != nil {
		return "", err
	}
	if !ok {
		return outputAlreadyStored, nil
	}
	return outputStored, nil
}

// boundOutput turns at most limit bytes of a log into valid UTF-8 of at most limit
// bytes. A log cut at the limit may end inside a character: that partial character is
// dropped rather than replaced. Other invalid bytes become U+FFFD, which may lengthen
// the text, so it is cut again on a character boundary.
func boundOutput(raw []byte, limit int) string {
	if len(raw) >= limit {
		for i := len(raw) - 1; i >= 0 && i >= len(raw)-utf8.UTFMax; i-- {
			if utf8.RuneStart(raw[i]) {
				if !utf8.FullRune(raw[i:]) {
					raw = raw[:i]
				}
				break
			}
		}
	}
	return clipBytes(string(raw), limit)
}
