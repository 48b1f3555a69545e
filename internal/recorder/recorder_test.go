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
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache/informertest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil/mariadb"
)

func TestHandlersQueueRows(t *testing.T) {
	r := newRecorder(nil, nil, nil, Options{Region: testRegion}, testLogger(t), nil)

	job := makeJob("ej", testJobUID, appsv1alpha1.EphemeralJobRunning)
	job.Spec.Template.EphemeralContainers[0].Name = "a"
	r.recordJob(nil, toolscache.DeletedFinalStateUnknown{Key: "ns/ej", Obj: job}, false)
	other := makeJob("second", "job-2", appsv1alpha1.EphemeralJobRunning)
	other.Spec.Template.EphemeralContainers[0].Name = "b"
	r.known.observe(other, true)
	pod := makePod("p", "pod-1").ephemeral("a", testJobUID, running(time.Minute)).ephemeral("b", "job-2", nil).
		ephemeral("c", "job-unknown", nil).obj()
	r.recordPod(toolscache.DeletedFinalStateUnknown{Key: "ns/p", Obj: pod}, false)
	r.recordPod(makePod("plain", "pod-2").obj(), true)
	r.recordJob(nil, "not a job", true)

	jobs, pods := r.pending.take(10)
	if len(jobs) != 1 || jobs[0].IsInEtcd || jobs[0].Status != jobRunning || jobs[0].DeployRegion != testRegion {
		t.Errorf("deleted job from a tombstone: %+v", jobs)
	}
	if len(pods) != 2 {
		t.Fatalf("deleted pod with containers of two jobs gave %d rows, want 2", len(pods))
	}
	for _, p := range pods {
		if p.IsInEtcd || p.Status != PodStatusUnknown {
			t.Errorf("row of a pod deleted before finishing: is_in_etcd %v status %s, want false Unknown", p.IsInEtcd, p.Status)
		}
	}

	// An update that only changes the resourceVersion is not written again.
	old := makePod("p", "pod-1").ephemeral("a", testJobUID, running(time.Minute)).obj()
	same := old.DeepCopy()
	same.ResourceVersion = "8"
	same.Labels = map[string]string{"touched": "yes"}
	r.podUpdated(old, same)
	if n := r.pending.len(); n != 0 {
		t.Errorf("a version-only pod update queued %d rows", n)
	}
	done := makePod("p", "pod-1").ephemeral("a", testJobUID, terminated(0, "Completed", "", time.Minute, 2*time.Minute)).obj()
	r.podUpdated(old, done)
	if _, pods := r.pending.take(10); len(pods) != 1 || pods[0].Status != PodStatusSucceeded {
		t.Errorf("a finished container queued %+v, want one Succeeded row", pods)
	}

	// Refused targets get a row when the job first lists them, not again on each update.
	refusing := makeJob("refusing", "job-3", appsv1alpha1.EphemeralJobRunning)
	refusing.Status.Refused = []appsv1alpha1.RefusedPod{{Name: "web-1", UID: "pod-9", Reason: appsv1alpha1.ReasonContainerNameTaken}}
	r.recordJob(nil, refusing, true)
	if _, pods := r.pending.take(10); len(pods) != 1 || pods[0].PodID != "pod-9" || pods[0].Status != PodStatusFailed {
		t.Errorf("a job with a refused target queued pod rows %+v, want one Failed row", pods)
	}
	later := refusing.DeepCopy()
	later.ResourceVersion, later.Status.Running = "101", 1
	r.recordJob(refusing, later, true)
	if jobs, pods := r.pending.take(10); len(jobs) != 1 || len(pods) != 0 {
		t.Errorf("an update with the same refusals queued %d job rows and pod rows %+v, want 1 and none", len(jobs), pods)
	}
}

