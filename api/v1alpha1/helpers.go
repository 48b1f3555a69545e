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

package v1alpha1

import "time"

// DefaultParallelism is used when spec.parallelism is unset.
const DefaultParallelism int32 = 1

// MaxParallelism is the largest allowed spec.parallelism.
const MaxParallelism int32 = 10

// GetParallelism returns spec.parallelism, or its default when unset.
func (s *EphemeralJobSpec) GetParallelism() int32 {
	if s.Parallelism == nil {
		return DefaultParallelism
	}
	return *s.Parallelism
}

// ReplicasLimit returns spec.replicas and true, or 0 and false when every matching pod is targeted.
func (s *EphemeralJobSpec) ReplicasLimit() (int32, bool) {
	if s.Replicas == nil {
		return 0, false
	}
	return *s.Replicas, true
}

// StartDeadline returns spec.startDeadlineSeconds, or its default when unset.
func (s *EphemeralJobSpec) StartDeadline() time.Duration {
	if s.StartDeadlineSeconds == nil {
		return time.Duration(DefaultStartDeadlineSeconds) * time.Second
	}
	return time.Duration(*s.StartDeadlineSeconds) * time.Second
}

// DefaultMaxEphemeralContainersPerPod is used when spec.maxEphemeralContainersPerPod is unset.
const DefaultMaxEphemeralContainersPerPod int32 = 50

// MaxPodBytes is the largest a target pod's object may grow to with the job's containers:
// two thirds of etcd's default request limit (1.5 MiB), leaving room for the pod's later
// status and metadata writes, which etcd would otherwise refuse for good.
const MaxPodBytes = 1 << 20

// GetMaxEphemeralContainersPerPod returns spec.maxEphemeralContainersPerPod, or its default when unset.
func (s *EphemeralJobSpec) GetMaxEphemeralContainersPerPod() int32 {
	if s.MaxEphemeralContainersPerPod == nil {
		return DefaultMaxEphemeralContainersPerPod
	}
	return *s.MaxEphemeralContainersPerPod
}
