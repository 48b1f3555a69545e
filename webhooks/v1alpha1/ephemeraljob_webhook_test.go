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

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/profile"
)

// fakeSubjectAccessReviews answers every SubjectAccessReview with allowed, or fails with err,
// and keeps the reviews it was sent.
type fakeSubjectAccessReviews struct {
	allowed bool
	err     error
	got     []*authorizationv1.SubjectAccessReview
}

func (f *fakeSubjectAccessReviews) Create(_ context.Context, obj client.Object, _ ...client.CreateOption) error {
	sar, ok := obj.(*authorizationv1.SubjectAccessReview)
	if !ok {
		return errors.New("not a SubjectAccessReview")
	}
	f.got = append(f.got, sar.DeepCopy())
	if f.err != nil {
		return f.err
	}
	sar.Status.Allowed = f.allowed
	return nil
}

// createContext returns a context holding a create request from alice for a job in namespace ns.
func createContext(t *testing.T, ns string) context.Context {
	t.Helper()
	return admission.NewContextWithRequest(t.Context(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: admissionv1.Create,
		Namespace: ns,
		UserInfo: authenticationv1.UserInfo{
			Username: "alice",
			UID:      "uid-alice",
			Groups:   []string{"dev", "system:authenticated"},
			Extra:    map[string]authenticationv1.ExtraValue{"scopes.example.com": {"a", "b"}},
		},
	}})
}

func TestValidateCreateAuthorization(t *testing.T) {
	tests := []struct {
		name        string
		reviews     *fakeSubjectAccessReviews
		wantErr     func(error) bool
		wantMessage string
	}{
		{
			name:    "allowed",
			reviews: &fakeSubjectAccessReviews{allowed: true},
		},
		{
			name:    "denied",
			reviews: &fakeSubjectAccessReviews{allowed: false},
			wantErr: apierrors.IsForbidden,
			wantMessage: `user "alice" may not update pods/ephemeralcontainers in namespace "ns": ` +
				`creating an EphemeralJob needs that permission`,
		},
		{
			name:    "review fails",
			reviews: &fakeSubjectAccessReviews{err: errors.New("connection refused")},
			wantErr: apierrors.IsInternalError,
			wantMessage: `checking whether user "alice" may update pods/ephemeralcontainers in namespace "ns": ` +
				`connection refused`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &EphemeralJobValidator{SubjectAccessReviews: tt.reviews}

			_, err := v.ValidateCreate(createContext(t, "ns"), validJob())

			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ValidateCreate() = %v, want nil", err)
				}
			} else {
				if err == nil || !tt.wantErr(err) {
					t.Fatalf("ValidateCreate() = %v (reason %q), want a %s error", err, apierrors.ReasonForError(err), tt.name)
				}
				if !strings.Contains(err.Error(), tt.wantMessage) {
					t.Errorf("ValidateCreate() = %q, want it to contain %q", err.Error(), tt.wantMessage)
				}
			}
			if len(tt.reviews.got) != 1 {
				t.Fatalf("sent %d SubjectAccessReviews, want 1", len(tt.reviews.got))
			}
		})
	}
}

func TestValidateCreateAsksAboutTheRequestingUser(t *testing.T) {
	reviews := &fakeSubjectAccessReviews{allowed: true}
	v := &EphemeralJobValidator{SubjectAccessReviews: reviews}
	ej := validJob()
	ej.Namespace = "team-a"

	if _, err := v.ValidateCreate(createContext(t, "team-a"), ej); err != nil {
		t.Fatalf("ValidateCreate() = %v, want nil", err)
	}

	want := []*authorizationv1.SubjectAccessReview{{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace:   "team-a",
				Verb:        "update",
				Group:       "",
				Resource:    "pods",
				Subresource: "ephemeralcontainers",
			},
			User:   "alice",
			Groups: []string{"dev", "system:authenticated"},
			UID:    "uid-alice",
			Extra:  map[string]authorizationv1.ExtraValue{"scopes.example.com": {"a", "b"}},
		},
	}}
	if diff := cmp.Diff(want, reviews.got); diff != "" {
		t.Errorf("SubjectAccessReview mismatch (-want +got):\n%s", diff)
	}
}

