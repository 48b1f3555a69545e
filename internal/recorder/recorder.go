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
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
)

// stopFlushTimeout bounds the last write of pending records when the recorder stops.
const stopFlushTimeout = 10 * time.Second

// informerSource gives the recorder the informers it watches; the manager's cache is one.
type informerSource interface {
	GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error)
	WaitForCacheSync(ctx context.Context) bool
}

// recorder turns observations of EphemeralJobs and pods into rows of a Store.
//
// Informer handlers map each event to records and queue them in pending, which keeps
// the latest record per row within a memory bound; they never wait on MySQL, so the
// EphemeralJob controller, which has its own handlers on the same informers, is never
// slowed down. One writer goroutine drains pending in batches and retries failed batches
// with exponential backoff until they succeed; when records were left out of the full
// queue, it re-reads every object once MySQL takes writes again. After the cache synced and MySQL is ready, and then
// every SweepInterval, a maintenance pass marks gone the rows whose object vanished
// unseen and imports the objects that have no row.
type recorder struct {
	store     Store
	informers informerSource
	reader    client.Reader
	opts      Options
	log       logr.Logger
	clk       clock.WithTicker
	// ready is closed once MySQL is reachable and migrated.
	ready <-chan struct{}
	// mysqlBack receives when MySQL answers again after it did not, so that a writer
	// waiting out its backoff writes at once.
	mysqlBack <-chan struct{}
	// closer, when set, closes the store after the last user stopped.
	closer *storeCloser
	// outputs, when set, fetches the output of the finished targets whose rows were written.
	outputs *outputFetcher

	pending *pending
	known   *knownJobs
	// registered is closed once the event handlers are registered.
	registered chan struct{}
}

func newRecorder(store Store, informers informerSource, reader client.Reader, opts Options, log logr.Logger,
	ready <-chan struct{}) *recorder {
	return &recorder{
		store:      store,
		informers:  informers,
		reader:     reader,
		opts:       opts.withDefaults(),
		log:        log,
		clk:        clock.RealClock{},
		ready:      ready,
		pending:    newPending(opts.withDefaults().MaxPendingBytes),
		known:      newKnownJobs(),
		registered: make(chan struct{}),
	}
}

// NeedLeaderElection makes the recorder run on the leader only, so one writer owns the rows.
func (r *recorder) NeedLeaderElection() bool { return true }

// Start registers the event handlers, waits for the cache and MySQL, runs the first
// maintenance pass, then writes pending records and repeats maintenance until ctx ends.
func (r *recorder) Start(ctx context.Context) error {
	if r.closer != nil {
		if !r.closer.acquire() {
			return nil
		}
		defer r.closer.release()
	}
	for _, w := range []struct {
		obj     client.Object
		handler toolscache.ResourceEventHandler
	}{
		{&appsv1alpha1.EphemeralJob{}, toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { r.recordJob(nil, obj, true) },
			UpdateFunc: func(oldObj, obj any) { r.recordJob(oldObj, obj, true) },
			DeleteFunc: func(obj any) { r.recordJob(nil, obj, false) },
		}},
		{&corev1.Pod{}, toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { r.recordPod(obj, true) },
			UpdateFunc: r.podUpdated,
			DeleteFunc: func(obj any) { r.recordPod(obj, false) },
		}},
	} {
		informer, err := r.informers.GetInformer(ctx, w.obj)
		if err != nil {
			return fmt.Errorf("getting the informer for %T: %w", w.obj, err)
		}
		reg, err := informer.AddEventHandler(w.handler)
		if err != nil {
			return fmt.Errorf("adding the event handler for %T: %w", w.obj, err)
		}
		defer func() { _ = informer.RemoveEventHandler(reg) }()
	}
	close(r.registered)

	select {
	case <-r.ready:
	case <-ctx.Done():
		return nil
	}
	if !r.informers.WaitForCacheSync(ctx) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("waiting for the cache to sync")
	}

	// The first pass runs before the writer starts, so that the import counts the
	// objects that were missing from the store before this process wrote anything.
	next := r.opts.SweepInterval
	if err := r.maintain(ctx); err != nil {
		r.log.Error(err, "sweep and import failed; retrying soon")
		next = min(next, r.opts.RetryMaxDelay)
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		r.runWriter(ctx)
	}()
	defer func() { <-writerDone }()
	if r.outputs != nil {
		outputsDone := make(chan struct{})
		go func() {
			defer close(outputsDone)
			r.outputs.run(ctx)
		}()
		defer func() { <-outputsDone }()
	}

	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.clk.After(next):
		}
		next = r.opts.SweepInterval
		if err := r.maintain(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.log.Error(err, "sweep and import failed; retrying soon")
			next = min(next, r.opts.RetryMaxDelay)
		}
	}
}

