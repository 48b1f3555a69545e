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

package kubelet

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestLogServer checks the stand-in's log endpoint as the API server calls it: the output
// of a known container, cut at limitBytes unless told to ignore it, and 404 for an unknown one.
func TestLogServer(t *testing.T) {
	logs := &Logs{}
	logs.Set("ns", "p", "c", "0123456789")
	srv := StartLogServer(logs)
	defer srv.Close()
	// The stand-in's certificate is self-signed, as a kubelet's serving certificate often is.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d%s", srv.Port(), path))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	for _, tt := range []struct {
		path, want string
		code       int
		ignore     bool
	}{
		{"/containerLogs/ns/p/c", "0123456789", http.StatusOK, false},
		{"/containerLogs/ns/p/c?limitBytes=4", "0123", http.StatusOK, false},
		{"/containerLogs/ns/p/c?limitBytes=4", "0123456789", http.StatusOK, true},
		{"/containerLogs/ns/p/other", "container \"other\" in pod \"p\" is not available\n", http.StatusNotFound, false},
		{"/containerLogs/ns/p/c?limitBytes=0", "limitBytes must be a positive integer\n", http.StatusBadRequest, false},
	} {
		srv.IgnoreLimit(tt.ignore)
		if code, body := get(tt.path); code != tt.code || body != tt.want {
			t.Errorf("GET %s (ignoring the limit: %v) = %d %q, want %d %q", tt.path, tt.ignore, code, body, tt.code, tt.want)
		}
	}
}

// TestPidofPrintsThePid checks what `pidof` prints: the pid of the target's main process
// (1 in its process namespace) where it runs, nothing where it does not.
func TestPidofPrintsThePid(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "helloworld:v1"}}}}
	check := func(name string) *corev1.EphemeralContainer {
		return &corev1.EphemeralContainer{TargetContainerName: "app",
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "ec", Command: []string{"pidof", name}}}
	}
	if got := Pidof(pod, check("helloworld")); got.ExitCode != 0 || got.Output != "1\n" {
		t.Errorf("pidof helloworld = %+v, want exit code 0 and output 1", got)
	}
	if got := Pidof(pod, check("nginx")); got.ExitCode != 1 || got.Output != "" {
		t.Errorf("pidof nginx = %+v, want exit code 1 and no output", got)
	}
}

// TestTerminationMessageFallsBackToLogs checks the kubelet's FallbackToLogsOnError: the tail
// of the output becomes the message of a container that failed without writing one.
func TestTerminationMessageFallsBackToLogs(t *testing.T) {
	fallback := &corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError}}
	file := &corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		TerminationMessagePolicy: corev1.TerminationMessageReadFile}}
	for _, tt := range []struct {
		name string
		c    *corev1.EphemeralContainer
		out  Outcome
		want string
	}{
		{"failed, fallback", fallback, Outcome{ExitCode: 2, Output: "a\nb\n"}, "a\nb\n"},
		{"failed, its own message", fallback, Outcome{ExitCode: 2, Output: "a\n", Message: "m"}, "m"},
		{"succeeded, fallback", fallback, Outcome{Output: "a\n"}, ""},
		{"failed, file", file, Outcome{ExitCode: 2, Output: "a\n"}, ""},
	} {
		if got := terminationMessage(tt.c, tt.out); got != tt.want {
			t.Errorf("%s: message %q, want %q", tt.name, got, tt.want)
		}
	}
}