func TestValidateCreateUsesTheRequestNamespaceWhenTheJobHasNone(t *testing.T) {
	reviews := &fakeSubjectAccessReviews{allowed: true}
	v := &EphemeralJobValidator{SubjectAccessReviews: reviews}
	ej := validJob()
	ej.Namespace = ""

	if _, err := v.ValidateCreate(createContext(t, "team-b"), ej); err != nil {
		t.Fatalf("ValidateCreate() = %v, want nil", err)
	}
	if len(reviews.got) != 1 || reviews.got[0].Spec.ResourceAttributes.Namespace != "team-b" {
		t.Errorf("SubjectAccessReviews = %+v, want one for namespace team-b", reviews.got)
	}
}

func TestValidateCreateFailsClosed(t *testing.T) {
	t.Run("no admission request in the context", func(t *testing.T) {
		reviews := &fakeSubjectAccessReviews{allowed: true}
		v := &EphemeralJobValidator{SubjectAccessReviews: reviews}

		_, err := v.ValidateCreate(t.Context(), validJob())

		if !apierrors.IsInternalError(err) {
			t.Errorf("ValidateCreate() = %v, want an internal error", err)
		}
		if len(reviews.got) != 0 {
			t.Errorf("sent %d SubjectAccessReviews, want none", len(reviews.got))
		}
	})
	t.Run("no SubjectAccessReview client", func(t *testing.T) {
		v := &EphemeralJobValidator{}

		_, err := v.ValidateCreate(createContext(t, "ns"), validJob())

		if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "no SubjectAccessReview client is configured") {
			t.Errorf("ValidateCreate() = %v, want an internal error naming the missing client", err)
		}
	})
}

func TestValidateCreateRefusesAnInvalidJobBeforeAskingTheAPIServer(t *testing.T) {
	reviews := &fakeSubjectAccessReviews{allowed: true}
	v := &EphemeralJobValidator{SubjectAccessReviews: reviews}
	ej := validJob()
	ej.Spec.Parallelism = ptr.To[int32](0)

	_, err := v.ValidateCreate(createContext(t, "ns"), ej)

	if !apierrors.IsInvalid(err) {
		t.Errorf("ValidateCreate() = %v, want an Invalid status error", err)
	}
	if len(reviews.got) != 0 {
		t.Errorf("sent %d SubjectAccessReviews, want none", len(reviews.got))
	}
}

