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

package kubectlejob

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	psaapi "k8s.io/pod-security-admission/api"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/profile"
)

func profileNames() []string { return profile.Names() }

func applyProfile(name string, c *corev1.EphemeralContainer) error {
	if err := profile.Apply(name, c); err != nil {
		return fmt.Errorf("--profile: %w", err)
	}
	return nil
}

// profileForLevel returns the profile that passes a Pod Security level.
func profileForLevel(level string) string { return profile.ForLevel(psaapi.Level(level)) }

// enforceLevel reads the Pod Security level the namespace enforces, as the API server
// would: privileged when the label is unset.
func enforceLevel(ctx context.Context, clientset kubernetes.Interface, namespace string) (string, error) {
	ns, err := clientset.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsForbidden(err):
		return "", fmt.Errorf("--profile=auto reads the labels of namespace %s, which you may not get: "+
			"pass a profile by name (%v)", namespace, profileNames())
	case err != nil:
		return "", fmt.Errorf("reading namespace %s for --profile=auto: %w", namespace, err)
	}
	level, err := psaapi.ParseLevel(ns.Labels[psaapi.EnforceLevelLabel])
	if err != nil {
		if ns.Labels[psaapi.EnforceLevelLabel] == "" {
			return string(psaapi.LevelPrivileged), nil
		}
		// The API server enforces restricted for a level it cannot parse.
		return string(psaapi.LevelRestricted), nil
	}
	return string(level), nil
}
