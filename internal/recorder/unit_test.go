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

	"github.com/go-sql-driver/mysql"
	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"
)

func TestPendingKeepsTheLatestRecordPerRow(t *testing.T) {
	p := newPending(0)
	p.addJob(JobRecord{JobID: "j", Status: jobRunning, Version: "10", IsInEtcd: true})
	p.addJob(JobRecord{JobID: "j", Status: "Waiting", Version: "9", IsInEtcd: true})
	p.addPod(PodRecord{JobID: "j", PodID: "a", Status: PodStatusPending, Version: "3", IsInEtcd: true})
	p.addPod(PodRecord{JobID: "j", PodID: "a", Status: PodStatusRunning, Version: "4", IsInEtcd: true})
	p.addPod(PodRecord{JobID: "k", PodID: "a", Status: PodStatusPending, Version: "5", IsInEtcd: true})
	if got := p.len(); got != 3 {
		t.Fatalf("len = %d, want 3", got)
	}
	jobs, pods := p.take(10)
	if len(jobs) != 1 || jobs[0].Status != jobRunning {
		t.Errorf("jobs = %+v, want the Running record only", jobs)
	}
	statuses := map[string]string{}
	for _, r := range pods {
		statuses[r.JobID+"/"+r.PodID] = r.Status
	}
	if len(pods) != 2 || statuses["j/a"] != PodStatusRunning || statuses["k/a"] != PodStatusPending {
		t.Errorf("pods = %+v", pods)
	}
	if got := p.len(); got != 0 {
		t.Errorf("len after take = %d, want 0", got)
	}
}

func TestPendingRequeueNeverHidesALaterRecord(t *testing.T) {
	p := newPending(0)
	p.addJob(JobRecord{JobID: "j", Status: jobRunning, Version: "1", IsInEtcd: true})
	p.addPod(PodRecord{JobID: "j", PodID: "a", Status: PodStatusRunning, Version: "2", IsInEtcd: true})
	jobs, pods := p.take(10)
	// Newer observations arrive while the write of the taken records fails.
	p.addJob(JobRecord{JobID: "j", Status: jobSucceeded, Version: "3", IsInEtcd: true})
	p.requeueJobs(jobs)
	p.requeuePods(pods)
	jobs, pods = p.take(10)
	if len(jobs) != 1 || jobs[0].Status != jobSucceeded {
		t.Errorf("jobs = %+v, want the Succeeded record", jobs)
	}
	if len(pods) != 1 || pods[0].Status != PodStatusRunning {
		t.Errorf("pods = %+v, want the requeued Running record", pods)
	}
}

func TestCompareObservations(t *testing.T) {
	for _, tc := range []struct {
		aInEtcd bool
		aRV     string
		bInEtcd bool
		bRV     string
		want    int
	}{
		{true, "9", true, "10", -1},
		{true, "10", true, "10", 0},
		{true, "100000000000000000000", true, "99999999999999999999", 1},
		{true, "", true, "1", -1},
		{true, "01", true, "1", -1},
		{true, "v1", true, "", 0},
		{false, "1", true, "2", 1},
		{true, "99", false, "2", -1},
		{false, "3", false, "2", 1},
		{true, strings.Repeat("9", 65), true, "1", -1}, // longer than the version column
	} {
		got := compareObservations(tc.aInEtcd, tc.aRV, tc.bInEtcd, tc.bRV)
		if got != tc.want {
			t.Errorf("compareObservations(%v, %q, %v, %q) = %d, want %d", tc.aInEtcd, tc.aRV, tc.bInEtcd, tc.bRV, got, tc.want)
		}
		if back := compareObservations(tc.bInEtcd, tc.bRV, tc.aInEtcd, tc.aRV); back != -tc.want {
			t.Errorf("compareObservations(%v, %q, %v, %q) = %d, want %d", tc.bInEtcd, tc.bRV, tc.aInEtcd, tc.aRV, back, -tc.want)
		}
	}
	for rv, want := range map[string]string{"123": "123", "": "0", "0": "0", "x1": "0", strings.Repeat("9", 65): "0"} {
		if got := versionOrder(rv); got != want {
			t.Errorf("versionOrder(%q) = %q, want %q", rv, got, want)
		}
	}
}

