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

// Package manager wires the operator into a controller-runtime manager: the EphemeralJob
// controller, its validating webhook, the optional MySQL recorder and the health checks.
// cmd/main.go and the demo both build their manager here, so they run the same wiring.
package manager

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/controller"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/leader"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/webhookcert"
	webhookv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/webhooks/v1alpha1"
)

// LeaderElectionID names the lease the managers of one cluster compete for.
const LeaderElectionID = "ephemeraljob-operator.kruise.io"

// AddToScheme adds the types the manager reads and writes: Kubernetes' built-in types
// and the EphemeralJob types.
func AddToScheme(s *runtime.Scheme) error {
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return err
	}
	return appsv1alpha1.AddToScheme(s)
}

// Options choose what the manager runs besides the controller.
type Options struct {
	// Webhooks serves the validating webhook; the manager's webhook server then needs
	// a serving certificate, from its CertDir unless WebhookCert is set.
	Webhooks bool
	// WebhookCert, with Webhooks, makes the manager issue, rotate and serve its webhook's
	// certificate itself (see webhookcert); an empty Namespace means the pod's. The webhook
	// server must then be controller-runtime's default one; its CertDir is not read.
	WebhookCert *webhookcert.Options
	// MySQL, when set, records jobs and the pods they target in this database.
	MySQL *recorder.Config
	// Recorder tunes the MySQL recorder.
	Recorder recorder.Options
	// StatusWriteInterval is how often, at most, a running job's status is written when only
	// its counts changed (see controller.EphemeralJobReconciler); zero means the default.
	StatusWriteInterval time.Duration
	// StatusWriteQPS is how many of those writes per second all jobs share, taking turns
	// (see controller.EphemeralJobReconciler); zero means the default, negative no sharing.
	StatusWriteQPS float64
	// KeepFullPods caches pods whole, as the API server sends them, instead of through
	// controller.TrimPod. It exists to measure what the transform saves; a manager serving
	// a cluster leaves it false.
	KeepFullPods bool
	// MaxConcurrentReconciles is how many jobs the controller reconciles at once; zero means
	// controller.DefaultMaxConcurrentReconciles.
	MaxConcurrentReconciles int
	// LeaderElectionIdentity names this manager in the lease, with leader election; empty
	// means the host name and a random suffix, as controller-runtime does.
	LeaderElectionIdentity string
}

// DefaultRenewDeadline is how long a leader keeps acting without renewing its lease, and
// DefaultLeaseDuration how long a standby waits before it takes an unrenewed lease
// (controller-runtime's defaults, set explicitly: the fence depends on them).
//
// DefaultRetryPeriod is how often a standby tries to take the lease, and the leader to
// renew it. A leader that stops gracefully releases its lease, and the standby takes it at
// its next try, which client-go draws between one and 2.2 retry periods after the last:
// with controller-runtime's 2 s, a rolling update left jobs without a leader for up to
// 4.4 s; with 0.5 s, for at most 1.1 s and the new leader's first pass. It costs two lease
// renewals a second.
const (
	DefaultRenewDeadline = 10 * time.Second
	DefaultLeaseDuration = 15 * time.Second
	DefaultRetryPeriod   = 500 * time.Millisecond
)

