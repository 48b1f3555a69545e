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

import "testing"

func TestNormalizeRef(t *testing.T) {
	tests := []struct {
		ref, want string
	}{
		{"controller:latest", "docker.io/library/controller:latest"},
		{"controller", "docker.io/library/controller:latest"},
		{"ephemeraljob/operator:v1", "docker.io/ephemeraljob/operator:v1"},
		{"docker.io/busybox:1", "docker.io/library/busybox:1"},
		{"docker.io/library/busybox:latest", "docker.io/library/busybox:latest"},
		{"registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"},
		{"localhost/operator", "localhost/operator:latest"},
		{"localhost:5000/operator", "localhost:5000/operator:latest"},
		{"reg.example.com:5000/team/operator:v2", "reg.example.com:5000/team/operator:v2"},
		{"reg.example.com/operator@sha256:0123", "reg.example.com/operator@sha256:0123"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := normalizeRef(tt.ref)
			if err != nil {
				t.Fatalf("normalizeRef(%q): %v", tt.ref, err)
			}
			if got != tt.want {
				t.Errorf("normalizeRef(%q) = %q, want %q", tt.ref, got, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "controller:", "a b", "controller/"} {
		if got, err := normalizeRef(bad); err == nil {
			t.Errorf("normalizeRef(%q) = %q, want an error", bad, got)
		}
	}
}
