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
	"strings"
	"testing"
	"time"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
)

var (
	created  = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	started  = created.Add(2 * time.Second)
	finished = created.Add(5*time.Second + 400*time.Millisecond)
)

func TestWriteJobs(t *testing.T) {
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
			jobs: []recorder.JobRecord{{Namespace: "ns", Name: "a\tb\nc", JobID: "u"}},
			want: `
NAMESPACE  NAME   UID  STATUS  MATCH  SUCCEEDED  FAILED  IN-ETCD  CREATED  FINISHED
ns         a b c  u    -       0      0          0       no       -        -
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := writeJobs(&b, tt.jobs); err != nil {
				t.Fatal(err)
			}
			if got, want := b.String(), strings.TrimPrefix(tt.want, "\n"); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestWritePods(t *testing.T) {
	job := recorder.JobRecord{Namespace: "default", Name: "hello", JobID: "uid-1", Status: "Failed", MatchCount: 3,
		Succeeded: 1, Failed: 2}
	tests := []struct {
		name string
		job  recorder.JobRecord
		pods []recorder.PodRecord
		want string
	}{
		{
			name: "succeeded, failed, gone before it finished",
			job:  job,
			pods: []recorder.PodRecord{
				{Name: "helloworld-0", Status: "Succeeded", ReplicaType: "helloworld-ec", Image: "busybox:latest",
					HostIP: "192.168.0.1", IsInEtcd: true, GmtStarted: &started, GmtFinished: &finished,
					Remark: `{"container":"helloworld-ec","reason":"Completed","exitCode":0}`},
				{Name: "helloworld-no-work-0", Status: "Failed", ReplicaType: "helloworld-ec", Image: "busybox:latest",
					HostIP: "192.168.0.2", IsInEtcd: true, GmtStarted: &started, GmtFinished: &finished,
					Remark: `{"container":"helloworld-ec","reason":"Error","exitCode":1}`},
				{Name: "gone", Status: "Unknown", ReplicaType: "helloworld-ec", Image: "busybox:latest", GmtStarted: &started},
			},
			want: `
Job default/hello (UID uid-1): Failed, 1 succeeded, 2 failed of 3; deleted from the API server
POD                   STATUS     EXIT  REASON     CONTAINER      IMAGE           HOST         STARTED               FINISHED              IN-ETCD
helloworld-0          Succeeded  0     Completed  helloworld-ec  busybox:latest  192.168.0.1  2026-05-01 10:00:02Z  2026-05-01 10:00:05Z  yes
helloworld-no-work-0  Failed     1     Error      helloworld-ec  busybox:latest  192.168.0.2  2026-05-01 10:00:02Z  2026-05-01 10:00:05Z  yes
gone                  Unknown    -     -          helloworld-ec  busybox:latest  -            2026-05-01 10:00:02Z  -                     no
`,
		},
		{
			name: "a waiting reason and a remark that is not JSON",
			job:  recorder.JobRecord{Namespace: "ns", Name: "j", JobID: "u", Status: "Running", IsInEtcd: true, MatchCount: 2},
			pods: []recorder.PodRecord{
				{Name: "p0", Status: "Failed", Remark: `{"reason":"CreateContainerConfigError"}`, IsInEtcd: true},
				{Name: "p1", Status: "Pending", Remark: "written by hand", IsInEtcd: true},
			},
			want: `
Job ns/j (UID u): Running, 0 succeeded, 0 failed of 2; in the API server
POD  STATUS   EXIT  REASON                      CONTAINER  IMAGE  HOST  STARTED  FINISHED  IN-ETCD
p0   Failed   -     CreateContainerConfigError  -          -      -     -        -         yes
p1   Pending  -     written by hand             -          -      -     -        -         yes
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
			if err := writePods(&b, tt.job, tt.pods); err != nil {
				t.Fatal(err)
			}
			if got, want := b.String(), strings.TrimPrefix(tt.want, "\n"); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}