func TestPendingStaysWithinItsBound(t *testing.T) {
	rec := func(i int, status string, version int) PodRecord {
		return PodRecord{JobID: "j", PodID: fmt.Sprint(i), Status: status, Version: fmt.Sprint(version), IsInEtcd: true,
			Remark: strings.Repeat("x", 200)}
	}
	one := rec(0, PodStatusRunning, 1)
	bound := 10*one.size() + 50
	p := newPending(bound)
	before := promtestutil.ToFloat64(overflowedRecords.WithLabelValues(tablePod))
	for i := range 25 {
		p.addPod(rec(i, PodStatusRunning, 1))
		if got := p.size(); got > bound {
			t.Fatalf("after %d records the queue takes %d bytes, bound %d", i+1, got, bound)
		}
	}
	if got := p.len(); got != 10 {
		t.Errorf("len = %d, want the 10 that fit", got)
	}
	if got := promtestutil.ToFloat64(overflowedRecords.WithLabelValues(tablePod)) - before; got != 15 {
		t.Errorf("overflowed records = %v, want 15", got)
	}
	if got := promtestutil.ToFloat64(pendingBytes); got != float64(p.size()) {
		t.Errorf("pending_bytes = %v, want %d", got, p.size())
	}
	// A later record of a queued row replaces it within the bound.
	p.addPod(rec(3, PodStatusSucceeded, 2))
	if !p.takeOverflow() {
		t.Error("takeOverflow() = false after records were left out")
	}
	if p.takeOverflow() {
		t.Error("takeOverflow() = true twice")
	}
	_, pods := p.take(100)
	statuses := map[string]string{}
	for _, r := range pods {
		statuses[r.PodID] = r.Status
	}
	if len(pods) != 10 || statuses["3"] != PodStatusSucceeded {
		t.Errorf("took %d records, pod 3 %q; want 10 and Succeeded", len(pods), statuses["3"])
	}
	if got := p.size(); got != 0 {
		t.Errorf("size after taking everything = %d, want 0", got)
	}
	// Records put back after a failed write are bounded too.
	more := append(pods, rec(90, PodStatusRunning, 1), rec(91, PodStatusRunning, 1))
	p.requeuePods(more)
	if p.size() > bound || !p.takeOverflow() {
		t.Errorf("requeueing 12 records into room for 10: size %d (bound %d), overflow not noted", p.size(), bound)
	}
}

func TestPendingTakeIsBounded(t *testing.T) {
	p := newPending(0)
	for i := range 25 {
		p.addPod(PodRecord{JobID: "j", PodID: fmt.Sprint(i)})
	}
	_, pods := p.take(10)
	if len(pods) != 10 || p.len() != 15 {
		t.Errorf("took %d, left %d; want 10 and 15", len(pods), p.len())
	}
}

func TestScrubRemovesSecrets(t *testing.T) {
	cfg := Config{Host: "db", Port: 3306, DBName: "d", User: "u", Password: "hunter2-long"}
	mc, err := cfg.mysqlConfig()
	if err != nil {
		t.Fatal(err)
	}
	dsn := mc.FormatDSN()
	secrets := []string{dsn, cfg.Password}
	inner := fmt.Errorf("dial %s failed, password %s", dsn, cfg.Password)
	err = fmt.Errorf("connecting: %w", scrub(inner, secrets))
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("scrubbed error %q still holds the password", err)
	}
	if !strings.Contains(err.Error(), redacted) {
		t.Errorf("scrubbed error %q does not say what it removed", err)
	}
	if errors.Unwrap(errors.Unwrap(err)) != nil {
		t.Error("a scrubbed error unwraps to the text holding the password")
	}

	clean := &mysql.MySQLError{Number: 1406, Message: "Data too long"}
	if !isDataError(scrub(clean, secrets)) {
		t.Error("a scrubbed error without secrets no longer unwraps to the MySQL error")
	}
}