// recordJob queues the row of a job seen in an event, and the rows of the targets it
// refused when they are new since oldObj (nil for an add or a deletion); inEtcd is
// false for a deletion.
func (r *recorder) recordJob(oldObj, obj any, inEtcd bool) {
	if tombstone, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	ej, ok := obj.(*appsv1alpha1.EphemeralJob)
	if !ok {
		r.log.Info("ignoring an event for an unexpected object", "type", fmt.Sprintf("%T", obj))
		return
	}
	r.known.observe(ej, inEtcd)
	r.pending.addJob(JobRecordFor(ej, r.opts.Region, inEtcd))
	if !inEtcd {
		return
	}
	old, isUpdate := oldObj.(*appsv1alpha1.EphemeralJob)
	if !isUpdate || !equality.Semantic.DeepEqual(old.Status.Refusals, ej.Status.Refusals) {
		// The pods it identifies are read from the cache by the writer, off the informer.
		r.known.observeRefusals(ej)
	}
	if isUpdate && equality.Semantic.DeepEqual(old.Status.Refused, ej.Status.Refused) {
		return
	}
	r.queuePods(RefusedPodRecords(ej, r.opts.Region))
}

// recordPod queues the rows of a pod seen in an event, one per job that owns
// containers in it; inEtcd is false for a deletion.
func (r *recorder) recordPod(obj any, inEtcd bool) {
	if tombstone, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		r.log.Info("ignoring an event for an unexpected object", "type", fmt.Sprintf("%T", obj))
		return
	}
	r.queuePods(PodRecordsFor(pod, r.opts.Region, inEtcd, r.known.lookup))
	if !inEtcd {
		// A refused pod deleted before the writer read it from the cache still gets its row.
		if rec, ok := r.known.refusedRecord(pod, r.opts.Region, false); ok {
			r.pending.addPod(rec)
		}
	}
}

// podUpdated queues the rows of an updated pod, unless nothing but its resourceVersion
// changed for them: kubelet status updates of pods that a job touched long ago would
// otherwise be written forever.
func (r *recorder) podUpdated(oldObj, newObj any) {
	newPod, ok := newObj.(*corev1.Pod)
	if !ok || len(podstate.JobUIDs(newPod)) == 0 {
		return
	}
	recs := PodRecordsFor(newPod, r.opts.Region, true, r.known.lookup)
	if oldPod, ok := oldObj.(*corev1.Pod); ok &&
		sameButVersion(PodRecordsFor(oldPod, r.opts.Region, true, r.known.lookup), recs) {
		return
	}
	r.queuePods(recs)
}

func (r *recorder) queuePods(recs []PodRecord) {
	for _, rec := range recs {
		r.pending.addPod(rec)
	}
}

// sameButVersion reports whether two sets of rows of a pod differ in version at most.
func sameButVersion(a, b []PodRecord) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		x.Version, y.Version = "", ""
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

