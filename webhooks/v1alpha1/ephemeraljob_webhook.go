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
	"errors"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// +kubebuilder:webhook:path=/validate-apps-kruise-io-v1alpha1-ephemeraljob,mutating=false,failurePolicy=fail,sideEffects=None,timeoutSeconds=5,groups=apps.kruise.io,resources=ephemeraljobs,verbs=create;update,versions=v1alpha1,name=vephemeraljob-v1alpha1.kb.io,admissionReviewVersions=v1
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// ephemeralJobGroupKind is the group and kind named in validation errors.
var ephemeralJobGroupKind = schema.GroupKind{Group: appsv1alpha1.GroupVersion.Group, Kind: "EphemeralJob"}

// ephemeralJobGroupResource is the group and resource named in authorization errors.
var ephemeralJobGroupResource = schema.GroupResource{Group: appsv1alpha1.GroupVersion.Group, Resource: "ephemeraljobs"}

// SubjectAccessReviewCreator creates a SubjectAccessReview and fills in its status with the
// API server's answer. A controller-runtime client is one.
type SubjectAccessReviewCreator interface {
	Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error
}

// SetupEphemeralJobWebhookWithManager registers the validating webhook with the manager.
// The validator asks the API server, through the manager's client, whether the user
// creating a job may add ephemeral containers to pods herself, and reads the job's namespace
// straight from the API server: one read per create, where a cache would watch every
// namespace of the cluster.
func SetupEphemeralJobWebhookWithManager(mgr ctrl.Manager) error {
	return ctrl.NewWebhookManagedBy(mgr, &appsv1alpha1.EphemeralJob{}).
		WithValidator(&EphemeralJobValidator{
			SubjectAccessReviews: mgr.GetClient(),
			Namespaces:           mgr.GetAPIReader(),
		}).
		Complete()
}

// EphemeralJobValidator validates EphemeralJobs on create and update.
//
// The controller adds the job's containers to pods with its own, cluster-wide permission.
// So that a job does not lend that permission to its author, a create, and an update that
// lets the job reach more pods (a raised or removed replicas limit, or resuming a paused
// job), is allowed only when the requesting user may update pods/ephemeralcontainers in
// the job's namespace.
//
// The same create and updates are refused when the template breaks the Pod Security level
// that the job's namespace enforces on every pod, and warned about when it breaks it on some
// pods, or breaks the namespace's warn or audit level (see ephemeraljob_podsecurity.go).
type EphemeralJobValidator struct {
	// SubjectAccessReviews asks the API server about the requesting user's permissions.
	// When it is nil, every create is refused.
	SubjectAccessReviews SubjectAccessReviewCreator
	// Namespaces reads the job's namespace, whose labels name its Pod Security levels. When it
	// is nil, the template is not checked against them: the check only forecasts what the API
	// server enforces on each injection anyway.
	Namespaces client.Reader
}

var _ admission.Validator[*appsv1alpha1.EphemeralJob] = &EphemeralJobValidator{}

// ValidateCreate validates a new job, then checks that its creator may add ephemeral containers to pods.
func (v *EphemeralJobValidator) ValidateCreate(
	ctx context.Context, ej *appsv1alpha1.EphemeralJob,
) (admission.Warnings, error) {
	user, err := requester(ctx, "creating an EphemeralJob")
	if err != nil {
		return nil, err
	}
	podSecurityErrs, warnings, err := v.checkPodSecurity(ctx, ej)
	if err != nil {
		return nil, err
	}
	errs := append(validate(nil, ej), validateHistoryAnnotations(nil, ej, user)...)
	if err := invalid(ej, append(errs, podSecurityErrs...)); err != nil {
		return warnings, err
	}
	return warnings, v.authorize(ctx, ej, "creating an EphemeralJob")
}

// ValidateUpdate validates a change to a job and, when the change lets the job reach more
// pods, checks its template against the namespace's Pod Security levels, which may have
// changed since the job was created, and that its author may add ephemeral containers to pods.
func (v *EphemeralJobValidator) ValidateUpdate(
	ctx context.Context, oldJob, newJob *appsv1alpha1.EphemeralJob,
) (admission.Warnings, error) {
	errs := append(validate(oldJob, newJob), validateHistoryAnnotations(oldJob, newJob, "")...)
	if err := invalid(newJob, errs); err != nil {
		return nil, err
	}
	action := widening(oldJob, newJob)
	if action == "" {
		return nil, nil
	}
	podSecurityErrs, warnings, err := v.checkPodSecurity(ctx, newJob)
	if err != nil {
		return nil, err
	}
	if err := invalid(newJob, podSecurityErrs); err != nil {
		return warnings, err
	}
	return warnings, v.authorize(ctx, newJob, action)
}

// checkPodSecurity reads the job's namespace and returns the errors and warnings of its
// template under the namespace's Pod Security levels. A namespace that cannot be read refuses
// the request, as the API server's Pod Security admission refuses a pod then.
func (v *EphemeralJobValidator) checkPodSecurity(
	ctx context.Context, ej *appsv1alpha1.EphemeralJob,
) (field.ErrorList, admission.Warnings, error) {
	if v.Namespaces == nil {
		return nil, nil, nil
	}
	req, err := admission.RequestFromContext(ctx)
	if err != nil {
		return nil, nil, apierrors.NewInternalError(fmt.Errorf("finding the job's namespace: %w", err))
	}
	name := jobNamespace(req, ej)
	ns := &corev1.Namespace{}
	if err := v.Namespaces.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
		return nil, nil, apierrors.NewInternalError(fmt.Errorf(
			"reading namespace %q for its Pod Security labels: %w", name, err))
	}
	errs, warnings := validatePodSecurity(ns, &ej.Spec.Template, field.NewPath("spec", "template"))
	return errs, warnings, nil
}

