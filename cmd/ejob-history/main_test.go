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

package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil/mariadb"
)

// runCmd runs the command line and returns its exit code, stdout and stderr.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func clearEnv(t *testing.T) {
	for _, k := range []string{"MYSQL_HOST", "MYSQL_PORT", "MYSQL_DB_NAME", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_TLS",
		"MYSQL_TLS_CA_FILE"} {
		t.Setenv(k, "")
	}
}

func TestCommandLineErrors(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"no command", nil, nil, "Usage:"},
		{"unknown command", []string{"list"}, nil, `unknown command "list"`},
		{"unknown flag", []string{"jobs", "--color"}, nil, "flag provided but not defined: -color"},
		{"bad status", []string{"jobs", "--status", "Done"}, nil, `--status "Done" is not one of Created, Waiting, Running`},
		{"bad limit", []string{"jobs", "--limit", "0"}, nil, "--limit 0 is not within 1-10000"},
		{"negative since", []string{"jobs", "--since", "-1h"}, nil, "--since -1h0m0s must be positive"},
		{"bad since", []string{"jobs", "--since", "yesterday"}, nil, `invalid value "yesterday" for flag -since`},
		{"argument to jobs", []string{"jobs", "default"}, nil, `unexpected argument "default"`},
		{"no job", []string{"pods"}, nil, "pods takes one argument, <namespace>/<name> or a job UID; got 0"},
		{"half a name", []string{"pods", "default/"}, nil, `"default/" is not <namespace>/<name>`},
		{"too many slashes", []string{"pods", "a/b/c"}, nil, `"a/b/c" is not <namespace>/<name>`},
		{"no host", []string{"jobs"}, nil, "no MySQL host: set MYSQL_HOST or pass --host"},
		{"no database", []string{"jobs", "--host", "db"}, map[string]string{"MYSQL_USER": "u"},
			"no MySQL db: set MYSQL_DB_NAME or pass --db"},
		{"bad port in the environment", []string{"jobs"}, map[string]string{"MYSQL_PORT": "x"},
			`MYSQL_PORT "x" is not a port number`},
		{"bad port flag", []string{"jobs", "--port", "70000"}, nil, "--port 70000 is not a port number"},
		{"bad timeout", []string{"pods", "--timeout", "0s", "ns/j"}, nil, "--timeout 0s must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, stdout, stderr := runCmd(t, tt.args...)
			if code != exitUsage {
				t.Errorf("exit code %d, want %d (stderr %q)", code, exitUsage, stderr)
			}
			if !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr %q does not say %q", stderr, tt.wantErr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"jobs", "--help"}, {"pods", "-h"}} {
		code, _, stderr := runCmd(t, args...)
		if code != 0 || !strings.Contains(stderr, "Usage") && !strings.Contains(stderr, "-namespace") &&
			!strings.Contains(stderr, "-host") {
			t.Errorf("%v: exit code %d, stderr %q", args, code, stderr)
		}
	}
}

