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
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// jobRow returns a job record with the columns the tests vary.
func jobRow(uid, status, version string) JobRecord {
	return JobRecord{
		Name: "ej-" + uid, Namespace: "ns", JobID: uid, Version: version, Status: status, Kind: JobKind,
		Resources: `{"parallelism":1}`, IsInEtcd: true, GmtCreated: t0, GmtModified: t0,
	}
}

// podRow returns a pod record with the columns the tests vary.
func podRow(jobUID, podUID, status, version string) PodRecord {
	return PodRecord{
		Name: "pod-" + podUID, Namespace: "ns", PodID: podUID, JobID: jobUID, Version: version, Status: status,
		Image: "busybox", ReplicaType: debugName, Resources: "{}", IsInEtcd: true, Remark: "",
		GmtCreated: t0, GmtModified: t0,
	}
}

func getJob(t *testing.T, s *MySQLStore, uid string) JobRecord {
	t.Helper()
	jobs, err := s.ListJobs(testContext(t), JobFilter{Limit: MaxListLimit})
	if err != nil {
		t.Fatalf("listing jobs: %v", err)
	}
	for _, j := range jobs {
		if j.JobID == uid {
			return j
		}
	}
	t.Fatalf("no row for job %s", uid)
	return JobRecord{}
}

func getPod(t *testing.T, s *MySQLStore, jobUID, podUID string) PodRecord {
	t.Helper()
	pods, err := s.ListPods(testContext(t), jobUID)
	if err != nil {
		t.Fatalf("listing pods: %v", err)
	}
	for _, p := range pods {
		if p.PodID == podUID {
			return p
		}
	}
	t.Fatalf("no row for pod %s of job %s", podUID, jobUID)
	return PodRecord{}
}

func TestMigrationsApplyTwice(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrating again with the same store: %v", err)
	}
	again := openStore(t, s.cfg, StoreOptions{})
	if err := again.UpsertJobs(ctx, []JobRecord{jobRow("j", jobRunning, "1")}); err != nil {
		t.Fatalf("writing after migrating twice: %v", err)
	}

	var version int
	var dirty bool
	if err := s.db.QueryRowContext(ctx, "SELECT version, dirty FROM schema_migrations").Scan(&version, &dirty); err != nil {
		t.Fatalf("reading the schema version: %v", err)
	}
	if version != 4 || dirty {
		t.Errorf("schema version = %d (dirty %v), want 4, clean", version, dirty)
	}

	rows, err := s.db.QueryContext(ctx, "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, COALESCE(CHARACTER_SET_NAME, '') "+
		"FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()")
	if err != nil {
		t.Fatalf("reading the columns: %v", err)
	}
	defer func() { _ = rows.Close() }()
	columns := map[string]string{}
	for rows.Next() {
		var table, column, typ, charset string
		if err := rows.Scan(&table, &column, &typ, &charset); err != nil {
			t.Fatal(err)
		}
		columns[table+"."+column] = typ
		if charset != "" && charset != "utf8mb4" {
			t.Errorf("%s.%s has charset %s, want utf8mb4", table, column, charset)
		}
	}
	// Every column of KubeDL's Job and Pod tables, plus the documented additions.
	want := map[string]string{
		"job": "id name namespace job_id version status kind resources deploy_region tenant owner is_in_etcd " +
			"gmt_created gmt_modified gmt_finished match_count succeeded failed running waiting version_order",
		"pod": "id name namespace pod_id version status image job_id replica_type resources host_ip pod_ip " +
			"deploy_region is_in_etcd remark gmt_created gmt_modified gmt_started gmt_finished version_order " +
			"container_name exit_code reason message output",
	}
	for table, cols := range want {
		for _, c := range strings.Fields(cols) {
			if _, ok := columns[table+"."+c]; !ok {
				t.Errorf("column %s.%s is missing", table, c)
			}
		}
	}
	for _, c := range []string{"job.gmt_created", "job.gmt_finished", "pod.gmt_started", "pod.gmt_finished"} {
		if columns[c] != "datetime(3)" {
			t.Errorf("%s is %q, want datetime(3)", c, columns[c])
		}
	}
	for c, want := range map[string]string{"pod.container_name": "varchar(63)", "pod.reason": "varchar(128)",
		"pod.message": "text", "pod.output": "mediumtext"} {
		if columns[c] != want {
			t.Errorf("%s is %q, want %s", c, columns[c], want)
		}
	}
	// MySQL 8 shows "int", MariaDB "int(11)".
	if !strings.HasPrefix(columns["pod.exit_code"], "int") {
		t.Errorf("pod.exit_code is %q, want int", columns["pod.exit_code"])
	}

	var uniques []string
	idx, err := s.db.QueryContext(ctx, "SELECT TABLE_NAME, INDEX_NAME, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) "+
		"FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND NON_UNIQUE = 0 AND INDEX_NAME <> 'PRIMARY' "+
		"AND TABLE_NAME IN ('job', 'pod') GROUP BY TABLE_NAME, INDEX_NAME")
	if err != nil {
		t.Fatalf("reading the indexes: %v", err)
	}
	defer func() { _ = idx.Close() }()
	for idx.Next() {
		var table, name, cols string
		if err := idx.Scan(&table, &name, &cols); err != nil {
			t.Fatal(err)
		}
		uniques = append(uniques, table+"("+cols+")")
	}
	slices.Sort(uniques)
	if got := strings.Join(uniques, " "); got != "job(job_id) pod(job_id,pod_id)" {
		t.Errorf("unique keys = %s, want job(job_id) pod(job_id,pod_id)", got)
	}
}