func TestValidateUpdateAsksOnlyWhenTheJobReachesMorePods(t *testing.T) {
	tests := []struct {
		name    string
		change  func(old, new *appsv1alpha1.EphemeralJob)
		wantAsk string // the action named in the refusal; "" when no review is sent
	}{
		{name: "raising replicas",
			change:  func(_, j *appsv1alpha1.EphemeralJob) { j.Spec.Replicas = ptr.To[int32](8) },
			wantAsk: "raising an EphemeralJob's replicas"},
		{name: "removing the replicas limit",
			change:  func(_, j *appsv1alpha1.EphemeralJob) { j.Spec.Replicas = nil },
			wantAsk: "removing an EphemeralJob's replicas limit"},
		{name: "resuming a paused job",
			change:  func(o, _ *appsv1alpha1.EphemeralJob) { o.Spec.Paused = true },
			wantAsk: "resuming a paused EphemeralJob"},
		{name: "lowering replicas",
			change: func(_, j *appsv1alpha1.EphemeralJob) { j.Spec.Replicas = ptr.To[int32](1) }},
		{name: "setting a limit where there was none",
			change: func(o, _ *appsv1alpha1.EphemeralJob) { o.Spec.Replicas = nil }},
		{name: "changing parallelism",
			change: func(_, j *appsv1alpha1.EphemeralJob) { j.Spec.Parallelism = ptr.To[int32](10) }},
		{name: "pausing",
			change: func(_, j *appsv1alpha1.EphemeralJob) { j.Spec.Paused = true }},
		{name: "changing labels only",
			change: func(_, j *appsv1alpha1.EphemeralJob) { j.Labels = map[string]string{"team": "a"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldJob, newJob := validJob(), validJob()
			tt.change(oldJob, newJob)

			t.Run("allowed user", func(t *testing.T) {
				reviews := &fakeSubjectAccessReviews{allowed: true}
				v := &EphemeralJobValidator{SubjectAccessReviews: reviews}
				if _, err := v.ValidateUpdate(createContext(t, "ns"), oldJob, newJob); err != nil {
					t.Fatalf("ValidateUpdate() = %v, want nil", err)
				}
				if want := btoi(tt.wantAsk != ""); len(reviews.got) != want {
					t.Errorf("sent %d SubjectAccessReviews, want %d", len(reviews.got), want)
				}
			})
			t.Run("user without the permission", func(t *testing.T) {
				v := &EphemeralJobValidator{SubjectAccessReviews: &fakeSubjectAccessReviews{allowed: false}}
				_, err := v.ValidateUpdate(createContext(t, "ns"), oldJob, newJob)
				if tt.wantAsk == "" {
					if err != nil {
						t.Errorf("ValidateUpdate() = %v, want nil", err)
					}
					return
				}
				if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tt.wantAsk+" needs that permission") {
					t.Errorf("ValidateUpdate() = %v, want Forbidden saying %q needs the permission", err, tt.wantAsk)
				}
			})
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestValidateDeleteDoesNotAsk(t *testing.T) {
	reviews := &fakeSubjectAccessReviews{allowed: false}
	v := &EphemeralJobValidator{SubjectAccessReviews: reviews}

	if _, err := v.ValidateDelete(createContext(t, "ns"), validJob()); err != nil {
		t.Errorf("ValidateDelete() = %v, want nil", err)
	}
	if len(reviews.got) != 0 {
		t.Errorf("sent %d SubjectAccessReviews, want none", len(reviews.got))
	}
}

// causesOf returns the "type field" of each cause of an Invalid error.
func causesOf(t *testing.T, err error) []string {
	t.Helper()
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		t.Fatalf("%v is not an API status error with details", err)
	}
	got := make([]string, 0, len(status.Status().Details.Causes))
	for _, c := range status.Status().Details.Causes {
		got = append(got, string(c.Type)+" "+c.Field)
	}
	return got
}

func TestValidateCreateRefusesAnOwnerOtherThanTheCreator(t *testing.T) {
	const ownerField = "metadata.annotations[ephemeraljob.kruise.io/owner]"
	tests := []struct {
		name        string
		annotations map[string]string
		wantCauses  []string
	}{
		{name: "no owner"},
		{name: "the creator", annotations: map[string]string{appsv1alpha1.AnnotationOwner: "alice"}},
		{name: "a tenant of the creator's choosing", annotations: map[string]string{appsv1alpha1.AnnotationTenant: "team-a"}},
		{name: "someone else", annotations: map[string]string{appsv1alpha1.AnnotationOwner: "mallory"},
			wantCauses: []string{"FieldValueInvalid " + ownerField}},
		{name: "empty", annotations: map[string]string{appsv1alpha1.AnnotationOwner: ""},
			wantCauses: []string{"FieldValueInvalid " + ownerField}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reviews := &fakeSubjectAccessReviews{allowed: true}
			v := &EphemeralJobValidator{SubjectAccessReviews: reviews}
			job := validJob()
			job.Annotations = tt.annotations
			_, err := v.ValidateCreate(createContext(t, "ns"), job)
			if tt.wantCauses == nil {
				if err != nil {
					t.Fatalf("ValidateCreate() = %v, want nil", err)
				}
				return
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("ValidateCreate() = %v, want Invalid", err)
			}
			if diff := cmp.Diff(tt.wantCauses, causesOf(t, err)); diff != "" {
				t.Errorf("causes (-want +got):\n%s", diff)
			}
			if !strings.Contains(err.Error(), `must be the user creating the job ("alice")`) {
				t.Errorf("ValidateCreate() = %q, want it to name the creator", err.Error())
			}
			if len(reviews.got) != 0 {
				t.Errorf("sent %d SubjectAccessReviews for a refused job, want 0", len(reviews.got))
			}
		})
	}
}

func TestValidateUpdateKeepsOwnerAndTenant(t *testing.T) {
	const (
		forbiddenOwner  = "FieldValueForbidden metadata.annotations[ephemeraljob.kruise.io/owner]"
		forbiddenTenant = "FieldValueForbidden metadata.annotations[ephemeraljob.kruise.io/tenant]"
	)
	owned := func() *appsv1alpha1.EphemeralJob {
		j := validJob()
		j.Annotations = map[string]string{appsv1alpha1.AnnotationOwner: "alice", appsv1alpha1.AnnotationTenant: "team-a"}
		return j
	}
	tests := []struct {
		name       string
		change     func(j *appsv1alpha1.EphemeralJob)
		wantFields []string
	}{
		{name: "another annotation", change: func(j *appsv1alpha1.EphemeralJob) { j.Annotations["note"] = "x" }},
		{name: "changing the owner",
			change:     func(j *appsv1alpha1.EphemeralJob) { j.Annotations[appsv1alpha1.AnnotationOwner] = "mallory" },
			wantFields: []string{forbiddenOwner}},
		{name: "removing the owner and changing the tenant",
			change: func(j *appsv1alpha1.EphemeralJob) {
				delete(j.Annotations, appsv1alpha1.AnnotationOwner)
				j.Annotations[appsv1alpha1.AnnotationTenant] = "team-b"
			},
			wantFields: []string{forbiddenOwner,
				forbiddenTenant}},
		{name: "removing every annotation",
			change: func(j *appsv1alpha1.EphemeralJob) { j.Annotations = nil },
			wantFields: []string{forbiddenOwner,
				forbiddenTenant}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &EphemeralJobValidator{SubjectAccessReviews: &fakeSubjectAccessReviews{allowed: true}}
			newJob := owned()
			tt.change(newJob)
			// The job's owner herself may not change it either.
			_, err := v.ValidateUpdate(createContext(t, "ns"), owned(), newJob)
			if tt.wantFields == nil {
				if err != nil {
					t.Fatalf("ValidateUpdate() = %v, want nil", err)
				}
				return
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("ValidateUpdate() = %v, want Invalid", err)
			}
			if diff := cmp.Diff(tt.wantFields, causesOf(t, err)); diff != "" {
				t.Errorf("causes (-want +got):\n%s", diff)
			}
		})
	}
	// An owner added after creation is refused as well.
	v := &EphemeralJobValidator{SubjectAccessReviews: &fakeSubjectAccessReviews{allowed: true}}
	added := validJob()
	added.Annotations = map[string]string{appsv1alpha1.AnnotationOwner: "alice"}
	if _, err := v.ValidateUpdate(createContext(t, "ns"), validJob(), added); !apierrors.IsInvalid(err) {
		t.Errorf("adding an owner after creation: ValidateUpdate() = %v, want Invalid", err)
	}
}

// namespaceReader returns a reader holding the namespaces, which counts its reads; when
// failWith is set, every read fails with it.
func namespaceReader(failWith error, namespaces ...*corev1.Namespace) (client.Reader, *int) {
	reads := new(int)
	builder := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object,
			opts ...client.GetOption) error {
			*reads++
			if failWith != nil {
				return failWith
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	for _, ns := range namespaces {
		builder = builder.WithObjects(ns)
	}
	return builder.Build(), reads
}

// restrictedNamespace returns a namespace that enforces the restricted level.
func restrictedNamespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{psaapi.EnforceLevelLabel: string(psaapi.LevelRestricted)}}}
}

