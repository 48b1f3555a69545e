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
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

var _ = Describe("The operator deployed as pods", func() {
	It("runs two ready replicas, one leading; its webhook answers through its Service and its controller runs a job", func(ctx SpecContext) {
		By("both pods Running and Ready, from the image built by make image-oci")
		var pods []corev1.Pod
		Eventually(func(g Gomega) {
			pods = operator.pods(ctx)
			g.Expect(pods).To(HaveLen(2))
			for _, p := range pods {
				g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning), "pod %s", p.Name)
				g.Expect(isReady(&p)).To(BeTrue(), "pod %s: %+v", p.Name, p.Status.Conditions)
				// The install names no pull policy; the tagged image defaults to IfNotPresent, which the imported image satisfies.
				g.Expect(p.Spec.Containers[0].ImagePullPolicy).To(Equal(corev1.PullIfNotPresent))
				g.Expect(p.Status.ContainerStatuses).To(HaveLen(1))
				g.Expect(p.Status.ContainerStatuses[0].Image).To(HaveSuffix(mustEnv(envOperatorImage)))
				g.Expect(p.Status.PodIP).NotTo(BeEmpty())
			}
		}).Should(Succeed())
		// The ServiceAccount admission plugin gave each pod a projected token and the CA that
		// kube-controller-manager publishes: what the in-cluster client reads.
		for _, p := range pods {
			Expect(projectedAPIAccess(&p)).To(ConsistOf("serviceAccountToken", "configMap kube-root-ca.crt", "downwardAPI"),
				"pod %s", p.Name)
		}

		By("one of them holding the leader election lease")
		names := []string{pods[0].Name, pods[1].Name}
		Eventually(func() string { return operator.leader(ctx) }).Should(BeElementOf(names))

		By("the webhook's Service sending to both pods")
		Eventually(func(g Gomega) {
			var slices discoveryv1.EndpointSliceList
			g.Expect(k8s.List(ctx, &slices, client.InNamespace(operator.namespace),
				client.MatchingLabels{discoveryv1.LabelServiceName: operatorWebhookSvc})).To(Succeed())
			var ready []string
			for _, s := range slices.Items {
				for _, e := range s.Endpoints {
					if e.Conditions.Ready != nil && *e.Conditions.Ready {
						ready = append(ready, e.Addresses...)
					}
				}
			}
			g.Expect(ready).To(ConsistOf(pods[0].Status.PodIP, pods[1].Status.PodIP))
		}).Should(Succeed())

		By("the webhook configuration naming the Service")
		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		Expect(k8s.Get(ctx, client.ObjectKey{Name: operator.webhookConfig}, &vwc)).To(Succeed())
		Expect(vwc.Webhooks[0].ClientConfig.URL).To(BeNil())
		Expect(vwc.Webhooks[0].ClientConfig.Service).NotTo(BeNil())
		Expect(vwc.Webhooks[0].ClientConfig.Service.Name).To(Equal(operatorWebhookSvc))
		By("the caBundle filled by the manager, with the CA that signed the Secret's certificate for the Service")
		Expect(vwc.Webhooks[0].ClientConfig.CABundle).NotTo(BeEmpty())
		var secret corev1.Secret
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: operator.namespace, Name: operatorWebhookSecret}, &secret)).
			To(Succeed())
		Expect(verifyServing(secret.Data[corev1.TLSCertKey], vwc.Webhooks[0].ClientConfig.CABundle,
			operatorWebhookSvc+"."+operator.namespace+".svc")).To(Succeed())

		By("the API server calling the webhook through its Service: a job without targetContainerName is refused")
		ns := testNamespace(ctx)
		// A job without targetContainerName passes the CRD's schema; only the webhook refuses it.
		bad := testutil.MakeEphemeralJob("bad", ns, "pods").Container("probe", "").Obj()
		err := k8s.Create(ctx, bad)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring(`admission webhook "` + operator.webhook + `" denied the request`))
		Expect(err.Error()).To(ContainSubstring("targetContainerName"))

		By("a job running to Succeeded through the deployed controller")
		Expect(k8s.Create(ctx, busyboxPod("target", ns, "pods"))).To(Succeed())
		waitRunningPods(ctx, ns, "app=pods", 1)
		job := testutil.MakeEphemeralJob("hello", ns, "pods").Obj()
		job.Spec.Template.EphemeralContainers[0].Command = []string{"echo", "hello from a real node"}
		Expect(k8s.Create(ctx, job)).To(Succeed())
		job = waitFinished(ctx, ns, "hello")
		Expect(job.Status.Phase).To(Equal(appsv1alpha1.EphemeralJobSucceeded))
		Expect(job.Status.Match).To(Equal(int32(1)))
		Expect(job.Status.Succeeded).To(Equal(int32(1)))
		var target corev1.Pod
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "target"}, &target)).To(Succeed())
		st := ephemeralStatus(&target, "check")
		Expect(st).NotTo(BeNil())
		Expect(st.State.Terminated).NotTo(BeNil())
		Expect(st.State.Terminated.ExitCode).To(BeZero())
	})
})

// verifyServing checks that the PEM certificate certPEM is valid for dnsName and chains
// to one of the PEM certificates of bundle.
func verifyServing(certPEM, bundle []byte, dnsName string) error {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("parsing the certificate: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundle) {
		return errors.New("no certificate in the bundle")
	}
	_, err = cert.Verify(x509.VerifyOptions{DNSName: dnsName, Roots: roots})
	return err
}

// projectedAPIAccess lists the sources of the pod's projected kube-api-access volume.
func projectedAPIAccess(pod *corev1.Pod) []string {
	var sources []string
	for _, v := range pod.Spec.Volumes {
		if !strings.HasPrefix(v.Name, "kube-api-access-") || v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			switch {
			case s.ServiceAccountToken != nil:
				sources = append(sources, "serviceAccountToken")
			case s.ConfigMap != nil:
				sources = append(sources, "configMap "+s.ConfigMap.Name)
			case s.DownwardAPI != nil:
				sources = append(sources, "downwardAPI")
			}
		}
	}
	return sources
}

// isReady reports whether the pod's Ready condition is True.
func isReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
