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

package deploy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

const (
	namespace   = "ephemeraljob-operator-system"
	certManager = "cert-manager.io"
)

// render runs `kubectl kustomize` on a directory of config/ and splits the result into objects.
func render(dir string) []*unstructured.Unstructured {
	GinkgoHelper()
	return renderPath(filepath.Join(testutil.RepoRoot(), "config", dir))
}

// renderPath runs `kubectl kustomize` on a directory and splits the result into objects.
func renderPath(dir string) []*unstructured.Unstructured {
	GinkgoHelper()
	kubectl := filepath.Join(testutil.AssetsDir(), "kubectl")
	out, err := exec.Command(kubectl, "kustomize", dir).Output()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		Fail("kubectl kustomize " + dir + ": " + string(exitErr.Stderr))
	}
	Expect(err).NotTo(HaveOccurred())

	var objs []*unstructured.Unstructured
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		obj := &unstructured.Unstructured{}
		err := decoder.Decode(&obj.Object)
		if errors.Is(err, io.EOF) {
			break
		}
		Expect(err).NotTo(HaveOccurred())
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
	return objs
}

// find returns the one rendered object of a kind, converted to its typed form.
func find[T any](objs []*unstructured.Unstructured, kind, name string, into *T) {
	GinkgoHelper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, into)).To(Succeed())
			return
		}
	}
	Fail("the rendered manifests hold no " + kind + " " + name)
}

// podLogGrants returns the roles among objs that allow getting pods/log.
func podLogGrants(objs []*unstructured.Unstructured) []string {
	GinkgoHelper()
	var grants []string
	for _, o := range objs {
		if o.GetKind() != "ClusterRole" && o.GetKind() != "Role" {
			continue
		}
		var role rbacv1.ClusterRole // a Role's rules have the same shape
		Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &role)).To(Succeed())
		for _, r := range role.Rules {
			if (slices.Contains(r.APIGroups, "") || slices.Contains(r.APIGroups, "*")) &&
				(slices.Contains(r.Resources, "pods/log") || slices.Contains(r.Resources, "pods/*") ||
					slices.Contains(r.Resources, "*")) &&
				(slices.Contains(r.Verbs, "get") || slices.Contains(r.Verbs, "*")) {
				grants = append(grants, o.GetKind()+" "+o.GetName())
			}
		}
	}
	return grants
}

// withComponentEnabled copies config/ and enables a component by uncommenting the lines
// config/default/kustomization.yaml shows for it, and returns the copy's directory.
func withComponentEnabled(lines ...string) string {
	GinkgoHelper()
	dir := filepath.Join(GinkgoT().TempDir(), "config")
	Expect(os.CopyFS(dir, os.DirFS(filepath.Join(testutil.RepoRoot(), "config")))).To(Succeed())
	file := filepath.Join(dir, "default", "kustomization.yaml")
	data, err := os.ReadFile(file)
	Expect(err).NotTo(HaveOccurred())
	text := string(data)
	for _, l := range lines {
		Expect(text).To(ContainSubstring("\n#"+l+"\n"), "config/default/kustomization.yaml shows the line %q, commented", l)
		text = strings.Replace(text, "\n#"+l+"\n", "\n"+l+"\n", 1)
	}
	Expect(os.WriteFile(file, []byte(text), 0o600)).To(Succeed())
	return dir
}

// applyServerSide applies objects with `kubectl apply --server-side`, as a user would.
func applyServerSide(objs []*unstructured.Unstructured) {
	GinkgoHelper()
	var buf bytes.Buffer
	for _, o := range objs {
		data, err := yaml.Marshal(o.Object)
		Expect(err).NotTo(HaveOccurred())
		buf.WriteString("---\n")
		buf.Write(data)
	}
	file := filepath.Join(GinkgoT().TempDir(), "manifests.yaml")
	Expect(os.WriteFile(file, buf.Bytes(), 0o600)).To(Succeed())
	cmd := exec.Command(filepath.Join(testutil.AssetsDir(), "kubectl"), "--kubeconfig", kubeconfig,
		"apply", "--server-side", "--field-manager=deploy-test", "-f", file)
	out, err := cmd.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "kubectl apply --server-side:\n%s", out)
}

