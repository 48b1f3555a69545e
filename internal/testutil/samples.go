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

package testutil

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// Story1Job is the name of the job in config/samples/story1_ephemeraljob.yaml.
const Story1Job = "hello-world-ephemeral-job"

// SampleJob reads the EphemeralJob of a manifest in config/samples, strictly, and puts
// it into the namespace.
func SampleJob(file, namespace string) (*appsv1alpha1.EphemeralJob, error) {
	raw, err := Sample(file)
	if err != nil {
		return nil, err
	}
	job := &appsv1alpha1.EphemeralJob{}
	if err := yaml.UnmarshalStrict(raw, job); err != nil {
		return nil, fmt.Errorf("reading sample %s: %w", file, err)
	}
	job.Namespace = namespace
	return job, nil
}

// Story1Pods returns the pods of the proposal's Story 1: four pods labelled
// app=helloworld with a container named helloworld; helloworld-no-work-0 and -1 have
// APP_STATE=false, where `pidof helloworld` fails.
func Story1Pods(namespace string) []*corev1.Pod {
	var pods []*corev1.Pod
	for i := range 2 {
		pods = append(pods,
			MakePod(fmt.Sprintf("helloworld-%d", i), namespace).Containers("helloworld").Label("app", "helloworld").Obj(),
			MakePod(fmt.Sprintf("helloworld-no-work-%d", i), namespace).Containers("helloworld").
				Label("app", "helloworld").Env("APP_STATE", "false").Obj())
	}
	return pods
}