func TestUpsertJobsNeverReplacesALaterObservation(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	write := func(rec JobRecord) {
		t.Helper()
		if err := s.UpsertJobs(ctx, []JobRecord{rec}); err != nil {
			t.Fatalf("upserting: %v", err)
		}
	}
	expect := func(what, status, version string, inEtcd bool) {
		t.Helper()
		got := getJob(t, s, "j")
		if got.Status != status || got.Version != version || got.IsInEtcd != inEtcd {
			t.Fatalf("%s: status %s version %s in etcd %v, want %s %s %v", what, got.Status, got.Version,
				got.IsInEtcd, status, version, inEtcd)
		}
	}
	// A version that is not well formed orders before every well-formed one.
	write(jobRow("j", "Waiting", "not-a-version"))
	write(jobRow("j", jobRunning, "9"))
	expect("a well-formed version after a malformed one", jobRunning, "9", true)
	write(jobRow("j", "Waiting", "not-a-version"))
	expect("a malformed version after a well-formed one", jobRunning, "9", true)
	// resourceVersions compare as integers, not as strings: "10" is later than "9".
	later := jobRow("j", jobSucceeded, "10")
	later.GmtFinished = timeAt(time.Hour)
	write(later)
	write(jobRow("j", jobRunning, "9"))
	expect("an earlier version written after a later one", jobSucceeded, "10", true)
	if got := getJob(t, s, "j"); got.GmtFinished == nil || !got.GmtFinished.Equal(t0.Add(time.Hour)) {
		t.Fatalf("gmt_finished = %v, want %v", got.GmtFinished, t0.Add(time.Hour))
	}
	// Longer than an int64.
	write(jobRow("j", jobSucceeded, "123456789012345678901234567890"))
	write(jobRow("j", jobRunning, "99999999999999999999999999999"))
	expect("versions beyond 64 bits", jobSucceeded, "123456789012345678901234567890", true)

	// A deletion is ordered after every live version, even one carrying a smaller
	// resourceVersion (a tombstone's last known state).
	gone := jobRow("j", jobFailed, "42")
	gone.IsInEtcd = false
	write(gone)
	expect("a deletion", jobFailed, "42", false)
	write(jobRow("j", jobRunning, "123456789012345678901234567891"))
	expect("a live version after the deletion", jobFailed, "42", false)
	goneLater := jobRow("j", jobSucceeded, "43")
	goneLater.IsInEtcd = false
	write(goneLater)
	expect("a later deletion record", jobSucceeded, "43", false)

	jobs, err := s.ListJobs(ctx, JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 {
		t.Errorf("%d rows for one job, want 1", len(jobs))
	}
}

func TestUpsertPodsNeverReplacesALaterObservation(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	write := func(recs ...PodRecord) {
		t.Helper()
		if err := s.UpsertPods(ctx, recs); err != nil {
			t.Fatalf("upserting: %v", err)
		}
	}
	finished := podRow("j", "p", PodStatusSucceeded, "30")
	finished.GmtFinished = timeAt(time.Minute)
	finished.Remark = `{"exitCode":0}`
	write(finished, podRow("k", "p", PodStatusRunning, "30"))
	write(podRow("j", "p", PodStatusRunning, "29"), podRow("k", "p", PodStatusPending, "3"))

	got := getPod(t, s, "j", "p")
	if got.Status != PodStatusSucceeded || got.Version != "30" || got.Remark != `{"exitCode":0}` || got.GmtFinished == nil {
		t.Errorf("job j: %+v, want the Succeeded row", got)
	}
	if got := getPod(t, s, "k", "p"); got.Status != PodStatusRunning {
		t.Errorf("job k: status %s, want Running", got.Status)
	}

	// A pod seen gone stays gone; a late record of it running cannot say Running.
	gone := podRow("k", "p", PodStatusUnknown, "31")
	gone.IsInEtcd = false
	write(gone)
	write(podRow("k", "p", PodStatusRunning, "32"))
	if got := getPod(t, s, "k", "p"); got.IsInEtcd || got.Status != PodStatusUnknown {
		t.Errorf("gone pod: is_in_etcd %v status %s, want false Unknown", got.IsInEtcd, got.Status)
	}
}

// TestTwoWritersInterleaved has two stores, as two processes, write the observations
// of the same objects in opposite orders, as two replicas do during a rolling update
// or right after a leader change: every row ends at the latest observation.
func TestTwoWritersInterleaved(t *testing.T) {
	first := newTestStore(t)
	second := openStore(t, first.cfg, StoreOptions{})
	ctx := testContext(t)
	const pods, versions = 50, 20
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w, s := range []*MySQLStore{first, second} {
		wg.Go(func() {
			for step := range versions {
				v := step + 1
				if w == 1 {
					v = versions - step // the second writer goes backwards
				}
				status := PodStatusRunning
				if v == versions {
					status = PodStatusSucceeded
				}
				batch := make([]PodRecord, 0, pods)
				for i := range pods {
					// Each pod's versions interleave with the others', as in one resource.
					batch = append(batch, podRow("j", fmt.Sprintf("p%02d", i), status, fmt.Sprint(v*100+i)))
				}
				job := jobRow("j", jobRunning, fmt.Sprint(v*100))
				if v == versions {
					job.Status = jobSucceeded
				}
				if err := s.UpsertPods(ctx, batch); err != nil {
					errs <- err
					return
				}
				if err := s.UpsertJobs(ctx, []JobRecord{job}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("writing: %v", err)
	}
	if got := getJob(t, first, "j"); got.Status != jobSucceeded || got.Version != fmt.Sprint(versions*100) {
		t.Errorf("job: status %s version %s, want Succeeded %d", got.Status, got.Version, versions*100)
	}
	rows, err := first.ListPods(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != pods {
		t.Fatalf("%d pod rows, want %d", len(rows), pods)
	}
	for i, p := range rows {
		if want := fmt.Sprint(versions*100 + i); p.Status != PodStatusSucceeded || p.Version != want {
			t.Errorf("pod %s: status %s version %s, want Succeeded %s", p.PodID, p.Status, p.Version, want)
		}
	}
}

// storeAtVersion returns a store on a new database migrated up to the version only, and
// the database's configuration, for a test to write rows of that schema and migrate on.
func storeAtVersion(t *testing.T, version uint) (*MySQLStore, Config) {
	t.Helper()
	srv := testServer(t)
	ctx := testContext(t)
	name, err := srv.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := configFor(srv, name)
	s, err := NewMySQLStore(cfg, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.migrateTo(ctx, version); err != nil {
		t.Fatalf("migrating to version %d: %v", version, err)
	}
	return s, cfg
}

// TestMigrationKeepsRowsAndOrdersThem migrates a database that holds rows written with
// the schema before version_order, and checks that every row is kept and is ordered by
// the version it had.
func TestMigrationKeepsRowsAndOrdersThem(t *testing.T) {
	ctx := testContext(t)
	old, cfg := storeAtVersion(t, 2)
	for _, q := range []string{
		"INSERT INTO job (name, namespace, job_id, version, status, observed_seq) VALUES " +
			"('a', 'ns', 'ja', '500', 'Running', 900), ('b', 'ns', 'jb', 'opaque', 'Running', 901)",
		"INSERT INTO pod (name, namespace, pod_id, job_id, version, status, observed_seq) VALUES " +
			"('p', 'ns', 'pa', 'ja', '501', 'Running', 902), ('q', 'ns', 'pb', 'jb', '', 'Pending', 903)",
	} {
		if _, err := old.db.ExecContext(ctx, q); err != nil {
			t.Fatalf("writing rows of the old schema: %v", err)
		}
	}

	s := openStore(t, cfg, StoreOptions{})
	if n := rowCount(t, s.db, "SELECT COUNT(*) FROM job"); n != 2 {
		t.Errorf("%d job rows after migrating, want 2", n)
	}
	if n := rowCount(t, s.db, "SELECT COUNT(*) FROM pod"); n != 2 {
		t.Errorf("%d pod rows after migrating, want 2", n)
	}
	// An older version than the stored one changes nothing; a newer one does.
	if err := s.UpsertJobs(ctx, []JobRecord{jobRow("ja", jobSucceeded, "499"), jobRow("jb", jobSucceeded, "2")}); err != nil {
		t.Fatal(err)
	}
	if got := getJob(t, s, "ja"); got.Status != jobRunning || got.Version != "500" {
		t.Errorf("job ja: status %s version %s, want the migrated Running 500", got.Status, got.Version)
	}
	if got := getJob(t, s, "jb"); got.Status != jobSucceeded {
		t.Errorf("job jb, whose version was not well formed: status %s, want Succeeded", got.Status)
	}
	if err := s.UpsertPods(ctx, []PodRecord{podRow("ja", "pa", PodStatusSucceeded, "502")}); err != nil {
		t.Fatal(err)
	}
	if got := getPod(t, s, "ja", "pa"); got.Status != PodStatusSucceeded {
		t.Errorf("pod pa: status %s, want Succeeded", got.Status)
	}
	if got := getPod(t, s, "jb", "pb"); got.Status != PodStatusPending || got.Name != "q" {
		t.Errorf("pod pb: %+v, want the migrated row", got)
	}

	// And back down: every row is kept.
	if err := s.migrateTo(ctx, 2); err != nil {
		t.Fatalf("migrating down to version 2: %v", err)
	}
	if n := rowCount(t, s.db, "SELECT COUNT(*) FROM job"); n != 2 {
		t.Errorf("%d job rows after migrating down, want 2", n)
	}
}

func TestBatchedUpsertOfAThousandRows(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	pods := make([]PodRecord, 0, 1000)
	jobs := make([]JobRecord, 0, 1000)
	for i := range 1000 {
		pods = append(pods, podRow("j", fmt.Sprintf("p%04d", i), PodStatusRunning, fmt.Sprint(i+1)))
		jobs = append(jobs, jobRow(fmt.Sprintf("j%04d", i), jobRunning, "1"))
	}
	if err := s.UpsertPods(ctx, pods); err != nil {
		t.Fatalf("inserting 1000 pods: %v", err)
	}
	if err := s.UpsertJobs(ctx, jobs); err != nil {
		t.Fatalf("inserting 1000 jobs: %v", err)
	}
	for i := range pods {
		pods[i].Status, pods[i].Version = PodStatusSucceeded, fmt.Sprint(2000+i)
	}
	if err := s.UpsertPods(ctx, pods); err != nil {
		t.Fatalf("updating 1000 pods: %v", err)
	}
	got, err := s.ListPods(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1000 {
		t.Fatalf("%d pod rows, want 1000", len(got))
	}
	for _, p := range got {
		if p.Status != PodStatusSucceeded {
			t.Fatalf("pod %s is %s, want Succeeded", p.PodID, p.Status)
		}
	}

	// Page through the jobs with the cursor.
	var seen []string
	filter := JobFilter{Limit: 300}
	for {
		page, err := s.ListJobs(ctx, filter)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 300 {
			t.Fatalf("page of %d rows, limit 300", len(page))
		}
		for _, j := range page {
			seen = append(seen, j.JobID)
		}
		if len(page) < filter.Limit {
			break
		}
		filter.AfterID = page[len(page)-1].ID
	}
	slices.Sort(seen)
	if len(slices.Compact(seen)) != 1000 {
		t.Errorf("paging saw %d distinct jobs, want 1000", len(seen))
	}
}

func TestListJobsFilters(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	a := jobRow("a", jobRunning, "1")
	b := jobRow("b", jobSucceeded, "1")
	b.GmtCreated = t0.Add(time.Hour)
	c := jobRow("c", jobSucceeded, "1")
	c.Namespace, c.GmtCreated = "other", t0.Add(2*time.Hour)
	if err := s.UpsertJobs(ctx, []JobRecord{a, b, c}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		filter JobFilter
		want   string
	}{
		{"all", JobFilter{}, "a,b,c"},
		{"namespace", JobFilter{Namespace: "ns"}, "a,b"},
		{"status", JobFilter{Status: jobSucceeded}, "b,c"},
		{"created after, inclusive", JobFilter{CreatedAfter: t0.Add(time.Hour)}, "b,c"},
		{"created before, exclusive", JobFilter{CreatedBefore: t0.Add(time.Hour)}, "a"},
		{"limit", JobFilter{Limit: 2}, "a,b"},
		{"name", JobFilter{Name: "ej-b"}, "b"},
		{"job id", JobFilter{JobID: "c"}, "c"},
		{"name and namespace that no row has together", JobFilter{Namespace: "other", Name: "ej-a"}, ""},
		{"newest first", JobFilter{NewestFirst: true}, "c,b,a"},
		{"newest first, limit", JobFilter{NewestFirst: true, Limit: 2}, "c,b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jobs, err := s.ListJobs(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, j := range jobs {
				ids = append(ids, j.JobID)
			}
			if got := strings.Join(ids, ","); got != tt.want {
				t.Errorf("ListJobs(%+v) = %s, want %s", tt.filter, got, tt.want)
			}
		})
	}
	// The cursor of a newest-first listing continues with older rows.
	page, err := s.ListJobs(ctx, JobFilter{NewestFirst: true, Limit: 1})
	if err != nil || len(page) != 1 {
		t.Fatalf("first newest-first page: %v, %v", page, err)
	}
	next, err := s.ListJobs(ctx, JobFilter{NewestFirst: true, AfterID: page[0].ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(next) != 2 || next[0].JobID != "b" || next[1].JobID != "a" {
		t.Errorf("page after %s = %+v, want b then a", page[0].JobID, next)
	}
}

func TestSweepMarksGoneAndKeepsTheFinalState(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	finished := jobRow("gone", jobSucceeded, "9")
	finished.GmtFinished = timeAt(time.Hour)
	if err := s.UpsertJobs(ctx, []JobRecord{jobRow("live", jobRunning, "1"), finished,
		jobRow("replaced", jobRunning, "1"), jobRow("unsure", jobRunning, "1")}); err != nil {
		t.Fatal(err)
	}
	done := podRow("gone", "p-done", PodStatusFailed, "3")
	done.Remark = `{"exitCode":2}`
	if err := s.UpsertPods(ctx, []PodRecord{podRow("live", "p-live", PodStatusRunning, "1"), done,
		podRow("gone", "p-running", PodStatusRunning, "1")}); err != nil {
		t.Fatal(err)
	}
	// The cache: "live" exists; "replaced" exists under the same name with another UID;
	// the cache cannot tell about "unsure".
	exists := func(_ context.Context, _, name, uid string) (bool, error) {
		switch name {
		case "ej-live", "pod-p-live":
			return true, nil
		case "ej-replaced":
			return uid == "new-uid", nil
		case "ej-unsure":
			return false, errors.New("unknown namespace")
		}
		return false, nil
	}
	n, err := s.SweepJobs(ctx, exists)
	if err != nil || n != 2 {
		t.Fatalf("SweepJobs() = %d, %v; want 2 rows marked", n, err)
	}
	n, err = s.SweepPods(ctx, exists)
	if err != nil || n != 2 {
		t.Fatalf("SweepPods() = %d, %v; want 2 rows marked", n, err)
	}

	for uid, want := range map[string]bool{"live": true, "gone": false, "replaced": false, "unsure": true} {
		if got := getJob(t, s, uid); got.IsInEtcd != want {
			t.Errorf("job %s: is_in_etcd %v, want %v", uid, got.IsInEtcd, want)
		}
	}
	got := getJob(t, s, "gone")
	if got.Status != jobSucceeded || got.Version != "9" || got.GmtFinished == nil {
		t.Errorf("the swept job lost its final state: %+v", got)
	}
	if got := getPod(t, s, "gone", "p-done"); got.IsInEtcd || got.Status != PodStatusFailed || got.Remark != `{"exitCode":2}` {
		t.Errorf("finished pod after sweep: %+v", got)
	}
	if got := getPod(t, s, "gone", "p-running"); got.IsInEtcd || got.Status != PodStatusUnknown {
		t.Errorf("unfinished pod after sweep: is_in_etcd %v status %s, want false Unknown", got.IsInEtcd, got.Status)
	}
	if got := getPod(t, s, "live", "p-live"); !got.IsInEtcd || got.Status != PodStatusRunning {
		t.Errorf("live pod after sweep: %+v", got)
	}
}

func TestSweepPagesThroughManyRows(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	jobs := make([]JobRecord, 0, 2*sweepPageSize+7)
	for i := range cap(jobs) {
		jobs = append(jobs, jobRow(fmt.Sprintf("j%04d", i), jobRunning, "1"))
	}
	if err := s.UpsertJobs(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	asked := 0
	n, err := s.SweepJobs(ctx, func(context.Context, string, string, string) (bool, error) {
		asked++
		return asked%2 == 0, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if asked != len(jobs) || n != (len(jobs)+1)/2 {
		t.Errorf("asked about %d rows and marked %d; want %d and %d", asked, n, len(jobs), (len(jobs)+1)/2)
	}
}

func TestImportLeavesExistingRowsAlone(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	if err := s.UpsertJobs(ctx, []JobRecord{jobRow("old", jobRunning, "5")}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertPods(ctx, []PodRecord{podRow("old", "p", PodStatusRunning, "5")}); err != nil {
		t.Fatal(err)
	}
	n, err := s.InsertMissingJobs(ctx, []JobRecord{jobRow("old", jobSucceeded, "6"), jobRow("new", "Waiting", "1")})
	if err != nil || n != 1 {
		t.Fatalf("InsertMissingJobs() = %d, %v; want 1 inserted", n, err)
	}
	n, err = s.InsertMissingPods(ctx, []PodRecord{podRow("old", "p", PodStatusSucceeded, "6"),
		podRow("new", "p", PodStatusPending, "1")})
	if err != nil || n != 1 {
		t.Fatalf("InsertMissingPods() = %d, %v; want 1 inserted", n, err)
	}
	if got := getJob(t, s, "old"); got.Status != jobRunning || got.Version != "5" {
		t.Errorf("the import changed an existing job: %+v", got)
	}
	if got := getPod(t, s, "old", "p"); got.Status != PodStatusRunning || got.Version != "5" {
		t.Errorf("the import changed an existing pod: %+v", got)
	}
	if got := getJob(t, s, "new"); got.Status != "Waiting" {
		t.Errorf("imported job: %+v", got)
	}
	if got := getPod(t, s, "new", "p"); got.Status != PodStatusPending {
		t.Errorf("imported pod: %+v", got)
	}
}

func TestRoundTripKeepsTextAndTimes(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	pod := makePod("p", "pod-1").ephemeral(debugName, testJobUID,
		terminated(1, "Error", "stack trace 🙂 ünïcödé", time.Minute, 2*time.Minute+1500*time.Millisecond)).obj()
	rec, ok := PodRecordFor(pod, testJobUID, testRegion, true)
	if !ok {
		t.Fatal("no row")
	}
	if err := s.UpsertPods(ctx, []PodRecord{rec}); err != nil {
		t.Fatal(err)
	}
	got := getPod(t, s, testJobUID, "pod-1")
	rec.ID = got.ID
	if fmt.Sprintf("%+v", deref(got)) != fmt.Sprintf("%+v", deref(rec)) {
		t.Errorf("read back\n%+v\nwrote\n%+v", deref(got), deref(rec))
	}
}

// deref shows the times behind the pointers of a pod record.
func deref(p PodRecord) string {
	show := func(t *time.Time) string {
		if t == nil {
			return "nil"
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	started, finished := show(p.GmtStarted), show(p.GmtFinished)
	exit := deref32(p.ExitCode)
	p.GmtStarted, p.GmtFinished, p.ExitCode = nil, nil, nil
	return fmt.Sprintf("%+v started=%s finished=%s exit=%s", p, started, finished, exit)
}

func TestErrorsNeverShowThePassword(t *testing.T) {
	srv := testServer(t)
	const password = "S3cret-Pa55word-4-tests"
	cfg := configFor(srv, srv.DBName)
	cfg.Password = password
	s, err := NewMySQLStore(cfg, StoreOptions{QueryTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	mc, err := cfg.mysqlConfig()
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	errs := map[string]error{"Migrate": s.Migrate(ctx), "Ping": s.Ping(ctx)}
	_, errs["ListJobs"] = s.ListJobs(ctx, JobFilter{})
	errs["UpsertJobs"] = s.UpsertJobs(ctx, []JobRecord{jobRow("j", jobRunning, "1")})
	for op, err := range errs {
		if err == nil {
			t.Fatalf("%s succeeded with a wrong password", op)
		}
		var me *mysql.MySQLError
		if op != "Migrate" && (!errors.As(err, &me) || me.Number != 1045) {
			t.Errorf("%s: %v, want MySQL's access denied (1045)", op, err)
		}
		for _, secret := range []string{password, mc.FormatDSN()} {
			if strings.Contains(err.Error(), secret) || strings.Contains(fmt.Sprintf("%+v", err), secret) {
				t.Errorf("%s error shows a secret: %v", op, err)
			}
		}
		if !strings.Contains(err.Error(), "Access denied") {
			t.Errorf("%s error does not say why: %v", op, err)
		}
	}
	conn := newConnector(s, cfg, Options{}, testLogger(t))
	conn.setErr(errs["Migrate"])
	if err := conn.Check(nil); err == nil || strings.Contains(err.Error(), password) {
		t.Errorf("readiness = %v, want an error without the password", err)
	}
}

func rowCount(t *testing.T, db *sql.DB, query string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(testContext(t), query).Scan(&n); err != nil {
		t.Fatalf("counting: %v", err)
	}
	return n
}

// TestPodResultColumnsFollowTheOrderAndOutputStays writes a pod's row with its result
// columns and an output, then later and earlier observations without output: the result
// columns follow the order of observations like every other column, and the output,
// once stored, is never erased nor replaced.
func TestPodResultColumnsFollowTheOrderAndOutputStays(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	write := func(rec PodRecord) {
		t.Helper()
		if err := s.UpsertPods(ctx, []PodRecord{rec}); err != nil {
			t.Fatalf("upserting: %v", err)
		}
	}
	result := func(status, version string, exit *int32, reason, message, output string) PodRecord {
		r := podRow("j", "p", status, version)
		r.ContainerName, r.ExitCode, r.Reason, r.Message, r.Output = "debug-x1", exit, reason, message, output
		return r
	}
	expect := func(what, version string, exit *int32, reason, message, output string) {
		t.Helper()
		got := getPod(t, s, "j", "p")
		if got.Version != version || deref32(got.ExitCode) != deref32(exit) || got.Reason != reason ||
			got.Message != message || got.Output != output || got.ContainerName != "debug-x1" {
			t.Fatalf("%s: version %s container %q exit %s reason %q message %q output %q; "+
				"want %s debug-x1 %s %q %q %q", what, got.Version, got.ContainerName, deref32(got.ExitCode), got.Reason,
				got.Message, got.Output, version, deref32(exit), reason, message, output)
		}
	}
	three := int32(3)
	write(result(PodStatusPending, "10", nil, "ErrImagePull", "pulling", ""))
	expect("a pending row", "10", nil, "ErrImagePull", "pulling", "")
	write(result(PodStatusFailed, "12", &three, "Error", "disk full 💥", "out\nput ✓"))
	expect("the finished row with its output", "12", &three, "Error", "disk full 💥", "out\nput ✓")
	write(result(PodStatusRunning, "11", nil, "", "", ""))
	expect("an earlier observation", "12", &three, "Error", "disk full 💥", "out\nput ✓")
	// A later observation (a label changed on the pod) carries no output: it keeps the stored one.
	zero := int32(0)
	write(result(PodStatusSucceeded, "13", &zero, "Completed", "", ""))
	expect("a later observation without output", "13", &zero, "Completed", "", "out\nput ✓")
	// An output stored once is the one kept, whatever another writer fetched later.
	write(result(PodStatusSucceeded, "14", &zero, "Completed", "", "fetched again"))
	expect("a second output", "14", &zero, "Completed", "", "out\nput ✓")
	// The deletion keeps it too.
	gone := result(PodStatusSucceeded, "15", &zero, "Completed", "", "")
	gone.IsInEtcd = false
	write(gone)
	expect("the deletion", "15", &zero, "Completed", "", "out\nput ✓")
}

// TestMigration4BackfillsTheResultColumns migrates rows written before migration 4 and
// checks that the new columns take the values of their remark (or replica_type), that
// the rows still take writes, and that migrating down keeps every row and its remark.
func TestMigration4BackfillsTheResultColumns(t *testing.T) {
	ctx := testContext(t)
	old, cfg := storeAtVersion(t, 3)
	longMessage := strings.Repeat("é", 5000)
	remarks := map[string]string{
		"failed":    `{"container":"debug","reason":"Error","exitCode":3,"message":"disk full \u003c💥\u003e \"quoted\""}`,
		"succeeded": `{"container":"debug","reason":"Completed","exitCode":0}`,
		"refused":   `{"container":"debug","reason":"TargetContainerNotFound","message":"no container \"app\""}`,
		"long":      `{"container":"debug","reason":"Error","exitCode":1,"message":"` + longMessage + `"}`,
		"pending":   ``,
		"garbage":   `not json`,
		// Written by something else than the recorder: an exit code that is no int32.
		"fraction": `{"container":"debug","reason":"Error","exitCode":1.5}`,
		"huge":     `{"container":"debug","reason":"Error","exitCode":99999999999999999999}`,
		"null":     `{"container":"debug","reason":"Error","exitCode":null}`,
	}
	for pod, remark := range remarks {
		if _, err := old.db.ExecContext(ctx, "INSERT INTO pod (name, namespace, pod_id, job_id, version, version_order, "+
			"status, replica_type, remark) VALUES (?, 'ns', ?, 'j', '5', 5, 'Running', 'debug', ?)", pod, pod, remark); err != nil {
			t.Fatalf("writing a row of the old schema: %v", err)
		}
	}

	s := openStore(t, cfg, StoreOptions{})
	one, zero, three := int32(1), int32(0), int32(3)
	want := map[string]struct {
		exit            *int32
		reason, message string
	}{
		"failed":    {&three, "Error", `disk full <💥> "quoted"`},
		"succeeded": {&zero, "Completed", ""},
		"refused":   {nil, "TargetContainerNotFound", `no container "app"`},
		"long":      {&one, "Error", strings.Repeat("é", MaxMessageBytes)},
		"pending":   {nil, "", ""},
		"garbage":   {nil, "", ""},
		"fraction":  {nil, "Error", ""},
		"huge":      {nil, "Error", ""},
		"null":      {nil, "Error", ""},
	}
	for pod, w := range want {
		got := getPod(t, s, "j", pod)
		if got.ContainerName != "debug" || deref32(got.ExitCode) != deref32(w.exit) || got.Reason != w.reason ||
			got.Message != w.message || got.Output != "" || got.Remark != remarks[pod] {
			t.Errorf("pod %s: container %q exit %s reason %q message %.60q remark %.60q; want debug %s %q %.60q and the remark kept",
				pod, got.ContainerName, deref32(got.ExitCode), got.Reason, got.Message, got.Remark,
				deref32(w.exit), w.reason, w.message)
		}
	}
	if n := rowCount(t, s.db, "SELECT COUNT(*) FROM pod WHERE output IS NULL"); n != len(remarks) {
		t.Errorf("%d rows without output after migrating, want all %d", n, len(remarks))
	}
	later := podRow("j", "pending", PodStatusSucceeded, "6")
	later.ContainerName, later.ExitCode, later.Output = "debug", &zero, "done"
	if err := s.UpsertPods(ctx, []PodRecord{later}); err != nil {
		t.Fatal(err)
	}
	if got := getPod(t, s, "j", "pending"); got.Status != PodStatusSucceeded || deref32(got.ExitCode) != "0" || got.Output != "done" {
		t.Errorf("a migrated row after a later write: %+v", got)
	}

	if err := s.migrateTo(ctx, 3); err != nil {
		t.Fatalf("migrating down to version 3: %v", err)
	}
	if n := rowCount(t, s.db, "SELECT COUNT(*) FROM pod"); n != len(remarks) {
		t.Errorf("%d pod rows after migrating down, want %d", n, len(remarks))
	}
	if n := rowCount(t, s.db, "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "+
		"AND TABLE_NAME = 'pod' AND COLUMN_NAME IN ('container_name', 'exit_code', 'reason', 'message', 'output')"); n != 0 {
		t.Errorf("%d of the new columns left after migrating down, want 0", n)
	}
	var remark string
	if err := s.db.QueryRowContext(ctx, "SELECT remark FROM pod WHERE pod_id = 'failed'").Scan(&remark); err != nil || remark != remarks["failed"] {
		t.Errorf("remark after migrating down = %q, %v; want it kept", remark, err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrating up again: %v", err)
	}
	if got := getPod(t, s, "j", "failed"); deref32(got.ExitCode) != "3" {
		t.Errorf("exit code after migrating up again = %s, want 3", deref32(got.ExitCode))
	}
}

// TestPodsWithoutOutputAreTheFinishedTargetsNotFetched reads back only the rows whose
// output the fetcher may still fetch: finished, with an exit code, in the API server, no
// output stored yet.
func TestPodsWithoutOutputAreTheFinishedTargetsNotFetched(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	code := int32(1)
	finished := func(pod, status string) PodRecord {
		r := podRow("j", pod, status, "5")
		r.ContainerName, r.ExitCode = "debug", &code
		return r
	}
	gone := finished("gone", PodStatusFailed)
	gone.IsInEtcd = false
	running := podRow("j", "running", PodStatusRunning, "5")
	running.ContainerName = "debug"
	refused := podRow("j", "refused", PodStatusFailed, "5")
	refused.ContainerName = "debug"
	rows := []PodRecord{finished("a", PodStatusFailed), finished("b", PodStatusSucceeded), finished("fetched", PodStatusFailed),
		gone, running, refused}
	if err := s.UpsertPods(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.StoreOutput(ctx, "j", "fetched", ""); !ok || err != nil {
		t.Fatalf("storing an empty output: %v %v", ok, err)
	}
	got, err := s.PodsWithoutOutput(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range got {
		if !wantsOutput(&r) {
			t.Errorf("row %s would not be fetched: %+v", r.PodID, r)
		}
		names = append(names, r.PodID)
	}
	if !slices.Equal(names, []string{"a", "b"}) {
		t.Errorf("rows without output %v, want [a b]", names)
	}
	if got, err := s.PodsWithoutOutput(ctx, 1); err != nil || len(got) != 1 {
		t.Errorf("with a limit of 1: %d rows, %v", len(got), err)
	}
}

// TestListPodsOutputReadsOnlyWhatIsAskedOf reads outputs whole, cut, or not at all, and
// always tells a stored output from none.
func TestListPodsOutputReadsOnlyWhatIsAskedOf(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	if err := s.UpsertPods(ctx, []PodRecord{podRow("j", "a", PodStatusFailed, "5"), podRow("j", "b", PodStatusFailed, "5")}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.StoreOutput(ctx, "j", "a", "héllo world"); !ok || err != nil {
		t.Fatalf("storing an output: %v %v", ok, err)
	}
	for _, tc := range []struct {
		chars int64
		want  string
	}{{-1, "héllo world"}, {3, "hél"}, {0, ""}} {
		rows, err := s.ListPodsOutput(ctx, "j", tc.chars)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 || rows[0].Output != tc.want || !rows[0].OutputRecorded || rows[1].OutputRecorded || rows[1].Output != "" {
			t.Errorf("%d characters: %+v", tc.chars, rows)
		}
	}
}