var _ = Describe("config/default", Ordered, func() {
	var objs []*unstructured.Unstructured

	BeforeAll(func() {
		objs = render("default")
	})

	It("holds every part of a deployment", func() {
		kinds := sets.New[string]()
		for _, o := range objs {
			kinds.Insert(o.GetKind())
			if o.GetKind() != "Namespace" && o.GetObjectKind().GroupVersionKind().Group != "apiextensions.k8s.io" &&
				!strings.HasPrefix(o.GetKind(), "Cluster") && o.GetKind() != "ValidatingWebhookConfiguration" {
				Expect(o.GetNamespace()).To(Equal(namespace), "%s %s", o.GetKind(), o.GetName())
			}
		}
		Expect(sets.List(kinds)).To(ContainElements(
			"Namespace", "CustomResourceDefinition", "ServiceAccount", "Role", "RoleBinding",
			"ClusterRole", "ClusterRoleBinding", "Deployment", "Service",
			"ValidatingWebhookConfiguration", "Certificate", "Issuer", "PodDisruptionBudget"))
	})

	It("runs the manager safely, with probes, requests, leader election and both certificates", func() {
		var deploy appsv1.Deployment
		find(objs, "Deployment", "ephemeraljob-operator-controller-manager", &deploy)
		pod := deploy.Spec.Template.Spec
		Expect(pod.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
		Expect(pod.SecurityContext.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
		Expect(pod.ServiceAccountName).To(Equal("ephemeraljob-operator-controller-manager"))
		Expect(pod.Containers).To(HaveLen(1))

		c := pod.Containers[0]
		Expect(c.SecurityContext.AllowPrivilegeEscalation).To(HaveValue(BeFalse()))
		Expect(c.SecurityContext.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
		Expect(c.SecurityContext.Capabilities.Drop).To(ContainElement(corev1.Capability("ALL")))
		Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
		Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
		Expect(c.Resources.Requests).To(HaveKey(corev1.ResourceCPU))
		Expect(c.Resources.Requests).To(HaveKey(corev1.ResourceMemory))
		Expect(c.Args).To(ContainElements(
			"--leader-elect",
			"--metrics-bind-address=:8443",
			"--webhook-cert-path=/tmp/k8s-webhook-server/serving-certs",
			"--metrics-cert-path=/tmp/k8s-metrics-server/metrics-certs"))

		secrets := map[string]string{}
		for _, v := range pod.Volumes {
			if v.Secret != nil {
				secrets[v.Name] = v.Secret.SecretName
			}
		}
		Expect(secrets).To(Equal(map[string]string{
			"webhook-certs": "webhook-server-cert",
			"metrics-certs": "metrics-server-cert",
		}))
		mounts := map[string]string{}
		for _, m := range c.VolumeMounts {
			mounts[m.Name] = m.MountPath
		}
		Expect(mounts).To(HaveKeyWithValue("webhook-certs", "/tmp/k8s-webhook-server/serving-certs"))
		Expect(mounts).To(HaveKeyWithValue("metrics-certs", "/tmp/k8s-metrics-server/metrics-certs"))
	})

	It("runs two replicas with leader election, rolled one at a time, spread over nodes and kept by a PodDisruptionBudget",
		func() {
			var deploy appsv1.Deployment
			find(objs, "Deployment", "ephemeraljob-operator-controller-manager", &deploy)
			Expect(deploy.Spec.Replicas).To(HaveValue(BeEquivalentTo(2)))
			Expect(deploy.Spec.Template.Spec.Containers[0].Args).To(ContainElement("--leader-elect"))
			// A rollout adds a new pod before it stops an old one: a webhook always answers.
			Expect(deploy.Spec.Strategy.Type).To(Equal(appsv1.RollingUpdateDeploymentStrategyType))
			Expect(deploy.Spec.Strategy.RollingUpdate).NotTo(BeNil())
			Expect(deploy.Spec.Strategy.RollingUpdate.MaxUnavailable).To(HaveValue(Equal(intstr.FromInt32(0))))
			Expect(deploy.Spec.Strategy.RollingUpdate.MaxSurge).To(HaveValue(Equal(intstr.FromInt32(1))))
			podLabels := labels.Set(deploy.Spec.Template.Labels)

			spread := deploy.Spec.Template.Spec.TopologySpreadConstraints
			Expect(spread).To(HaveLen(1))
			Expect(spread[0].TopologyKey).To(Equal(corev1.LabelHostname))
			spreadSelector, err := metav1.LabelSelectorAsSelector(spread[0].LabelSelector)
			Expect(err).NotTo(HaveOccurred())
			Expect(spreadSelector.Matches(podLabels)).To(BeTrue(), "the spread constraint selects the manager's pods")

			var pdb policyv1.PodDisruptionBudget
			find(objs, "PodDisruptionBudget", "ephemeraljob-operator-controller-manager", &pdb)
			Expect(pdb.Namespace).To(Equal(namespace))
			Expect(pdb.Spec.MinAvailable).To(HaveValue(Equal(intstr.FromInt32(1))))
			Expect(pdb.Spec.MaxUnavailable).To(BeNil())
			selector, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			Expect(err).NotTo(HaveOccurred())
			Expect(selector.Matches(podLabels)).To(BeTrue(), "the PodDisruptionBudget selects the manager's pods")
			// One replica may be evicted at a time, never both.
			Expect(int(*deploy.Spec.Replicas) - pdb.Spec.MinAvailable.IntValue()).To(Equal(1))

			// The webhook is served by every ready replica: the readiness probe does not
			// depend on leadership, and the Service selects both.
			Expect(deploy.Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
			var svc corev1.Service
			find(objs, "Service", "ephemeraljob-operator-webhook-service", &svc)
			Expect(labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels)).To(BeTrue())
		})

	It("routes the webhook and metrics Services to the manager, with matching certificates", func() {
		var deploy appsv1.Deployment
		find(objs, "Deployment", "ephemeraljob-operator-controller-manager", &deploy)
		podLabels := deploy.Spec.Template.Labels
		ports := sets.New[int32]()
		for _, p := range deploy.Spec.Template.Spec.Containers[0].Ports {
			ports.Insert(p.ContainerPort)
		}

		for _, tc := range []struct{ service, certificate, secret string }{
			{"ephemeraljob-operator-webhook-service", "ephemeraljob-operator-serving-cert", "webhook-server-cert"},
			{"ephemeraljob-operator-controller-manager-metrics-service", "ephemeraljob-operator-metrics-certs", "metrics-server-cert"},
		} {
			var svc corev1.Service
			find(objs, "Service", tc.service, &svc)
			for k, v := range svc.Spec.Selector {
				Expect(podLabels).To(HaveKeyWithValue(k, v), "Service %s selects the manager's pods", tc.service)
			}

			var cert unstructured.Unstructured
			find(objs, "Certificate", tc.certificate, &cert)
			dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
			Expect(dnsNames).To(ContainElement(tc.service + "." + namespace + ".svc"))
			secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
			Expect(secretName).To(Equal(tc.secret))
		}

		var webhookSvc corev1.Service
		find(objs, "Service", "ephemeraljob-operator-webhook-service", &webhookSvc)
		Expect(webhookSvc.Spec.Ports).To(HaveLen(1))
		Expect(ports.Has(webhookSvc.Spec.Ports[0].TargetPort.IntVal)).To(BeTrue(),
			"the webhook Service targets a port the manager serves")
	})

	It("grants no right to read pods' logs and fetches no output", func() {
		Expect(podLogGrants(objs)).To(BeEmpty())
		var deploy appsv1.Deployment
		find(objs, "Deployment", "ephemeraljob-operator-controller-manager", &deploy)
		for _, arg := range deploy.Spec.Template.Spec.Containers[0].Args {
			Expect(arg).NotTo(HavePrefix("--record-output-bytes"))
		}
	})

	It("registers the validating webhook for create and update, failing closed, with cert-manager's CA", func() {
		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		find(objs, "ValidatingWebhookConfiguration", "ephemeraljob-operator-validating-webhook-configuration", &vwc)
		Expect(vwc.Annotations).To(HaveKeyWithValue("cert-manager.io/inject-ca-from",
			namespace+"/ephemeraljob-operator-serving-cert"))
		Expect(vwc.Webhooks).To(HaveLen(1))
		wh := vwc.Webhooks[0]
		Expect(wh.FailurePolicy).To(HaveValue(Equal(admissionregistrationv1.Fail)))
		Expect(wh.SideEffects).To(HaveValue(Equal(admissionregistrationv1.SideEffectClassNone)))
		Expect(wh.TimeoutSeconds).To(HaveValue(BeNumerically("<=", 10)))
		Expect(wh.ClientConfig.Service.Name).To(Equal("ephemeraljob-operator-webhook-service"))
		Expect(wh.ClientConfig.Service.Namespace).To(Equal(namespace))
		Expect(wh.Rules).To(HaveLen(1))
		Expect(wh.Rules[0].Operations).To(ConsistOf(
			admissionregistrationv1.Create, admissionregistrationv1.Update))
		Expect(wh.Rules[0].Resources).To(ConsistOf("ephemeraljobs"))
	})

	It("is accepted by a real kube-apiserver (everything but cert-manager's objects)", func(ctx context.Context) {
		var plain []*unstructured.Unstructured
		for _, o := range objs {
			if o.GetObjectKind().GroupVersionKind().Group != certManager {
				plain = append(plain, o)
			}
		}
		applyServerSide(plain)

		var crd apiextensionsv1.CustomResourceDefinition
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "ephemeraljobs.apps.kruise.io"}, &crd)).To(Succeed())
			established := false
			for _, c := range crd.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					established = true
				}
			}
			g.Expect(established).To(BeTrue(), "the CRD is established")
		}).Should(Succeed())

		var deploy appsv1.Deployment
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "ephemeraljob-operator-controller-manager"},
			&deploy)).To(Succeed())
		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "ephemeraljob-operator-validating-webhook-configuration"},
			&vwc)).To(Succeed())

		// Applying the same manifests again changes nothing and conflicts with nothing.
		applyServerSide(plain)
	})
})

