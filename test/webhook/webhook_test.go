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

package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

// invalidJob breaks one rule per field, so that every problem shows up in one answer.
const invalidJob = `
apiVersion: apps.kruise.io/v1alpha1
kind: EphemeralJob
metadata:
  name: invalid
spec:
  selector: {}
  template:
    ephemeralContainers:
    - name: debug
      image: busybox:latest
      terminationMessagePolicy: File
      targetContainerName: web
      ports:
      - containerPort: 80
      livenessProbe:
        exec:
          command: ["true"]
      env:
      - name: EPHEMERALJOB_UID
        value: forged
    - name: debug
      image: busybox:latest
      imagePullPolicy: IfNotPresent
      terminationMessagePolicy: File
      targetContainerName: web
      restartPolicy: Always
`

// twoContainerJob has two containers, the second with environment variables and capabilities,
// for the specs that change one field deep inside its template.
const twoContainerJob = `
apiVersion: apps.kruise.io/v1alpha1
kind: EphemeralJob
metadata:
  name: two-containers
spec:
  selector:
    matchLabels:
      app: web
  template:
    ephemeralContainers:
    - ` + twoContainerJobFirstContainer + `
    - name: tools
      image: busybox:latest
      imagePullPolicy: IfNotPresent
      terminationMessagePolicy: File
      targetContainerName: web
      env:
      - {name: A, value: "1"}
      - {name: B, value: "2"}
      - {name: C, value: "3"}
      securityContext:
        capabilities:
          add: [SYS_PTRACE]
`

// twoContainerJobFirstContainer is the first container of twoContainerJob, as JSON, so that a
// merge patch, which replaces the whole list, can keep it unchanged.
const twoContainerJobFirstContainer = `{"name": "debug", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
      "terminationMessagePolicy": "File", "targetContainerName": "web"}`

// newNamespace creates a namespace for one spec.
func newNamespace(ctx context.Context) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "webhook-"}}
	Expect(admin.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// fromYAML decodes a manifest's text into an object placed in namespace ns.
func fromYAML(manifest []byte, ns string) *unstructured.Unstructured {
	data, err := yaml.YAMLToJSON(manifest)
	Expect(err).NotTo(HaveOccurred())
	obj := &unstructured.Unstructured{}
	Expect(obj.UnmarshalJSON(data)).To(Succeed())
	obj.SetNamespace(ns)
	return obj
}

// sample decodes a manifest of config/samples into an object placed in namespace ns.
func sample(name, ns string) *unstructured.Unstructured {
	manifest, err := testutil.Sample(name)
	Expect(err).NotTo(HaveOccurred())
	return fromYAML(manifest, ns)
}

// causes returns "<type> <field>" for each cause of an API status error.
func causes(err error) []string {
	var status apierrors.APIStatus
	Expect(errors.As(err, &status)).To(BeTrue(), "%v is not an API status error", err)
	Expect(status.Status().Details).NotTo(BeNil(), "error %v has no details", err)
	var got []string
	for _, c := range status.Status().Details.Causes {
		got = append(got, fmt.Sprintf("%s %s", c.Type, c.Field))
	}
	return got
}

// impersonating returns a client that acts as user.
func impersonating(user string) client.Client {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user}
	cl, err := client.New(c, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	return cl
}

// grant gives user, in namespace ns, the rules of a new role.
func grant(ctx context.Context, ns, user, role string, rules ...rbacv1.PolicyRule) {
	Expect(admin.Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: role, Namespace: ns},
		Rules:      rules,
	})).To(Succeed())
	Expect(admin.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role + "-" + user, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	})).To(Succeed())
}

