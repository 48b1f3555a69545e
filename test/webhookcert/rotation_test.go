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
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/manager"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/webhookcert"
)

// The names config/rbac's manager-role grants, before config/default's prefix.
const (
	secretName        = "webhook-server-cert"
	configurationName = "validating-webhook-configuration"
	serviceName       = "webhook-service"
)

// newCADelay is how long the managers let a new CA be trusted before it signs.
const newCADelay = 1500 * time.Millisecond

// replica is one manager, serving the webhook on its own port.
type replica struct {
	name string
	mgr  ctrl.Manager
	port int
	stop context.CancelFunc
	done chan error
}

// startReplica starts a manager as cmd/main.go builds it with --leader-elect and
// --webhook-cert-management=self, acting as managerUser.
func startReplica(name string, managerCfg *rest.Config, o webhookcert.Options) *replica {
	GinkgoHelper()
	return startReplicaOnPort(name, freePort(), managerCfg, o)
}

// startReplicaOnPort is startReplica with the webhook served on a given port.
func startReplicaOnPort(name string, port int, managerCfg *rest.Config, o webhookcert.Options) *replica {
	GinkgoHelper()
	r := &replica{name: name, port: port, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	var err error
	r.mgr, err = manager.New(ctx, managerCfg, ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		WebhookServer:                 webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: r.port}),
		LeaderElection:                true,
		LeaderElectionNamespace:       o.Namespace,
		LeaderElectionReleaseOnCancel: true,
		// Two managers in one process register the same controller names.
		Controller: config.Controller{SkipNameValidation: new(true)},
	}, manager.Options{Webhooks: true, WebhookCert: &o, LeaderElectionIdentity: name})
	Expect(err).NotTo(HaveOccurred())
	go func() { r.done <- r.mgr.Start(ctx) }()
	return r
}

// ready is the manager's "webhook" ready check: a TLS handshake with its webhook server.
func (r *replica) ready() error {
	return r.mgr.GetWebhookServer().StartedChecker()(nil)
}

// served returns the certificate the replica presents in a TLS handshake.
func (r *replica) served() (*x509.Certificate, error) {
	return servedAt(r.port)
}

// servedAt returns the certificate the server on a local port presents in a TLS handshake.
func servedAt(port int) (*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp",
		net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		// The spec verifies what it gets against the caBundle itself.
		&tls.Config{ServerName: "localhost", InsecureSkipVerify: true})
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	return conn.ConnectionState().PeerCertificates[0], nil
}

func freePort() int {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func fingerprint(c *x509.Certificate) string {
	return fmt.Sprintf("%x", sha256.Sum256(c.Raw))[:16]
}

// caBundle returns the CAs of the webhook configuration's first webhook.
func caBundle(ctx context.Context) []*x509.Certificate {
	GinkgoHelper()
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	Expect(admin.Get(ctx, client.ObjectKey{Name: configurationName}, &vwc)).To(Succeed())
	return parseCerts(vwc.Webhooks[0].ClientConfig.CABundle)
}

// version is one version of the Secret or of the webhook configuration, as a watch delivered it.
type version struct {
	resourceVersion int64
	seen            time.Time
	cert            []byte // the Secret's tls.crt
	caKey           []byte // the Secret's ca.key
	caBundle        []byte // the webhook configuration's caBundle
}

// recordVersions watches the Secret and the webhook configuration and returns a function that
// stops watching and returns every version seen, in the order the API server stored them. It
// orders by resourceVersion as a number: opaque to clients in general, but etcd's revision,
// shared by all objects, in the API server envtest runs.
func recordVersions(ctx context.Context, ns string) func() []version {
	GinkgoHelper()
	cs, err := kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	secrets, err := cs.CoreV1().Secrets(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + secretName})
	Expect(err).NotTo(HaveOccurred())
	configurations, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Watch(ctx,
		metav1.ListOptions{FieldSelector: "metadata.name=" + configurationName})
	Expect(err).NotTo(HaveOccurred())
	var (
		mu       sync.Mutex
		versions []version
		wg       sync.WaitGroup
	)
	for _, w := range []watch.Interface{secrets, configurations} {
		wg.Go(func() {
			for ev := range w.ResultChan() {
				obj, ok := ev.Object.(metav1.Object)
				if !ok {
					continue
				}
				rv, err := strconv.ParseInt(obj.GetResourceVersion(), 10, 64)
				if err != nil {
					continue
				}
				v := version{resourceVersion: rv, seen: time.Now()}
				switch o := ev.Object.(type) {
				case *corev1.Secret:
					v.cert = o.Data[webhookcert.CertKey]
					v.caKey = o.Data[webhookcert.CAKeyKey]
				case *admissionregistrationv1.ValidatingWebhookConfiguration:
					v.caBundle = o.Webhooks[0].ClientConfig.CABundle
					if v.caBundle == nil {
						v.caBundle = []byte{}
					}
				}
				mu.Lock()
				versions = append(versions, v)
				mu.Unlock()
			}
		})
	}
	return func() []version {
		secrets.Stop()
		configurations.Stop()
		wg.Wait()
		slices.SortFunc(versions, func(a, b version) int { return cmp.Compare(a.resourceVersion, b.resourceVersion) })
		return versions
	}
}

