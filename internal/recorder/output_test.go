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
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// memOutputs is an outputStore in memory. Its OutputState can be made to wait for
// release, counting the callers waiting at once.
type memOutputs struct {
	mu      sync.Mutex
	outputs map[string]*string // by job/pod; nil: a row without output
	release chan struct{}
	waiting int
	maxWait int
	// records are the rows PodsWithoutOutput reads from; scans counts its calls.
	records []PodRecord
	scans   int
}

func (m *memOutputs) PodsWithoutOutput(_ context.Context, limit int) ([]PodRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.scans++
	var out []PodRecord
	for _, r := range m.records {
		if m.outputs[r.JobID+"/"+r.PodID] == nil && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func newMemOutputs(rows ...string) *memOutputs {
	m := &memOutputs{outputs: map[string]*string{}}
	for _, r := range rows {
		m.outputs[r] = nil
	}
	return m
}

func (m *memOutputs) OutputState(ctx context.Context, jobUID, podUID string) (bool, bool, error) {
	if m.release != nil {
		m.mu.Lock()
		m.waiting++
		m.maxWait = max(m.maxWait, m.waiting)
		m.mu.Unlock()
		select {
		case <-m.release:
		case <-ctx.Done():
		}
		m.mu.Lock()
		m.waiting--
		m.mu.Unlock()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out, ok := m.outputs[jobUID+"/"+podUID]
	return ok, out != nil, nil
}

func (m *memOutputs) StoreOutput(_ context.Context, jobUID, podUID, output string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := jobUID + "/" + podUID
	if out, ok := m.outputs[key]; !ok || out != nil {
		return false, nil
	}
	m.outputs[key] = &output
	return true, nil
}

func (m *memOutputs) output(row string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.outputs[row]
	if out == nil {
		return "", false
	}
	return *out, true
}

// finishedRow is the row of a finished target in pod "p" (UID "pod-1") of job-1.
func finishedRow(podUID string) PodRecord {
	return PodRecord{Name: "p-" + podUID, Namespace: "ns", PodID: podUID, JobID: testJobUID, Version: "9",
		Status: PodStatusFailed, ContainerName: "debug-x1", ExitCode: ptr.To[int32](1), IsInEtcd: true}
}

func livePod(podUID string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p-" + podUID, Namespace: "ns", UID: types.UID(podUID)}}
}

// logRequests returns the pods/log requests the fake clientset served.
func logRequests(cs *k8sfake.Clientset) []*corev1.PodLogOptions {
	var reqs []*corev1.PodLogOptions
	for _, a := range cs.Actions() {
		if a.GetSubresource() == "log" {
			if g, ok := a.(clienttesting.GenericAction); ok {
				opts, _ := g.GetValue().(*corev1.PodLogOptions)
				reqs = append(reqs, opts)
			}
		}
	}
	return reqs
}

// fetcherFor returns a fetcher over the store, the clientset and a cache holding the pods.
func fetcherFor(t *testing.T, store outputStore, cs *k8sfake.Clientset, limit int64, pods ...client.Object) *outputFetcher {
	t.Helper()
	reader := fake.NewClientBuilder().WithObjects(pods...).Build()
	return newOutputFetcher(store, podLogs(cs), reader, limit, time.Millisecond, 5*time.Millisecond, testLogger(t))
}

// runUntilIdle runs the fetcher until every target offered was dealt with.
func runUntilIdle(t *testing.T, f *outputFetcher, offers ...PodRecord) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.run(ctx)
	}()
	defer func() { cancel(); <-done }()
	f.offer(offers)
	eventually(t, 10*time.Second, "every offered output was dealt with", func() (bool, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.admitted) == 0, nil
	})
}

func fetchCount(result string) float64 {
	return promtestutil.ToFloat64(outputFetches.WithLabelValues(result))
}

func TestOutputIsFetchedOnceBoundedAndKept(t *testing.T) {
	store := newMemOutputs(testJobUID + "/pod-1")
	cs := k8sfake.NewClientset()
	stored := fetchCount(outputStored)
	runUntilIdle(t, fetcherFor(t, store, cs, 4, livePod("pod-1")), finishedRow("pod-1"))

	// The fake clientset answers "fake logs" whatever the limit: the fetcher bounds it.
	if out, ok := store.output(testJobUID + "/pod-1"); !ok || out != "fake" {
		t.Errorf("output = %q (stored %v), want %q", out, ok, "fake")
	}
	reqs := logRequests(cs)
	if len(reqs) != 1 || reqs[0].Container != "debug-x1" || reqs[0].LimitBytes == nil || *reqs[0].LimitBytes != 4 {
		t.Fatalf("log requests = %+v, want one for container debug-x1 with limitBytes 4", reqs)
	}
	if got := fetchCount(outputStored) - stored; got != 1 {
		t.Errorf("stored fetches counted %v, want 1", got)
	}

	// Offered again, in this process or in the next one (a restart, a new leader): the
	// column says it is stored, and the kubelet is not asked again.
	already := fetchCount(outputAlreadyStored)
	runUntilIdle(t, fetcherFor(t, store, cs, 4, livePod("pod-1")), finishedRow("pod-1"), finishedRow("pod-1"))
	if n := len(logRequests(cs)); n != 1 {
		t.Errorf("%d log requests after the output was stored, want still 1", n)
	}
	if got := fetchCount(outputAlreadyStored) - already; got != 1 {
		t.Errorf("already-stored fetches counted %v, want 1 (the second offer of the same target while queued is one)", got)
	}
}

