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
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// SetupWithManager makes the manager's webhook server serve the certificate of the Secret
// o names, and adds the issuer (on the leader; on every replica for the first certificate)
// and the loader (on every replica). The webhook server's StartedChecker, which completes a
// TLS handshake, tells when the certificate is served. The manager's cache must be restricted with CacheByObject(o), and
// its webhook server must be controller-runtime's default one.
func SetupWithManager(mgr ctrl.Manager, o Options) error {
	o, err := o.withDefaults()
	if err != nil {
		return err
	}
	server, ok := mgr.GetWebhookServer().(*webhook.DefaultServer)
	if !ok {
		return fmt.Errorf("a self-managed webhook certificate needs controller-runtime's default webhook server, not %T",
			mgr.GetWebhookServer())
	}
	if err := mgr.Add(&accessCheck{reader: mgr.GetAPIReader(), opts: o}); err != nil {
		return fmt.Errorf("setting up the webhook certificate's access check: %w", err)
	}
	l := &loader{client: mgr.GetClient(), key: o.secretKey()}
	// Read at each handshake: the server starts before the cache, and serves once the loader
	// has the certificate.
	server.Options.TLSOpts = append(server.Options.TLSOpts, func(c *tls.Config) { c.GetCertificate = l.getCertificate })

	isSecret := builder.WithPredicates(predicate.NewPredicateFuncs(func(obj client.Object) bool {
		return obj.GetNamespace() == o.Namespace && obj.GetName() == o.SecretName
	}))
	err = ctrl.NewControllerManagedBy(mgr).
		Named("webhook-cert-loader").
		For(&corev1.Secret{}, isSecret).
		// Every replica serves the webhook, the standby too.
		WithOptions(controller.Options{NeedLeaderElection: new(false)}).
		Complete(l)
	if err != nil {
		return fmt.Errorf("setting up the webhook certificate loader: %w", err)
	}

	toSecret := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: o.secretKey()}}
	})
	isConfiguration := builder.WithPredicates(predicate.NewPredicateFuncs(func(obj client.Object) bool {
		return obj.GetName() == o.WebhookConfigurationName
	}))
	recorder := mgr.GetEventRecorder("webhook-cert-issuer")
	standingAside := new(atomic.Bool)
	err = ctrl.NewControllerManagedBy(mgr).
		Named("webhook-cert-issuer").
		For(&corev1.Secret{}, isSecret).
		Watches(&admissionregistrationv1.ValidatingWebhookConfiguration{}, toSecret, isConfiguration).
		Complete(&issuer{client: mgr.GetClient(), opts: o, clock: clock.RealClock{}, recorder: recorder,
			standingAside: standingAside})
	if err != nil {
		return fmt.Errorf("setting up the webhook certificate issuer: %w", err)
	}
	// The first certificate, on every replica: the leader may be a replica that issues none,
	// as the old pods of a rolling upgrade from an install whose certificate cert-manager
	// issued are, and a new pod that waited for the lease would never become ready, so the
	// rollout would never end.
	err = ctrl.NewControllerManagedBy(mgr).
		Named("webhook-cert-first-issue").
		For(&corev1.Secret{}, isSecret).
		Watches(&admissionregistrationv1.ValidatingWebhookConfiguration{}, toSecret, isConfiguration).
		WithOptions(controller.Options{NeedLeaderElection: new(false)}).
		Complete(&issuer{client: mgr.GetClient(), opts: o, clock: clock.RealClock{}, recorder: recorder,
			standingAside: standingAside, firstIssueOnly: true})
	if err != nil {
		return fmt.Errorf("setting up the webhook certificate's first issue: %w", err)
	}
	return nil
}

// accessCheck lists the Secret and the webhook configuration as the cache does, once, as the
// manager starts. The RBAC of an install grants that on their names only: a manager told
// other names than its install gives them would wait for a cache that never syncs, and stop
// after the cache sync timeout with nothing but a timeout to say why; the check stops it at
// once, naming the flag to set.
type accessCheck struct {
	reader client.Reader
	opts   Options
}

