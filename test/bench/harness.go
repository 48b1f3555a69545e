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

// Package bench measures the EphemeralJob controller against a real kube-apiserver
// (envtest) with a fast kubelet stand-in: the time a job takes against the floor of a
// bare client doing the same writes, the requests the manager sends, the memory of its
// pod cache, and the MySQL recorder's throughput and lag.
package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
	"github.com/ephemeraljob/ephemeraljob-operator/test/kubelet"
)

// StubWorkers is how many pods the kubelet stand-in updates at once.
const StubWorkers = 16

// Scheme knows the core and EphemeralJob types.
var Scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(appsv1alpha1.AddToScheme(Scheme))
}

// Harness is a running control plane with the kubelet stand-in and unthrottled clients.
type Harness struct {
	Env *envtest.Environment
	// Config reaches the API server without client-side rate limiting.
	Config    *rest.Config
	Clientset kubernetes.Interface
	Client    client.Client

	stop  context.CancelFunc
	stubs sync.WaitGroup

	mu sync.Mutex
	// running and finished are when the stand-in last raised, per "ns/name", the number of
	// the pod's ephemeral containers written running (or terminated) and terminated: a pod
	// injected a second time (the many-jobs floor and jobs share their pods) is timed by
	// its newest container. runningCount and finishedCount are those numbers.
	running, finished           map[string]time.Time
	runningCount, finishedCount map[string]int
	statusWrites                int
}

// Start starts the envtest control plane and the kubelet stand-in.
func Start(ctx context.Context) (*Harness, error) {
	logf.SetLogger(zap.New(zap.Level(zapcore.ErrorLevel)))
	h := &Harness{Env: testutil.NewEnvironment(), running: map[string]time.Time{}, finished: map[string]time.Time{},
		runningCount: map[string]int{}, finishedCount: map[string]int{}}
	cfg, err := h.Env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	h.Config = rest.CopyConfig(cfg)
	h.Config.QPS, h.Config.Burst = -1, 0
	if h.Clientset, err = kubernetes.NewForConfig(h.Config); err != nil {
		return nil, errors.Join(err, h.Env.Stop())
	}
	if h.Client, err = client.New(h.Config, client.Options{Scheme: Scheme}); err != nil {
		return nil, errors.Join(err, h.Env.Stop())
	}
	stubCtx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	stub := &kubelet.Stub{Client: h.Clientset, Decide: kubelet.ExitZero, Workers: StubWorkers, Written: h.noteWritten}
	h.stubs.Go(func() { _ = stub.Run(stubCtx) })
	return h, nil
}

// Stop stops the stand-in and the control plane.
func (h *Harness) Stop() error {
	h.stop()
	h.stubs.Wait()
	return h.Env.Stop()
}

func (h *Harness) noteWritten(pod *corev1.Pod) {
	now := time.Now()
	key := pod.Namespace + "/" + pod.Name
	terminated, started := 0, 0
	for _, st := range pod.Status.EphemeralContainerStatuses {
		if st.State.Terminated != nil {
			terminated++
		}
		if st.State.Running != nil || st.State.Terminated != nil {
			started++
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.statusWrites++
	if started > h.runningCount[key] {
		h.running[key], h.runningCount[key] = now, started
	}
	if terminated > h.finishedCount[key] {
		h.finished[key], h.finishedCount[key] = now, terminated
	}
}

// waitStub waits, up to a few seconds, until the stand-in's record shows every pod
// finished after its injection: a watcher can see a status before the stand-in's write
// call returned.
func (h *Harness) waitStub(ctx context.Context, injected map[string]time.Time) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		_, finished := h.stubTimes()
		missing := false
		for k, at := range injected {
			if f, ok := finished[k]; !ok || f.Before(at) {
				missing = true
				break
			}
		}
		if !missing {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stubTimes returns when the stand-in last wrote a newly running and a newly terminated
// container of each pod.
func (h *Harness) stubTimes() (running, finished map[string]time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	running, finished = make(map[string]time.Time, len(h.running)), make(map[string]time.Time, len(h.finished))
	for k, v := range h.running {
		running[k] = v
	}
	for k, v := range h.finished {
		finished[k] = v
	}
	return running, finished
}

// Namespace creates a namespace with a name starting with prefix.
func (h *Harness) Namespace(ctx context.Context, prefix string) (string, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := h.Client.Create(ctx, ns); err != nil {
		return "", fmt.Errorf("creating a namespace: %w", err)
	}
	return ns.Name, nil
}

// DeletePods deletes every pod of a namespace (unscheduled pods go at once). A large
// collection can outlast the API server's request timeout while its deletion goes on, so
// the call is repeated until no pod is left.
func (h *Harness) DeletePods(ctx context.Context, ns string) error {
	pods := h.Clientset.CoreV1().Pods(ns)
	var err error
	for range 10 {
		err = pods.DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}, metav1.ListOptions{})
		left, listErr := pods.List(ctx, metav1.ListOptions{Limit: 1})
		if listErr == nil && len(left.Items) == 0 {
			return nil
		}
		if err == nil {
			err = listErr
		}
	}
	return fmt.Errorf("deleting the pods of %s: %w", ns, err)
}

// WriteKubeconfig writes a kubeconfig for the API server into dir and returns its path.
func (h *Harness) WriteKubeconfig(dir string) (string, error) {
	c := clientcmdapi.NewConfig()
	c.Clusters["bench"] = &clientcmdapi.Cluster{Server: h.Config.Host, CertificateAuthorityData: h.Config.CAData}
	c.AuthInfos["bench"] = &clientcmdapi.AuthInfo{ClientCertificateData: h.Config.CertData,
		ClientKeyData: h.Config.KeyData, Token: h.Config.BearerToken}
	c.Contexts["bench"] = &clientcmdapi.Context{Cluster: "bench", AuthInfo: "bench"}
	c.CurrentContext = "bench"
	path := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*c, path); err != nil {
		return "", fmt.Errorf("writing a kubeconfig: %w", err)
	}
	return path, os.Chmod(path, 0o600)
}