// TestScrubbedErrorWithThePasswordStillClassifies covers a password that MySQL's error
// text contains (here: equal to the user name, which MySQL's messages quote): the
// scrubbed error must not show it, yet must still be recognized as MySQL refusing a row
// (dropped, not retried forever) and as an answer from MySQL (mysql_up stays 1).
func TestScrubbedErrorWithThePasswordStillClassifies(t *testing.T) {
	const password = "ejob"
	cfg := Config{Host: "db", Port: 3306, DBName: "d", User: password, Password: password}
	s, err := NewMySQLStore(cfg, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	refused := &mysql.MySQLError{Number: 1406, SQLState: [5]byte{'2', '2', '0', '0', '1'},
		Message: "Data too long for column 'owner' at row 1 (value 'ejob-" + password + "')"}
	failed := s.fail("upserting jobs", refused)

	var texts []string
	for e := failed; e != nil; e = errors.Unwrap(e) {
		texts = append(texts, e.Error(), fmt.Sprintf("%+v %#v", e, e))
	}
	var me *mysql.MySQLError
	if !errors.As(failed, &me) {
		t.Fatal("the scrubbed error no longer says MySQL refused the statement")
	}
	texts = append(texts, me.Message, me.Error())
	for _, text := range texts {
		if strings.Contains(text, password) {
			t.Errorf("%q shows the password", text)
		}
	}
	if me.Number != refused.Number || me.SQLState != refused.SQLState || me == refused {
		t.Errorf("errors.As gave %#v, want a scrubbed copy of %#v", me, refused)
	}
	if refused.Message == me.Message || !strings.Contains(refused.Message, password) {
		t.Error("scrubbing changed the original error instead of a copy")
	}
	if !isDataError(failed) {
		t.Error("isDataError() = false: the row would be retried forever")
	}

	mysqlUp.Set(0)
	noteUp(failed)
	if got := promtestutil.ToFloat64(mysqlUp); got != 1 {
		t.Errorf("mysql_up = %v after MySQL answered with an error quoting the password, want 1", got)
	}
	timeout := s.fail("pinging MySQL", fmt.Errorf("dial as %s: %w", password, context.DeadlineExceeded))
	if !errors.Is(timeout, context.DeadlineExceeded) || isDataError(timeout) {
		t.Errorf("a scrubbed timeout is not a timeout: %v", timeout)
	}
	noteUp(timeout)
	if got := promtestutil.ToFloat64(mysqlUp); got != 0 {
		t.Errorf("mysql_up = %v after a timeout, want 0", got)
	}

	// The writer drops the refused row and keeps the others instead of retrying them all.
	r := newRecorder(nil, nil, nil, Options{}, testLogger(t), nil)
	before := promtestutil.ToFloat64(droppedRecords.WithLabelValues(tableJob))
	var written []string
	upsert := func(_ context.Context, jobs []JobRecord) error {
		for _, j := range jobs {
			if j.JobID == "refused" {
				return s.fail("upserting jobs", refused)
			}
		}
		for _, j := range jobs {
			written = append(written, j.JobID)
		}
		return nil
	}
	retry, err := writeRows(context.Background(), r, tableJob,
		[]JobRecord{{JobID: "a"}, {JobID: "refused"}, {JobID: "c"}}, upsert)
	if err != nil || len(retry) != 0 || fmt.Sprint(written) != "[a c]" {
		t.Errorf("writeRows() = %v, %v, wrote %v; want nothing to retry and [a c] written", retry, err, written)
	}
	if got := promtestutil.ToFloat64(droppedRecords.WithLabelValues(tableJob)) - before; got != 1 {
		t.Errorf("dropped %v records, want 1", got)
	}
}

func TestConfigNeverPrintsThePassword(t *testing.T) {
	cfg := Config{Host: "db", Port: 3306, DBName: "d", User: "u", Password: "hunter2-long"}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(verb, cfg); strings.Contains(s, "hunter2") {
			t.Errorf("%s prints the password: %s", verb, s)
		}
	}
}

func TestMySQLConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantTLS string
		wantErr bool
	}{
		{name: "no TLS", cfg: Config{Host: "db", Port: 3306}},
		{name: "verified TLS", cfg: Config{Host: "db", Port: 3306, TLS: "true"}, wantTLS: "true"},
		{name: "unverified TLS", cfg: Config{Host: "db", Port: 3306, TLS: "skip-verify"}, wantTLS: "skip-verify"},
		{name: "preferred TLS", cfg: Config{Host: "db", Port: 3306, TLS: "preferred"}, wantTLS: "preferred"},
		{name: "unknown TLS mode", cfg: Config{Host: "db", Port: 3306, TLS: "maybe"}, wantErr: true},
		{name: "missing CA file", cfg: Config{Host: "db", Port: 3306, TLSCAFile: "/nonexistent/ca.pem"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mc, err := tt.cfg.mysqlConfig()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if mc.TLSConfig != tt.wantTLS {
				t.Errorf("TLSConfig = %q, want %q", mc.TLSConfig, tt.wantTLS)
			}
			if !mc.ParseTime || mc.Loc.String() != "UTC" || mc.Addr != "db:3306" || mc.Net != "tcp" {
				t.Errorf("config = parseTime %v, loc %v, %s %s", mc.ParseTime, mc.Loc, mc.Net, mc.Addr)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	d := make([]string, 0, 5)
	delay := backoff(0, 100, 500)
	for range 5 {
		d = append(d, fmt.Sprint(int64(delay)))
		delay = backoff(delay, 100, 500)
	}
	if got := strings.Join(d, ","); got != "100,200,400,500,500" {
		t.Errorf("delays = %s, want 100,200,400,500,500", got)
	}
}