var _ = Describe("config/mysql", func() {
	It("adds the recorder, fed by the seed's Secret, and applies", func() {
		objs := render("mysql")

		var secret corev1.Secret
		find(objs, "Secret", "ephemeraljob-operator-mysql-config", &secret)
		Expect(secret.Namespace).To(Equal(namespace))
		Expect(secret.StringData).To(HaveKey("host"))
		Expect(secret.StringData).To(HaveKey("dbName"))
		Expect(secret.StringData).To(HaveKey("user"))
		Expect(secret.StringData).To(HaveKey("password"))
		Expect(secret.StringData).To(HaveKey("port"))

		var deploy appsv1.Deployment
		find(objs, "Deployment", "ephemeraljob-operator-controller-manager", &deploy)
		c := deploy.Spec.Template.Spec.Containers[0]
		Expect(c.Args).To(ContainElement("--meta-storage=mysql"))
		fromSecret := map[string]string{}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				Expect(e.ValueFrom.SecretKeyRef.Name).To(Equal(secret.Name))
				fromSecret[e.Name] = e.ValueFrom.SecretKeyRef.Key
			}
		}
		Expect(fromSecret).To(Equal(map[string]string{
			"MYSQL_HOST": "host", "MYSQL_DB_NAME": "dbName", "MYSQL_USER": "user",
			"MYSQL_PASSWORD": "password", "MYSQL_PORT": "port", "MYSQL_TLS": "tls",
		}))
		// A MySQL outage must not take the webhook out of service.
		Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz?exclude=mysql"))

		var plain []*unstructured.Unstructured
		for _, o := range objs {
			if o.GetObjectKind().GroupVersionKind().Group != certManager {
				plain = append(plain, o)
			}
		}
		applyServerSide(plain)
	})
})

