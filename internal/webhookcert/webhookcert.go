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

// Package webhookcert lets the manager issue, rotate and serve its validating webhook's TLS
// certificate itself, so that an install needs no cert-manager.
//
// The state is one Secret the install creates empty, in the keys cert-controller uses (ca.crt,
// ca.key, tls.crt, tls.key); certificates are made by cert-controller's rotator package. The
// leader (issuer) keeps that Secret current and adds its CAs to the webhook configuration's
// caBundle; any replica issues the first certificate, when the Secret holds no usable one, so
// that a new replica does not wait for a leader that issues none (an old version's, in a
// rolling upgrade); every replica (loader) serves the certificate the Secret holds,
// read from its watch and kept in memory, so that a standby switches as soon as the leader
// writes, without waiting for the kubelet to refresh a mounted volume and without a writable
// file system.
//
// cert-controller's own CertRotator is not used: it replaces the CA in caBundle in the same
// write that replaces the serving certificate, so that after a CA rotation the API server
// refuses the replicas still serving the old certificate; and its private cache lists every
// Secret of the namespace and every webhook configuration of the cluster, which the RBAC
// here does not grant.
package webhookcert

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The names config/default gives the objects, after its name prefix.
const (
	DefaultSecretName               = "ephemeraljob-operator-webhook-server-cert"
	DefaultServiceName              = "ephemeraljob-operator-webhook-service"
	DefaultWebhookConfigurationName = "ephemeraljob-operator-validating-webhook-configuration"
)

// The lifetimes cert-controller uses by default (and Gatekeeper with it).
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultCertValidity = 365 * 24 * time.Hour
	DefaultLookahead    = 90 * 24 * time.Hour
)

// DefaultNewCADelay is how long a new CA is trusted by the webhook configuration before a
// serving certificate it signs is written. Each kube-apiserver reads the configuration
// through its own informer: a watch event reaches them all within seconds, and two minutes
// also cover one that lists again after its watch broke. The certificate it replaces has the
// lookahead, 90 days, left to live.
const DefaultNewCADelay = 2 * time.Minute

const (
	caName         = "ephemeraljob-operator-webhook-ca"
	caOrganization = "ephemeraljob-operator"
	// backdate is how far before now a certificate's validity starts, as cert-controller
	// does, so that a node whose clock is behind still accepts it.
	backdate = time.Hour
)

// Options name the objects the manager owns for its webhook's certificate and how long the
// certificates live.
type Options struct {
	// Namespace holds the Secret and the webhook's Service.
	Namespace string
	// SecretName names the Secret holding the CAs and the serving certificate. It must exist:
	// the manager may update it, but not create Secrets.
	SecretName string
	// ServiceName names the webhook's Service; the serving certificate is for
	// <ServiceName>.<Namespace>.svc, the name the API server calls.
	ServiceName string
	// WebhookConfigurationName names the ValidatingWebhookConfiguration whose webhooks get
	// the CA bundle as caBundle.
	WebhookConfigurationName string
	// ExtraDNSNames are further names of the serving certificate, e.g. localhost for an API
	// server that calls the webhook by URL on the same machine.
	ExtraDNSNames []string
	// CAValidity and CertValidity are how long a new CA and a new serving certificate are
	// valid (a serving certificate never outlives its CA); each is replaced Lookahead before
	// it expires. Zero means the defaults.
	CAValidity, CertValidity, Lookahead time.Duration
	// NewCADelay is how long the configuration must have trusted a new CA, as the issuer saw
	// it, before a serving certificate that CA signs replaces one still usable; with no usable
	// certificate in the Secret, one is issued at once. It must be shorter than Lookahead, the
	// time the replaced certificate has left. Zero means DefaultNewCADelay.
	NewCADelay time.Duration
}

// withDefaults fills the zero lifetimes and checks the options.
func (o Options) withDefaults() (Options, error) {
	if o.CAValidity == 0 {
		o.CAValidity = DefaultCAValidity
	}
	if o.CertValidity == 0 {
		o.CertValidity = DefaultCertValidity
	}
	if o.Lookahead == 0 {
		o.Lookahead = DefaultLookahead
	}
	if o.NewCADelay == 0 {
		o.NewCADelay = DefaultNewCADelay
	}
	if o.Namespace == "" || o.SecretName == "" || o.ServiceName == "" || o.WebhookConfigurationName == "" {
		return o, fmt.Errorf("the webhook certificate needs a namespace (%q), a Secret (%q), a Service (%q) "+
			"and a ValidatingWebhookConfiguration (%q)", o.Namespace, o.SecretName, o.ServiceName, o.WebhookConfigurationName)
	}
	if o.CAValidity <= o.Lookahead || o.CertValidity <= o.Lookahead {
		return o, fmt.Errorf("the CA validity (%s) and the certificate validity (%s) must be longer than the lookahead (%s), "+
			"or a new certificate would be due for renewal at once", o.CAValidity, o.CertValidity, o.Lookahead)
	}
	if o.NewCADelay >= o.Lookahead {
		return o, fmt.Errorf("the delay before a new CA signs (%s) must be shorter than the lookahead (%s), "+
			"or the certificate it replaces would expire first", o.NewCADelay, o.Lookahead)
	}
	return o, nil
}

// secretKey is the Secret's key.
func (o Options) secretKey() types.NamespacedName {
	return types.NamespacedName{Namespace: o.Namespace, Name: o.SecretName}
}

// dnsNames are the names of the serving certificate: the Service's name the API server
// calls first, the cluster's full name, then the extra names.
func (o Options) dnsNames() []string {
	svc := o.ServiceName + "." + o.Namespace + ".svc"
	return append([]string{svc, svc + ".cluster.local"}, o.ExtraDNSNames...)
}

