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

// Package v1alpha1 holds the validating admission webhook of EphemeralJob.
package v1alpha1

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// +kubebuilder:webhook:path=/validate-apps-kruise-io-v1alpha1-ephemeraljob,mutating=false,failurePolicy=fail,sideEffects=None,timeoutSeconds=5,groups=apps.kruise.io,resources=ephemeraljobs,verbs=create;update,versions=v1alpha1,name=vephemeraljob-v1alpha1.kb.io,admissionReviewVersions=v1

// SetupEphemeralJobWebhookWithManager registers the validating webhook with the manager.
func SetupEphemeralJobWebhookWithManager(mgr ctrl.Manager) error {
	return ctrl.NewWebhookManagedBy(mgr, &appsv1alpha1.EphemeralJob{}).
		WithValidator(&EphemeralJobValidator{}).
		Complete()
}

// EphemeralJobValidator validates EphemeralJobs on create and update.
type EphemeralJobValidator struct{}

var _ admission.Validator[*appsv1alpha1.EphemeralJob] = &EphemeralJobValidator{}

// ValidateCreate validates a new job.
func (v *EphemeralJobValidator) ValidateCreate(_ context.Context, _ *appsv1alpha1.EphemeralJob) (admission.Warnings, error) {
	return nil, nil
}

// ValidateUpdate validates a change to a job.
func (v *EphemeralJobValidator) ValidateUpdate(_ context.Context, _, _ *appsv1alpha1.EphemeralJob) (admission.Warnings, error) {
	return nil, nil
}

// ValidateDelete allows every deletion.
func (v *EphemeralJobValidator) ValidateDelete(_ context.Context, _ *appsv1alpha1.EphemeralJob) (admission.Warnings, error) {
	return nil, nil
}
