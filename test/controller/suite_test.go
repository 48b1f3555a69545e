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
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
	"github.com/ephemeraljob/ephemeraljob-operator/test/harness"
	"github.com/ephemeraljob/ephemeraljob-operator/test/kubelet"
)

var (
	testEnv   *envtest.Environment
	cfg       *rest.Config
	k8s       client.Client // direct, uncached
	clientset *kubernetes.Clientset
	scheme    = runtime.NewScheme()

	// deciders chooses, per namespace, what the kubelet stand-in makes of each container.
	deciders kubelet.Deciders
	stopStub context.CancelFunc
	// kubeconfig lets kubectl reach the API server as an administrator.
	kubeconfig string
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
	admin, err := testEnv.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	data, err := admin.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	kubeconfig = filepath.Join(os.TempDir(), fmt.Sprintf("ejob-controller-suite-%d.kubeconfig", os.Getpid()))
	Expect(os.WriteFile(kubeconfig, data, 0o600)).To(Succeed())
	DeferCleanup(os.Remove, kubeconfig)

	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(50 * time.Millisecond)
	var ctx context.Context
	ctx, stopStub = context.WithCancel(context.Background())
	stub := &kubelet.Stub{Client: clientset, Decide: deciders.Decide}
	go func() { defer GinkgoRecover(); Expect(stub.Run(ctx)).To(Succeed()) }()
})

var _ = AfterSuite(func() {
	stopStub()
	Expect(testEnv.Stop()).To(Succeed())
})

// startManager runs the controller in a manager of its own until the returned stop is called.
func startManager() (stop func()) {
	mgr, err := harness.NewManager(cfg, scheme)
	Expect(err).NotTo(HaveOccurred())
	mgr.Run()
	return func() { Expect(mgr.Stop()).To(Succeed()) }
}