func TestValidateCreatePodSecurity(t *testing.T) {
	warnRestricted := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns",
		Labels: map[string]string{psaapi.WarnLevelLabel: string(psaapi.LevelRestricted)}}}
	tests := []struct {
		name         string
		namespace    *corev1.Namespace
		job          func(t *testing.T) *appsv1alpha1.EphemeralJob
		wantCauses   []string // "" when the job is admitted
		wantWarnings int
	}{
		{
			name:      "refused with the other problems in one answer, and warned",
			namespace: restrictedNamespace("ns"),
			job: func(*testing.T) *appsv1alpha1.EphemeralJob {
				return withJob(func(ej *appsv1alpha1.EphemeralJob) { ej.Spec.Parallelism = ptr.To[int32](0) })
			},
			wantCauses: []string{
				"FieldValueInvalid spec.parallelism",
				"FieldValueForbidden spec.template.ephemeralContainers[0].securityContext.allowPrivilegeEscalation",
				"FieldValueForbidden spec.template.ephemeralContainers[0].securityContext.capabilities",
			},
			wantWarnings: 2,
		},
		{
			name:      "the restricted profile is admitted without a word",
			namespace: restrictedNamespace("ns"),
			job:       func(t *testing.T) *appsv1alpha1.EphemeralJob { return withProfile(t, profile.Restricted) },
		},
		{
			name:         "a warn level admits, with its warning",
			namespace:    warnRestricted,
			job:          func(*testing.T) *appsv1alpha1.EphemeralJob { return validJob() },
			wantWarnings: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reviews := &fakeSubjectAccessReviews{allowed: true}
			namespaces, reads := namespaceReader(nil, tt.namespace)
			v := &EphemeralJobValidator{SubjectAccessReviews: reviews, Namespaces: namespaces}

			warnings, err := v.ValidateCreate(createContext(t, "ns"), tt.job(t))

			if tt.wantCauses == nil {
				if err != nil {
					t.Fatalf("ValidateCreate() = %v, want nil", err)
				}
				if len(reviews.got) != 1 {
					t.Errorf("sent %d SubjectAccessReviews, want 1", len(reviews.got))
				}
			} else {
				if !apierrors.IsInvalid(err) {
					t.Fatalf("ValidateCreate() = %v, want Invalid", err)
				}
				if diff := cmp.Diff(tt.wantCauses, causesOf(t, err)); diff != "" {
					t.Errorf("causes (-want +got):\n%s", diff)
				}
				if len(reviews.got) != 0 {
					t.Errorf("sent %d SubjectAccessReviews for a refused job, want 0", len(reviews.got))
				}
			}
			if len(warnings) != tt.wantWarnings {
				t.Errorf("warnings = %q, want %d", warnings, tt.wantWarnings)
			}
			if *reads != 1 {
				t.Errorf("read namespaces %d times, want 1", *reads)
			}
		})
	}
}

