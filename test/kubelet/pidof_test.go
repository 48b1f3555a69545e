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

// The program names of the proposal's Story 1.
const (
	app      = "helloworld"
	appImage = "reg.docker.alibaba-inc.com/zhoushua/helloworld:v1.1"
	sleep    = "sleep"
)

func TestMainProcess(t *testing.T) {
	tests := []struct {
		name string
		c    corev1.Container
		want string
	}{
		{"image with registry and tag",
			corev1.Container{Image: appImage}, app},
		{"registry with a port", corev1.Container{Image: "localhost:5000/helloworld"}, app},
		{"image by digest", corev1.Container{Image: "helloworld@sha256:0123"}, app},
		{"bare image", corev1.Container{Image: "nginx"}, "nginx"},
		{"command wins over image", corev1.Container{Image: app, Command: []string{sleep, "99999"}}, sleep},
		{"command with a path",
			corev1.Container{Image: app, Command: []string{"/usr/local/bin/helloworld"}}, app},
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
		{Name: app, Image: appImage},
	}}}
	noWork := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Name: app, Image: appImage,
			Command: []string{sleep, "99999"}},
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
		{"helloworld runs", helloworld, ec(app, "pidof", app), 0},
		{"sleep runs instead", noWork, ec(app, "pidof", app), 1},
		{"one of several names", noWork, ec(app, "pidof", app, sleep), 0},
		{"names as args", helloworld, &corev1.EphemeralContainer{TargetContainerName: app,
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Command: []string{"/bin/pidof"},
				Args: []string{app}}}, 0},
		{"other target container", helloworld, ec("sidecar", "pidof", app), 1},
		{"no target container", helloworld, ec("", "pidof", app), 1},
		{"another command", noWork, ec(app, "ls"), 0},
		{"no command", noWork, ec(app), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Pidof(tt.pod, tt.c); got.ExitCode != tt.want || got.Hold || got.WaitingReason != "" {
				t.Errorf("Pidof() = %+v, want exit code %d", got, tt.want)
			}
		})
	}
}