func TestOnlyFinishedTargetsThatRanAreFetched(t *testing.T) {
	running := finishedRow("pod-1")
	running.Status, running.ExitCode = PodStatusRunning, nil
	neverStarted := finishedRow("pod-2")
	neverStarted.ExitCode = nil
	gone := finishedRow("pod-3")
	gone.IsInEtcd = false
	refused := finishedRow("pod-4")
	refused.Version, refused.ExitCode = "", nil
	store := newMemOutputs()
	for _, rec := range []PodRecord{running, neverStarted, gone, refused, finishedRow("pod-5")} {
		store.outputs[rec.JobID+"/"+rec.PodID] = nil
	}
	cs := k8sfake.NewClientset()
	runUntilIdle(t, fetcherFor(t, store, cs, 100, livePod("pod-1"), livePod("pod-2"), livePod("pod-4"), livePod("pod-5")),
		running, neverStarted, gone, refused, finishedRow("pod-5"))
	if reqs := logRequests(cs); len(reqs) != 1 {
		t.Errorf("%d log requests, want 1: only the finished target whose container ran", len(reqs))
	}
	if _, ok := store.output(testJobUID + "/pod-5"); !ok {
		t.Error("the finished target's output was not stored")
	}
}

func TestOutputOfAGonePodIsSkipped(t *testing.T) {
	store := newMemOutputs(testJobUID+"/pod-1", testJobUID+"/pod-2", testJobUID+"/pod-3")
	cs := k8sfake.NewClientset()
	// pod-3 is in the cache, but the API server no longer has it.
	cs.PrependReactor("get", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "log" {
			return true, nil, apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "p-pod-3")
		}
		return false, nil, nil
	})
	replaced := livePod("pod-2")
	replaced.UID = "another-uid" // same name, another pod
	gone := fetchCount(outputGone)
	retried := fetchCount(outputRetried)
	runUntilIdle(t, fetcherFor(t, store, cs, 100, replaced, livePod("pod-3")),
		finishedRow("pod-1"), finishedRow("pod-2"), finishedRow("pod-3"))
	if reqs := logRequests(cs); len(reqs) != 1 {
		t.Errorf("%d log requests, want 1 (for the pod only the API server knows gone)", len(reqs))
	}
	if got := fetchCount(outputGone) - gone; got != 3 {
		t.Errorf("gone counted %v, want 3", got)
	}
	if got := fetchCount(outputRetried) - retried; got != 0 {
		t.Errorf("a gone pod was retried %v times", got)
	}
	for _, p := range []string{"pod-1", "pod-2", "pod-3"} {
		if _, ok := store.output(testJobUID + "/" + p); ok {
			t.Errorf("an output was stored for %s", p)
		}
	}
}

func TestOutputFetchRetriesAreBounded(t *testing.T) {
	store := newMemOutputs(testJobUID+"/pod-1", testJobUID+"/pod-2")
	cs := k8sfake.NewClientset()
	calls := map[string]int{}
	cs.PrependReactor("get", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "log" {
			return false, nil, nil
		}
		// The fake's log action names no pod: the rows' containers tell them apart.
		name := a.(clienttesting.GenericAction).GetValue().(*corev1.PodLogOptions).Container
		calls[name]++
		// pod-1's kubelet never answers; pod-2's answers on the third attempt.
		if name == "c-pod-1" || calls[name] < 3 {
			return true, nil, apierrors.NewServiceUnavailable("the kubelet does not answer")
		}
		return true, &runtime.Unknown{Raw: []byte("third time")}, nil
	})
	failed := fetchCount(outputFailed)
	first, second := finishedRow("pod-1"), finishedRow("pod-2")
	first.ContainerName, second.ContainerName = "c-pod-1", "c-pod-2"
	runUntilIdle(t, fetcherFor(t, store, cs, 100, livePod("pod-1"), livePod("pod-2")), first, second)
	if calls["c-pod-1"] != outputFetchAttempts || calls["c-pod-2"] != 3 {
		t.Errorf("log requests per pod = %v, want %d for the failing one and 3", calls, outputFetchAttempts)
	}
	if got := fetchCount(outputFailed) - failed; got != 1 {
		t.Errorf("failed counted %v, want 1", got)
	}
	if _, ok := store.output(testJobUID + "/pod-1"); ok {
		t.Error("an output was stored for the pod whose kubelet never answered")
	}
	if out, _ := store.output(testJobUID + "/pod-2"); out != "third time" {
		t.Errorf("output of the pod that answered late = %q", out)
	}
}

