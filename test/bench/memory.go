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
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/controller"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/manager"
)

// Environment variables that make a test binary run the cache measurement (RunMemoryChild).
const (
	EnvChildKubeconfig = "EJOB_BENCH_CHILD_KUBECONFIG"
	envChildNamespace  = "EJOB_BENCH_CHILD_NAMESPACE"
	envChildFullPods   = "EJOB_BENCH_CHILD_FULL_PODS"
	envChildProfile    = "EJOB_BENCH_CHILD_PROFILE"
	childResultPrefix  = "EJOB-BENCH-RESULT "
)

// ChildMemProfileRate is the heap profile's sampling rate in the measuring process: one
// sample per this many bytes allocated, fine enough to attribute a few KiB per pod.
const ChildMemProfileRate = 16 << 10

// Memory is what a manager process holds once its cache synced.
type Memory struct {
	Pods int `json:"pods"`
	// HeapInuse is runtime.MemStats.HeapInuse after two GCs: the spans holding live
	// objects; HeapAlloc is the live objects themselves.
	HeapInuse uint64 `json:"heapInuse"`
	HeapAlloc uint64 `json:"heapAlloc"`
	// PeakRSS is the process's highest resident set (VmHWM), reached while the caches synced.
	PeakRSS uint64 `json:"peakRSS"`
	// RSS is the process's resident set (VmRSS) after returning free memory to the OS.
	RSS uint64 `json:"rss"`
	// StreamedPods is true when the pod cache synced from a streaming list (a watch with
	// sendInitialEvents) and sent no LIST of pods.
	StreamedPods bool `json:"streamedPods"`
	// Synced is the time from the manager's start to its pod and job caches synced.
	Synced time.Duration `json:"synced"`
}

// CacheRun says how MeasureCache runs its manager.
type CacheRun struct {
	// Namespace is the only namespace the manager's cache holds.
	Namespace string
	// FullPods caches pods whole (manager.Options.KeepFullPods).
	FullPods bool
	// Profile, when set, is where the process writes its heap profile after the sync.
	Profile string
}

// MeasureCache runs, in a new process of the running test binary, a manager built by
// manager.New whose cache holds the pods of one namespace, and returns its memory once
// the cache synced. The new process runs nothing else: no harness, no kubelet stand-in.
func MeasureCache(ctx context.Context, kubeconfig string, run CacheRun) (Memory, error) {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestMemoryChild$", "-test.v")
	cmd.Env = append(os.Environ(), EnvChildKubeconfig+"="+kubeconfig, envChildNamespace+"="+run.Namespace,
		envChildFullPods+"="+strconv.FormatBool(run.FullPods), envChildProfile+"="+run.Profile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Memory{}, fmt.Errorf("measuring the cache of %s: %w: %s%s", run.Namespace, err, out, stderr.String())
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

// RunMemoryChild is the measuring process of MeasureCache: it builds the manager through
// manager.New with cmd/main.go's client limits, waits until its pod and job caches
// synced and its live heap settled, and prints its memory. The heap profile, when asked for, is written after the
// figures were taken.
func RunMemoryChild() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv(EnvChildKubeconfig))
	if err != nil {
		return fmt.Errorf("reading the kubeconfig: %w", err)
	}
	ns := os.Getenv(envChildNamespace)
	fullPods, err := strconv.ParseBool(os.Getenv(envChildFullPods))
	if err != nil {
		return fmt.Errorf("reading %s: %w", envChildFullPods, err)
	}
	cfg.QPS, cfg.Burst = controller.DefaultClientQPS, controller.DefaultClientBurst
	var podLists, podStreams atomic.Int32
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			if verb, resource, _ := classify(req); resource == "pods" {
				switch {
				case verb == "LIST":
					podLists.Add(1)
				case verb == "WATCH" && req.URL.Query().Get("sendInitialEvents") == "true":
					podStreams.Add(1)
				}
			}
			return rt.RoundTrip(req)
		})
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mgr, err := manager.New(ctx, cfg, ctrl.Options{
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: new(true)},
		Cache:      cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}},
	}, manager.Options{KeepFullPods: fullPods})
	if err != nil {
		return fmt.Errorf("building the manager: %w", err)
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return errors.Join(errors.New("waiting for the manager's cache to start"), <-done)
	}
	for _, obj := range []client.Object{&corev1.Pod{}, &appsv1alpha1.EphemeralJob{}} {
		if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
			return fmt.Errorf("waiting for the cache: %w", err)
		}
	}
	synced := time.Since(start)
	var list corev1.PodList
	if err := mgr.GetCache().List(ctx, &list, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing the cached pods: %w", err)
	}
	pods := len(list.Items)
	list = corev1.PodList{}
	ms := settledHeap()
	debug.FreeOSMemory()
	m := Memory{Pods: pods, HeapInuse: ms.HeapInuse, HeapAlloc: ms.HeapAlloc,
		StreamedPods: podStreams.Load() > 0 && podLists.Load() == 0, Synced: synced}
	if m.PeakRSS, m.RSS, err = residentSet(); err != nil {
		return err
	}
	if path := os.Getenv(envChildProfile); path != "" {
		if err := writeHeapProfile(path); err != nil {
			return err
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("printing the measurement: %w", err)
	}
	fmt.Println(childResultPrefix + string(out))
	cancel()
	return <-done
}

// settledHeap waits, up to 30 s, until the live heap stops changing, and returns the
// memory statistics then: the informers' handlers still work through the initial list's
// events after the caches report synced, and their garbage would count as live.
func settledHeap() runtime.MemStats {
	var ms runtime.MemStats
	var prev uint64
	for range 60 {
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		if prev != 0 && max(ms.HeapAlloc, prev)-min(ms.HeapAlloc, prev) <= prev/200 {
			break
		}
		prev = ms.HeapAlloc
		time.Sleep(500 * time.Millisecond)
	}
	return ms
}

// writeHeapProfile writes the heap profile of the live objects (as of the last GC) to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing the heap profile: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing the heap profile: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the heap profile: %w", err)
	}
	return nil
}

// residentSet reads the peak (VmHWM) and current (VmRSS) resident set from
// /proc/self/status, in bytes.
func residentSet() (peak, current uint64, err error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0, fmt.Errorf("reading the resident set: %w", err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		for _, f := range []struct {
			prefix string
			into   *uint64
		}{{"VmHWM:", &peak}, {"VmRSS:", &current}} {
			rest, ok := strings.CutPrefix(line, f.prefix)
			if !ok {
				continue
			}
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				return 0, 0, fmt.Errorf("reading %s %q: no value", f.prefix, rest)
			}
			kb, err := strconv.ParseUint(fields[0], 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("reading %s %q: %w", f.prefix, rest, err)
			}
			*f.into = kb * 1024
		}
	}
	if peak == 0 || current == 0 {
		return 0, 0, errors.New("no VmHWM or VmRSS in /proc/self/status")
	}
	return peak, current, nil
}