// jobNamespace returns the job's namespace, or the request's when the job does not name one.
func jobNamespace(req admission.Request, ej *appsv1alpha1.EphemeralJob) string {
	if ej.Namespace != "" {
		return ej.Namespace
	}
	return req.Namespace
}

// widening describes how an update lets the job inject into more pods, or returns "" when it
// does not. Changing parallelism only changes the pace, and pausing only stops injections.
func widening(oldJob, newJob *appsv1alpha1.EphemeralJob) string {
	switch oldR, newR := oldJob.Spec.Replicas, newJob.Spec.Replicas; {
	case oldR != nil && newR == nil:
		return "removing an EphemeralJob's replicas limit"
	case oldR != nil && *newR > *oldR:
		return "raising an EphemeralJob's replicas"
	}
	if oldJob.Spec.Paused && !newJob.Spec.Paused {
		return "resuming a paused EphemeralJob"
	}
	return ""
}

// ValidateDelete allows every deletion.
func (v *EphemeralJobValidator) ValidateDelete(
	_ context.Context, _ *appsv1alpha1.EphemeralJob,
) (admission.Warnings, error) {
	return nil, nil
}

// requester returns the name of the user whose request is being admitted.
func requester(ctx context.Context, action string) (string, error) {
	req, err := admission.RequestFromContext(ctx)
	if err != nil {
		return "", apierrors.NewInternalError(fmt.Errorf("finding the user %s: %w", action, err))
	}
	return req.UserInfo.Username, nil
}

// validateHistoryAnnotations keeps the annotations that the MySQL history records as a
// job's owner and tenant trustworthy. On create (oldJob nil), the owner annotation, when
// set, must name the user creating the job; the tenant is the creator's to declare.
// After creation neither may be added, changed or removed, by anyone: the history of a
// job cannot be rewritten by whoever may update it.
func validateHistoryAnnotations(oldJob, newJob *appsv1alpha1.EphemeralJob, user string) field.ErrorList {
	path := field.NewPath("metadata", "annotations")
	var errs field.ErrorList
	if oldJob == nil {
		if owner, ok := newJob.Annotations[appsv1alpha1.AnnotationOwner]; ok && owner != user {
			errs = append(errs, field.Invalid(path.Key(appsv1alpha1.AnnotationOwner), owner,
				fmt.Sprintf("must be the user creating the job (%q), or unset", user)))
		}
		return errs
	}
	for _, key := range []string{appsv1alpha1.AnnotationOwner, appsv1alpha1.AnnotationTenant} {
		oldValue, hadIt := oldJob.Annotations[key]
		newValue, hasIt := newJob.Annotations[key]
		if hadIt != hasIt || oldValue != newValue {
			errs = append(errs, field.Forbidden(path.Key(key), "may not be changed after creation"))
		}
	}
	return errs
}

// invalid returns the Invalid status error holding errs, or nil when errs is empty.
func invalid(ej *appsv1alpha1.EphemeralJob, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(ephemeralJobGroupKind, ej.Name, errs)
}

// authorize allows action only when the requesting user may update pods/ephemeralcontainers
// in the job's namespace. Anything that prevents the check from being answered refuses it.
func (v *EphemeralJobValidator) authorize(ctx context.Context, ej *appsv1alpha1.EphemeralJob, action string) error {
	req, err := admission.RequestFromContext(ctx)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("finding the user %s: %w", action, err))
	}
	namespace := jobNamespace(req, ej)
	user := req.UserInfo.Username

	sar := subjectAccessReview(req, namespace)
	if err := v.createSubjectAccessReview(ctx, sar); err != nil {
		return apierrors.NewInternalError(fmt.Errorf(
			"checking whether user %q may update pods/ephemeralcontainers in namespace %q: %w", user, namespace, err))
	}
	if !sar.Status.Allowed {
		return apierrors.NewForbidden(ephemeralJobGroupResource, ej.Name, fmt.Errorf(
			"user %q may not update pods/ephemeralcontainers in namespace %q: %s needs that permission",
			user, namespace, action))
	}
	return nil
}

// createSubjectAccessReview sends sar to the API server, which fills in its status.
func (v *EphemeralJobValidator) createSubjectAccessReview(
	ctx context.Context, sar *authorizationv1.SubjectAccessReview,
) error {
	if v.SubjectAccessReviews == nil {
		return errors.New("no SubjectAccessReview client is configured")
	}
	return v.SubjectAccessReviews.Create(ctx, sar)
}

// subjectAccessReview asks whether the user of req may update pods/ephemeralcontainers in namespace.
func subjectAccessReview(req admission.Request, namespace string) *authorizationv1.SubjectAccessReview {
	var extra map[string]authorizationv1.ExtraValue
	if len(req.UserInfo.Extra) > 0 {
		extra = make(map[string]authorizationv1.ExtraValue, len(req.UserInfo.Extra))
		for k, v := range req.UserInfo.Extra {
			extra[k] = authorizationv1.ExtraValue(append([]string(nil), v...))
		}
	}
	return &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace:   namespace,
				Verb:        "update",
				Group:       "",
				Resource:    "pods",
				Subresource: "ephemeralcontainers",
			},
			User:   req.UserInfo.Username,
			Groups: append([]string(nil), req.UserInfo.Groups...),
			UID:    req.UserInfo.UID,
			Extra:  extra,
		},
	}
}