// TestOutputFetchesAreBoundedAndNeverBlockTheOffer holds every fetch, as a kubelet that
// does not answer would: no more than the workers run at once, offering returns at once,
// and what does not fit in the queue is dropped and counted.
func TestOutputFetchesAreBoundedAndNeverBlockTheOffer(t *testing.T) {
	store := newMemOutputs()
	store.release = make(chan struct{})
	var rows []PodRecord
	var pods []client.Object
	for i := range 30 {
		rec := finishedRow(fmt.Sprintf("pod-%02d", i))
		store.outputs[rec.JobID+"/"+rec.PodID] = nil
		rows = append(rows, rec)
		pods = append(pods, livePod(rec.PodID))
	}
	f := fetcherFor(t, store, k8sfake.NewClientset(), 100, pods...)
	f.maxQueue = 20
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.run(ctx)
	}()
	defer func() { cancel(); <-done }()

	dropped := fetchCount(outputDropped)
	offered := make(chan struct{})
	go func() {
		defer close(offered)
		f.offer(rows)
		f.offer(rows)
	}()
	select {
	case <-offered:
	case <-time.After(5 * time.Second):
		t.Fatal("offering blocked while every fetch hangs")
	}
	eventually(t, 10*time.Second, "the workers are busy", func() (bool, error) {
		store.mu.Lock()
		defer store.mu.Unlock()
		return store.waiting == outputWorkers, nil
	})
	if got := fetchCount(outputDropped) - dropped; got != 20 {
		t.Errorf("dropped counted %v, want 20 (10 beyond the queue's 20, twice)", got)
	}
	close(store.release)
	eventually(t, 10*time.Second, "every queued output was dealt with", func() (bool, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.admitted) == 0, nil
	})
	store.mu.Lock()
	defer store.mu.Unlock()
	if store.maxWait > outputWorkers {
		t.Errorf("%d fetches at once, want at most %d", store.maxWait, outputWorkers)
	}
	stored := 0
	for _, out := range store.outputs {
		if out != nil {
			stored++
		}
	}
	if stored != 20 {
		t.Errorf("%d outputs stored, want the 20 queued", stored)
	}
	store.records = rows
	store.mu.Unlock()

	// The next maintenance pass offers the dropped targets again, from the rows without output.
	if err := f.offerDropped(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the dropped outputs were dealt with", func() (bool, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.admitted) == 0, nil
	})
	if err := f.offerDropped(ctx); err != nil {
		t.Fatal(err)
	}
	store.mu.Lock()
	stored = 0
	for _, out := range store.outputs {
		if out != nil {
			stored++
		}
	}
	if stored != 30 || store.scans != 1 {
		t.Errorf("%d outputs stored after the rescan, want all 30; %d scans, want 1 (none without a drop)", stored, store.scans)
	}
}

func TestBoundOutput(t *testing.T) {
	for _, tt := range []struct {
		name  string
		raw   string
		limit int
		want  string
	}{
		{"short", "hello", 10, "hello"},
		{"a character cut by the limit is dropped", "h\xc3", 2, "h"},
		{"a four-byte character cut after three bytes", "ab\xf0\x9f\x99", 5, "ab"},
		{"whole characters up to the limit", "héé", 5, "héé"},
		{"invalid bytes become U+FFFD, cut again to the limit", "\xff\xffab", 4, "\uFFFDa"},
		{"invalid bytes in a short log", "a\xffb", 10, "a\uFFFDb"},
		{"empty", "", 10, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := boundOutput([]byte(tt.raw), tt.limit)
			if got != tt.want || len(got) > tt.limit || !utf8.ValidString(got) {
				t.Errorf("boundOutput(%q, %d) = %q, want %q", tt.raw, tt.limit, got, tt.want)
			}
		})
	}
	// A log of the full bound, multibyte at the cut, through the fetcher's reader.
	store := newMemOutputs(testJobUID + "/pod-1")
	cs := k8sfake.NewClientset()
	long := strings.Repeat("ü", MaxOutputBytes) // 2 MiB
	cs.PrependReactor("get", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, &runtime.Unknown{Raw: []byte("x" + long)}, nil
	})
	runUntilIdle(t, fetcherFor(t, store, cs, MaxOutputBytes, livePod("pod-1")), finishedRow("pod-1"))
	out, _ := store.output(testJobUID + "/pod-1")
	if len(out) != MaxOutputBytes-1 || !utf8.ValidString(out) || !strings.HasPrefix(out, "xü") {
		t.Errorf("output of %d bytes (valid %v), want %d bytes of valid UTF-8", len(out), utf8.ValidString(out), MaxOutputBytes-1)
	}
}

