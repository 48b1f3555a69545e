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
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
)

// The keys of the Secret, those of cert-controller (and of cert-manager's Secrets).
const (
	// CABundleKey holds the CAs the API server is to trust, PEM: the signing CA first, then
	// earlier CAs that have not expired, so that a serving certificate one of them signed
	// stays trusted while the replicas move to one the new CA signed.
	CABundleKey = "ca.crt"
	// CAKeyKey holds the signing CA's private key, PEM.
	CAKeyKey = "ca.key"
	// CertKey and KeyKey hold the serving certificate, signed by the signing CA, and its key.
	CertKey = "tls.crt"
	KeyKey  = "tls.key"
)

// step is what the leader does next to the Secret or the webhook configuration; each step is
// one write, and the write's watch event starts the next pass.
type step int

const (
	// stepNone: everything is current, or the serving certificate waits for the new CA's
	// delay; check again at the plan's renewAfter.
	stepNone step = iota
	// stepNewCA: the signing CA is missing, broken, or expires within the lookahead; put a new
	// one first in the bundle, keeping the earlier CAs that still hold.
	stepNewCA
	// stepInjectCABundle: a webhook of the configuration does not trust every CA of the
	// Secret's bundle that has not expired.
	stepInjectCABundle
	// stepNewCert: the serving certificate is missing, not signed by the signing CA, lacks a
	// name, or expires within the lookahead; and either the Secret holds no usable one or the
	// configuration has trusted the signing CA for NewCADelay.
	stepNewCert
)

func (s step) String() string {
	switch s {
	case stepNone:
		return "none"
	case stepNewCA:
		return "new CA"
	case stepInjectCABundle:
		return "inject CA bundle"
	case stepNewCert:
		return "new serving certificate"
	}
	return "unknown"
}

// plan is the decision of one pass.
type plan struct {
	step step
	// renewAfter, with stepNone, is how long until the CA or the serving certificate enters
	// the lookahead, or until the signing CA's delay ends.
	renewAfter time.Duration
}

// decide says what the issuer does next, given the Secret's data, the caBundle of each
// webhook of the configuration, and since when the issuer has seen every caBundle trust the
// signing CA (zero: not seen), at now. The order of the steps is what keeps every admission
// request working through a rotation: a serving certificate is issued by a new CA only once
// the configuration, as observed, has trusted that CA for NewCADelay, so that every API
// server has seen it too; until then the replicas keep serving the certificate the previous
// CA signed, which the bundle still trusts. With no usable certificate to keep serving, the
// new one is issued at once: waiting would only keep the webhook down longer.
func decide(now time.Time, data map[string][]byte, caBundles [][]byte, caTrustedSince time.Time, c Options) plan {
	ca, ok := signingCA(now, data)
	if !ok || renewDue(now, ca.NotAfter, c.Lookahead) {
		return plan{step: stepNewCA}
	}
	cas := unexpired(now, parseBundle(data[CABundleKey]))
	for _, b := range caBundles {
		if !includes(b, cas) {
			return plan{step: stepInjectCABundle}
		}
	}
	leaf, ok := servingCert(now, data, c)
	if ok && !renewDue(now, leaf.NotAfter, c.Lookahead) {
		due := leaf.NotAfter
		if ca.NotAfter.Before(due) {
			due = ca.NotAfter
		}
		return plan{step: stepNone, renewAfter: due.Add(-c.Lookahead).Sub(now)}
	}
	if !usableCert(now, data, c) {
		return plan{step: stepNewCert}
	}
	if caTrustedSince.IsZero() {
		caTrustedSince = now
	}
	if wait := caTrustedSince.Add(c.NewCADelay).Sub(now); wait > 0 {
		return plan{step: stepNone, renewAfter: wait}
	}
	return plan{step: stepNewCert}
}

// renewDue says whether a certificate that expires at notAfter is to be replaced at now.
func renewDue(now, notAfter time.Time, lookahead time.Duration) bool {
	return !now.Add(lookahead).Before(notAfter)
}

// signingCA returns the first CA of the bundle when the Secret's CA key belongs to it and it
// verifies at now as cert-controller's CAs do (self-signed, under its own name).
func signingCA(now time.Time, data map[string][]byte) (*x509.Certificate, bool) {
	certs := parseBundle(data[CABundleKey])
	if len(certs) == 0 || !certs[0].IsCA {
		return nil, false
	}
	first := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[0].Raw})
	if ok, err := rotator.ValidCert(first, first, data[CAKeyKey], caName, nil, now); !ok || err != nil {
		return nil, false
	}
	return certs[0], true
}

// servingCert returns the serving certificate when its key matches, the signing CA signed it,
// it is valid at now and names every name of c.
func servingCert(now time.Time, data map[string][]byte, c Options) (*x509.Certificate, bool) {
	usages := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	for _, name := range c.dnsNames() {
		if ok, err := rotator.ValidCert(data[CABundleKey], data[CertKey], data[KeyKey], name, &usages, now); !ok || err != nil {
			return nil, false
		}
	}
	certs := parseBundle(data[CertKey])
	if len(certs) == 0 {
		return nil, false
	}
	return certs[0], true
}

// unexpired returns the certificates that have not expired at now.
func unexpired(now time.Time, certs []*x509.Certificate) []*x509.Certificate {
	var valid []*x509.Certificate
	for _, c := range certs {
		if now.Before(c.NotAfter) {
			valid = append(valid, c)
		}
	}
	return valid
}

// includes says whether the PEM bundle holds every certificate of certs.
func includes(bundle []byte, certs []*x509.Certificate) bool {
	held := parseBundle(bundle)
	for _, c := range certs {
		if !slices.ContainsFunc(held, c.Equal) {
			return false
		}
	}
	return true
}

// usableCert says whether the Secret's serving certificate can be served at now: its key
// matches, it is valid, names every name of c and was signed by one of the Secret's CAs, not
// necessarily the signing one.
func usableCert(now time.Time, data map[string][]byte, c Options) bool {
	pair, err := tls.X509KeyPair(data[CertKey], data[KeyKey])
	if err != nil || pair.Leaf == nil {
		return false
	}
	roots := x509.NewCertPool()
	for _, ca := range parseBundle(data[CABundleKey]) {
		roots.AddCert(ca)
	}
	for _, name := range c.dnsNames() {
		_, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		if err != nil {
			return false
		}
	}
	return true
}

// parseBundle returns the certificates of a PEM bundle, skipping blocks that are not
// certificates or do not parse.
func parseBundle(data []byte) []*x509.Certificate {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return certs
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			certs = append(certs, c)
		}
	}
}