// reread writes the current state of every job and pod in the cache, which the
// informers keep as the API server has it, and marks gone the rows of objects no longer
// there: it stands in for the records left out of the full queue. It writes in batches
// straight to the store, so that it takes no more memory than one batch beyond the cache.
func (r *recorder) reread(ctx context.Context) error {
	rereads.Inc()
	r.log.Info("records were left out of the full queue; re-reading every job and pod")
	var ejs appsv1alpha1.EphemeralJobList
	if err := r.reader.List(ctx, &ejs, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing EphemeralJobs: %w", err)
	}
	var jobs []JobRecord
	var pods []PodRecord
	flush := func(force bool) error {
		if len(jobs) > 0 && (force || len(jobs) >= r.opts.BatchSize) {
			if _, err := writeRows(ctx, r, tableJob, jobs, r.store.UpsertJobs); err != nil {
				return fmt.Errorf("re-reading jobs: %w", err)
			}
			jobs = jobs[:0]
		}
		if len(pods) > 0 && (force || len(pods) >= r.opts.BatchSize) {
			if _, err := writeRows(ctx, r, tablePod, pods, r.store.UpsertPods); err != nil {
				return fmt.Errorf("re-reading pods: %w", err)
			}
			r.offerOutputs(pods)
			pods = pods[:0]
		}
		return nil
	}
	for i := range ejs.Items {
		r.known.observe(&ejs.Items[i], true)
		jobs = append(jobs, JobRecordFor(&ejs.Items[i], r.opts.Region, true))
		pods = append(pods, RefusedPodRecords(&ejs.Items[i], r.opts.Region)...)
		if err := flush(false); err != nil {
			return err
		}
	}
	var podList corev1.PodList
	if err := r.reader.List(ctx, &podList, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	for i := range podList.Items {
		pods = append(pods, PodRecordsFor(&podList.Items[i], r.opts.Region, true, r.known.lookup)...)
		if err := flush(false); err != nil {
			return err
		}
	}
	pods = append(pods, identifiedRefusalRecords(ejs.Items, podList.Items, r.opts.Region)...)
	if err := flush(true); err != nil {
		return err
	}
	return r.sweep(ctx)
}

// rescanPods queues the rows of the pods of the jobs seen for the first time since the
// last call, read from the cache: events of these pods that came before their job's
// were left out.
func (r *recorder) rescanPods(ctx context.Context) {
	r.scanPods(ctx, r.known.takeRescan(), r.known.requestRescan, "listing pods to record; retrying",
		func(pod *corev1.Pod) []PodRecord { return PodRecordsFor(pod, r.opts.Region, true, r.known.lookup) })
}

// scanRefusals queues the rows of the pods that the jobs whose status.refusals changed
// identify as refused, read from the cache (see refusalIDs).
func (r *recorder) scanRefusals(ctx context.Context) {
	r.scanPods(ctx, r.known.takeRefusalScan(), r.known.requestRefusalScan, "listing pods to record refusals; retrying",
		func(pod *corev1.Pod) []PodRecord {
			if rec, ok := r.known.refusedRecord(pod, r.opts.Region, true); ok {
				return []PodRecord{rec}
			}
			return nil
		})
}

// scanPods lists, from the cache, the pods of the namespaces of jobs (job UID -> namespace)
// and queues the rows rows gives for them that belong to those jobs. A list that fails
// hands the jobs back to retry, to be scanned again.
func (r *recorder) scanPods(ctx context.Context, jobs map[types.UID]string, retry func(map[types.UID]string),
	failure string, rows func(*corev1.Pod) []PodRecord) {
	if len(jobs) == 0 {
		return
	}
	byNamespace := map[string][]types.UID{}
	for uid, ns := range jobs {
		byNamespace[ns] = append(byNamespace[ns], uid)
	}
	for ns, uids := range byNamespace {
		var pods corev1.PodList
		if err := r.reader.List(ctx, &pods, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
			r.log.Error(err, failure, "namespace", ns)
			retry(jobs)
			return
		}
		for i := range pods.Items {
			for _, rec := range rows(&pods.Items[i]) {
				if slices.Contains(uids, types.UID(rec.JobID)) {
					r.pending.addPod(rec)
				}
			}
		}
	}
}

// runWriter drains pending until ctx ends, then writes what is left once.
func (r *recorder) runWriter(ctx context.Context) {
	var delay time.Duration
	for {
		// A re-read that failed is retried even when no new record arrives.
		if r.pending.len() == 0 && !r.pending.hasOverflow() {
			select {
			case <-ctx.Done():
				r.flushOnStop()
				return
			case <-r.pending.signal:
			}
		}
		r.waitForBatch(ctx)
		if ctx.Err() != nil {
			r.flushOnStop()
			return
		}
		r.rescanPods(ctx)
		r.scanRefusals(ctx)
		err := r.writeBatch(ctx)
		if err == nil && r.pending.takeOverflow() {
			if err = r.reread(ctx); err != nil {
				r.pending.markOverflow()
			}
		}
		if err != nil {
			delay = backoff(delay, r.opts.RetryBaseDelay, r.opts.RetryMaxDelay)
			r.log.Error(err, "writing records failed; retrying", "pending", r.pending.len(), "after", delay)
			select {
			case <-ctx.Done():
				r.flushOnStop()
				return
			case <-r.clk.After(delay):
			case <-r.mysqlBack:
			}
			continue
		}
		delay = 0
	}
}

// waitForBatch returns once BatchSize records are pending, BatchWait passed, or ctx ended.
func (r *recorder) waitForBatch(ctx context.Context) {
	if r.pending.len() >= r.opts.BatchSize {
		return
	}
	timer := r.clk.NewTimer(r.opts.BatchWait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C():
			return
		case <-r.pending.signal:
			if r.pending.len() >= r.opts.BatchSize {
				return
			}
		}
	}
}

