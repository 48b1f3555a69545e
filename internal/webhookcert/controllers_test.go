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
	"strings"
	"sync/atomic"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// issuerObjects returns the Secret, empty, and the webhook configuration with one webhook and
// no caBundle, as testOpts names them.
func issuerObjects() (*corev1.Secret, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: testOpts.Namespace, Name: testOpts.SecretName}},
		&admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: testOpts.WebhookConfigurationName},
			Webhooks:   []admissionregistrationv1.ValidatingWebhook{{Name: "v.example.com"}},
		}
}

// newTestIssuer returns an issuer over a fake client holding objs, whose patches go through
// patch.
func newTestIssuer(t *testing.T, patch func(context.Context, client.WithWatch, client.Object, client.Patch,
	...client.PatchOption) error, objs ...client.Object) *issuer {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(objs...).
		WithInterceptorFuncs(interceptor.Funcs{Patch: patch}).Build()
	return &issuer{client: c, opts: testOpts, clock: clocktesting.NewFakePassiveClock(t0),
		recorder: events.NewFakeRecorder(10), standingAside: new(atomic.Bool)}
}

// TestIssuerRequeuesOnConflict: a write that meets a newer version (another replica wrote
// first) is no error, which controller-runtime would log with a stack trace, but a pass again.
func TestIssuerRequeuesOnConflict(t *testing.T) {
	secret, vwc := issuerObjects()
	r := newTestIssuer(t, func(_ context.Context, _ client.WithWatch, obj client.Object, _ client.Patch,
		_ ...client.PatchOption) error {
		return apierrors.NewConflict(schema.GroupResource{Resource: "secrets"}, obj.GetName(),
			apierrors.NewBadRequest("the object has been modified"))
	}, secret, vwc)
	res, err := r.Reconcile(context.Background(), reconcile.Request{})
	if err != nil {
		t.Fatalf("Reconcile returned %v, want no error", err)
	}
	if res.RequeueAfter != conflictRetry {
		t.Errorf("Reconcile requeues after %s, want %s", res.RequeueAfter, conflictRetry)
	}

	// Any other failure is still an error.
	r = newTestIssuer(t, func(context.Context, client.WithWatch, client.Object, client.Patch,
		...client.PatchOption) error {
		return apierrors.NewServiceUnavailable("etcd is away")
	}, secret, vwc)
	if _, err := r.Reconcile(context.Background(), reconcile.Request{}); !apierrors.IsServiceUnavailable(err) {
		t.Errorf("Reconcile returned %v, want the write's error", err)
	}
}

// TestIssuerStandsAsideForCertManager: while the configuration carries cert-manager's CA
// injector's annotation, the issuer writes nothing and says so once; without it, it issues.
func TestIssuerStandsAsideForCertManager(t *testing.T) {
	secret, vwc := issuerObjects()
	vwc.Annotations = map[string]string{"cert-manager.io/inject-ca-from": "ns/serving-cert"}
	var patches int
	r := newTestIssuer(t, func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch,
		opts ...client.PatchOption) error {
		patches++
		return c.Patch(ctx, obj, p, opts...)
	}, secret, vwc)
	ctx := context.Background()
	recorded := r.recorder.(*events.FakeRecorder).Events

	for range 3 {
		if _, err := r.Reconcile(ctx, reconcile.Request{}); err != nil {
			t.Fatal(err)
		}
	}
	if patches != 0 {
		t.Errorf("the issuer wrote %d times beside cert-manager's CA injector, want none", patches)
	}
	if len(recorded) != 1 {
		t.Fatalf("%d events, want one", len(recorded))
	}
	if e := <-recorded; !strings.Contains(e, ReasonCABundleInjectedByCertManager) {
		t.Errorf("the event %q lacks the reason %s", e, ReasonCABundleInjectedByCertManager)
	}

	// The annotation goes, as when the install switches back: the issuer makes a CA.
	if err := r.client.Get(ctx, client.ObjectKeyFromObject(vwc), vwc); err != nil {
		t.Fatal(err)
	}
	vwc.Annotations = nil
	if err := r.client.Update(ctx, vwc); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(ctx, reconcile.Request{}); err != nil {
		t.Fatal(err)
	}
	if err := r.client.Get(ctx, client.ObjectKeyFromObject(secret), secret); err != nil {
		t.Fatal(err)
	}
	if patches != 1 || len(secret.Data[CAKeyKey]) == 0 {
		t.Errorf("without the annotation the issuer wrote %d times, the Secret's CA key %d bytes; want a CA",
			patches, len(secret.Data[CAKeyKey]))
	}
}