func TestValidateCreatePodSecurityReadsTheRequestNamespaceWhenTheJobHasNone(t *testing.T) {
	namespaces, _ := namespaceReader(nil, restrictedNamespace("team-b"))
	v := &EphemeralJobValidator{SubjectAccessReviews: &fakeSubjectAccessReviews{allowed: true}, Namespaces: namespaces}
	ej := validJob()
	ej.Namespace = ""

	_, err := v.ValidateCreate(createContext(t, "team-b"), ej)

	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `violates PodSecurity "restricted:latest"`) {
		t.Errorf("ValidateCreate() = %v, want the refusal of restricted namespace team-b", err)
	}
}

func TestValidateCreatePodSecurityFailsClosed(t *testing.T) {
	reviews := &fakeSubjectAccessReviews{allowed: true}
	namespaces, _ := namespaceReader(errors.New("connection refused"))
	v := &EphemeralJobValidator{SubjectAccessReviews: reviews, Namespaces: namespaces}

	_, err := v.ValidateCreate(createContext(t, "ns"), validJob())

	want := `reading namespace "ns" for its Pod Security labels: connection refused`
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("ValidateCreate() = %v, want an internal error saying %q", err, want)
	}
	if len(reviews.got) != 0 {
		t.Errorf("sent %d SubjectAccessReviews, want none", len(reviews.got))
	}
}

// TestValidateUpdatePodSecurity checks that an update that lets the job reach more pods is held
// to the namespace's Pod Security level as it is now, and that no other update reads it.
func TestValidateUpdatePodSecurity(t *testing.T) {
	paused := withJob(func(ej *appsv1alpha1.EphemeralJob) { ej.Spec.Paused = true })
	tests := []struct {
		name       string
		oldJob     *appsv1alpha1.EphemeralJob
		newJob     *appsv1alpha1.EphemeralJob
		wantReads  int
		wantRefuse bool
	}{
		{name: "resuming", oldJob: paused, newJob: validJob(), wantReads: 1, wantRefuse: true},
		{name: "raising replicas", oldJob: validJob(),
			newJob:    withJob(func(ej *appsv1alpha1.EphemeralJob) { ej.Spec.Replicas = ptr.To[int32](9) }),
			wantReads: 1, wantRefuse: true},
		{name: "pausing", oldJob: validJob(), newJob: paused},
		{name: "lowering replicas", oldJob: validJob(),
			newJob: withJob(func(ej *appsv1alpha1.EphemeralJob) { ej.Spec.Replicas = ptr.To[int32](1) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reviews := &fakeSubjectAccessReviews{allowed: true}
			namespaces, reads := namespaceReader(nil, restrictedNamespace("ns"))
			v := &EphemeralJobValidator{SubjectAccessReviews: reviews, Namespaces: namespaces}

			warnings, err := v.ValidateUpdate(createContext(t, "ns"), tt.oldJob, tt.newJob)

			if *reads != tt.wantReads {
				t.Errorf("read namespaces %d times, want %d", *reads, tt.wantReads)
			}
			if !tt.wantRefuse {
				if err != nil || len(warnings) != 0 {
					t.Errorf("ValidateUpdate() = %q, %v, want no warning and nil", warnings, err)
				}
				return
			}
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `violates PodSecurity "restricted:latest"`) {
				t.Errorf("ValidateUpdate() = %v, want the refusal of restricted", err)
			}
			if len(warnings) == 0 {
				t.Errorf("ValidateUpdate() gave no warning, want what to set")
			}
			if len(reviews.got) != 0 {
				t.Errorf("sent %d SubjectAccessReviews for a refused update, want 0", len(reviews.got))
			}
		})
	}
}
