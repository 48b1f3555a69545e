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

package demo

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

// TestStory1 runs the demo as `make demo` does and checks what it showed, so that the
// demo keeps working: the job ends as in the proposal, the recorder kept its rows after
// the job and the pods were deleted, and nothing is left listening.
func TestStory1(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out := &testutil.SyncBuffer{}
	workDir := t.TempDir()
	res, err := Run(ctx, Options{Out: out, RunFor: 200 * time.Millisecond, StepTimeout: 2 * time.Minute, WorkDir: workDir})
	defer func() {
		if t.Failed() {
			t.Logf("demo output:\n%s", out.String())
			if log, err := os.ReadFile(filepath.Join(workDir, "manager.log")); err == nil {
				t.Logf("manager log:\n%s", log)
			}
		}
	}()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}

	if got := CountsOf(res.Job); got != Story1 {
		t.Errorf("the job ended with %s, want %s", got, Story1)
	}
	if res.Job.CompletionTime == nil {
		t.Errorf("the finished job has no completionTime: %+v", res.Job)
	}
	if len(res.Table) == 0 {
		t.Fatal("kubectl get ejob printed no row")
	}
	last := res.Table[len(res.Table)-1]
	if want := []string{jobName, "Failed", "4", "2", "2", "0", "0"}; len(last) != 8 ||
		!slices.Equal(last[:7], want) {
		t.Errorf("the last row of kubectl get ejob is %q, want %q and the age", last, want)
	}
	for i := 1; i < len(res.Table); i++ {
		if slices.Equal(res.Table[i][:7], res.Table[i-1][:7]) {
			t.Errorf("rows %d and %d of kubectl get ejob repeat %q", i-1, i, res.Table[i])
		}
	}

	if len(res.Jobs) != 1 {
		t.Fatalf("job rows: got %d, want 1: %+v", len(res.Jobs), res.Jobs)
	}
	j := res.Jobs[0]
	if j.Name != jobName || j.Namespace != "default" ||
		j.Status != string(appsv1alpha1.EphemeralJobFailed) || j.MatchCount != 4 || j.Succeeded != 2 || j.Failed != 2 ||
		j.IsInEtcd || j.DeployRegion != region {
		t.Errorf("job row: got %+v, want the finished job with is_in_etcd=0", j)
	}
	wantPods := map[string]string{
		"helloworld-0":         recorder.PodStatusSucceeded,
		"helloworld-1":         recorder.PodStatusSucceeded,
		"helloworld-no-work-0": recorder.PodStatusFailed,
		"helloworld-no-work-1": recorder.PodStatusFailed,
	}
	if len(res.Pods) != len(wantPods) {
		t.Errorf("pod rows: got %d, want %d: %+v", len(res.Pods), len(wantPods), res.Pods)
	}
	for _, p := range res.Pods {
		if want, ok := wantPods[p.Name]; !ok || p.Status != want || p.IsInEtcd || p.JobID != j.JobID {
			t.Errorf("pod row %s: got status %q, is_in_etcd %v, job %s; want %q, false, %s",
				p.Name, p.Status, p.IsInEtcd, p.JobID, want, j.JobID)
		}
	}

	// The results view: a row per pod, pidof's output under the two that run helloworld,
	// then two groups of two; at the end the same rows from MySQL.
	for _, tt := range []struct {
		name, got string
		want      []string
	}{
		{"kubectl ejob results --logs", res.Results, []string{
			"POD                   CONTAINER      STATUS     EXIT  REASON     MESSAGE  DURATION\n",
			"\nhelloworld-0          helloworld-ec  Succeeded  0     Completed  -        ",
			"\n    | 1\n",
			"\nhelloworld-no-work-1  helloworld-ec  Failed     1     Error      -        ",
			"\n    (no output)\n",
		}},
		{"kubectl ejob results --group", res.Groups, []string{
			"COUNT  STATUS     EXIT  REASON     MESSAGE  PODS\n",
			"\n2      Succeeded  0     Completed  -        helloworld-0,helloworld-1\n",
			"\n2      Failed     1     Error      -        helloworld-no-work-0,helloworld-no-work-1\n",
		}},
		{"kubectl ejob results from history", res.History, []string{
			"note: ejob default/hello-world-ephemeral-job is gone from the API server; showing its history from MySQL",
			"\nhelloworld-no-work-0  helloworld-ec  Failed     1     Error      -        ",
		}},
	} {
		for _, w := range tt.want {
			if !strings.Contains(tt.got, w) {
				t.Errorf("%s printed\n%s\nwhich lacks %q", tt.name, tt.got, w)
			}
		}
	}
	if n := strings.Count(res.Results, "\n    | 1\n"); n != 2 {
		t.Errorf("kubectl ejob results --logs shows pidof's output %d times, want 2:\n%s", n, res.Results)
	}

	text := out.String()
	for _, want := range []string{" 1. Starting a local control plane",
		"$ kubectl apply -f config/samples/story1_ephemeraljob.yaml", "as in the proposal: MATCH 4 SUCCEED 2 FAILED 2",
		"$ kubectl ejob results hello-world-ephemeral-job --logs", "$ kubectl ejob results hello-world-ephemeral-job --group",
		"table job:", "Tearing down", "Done in"} {
		if !strings.Contains(text, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	for name, addr := range map[string]string{"kube-apiserver": res.APIServer, "MariaDB": res.MySQL} {
		if conn, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
			_ = conn.Close()
			t.Errorf("%s still accepts connections on %s after Run returned", name, addr)
		}
	}
}