func TestValidateOutputBytes(t *testing.T) {
	for n, ok := range map[int64]bool{0: true, 1: true, 65536: true, MaxOutputBytes: true, MaxOutputBytes + 1: false, -1: false} {
		err := ValidateOutputBytes(n)
		if (err == nil) != ok {
			t.Errorf("ValidateOutputBytes(%d) = %v, want ok %v", n, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), fmt.Sprint(n)) {
			t.Errorf("the error %q does not name the value", err)
		}
	}
}

// TestSetupRejectsABadOutputBound checks SetupWithManager's own check of the bound.
func TestSetupRejectsABadOutputBound(t *testing.T) {
	_, err := SetupWithManager(nil, Config{}, Options{OutputBytes: -5})
	if err == nil || !strings.Contains(err.Error(), "-5") {
		t.Errorf("SetupWithManager with a negative bound = %v, want an error naming it", err)
	}
}

// TestWrittenRowsGetTheirOutputOnce runs the writer and the fetcher against MariaDB: a
// finished target's row is written, then its output fetched and stored; later writes of
// the row (a later observation, a restarted recorder) keep the output and fetch nothing.
func TestWrittenRowsGetTheirOutputOnce(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	pod := makePod("p", "pod-1").ephemeral(debugName, testJobUID, terminated(3, "Error", "bad", 0, time.Minute)).obj()
	cs := k8sfake.NewClientset()
	write := func(pod *corev1.Pod) {
		t.Helper()
		r := newRecorder(s, nil, nil, Options{}, testLogger(t), nil)
		r.outputs = fetcherFor(t, s, cs, 1024, pod)
		rec, ok := PodRecordFor(pod, testJobUID, testRegion, true)
		if !ok {
			t.Fatal("no row")
		}
		r.pending.addPod(rec)
		if err := r.writeBatch(ctx); err != nil {
			t.Fatalf("writing: %v", err)
		}
		runUntilIdle(t, r.outputs)
	}
	write(pod)
	got := getPod(t, s, testJobUID, "pod-1")
	if got.Output != "fake logs" || deref32(got.ExitCode) != "3" || got.Message != "bad" {
		t.Fatalf("row after the first write: output %q exit %s message %q, want the fake logs, 3, bad",
			got.Output, deref32(got.ExitCode), got.Message)
	}
	later := pod.DeepCopy()
	later.ResourceVersion = "8"
	later.Labels = map[string]string{"touched": "yes"}
	write(later) // a later observation, written by a new recorder as after a restart
	got = getPod(t, s, testJobUID, "pod-1")
	if got.Version != "8" || got.Output != "fake logs" {
		t.Errorf("row after a later write: version %s output %q, want 8 and the output kept", got.Version, got.Output)
	}
	if n := len(logRequests(cs)); n != 1 {
		t.Errorf("%d log requests, want 1", n)
	}

	// The store's side: the first output stored is kept.
	exists, stored, err := s.OutputState(ctx, testJobUID, "pod-1")
	if err != nil || !exists || !stored {
		t.Errorf("OutputState = %v, %v, %v; want an existing row with its output", exists, stored, err)
	}
	if ok, err := s.StoreOutput(ctx, testJobUID, "pod-1", "other"); err != nil || ok {
		t.Errorf("StoreOutput over a stored output = %v, %v; want false", ok, err)
	}
	if exists, _, err := s.OutputState(ctx, testJobUID, "no-such-pod"); err != nil || exists {
		t.Errorf("OutputState of a missing row = %v, %v; want false", exists, err)
	}
	// An empty log counts as stored: it is not fetched again.
	if err := s.UpsertPods(ctx, []PodRecord{podRow("j", "quiet", PodStatusSucceeded, "1")}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.StoreOutput(ctx, "j", "quiet", ""); err != nil || !ok {
		t.Fatalf("StoreOutput of an empty output = %v, %v", ok, err)
	}
	if _, stored, err := s.OutputState(ctx, "j", "quiet"); err != nil || !stored {
		t.Errorf("an empty output stored reads as stored %v, %v; want true", stored, err)
	}
}
