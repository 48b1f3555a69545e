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
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestMainProcess(t *testing.T) {
	tests := []struct {
		name string
		c    corev1.Container
		want string
	}{
		{"image with registry and tag", corev1.Container{Image: "reg.docker.alibaba-inc.com/zhoushua/helloworld:v1.1"}, "helloworld"},
		{"registry with a port", corev1.Container{Image: "localhost:5000/helloworld"}, "helloworld"},
		{"image by digest", corev1.Container{Image: "helloworld@sha256:0123"}, "helloworld"},
		{"bare image", corev1.Container{Image: "nginx"}, "nginx"},
		{"command wins over image", corev1.Container{Image: "helloworld", Command: []string{"sleep", "99999"}}, "sleep"},
		{"command with a path", corev1.Container{Image: "helloworld", Command: []string{"/usr/local/bin/helloworld"}}, "helloworld"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MainProcess(&tt.c); got != tt.want {
				t.Errorf("MainProcess() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPidof(t *testing.T) {
	// The two pod templates of the proposal's Story 1.
	helloworld := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Name: "sidecar", Image: "busybox"},
		{Name: "helloworld", Image: "reg.docker.alibaba-inc.com/zhoushua/helloworld:v1.1"},
	}}}
	noWork := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Name: "helloworld", Image: "reg.docker.alibaba-inc.com/zhoushua/helloworld:v1.1",
			Command: []string{"sleep", "99999"}},
	}}}
	ec := func(target string, command ...string) *corev1.EphemeralContainer {
		return &corev1.EphemeralContainer{TargetContainerName: target,
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "ec", Command: command}}
	}
	tests := []struct {
		name string
		pod  *corev1.Pod
		c    *corev1.EphemeralContainer
		want int32
	}{
		{"helloworld runs", helloworld, ec("helloworld", "pidof", "helloworld"), 0},
		{"sleep runs instead", noWork, ec("helloworld", "pidof", "helloworld"), 1},
		{"one of several names", noWork, ec("helloworld", "pidof", "helloworld", "sleep"), 0},
		{"names as args", helloworld, &corev1.EphemeralContainer{TargetContainerName: "helloworld",
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Command: []string{"/bin/pidof"},
				Args: []string{"helloworld"}}}, 0},
		{"other target container", helloworld, ec("sidecar", "pidof", "helloworld"), 1},
		{"no target container", helloworld, ec("", "pidof", "helloworld"), 1},
		{"another command", noWork, ec("helloworld", "ls"), 0},
		{"no command", noWork, ec("helloworld"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Pidof(tt.pod, tt.c); got.ExitCode != tt.want || got.Hold || got.WaitingReason != "" {
				t.Errorf("Pidof() = %+v, want exit code %d", got, tt.want)
			}
		})
	}
}
