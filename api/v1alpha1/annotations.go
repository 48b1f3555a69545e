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

// Annotations of an EphemeralJob that its MySQL history records.
const (
	// AnnotationOwner names the user who owns the job; the history records it as the
	// job's owner. The webhook admits it on create only when it names the user creating
	// the job, and never lets it change afterwards.
	AnnotationOwner = "ephemeraljob.kruise.io/owner"
	// AnnotationTenant names the tenant the job belongs to, as its creator declares it;
	// the history records it as the job's tenant. The webhook never lets it change after
	// creation.
	AnnotationTenant = "ephemeraljob.kruise.io/tenant"
)

// AnnotationPodSecurityExempt, set to "true" on a Namespace, tells the webhook that the API
// server exempts that namespace from Pod Security admission (a namespace listed in the
// exemptions of its AdmissionConfiguration, which the webhook cannot see), so that it does
// not refuse or warn about jobs there on account of the namespace's Pod Security labels.
// Whoever may set it may change those labels too.
const AnnotationPodSecurityExempt = "ephemeraljob.kruise.io/pod-security-exempt"