// NeedLeaderElection is false: every replica serves the webhook.
func (*accessCheck) NeedLeaderElection() bool { return false }

// Start returns an error when the API server forbids a list; it lets other errors pass, for
// the cache to retry.
func (c *accessCheck) Start(ctx context.Context) error {
	err := c.reader.List(ctx, &corev1.SecretList{}, client.InNamespace(c.opts.Namespace),
		client.MatchingFields{"metadata.name": c.opts.SecretName})
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("the manager may not list the Secret %s, which holds the webhook's certificate, in the "+
			"namespace %s: the install grants it on its own Secret by name; name that one with --webhook-cert-secret "+
			"(and its namespace with --webhook-namespace), or grant list, watch and patch on this one: %w",
			c.opts.SecretName, c.opts.Namespace, err)
	}
	if err != nil {
		logf.FromContext(ctx).Error(err, "Checking access to the webhook certificate's Secret")
	}
	err = c.reader.List(ctx, &admissionregistrationv1.ValidatingWebhookConfigurationList{},
		client.MatchingFields{"metadata.name": c.opts.WebhookConfigurationName})
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("the manager may not list the ValidatingWebhookConfiguration %s: the install grants it on "+
			"its own by name; name that one with --webhook-configuration, or grant list, watch and patch on this "+
			"one: %w", c.opts.WebhookConfigurationName, err)
	}
	if err != nil {
		logf.FromContext(ctx).Error(err, "Checking access to the webhook configuration")
	}
	return nil
}

// loader holds the serving certificate of the Secret, as its watch last delivered it.
type loader struct {
	client client.Reader
	key    types.NamespacedName
	cert   atomic.Pointer[tls.Certificate]
}

// getCertificate is the webhook server's tls.Config.GetCertificate.
func (l *loader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := l.cert.Load(); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("no serving certificate yet: the issuer writes it into the Secret %s", l.key)
}

// Reconcile takes the Secret's serving certificate when it changed. A Secret gone or emptied
// leaves the certificate in use: serving it is better than serving none, and the issuer
// reports the Secret's problem.
func (l *loader) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	var secret corev1.Secret
	if err := l.client.Get(ctx, l.key, &secret); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	pair, err := keyPair(secret.Data)
	if errors.Is(err, errNotIssued) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		// Nothing but a new version of the Secret changes this.
		return reconcile.Result{}, reconcile.TerminalError(fmt.Errorf("the Secret %s: %w", l.key, err))
	}
	if cur := l.cert.Load(); cur != nil && bytes.Equal(cur.Certificate[0], pair.Certificate[0]) {
		return reconcile.Result{}, nil
	}
	l.cert.Store(pair)
	logf.FromContext(ctx).Info("Serving the webhook certificate of the Secret", "notAfter", pair.Leaf.NotAfter)
	return reconcile.Result{}, nil
}

// issuer keeps the Secret's CA and serving certificate current and the Secret's CAs in the
// webhook configuration's caBundle, one write per pass. The leader's renews; every replica's
// has firstIssueOnly set and acts only while the Secret holds no usable serving certificate,
// to issue the first one. Its writes carry the resourceVersion they were computed from: of
// replicas racing on the same version, one writes and the others read again what it wrote, so
// that they agree on one CA and one certificate. The Secret holds all the state but the
// moment a new CA was first seen trusted, so that a standby that becomes leader goes on where
// the last one stopped.
type issuer struct {
	client client.Client
	opts   Options
	clock  clock.PassiveClock

	// trustedCA is the signing CA that every webhook of the configuration was last seen to
	// trust, first seen so at trustedSince. It lives in memory: a new leader waits the
	// delay again, which costs nothing but time. One worker reads and writes them.
	trustedCA    []byte
	trustedSince time.Time
	// firstIssueOnly: act only while the Secret holds no usable serving certificate.
	firstIssueOnly bool

	recorder events.EventRecorder
	// standingAside is set while cert-manager's CA injector fills the caBundle; it is shared
	// by the issuers of one manager, so that the manager says so once.
	standingAside *atomic.Bool
}

