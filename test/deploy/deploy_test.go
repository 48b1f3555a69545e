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
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/webhookcert"
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
	return decode(kustomize(dir))
}

// kustomize runs `kubectl kustomize` on a directory and returns its output.
func kustomize(dir string) []byte {
	GinkgoHelper()
	kubectl := filepath.Join(testutil.AssetsDir(), "kubectl")
	out, err := exec.Command(kubectl, "kustomize", dir).Output()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		Fail("kubectl kustomize " + dir + ": " + string(exitErr.Stderr))
	}
	Expect(err).NotTo(HaveOccurred())
	return out
}

// decode splits a stream of YAML documents into objects.
func decode(out []byte) []*unstructured.Unstructured {
	GinkgoHelper()
	objs, err := testutil.DecodeObjects(out)
	Expect(err).NotTo(HaveOccurred())
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
	kubectlApply(file, "--server-side", "--field-manager=deploy-test")
}

// kubectlApply runs `kubectl apply -f file` with the given flags, as a user would.
func kubectlApply(file string, flags ...string) {
	GinkgoHelper()
	args := append([]string{"--kubeconfig", kubeconfig, "apply", "-f", file}, flags...)
	out, err := exec.Command(filepath.Join(testutil.AssetsDir(), "kubectl"), args...).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "kubectl apply %v:\n%s", flags, out)
}

// withoutCertManager returns the objects that are not cert-manager's, which an API server
// without cert-manager's CRDs refuses.
func withoutCertManager(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	var plain []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetObjectKind().GroupVersionKind().Group != certManager {
			plain = append(plain, o)
		}
	}
	return plain
}

// allowed asks the API server whether the manager's ServiceAccount may act on a resource.
func allowed(ctx context.Context, attrs authorizationv1.ResourceAttributes) bool {
	GinkgoHelper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               "system:serviceaccount:" + namespace + ":ephemeraljob-operator-controller-manager",
		ResourceAttributes: &attrs,
	}}
	Expect(k8sClient.Create(ctx, sar)).To(Succeed())
	return sar.Status.Allowed
}

// installFile is the manifest a user applies: config/default, rendered by `make build-installer`.
var installFile = filepath.Join(testutil.RepoRoot(), "dist", "install.yaml")

