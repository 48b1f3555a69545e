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

package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/controller"
)

// Environment variables that make a test binary run the cache measurement (RunMemoryChild).
const (
	EnvChildKubeconfig = "EJOB_BENCH_CHILD_KUBECONFIG"
	envChildNamespace  = "EJOB_BENCH_CHILD_NAMESPACE"
	envChildTransform  = "EJOB_BENCH_CHILD_TRANSFORM"
	childResultPrefix  = "EJOB-BENCH-RESULT "
)

// Memory is what a manager process holds once its cache synced.
type Memory struct {
	Pods int `json:"pods"`
	// HeapInuse is runtime.MemStats.HeapInuse after two GCs; HeapAlloc the live objects.
	HeapInuse uint64 `json:"heapInuse"`
	HeapAlloc uint64 `json:"heapAlloc"`
	// RSS is the process's resident set (VmRSS) after returning free memory to the OS.
	RSS uint64 `json:"rss"`
}

// MeasureCache runs, in a new process of the running test binary, a manager with the
// controller whose cache holds the pods of ns (trimmed by TrimPod when transform is set),
// and returns its memory once the cache synced.
func MeasureCache(ctx context.Context, kubeconfig, ns string, transform bool) (Memory, error) {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestMemoryChild$", "-test.v")
	cmd.Env = append(os.Environ(), EnvChildKubeconfig+"="+kubeconfig, envChildNamespace+"="+ns,
		envChildTransform+"="+strconv.FormatBool(transform))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Memory{}, fmt.Errorf("measuring the cache of %s: %w: %s%s", ns, err, out, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), childResultPrefix); ok {
			var m Memory
			if err := json.Unmarshal([]byte(rest), &m); err != nil {
				return Memory{}, fmt.Errorf("reading the cache measurement: %w", err)
			}
			return m, nil
		}
	}
	return Memory{}, fmt.Errorf("the cache measurement printed no result: %s", out)
}

// RunMemoryChild is the measuring process of MeasureCache: it starts the manager as
// cmd/main.go does, waits until its pod and job caches synced, and prints its memory.
func RunMemoryChild() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv(EnvChildKubeconfig))
	if err != nil {
		return fmt.Errorf("reading the kubeconfig: %w", err)
	}
	ns := os.Getenv(envChildNamespace)
	transform, err := strconv.ParseBool(os.Getenv(envChildTransform))
	if err != nil {
		return fmt.Errorf("reading %s: %w", envChildTransform, err)
	}
	cacheOpts := cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}}
	if transform {
		cacheOpts.ByObject = map[client.Object]cache.ByObject{&corev1.Pod{}: {Transform: controller.TrimPod}}
	}
	cfg.QPS, cfg.Burst = controller.DefaultClientQPS, controller.DefaultClientBurst
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: new(true)}, Cache: cacheOpts,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := (&controller.EphemeralJobReconciler{Client: mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("ephemeraljob-controller")}).SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the controller: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return fmt.Errorf("waiting for the manager's cache to start")
	}
	for _, obj := range []client.Object{&corev1.Pod{}, &appsv1alpha1.EphemeralJob{}} {
		if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
			return fmt.Errorf("waiting for the cache: %w", err)
		}
	}
	pods, err := func() (int, error) {
		var list corev1.PodList
		err := mgr.GetCache().List(ctx, &list, client.InNamespace(ns), client.UnsafeDisableDeepCopy)
		return len(list.Items), err
	}()
	if err != nil {
		return fmt.Errorf("listing the cached pods: %w", err)
	}
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, err := residentSet()
	if err != nil {
		return err
	}
	out, err := json.Marshal(Memory{Pods: pods, HeapInuse: ms.HeapInuse, HeapAlloc: ms.HeapAlloc, RSS: rss})
	if err != nil {
		return err
	}
	fmt.Println(childResultPrefix + string(out))
	cancel()
	return <-done
}

// residentSet reads VmRSS from /proc/self/status, in bytes.
func residentSet() (uint64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("reading the resident set: %w", err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			kb, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("reading VmRSS %q: %w", rest, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/self/status")
}