// caInjectorAnnotations are the annotations that have cert-manager's CA injector fill the
// caBundle of the configuration that carries one.
var caInjectorAnnotations = []string{
	"cert-manager.io/inject-ca-from",
	"cert-manager.io/inject-ca-from-secret",
	"cert-manager.io/inject-apiserver-ca",
}

// ReasonCABundleInjectedByCertManager is the reason of the event that says the manager
// leaves the caBundle to cert-manager's CA injector.
const ReasonCABundleInjectedByCertManager = "CABundleInjectedByCertManager"

// The issuer updates only the Secret and the webhook configuration the install creates, by
// name; list and watch are authorized for a request with a metadata.name field selector,
// which the cache sends (CacheByObject). Every read goes through the cache, or lists as it
// does (accessCheck): no get.
// +kubebuilder:rbac:groups="",namespace=system,resources=secrets,resourceNames=webhook-server-cert,verbs=list;watch;patch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,resourceNames=validating-webhook-configuration,verbs=list;watch;patch

// Reconcile takes the next step of decide.
func (r *issuer) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	key := r.opts.secretKey()
	var secret corev1.Secret
	if err := r.client.Get(ctx, key, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, fmt.Errorf("the Secret %s, which holds the webhook's certificate, does not exist: "+
				"create it, empty (dist/install.yaml does); the manager may update it but not create Secrets", key)
		}
		return reconcile.Result{}, fmt.Errorf("reading the Secret %s: %w", key, err)
	}
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := r.client.Get(ctx, types.NamespacedName{Name: r.opts.WebhookConfigurationName}, &vwc); err != nil {
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, fmt.Errorf("the ValidatingWebhookConfiguration %s does not exist: apply it "+
				"(dist/install.yaml holds it), or name yours with --webhook-configuration", r.opts.WebhookConfigurationName)
		}
		return reconcile.Result{}, fmt.Errorf("reading the ValidatingWebhookConfiguration %s: %w",
			r.opts.WebhookConfigurationName, err)
	}
	if r.standAside(ctx, &vwc) {
		return reconcile.Result{}, nil
	}
	bundles := make([][]byte, 0, len(vwc.Webhooks))
	for _, w := range vwc.Webhooks {
		bundles = append(bundles, w.ClientConfig.CABundle)
	}

	now := r.clock.Now()
	if r.firstIssueOnly && usableCert(now, secret.Data, r.opts) {
		return reconcile.Result{}, nil
	}
	p := decide(now, secret.Data, bundles, r.caTrustedSince(now, secret.Data, bundles), r.opts)
	if p.step == stepNone {
		return reconcile.Result{RequeueAfter: p.renewAfter}, nil
	}
	logf.FromContext(ctx).Info("Rotating the webhook certificate", "step", p.step.String())
	err := r.take(ctx, p.step, now, &secret, &vwc, bundles)
	if apierrors.IsConflict(err) {
		// Another writer changed the object since the cache delivered it: a replica racing to
		// issue the first certificate, the leader, or an apply. Its watch event starts the next
		// pass from what it wrote; the requeue stands in for an event lost.
		logf.FromContext(ctx).V(1).Info("The webhook certificate's object changed since it was read; again",
			"step", p.step.String())
		return reconcile.Result{RequeueAfter: conflictRetry}, nil
	}
	return reconcile.Result{}, err
}

// conflictRetry is when a pass whose write met a newer version runs again, if no watch event
// ran it before.
const conflictRetry = time.Second