// certRotator is cert-controller's rotator, used for making certificates only.
func (o Options) certRotator() *rotator.CertRotator {
	names := o.dnsNames()
	return &rotator.CertRotator{
		CAName:         caName,
		CAOrganization: caOrganization,
		DNSName:        names[0],
		ExtraDNSNames:  names[1:],
		ExtKeyUsages:   &[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
}

// CacheByObject restricts the manager's cache to the one Secret and the one webhook
// configuration: the RBAC grants list and watch on these names only (which the API server
// authorizes for a request with a metadata.name field selector), and the manager has no
// reason to hold other Secrets in memory.
func CacheByObject(o Options) map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&corev1.Secret{}: {
			Namespaces: map[string]cache.Config{o.Namespace: {}},
			Field:      fields.OneTermEqualSelector("metadata.name", o.SecretName),
		},
		&admissionregistrationv1.ValidatingWebhookConfiguration{}: {
			Field: fields.OneTermEqualSelector("metadata.name", o.WebhookConfigurationName),
		},
	}
}

// newCA makes a CA valid from now (backdated) for the CA validity.
func newCA(now time.Time, o Options) (*rotator.KeyPairArtifacts, error) {
	ca, err := o.certRotator().CreateCACert(now.Add(-backdate), now.Add(o.CAValidity))
	if err != nil {
		return nil, fmt.Errorf("making a CA: %w", err)
	}
	return ca, nil
}

// newServingCert makes a serving certificate signed by ca, valid from now (backdated) for the
// certificate validity, and never beyond the CA.
func newServingCert(now time.Time, ca *rotator.KeyPairArtifacts, o Options) (cert, key []byte, err error) {
	notAfter := now.Add(o.CertValidity)
	if ca.Cert.NotAfter.Before(notAfter) {
		notAfter = ca.Cert.NotAfter
	}
	cert, key, err = o.certRotator().CreateCertPEM(ca, now.Add(-backdate), notAfter)
	if err != nil {
		return nil, nil, fmt.Errorf("making a serving certificate: %w", err)
	}
	return cert, key, nil
}

// signingCAArtifacts reads the signing CA and its key from the Secret's data, in the form
// cert-controller signs with.
func signingCAArtifacts(data map[string][]byte) (*rotator.KeyPairArtifacts, error) {
	certs := parseBundle(data[CABundleKey])
	if len(certs) == 0 {
		return nil, errors.New("the Secret holds no CA")
	}
	block, _ := pem.Decode(data[CAKeyKey])
	if block == nil {
		return nil, errors.New("the Secret's CA key is not PEM")
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing the CA key: %w", err)
	}
	return &rotator.KeyPairArtifacts{
		Cert:    certs[0],
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[0].Raw}),
		KeyPEM:  data[CAKeyKey],
	}, nil
}

// bundleWithNewCA returns the bundle with ca first, then the CAs of old that have not
// expired at now: a serving certificate one of them signed stays trusted until the
// replicas serve one the new CA signed.
func bundleWithNewCA(now time.Time, ca *rotator.KeyPairArtifacts, old []byte) []byte {
	bundle := append([]byte(nil), ca.CertPEM...)
	for _, c := range parseBundle(old) {
		if c.IsCA && now.Before(c.NotAfter) {
			bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
	}
	return bundle
}

// The bounds of the caBundle the issuer writes: the Secret's CAs always, then as many of the
// certificates the configuration trusted before as fit. A bundle is rewritten only when it
// lacks one of the Secret's CAs, which happens once a CA lifetime; the bounds keep a bundle
// that others filled (by hand, or cert-manager's CA injector before an upgrade) from growing
// with each rewrite.
const (
	maxBundleCerts = 10
	maxBundleBytes = 64 << 10
)

// mergedBundle returns the caBundle to write into the configuration: the Secret's certificates
// that have not expired at now, then every certificate of the configuration's bundles that
// has not expired and is not among them, within the bounds. Keeping what the configuration
// already trusts keeps trusted the certificates replicas may still serve and the Secret no
// longer holds: another issuer's, during an upgrade from cert-manager, or the previous CA's
// after the Secret was emptied or replaced by hand.
func mergedBundle(now time.Time, secretBundle []byte, caBundles [][]byte) []byte {
	var bundle []byte
	kept := 0
	seen := map[string]bool{}
	add := func(c *x509.Certificate, bounded bool) {
		block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		if seen[string(c.Raw)] || !now.Before(c.NotAfter) ||
			bounded && (kept >= maxBundleCerts || len(bundle)+len(block) > maxBundleBytes) {
			return
		}
		seen[string(c.Raw)] = true
		bundle = append(bundle, block...)
		kept++
	}
	for _, c := range parseBundle(secretBundle) {
		add(c, false)
	}
	for _, b := range caBundles {
		for _, c := range parseBundle(b) {
			add(c, true)
		}
	}
	return bundle
}

// keyPair parses the serving certificate and key of the Secret's data.
func keyPair(data map[string][]byte) (*tls.Certificate, error) {
	if len(data[CertKey]) == 0 || len(data[KeyKey]) == 0 {
		return nil, errNotIssued
	}
	pair, err := tls.X509KeyPair(data[CertKey], data[KeyKey])
	if err != nil {
		return nil, fmt.Errorf("parsing the serving certificate: %w", err)
	}
	return &pair, nil
}

// errNotIssued says the Secret holds no serving certificate yet.
var errNotIssued = errors.New("the Secret holds no serving certificate yet")
