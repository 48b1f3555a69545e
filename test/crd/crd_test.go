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

package crd

import (
	"context"
	"encoding/json"
	"errors"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

// restClient talks JSON to the API server without any Go types in the way, as kubectl does.
func restClient() rest.Interface {
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &schema.GroupVersion{Group: "apps.kruise.io", Version: "v1alpha1"}
	c.APIPath = "/apis"
	c.ContentType = runtime.ContentTypeJSON
	c.AcceptContentTypes = runtime.ContentTypeJSON
	c.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	rc, err := rest.RESTClientFor(c)
	Expect(err).NotTo(HaveOccurred())
	return rc
}

func jobsPath(ns string) string {
	return "/apis/apps.kruise.io/v1alpha1/namespaces/" + ns + "/ephemeraljobs"
}

// createYAML sends a manifest's text as kubectl create does: YAML body, strict field validation.
func createYAML(ctx context.Context, ns string, manifest []byte) (map[string]any, error) {
	raw, err := restClient().Post().AbsPath(jobsPath(ns)).
		Param("fieldValidation", "Strict").
		SetHeader("Content-Type", "application/yaml").
		Body(manifest).DoRaw(ctx)
	if err != nil {
		return nil, statusError(raw, err)
	}
	var obj map[string]any
	return obj, json.Unmarshal(raw, &obj)
}

// statusError returns the API server's Status from a response body, as kubectl prints it.
func statusError(raw []byte, err error) error {
	var status metav1.Status
	if json.Unmarshal(raw, &status) == nil && status.Kind == "Status" {
		return &apierrors.StatusError{ErrStatus: status}
	}
	return err
}

// applyYAML sends a manifest's text as kubectl apply --server-side does.
func applyYAML(ctx context.Context, ns, name string, manifest []byte) error {
	return restClient().Patch("application/apply-patch+yaml").AbsPath(jobsPath(ns), name).
		Param("fieldValidation", "Strict").Param("fieldManager", "kubectl").
		Body(manifest).Do(ctx).Error()
}

func newNamespace(ctx context.Context) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "crd-"}}
	ns, err := clientset.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	return ns.Name
}

// causes returns the field paths and messages of an Invalid error's causes.
func causes(err error) []string {
	var status apierrors.APIStatus
	Expect(errors.As(err, &status)).To(BeTrue(), "%v is not an API status error", err)
	Expect(status.Status().Details).NotTo(BeNil(), "error %v has no details", err)
	var fields []string
	for _, c := range status.Status().Details.Causes {
		fields = append(fields, c.Field+": "+c.Message)
	}
	return fields
}