var _ = Describe("dist/install.yaml", Ordered, func() {
	var objs []*unstructured.Unstructured

	BeforeAll(func() {
		data, err := os.ReadFile(installFile)
		Expect(err).NotTo(HaveOccurred(), "run 'make build-installer'")
		objs = decode(data)
	})

	It("is config/default as rendered now", func() {
		data, err := os.ReadFile(installFile)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(data)).To(Equal(string(kustomize(filepath.Join(testutil.RepoRoot(), "config", "default")))),
			"dist/install.yaml is stale: run 'make build-installer' and commit it")
	})

	It("holds every part of a deployment and nothing of cert-manager", func() {
		kinds := sets.New[string]()
		for _, o := range objs {
			kinds.Insert(o.GetKind())
			if o.GetKind() != "Namespace" && o.GetObjectKind().GroupVersionKind().Group != "apiextensions.k8s.io" &&
				!strings.HasPrefix(o.GetKind(), "Cluster") && o.GetKind() != "ValidatingWebhookConfiguration" {
				Expect(o.GetNamespace()).To(Equal(namespace), "%s %s", o.GetKind(), o.GetName())
			}
			Expect(o.GetObjectKind().GroupVersionKind().Group).NotTo(Equal(certManager), "%s %s", o.GetKind(), o.GetName())
			for k := range o.GetAnnotations() {
				Expect(k).NotTo(HavePrefix(certManager), "%s %s", o.GetKind(), o.GetName())
			}
		}
		Expect(sets.List(kinds)).To(ContainElements(
			"Namespace", "CustomResourceDefinition", "ServiceAccount", "Role", "RoleBinding",
			"ClusterRole", "ClusterRoleBinding", "Deployment", "Service", "Secret",
			"ValidatingWebhookConfiguration", "PodDisruptionBudget"))
		Expect(kinds.Has("Certificate")).To(BeFalse())
		Expect(kinds.Has("Issuer")).To(BeFalse())
	})

	It("runs the manager safely, with probes, requests and limits, leader election and its own webhook certificate",
		func() {
			var deploy appsv1.Deployment
			find(objs, "Deployment", "ephemeraljob-operator-controller-manager", &deploy)
			pod := deploy.Spec.Template.Spec
			Expect(pod.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
			Expect(pod.SecurityContext.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
			Expect(pod.ServiceAccountName).To(Equal("ephemeraljob-operator-controller-manager"))
			Expect(pod.Containers).To(HaveLen(1))

			c := pod.Containers[0]
			Expect(c.Image).To(Equal("controller:latest"), "dist/install.yaml is rendered with the default IMG")
			Expect(c.SecurityContext.AllowPrivilegeEscalation).To(HaveValue(BeFalse()))
			Expect(c.SecurityContext.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
			Expect(c.SecurityContext.Capabilities.Drop).To(ContainElement(corev1.Capability("ALL")))
			Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
			Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				Expect(c.Resources.Requests).To(HaveKey(r))
				Expect(c.Resources.Limits).To(HaveKey(r))
			}
			Expect(c.Args).To(ContainElements("--leader-elect", "--metrics-bind-address=:8443",
				"--webhook-cert-management=self"))
			// The certificates are served from memory: no file to mount, none to write.
			for _, arg := range c.Args {
				Expect(arg).NotTo(HavePrefix("--webhook-cert-path"))
				Expect(arg).NotTo(HavePrefix("--metrics-cert-path"))
			}
			Expect(pod.Volumes).To(BeEmpty())
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

	It("names the Secret, Service and webhook configuration as the manager's defaults do, and routes the Services",
		func() {
			var deploy appsv1.Deployment
			find(objs, "Deployment", "ephemeraljob-operator-controller-manager", &deploy)
			podLabels := deploy.Spec.Template.Labels
			ports := sets.New[int32]()
			for _, p := range deploy.Spec.Template.Spec.Containers[0].Ports {
				ports.Insert(p.ContainerPort)
			}
			for _, name := range []string{webhookcert.DefaultServiceName,
				"ephemeraljob-operator-controller-manager-metrics-service"} {
				var svc corev1.Service
				find(objs, "Service", name, &svc)
				for k, v := range svc.Spec.Selector {
					Expect(podLabels).To(HaveKeyWithValue(k, v), "Service %s selects the manager's pods", name)
				}
			}
			var webhookSvc corev1.Service
			find(objs, "Service", webhookcert.DefaultServiceName, &webhookSvc)
			Expect(webhookSvc.Spec.Ports).To(HaveLen(1))
			Expect(ports.Has(webhookSvc.Spec.Ports[0].TargetPort.IntVal)).To(BeTrue(),
				"the webhook Service targets a port the manager serves")

			// The manager updates the Secret, and may not create one: it ships empty.
			var secret corev1.Secret
			find(objs, "Secret", webhookcert.DefaultSecretName, &secret)
			Expect(secret.Namespace).To(Equal(namespace))
			Expect(secret.Data).To(BeEmpty())
			Expect(secret.StringData).To(BeEmpty())
			var vwc admissionregistrationv1.ValidatingWebhookConfiguration
			find(objs, "ValidatingWebhookConfiguration", webhookcert.DefaultWebhookConfigurationName, &vwc)
		})

	It("grants no right to read pods' logs and fetches no output", func() {
		Expect(podLogGrants(objs)).To(BeEmpty())
		var deploy appsv1.Deployment
		find(objs, "Deployment", "ephemeraljob-operator-controller-manager", &deploy)
		for _, arg := range deploy.Spec.Template.Spec.Containers[0].Args {
			Expect(arg).NotTo(HavePrefix("--record-output-bytes"))
		}
	})

	It("registers the validating webhook for create and update, failing closed, its caBundle left to the manager",
		func() {
			var vwc admissionregistrationv1.ValidatingWebhookConfiguration
			find(objs, "ValidatingWebhookConfiguration", webhookcert.DefaultWebhookConfigurationName, &vwc)
			Expect(vwc.Webhooks).To(HaveLen(1))
			wh := vwc.Webhooks[0]
			Expect(wh.ClientConfig.CABundle).To(BeEmpty())
			Expect(wh.FailurePolicy).To(HaveValue(Equal(admissionregistrationv1.Fail)))
			Expect(wh.SideEffects).To(HaveValue(Equal(admissionregistrationv1.SideEffectClassNone)))
			Expect(wh.TimeoutSeconds).To(HaveValue(BeNumerically("<=", 10)))
			Expect(wh.ClientConfig.Service.Name).To(Equal(webhookcert.DefaultServiceName))
			Expect(wh.ClientConfig.Service.Namespace).To(Equal(namespace))
			Expect(wh.Rules).To(HaveLen(1))
			Expect(wh.Rules[0].Operations).To(ConsistOf(
				admissionregistrationv1.Create, admissionregistrationv1.Update))
			Expect(wh.Rules[0].Resources).To(ConsistOf("ephemeraljobs"))
		})

	It("is accepted in full by a real kube-apiserver, and applied again keeps what the manager wrote",
		func(ctx context.Context) {
			kubectlApply(installFile, "--server-side", "--field-manager=deploy-test")

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
			for _, o := range objs {
				got := &unstructured.Unstructured{}
				got.SetGroupVersionKind(o.GroupVersionKind())
				Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(o), got)).To(Succeed(), "%s %s", o.GetKind(), o.GetName())
			}

			// The manager writes the certificate and the caBundle, under its field manager.
			secret := &corev1.Secret{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: namespace, Name: webhookcert.DefaultSecretName},
				secret)).To(Succeed())
			patch := client.MergeFrom(secret.DeepCopy())
			secret.Data = map[string][]byte{webhookcert.CertKey: []byte("cert"), webhookcert.KeyKey: []byte("key")}
			Expect(k8sClient.Patch(ctx, secret, patch, client.FieldOwner("ephemeraljob-operator"))).To(Succeed())
			vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Name: webhookcert.DefaultWebhookConfigurationName}, vwc)).To(Succeed())
			vwcPatch := client.MergeFrom(vwc.DeepCopy())
			vwc.Webhooks[0].ClientConfig.CABundle = []byte("bundle")
			Expect(k8sClient.Patch(ctx, vwc, vwcPatch, client.FieldOwner("ephemeraljob-operator"))).To(Succeed())

			// Applying the same manifests again, as an upgrade does, server-side or not, changes
			// nothing, conflicts with nothing, and keeps what the manager wrote.
			kubectlApply(installFile, "--server-side", "--field-manager=deploy-test")
			kubectlApply(installFile)
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(secret), secret)).To(Succeed())
			Expect(secret.Data).To(HaveKeyWithValue(webhookcert.CertKey, []byte("cert")))
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vwc), vwc)).To(Succeed())
			Expect(vwc.Webhooks[0].ClientConfig.CABundle).To(Equal([]byte("bundle")))
		})

	It("lets the manager read and patch its Secret and webhook configuration, and no others", func(ctx context.Context) {
		// After the spec above applied the RBAC.
		secret := func(verb, name string) authorizationv1.ResourceAttributes {
			return authorizationv1.ResourceAttributes{Namespace: namespace, Verb: verb, Resource: "secrets", Name: name}
		}
		vwc := func(verb, name string) authorizationv1.ResourceAttributes {
			return authorizationv1.ResourceAttributes{Verb: verb, Group: "admissionregistration.k8s.io",
				Resource: "validatingwebhookconfigurations", Name: name}
		}
		for _, verb := range []string{"list", "watch", "patch"} {
			Expect(allowed(ctx, secret(verb, webhookcert.DefaultSecretName))).To(BeTrue(), "%s its Secret", verb)
			Expect(allowed(ctx, vwc(verb, webhookcert.DefaultWebhookConfigurationName))).To(BeTrue(),
				"%s its webhook configuration", verb)
			Expect(allowed(ctx, secret(verb, "another"))).To(BeFalse(), "%s another Secret", verb)
			Expect(allowed(ctx, vwc(verb, "another"))).To(BeFalse(), "%s another webhook configuration", verb)
		}
		// Every read goes through the cache, which lists and watches: no get.
		Expect(allowed(ctx, secret("get", webhookcert.DefaultSecretName))).To(BeFalse(), "get its Secret")
		Expect(allowed(ctx, vwc("get", webhookcert.DefaultWebhookConfigurationName))).To(BeFalse(),
			"get its webhook configuration")
		// list and watch are allowed only with the Secret's name as field selector.
		Expect(allowed(ctx, secret("list", ""))).To(BeFalse(), "list every Secret of the namespace")
		Expect(allowed(ctx, secret("create", ""))).To(BeFalse(), "create Secrets")
		Expect(allowed(ctx, vwc("list", ""))).To(BeFalse(), "list every webhook configuration")
		otherNamespace := secret("list", webhookcert.DefaultSecretName)
		otherNamespace.Namespace = "default"
		Expect(allowed(ctx, otherNamespace)).To(BeFalse(), "get a Secret of that name in another namespace")
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

		applyServerSide(objs)
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

		applyServerSide(objs)
		// The API server lets the manager's ServiceAccount read pods' logs, and nothing more than before.
		for verb, want := range map[string]bool{"get": true, "list": false} {
			Expect(allowed(ctx, authorizationv1.ResourceAttributes{
				Namespace: "default", Verb: verb, Resource: "pods", Subresource: "log"})).To(Equal(want), "%s pods/log", verb)
		}
	})
})

