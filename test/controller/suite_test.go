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

// Package controller runs the EphemeralJob controller against a real kube-apiserver,
// with a stand-in for the kubelet.
package controller

import (
	"context"
	"sync"
	"testing"
	"time"

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
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/controller"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
	"github.com/ephemeraljob/ephemeraljob-operator/test/kubelet"
)

var (
	testEnv   *envtest.Environment
	cfg       *rest.Config
	k8s       client.Client // direct, uncached
	clientset *kubernetes.Clientset
	scheme    = runtime.NewScheme()

	// deciders chooses, per namespace, what the kubelet stand-in makes of each container.
	decidersMu sync.Mutex
	deciders   = map[string]kubelet.Decider{}
	stopStub   context.CancelFunc
)

func TestController(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controller Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(appsv1alpha1.AddToScheme(scheme))

	testEnv = testutil.NewEnvironment()
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	clientset, err = kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())

	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(50 * time.Millisecond)
	var ctx context.Context
	ctx, stopStub = context.WithCancel(context.Background())
	stub := &kubelet.Stub{Client: clientset, Decide: func(pod *corev1.Pod, c *corev1.EphemeralContainer) kubelet.Outcome {
		decidersMu.Lock()
		d := deciders[pod.Namespace]
		decidersMu.Unlock()
		if d == nil {
			return kubelet.Outcome{}
		}
		return d(pod, c)
	}}
	go func() { defer GinkgoRecover(); Expect(stub.Run(ctx)).To(Succeed()) }()
})

var _ = AfterSuite(func() {
	stopStub()
	Expect(testEnv.Stop()).To(Succeed())
})

// startManager runs the controller in a manager of its own until the returned stop is called.
func startManager() (stop func()) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:     scheme,
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: new(true)},
		Cache: cache.Options{
			ByObject: map[client.Object]cache.ByObject{&corev1.Pod{}: {Transform: controller.TrimPod}},
		},
	})
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	Expect((&controller.EphemeralJobReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("ephemeraljob-controller"),
	}).SetupWithManager(ctx, mgr)).To(Succeed())
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	return func() { cancel(); <-done }
}
