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

// Package recorder runs the EphemeralJob controller and the MySQL recorder together in
// a manager, against a real kube-apiserver and a private MariaDB, with a stand-in for
// the kubelet.
package recorder

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/controller"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil/mariadb"
	"github.com/ephemeraljob/ephemeraljob-operator/test/harness"
	"github.com/ephemeraljob/ephemeraljob-operator/test/kubelet"
)

// testRegion is the --region of every recorder of the suite.
const testRegion = "region-test"

var (
	testEnv   *envtest.Environment
	cfg       *rest.Config
	k8s       client.Client // direct, uncached
	clientset *kubernetes.Clientset
	scheme    = runtime.NewScheme()
	db        *mariadb.Server

	// deciders chooses, per namespace, what the kubelet stand-in makes of each container.
	deciders kubelet.Deciders
	stopStub context.CancelFunc
)

func TestRecorder(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Recorder Suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(appsv1alpha1.AddToScheme(scheme))

	var err error
	db, err = mariadb.Start(ctx)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(db.Close()).To(Succeed()) })

	testEnv = testutil.NewEnvironment()
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(testEnv.Stop()).To(Succeed()) })
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	clientset, err = kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())

	// The machines that run this suite are small and shared: be generous.
	SetDefaultEventuallyTimeout(90 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)

	var stubCtx context.Context
	stubCtx, stopStub = context.WithCancel(context.Background())
	stub := &kubelet.Stub{Client: clientset, Decide: deciders.Decide}
	stubDone := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(stubDone)
		Expect(stub.Run(stubCtx)).To(Succeed())
	}()
	DeferCleanup(func() { stopStub(); <-stubDone })
}, NodeTimeout(5*time.Minute))

// running is a manager running the controller and the recorder.
type running struct {
	*harness.Manager
	// ready is the recorder's MySQL readiness check.
	ready healthz.Checker
}

// recorderOptions are short delays, so that the specs see retries and pings quickly.
var recorderOptions = recorder.Options{
	Region:         testRegion,
	BatchWait:      20 * time.Millisecond,
	RetryBaseDelay: 50 * time.Millisecond,
	RetryMaxDelay:  500 * time.Millisecond,
	PingInterval:   200 * time.Millisecond,
	QueryTimeout:   10 * time.Second,
}

// startManager runs the controller and the recorder writing to mysqlCfg in a manager of
// their own, logging to log (the suite's logger when zero), until the returned
// manager's Stop; the spec stops it at the latest when it ends. configure adjusts the
// manager's options (e.g. leader election).
func startManager(mysqlCfg recorder.Config, log logr.Logger, configure ...func(*ctrl.Options)) *running {
	return startManagerWith(mysqlCfg, recorderOptions, log, configure...)
}

// startManagerWith is startManager with the recorder's options.
func startManagerWith(mysqlCfg recorder.Config, opts recorder.Options, log logr.Logger,
	configure ...func(*ctrl.Options)) *running {
	return startManagerOn(cfg, mysqlCfg, opts, log, configure...)
}

// startManagerOn is startManagerWith talking to the API server through restCfg.
func startManagerOn(restCfg *rest.Config, mysqlCfg recorder.Config, opts recorder.Options, log logr.Logger,
	configure ...func(*ctrl.Options)) *running {
	mgr, err := harness.NewManager(restCfg, scheme, func(o *ctrl.Options) {
		if log.GetSink() != nil {
			o.Logger = log
		}
		for _, f := range configure {
			f(o)
		}
	})
	Expect(err).NotTo(HaveOccurred())
	check, err := recorder.SetupWithManager(mgr, mysqlCfg, opts)
	Expect(err).NotTo(HaveOccurred())
	Expect(mgr.AddReadyzCheck("mysql", check)).To(Succeed())
	mgr.Run()
	DeferCleanup(func() { Expect(mgr.Stop()).To(Succeed()) })
	return &running{Manager: mgr, ready: check}
}

// readiness runs the MySQL readiness check as the manager's /readyz/mysql does.
func (r *running) readiness() error { return r.ready(nil) }

// leaderElection makes managers compete for the lease id, with short durations so that
// a standby takes over within seconds of the leader's death. The lease is not released
// when a manager stops: a stopped leader is a dead one.
func leaderElection(id string) func(*ctrl.Options) {
	return func(o *ctrl.Options) {
		o.LeaderElection = true
		o.LeaderElectionID = id
		o.LeaderElectionNamespace = "default"
		o.LeaderElectionReleaseOnCancel = false
		o.LeaseDuration = new(4 * time.Second)
		o.RenewDeadline = new(3 * time.Second)
		o.RetryPeriod = new(500 * time.Millisecond)
	}
}

// recorderOnly is a manager running the MySQL recorder without a controller: a second
// writer beside a manager that runs both.
type recorderOnly struct {
	ctrl.Manager
	cancel context.CancelFunc
	done   chan error
}

// startRecorder runs a recorder writing to mysqlCfg in a manager of its own, without a
// controller and without leader election, until Stop; the spec stops it at the latest
// when it ends.
func startRecorder(mysqlCfg recorder.Config, opts recorder.Options) *recorderOnly {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: cache.Options{
			ByObject: map[client.Object]cache.ByObject{&corev1.Pod{}: {Transform: controller.TrimPod}},
		},
	})
	Expect(err).NotTo(HaveOccurred())
	_, err = recorder.SetupWithManager(mgr, mysqlCfg, opts)
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	r := &recorderOnly{Manager: mgr, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- mgr.Start(ctx) }()
	DeferCleanup(r.Stop)
	return r
}

// Stop stops the recorder's manager and waits until it returned; stopping again does nothing.
func (r *recorderOnly) Stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	Expect(<-r.done).To(Succeed())
}