func TestWriteRowsDropsOnlyTheRowsMySQLRefuses(t *testing.T) {
	r := newRecorder(nil, nil, nil, Options{}, testLogger(t), nil)
	var written []string
	upsert := func(_ context.Context, rows []PodRecord) error {
		for _, p := range rows {
			if p.PodID == "bad" {
				return &mysql.MySQLError{Number: 1406, Message: "Data too long"}
			}
		}
		for _, p := range rows {
			written = append(written, p.PodID)
		}
		return nil
	}
	before := testutil.ToFloat64(droppedRecords.WithLabelValues(tablePod))
	rows := []PodRecord{podRow("j", "a", "", ""), podRow("j", "bad", "", ""), podRow("j", "c", "", "")}
	retry, err := writeRows(context.Background(), r, tablePod, rows, upsert)
	if err != nil || len(retry) != 0 {
		t.Fatalf("writeRows() = %v, %v; want nothing to retry", retry, err)
	}
	if fmt.Sprint(written) != "[a c]" {
		t.Errorf("written %v, want [a c]", written)
	}
	if got := testutil.ToFloat64(droppedRecords.WithLabelValues(tablePod)) - before; got != 1 {
		t.Errorf("dropped %v records, want 1", got)
	}

	outage := errors.New("connection refused")
	retry, err = writeRows(context.Background(), r, tablePod, rows, func(context.Context, []PodRecord) error { return outage })
	if !errors.Is(err, outage) || len(retry) != len(rows) {
		t.Errorf("during an outage writeRows() = %d rows to retry, %v; want all rows and the error", len(retry), err)
	}
}

func TestWriterRetriesWhileMySQLIsDown(t *testing.T) {
	srv := mariadb.StartT(t)
	if !srv.Managed() {
		t.Skip("the server comes from " + mariadb.EnvDSN + "; it cannot be stopped")
	}
	s := openStore(t, configFor(srv, srv.DBName), StoreOptions{QueryTimeout: 3 * time.Second})
	// The reader answers the writer's reading of the pods of a job seen for the first time.
	reader := fake.NewClientBuilder().WithScheme(newScheme(t)).Build()
	r := newRecorder(s, nil, reader, Options{Region: testRegion, BatchWait: 20 * time.Millisecond,
		RetryBaseDelay: 20 * time.Millisecond, RetryMaxDelay: 300 * time.Millisecond}, testLogger(t), nil)
	ctx, cancel := context.WithCancel(context.Background())
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		r.runWriter(ctx)
	}()
	defer func() {
		cancel()
		<-writerDone
	}()

	podOf := func(i int, state *corev1.ContainerState) *corev1.Pod {
		return makePod(fmt.Sprintf("p%03d", i), fmt.Sprintf("pod-%03d", i)).ephemeral(debugName, testJobUID, state).obj()
	}
	r.recordJob(nil, makeJob("ej", testJobUID, appsv1alpha1.EphemeralJobRunning), true)
	for i := range 300 {
		r.recordPod(podOf(i, running(time.Minute)), true)
	}
	count := func(query string, want int) func() (bool, error) {
		return func() (bool, error) {
			var n int
			err := s.db.QueryRowContext(ctx, query).Scan(&n)
			return err == nil && n == want, err
		}
	}
	eventually(t, time.Minute, "300 running pods are written",
		count("SELECT COUNT(*) FROM pod WHERE status = 'Running'", 300))

	if err := srv.Stop(); err != nil {
		t.Fatalf("stopping MariaDB: %v", err)
	}
	failuresBefore := testutil.ToFloat64(writeErrors.WithLabelValues(tablePod))
	for i := range 500 {
		r.recordPod(podOf(i, terminated(0, "Completed", "", time.Minute, 2*time.Minute)), true)
	}
	r.recordPod(podOf(7, terminated(0, "Completed", "", time.Minute, 2*time.Minute)), false)
	succeeded := makeJob("ej", testJobUID, appsv1alpha1.EphemeralJobSucceeded)
	succeeded.Status.Succeeded = 500
	r.recordJob(nil, succeeded, true)
	eventually(t, time.Minute, "the writer failed and retried twice while MySQL is down", func() (bool, error) {
		return testutil.ToFloat64(writeErrors.WithLabelValues(tablePod)) >= failuresBefore+2, nil
	})
	// Between two attempts, every record waits in the queue: 500 pods and the job.
	eventually(t, 10*time.Second, "501 records wait between two attempts", func() (bool, error) {
		return r.pending.len() == 501, nil
	})
	if up := testutil.ToFloat64(mysqlUp); up != 0 {
		t.Errorf("mysql_up = %v while MySQL is down, want 0", up)
	}

	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("restarting MariaDB: %v", err)
	}
	eventually(t, time.Minute, "every record is written after the restart", func() (bool, error) {
		return r.pending.len() == 0, nil
	})
	eventually(t, 10*time.Second, "500 pods succeeded", count("SELECT COUNT(*) FROM pod WHERE status = 'Succeeded'", 500))
	if n := rowCount(t, s.db, "SELECT COUNT(*) FROM pod"); n != 500 {
		t.Errorf("%d pod rows, want 500", n)
	}
	if n := rowCount(t, s.db, "SELECT COUNT(*) FROM pod WHERE is_in_etcd = 0 AND pod_id = 'pod-007'"); n != 1 {
		t.Errorf("the pod deleted during the outage is not marked gone")
	}
	if job := getJob(t, s, testJobUID); job.Status != jobSucceeded || job.Succeeded != 500 {
		t.Errorf("job after the outage: status %s succeeded %d, want Succeeded 500", job.Status, job.Succeeded)
	}
	if up := testutil.ToFloat64(mysqlUp); up != 1 {
		t.Errorf("mysql_up = %v after the restart, want 1", up)
	}
}

