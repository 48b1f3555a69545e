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
	"crypto/x509"
	"maps"
	"slices"
	"testing"
	"time"
)

var (
	t0       = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	testOpts = Options{
		Namespace: "ns", SecretName: "cert", ServiceName: "svc", WebhookConfigurationName: "vwc",
		CAValidity: 100 * time.Hour, CertValidity: 30 * time.Hour, Lookahead: 10 * time.Hour, NewCADelay: 2 * time.Hour,
	}
)

// issued returns Secret data with a CA made at caAt and a serving certificate it signed at
// certAt, for o.
func issued(t *testing.T, caAt, certAt time.Time, o Options) map[string][]byte {
	t.Helper()
	ca, err := newCA(caAt, o)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := newServingCert(certAt, ca, o)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{CABundleKey: ca.CertPEM, CAKeyKey: ca.KeyPEM, CertKey: cert, KeyKey: key}
}

func with(data map[string][]byte, k string, v []byte) map[string][]byte {
	d := maps.Clone(data)
	d[k] = v
	return d
}

func TestDecide(t *testing.T) {
	current := issued(t, t0, t0, testOpts)
	other := issued(t, t0, t0, testOpts)
	withLocalhost := testOpts
	withLocalhost.ExtraDNSNames = []string{"localhost"}
	bundle := [][]byte{current[CABundleKey]}
	expiredCA := issued(t, t0.Add(-200*time.Hour), t0.Add(-200*time.Hour), testOpts)[CABundleKey]
	// At 91 h, a new CA first in the Secret's bundle, the previous one after it, and the
	// serving certificate the previous one signed at 80 h, usable until 100 h.
	rotatedAt := t0.Add(91 * time.Hour)
	previous := issued(t, t0, t0.Add(80*time.Hour), testOpts)
	newCA, err := newCA(rotatedAt, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	rotated := with(with(previous, CABundleKey, bundleWithNewCA(rotatedAt, newCA, previous[CABundleKey])),
		CAKeyKey, newCA.KeyPEM)
	rotatedBundle := [][]byte{rotated[CABundleKey]}

	for _, tc := range []struct {
		name    string
		now     time.Time
		data    map[string][]byte
		bundles [][]byte
		since   time.Time // since when the configuration trusts the signing CA
		opts    Options
		want    plan
	}{
		{name: "an empty Secret gets a CA", now: t0, data: nil, want: plan{step: stepNewCA}},
		{name: "a CA whose key is another's is replaced", now: t0,
			data: with(current, CAKeyKey, other[CAKeyKey]), bundles: bundle, want: plan{step: stepNewCA}},
		{name: "a CA within the lookahead of its expiry is replaced", now: t0.Add(90 * time.Hour),
			data: current, bundles: bundle, want: plan{step: stepNewCA}},
		{name: "a CA just before the lookahead is kept", now: t0.Add(89 * time.Hour),
			data: with(current, CertKey, nil), bundles: bundle, want: plan{step: stepNewCert}},
		{name: "a webhook without the bundle gets it before any certificate", now: t0,
			data: with(current, CertKey, nil), bundles: [][]byte{current[CABundleKey], nil},
			want: plan{step: stepInjectCABundle}},
		{name: "a webhook with another bundle gets the Secret's", now: t0,
			data: current, bundles: [][]byte{other[CABundleKey]}, want: plan{step: stepInjectCABundle}},
		{name: "a missing serving certificate is issued", now: t0,
			data: with(current, CertKey, nil), bundles: bundle, want: plan{step: stepNewCert}},
		{name: "a serving certificate another CA signed is replaced", now: t0,
			data: with(with(current, CertKey, other[CertKey]), KeyKey, other[KeyKey]), bundles: bundle,
			want: plan{step: stepNewCert}},
		{name: "a serving certificate whose key is another's is replaced", now: t0,
			data: with(current, KeyKey, other[KeyKey]), bundles: bundle, want: plan{step: stepNewCert}},
		{name: "a serving certificate lacking a wanted name is replaced", now: t0, opts: withLocalhost,
			data: current, bundles: bundle, want: plan{step: stepNewCert}},
		{name: "a serving certificate within the lookahead of its expiry is replaced", now: t0.Add(20 * time.Hour),
			data: current, bundles: bundle, since: t0, want: plan{step: stepNewCert}},
		{name: "a new CA signs nothing while the configuration has trusted it for less than the delay",
			now: rotatedAt.Add(30 * time.Minute), data: rotated, bundles: rotatedBundle, since: rotatedAt,
			want: plan{step: stepNone, renewAfter: 90 * time.Minute}},
		{name: "a new CA the issuer has just seen trusted waits the whole delay", now: rotatedAt,
			data: rotated, bundles: rotatedBundle, want: plan{step: stepNone, renewAfter: 2 * time.Hour}},
		{name: "a new CA signs once the configuration has trusted it for the delay",
			now: rotatedAt.Add(2 * time.Hour), data: rotated, bundles: rotatedBundle, since: rotatedAt,
			want: plan{step: stepNewCert}},
		{name: "a new CA signs at once when no usable certificate is served", now: rotatedAt,
			data: with(rotated, CertKey, nil), bundles: rotatedBundle, since: rotatedAt, want: plan{step: stepNewCert}},
		{name: "an expired certificate is no usable one", now: t0.Add(101 * time.Hour),
			data: with(rotated, CABundleKey, newCA.CertPEM), bundles: [][]byte{newCA.CertPEM}, since: t0.Add(101 * time.Hour),
			want: plan{step: stepNewCert}},
		{name: "everything current waits until the serving certificate enters the lookahead", now: t0.Add(time.Hour),
			data: current, bundles: bundle, want: plan{step: stepNone, renewAfter: 19 * time.Hour}},
		{name: "a webhook trusting the Secret's CA among other certificates needs nothing", now: t0.Add(time.Hour),
			data: current, bundles: [][]byte{append(append([]byte(nil), other[CertKey]...), current[CABundleKey]...)},
			want: plan{step: stepNone, renewAfter: 19 * time.Hour}},
		{name: "a webhook lacking one of the Secret's CAs gets them", now: t0,
			data:    with(current, CABundleKey, append(append([]byte(nil), current[CABundleKey]...), other[CABundleKey]...)),
			bundles: bundle, want: plan{step: stepInjectCABundle}},
		{name: "an expired CA of the Secret need not be trusted", now: t0.Add(time.Hour),
			data:    with(current, CABundleKey, append(append([]byte(nil), current[CABundleKey]...), expiredCA...)),
			bundles: bundle, want: plan{step: stepNone, renewAfter: 19 * time.Hour}},
		{name: "a configuration without webhooks needs no bundle", now: t0,
			data: current, bundles: nil, want: plan{step: stepNone, renewAfter: 20 * time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOpts
			if tc.opts.Namespace != "" {
				o = tc.opts
			}
			if got := decide(tc.now, tc.data, tc.bundles, tc.since, o); got != tc.want {
				t.Errorf("decide = %v after %s, want %v after %s", got.step, got.renewAfter, tc.want.step, tc.want.renewAfter)
			}
		})
	}
}

func TestNewServingCertNeverOutlivesItsCA(t *testing.T) {
	data := issued(t, t0, t0.Add(80*time.Hour), testOpts)
	leaf := parseBundle(data[CertKey])[0]
	if ca := parseBundle(data[CABundleKey])[0]; !leaf.NotAfter.Equal(ca.NotAfter) {
		t.Errorf("the serving certificate expires at %s, its CA at %s", leaf.NotAfter, ca.NotAfter)
	}
	// decide then renews both with the CA, not the certificate alone, at 90 h.
	if got := decide(t0.Add(89*time.Hour), data, [][]byte{data[CABundleKey]}, t0, testOpts); got.renewAfter != time.Hour {
		t.Errorf("decide = %v after %s, want none after 1h", got.step, got.renewAfter)
	}
}

func TestBundleWithNewCAKeepsTheCAsThatHold(t *testing.T) {
	expired := issued(t, t0.Add(-200*time.Hour), t0.Add(-200*time.Hour), testOpts)
	holding := issued(t, t0.Add(-90*time.Hour), t0.Add(-90*time.Hour), testOpts)
	ca, err := newCA(t0, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	old := append(append([]byte(nil), holding[CABundleKey]...), expired[CABundleKey]...)
	got := parseBundle(bundleWithNewCA(t0, ca, old))
	want := []*x509.Certificate{ca.Cert, parseBundle(holding[CABundleKey])[0]}
	if len(got) != len(want) {
		t.Fatalf("the bundle holds %d CAs, want %d (the new one, then the one not expired)", len(got), len(want))
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("CA %d of the bundle is %s from %s, want the one from %s", i, got[i].Subject, got[i].NotBefore,
				want[i].NotBefore)
		}
	}
}

func TestMergedBundle(t *testing.T) {
	ours := issued(t, t0, t0, testOpts)
	previous := issued(t, t0.Add(-90*time.Hour), t0.Add(-90*time.Hour), testOpts)
	expired := issued(t, t0.Add(-200*time.Hour), t0.Add(-200*time.Hour), testOpts)
	// cert-manager's self-signed issuer puts the serving certificate itself, no CA, into caBundle.
	foreign := issued(t, t0, t0, testOpts)[CertKey]
	cat := func(pems ...[]byte) []byte { return slices.Concat(pems...) }
	names := func(b []byte) []string {
		var n []string
		for _, c := range parseBundle(b) {
			switch {
			case c.Equal(parseBundle(ours[CABundleKey])[0]):
				n = append(n, "ours")
			case c.Equal(parseBundle(previous[CABundleKey])[0]):
				n = append(n, "previous")
			case c.Equal(parseBundle(foreign)[0]):
				n = append(n, "foreign")
			default:
				n = append(n, c.Subject.CommonName)
			}
		}
		return n
	}

	for _, tc := range []struct {
		name    string
		secret  []byte
		bundles [][]byte
		want    []string
	}{
		{name: "the Secret's CAs alone into an empty configuration", secret: cat(ours[CABundleKey], previous[CABundleKey]),
			bundles: [][]byte{nil}, want: []string{"ours", "previous"}},
		{name: "what the configuration trusts is kept after the Secret's CAs, once",
			secret:  ours[CABundleKey],
			bundles: [][]byte{cat(foreign, previous[CABundleKey]), cat(foreign, ours[CABundleKey])},
			want:    []string{"ours", "foreign", "previous"}},
		{name: "expired certificates are dropped, the Secret's and the configuration's",
			secret:  cat(ours[CABundleKey], expired[CABundleKey]),
			bundles: [][]byte{cat(expired[CertKey], foreign)}, want: []string{"ours", "foreign"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := names(mergedBundle(t0, tc.secret, tc.bundles)); !slices.Equal(got, tc.want) {
				t.Errorf("the bundle holds %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("at most maxBundleCerts certificates, the Secret's first", func(t *testing.T) {
		var many []byte
		for range maxBundleCerts + 3 {
			many = append(many, issued(t, t0, t0, testOpts)[CertKey]...)
		}
		got := parseBundle(mergedBundle(t0, ours[CABundleKey], [][]byte{many}))
		if len(got) != maxBundleCerts || !got[0].Equal(parseBundle(ours[CABundleKey])[0]) {
			t.Errorf("the bundle holds %d certificates, the Secret's CA first: %v; want %d", len(got),
				got[0].Equal(parseBundle(ours[CABundleKey])[0]), maxBundleCerts)
		}
	})
}

// TestEmptiedSecretKeepsTheServedCertificateTrusted: the Secret emptied by hand while the
// replicas serve the certificate it held, from memory; the issuer starts over with a new CA,
// and the certificate still served stays trusted at every step.
func TestEmptiedSecretKeepsTheServedCertificateTrusted(t *testing.T) {
	o := testOpts
	served := issued(t, t0, t0, o)
	published := served[CABundleKey]
	data := map[string][]byte{}
	now := t0.Add(time.Hour)
	for range 5 {
		p := decide(now, data, [][]byte{published}, time.Time{}, o)
		switch p.step {
		case stepNewCA:
			ca, err := newCA(now, o)
			if err != nil {
				t.Fatal(err)
			}
			data = map[string][]byte{CABundleKey: ca.CertPEM, CAKeyKey: ca.KeyPEM}
		case stepInjectCABundle:
			published = mergedBundle(now, data[CABundleKey], [][]byte{published})
		case stepNewCert:
			ca, err := signingCAArtifacts(data)
			if err != nil {
				t.Fatal(err)
			}
			cert, key, err := newServingCert(now, ca, o)
			if err != nil {
				t.Fatal(err)
			}
			data = with(with(data, CertKey, cert), KeyKey, key)
		}
		roots := x509.NewCertPool()
		for _, c := range parseBundle(published) {
			roots.AddCert(c)
		}
		for _, pem := range [][]byte{served[CertKey], data[CertKey]} {
			if len(pem) == 0 {
				continue
			}
			if _, err := parseBundle(pem)[0].Verify(x509.VerifyOptions{Roots: roots, DNSName: "svc.ns.svc",
				CurrentTime: now}); err != nil {
				t.Fatalf("after the step %s, a served certificate is not trusted: %v", p.step, err)
			}
		}
	}
	if data[CertKey] == nil {
		t.Error("the issuer issued no serving certificate into the emptied Secret")
	}
}

// TestRotationKeepsTheServedCertificateTrusted plays the issuer's steps over three CA
// lifetimes, with a configuration that takes each write of the bundle at once, and checks at
// every moment that the certificate the replicas serve (the Secret's) verifies against the
// bundle the API server uses (the configuration's), and that after the first, a CA signs
// only once the bundle has trusted it for the delay.
func TestRotationKeepsTheServedCertificateTrusted(t *testing.T) {
	o := testOpts
	data := map[string][]byte{}
	var published []byte
	publishedAt := map[string]time.Time{} // when each CA entered the published bundle
	served := map[string]bool{}
	cas := map[string]bool{}
	r := &issuer{}
	for now := t0; now.Before(t0.Add(300 * time.Hour)); {
		p := decide(now, data, [][]byte{published}, r.caTrustedSince(now, data, [][]byte{published}), o)
		switch p.step {
		case stepNone:
			now = now.Add(p.renewAfter)
			continue
		case stepNewCA:
			ca, err := newCA(now, o)
			if err != nil {
				t.Fatal(err)
			}
			data = with(with(data, CABundleKey, bundleWithNewCA(now, ca, data[CABundleKey])), CAKeyKey, ca.KeyPEM)
			cas[string(ca.CertPEM)] = true
		case stepInjectCABundle:
			published = mergedBundle(now, data[CABundleKey], [][]byte{published})
			for _, c := range parseBundle(published) {
				if _, ok := publishedAt[string(c.Raw)]; !ok {
					publishedAt[string(c.Raw)] = now
				}
			}
		case stepNewCert:
			ca, err := signingCAArtifacts(data)
			if err != nil {
				t.Fatal(err)
			}
			if since := now.Sub(publishedAt[string(ca.Cert.Raw)]); len(served) > 0 && since < o.NewCADelay {
				t.Fatalf("at %s, a CA trusted for %s signed while a usable certificate was served", now.Sub(t0), since)
			}
			cert, key, err := newServingCert(now, ca, o)
			if err != nil {
				t.Fatal(err)
			}
			data = with(with(data, CertKey, cert), KeyKey, key)
			served[string(cert)] = true
		}
		if data[CertKey] == nil {
			continue
		}
		leaf := parseBundle(data[CertKey])[0]
		roots := x509.NewCertPool()
		for _, c := range parseBundle(published) {
			roots.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "svc.ns.svc", CurrentTime: now}); err != nil {
			t.Fatalf("at %s, after the step %s, the served certificate is not trusted: %v", now.Sub(t0), p.step, err)
		}
	}
	if len(cas) != 4 || len(served) < 10 {
		t.Errorf("the rotation made %d CAs and %d serving certificates, want 4 and at least 10", len(cas), len(served))
	}
}