var _ = Describe("the EphemeralJob webhook", func() {
	var ns string
	BeforeEach(func(ctx SpecContext) { ns = newNamespace(ctx) })

	DescribeTable("accepts the proposal's manifests",
		func(ctx SpecContext, file string) {
			Expect(admin.Create(ctx, sample(file, ns))).To(Succeed())
		},
		Entry("Story 1", "story1_ephemeraljob.yaml"),
		Entry("Story 2", "story2_ephemeraljob.yaml"),
	)

	It("accepts every sample of config/samples, and the kustomization lists them all", func(ctx SpecContext) {
		kustomization, err := testutil.Sample("kustomization.yaml")
		Expect(err).NotTo(HaveOccurred())
		var k struct {
			Resources []string `json:"resources"`
		}
		Expect(yaml.Unmarshal(kustomization, &k)).To(Succeed())

		files, err := filepath.Glob(filepath.Join(testutil.RepoRoot(), "config", "samples", "*_ephemeraljob.yaml"))
		Expect(err).NotTo(HaveOccurred())
		var onDisk []string
		for _, f := range files {
			onDisk = append(onDisk, filepath.Base(f))
		}
		Expect(k.Resources).To(ConsistOf(onDisk))
		Expect(len(k.Resources)).To(BeNumerically(">=", 8), "the stories and one sample per feature")

		for _, file := range k.Resources {
			Expect(admin.Create(ctx, sample(file, ns))).To(Succeed(), file)
		}
	})

	It("refuses an invalid job with one 422 naming every problem by its field path", func(ctx SpecContext) {
		err := admin.Create(ctx, fromYAML([]byte(invalidJob), ns))

		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.(apierrors.APIStatus).Status().Code).To(BeEquivalentTo(http.StatusUnprocessableEntity))
		Expect(err.Error()).To(ContainSubstring(`admission webhook "vephemeraljob-v1alpha1.kb.io" denied the request`))
		Expect(causes(err)).To(ConsistOf(
			"FieldValueInvalid spec.selector",
			"FieldValueRequired spec.template.ephemeralContainers[0].imagePullPolicy",
			"FieldValueForbidden spec.template.ephemeralContainers[0].ports",
			"FieldValueForbidden spec.template.ephemeralContainers[0].livenessProbe",
			"FieldValueForbidden spec.template.ephemeralContainers[0].env[0].name",
			"FieldValueForbidden spec.template.ephemeralContainers[1].restartPolicy",
			"FieldValueDuplicate spec.template.ephemeralContainers[1].name",
		))
		Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "invalid"}, &appsv1alpha1.EphemeralJob{})).
			To(Satisfy(apierrors.IsNotFound))
	})

	Context("on update", func() {
		var key client.ObjectKey
		BeforeEach(func(ctx SpecContext) {
			obj := sample("story1_ephemeraljob.yaml", ns)
			Expect(admin.Create(ctx, obj)).To(Succeed())
			key = client.ObjectKeyFromObject(obj)
		})

		DescribeTable("refuses a change to an immutable spec field",
			func(ctx SpecContext, change func(*appsv1alpha1.EphemeralJobSpec), wantField string) {
				ej := &appsv1alpha1.EphemeralJob{}
				Expect(admin.Get(ctx, key, ej)).To(Succeed())
				before := ej.Spec.DeepCopy()
				change(&ej.Spec)

				err := admin.Update(ctx, ej)

				Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
				Expect(causes(err)).To(ConsistOf("FieldValueForbidden " + wantField))
				Expect(err.Error()).To(ContainSubstring("only spec.parallelism, spec.replicas and spec.paused may change"))
				stored := &appsv1alpha1.EphemeralJob{}
				Expect(admin.Get(ctx, key, stored)).To(Succeed())
				Expect(stored.Spec).To(Equal(*before))
			},
			Entry("template", func(s *appsv1alpha1.EphemeralJobSpec) {
				s.Template.EphemeralContainers[0].Image = "alpine:3"
			}, "spec.template.ephemeralContainers[0].image"),
			Entry("selector", func(s *appsv1alpha1.EphemeralJobSpec) {
				s.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}
			}, "spec.selector.matchLabels[app]"),
			Entry("ttlSecondsAfterCreated", func(s *appsv1alpha1.EphemeralJobSpec) {
				s.TTLSecondsAfterCreated = ptr.To[int32](60)
			}, "spec.ttlSecondsAfterCreated"),
			Entry("ttlSecondsAfterFinished", func(s *appsv1alpha1.EphemeralJobSpec) {
				s.TTLSecondsAfterFinished = ptr.To[int32](60)
			}, "spec.ttlSecondsAfterFinished"),
			Entry("activeDeadlineSeconds", func(s *appsv1alpha1.EphemeralJobSpec) {
				s.ActiveDeadlineSeconds = ptr.To[int64](60)
			}, "spec.activeDeadlineSeconds"),
		)

		DescribeTable("names the deepest changed field of a merge patch, as kubectl patch and edit send it",
			func(ctx SpecContext, patch, wantField, wantDetail string) {
				obj := fromYAML([]byte(twoContainerJob), ns)
				Expect(admin.Create(ctx, obj)).To(Succeed())
				before := &appsv1alpha1.EphemeralJob{}
				Expect(admin.Get(ctx, client.ObjectKeyFromObject(obj), before)).To(Succeed())

				err := admin.Patch(ctx, before.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(patch)))

				Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
				Expect(causes(err)).To(ConsistOf("FieldValueForbidden " + wantField))
				Expect(err.Error()).To(HaveSuffix(`EphemeralJob.apps.kruise.io "two-containers" is invalid: ` +
					wantField + ": Forbidden: " + wantDetail))
				stored := &appsv1alpha1.EphemeralJob{}
				Expect(admin.Get(ctx, client.ObjectKeyFromObject(obj), stored)).To(Succeed())
				Expect(stored.Spec).To(Equal(before.Spec))
			},
			Entry("one environment variable's value", `{"spec":{"template":{"ephemeralContainers":[`+
				twoContainerJobFirstContainer+`,{"name":"tools","image":"busybox:latest",
				"imagePullPolicy":"IfNotPresent","terminationMessagePolicy":"File","targetContainerName":"web",
				"env":[{"name":"A","value":"1"},{"name":"B","value":"2"},{"name":"C","value":"4"}],
				"securityContext":{"capabilities":{"add":["SYS_PTRACE"]}}}]}}}`,
				"spec.template.ephemeralContainers[1].env[2].value",
				"may not be changed after creation: only spec.parallelism, spec.replicas and spec.paused may change"),
			Entry("one added capability", `{"spec":{"template":{"ephemeralContainers":[`+
				twoContainerJobFirstContainer+`,{"name":"tools","image":"busybox:latest",
				"imagePullPolicy":"IfNotPresent","terminationMessagePolicy":"File","targetContainerName":"web",
				"env":[{"name":"A","value":"1"},{"name":"B","value":"2"},{"name":"C","value":"3"}],
				"securityContext":{"capabilities":{"add":["NET_ADMIN"]}}}]}}}`,
				"spec.template.ephemeralContainers[1].securityContext.capabilities.add[0]",
				"may not be changed after creation: only spec.parallelism, spec.replicas and spec.paused may change"),
			Entry("the number of containers", `{"spec":{"template":{"ephemeralContainers":[`+
				twoContainerJobFirstContainer+`]}}}`,
				"spec.template.ephemeralContainers",
				"may not be changed after creation (had 2 containers, now 1): "+
					"only spec.parallelism, spec.replicas and spec.paused may change"),
		)

		It("lets parallelism, replicas and paused change", func(ctx SpecContext) {
			ej := &appsv1alpha1.EphemeralJob{}
			Expect(admin.Get(ctx, key, ej)).To(Succeed())
			ej.Spec.Parallelism = ptr.To[int32](3)
			ej.Spec.Replicas = ptr.To[int32](2)
			ej.Spec.Paused = true

			Expect(admin.Update(ctx, ej)).To(Succeed())

			stored := &appsv1alpha1.EphemeralJob{}
			Expect(admin.Get(ctx, key, stored)).To(Succeed())
			Expect(stored.Spec.Parallelism).To(HaveValue(BeEquivalentTo(3)))
			Expect(stored.Spec.Replicas).To(HaveValue(BeEquivalentTo(2)))
			Expect(stored.Spec.Paused).To(BeTrue())
		})
	})

	Context("when a user creates a job", func() {
		createJobs := rbacv1.PolicyRule{
			APIGroups: []string{appsv1alpha1.GroupVersion.Group},
			Resources: []string{"ephemeraljobs"},
			Verbs:     []string{"create", "get"},
		}
		addEphemeralContainers := rbacv1.PolicyRule{
			APIGroups: []string{""},
			Resources: []string{"pods/ephemeralcontainers"},
			Verbs:     []string{"update"},
		}

		It("denies a user who may create jobs but not add ephemeral containers to pods", func(ctx SpecContext) {
			grant(ctx, ns, "alice", "create-jobs", createJobs)
			alice := impersonating("alice")
			want := fmt.Sprintf(`user "alice" may not update pods/ephemeralcontainers in namespace %q: `+
				`creating an EphemeralJob needs that permission`, ns)

			// RBAC takes a moment to see the binding; until then the API server itself refuses.
			Eventually(func(g Gomega) {
				err := alice.Create(ctx, sample("story2_ephemeraljob.yaml", ns))
				g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "got %v", err)
				g.Expect(err.Error()).To(ContainSubstring(want))
			}).Should(Succeed())
			Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "nginx-ephemeral-job"}, &appsv1alpha1.EphemeralJob{})).
				To(Satisfy(apierrors.IsNotFound))
		})

		It("refuses a job whose owner annotation names someone else, and any later change of it", func(ctx SpecContext) {
			grant(ctx, ns, "carol", "create-jobs", createJobs)
			grant(ctx, ns, "carol", "add-ephemeral-containers", addEphemeralContainers)
			carol := impersonating("carol")
			spoofed := sample("story2_ephemeraljob.yaml", ns)
			spoofed.SetAnnotations(map[string]string{appsv1alpha1.AnnotationOwner: "dave"})
			Eventually(func(g Gomega) {
				err := carol.Create(ctx, spoofed.DeepCopy())
				g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
				g.Expect(causes(err)).To(ConsistOf("FieldValueInvalid metadata.annotations[ephemeraljob.kruise.io/owner]"))
				g.Expect(err.Error()).To(ContainSubstring(`must be the user creating the job ("carol")`))
			}).Should(Succeed())

			owned := sample("story2_ephemeraljob.yaml", ns)
			owned.SetAnnotations(map[string]string{appsv1alpha1.AnnotationOwner: "carol",
				appsv1alpha1.AnnotationTenant: "team-c"})
			Expect(carol.Create(ctx, owned)).To(Succeed())

			// Not even an administrator may rewrite it afterwards.
			ej := &appsv1alpha1.EphemeralJob{}
			Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: owned.GetName()}, ej)).To(Succeed())
			ej.Annotations[appsv1alpha1.AnnotationOwner] = "dave"
			delete(ej.Annotations, appsv1alpha1.AnnotationTenant)
			err := admin.Update(ctx, ej)
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			Expect(causes(err)).To(ConsistOf("FieldValueForbidden metadata.annotations[ephemeraljob.kruise.io/owner]",
				"FieldValueForbidden metadata.annotations[ephemeraljob.kruise.io/tenant]"))
		})

		It("allows a user who may create jobs and add ephemeral containers to pods", func(ctx SpecContext) {
			grant(ctx, ns, "bob", "create-jobs", createJobs)
			grant(ctx, ns, "bob", "add-ephemeral-containers", addEphemeralContainers)
			bob := impersonating("bob")

			Eventually(func() error {
				return bob.Create(ctx, sample("story2_ephemeraljob.yaml", ns))
			}).Should(Succeed())
			Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "nginx-ephemeral-job"}, &appsv1alpha1.EphemeralJob{})).
				To(Succeed())
		})

		It("lets a user without that permission only slow down, shrink or pause someone else's job", func(ctx SpecContext) {
			obj := sample("story1_ephemeraljob.yaml", ns)
			Expect(admin.Create(ctx, obj)).To(Succeed())
			key := client.ObjectKeyFromObject(obj)
			grant(ctx, ns, "dave", "edit-jobs", rbacv1.PolicyRule{
				APIGroups: []string{appsv1alpha1.GroupVersion.Group},
				Resources: []string{"ephemeraljobs"},
				Verbs:     []string{"get", "update"},
			})
			dave := impersonating("dave")
			update := func(change func(*appsv1alpha1.EphemeralJobSpec)) error {
				ej := &appsv1alpha1.EphemeralJob{}
				if err := dave.Get(ctx, key, ej); err != nil {
					return err
				}
				change(&ej.Spec)
				return dave.Update(ctx, ej)
			}

			Eventually(func() error {
				return update(func(s *appsv1alpha1.EphemeralJobSpec) {
					s.Parallelism = ptr.To[int32](2)
					s.Replicas = ptr.To[int32](1)
					s.Paused = true
				})
			}).Should(Succeed())

			for _, tc := range []struct {
				change func(*appsv1alpha1.EphemeralJobSpec)
				action string
			}{
				{func(s *appsv1alpha1.EphemeralJobSpec) { s.Replicas = ptr.To[int32](4) }, "raising an EphemeralJob's replicas"},
				{func(s *appsv1alpha1.EphemeralJobSpec) { s.Paused = false }, "resuming a paused EphemeralJob"},
			} {
				err := update(tc.change)
				Expect(apierrors.IsForbidden(err)).To(BeTrue(), "got %v", err)
				Expect(err.Error()).To(ContainSubstring(fmt.Sprintf(
					`user "dave" may not update pods/ephemeralcontainers in namespace %q: %s needs that permission`,
					ns, tc.action)))
			}
			stored := &appsv1alpha1.EphemeralJob{}
			Expect(admin.Get(ctx, key, stored)).To(Succeed())
			Expect(stored.Spec.Replicas).To(HaveValue(BeEquivalentTo(1)))
			Expect(stored.Spec.Paused).To(BeTrue())
		})

		It("denies a user whose permission to add ephemeral containers is in another namespace", func(ctx SpecContext) {
			other := newNamespace(ctx)
			grant(ctx, ns, "carol", "create-jobs", createJobs)
			grant(ctx, other, "carol", "add-ephemeral-containers", addEphemeralContainers)
			carol := impersonating("carol")
			want := fmt.Sprintf(`user "carol" may not update pods/ephemeralcontainers in namespace %q`, ns)
			Eventually(func(g Gomega) {
				review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
					ResourceAttributes: &authorizationv1.ResourceAttributes{
						Namespace: other, Verb: "update", Resource: "pods", Subresource: "ephemeralcontainers",
					},
				}}
				g.Expect(carol.Create(ctx, review)).To(Succeed())
				g.Expect(review.Status.Allowed).To(BeTrue(), "carol may not yet add ephemeral containers in %s", other)
			}).Should(Succeed())

			Eventually(func(g Gomega) {
				err := carol.Create(ctx, sample("story2_ephemeraljob.yaml", ns))
				g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "got %v", err)
				g.Expect(err.Error()).To(ContainSubstring(want))
			}).Should(Succeed())
		})
	})
})
