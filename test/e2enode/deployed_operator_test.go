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

package e2enode

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/manager"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

// The names dist/install.yaml gives the deployed operator's objects.
const (
	operatorNamespace  = "ephemeraljob-operator-system"
	operatorDeployment = "ephemeraljob-operator-controller-manager"
	operatorWebhookSvc = "ephemeraljob-operator-webhook-service"
	// operatorWebhookSecret is the Secret the install creates empty and the manager fills
	// with its webhook's CA and serving certificate (--webhook-cert-management=self).
	operatorWebhookSecret = "ephemeraljob-operator-webhook-server-cert"
)

// renderOperator renders the committed dist/install.yaml with the manager's image set to
// image, as `make build-installer IMG=image` does: a kustomization over the file that
// `kustomize edit set image controller=image` would write, built by `kubectl kustomize`
// into a temporary directory. dist/install.yaml itself is left as committed.
func renderOperator(image string) []*unstructured.Unstructured {
	GinkgoHelper()
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	Expect(colon).To(BeNumerically(">", slash), "the operator's image %q must have a tag", image)
	name, tag := image[:colon], image[colon+1:]

	dir := GinkgoT().TempDir()
	manifest, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "dist", "install.yaml"))
	Expect(err).NotTo(HaveOccurred())
	Expect(os.WriteFile(filepath.Join(dir, "install.yaml"), manifest, 0o600)).To(Succeed())
	kustomization := "resources:\n- install.yaml\nimages:\n- name: controller\n  newName: " + name +
		"\n  newTag: " + tag + "\n"
	Expect(os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kustomization), 0o600)).To(Succeed())
	return decodeObjects(runKubectl("kustomize", dir))
}

// decodeObjects decodes a stream of YAML documents, skipping empty ones.
func decodeObjects(manifest string) []*unstructured.Unstructured {
	GinkgoHelper()
	objs, err := testutil.DecodeObjects([]byte(manifest))
	Expect(err).NotTo(HaveOccurred())
	return objs
}

// deployedOperator is the operator running as a Deployment of the cluster.
type deployedOperator struct {
	namespace  string
	deployment string
	selector   labels.Selector
	// webhookConfig names the ValidatingWebhookConfiguration, webhook its first webhook.
	webhookConfig, webhook string
}

// deployOperator applies the rendered objects as they are, as `kubectl apply
// --server-side` would, and waits until the Deployment is available: the manager makes
// its webhook's certificate itself. The cleanup deletes what it applied but the CRD and
// waits until the pods are gone.
func deployOperator(ctx context.Context, objs []*unstructured.Unstructured) *deployedOperator {
	GinkgoHelper()
	op := &deployedOperator{}
	var err error
	var buf bytes.Buffer
	for _, o := range objs {
		switch o.GetKind() {
		case "Deployment":
			var d appsv1.Deployment
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d)).To(Succeed())
			op.namespace, op.deployment = d.Namespace, d.Name
			op.selector, err = metav1.LabelSelectorAsSelector(d.Spec.Selector)
			Expect(err).NotTo(HaveOccurred())
		case "ValidatingWebhookConfiguration":
			var vwc admissionregistrationv1.ValidatingWebhookConfiguration
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &vwc)).To(Succeed())
			Expect(vwc.Webhooks).NotTo(BeEmpty())
			for _, w := range vwc.Webhooks {
				Expect(w.ClientConfig.Service).NotTo(BeNil(), "webhook %s", w.Name)
				Expect(w.ClientConfig.CABundle).To(BeEmpty(), "the install leaves caBundle to the manager (%s)", w.Name)
			}
			op.webhookConfig, op.webhook = vwc.Name, vwc.Webhooks[0].Name
		case "Secret":
			if o.GetName() == operatorWebhookSecret {
				_, found := o.Object["data"]
				Expect(found).To(BeFalse(), "the install's webhook Secret must be empty")
			}
		}
		data, err := yaml.Marshal(o.Object)
		Expect(err).NotTo(HaveOccurred())
		buf.WriteString("---\n")
		buf.Write(data)
	}
	Expect(op.deployment).To(Equal(operatorDeployment))
	Expect(op.namespace).To(Equal(operatorNamespace))
	Expect(op.webhookConfig).NotTo(BeEmpty())

	file := filepath.Join(GinkgoT().TempDir(), "operator.yaml")
	Expect(os.WriteFile(file, buf.Bytes(), 0o600)).To(Succeed())
	runKubectl("apply", "--server-side", "--field-manager=e2e-node", "-f", file)
	DeferCleanup(func(ctx SpecContext) {
		op.saveLogs(ctx)
		// The CRD stays: other runs of the suite on this cluster install it themselves.
		runKubectl("delete", "--ignore-not-found", "--wait=true", "--timeout=2m", "-n", operatorNamespace,
			"deployment/"+operatorDeployment)
		runKubectl("delete", "--ignore-not-found", "--wait=true", "--timeout=2m",
			"validatingwebhookconfiguration/"+op.webhookConfig, "namespace/"+operatorNamespace)
	})
	op.waitAvailable(ctx)
	return op
}

