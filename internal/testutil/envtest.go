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

// Package testutil holds helpers shared by the project's tests: the envtest
// environment, and builders for jobs and pods.
package testutil

import (
	"os"
	"path/filepath"
	"runtime"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// K8sVersion is the version of the envtest control plane that hack/envtest-bins.sh provides.
const K8sVersion = "1.37.2"

// RepoRoot returns the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// AssetsDir returns where kube-apiserver, etcd and kubectl are: KUBEBUILDER_ASSETS when
// set, else bin/k8s/<version>, where `make envtest-bins` puts them.
func AssetsDir() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	return filepath.Join(RepoRoot(), "bin", "k8s", K8sVersion)
}

// NewEnvironment returns an envtest environment that installs the project's CRDs.
func NewEnvironment() *envtest.Environment {
	return &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: AssetsDir(),
	}
}

// Sample returns the text of a manifest in config/samples.
func Sample(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(RepoRoot(), "config", "samples", name))
}
