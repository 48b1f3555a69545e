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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil/mariadb"
)

func clearMySQLEnv(t *testing.T) {
	for _, k := range []string{"MYSQL_HOST", "MYSQL_PORT", "MYSQL_DB_NAME", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_TLS",
		"MYSQL_TLS_CA_FILE"} {
		t.Setenv(k, "")
	}
}

// TestCommandLineErrors checks that a command line that cannot run fails with exit code 1
// and one line naming what to fix, before it reaches any server.
func TestCommandLineErrors(t *testing.T) {
	clearMySQLEnv(t)
	kc := "--kubeconfig=" + kubeconfig
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"unknown command", []string{"list"}, nil, `unknown command "list" for "kubectl ejob"`},
		{"unknown flag", []string{"history", "jobs", "--color"}, nil,
			"unknown flag: --color (see 'kubectl ejob history jobs --help')"},
		{"no job", []string{"results", kc}, nil, "kubectl ejob results takes one argument, the job's name; got 0"},
		{"two jobs", []string{"results", kc, "a", "b"}, nil, "takes one argument, the job's name; got 2"},
		{"bad output", []string{"results", kc, "j", "-o", "table"}, nil,
			`-o "table" is not one of wide, json, yaml, kyaml, name, go-template`},
		{"wide history", []string{"history", "jobs", kc, "-o", "wide"}, nil, `-o "wide" is not one of json, yaml`},
		{"bad template", []string{"results", kc, "j", "-o", "go-template={{.items"}, nil, "-o go-template={{.items: "},
		{"bad columns", []string{"results", kc, "j", "-o", "custom-columns=POD"}, nil,
			"-o custom-columns=POD: unexpected custom-columns spec: POD, expected <header>:<json-path-expr>"},
		{"group name", []string{"results", kc, "j", "--group", "-o", "name"}, nil, "--group has no -o name form"},
		{"watch group", []string{"results", kc, "j", "-w", "--group"}, nil, "drop one of them"},
		{"watch logs", []string{"results", kc, "j", "-w", "--logs"}, nil, "drop --logs"},
		{"version output", []string{"version", "-o", "wide"}, nil, `-o "wide" is not one of json, yaml`},
		{"group wide", []string{"results", kc, "j", "--group", "-o", "wide"}, nil, "--group has no wide form"},
		{"limit bytes", []string{"results", kc, "j", "--logs", "--limit-bytes", "0"}, nil,
			"--limit-bytes 0 is not within 1-1048576"},
		{"no kubeconfig", []string{"results", "--kubeconfig", "/nonexistent/kubeconfig", "j"}, nil,
			"/nonexistent/kubeconfig"},
		{"bad status", []string{"history", "jobs", kc, "--status", "Done"}, nil,
			`--status "Done" is not one of Created, Waiting, Running`},
		{"bad limit", []string{"history", "jobs", kc, "--limit", "0"}, nil, "--limit 0 is not within 1-10000"},
		{"negative since", []string{"history", "jobs", kc, "--since", "-1h"}, nil, "--since -1h0m0s must be positive"},
		{"bad since", []string{"history", "jobs", kc, "--since", "yesterday"}, nil, `invalid argument "yesterday"`},
		{"argument to jobs", []string{"history", "jobs", kc, "default"}, nil, `unknown command "default"`},
		{"no job for pods", []string{"history", "pods", kc}, nil,
			"kubectl ejob history pods takes one argument, <namespace>/<name>, a name in -n's namespace, or a job UID; got 0"},
		{"half a name", []string{"history", "pods", kc, "default/"}, nil, `"default/" is not <namespace>/<name>`},
		{"too many slashes", []string{"history", "pods", kc, "a/b/c"}, nil, `"a/b/c" is not <namespace>/<name>`},
		{"no host", []string{"history", "jobs", kc}, nil, "no MySQL host for the history: set MYSQL_HOST or pass --mysql-host"},
		{"no database", []string{"history", "jobs", kc, "--mysql-host", "db"}, map[string]string{"MYSQL_USER": "u"},
			"no MySQL database for the history: set MYSQL_DB_NAME or pass --mysql-db"},
		{"bad port in the environment", []string{"history", "jobs", kc}, map[string]string{"MYSQL_PORT": "x"},
			`MYSQL_PORT "x" is not a port number`},
		{"bad port flag", []string{"history", "jobs", kc, "--mysql-port", "70000"}, nil,
			"--mysql-port 70000 is not a port number"},
		{"bad timeout", []string{"history", "pods", kc, "--mysql-timeout", "0s", "ns/j"}, nil,
			"--mysql-timeout 0s must be positive"},
		{"a job in no API server and no history", []string{"results", kc, "-n", "default", "nope"}, nil,
			`ejob "nope" not found in namespace "default"; to read it from the history, set MYSQL_HOST`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != 1 {
				t.Errorf("exit code %d, want 1 (stderr %q)", code, stderr)
			}
			if !strings.HasPrefix(stderr, "error: ") || strings.Count(stderr, "\n") != 1 ||
				!strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr %q is not one line `error: ...` saying %q", stderr, tt.wantErr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"kubectl ejob [command]", "results", "history", "version", "completion", "--kubeconfig",
			"--context", "--namespace", "-s, --server", "--mysql-host"}},
		{[]string{"results", "--help"}, []string{"kubectl ejob results JOB [flags]", "--logs", "--limit-bytes",
			"--group", "-o, --output", "custom-columns", "jsonpath-as-json", "go-template-file", "--template",
			"--no-headers", "-w, --watch", "--exit-code", "0  every target succeeded", "2  no target could run",
			"kubectl ejob results hello-world-ephemeral-job --group --logs"}},
		{[]string{"history", "jobs", "-h"}, []string{"-A, --all-namespaces", "--status", "--since", "--limit",
			"-o, --output", "custom-columns"}},
		{[]string{"history", "pods", "--help"}, []string{"kubectl ejob history pods NAMESPACE/NAME | NAME | UID",
			"-o, --output"}},
		{[]string{"version", "--help"}, []string{"-o, --output"}},
	} {
		code, stdout, stderr := runCLI(t, tt.args...)
		if code != 0 || stderr != "" {
			t.Errorf("%v: exit code %d, stderr %q", tt.args, code, stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("%v: the help lacks %q:\n%s", tt.args, w, stdout)
			}
		}
		// kubectl dropped basic authentication's flags.
		for _, gone := range []string{"--username", "--password"} {
			if strings.Contains(stdout, gone) {
				t.Errorf("%v: the help offers %s", tt.args, gone)
			}
		}
	}
}