// waitAvailable waits until the Deployment has rolled out and every replica is available.
func (o *deployedOperator) waitAvailable(ctx context.Context) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		var d appsv1.Deployment
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: o.namespace, Name: o.deployment}, &d)).To(Succeed())
		g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
		g.Expect(d.Status.UpdatedReplicas).To(Equal(*d.Spec.Replicas), "status: %+v", d.Status)
		g.Expect(d.Status.Replicas).To(Equal(*d.Spec.Replicas), "status: %+v", d.Status)
		g.Expect(d.Status.AvailableReplicas).To(Equal(*d.Spec.Replicas), "status: %+v", d.Status)
	}).WithTimeout(3*time.Minute).Should(Succeed(), "the operator's Deployment must become available")
}

// enableMySQL turns the MySQL recorder on the way the README tells users to: in a copy
// of config/, the image set in config/manager as `make deploy IMG=image` sets it, the
// component config/components/record-output uncommented in config/default, the settings
// written into config/mysql/mysql_secret.yaml, then `kubectl apply -k config/mysql` over
// the install. It waits until the Deployment has rolled out.
func (o *deployedOperator) enableMySQL(ctx context.Context, image string, settings recorder.Config) {
	GinkgoHelper()
	colon := strings.LastIndex(image, ":")
	Expect(colon).To(BeNumerically(">", strings.LastIndex(image, "/")), "the operator's image %q must have a tag", image)
	dir := filepath.Join(GinkgoT().TempDir(), "config")
	Expect(os.CopyFS(dir, os.DirFS(filepath.Join(testutil.RepoRoot(), "config")))).To(Succeed())

	managerKustomization := filepath.Join(dir, "manager", "kustomization.yaml")
	k, err := os.ReadFile(managerKustomization)
	Expect(err).NotTo(HaveOccurred())
	k = append(k, []byte("images:\n- name: controller\n  newName: "+image[:colon]+"\n  newTag: "+image[colon+1:]+"\n")...)
	Expect(os.WriteFile(managerKustomization, k, 0o600)).To(Succeed())

	def := filepath.Join(dir, "default", "kustomization.yaml")
	k, err = os.ReadFile(def)
	Expect(err).NotTo(HaveOccurred())
	commented := "#components:\n#- ../components/record-output\n"
	Expect(string(k)).To(ContainSubstring(commented), "config/default names the record-output component, commented out")
	k = []byte(strings.Replace(string(k), commented, "components:\n- ../components/record-output\n", 1))
	Expect(os.WriteFile(def, k, 0o600)).To(Succeed())

	secretFile := filepath.Join(dir, "mysql", "mysql_secret.yaml")
	k, err = os.ReadFile(secretFile)
	Expect(err).NotTo(HaveOccurred())
	var secret corev1.Secret
	Expect(yaml.Unmarshal(k, &secret)).To(Succeed())
	Expect(secret.StringData).To(HaveKey("host"), "mysql_secret.yaml holds KubeDL's keys")
	secret.StringData = map[string]string{"host": settings.Host, "port": strconv.Itoa(settings.Port),
		"dbName": settings.DBName, "user": settings.User, "password": settings.Password}
	k, err = yaml.Marshal(&secret)
	Expect(err).NotTo(HaveOccurred())
	Expect(os.WriteFile(secretFile, k, 0o600)).To(Succeed())

	// The README says the webhook's certificate and caBundle survive an apply of the
	// manifests, which carry neither.
	caBundle, cert := o.webhookCert(ctx)
	runKubectl("apply", "-k", filepath.Join(dir, "mysql"))
	o.waitAvailable(ctx)
	afterBundle, afterCert := o.webhookCert(ctx)
	Expect(afterBundle).To(Equal(caBundle), "the caBundle after kubectl apply -k config/mysql")
	Expect(afterCert).To(Equal(cert), "the Secret's certificate after kubectl apply -k config/mysql")
	Eventually(func(g Gomega) {
		for _, p := range o.pods(ctx) {
			g.Expect(p.DeletionTimestamp).To(BeNil(), "pod %s", p.Name)
			g.Expect(p.Spec.Containers[0].Args).To(ContainElements("--meta-storage=mysql", "--record-output-bytes=65536"),
				"pod %s", p.Name)
		}
	}).Should(Succeed())
}