// New creates a manager running the EphemeralJob controller, the webhook and the MySQL
// recorder as opts say, with the healthz and readyz checks ("mysql" among the latter
// when recording). It sets the pod cache's transform and, when unset, the scheme (a new
// one with AddToScheme) and the leader election ID; the other ctrl.Options are the
// caller's. ctx bounds the controller's background work; the manager runs until the
// context given to its Start ends.
func New(ctx context.Context, cfg *rest.Config, mgrOpts ctrl.Options, opts Options) (ctrl.Manager, error) {
	if mgrOpts.Scheme == nil {
		mgrOpts.Scheme = runtime.NewScheme()
		if err := AddToScheme(mgrOpts.Scheme); err != nil {
			return nil, fmt.Errorf("building the scheme: %w", err)
		}
	}
	if mgrOpts.LeaderElectionID == "" {
		mgrOpts.LeaderElectionID = LeaderElectionID
	}
	// Keep only what the controller and the recorder read of each pod: the cache holds every
	// pod of the cluster.
	byObject := map[client.Object]cache.ByObject{&corev1.Pod{}: {Transform: controller.TrimPod}}
	if opts.KeepFullPods {
		byObject = map[client.Object]cache.ByObject{}
	}
	for obj, o := range mgrOpts.Cache.ByObject {
		if _, isPod := obj.(*corev1.Pod); !isPod {
			byObject[obj] = o
		}
	}
	var certOpts *webhookcert.Options
	if opts.Webhooks && opts.WebhookCert != nil {
		certOpts = new(*opts.WebhookCert)
		if certOpts.Namespace == "" {
			ns, err := podNamespace("--webhook-namespace")
			if err != nil {
				return nil, fmt.Errorf("the webhook certificate needs the namespace of its Secret and Service: %w", err)
			}
			certOpts.Namespace = ns
		}
		maps.Copy(byObject, webhookcert.CacheByObject(*certOpts))
	}
	mgrOpts.Cache.ByObject = byObject

	reconciler := &controller.EphemeralJobReconciler{StatusWriteInterval: opts.StatusWriteInterval,
		StatusWriteQPS: opts.StatusWriteQPS, MaxConcurrentReconciles: opts.MaxConcurrentReconciles}
	if mgrOpts.LeaderElection && mgrOpts.LeaderElectionResourceLockInterface == nil {
		fence, err := newFence(cfg, &mgrOpts, opts.LeaderElectionIdentity)
		if err != nil {
			return nil, err
		}
		mgrOpts.LeaderElectionResourceLockInterface = fence
		reconciler.Leader = fence
	}

	mgr, err := ctrl.NewManager(cfg, mgrOpts)
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	reconciler.Client = mgr.GetClient()
	reconciler.Recorder = mgr.GetEventRecorder("ephemeraljob-controller")
	if err := reconciler.SetupWithManager(ctx, mgr); err != nil {
		return nil, fmt.Errorf("setting up the EphemeralJob controller: %w", err)
	}
	if opts.Webhooks {
		if err := webhookv1alpha1.SetupEphemeralJobWebhookWithManager(mgr); err != nil {
			return nil, fmt.Errorf("setting up the EphemeralJob webhook: %w", err)
		}
	}
	if certOpts != nil {
		if err := webhookcert.SetupWithManager(mgr, *certOpts); err != nil {
			return nil, fmt.Errorf("setting up the webhook certificate: %w", err)
		}
	}
	if opts.Webhooks {
		// Ready once the webhook completes a TLS handshake: not before it has a certificate.
		if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
			return nil, fmt.Errorf("setting up the webhook ready check: %w", err)
		}
	}
	if opts.MySQL != nil {
		mysqlReady, err := recorder.SetupWithManager(mgr, *opts.MySQL, opts.Recorder)
		if err != nil {
			return nil, fmt.Errorf("setting up the MySQL recorder: %w", err)
		}
		if err := mgr.AddReadyzCheck("mysql", mysqlReady); err != nil {
			return nil, fmt.Errorf("setting up the MySQL ready check: %w", err)
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("setting up the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("setting up the ready check: %w", err)
	}
	return mgr, nil
}

// newFence builds the lease lock controller-runtime would (a Lease named LeaderElectionID in
// LeaderElectionNamespace, or the namespace of the pod's service account), wrapped in a
// leader.Fence that the controller consults before every write. It sets the lease timings
// explicitly, so that the fence and the elector agree on the renew deadline, and the retry
// period the caller left unset.
func newFence(cfg *rest.Config, o *ctrl.Options, identity string) (*leader.Fence, error) {
	if o.RenewDeadline == nil {
		o.RenewDeadline = new(DefaultRenewDeadline)
	}
	if o.LeaseDuration == nil {
		o.LeaseDuration = new(DefaultLeaseDuration)
	}
	if o.RetryPeriod == nil {
		o.RetryPeriod = new(DefaultRetryPeriod)
	}
	if *o.RenewDeadline >= *o.LeaseDuration {
		return nil, fmt.Errorf("the renew deadline (%s) must be shorter than the lease duration (%s)",
			*o.RenewDeadline, *o.LeaseDuration)
	}
	ns := o.LeaderElectionNamespace
	if ns == "" {
		var err error
		if ns, err = podNamespace("--leader-election-namespace"); err != nil {
			return nil, fmt.Errorf("leader election needs the namespace of its lease: %w", err)
		}
	}
	if identity == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("naming this manager in the lease: %w", err)
		}
		identity = host + "_" + string(uuid.NewUUID())
	}
	if o.LeaderElectionConfig != nil {
		cfg = o.LeaderElectionConfig
	}
	cfg = rest.AddUserAgent(rest.CopyConfig(cfg), "leader-election")
	// A hung renewal must not use up the renew deadline on its own.
	cfg.Timeout = max(*o.RenewDeadline/2, time.Second)
	clients, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the leader election client: %w", err)
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, ns, o.LeaderElectionID, clients.CoreV1(),
		clients.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: identity})
	if err != nil {
		return nil, fmt.Errorf("creating the leader election lock: %w", err)
	}
	return leader.NewFence(lock, *o.RenewDeadline, clock.RealClock{}), nil
}

// inClusterNamespaceFile holds the namespace of the pod's service account.
const inClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// podNamespace returns the namespace of the pod's service account; flag names the flag that
// sets the namespace outside a cluster.
func podNamespace(flag string) (string, error) {
	b, err := os.ReadFile(inClusterNamespaceFile)
	if err != nil {
		return "", errors.New("set " + flag + " when running outside a cluster")
	}
	return strings.TrimSpace(string(b)), nil
}