// TestAgainstMariaDB reads rows written by the recorder's store, for jobs that exist in
// no cluster.
func TestAgainstMariaDB(t *testing.T) {
	clearEnv(t)
	srv := mariadb.StartT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := recorder.Config{Host: srv.Host, Port: srv.Port, User: srv.User, Password: srv.Password, DBName: srv.DBName}
	store, err := recorder.NewMySQLStore(cfg, recorder.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = store.Close() }()
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	now := time.Now().UTC().Truncate(time.Second)
	old := now.Add(-48 * time.Hour)
	oldFinished := old.Add(time.Minute)
	recentFinished := now.Add(-time.Hour + time.Minute)
	job := func(uid, ns, name, status string, created time.Time, finished *time.Time, inEtcd bool, seq uint64) recorder.JobRecord {
		return recorder.JobRecord{Name: name, Namespace: ns, JobID: uid, Status: status, Kind: recorder.JobKind,
			IsInEtcd: inEtcd, GmtCreated: created, GmtModified: created, GmtFinished: finished,
			Version:    strconv.FormatUint(seq, 10),
			MatchCount: 2, Succeeded: 1, Failed: 1}
	}
	// Inserted one at a time, so that their ids follow creation.
	for _, j := range []recorder.JobRecord{
		job("uid-old-hello", "default", "hello", "Failed", old, &oldFinished, false, 1),
		job("uid-other", "other", "check", "Running", now.Add(-2*time.Hour), nil, true, 2),
		job("uid-new-hello", "default", "hello", "Succeeded", now.Add(-time.Hour), &recentFinished, true, 3),
	} {
		if err := store.UpsertJobs(ctx, []recorder.JobRecord{j}); err != nil {
			t.Fatal(err)
		}
	}
	exit1 := int32(1)
	pod := func(job, name, status string, seq uint64) recorder.PodRecord {
		start := now.Add(-time.Hour)
		return recorder.PodRecord{Name: name, Namespace: "default", PodID: "pod-" + job + "-" + name, JobID: job,
			Status: status, Image: "busybox:latest", ReplicaType: "helloworld-ec", HostIP: "192.168.0.9",
			GmtCreated: start, GmtStarted: &start, Version: strconv.FormatUint(seq, 10), IsInEtcd: false,
			Remark: `{"exitCode":` + strconv.Itoa(int(exit1)) + `,"reason":"Error"}`}
	}
	if err := store.UpsertPods(ctx, []recorder.PodRecord{
		pod("uid-old-hello", "old-pod", "Failed", 4),
		pod("uid-new-hello", "new-pod-a", "Failed", 5),
		pod("uid-new-hello", "new-pod-b", "Failed", 6),
	}); err != nil {
		t.Fatal(err)
	}

	// The environment names another database: the flag wins.
	t.Setenv("MYSQL_HOST", srv.Host)
	t.Setenv("MYSQL_PORT", strconv.Itoa(srv.Port))
	t.Setenv("MYSQL_USER", srv.User)
	t.Setenv("MYSQL_PASSWORD", srv.Password)
	t.Setenv("MYSQL_DB_NAME", "no_such_database")
	db := "--db=" + srv.DBName

	uidsOf := func(stdout string) []string {
		var uids []string
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		for _, l := range lines[1:] {
			uids = append(uids, strings.Fields(l)[2])
		}
		return uids
	}
	jobsTests := []struct {
		name string
		args []string
		want string
	}{
		{"all, newest first", nil, "uid-new-hello,uid-other,uid-old-hello"},
		{"namespace", []string{"--namespace", "default"}, "uid-new-hello,uid-old-hello"},
		{"namespace and status", []string{"-n", "default", "--status", "Failed"}, "uid-old-hello"},
		{"since", []string{"--since", "24h"}, "uid-new-hello,uid-other"},
		{"limit", []string{"--limit", "2"}, "uid-new-hello,uid-other"},
	}
	for _, tt := range jobsTests {
		t.Run("jobs "+tt.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, append([]string{"jobs", db}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit code %d: %s", code, stderr)
			}
			if got := strings.Join(uidsOf(stdout), ","); got != tt.want {
				t.Errorf("jobs %v = %s, want %s\n%s", tt.args, got, tt.want, stdout)
			}
		})
	}
	t.Run("jobs, none match", func(t *testing.T) {
		code, stdout, stderr := runCmd(t, "jobs", db, "--status", "Paused")
		if code != 0 || stdout != "" || !strings.Contains(stderr, "no jobs found in history") {
			t.Errorf("exit code %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})
	t.Run("jobs shows the row", func(t *testing.T) {
		_, stdout, _ := runCmd(t, "jobs", db, "-n", "default", "--status", "Failed")
		want := "default    hello  uid-old-hello  Failed  2      1          1       no       " +
			old.Format(timeLayout) + "  " + oldFinished.Format(timeLayout)
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout\n%s\nlacks\n%s", stdout, want)
		}
	})

	t.Run("pods by name: the newest job of the name", func(t *testing.T) {
		code, stdout, stderr := runCmd(t, "pods", db, "default/hello")
		if code != 0 {
			t.Fatalf("exit code %d: %s", code, stderr)
		}
		if !strings.HasPrefix(stdout, "Job default/hello (UID uid-new-hello): Succeeded") {
			t.Errorf("stdout starts %q", stdout)
		}
		if !strings.Contains(stdout, "new-pod-a") || !strings.Contains(stdout, "new-pod-b") || strings.Contains(stdout, "old-pod") {
			t.Errorf("stdout lists the wrong pods:\n%s", stdout)
		}
		if !strings.Contains(stderr, "2 jobs were named default/hello; showing the newest, uid-new-hello") {
			t.Errorf("stderr %q does not mention the older job of the same name", stderr)
		}
		if !strings.Contains(stdout, "new-pod-a  Failed  1     Error   helloworld-ec  busybox:latest  192.168.0.9") {
			t.Errorf("stdout lacks a pod's outcome:\n%s", stdout)
		}
	})
	t.Run("pods by UID", func(t *testing.T) {
		code, stdout, stderr := runCmd(t, "pods", db, "uid-old-hello")
		if code != 0 {
			t.Fatalf("exit code %d: %s", code, stderr)
		}
		if !strings.Contains(stdout, "deleted from the API server") || !strings.Contains(stdout, "old-pod") ||
			strings.Contains(stdout, "new-pod") {
			t.Errorf("stdout:\n%s", stdout)
		}
	})
	for _, tt := range []struct{ arg, want string }{
		{"default/missing", `ejob-history pods: job "default/missing" not found in history`},
		{"no-such-uid", `ejob-history pods: job with UID "no-such-uid" not found in history`},
	} {
		t.Run("pods of "+tt.arg, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, "pods", db, tt.arg)
			if code != 1 || stdout != "" || strings.TrimSpace(stderr) != tt.want {
				t.Errorf("exit code %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, tt.want)
			}
		})
	}
	t.Run("a refused login does not show the password", func(t *testing.T) {
		const password = "not-the-password-of-root"
		t.Setenv("MYSQL_PASSWORD", password)
		code, _, stderr := runCmd(t, "jobs", db)
		if code != 1 || !strings.Contains(stderr, "Access denied") || strings.Contains(stderr, password) {
			t.Errorf("exit code %d, stderr %q", code, stderr)
		}
	})
	t.Run("a database without the tables", func(t *testing.T) {
		empty, err := srv.NewDatabase(ctx)
		if err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runCmd(t, "pods", "--db", empty, "ns/j")
		if code != 1 || !strings.Contains(stderr, "the database has no recorder tables") {
			t.Errorf("exit code %d, stderr %q", code, stderr)
		}
	})
	t.Run("no such database", func(t *testing.T) {
		code, _, stderr := runCmd(t, "jobs")
		if code != 1 || !strings.Contains(stderr, "no_such_database") {
			t.Errorf("exit code %d, stderr %q", code, stderr)
		}
	})
}