// webhookCert returns the webhook configuration's caBundle and the serving certificate in
// the webhook's Secret, once the manager has written both.
func (o *deployedOperator) webhookCert(ctx context.Context) (caBundle, cert []byte) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		g.Expect(k8s.Get(ctx, client.ObjectKey{Name: o.webhookConfig}, &vwc)).To(Succeed())
		var secret corev1.Secret
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: o.namespace, Name: operatorWebhookSecret}, &secret)).
			To(Succeed())
		caBundle, cert = vwc.Webhooks[0].ClientConfig.CABundle, secret.Data[corev1.TLSCertKey]
		g.Expect(caBundle).NotTo(BeEmpty())
		g.Expect(cert).NotTo(BeEmpty())
	}).Should(Succeed())
	return caBundle, cert
}

// nodeIP returns the node's InternalIP address.
func nodeIP(ctx context.Context) string {
	GinkgoHelper()
	var node corev1.Node
	Expect(k8s.Get(ctx, client.ObjectKey{Name: mustEnv(envNodeName)}, &node)).To(Succeed())
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	Fail(fmt.Sprintf("node %s has no InternalIP: %+v", node.Name, node.Status.Addresses))
	return ""
}

// pods returns the operator's pods.
func (o *deployedOperator) pods(ctx context.Context) []corev1.Pod {
	GinkgoHelper()
	var list corev1.PodList
	Expect(k8s.List(ctx, &list, client.InNamespace(o.namespace), client.MatchingLabelsSelector{Selector: o.selector})).
		To(Succeed())
	return list.Items
}

// saveLogs writes each pod's log to E2E_NODE_LOG_DIR as operator-POD.log.
func (o *deployedOperator) saveLogs(ctx context.Context) {
	dir := os.Getenv(envLogDir)
	if dir == "" {
		return
	}
	for _, p := range o.pods(ctx) {
		out, err := kubectlOutput("logs", "-n", o.namespace, p.Name, "--all-containers", "--timestamps")
		if err != nil {
			out += "\n" + err.Error()
		}
		if err := os.WriteFile(filepath.Join(dir, "operator-"+p.Name+".log"), []byte(out), 0o644); err != nil {
			GinkgoWriter.Printf("saving the log of %s: %v\n", p.Name, err)
		}
	}
}

// leader returns the name of the pod that holds the leader election lease, "" when none does.
func (o *deployedOperator) leader(ctx context.Context) string {
	GinkgoHelper()
	var lease coordinationv1.Lease
	err := k8s.Get(ctx, client.ObjectKey{Namespace: o.namespace, Name: manager.LeaderElectionID}, &lease)
	if client.IgnoreNotFound(err) != nil {
		Expect(err).NotTo(HaveOccurred())
	}
	if err != nil || lease.Spec.HolderIdentity == nil {
		return ""
	}
	// controller-runtime's identity is the pod's hostname, its name, then _ and a UUID.
	holder, _, _ := strings.Cut(*lease.Spec.HolderIdentity, "_")
	return holder
}