// ejobHeader is the header of `kubectl get ejob`.
var ejobHeader = []string{"NAME", "STATUS", "MATCH", "SUCCEED", "FAILED", "RUNNING", "WAITING", "AGE"}

func TestParseTable(t *testing.T) {
	tests := []struct {
		name       string
		out        string
		wantHeader []string
		wantRows   [][]string
	}{
		{
			name: "every cell set",
			out: "NAME                        STATUS    MATCH   SUCCEED   FAILED   RUNNING   WAITING   AGE\n" +
				"hello-world-ephemeral-job   Running   4       0         0        1         3         0s\n",
			wantHeader: ejobHeader,
			wantRows:   [][]string{{jobName, "Running", "4", "0", "0", "1", "3", "0s"}},
		},
		{
			name: "no status yet",
			out: "NAME                        STATUS   MATCH   SUCCEED   FAILED   RUNNING   WAITING   AGE\n" +
				"hello-world-ephemeral-job                                                           0s\n",
			wantHeader: ejobHeader,
			wantRows:   [][]string{{jobName, "", "", "", "", "", "", "0s"}},
		},
		{
			name:       "a longer last cell",
			out:        "NAME   AGE\na      10m20s\nbb     1d",
			wantHeader: []string{ejobHeader[0], ejobHeader[7]},
			wantRows:   [][]string{{"a", "10m20s"}, {"bb", "1d"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header, rows := parseTable(tt.out)
			if !slices.Equal(header, tt.wantHeader) {
				t.Errorf("header: got %q, want %q", header, tt.wantHeader)
			}
			if !slices.EqualFunc(rows, tt.wantRows, slices.Equal) {
				t.Errorf("rows: got %q, want %q", rows, tt.wantRows)
			}
		})
	}
}

func TestFormatRow(t *testing.T) {
	got := []string{
		formatRow(ejobHeader, ejobHeader),
		formatRow(ejobHeader, []string{jobName, "Succeeded", "4", "4", "0", "0", "0", "3s"}),
		formatRow(ejobHeader, []string{jobName, "", "", "", "", "", "", "0s"}),
		formatRow(ejobHeader, []string{jobName, "Running", "12345678", "0", "0", "1", "12345677", "0s"}),
	}
	want := []string{
		"NAME                        STATUS      MATCH   SUCCEED   FAILED   RUNNING   WAITING   AGE",
		"hello-world-ephemeral-job   Succeeded   4       4         0        0         0         3s",
		"hello-world-ephemeral-job                                                              0s",
		"hello-world-ephemeral-job   Running     12345678   0         0        1         12345677   0s",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