// webhookConfiguration returns config/webhook's configuration, its webhook calling the
// server on a local port by URL: envtest's API server runs outside any cluster network.
func webhookConfiguration(port int) *admissionregistrationv1.ValidatingWebhookConfiguration {
	GinkgoHelper()
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	objs := decodeFile(filepath.Join(testutil.RepoRoot(), "config", "webhook", "manifests.yaml"))
	Expect(objs).To(HaveLen(1))
	Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(objs[0].Object, vwc)).To(Succeed())
	Expect(vwc.Name).To(Equal(configurationName))
	Expect(vwc.Webhooks).To(HaveLen(1))
	path := *vwc.Webhooks[0].ClientConfig.Service.Path
	vwc.Webhooks[0].ClientConfig.Service = nil
	vwc.Webhooks[0].ClientConfig.URL = new(fmt.Sprintf("https://localhost:%d%s", port, path))
	return vwc
}

// parseCerts returns the certificates of a PEM bundle.
func parseCerts(data []byte) []*x509.Certificate {
	GinkgoHelper()
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		if block, data = pem.Decode(data); block == nil {
			return certs
		}
		c, err := x509.ParseCertificate(block.Bytes)
		Expect(err).NotTo(HaveOccurred())
		certs = append(certs, c)
	}
}

var _ = Describe("a self-managed webhook certificate", func() {
	It("is rotated, CA and serving certificate, under admission traffic to the standby, every request answered",
		func(ctx SpecContext) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "webhookcert-system"}}
			Expect(admin.Create(ctx, ns)).To(Succeed())
			managerCfg := grantManagerRoles(ctx, ns.Name)
			// As dist/install.yaml ships it: empty.
			Expect(admin.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: secretName}})).
				To(Succeed())
			versions := recordVersions(ctx, ns.Name)

			// Short lifetimes, so that within the spec the serving certificate is renewed at about
			// 4 s and 8 s, and the CA at about 12 s, with a certificate it signs a second later.
			o := webhookcert.Options{
				Namespace: ns.Name, SecretName: secretName, ServiceName: serviceName,
				WebhookConfigurationName: configurationName,
				// envtest's API server runs outside any cluster network: the webhook configuration
				// calls the webhook by URL, https://localhost:<port>, so the certificate names
				// localhost too (cert-controller's certificates carry DNS names, no IP address).
				ExtraDNSNames: []string{"localhost"},
				CAValidity:    16 * time.Second, CertValidity: 8 * time.Second, Lookahead: 4 * time.Second,
				NewCADelay: newCADelay,
			}
			leader := startReplica("leader", managerCfg, o)
			DeferCleanup(func() { leader.stop(); Expect(<-leader.done).To(Succeed()) })
			Eventually(leader.mgr.Elected()).Should(BeClosed())
			standby := startReplica("standby", managerCfg, o)
			DeferCleanup(func() { standby.stop(); Expect(<-standby.done).To(Succeed()) })
			replicas := []*replica{leader, standby}

			// Without the webhook configuration the leader issues nothing (it would have no
			// caBundle to write), and no replica is ready: its webhook completes no handshake.
			for _, r := range replicas {
				Eventually(r.ready).Should(MatchError(ContainSubstring("not reachable")), r.name)
			}

			// config/webhook's configuration, calling the standby by URL.
			vwc := webhookConfiguration(standby.port)
			Expect(admin.Create(ctx, vwc)).To(Succeed())
			// Cluster-wide: gone before the next spec makes its own.
			DeferCleanup(func(ctx SpecContext) { Expect(admin.Delete(ctx, vwc)).To(Succeed()) })

			for _, r := range replicas {
				Eventually(r.ready).Should(Succeed(), r.name)
			}
			valid := testutil.MakeEphemeralJob("rotation", ns.Name, "web").Obj()
			// Only the webhook refuses this image (the CRD's schema lets it through).
			invalid := testutil.MakeEphemeralJob("rotation", ns.Name, "web").Obj()
			invalid.Spec.Template.EphemeralContainers[0].Image = " busybox:latest"
			// answered says whether the webhook answered a dry-run create as it should.
			answered := func(job client.Object, wantDenied bool) error {
				err := admin.Create(ctx, job.DeepCopyObject().(client.Object), client.DryRunAll)
				switch {
				case wantDenied && err != nil && strings.Contains(err.Error(), "denied the request"):
					return nil
				case wantDenied && err == nil:
					return fmt.Errorf("the webhook admitted the invalid job")
				default:
					return err
				}
			}
			Eventually(func() error { return answered(valid, false) }).Should(Succeed())
			Expect(answered(invalid, true)).To(Succeed())
			firstCA := caBundle(ctx)[0]

			// Admission traffic, and samples of what each replica serves, until both serve a
			// certificate a new CA signed.
			var (
				mu                  sync.Mutex
				requests, samples   int
				failures            []string
				untrusted           []string
				servedByStandby     = map[string]bool{}
				wg                  sync.WaitGroup
				trafficCtx, stopAll = context.WithCancel(ctx)
			)
			wg.Go(func() {
				for i := 0; trafficCtx.Err() == nil; i++ {
					job, denied := valid, false
					if i%2 == 1 {
						job, denied = invalid, true
					}
					err := answered(job, denied)
					mu.Lock()
					requests++
					if err != nil && trafficCtx.Err() == nil {
						failures = append(failures, err.Error())
					}
					mu.Unlock()
				}
			})
			// At every sample, what a replica serves verifies against the caBundle read after it:
			// the bundle only gains CAs before a certificate they sign is served, and keeps the
			// previous CA while a certificate it signed may still be served.
			wg.Go(func() {
				defer GinkgoRecover()
				for trafficCtx.Err() == nil {
					for _, r := range replicas {
						leaf, err := r.served()
						now := time.Now()
						problem := ""
						if err != nil {
							problem = fmt.Sprintf("%s: %v", r.name, err)
						} else {
							roots := x509.NewCertPool()
							for _, ca := range caBundle(ctx) {
								roots.AddCert(ca)
							}
							_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "localhost", CurrentTime: now})
							if err != nil {
								problem = fmt.Sprintf("%s serves %s: %v", r.name, fingerprint(leaf), err)
							}
						}
						mu.Lock()
						samples++
						if problem != "" {
							untrusted = append(untrusted, problem)
						}
						if err == nil && r == standby {
							servedByStandby[fingerprint(leaf)] = true
						}
						mu.Unlock()
					}
				}
			})

			start := time.Now()
			Eventually(func(g Gomega) {
				cas := caBundle(ctx)
				g.Expect(cas[0].Equal(firstCA)).To(BeFalse(), "the CA is not rotated yet")
				for _, r := range replicas {
					leaf, err := r.served()
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(leaf.CheckSignatureFrom(cas[0])).To(Succeed(), "%s serves a certificate of the old CA", r.name)
				}
			}).WithTimeout(90 * time.Second).Should(Succeed())
			rotated := time.Since(start)
			stopAll()
			wg.Wait()

			mu.Lock()
			defer mu.Unlock()
			AddReportEntry("rotation", fmt.Sprintf("new CA served by both replicas after %s; %d admission requests, "+
				"%d failed; %d handshakes sampled, %d untrusted; the standby served %d certificates",
				rotated.Round(10*time.Millisecond), requests, len(failures), samples, len(untrusted), len(servedByStandby)))
			Expect(failures).To(BeEmpty(), "admission requests failed during the rotation")
			Expect(untrusted).To(BeEmpty(), "a replica served a certificate the caBundle did not trust")
			Expect(requests).To(BeNumerically(">=", 50), "too little traffic to tell")
			Expect(samples).To(BeNumerically(">=", 20), "too few samples to tell")
			// The first certificate, those renewed at 4 s and 8 s, and that of the new CA.
			Expect(len(servedByStandby)).To(BeNumerically(">=", 3), "the standby's certificate changed")
			Expect(caBundle(ctx)).To(HaveLen(2), "the bundle holds the new CA and the previous one")

			// In the order the API server stored the writes, every serving certificate was
			// written after a caBundle that trusts it: no replica, however fast it loads the
			// Secret, serves a certificate the API server has not been told to trust. After the
			// first, a certificate a new CA signed was written no sooner than the delay after a
			// caBundle trusting that CA: an API server whose informer lags has time to see it.
			var bundle []byte
			certs := 0
			trustedSince := map[string]time.Time{} // each CA, by fingerprint
			for _, v := range versions() {
				if v.caBundle != nil {
					bundle = v.caBundle
					for _, ca := range parseCerts(bundle) {
						if _, ok := trustedSince[fingerprint(ca)]; !ok {
							trustedSince[fingerprint(ca)] = v.seen
						}
					}
					continue
				}
				if len(v.cert) == 0 {
					continue
				}
				certs++
				roots := x509.NewCertPool()
				for _, ca := range parseCerts(bundle) {
					roots.AddCert(ca)
				}
				leaf := parseCerts(v.cert)[0]
				chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "localhost", CurrentTime: v.seen})
				Expect(err).NotTo(HaveOccurred(), "the serving certificate %s (resourceVersion %d) was written before "+
					"a caBundle that trusts it", fingerprint(leaf), v.resourceVersion)
				if certs > 1 {
					// The watches deliver both objects' versions within milliseconds of each other.
					trusted := v.seen.Sub(trustedSince[fingerprint(chains[0][1])])
					Expect(trusted).To(BeNumerically(">=", newCADelay-250*time.Millisecond), "the serving "+
						"certificate %s was written %s after a caBundle trusting its CA", fingerprint(leaf), trusted)
				}
			}
			Expect(certs).To(BeNumerically(">=", 4), "the Secret's serving certificate was written at least 4 times")
		})
})