// take takes one step: one write to the Secret or the webhook configuration, computed from
// the versions read, at now.
func (r *issuer) take(ctx context.Context, s step, now time.Time, secret *corev1.Secret,
	vwc *admissionregistrationv1.ValidatingWebhookConfiguration, bundles [][]byte) error {
	switch s {
	case stepNewCA:
		ca, err := newCA(now, r.opts)
		if err != nil {
			return err
		}
		return r.patchSecret(ctx, secret, map[string][]byte{
			CABundleKey: bundleWithNewCA(now, ca, secret.Data[CABundleKey]),
			CAKeyKey:    ca.KeyPEM,
		})
	case stepInjectCABundle:
		patch := client.MergeFromWithOptions(vwc.DeepCopy(), client.MergeFromWithOptimisticLock{})
		bundle := mergedBundle(now, secret.Data[CABundleKey], bundles)
		for i := range vwc.Webhooks {
			vwc.Webhooks[i].ClientConfig.CABundle = bundle
		}
		if err := r.client.Patch(ctx, vwc, patch, client.FieldOwner(appsv1alpha1.FieldManager)); err != nil {
			return fmt.Errorf("writing the caBundle of the ValidatingWebhookConfiguration %s: %w", vwc.Name, err)
		}
		return nil
	default: // stepNewCert
		ca, err := signingCAArtifacts(secret.Data)
		if err != nil {
			return err
		}
		cert, certKey, err := newServingCert(now, ca, r.opts)
		if err != nil {
			return err
		}
		return r.patchSecret(ctx, secret, map[string][]byte{CertKey: cert, KeyKey: certKey})
	}
}

// standAside says whether the configuration carries an annotation of cert-manager's CA
// injector, and says so, once, when it starts to: the injector writes the caBundle then, and
// writing it too would undo its writes and it ours, as while an install switches to
// config/cert-manager. The issuer writes nothing then, not even into the Secret: a
// certificate it would sign is one the caBundle does not trust. The configuration's watch
// starts a pass when the annotation goes.
func (r *issuer) standAside(ctx context.Context, vwc *admissionregistrationv1.ValidatingWebhookConfiguration) bool {
	for _, a := range caInjectorAnnotations {
		if _, ok := vwc.Annotations[a]; !ok {
			continue
		}
		if r.standingAside.CompareAndSwap(false, true) {
			logf.FromContext(ctx).Info("cert-manager's CA injector fills the webhook configuration's caBundle: "+
				"the manager issues nothing until the annotation goes", "annotation", a, "configuration", vwc.Name)
			r.recorder.Eventf(vwc, nil, corev1.EventTypeWarning, ReasonCABundleInjectedByCertManager, "InjectCABundle",
				"the annotation %s has cert-manager's CA injector fill the caBundle: the manager, "+
					"run with --webhook-cert-management=self, issues nothing until it goes", a)
		}
		return true
	}
	if r.standingAside.CompareAndSwap(true, false) {
		logf.FromContext(ctx).Info("cert-manager's CA injector no longer fills the caBundle: the manager issues again")
	}
	return false
}

// caTrustedSince returns since when the issuer has seen every caBundle trust the Secret's
// signing CA, or zero when one does not.
func (r *issuer) caTrustedSince(now time.Time, data map[string][]byte, caBundles [][]byte) time.Time {
	cas := parseBundle(data[CABundleKey])
	if len(cas) == 0 {
		return time.Time{}
	}
	for _, b := range caBundles {
		if !includes(b, cas[:1]) {
			r.trustedCA = nil
			return time.Time{}
		}
	}
	if !bytes.Equal(r.trustedCA, cas[0].Raw) {
		r.trustedCA, r.trustedSince = cas[0].Raw, now
	}
	return r.trustedSince
}

// patchSecret writes data into the Secret, if it has not changed since it was read.
func (r *issuer) patchSecret(ctx context.Context, secret *corev1.Secret, data map[string][]byte) error {
	patch := client.MergeFromWithOptions(secret.DeepCopy(), client.MergeFromWithOptimisticLock{})
	if secret.Data == nil {
		secret.Data = map[string][]byte{}
	}
	for k, v := range data {
		secret.Data[k] = v
	}
	if err := r.client.Patch(ctx, secret, patch, client.FieldOwner(appsv1alpha1.FieldManager)); err != nil {
		return fmt.Errorf("writing the Secret %s/%s: %w", secret.Namespace, secret.Name, err)
	}
	return nil
}