var _ = Describe("the EphemeralJob CRD", func() {
	var ns string
	BeforeEach(func(ctx SpecContext) { ns = newNamespace(ctx) })

	DescribeTable("accepts the proposal's manifests verbatim under strict field validation",
		func(ctx SpecContext, file, name string, want map[string]any) {
			manifest, err := testutil.Sample(file)
			Expect(err).NotTo(HaveOccurred())

			obj, err := createYAML(ctx, ns, manifest)
			Expect(err).NotTo(HaveOccurred())
			Expect(obj).To(HaveKeyWithValue("metadata", HaveKeyWithValue("name", name)))
			spec := obj["spec"].(map[string]any)
			for k, v := range want {
				Expect(spec).To(HaveKeyWithValue(k, BeEquivalentTo(v)), "spec.%s", k)
			}
			containers := spec["template"].(map[string]any)["ephemeralContainers"].([]any)
			Expect(containers).To(HaveLen(1))
			Expect(containers[0]).To(HaveKeyWithValue("stdin", true))
			Expect(containers[0]).To(HaveKeyWithValue("tty", true))

			By("applying it again server-side, as kubectl apply --server-side does")
			Expect(applyYAML(ctx, ns, name, manifest)).To(Succeed())
		},
		Entry("Story 1", "story1_ephemeraljob.yaml", "hello-world-ephemeral-job",
			map[string]any{"replicas": 4, "parallelism": 1, "ttlSecondsAfterCreated": 1800}),
		Entry("Story 2", "story2_ephemeraljob.yaml", "nginx-ephemeral-job",
			map[string]any{"replicas": 1, "parallelism": 1, "ttlSecondsAfterCreated": 1800}),
	)

	It("defaults parallelism to 1", func(ctx SpecContext) {
		obj, err := createYAML(ctx, ns, []byte(`
apiVersion: apps.kruise.io/v1alpha1
kind: EphemeralJob
metadata: {name: defaults}
spec:
  selector: {matchLabels: {app: a}}
  template:
    ephemeralContainers:
    - {name: c, image: busybox, imagePullPolicy: IfNotPresent, terminationMessagePolicy: File, targetContainerName: app}
`))
		Expect(err).NotTo(HaveOccurred())
		Expect(obj["spec"]).To(HaveKeyWithValue("parallelism", BeEquivalentTo(1)))
	})

	DescribeTable("refuses schema-invalid jobs, naming the field",
		func(ctx SpecContext, spec string, field string) {
			_, err := createYAML(ctx, ns, []byte(`
apiVersion: apps.kruise.io/v1alpha1
kind: EphemeralJob
metadata: {name: invalid}
spec:
`+spec))
			Expect(apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)).To(BeTrue(), "got %v", err)
			Expect(causes(err)).To(ContainElement(ContainSubstring(field)))
		},
		Entry("parallelism 11", `
  selector: {matchLabels: {app: a}}
  parallelism: 11
  template: {ephemeralContainers: [{name: c, image: busybox}]}`, "spec.parallelism"),
		Entry("parallelism 0", `
  selector: {matchLabels: {app: a}}
  parallelism: 0
  template: {ephemeralContainers: [{name: c, image: busybox}]}`, "spec.parallelism"),
		Entry("no selector", `
  template: {ephemeralContainers: [{name: c, image: busybox}]}`, "spec.selector"),
		Entry("no containers", `
  selector: {matchLabels: {app: a}}
  template: {ephemeralContainers: []}`, "spec.template.ephemeralContainers"),
		Entry("negative replicas", `
  selector: {matchLabels: {app: a}}
  replicas: -1
  template: {ephemeralContainers: [{name: c, image: busybox}]}`, "spec.replicas"),
		Entry("negative TTL after created", `
  selector: {matchLabels: {app: a}}
  ttlSecondsAfterCreated: -1
  template: {ephemeralContainers: [{name: c, image: busybox}]}`, "spec.ttlSecondsAfterCreated"),
		Entry("negative TTL after finished", `
  selector: {matchLabels: {app: a}}
  ttlSecondsAfterFinished: -1
  template: {ephemeralContainers: [{name: c, image: busybox}]}`, "spec.ttlSecondsAfterFinished"),
		Entry("zero deadline", `
  selector: {matchLabels: {app: a}}
  activeDeadlineSeconds: 0
  template: {ephemeralContainers: [{name: c, image: busybox}]}`, "spec.activeDeadlineSeconds"),
	)

	DescribeTable("refuses unknown fields under strict field validation, as kubectl apply does",
		func(ctx SpecContext, spec string, field string) {
			_, err := createYAML(ctx, ns, []byte(`
apiVersion: apps.kruise.io/v1alpha1
kind: EphemeralJob
metadata: {name: unknown}
spec:
`+spec))
			Expect(apierrors.IsBadRequest(err)).To(BeTrue(), "got %v", err)
			Expect(err.Error()).To(ContainSubstring(`unknown field "` + field + `"`))
		},
		Entry("in spec", `
  selector: {matchLabels: {app: a}}
  parallelismm: 2
  template: {ephemeralContainers: [{name: c, image: busybox}]}`, "spec.parallelismm"),
		Entry("in a container", `
  selector: {matchLabels: {app: a}}
  template: {ephemeralContainers: [{name: c, image: busybox, imagee: x}]}`, "spec.template.ephemeralContainers[0].imagee"),
	)

	It("serves the printer columns kubectl get ejob shows", func(ctx SpecContext) {
		manifest, err := testutil.Sample("story1_ephemeraljob.yaml")
		Expect(err).NotTo(HaveOccurred())
		_, err = createYAML(ctx, ns, manifest)
		Expect(err).NotTo(HaveOccurred())

		raw, err := restClient().Get().AbsPath(jobsPath(ns)).
			SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").Do(ctx).Raw()
		Expect(err).NotTo(HaveOccurred())
		var table metav1.Table
		Expect(json.Unmarshal(raw, &table)).To(Succeed())
		var names []string
		for _, c := range table.ColumnDefinitions {
			names = append(names, c.Name)
		}
		Expect(names).To(Equal([]string{"Name", "STATUS", "MATCH", "SUCCEED", "FAILED", "RUNNING", "WAITING", "AGE"}))
		Expect(table.Rows).To(HaveLen(1))
		Expect(table.Rows[0].Cells[0]).To(Equal("hello-world-ephemeral-job"))
	})

	It("prints 0, not an empty cell, for counts a status patch never wrote", func(ctx SpecContext) {
		manifest, err := testutil.Sample("story2_ephemeraljob.yaml")
		Expect(err).NotTo(HaveOccurred())
		_, err = createYAML(ctx, ns, manifest)
		Expect(err).NotTo(HaveOccurred())
		// A merge patch from a zero status carries only the fields that changed, as the controller's does.
		patch := []byte(`{"status":{"phase":"Running","match":1,"running":1}}`)
		Expect(restClient().Patch(types.MergePatchType).AbsPath(jobsPath(ns), "nginx-ephemeral-job", "status").
			Body(patch).Do(ctx).Error()).To(Succeed())

		raw, err := restClient().Get().AbsPath(jobsPath(ns), "nginx-ephemeral-job").
			SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").Do(ctx).Raw()
		Expect(err).NotTo(HaveOccurred())
		var table metav1.Table
		Expect(json.Unmarshal(raw, &table)).To(Succeed())
		Expect(table.Rows).To(HaveLen(1))
		// NAME STATUS MATCH SUCCEED FAILED RUNNING WAITING AGE
		cells := table.Rows[0].Cells
		Expect(cells).To(HaveLen(8))
		Expect(cells[1:7]).To(HaveExactElements("Running", BeEquivalentTo(1), BeEquivalentTo(0), BeEquivalentTo(0),
			BeEquivalentTo(1), BeEquivalentTo(0)))
	})

	It("is reachable by its short name ejob", func(ctx SpecContext) {
		_, resources, err := clientset.Discovery().ServerGroupsAndResources()
		Expect(err).NotTo(HaveOccurred())
		var found *metav1.APIResource
		for _, list := range resources {
			if list.GroupVersion != "apps.kruise.io/v1alpha1" {
				continue
			}
			for i := range list.APIResources {
				if list.APIResources[i].Name == "ephemeraljobs" {
					found = &list.APIResources[i]
				}
			}
		}
		Expect(found).NotTo(BeNil())
		Expect(found.ShortNames).To(ConsistOf("ejob"))
		Expect(found.Namespaced).To(BeTrue())
	})
})