var (
	created  = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	started  = created.Add(2 * time.Second)
	finished = created.Add(5*time.Second + 400*time.Millisecond)
)

func TestWriteHistoryJobs(t *testing.T) {
	tests := []struct {
		name string
		jobs []recorder.JobRecord
		want string
	}{
		{
			name: "finished and deleted, running and present",
			jobs: []recorder.JobRecord{
				{Namespace: "default", Name: "hello-world-ephemeral-job", JobID: "uid-1", Status: "Failed", MatchCount: 4,
					Succeeded: 2, Failed: 2, IsInEtcd: false, GmtCreated: created, GmtFinished: &finished},
				{Namespace: "web", Name: "nginx-ephemeral-job", JobID: "uid-2", Status: "Running", MatchCount: 1,
					IsInEtcd: true, GmtCreated: created.In(time.FixedZone("CEST", 2*3600))},
			},
			want: `
NAMESPACE  NAME                       UID    STATUS   MATCH  SUCCEEDED  FAILED  IN-ETCD  CREATED               FINISHED
default    hello-world-ephemeral-job  uid-1  Failed   4      2          2       no       2026-05-01 10:00:00Z  2026-05-01 10:00:05Z
web        nginx-ephemeral-job        uid-2  Running  1      0          0       yes      2026-05-01 10:00:00Z  -
`,
		},
		{
			name: "empty and unsafe values",
			jobs: []recorder.JobRecord{{Namespace: "ns", Name: "a\tb\nc\x1b[2J", JobID: "u"}},
			want: `
NAMESPACE  NAME          UID  STATUS  MATCH  SUCCEEDED  FAILED  IN-ETCD  CREATED  FINISHED
ns         a b c\x1b[2J  u    -       0      0          0       no       -        -
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := writeHistoryJobs(&b, tt.jobs, false); err != nil {
				t.Fatal(err)
			}
			if got, want := b.String(), strings.TrimPrefix(tt.want, "\n"); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestWriteHistoryPods(t *testing.T) {
	exit0, exit1 := int32(0), int32(1)
	job := recorder.JobRecord{Namespace: "default", Name: "hello", JobID: "uid-1", Status: "Failed", MatchCount: 3,
		Succeeded: 1, Failed: 2}
	tests := []struct {
		name string
		job  recorder.JobRecord
		pods []recorder.PodRecord
		want string
	}{
		{
			name: "succeeded, failed under a derived name, gone before it finished",
			job:  job,
			pods: []recorder.PodRecord{
				{Name: "helloworld-0", Status: "Succeeded", ReplicaType: "helloworld-ec", ContainerName: "helloworld-ec",
					ExitCode: &exit0, Reason: "Completed", Image: "busybox:latest", HostIP: "192.168.0.1", IsInEtcd: true,
					GmtStarted: &started, GmtFinished: &finished},
				{Name: "helloworld-no-work-0", Status: "Failed", ReplicaType: "helloworld-ec",
					ContainerName: "helloworld-ec-5f6d7c8b", ExitCode: &exit1, Reason: "Error",
					Message: "no process named helloworld\nin this pod", Image: "busybox:latest", HostIP: "192.168.0.2",
					IsInEtcd: true, GmtStarted: &started, GmtFinished: &finished},
				{Name: "gone", Status: "Unknown", ReplicaType: "helloworld-ec", ContainerName: "helloworld-ec",
					Image: "busybox:latest", GmtStarted: &started},
			},
			want: `
Job default/hello (UID uid-1): Failed, 1 succeeded, 2 failed of 3; deleted from the API server
POD                   CONTAINER               STATUS     EXIT  REASON     MESSAGE                                  IMAGE           HOST         STARTED               FINISHED              IN-ETCD
helloworld-0          helloworld-ec           Succeeded  0     Completed  -                                        busybox:latest  192.168.0.1  2026-05-01 10:00:02Z  2026-05-01 10:00:05Z  yes
helloworld-no-work-0  helloworld-ec-5f6d7c8b  Failed     1     Error      no process named helloworld in this pod  busybox:latest  192.168.0.2  2026-05-01 10:00:02Z  2026-05-01 10:00:05Z  yes
gone                  helloworld-ec           Unknown    -     -          -                                        busybox:latest  -            2026-05-01 10:00:02Z  -                     no
`,
		},
		{
			name: "rows with the result in remark only, and a remark that is not JSON",
			job:  recorder.JobRecord{Namespace: "ns", Name: "j", JobID: "u", Status: "Running", IsInEtcd: true, MatchCount: 2},
			pods: []recorder.PodRecord{
				{Name: "p0", Status: "Failed", Remark: `{"container":"c","reason":"Error","exitCode":2,"message":"m"}`,
					IsInEtcd: true},
				{Name: "p1", Status: "Pending", Remark: "written by hand", IsInEtcd: true},
			},
			want: `
Job ns/j (UID u): Running, 0 succeeded, 0 failed of 2; in the API server
POD  CONTAINER  STATUS   EXIT  REASON           MESSAGE  IMAGE  HOST  STARTED  FINISHED  IN-ETCD
p0   c          Failed   2     Error            m        -      -     -        -         yes
p1   -          Pending  -     written by hand  -        -      -     -        -         yes
`,
		},
		{
			name: "no pods",
			job:  recorder.JobRecord{Namespace: "ns", Name: "j", JobID: "u", Status: "Waiting", IsInEtcd: true},
			want: `
Job ns/j (UID u): Waiting, 0 succeeded, 0 failed of 0; in the API server
No pods recorded for this job.
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := writeHistoryPods(&b, tt.job, tt.pods, false); err != nil {
				t.Fatal(err)
			}
			if got, want := b.String(), strings.TrimPrefix(tt.want, "\n"); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// UIDs of the jobs of TestAgainstMariaDB.
const (
	uidOldHello = "0b7c6a0e-1111-4000-8000-000000000001"
	uidOther    = "0b7c6a0e-1111-4000-8000-000000000002"
	uidNewHello = "0b7c6a0e-1111-4000-8000-000000000003"
)

// TestAgainstMariaDB reads rows written by the recorder's store: the history commands, and
// `results` for a job gone from the API server and for a live job whose pods are gone.
func TestAgainstMariaDB(t *testing.T) {
	clearMySQLEnv(t)
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

	old := now.Add(-48 * time.Hour)
	oldFinished := old.Add(time.Minute)
	recentFinished := created.Add(time.Minute)
	job := func(uid, ns, name, status string, created time.Time, finished *time.Time, inEtcd bool, seq uint64) recorder.JobRecord {
		return recorder.JobRecord{Name: name, Namespace: ns, JobID: uid, Status: status, Kind: recorder.JobKind,
			IsInEtcd: inEtcd, GmtCreated: created, GmtModified: created, GmtFinished: finished,
			Version: strconv.FormatUint(seq, 10), MatchCount: 5, Succeeded: 1, Failed: 3}
	}
	// Inserted one at a time, so that their ids follow creation.
	for _, j := range []recorder.JobRecord{
		job(uidOldHello, "default", "hello", "Failed", old, &oldFinished, false, 1),
		job(uidOther, "other", "check", "Running", now.Add(-2*time.Hour), nil, true, 2),
		job(uidNewHello, "default", "hello", "Failed", created, &recentFinished, false, 3),
	} {
		if err := store.UpsertJobs(ctx, []recorder.JobRecord{j}); err != nil {
			t.Fatal(err)
		}
	}
	exit0, exit1 := int32(0), int32(1)
	at := func(seconds int) *time.Time {
		t := created.Add(time.Duration(seconds) * time.Second)
		return &t
	}
	pod := func(job, name, status string, seq uint64) recorder.PodRecord {
		return recorder.PodRecord{Name: name, Namespace: "default", PodID: "pod-" + job + "-" + name, JobID: job,
			Status: status, Image: "busybox:latest", ReplicaType: "check", ContainerName: "check",
			HostIP: "192.168.0.9", GmtCreated: created, Version: strconv.FormatUint(seq, 10)}
	}
	succeeded := pod(uidNewHello, "web-0", recorder.PodStatusSucceeded, 5)
	succeeded.ExitCode, succeeded.Reason, succeeded.Output = &exit0, "Completed", "1\n"
	succeeded.GmtStarted, succeeded.GmtFinished = at(0), at(1)
	failed := pod(uidNewHello, "web-1", recorder.PodStatusFailed, 6)
	failed.ContainerName, failed.ExitCode, failed.Reason = "check-5f6d7c8b", &exit1, "Error"
	failed.Message = "no process named web\nchecked by pidof"
	failed.GmtStarted, failed.GmtFinished = at(2), at(4)
	gone := pod(uidNewHello, "web-2", recorder.PodStatusUnknown, 7)
	gone.GmtStarted = at(3)
	// A row written before the result had columns of its own: its remark holds it.
	remarkOnly := pod(uidNewHello, "web-3", recorder.PodStatusFailed, 8)
	remarkOnly.ContainerName = ""
	remarkOnly.Remark = `{"container":"check","reason":"Error","exitCode":2,"message":"exit status 2"}`
	remarkOnly.GmtStarted, remarkOnly.GmtFinished = at(5), at(9)
	refused := pod(uidNewHello, "web-4", recorder.PodStatusFailed, 0)
	refused.Reason, refused.Message = "TargetContainerNotFound", `the pod has no container named "app" to target`
	refused.Version = ""
	if err := store.UpsertPods(ctx, []recorder.PodRecord{
		pod(uidOldHello, "old-pod", recorder.PodStatusFailed, 4), succeeded, failed, gone, remarkOnly, refused,
	}); err != nil {
		t.Fatal(err)
	}

	// The environment names another database: the flag wins.
	t.Setenv("MYSQL_HOST", srv.Host)
	t.Setenv("MYSQL_PORT", strconv.Itoa(srv.Port))
	t.Setenv("MYSQL_USER", srv.User)
	t.Setenv("MYSQL_PASSWORD", srv.Password)
	t.Setenv("MYSQL_DB_NAME", "no_such_database")
	db := "--mysql-db=" + srv.DBName
	kc := "--kubeconfig=" + kubeconfig

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
		{"the kubeconfig's namespace, newest first", nil, uidNewHello + "," + uidOldHello},
		{"all namespaces", []string{"-A"}, uidNewHello + "," + uidOther + "," + uidOldHello},
		{"namespace", []string{"--namespace", "other"}, uidOther},
		{"status", []string{"-A", "--status", "Running"}, uidOther},
		{"since", []string{"-A", "--since", "24h"}, uidNewHello + "," + uidOther},
		{"limit", []string{"-A", "--limit", "2"}, uidNewHello + "," + uidOther},
	}
	for _, tt := range jobsTests {
		t.Run("history jobs, "+tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"history", "jobs", kc, db}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit code %d: %s", code, stderr)
			}
			if got := strings.Join(uidsOf(stdout), ","); got != tt.want {
				t.Errorf("jobs %v = %s, want %s\n%s", tt.args, got, tt.want, stdout)
			}
		})
	}
	t.Run("history jobs, none match", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, "history", "jobs", kc, db, "--status", "Paused")
		if code != 0 || stdout != "" || stderr != "no jobs found in history\n" {
			t.Errorf("exit code %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})
	for _, arg := range [][]string{{"default/hello"}, {"hello"}, {"hello", "-n", "default"}} {
		t.Run("history pods of "+strings.Join(arg, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"history", "pods", kc, db}, arg...)...)
			golden(t, "history-pods", transcript(code, stdout, stderr))
		})
	}
	// Every -o of the history's commands.
	for _, tt := range []struct {
		golden string
		args   []string
	}{
		{"history-jobs", []string{"history", "jobs", "-A"}},
		{"history-jobs-no-headers", []string{"history", "jobs", "-A", "--no-headers"}},
		{"history-jobs-json", []string{"history", "jobs", "-A", "-o", "json"}},
		{"history-jobs-yaml", []string{"history", "jobs", "-A", "-o", "yaml"}},
		{"history-jobs-name", []string{"history", "jobs", "-A", "-o", "name"}},
		{"history-jobs-jsonpath", []string{"history", "jobs", "-A", "-o",
			`jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.status.phase} {.history.inEtcd}{"\n"}{end}`}},
		{"history-jobs-go-template", []string{"history", "jobs", "-A", "-o",
			`go-template={{range .items}}{{.metadata.uid}} {{.status.failed}}{{"\n"}}{{end}}`}},
		{"history-jobs-custom-columns", []string{"history", "jobs", "-A", "-o",
			"custom-columns=NAME:.metadata.name,PHASE:.status.phase,CREATED:.metadata.creationTimestamp"}},
		{"history-pods-json", []string{"history", "pods", "default/hello", "-o", "json"}},
		{"history-pods-yaml", []string{"history", "pods", "default/hello", "-o", "yaml"}},
		{"history-pods-name", []string{"history", "pods", "default/hello", "-o", "name"}},
		{"history-pods-no-headers", []string{"history", "pods", "default/hello", "--no-headers"}},
		{"history-pods-jsonpath-as-json", []string{"history", "pods", "default/hello", "-o",
			"jsonpath-as-json={.items[*].reason}"}},
		{"history-pods-go-template", []string{"history", "pods", "default/hello", "-o",
			`go-template={{range .items}}{{.metadata.name}} {{.inEtcd}}{{"\n"}}{{end}}`}},
		{"history-pods-custom-columns", []string{"history", "pods", "default/hello", "-o",
			"custom-columns=POD:.metadata.name,UID:.metadata.uid,STATUS:.status,IMAGE:.image"}},
		{"results-history-name", []string{"results", "hello", "-n", "default", "-o", "name"}},
		{"results-history-custom-columns", []string{"results", "hello", "-n", "default", "-o",
			"custom-columns=POD:.metadata.name,STATUS:.status,SOURCE:.source"}},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append(tt.args, kc, db)...)
			golden(t, tt.golden, transcript(code, stdout, stderr))
		})
	}
	t.Run("history jobs -o json, none match", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, "history", "jobs", kc, db, "--status", "Paused", "-o", "json")
		want := "{\n    \"apiVersion\": \"v1\",\n    \"items\": [],\n    \"kind\": \"List\",\n    \"metadata\": {}\n}\n"
		if code != 0 || stdout != want || stderr != "no jobs found in history\n" {
			t.Errorf("exit code %d, stdout %q, stderr %q; want an empty List", code, stdout, stderr)
		}
	})

	t.Run("history pods by UID", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, "history", "pods", kc, db, uidOldHello)
		if code != 0 || !strings.Contains(stdout, "old-pod") || strings.Contains(stdout, "web-0") || stderr != "" {
			t.Errorf("exit code %d, stdout\n%s\nstderr %q", code, stdout, stderr)
		}
	})
	for _, tt := range []struct{ arg, want string }{
		{"default/missing", `error: job "default/missing" not found in history`},
		{"0b7c6a0e-1111-4000-8000-00000000000f", `error: job with UID "0b7c6a0e-1111-4000-8000-00000000000f" not found in history`},
	} {
		t.Run("history pods of "+tt.arg, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "history", "pods", kc, db, tt.arg)
			if code != 1 || stdout != "" || strings.TrimSpace(stderr) != tt.want {
				t.Errorf("exit code %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, tt.want)
			}
		})
	}

	// The job is in no API server: results reads the newest job of the name from the history.
	for _, tt := range []struct {
		golden string
		args   []string
	}{
		{"results-history", nil},
		{"results-history-wide", []string{"-o", "wide"}},
		{"results-history-logs", []string{"--logs"}},
		{"results-history-group", []string{"--group"}},
		{"results-history-json", []string{"-o", "json", "--logs"}},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"results", "hello", kc, db, "-n", "default"}, tt.args...)...)
			golden(t, tt.golden, transcript(code, stdout, stderr))
		})
	}

	// A live job whose pod web-6 is gone: its row comes from the history.
	t.Run("results-live-and-history", func(t *testing.T) {
		s := setUpLive(t, "results-mixed")
		row := pod(string(s.job.UID), "web-6", recorder.PodStatusFailed, 20)
		row.Namespace, row.ExitCode, row.Reason, row.Message = s.namespace, &exit1, "Error", "gone since"
		row.GmtStarted, row.GmtFinished = at(20), at(22)
		if err := store.UpsertPods(ctx, []recorder.PodRecord{row}); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := runCLI(t, "results", "hello", kc, db, "-n", s.namespace)
		golden(t, "results-live-and-history", s.normalize(transcript(code, stdout, stderr)))
	})

	t.Run("a refused login does not show the password", func(t *testing.T) {
		const password = "not-the-password-of-root"
		t.Setenv("MYSQL_PASSWORD", password)
		code, _, stderr := runCLI(t, "history", "jobs", kc, db)
		if code != 1 || !strings.Contains(stderr, "Access denied") || strings.Contains(stderr, password) {
			t.Errorf("exit code %d, stderr %q", code, stderr)
		}
	})
	t.Run("a database without the tables", func(t *testing.T) {
		empty, err := srv.NewDatabase(ctx)
		if err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runCLI(t, "history", "pods", kc, "--mysql-db", empty, "ns/j")
		if code != 1 || !strings.Contains(stderr, "the database has no recorder tables") {
			t.Errorf("exit code %d, stderr %q", code, stderr)
		}
	})
	t.Run("no such database", func(t *testing.T) {
		code, _, stderr := runCLI(t, "history", "jobs", kc)
		if code != 1 || !strings.Contains(stderr, "no_such_database") {
			t.Errorf("exit code %d, stderr %q", code, stderr)
		}
	})
}
