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
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"os"
	"path/filepath"
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
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/manager"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

// The names config/ gives the deployed operator's objects, with the namespace and name
// prefix config/default sets.
const (
	operatorNamespace  = "ephemeraljob-operator-system"
	operatorDeployment = "ephemeraljob-operator-controller-manager"
	operatorWebhookSvc = "ephemeraljob-operator-webhook-service"
	// operatorWebhookSecret is the Secret the webhook's serving certificate is mounted from
	// (config/default/manager_webhook_patch.yaml); the suite writes it.
	operatorWebhookSecret = "webhook-server-cert"
)

// operatorOverlay renders the deployment config/default describes, without the
// certificates cert-manager would issue (the suite writes the webhook's) and without the
// metrics endpoint.
const operatorOverlay = `namespace: ` + operatorNamespace + `
namePrefix: ephemeraljob-operator-
resources:
- ../crd
- ../rbac
- ../manager
- ../webhook
patches:
- path: manager_webhook_patch.yaml
  target:
    kind: Deployment
- target:
    kind: Deployment
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/imagePullPolicy
      value: IfNotPresent
images:
- name: controller
  newName: IMAGE_NAME
  newTag: IMAGE_TAG
`

// renderOperator renders the operator's deployment from config/ with `kubectl kustomize`,
// with its image set to image.
func renderOperator(image string) []*unstructured.Unstructured {
	GinkgoHelper()
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	Expect(colon).To(BeNumerically(">", slash), "the operator's image %q must have a tag", image)
	name, tag := image[:colon], image[colon+1:]

	dir := filepath.Join(GinkgoT().TempDir(), "config")
	Expect(os.CopyFS(dir, os.DirFS(filepath.Join(testutil.RepoRoot(), "config")))).To(Succeed())
	overlay := filepath.Join(dir, "e2e-node")
	Expect(os.Mkdir(overlay, 0o755)).To(Succeed())
	patch, err := os.ReadFile(filepath.Join(dir, "default", "manager_webhook_patch.yaml"))
	Expect(err).NotTo(HaveOccurred())
	Expect(os.WriteFile(filepath.Join(overlay, "manager_webhook_patch.yaml"), patch, 0o600)).To(Succeed())
	kustomization := strings.NewReplacer("IMAGE_NAME", name, "IMAGE_TAG", tag).Replace(operatorOverlay)
	Expect(os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kustomization), 0o600)).To(Succeed())

	out := runKubectl("kustomize", overlay)
	var objs []*unstructured.Unstructured
	decoder := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
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

// deployedOperator is the operator running as a Deployment of the cluster.
type deployedOperator struct {
	namespace  string
	deployment string
	selector   labels.Selector
	// webhookConfig names the ValidatingWebhookConfiguration, webhook its first webhook.
	webhookConfig, webhook string
}

// deployOperator applies the rendered objects, as `kubectl apply --server-side` would,
// with a serving certificate for the webhook's Service in the Secret the Deployment
// mounts and its CA in the webhook configuration, and waits until the Deployment is
// available. The cleanup deletes what it applied and waits until the pods are gone.
func deployOperator(ctx context.Context, objs []*unstructured.Unstructured) *deployedOperator {
	GinkgoHelper()
	dns := operatorWebhookSvc + "." + operatorNamespace + ".svc"
	ca, cert, key := servingCert(dns, dns+".cluster.local")
	secret := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: operatorWebhookSecret, Namespace: operatorNamespace},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: cert, corev1.TLSPrivateKeyKey: key},
	}
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(secret)
	Expect(err).NotTo(HaveOccurred())

	op := &deployedOperator{}
	var out []*unstructured.Unstructured
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
			for i := range vwc.Webhooks {
				Expect(vwc.Webhooks[i].ClientConfig.Service).NotTo(BeNil(), "webhook %s", vwc.Webhooks[i].Name)
				vwc.Webhooks[i].ClientConfig.CABundle = ca
			}
			op.webhookConfig, op.webhook = vwc.Name, vwc.Webhooks[0].Name
			o.Object, err = runtime.DefaultUnstructuredConverter.ToUnstructured(&vwc)
			Expect(err).NotTo(HaveOccurred())
		}
		out = append(out, o)
		// The Secret follows its Namespace, before the Deployment that mounts it.
		if o.GetKind() == "Namespace" && o.GetName() == operatorNamespace {
			out = append(out, &unstructured.Unstructured{Object: raw})
		}
	}
	Expect(op.deployment).To(Equal(operatorDeployment))
	Expect(op.namespace).To(Equal(operatorNamespace))
	Expect(op.webhookConfig).NotTo(BeEmpty())

	var buf bytes.Buffer
	for _, o := range out {
		data, err := yaml.Marshal(o.Object)
		Expect(err).NotTo(HaveOccurred())
		buf.WriteString("---\n")
		buf.Write(data)
	}
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
	Eventually(func(g Gomega) {
		var d appsv1.Deployment
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: op.namespace, Name: op.deployment}, &d)).To(Succeed())
		g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
		g.Expect(d.Status.AvailableReplicas).To(Equal(*d.Spec.Replicas), "status: %+v", d.Status)
	}).WithTimeout(3*time.Minute).Should(Succeed(), "the operator's Deployment must become available")
	return op
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

// servingCert returns a fresh CA's certificate, and a serving certificate for the DNS
// names with its key, signed by that CA; all PEM-encoded.
func servingCert(dnsNames ...string) (caPEM, certPEM, keyPEM []byte) {
	GinkgoHelper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ephemeraljob-e2e-node-webhook-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	Expect(err).NotTo(HaveOccurred())
	caCert, err := x509.ParseCertificate(caDER)
	Expect(err).NotTo(HaveOccurred())

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: dnsNames[0]},
		DNSNames:     dnsNames,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	Expect(err).NotTo(HaveOccurred())
	keyDER, err := x509.MarshalECPrivateKey(key)
	Expect(err).NotTo(HaveOccurred())
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}
