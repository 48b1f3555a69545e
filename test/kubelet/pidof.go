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
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Pidof decides by the container's command, as the proposal's Story 1 checks its pods:
// `pidof NAME...` exits 0 and prints "1" when the main process of the target container is
// one of the names (it is PID 1 of the target's process namespace, which the container
// shares), and exits 1 printing nothing otherwise (also without a target container, whose
// processes the container would not see). Any other command exits 0.
//
// The main process is the base name of the target container's command, or, when the
// command is unset, the image's name (its entrypoint is taken to be the program it is
// named after): a container of image registry.example/helloworld:v1.1 runs helloworld,
// one with command ["sleep", "99999"] runs sleep.
func Pidof(pod *corev1.Pod, c *corev1.EphemeralContainer) Outcome {
	if len(c.Command) == 0 || path.Base(c.Command[0]) != "pidof" {
		return Outcome{}
	}
	names := c.Command[1:]
	if len(names) == 0 {
		names = c.Args
	}
	for i := range pod.Spec.Containers {
		target := &pod.Spec.Containers[i]
		if target.Name == c.TargetContainerName && slices.Contains(names, MainProcess(target)) {
			return Outcome{Output: "1\n"}
		}
	}
	return Outcome{ExitCode: 1}
}

// MainProcess returns the name of a container's main process: the base name of its
// command, or the image's name when the command is unset.
func MainProcess(c *corev1.Container) string {
	if len(c.Command) > 0 {
		return path.Base(c.Command[0])
	}
	name := c.Image
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	name = path.Base(name)
	if i := strings.IndexByte(name, ':'); i >= 0 {
		name = name[:i]
	}
	return name
}