var _ = Describe("config/cert-manager", func() {
	It("has cert-manager issue both certificates and inject the CA, and the manager read them", func() {
		objs := render("cert-manager")

		var deploy appsv1.Deployment
		find(objs, "Deployment", "ephemeraljob-operator-controller-manager", &deploy)
		c := deploy.Spec.Template.Spec.Containers[0]
		Expect(c.Args).To(ContainElements(
			"--webhook-cert-management=external",
			"--webhook-cert-path=/tmp/k8s-webhook-server/serving-certs",
			"--metrics-cert-path=/tmp/k8s-metrics-server/metrics-certs"))
		Expect(c.Args).NotTo(ContainElement("--webhook-cert-management=self"))
		secrets := map[string]string{}
		for _, v := range deploy.Spec.Template.Spec.Volumes {
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

		for _, tc := range []struct{ service, certificate, secret string }{
			{webhookcert.DefaultServiceName, "ephemeraljob-operator-serving-cert", "webhook-server-cert"},
			{"ephemeraljob-operator-controller-manager-metrics-service", "ephemeraljob-operator-metrics-certs",
				"metrics-server-cert"},
		} {
			var cert unstructured.Unstructured
			find(objs, "Certificate", tc.certificate, &cert)
			Expect(cert.GetNamespace()).To(Equal(namespace))
			dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
			Expect(dnsNames).To(ContainElement(tc.service + "." + namespace + ".svc"))
			secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
			Expect(secretName).To(Equal(tc.secret))
			issuer, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
			var iss unstructured.Unstructured
			find(objs, "Issuer", issuer, &iss)
			Expect(iss.GetNamespace()).To(Equal(namespace))
		}

		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		find(objs, "ValidatingWebhookConfiguration", webhookcert.DefaultWebhookConfigurationName, &vwc)
		Expect(vwc.Annotations).To(HaveKeyWithValue("cert-manager.io/inject-ca-from",
			namespace+"/ephemeraljob-operator-serving-cert"))

		// Nothing of the self-managed certificate is left: its Secret, the Role to write it, and
		// the ClusterRole's rule on the webhook configuration.
		for _, o := range objs {
			Expect(o.GetKind() == "Secret" && o.GetName() == webhookcert.DefaultSecretName).To(BeFalse())
			Expect(o.GetKind() == "Role" && o.GetName() == "ephemeraljob-operator-manager-role").To(BeFalse())
			Expect(o.GetKind() == "RoleBinding" && o.GetName() == "ephemeraljob-operator-manager-rolebinding").To(BeFalse())
		}
		var role rbacv1.ClusterRole
		find(objs, "ClusterRole", "ephemeraljob-operator-manager-role", &role)
		Expect(role.Rules).NotTo(BeEmpty())
		for _, r := range role.Rules {
			Expect(r.Resources).NotTo(ContainElement("validatingwebhookconfigurations"))
		}
		Expect(role.Rules).To(ContainElement(HaveField("Resources", ContainElement("pods"))),
			"the rest of the ClusterRole is kept")

		applyServerSide(withoutCertManager(objs))
	})
})