// writeBatch writes up to BatchSize records of each table; records it could not
// write go back to pending.
func (r *recorder) writeBatch(ctx context.Context) error {
	jobs, pods := r.pending.take(r.opts.BatchSize)
	var errs []error
	if len(jobs) > 0 {
		failed, err := writeRows(ctx, r, tableJob, jobs, r.store.UpsertJobs)
		r.pending.requeueJobs(failed)
		errs = append(errs, err)
	}
	if len(pods) > 0 {
		failed, err := writeRows(ctx, r, tablePod, pods, r.store.UpsertPods)
		r.pending.requeuePods(failed)
		// writeRows returns the rows it did not write as a suffix of those it was given.
		r.offerOutputs(pods[:len(pods)-len(failed)])
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// offerOutputs offers the rows just written to the output fetcher, if there is one: a
// row is written before its output is fetched, so that the output has a row to go to.
func (r *recorder) offerOutputs(written []PodRecord) {
	if r.outputs != nil && len(written) > 0 {
		r.outputs.offer(written)
	}
}

// writeRows upserts rows and returns those to retry. When MySQL refuses the values
// of the batch, it writes the rows one by one and drops those MySQL refuses alone,
// so that one bad row cannot block every other.
func writeRows[T any](ctx context.Context, r *recorder, table string, rows []T,
	upsert func(context.Context, []T) error) ([]T, error) {
	err := upsert(ctx, rows)
	if err == nil {
		return nil, nil
	}
	if !isDataError(err) {
		return rows, err
	}
	for i := range rows {
		err := upsert(ctx, rows[i:i+1])
		switch {
		case err == nil:
		case isDataError(err):
			droppedRecords.WithLabelValues(table).Inc()
			r.log.Error(err, "MySQL refused a record; dropping it", "table", table)
		default:
			return rows[i:], err
		}
	}
	return nil, nil
}

// flushOnStop writes the records still pending once, within stopFlushTimeout.
func (r *recorder) flushOnStop() {
	ctx, cancel := context.WithTimeout(context.Background(), stopFlushTimeout)
	defer cancel()
	for r.pending.len() > 0 {
		if err := r.writeBatch(ctx); err != nil {
			r.log.Error(err, "records not written before stopping", "pending", r.pending.len())
			return
		}
	}
}

// maintain marks gone the rows whose object is gone from the cache, then imports the
// objects of the cache that have no row, without touching existing rows.
func (r *recorder) maintain(ctx context.Context) error {
	if err := r.sweep(ctx); err != nil {
		return err
	}

	var ejs appsv1alpha1.EphemeralJobList
	if err := r.reader.List(ctx, &ejs, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing EphemeralJobs: %w", err)
	}
	jobs := make([]JobRecord, 0, len(ejs.Items))
	var refused []PodRecord
	for i := range ejs.Items {
		r.known.observe(&ejs.Items[i], true)
		jobs = append(jobs, JobRecordFor(&ejs.Items[i], r.opts.Region, true))
		refused = append(refused, RefusedPodRecords(&ejs.Items[i], r.opts.Region)...)
	}
	jobsMissing, err := r.store.InsertMissingJobs(ctx, jobs)
	if err != nil {
		return err
	}
	missingInStorage.WithLabelValues(tableJob).Set(float64(jobsMissing))
	importedRecords.WithLabelValues(tableJob).Add(float64(jobsMissing))

	var podList corev1.PodList
	if err := r.reader.List(ctx, &podList, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	pods := append(refused, identifiedRefusalRecords(ejs.Items, podList.Items, r.opts.Region)...)
	carried := map[types.UID]bool{}
	for i := range podList.Items {
		pods = append(pods, PodRecordsFor(&podList.Items[i], r.opts.Region, true, r.known.lookup)...)
		for _, uid := range podstate.JobUIDs(&podList.Items[i]) {
			carried[uid] = true
		}
	}
	r.known.forgetDeleted(carried)
	podsMissing, err := r.store.InsertMissingPods(ctx, pods)
	if err != nil {
		return err
	}
	missingInStorage.WithLabelValues(tablePod).Set(float64(podsMissing))
	importedRecords.WithLabelValues(tablePod).Add(float64(podsMissing))

	r.log.Info("imported", "jobsMissing", jobsMissing, "podsMissing", podsMissing)
	return r.offerDroppedOutputs(ctx)
}

// offerDroppedOutputs offers the output fetcher, when offers found its queue full, the
// rows of finished targets whose output is not stored (see outputFetcher.offerDropped).
func (r *recorder) offerDroppedOutputs(ctx context.Context) error {
	if r.outputs == nil {
		return nil
	}
	return r.outputs.offerDropped(ctx)
}

// sweep marks gone the rows whose object is gone from the cache.
func (r *recorder) sweep(ctx context.Context) error {
	jobsGone, err := r.store.SweepJobs(ctx, r.existsIn(func() client.Object { return &appsv1alpha1.EphemeralJob{} }))
	if err != nil {
		return err
	}
	sweptRecords.WithLabelValues(tableJob).Add(float64(jobsGone))
	podsGone, err := r.store.SweepPods(ctx, r.existsIn(func() client.Object { return &corev1.Pod{} }))
	if err != nil {
		return err
	}
	sweptRecords.WithLabelValues(tablePod).Add(float64(podsGone))
	r.log.Info("swept", "jobsGone", jobsGone, "podsGone", podsGone)
	return nil
}

// existsIn returns an Exists that looks the object up in the reader (the cache) now.
func (r *recorder) existsIn(newObj func() client.Object) Exists {
	return func(ctx context.Context, namespace, name, uid string) (bool, error) {
		obj := newObj()
		err := r.reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj, client.UnsafeDisableDeepCopy)
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return string(obj.GetUID()) == uid, nil
	}
}

// backoff returns the delay after one more failure: base, then doubling up to limit.
func backoff(prev, base, limit time.Duration) time.Duration {
	if prev <= 0 {
		return base
	}
	return min(2*prev, limit)
}