func TestConnectorWaitsForMySQL(t *testing.T) {
	srv := mariadb.StartT(t)
	if !srv.Managed() {
		t.Skip("the server comes from " + mariadb.EnvDSN + "; it cannot be stopped")
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("stopping MariaDB: %v", err)
	}
	cfg := configFor(srv, srv.DBName)
	s, err := NewMySQLStore(cfg, StoreOptions{QueryTimeout: 3 * time.Second, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	c := newConnector(s, cfg, Options{RetryBaseDelay: 20 * time.Millisecond, RetryMaxDelay: 200 * time.Millisecond,
		PingInterval: 50 * time.Millisecond}, testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("connector: %v", err)
		}
	}()

	eventually(t, 30*time.Second, "readiness reports the refused connection", func() (bool, error) {
		err := c.Check(nil)
		return err != nil && containsAll(err.Error(), "not reachable", "connection refused"), nil
	})
	if up := testutil.ToFloat64(mysqlUp); up != 0 {
		t.Errorf("mysql_up = %v while MySQL is down, want 0", up)
	}

	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("restarting MariaDB: %v", err)
	}
	eventually(t, time.Minute, "readiness passes", func() (bool, error) { return c.Check(nil) == nil, nil })
	if n := rowCount(t, s.db, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "+
		"AND TABLE_NAME IN ('job', 'pod')"); n != 2 {
		t.Errorf("%d of the tables job and pod exist once ready, want 2", n)
	}
	if up := testutil.ToFloat64(mysqlUp); up != 1 {
		t.Errorf("mysql_up = %v once ready, want 1", up)
	}

	if err := srv.Stop(); err != nil {
		t.Fatalf("stopping MariaDB: %v", err)
	}
	eventually(t, 30*time.Second, "readiness reports the outage", func() (bool, error) {
		err := c.Check(nil)
		return err != nil && containsAll(err.Error(), "does not answer"), nil
	})
	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("restarting MariaDB: %v", err)
	}
	eventually(t, time.Minute, "readiness passes again", func() (bool, error) { return c.Check(nil) == nil, nil })
}

// newScheme returns a scheme of Kubernetes' types and the EphemeralJob types.
func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := appsv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return scheme
}