var _ = Describe("config/components/record-output", func() {
	It("turns output fetching on and grants the manager, and only it, the right to read pods' logs", func(ctx context.Context) {
		objs := renderPath(filepath.Join(withComponentEnabled("components:", "- ../components/record-output"), "mysql"))

		Expect(podLogGrants(objs)).To(ConsistOf("ClusterRole ephemeraljob-operator-manager-pod-log-role"))
		var binding rbacv1.ClusterRoleBinding
		find(objs, "ClusterRoleBinding", "ephemeraljob-operator-manager-pod-log-rolebinding", &binding)
		Expect(binding.RoleRef.Name).To(Equal("ephemeraljob-operator-manager-pod-log-role"))
		Expect(binding.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount",
			Name: "ephemeraljob-operator-controller-manager", Namespace: namespace}))

		var deploy appsv1.Deployment
		find(objs, "Deployment", "ephemeraljob-operator-controller-manager", &deploy)
		Expect(deploy.Spec.Template.Spec.ServiceAccountName).To(Equal("ephemeraljob-operator-controller-manager"))
		Expect(deploy.Spec.Template.Spec.Containers[0].Args).To(ContainElements(
			"--meta-storage=mysql", "--record-output-bytes=65536"))

		var plain []*unstructured.Unstructured
		for _, o := range objs {
			if o.GetObjectKind().GroupVersionKind().Group != certManager {
				plain = append(plain, o)
			}
		}
		applyServerSide(plain)
		// The API server lets the manager's ServiceAccount read pods' logs, and nothing more than before.
		for verb, allowed := range map[string]bool{"get": true, "list": false} {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: "system:serviceaccount:" + namespace + ":ephemeraljob-operator-controller-manager",
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: "default", Verb: verb, Resource: "pods", Subresource: "log"},
			}}
			Expect(k8sClient.Create(ctx, sar)).To(Succeed())
			Expect(sar.Status.Allowed).To(Equal(allowed), "%s pods/log", verb)
		}
	})
})
