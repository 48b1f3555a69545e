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

package webhookcert

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/manager"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/webhookcert"
)

// startOldReplica serves a webhook that admits everything on a local port, with a
// certificate for localhost that a CA of its own signed, as a replica of the install before
// did with the certificate cert-manager issued into a mounted Secret. It returns the port and
// the CA, PEM.
func startOldReplica(ctx context.Context) (port int, caPEM []byte) {
	GinkgoHelper()
	certs := &rotator.CertRotator{CAName: "cert-manager-stand-in", CAOrganization: "old install",
		DNSName: "localhost", ExtKeyUsages: &[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	now := time.Now()
	ca, err := certs.CreateCACert(now.Add(-time.Hour), now.Add(24*time.Hour))
	Expect(err).NotTo(HaveOccurred())
	cert, key, err := certs.CreateCertPEM(ca, now.Add(-time.Hour), now.Add(24*time.Hour))
	Expect(err).NotTo(HaveOccurred())
	dir := GinkgoT().TempDir()
	Expect(os.WriteFile(filepath.Join(dir, "tls.crt"), cert, 0o600)).To(Succeed())
	Expect(os.WriteFile(filepath.Join(dir, "tls.key"), key, 0o600)).To(Succeed())

	port = freePort()
	server := webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: port, CertDir: dir})
	server.Register("/validate-old", &admission.Webhook{Handler: admission.HandlerFunc(
		func(context.Context, admission.Request) admission.Response { return admission.Allowed("") })})
	serverCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- server.Start(serverCtx) }()
	DeferCleanup(func() { stop(); Expect(<-done).To(Succeed()) })
	Eventually(func() error { return server.StartedChecker()(nil) }).Should(Succeed())
	return port, ca.CertPEM
}

var _ = Describe("an upgrade from the install whose webhook certificate cert-manager issued", func() {
	It("has a new replica issue the first certificate while the old leader holds the lease, "+
		"the caBundle trusting both, and the new replica lead once the lease is released", func(ctx SpecContext) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "webhookcert-upgrade"}}
		Expect(admin.Create(ctx, ns)).To(Succeed())
		managerCfg := grantManagerRoles(ctx, ns.Name)
		// The new install's Secret, empty; the old one, which cert-manager wrote, has another name.
		Expect(admin.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: secretName}})).
			To(Succeed())
		versions := recordVersions(ctx, ns.Name)

		// The old replica serves a certificate of its CA, which cert-manager's CA injector put
		// into the caBundle; the new install's apply keeps the caBundle and drops the injector's
		// annotation. A second webhook calls the old replica, so that every admission request
		// is answered only if the caBundle trusts both the old and the new replicas.
		oldPort, oldCA := startOldReplica(ctx)
		newPort := freePort()
		vwc := webhookConfiguration(newPort)
		old := *vwc.Webhooks[0].DeepCopy()
		old.Name = "old." + old.Name
		old.ClientConfig.URL = new(fmt.Sprintf("https://localhost:%d/validate-old", oldPort))
		vwc.Webhooks = append(vwc.Webhooks, old)
		for i := range vwc.Webhooks {
			vwc.Webhooks[i].ClientConfig.CABundle = oldCA
		}
		Expect(admin.Create(ctx, vwc)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(admin.Delete(ctx, vwc)).To(Succeed()) })

		// The old leader holds the lease (the same lease ID), for longer than the spec takes.
		now := metav1.NewMicroTime(time.Now())
		lease := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: manager.LeaderElectionID},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: new("old-leader"), LeaseDurationSeconds: new(int32(3600)),
				AcquireTime: &now, RenewTime: &now},
		}
		Expect(admin.Create(ctx, lease)).To(Succeed())

		// Two new replicas, the first called by the configuration; neither leads.
		o := webhookcert.Options{
			Namespace: ns.Name, SecretName: secretName, ServiceName: serviceName,
			WebhookConfigurationName: configurationName, ExtraDNSNames: []string{"localhost"},
		}
		a := startReplicaOnPort("new-a", newPort, managerCfg, o)
		DeferCleanup(func() { a.stop(); Expect(<-a.done).To(Succeed()) })
		b := startReplica("new-b", managerCfg, o)
		DeferCleanup(func() { b.stop(); Expect(<-b.done).To(Succeed()) })
		replicas := []*replica{a, b}

		for _, r := range replicas {
			Eventually(r.ready).Should(Succeed(), r.name)
			Expect(r.mgr.Elected()).NotTo(BeClosed(), "%s leads while the old leader holds the lease", r.name)
		}

		// Both replicas serve the one certificate of the Secret; the caBundle of each webhook
		// trusts it and the old replica's.
		var secret corev1.Secret
		Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: secretName}, &secret)).To(Succeed())
		issued := parseCerts(secret.Data[webhookcert.CertKey])[0]
		Expect(admin.Get(ctx, client.ObjectKeyFromObject(vwc), vwc)).To(Succeed())
		for _, w := range vwc.Webhooks {
			roots := x509.NewCertPool()
			for _, c := range parseCerts(w.ClientConfig.CABundle) {
				roots.AddCert(c)
			}
			for name, port := range map[string]int{a.name: a.port, b.name: b.port, "the old replica": oldPort} {
				leaf, err := servedAt(port)
				Expect(err).NotTo(HaveOccurred())
				if name != "the old replica" {
					Expect(leaf.Equal(issued)).To(BeTrue(), "%s serves the Secret's certificate", name)
				}
				_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "localhost"})
				Expect(err).NotTo(HaveOccurred(), "the caBundle of %s trusts what %s serves", w.Name, name)
			}
		}
		// The API server agrees: both webhooks answer, the new replica with its validation.
		valid := testutil.MakeEphemeralJob("upgrade", ns.Name, "web").Obj()
		Expect(admin.Create(ctx, valid, client.DryRunAll)).To(Succeed())
		invalid := testutil.MakeEphemeralJob("upgrade", ns.Name, "web").Obj()
		invalid.Spec.Template.EphemeralContainers[0].Image = " busybox:latest"
		Expect(admin.Create(ctx, invalid, client.DryRunAll)).To(MatchError(ContainSubstring("denied the request")))

		// The rollout goes on: the old leader releases the lease, and a new replica takes it.
		Expect(admin.Get(ctx, client.ObjectKeyFromObject(lease), lease)).To(Succeed())
		lease.Spec.HolderIdentity = new("")
		lease.Spec.LeaseDurationSeconds = new(int32(1))
		Expect(admin.Update(ctx, lease)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(admin.Get(ctx, client.ObjectKeyFromObject(lease), lease)).To(Succeed())
			g.Expect(lease.Spec.HolderIdentity).To(HaveValue(BeElementOf(a.name, b.name)))
		}).Should(Succeed())
		for _, r := range replicas {
			if r.name == *lease.Spec.HolderIdentity {
				Eventually(r.mgr.Elected()).Should(BeClosed())
			}
		}

		// The two replicas raced on the empty Secret: one CA and one serving certificate were
		// written, never another.
		caKeys, certs := sets.New[string](), sets.New[string]()
		for _, v := range versions() {
			if len(v.caKey) > 0 {
				caKeys.Insert(string(v.caKey))
			}
			if len(v.cert) > 0 {
				certs.Insert(string(v.cert))
			}
		}
		Expect(caKeys.Len()).To(Equal(1), "CAs written into the Secret")
		Expect(certs.Len()).To(Equal(1), "serving certificates written into the Secret")
	})
})