func TestRecorderSweepsImportsAndRecordsEvents(t *testing.T) {
	scheme := newScheme(t)
	// Rows written by an earlier process, with its own observation numbers.
	earlier := newTestStore(t)
	ctx := testContext(t)
	if err := earlier.UpsertJobs(ctx, []JobRecord{jobRow("vanished", jobRunning, "3"), jobRow("kept", jobRunning, "1")}); err != nil {
		t.Fatal(err)
	}

	kept := makeJob("ej-kept", "kept", appsv1alpha1.EphemeralJobRunning)
	kept.Spec.Template.EphemeralContainers[0].Name = "a"
	fresh := makeJob("ej-fresh", "fresh", appsv1alpha1.EphemeralJobWaiting)
	fresh.Spec.Template.EphemeralContainers[0].Name = "b"
	pod := makePod("p", "pod-1").ephemeral("a", "kept", running(time.Minute)).ephemeral("b", "fresh", nil).obj()
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(kept, fresh, pod).Build()
	informers := &informertest.FakeInformers{Scheme: scheme}

	s := openStore(t, earlier.cfg, StoreOptions{})
	ready := make(chan struct{})
	close(ready)
	r := newRecorder(s, informers, reader, Options{Region: testRegion, BatchWait: 10 * time.Millisecond,
		SweepInterval: time.Hour}, testLogger(t), ready)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- r.Start(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("recorder: %v", err)
		}
	}()
	<-r.registered

	eventually(t, 30*time.Second, "the first pass swept and imported", func() (bool, error) {
		jobs, err := s.ListJobs(ctx, JobFilter{})
		if err != nil || len(jobs) != 3 {
			return false, err
		}
		pods, err := s.ListPods(ctx, "fresh")
		return len(pods) == 1 && !getJob(t, s, "vanished").IsInEtcd, err
	})
	if got := getJob(t, s, "kept"); got.Version != "1" || got.Status != jobRunning {
		t.Errorf("the import changed an existing row: %+v", got)
	}
	if got := getJob(t, s, "vanished"); got.Status != jobRunning || got.Version != "3" {
		t.Errorf("the sweep lost the last state of a vanished job: %+v", got)
	}
	if got := testutil.ToFloat64(missingInStorage.WithLabelValues(tableJob)); got != 1 {
		t.Errorf("jobs missing in storage = %v, want 1", got)
	}
	if got := testutil.ToFloat64(missingInStorage.WithLabelValues(tablePod)); got != 2 {
		t.Errorf("pods missing in storage = %v, want 2", got)
	}

	jobInformer, err := informers.FakeInformerFor(ctx, &appsv1alpha1.EphemeralJob{})
	if err != nil {
		t.Fatal(err)
	}
	podInformer, err := informers.FakeInformerFor(ctx, &corev1.Pod{})
	if err != nil {
		t.Fatal(err)
	}
	finished := kept.DeepCopy()
	finished.ResourceVersion = "2"
	finished.Status.Phase = appsv1alpha1.EphemeralJobSucceeded
	jobInformer.Update(kept, finished)
	podInformer.Delete(pod)
	eventually(t, 30*time.Second, "the update and the deletion are written", func() (bool, error) {
		pods, err := s.ListPods(ctx, "kept")
		if err != nil || len(pods) != 1 {
			return false, err
		}
		return getJob(t, s, "kept").Status == jobSucceeded && !pods[0].IsInEtcd && pods[0].Status == PodStatusUnknown, nil
	})
	if got := getPod(t, s, "fresh", "pod-1"); got.IsInEtcd || got.Status != PodStatusUnknown {
		t.Errorf("the other job's row of the deleted pod: is_in_etcd %v status %s, want false Unknown", got.IsInEtcd, got.Status)
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// TestWriterRereadsWhatDidNotFit fills a small queue past its bound, then lets the
// writer run: the records left out are replaced by a re-read of the reader (the cache),
// which also closes the rows of objects no longer there.
func TestWriterRereadsWhatDidNotFit(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	job := makeJob("ej", testJobUID, appsv1alpha1.EphemeralJobRunning)
	const n = 40
	objs := make([]client.Object, 0, n+1)
	objs = append(objs, job)
	pods := make([]*corev1.Pod, 0, n)
	for i := range n {
		p := makePod(fmt.Sprintf("p%02d", i), fmt.Sprintf("pod-%02d", i)).
			ephemeral(debugName, testJobUID, terminated(0, "Completed", "", time.Minute, 2*time.Minute)).obj()
		pods = append(pods, p)
		objs = append(objs, p)
	}
	// A row of a pod that is gone from the reader, whose deletion did not fit either.
	if err := s.UpsertPods(ctx, []PodRecord{podRow(testJobUID, "pod-gone", PodStatusRunning, "1")}); err != nil {
		t.Fatal(err)
	}
	reader := fake.NewClientBuilder().WithScheme(newScheme(t)).WithObjects(objs...).Build()
	one, _ := PodRecordFor(pods[0], testJobUID, testRegion, true)
	r := newRecorder(s, nil, reader, Options{Region: testRegion, BatchWait: 10 * time.Millisecond,
		MaxPendingBytes: 10 * one.size()}, testLogger(t), nil)

	rereadsBefore := testutil.ToFloat64(rereads)
	r.recordJob(nil, job, true)
	for _, p := range pods {
		r.recordPod(p, true)
	}
	if got := r.pending.len(); got >= len(pods) {
		t.Fatalf("%d records queued, want fewer than %d: the bound did not hold", got, len(pods))
	}

	runCtx, cancel := context.WithCancel(ctx)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		r.runWriter(runCtx)
	}()
	defer func() {
		cancel()
		<-writerDone
	}()
	eventually(t, 30*time.Second, "every pod has its final row", func() (bool, error) {
		rows, err := s.ListPods(ctx, testJobUID)
		if err != nil || len(rows) != len(pods)+1 {
			return false, err
		}
		for _, row := range rows {
			switch {
			case row.PodID == "pod-gone" && (row.IsInEtcd || row.Status != PodStatusUnknown):
				return false, nil
			case row.PodID != "pod-gone" && row.Status != PodStatusSucceeded:
				return false, nil
			}
		}
		return true, nil
	})
	if got := testutil.ToFloat64(rereads) - rereadsBefore; got != 1 {
		t.Errorf("re-reads = %v, want 1", got)
	}
}
