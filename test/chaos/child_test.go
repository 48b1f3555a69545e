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

package chaos

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/controller"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/manager"
)

const (
	// childEnv makes the test binary run the manager instead of the tests.
	childEnv = "EJOB_CHAOS_MANAGER"
	// faultFileEnv names the file where each faulted write appends one byte.
	faultFileEnv = "EJOB_CHAOS_FAULT_FILE"
	// faultRateEnv is the share of ephemeral-container writes applied but answered with a 504.
	faultRateEnv = "EJOB_CHAOS_FAULT_RATE"
)

// runManagerChild runs the operator's manager, wired by internal/manager.New as in
// cmd/main.go, until it is killed. Its client sends every ephemeral-container write to
// the API server, and answers a share of them with a 504 once they were applied, as an
// overloaded API server does.
func runManagerChild() int {
	ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg.QPS, cfg.Burst = controller.DefaultClientQPS, controller.DefaultClientBurst // as cmd/main.go
	rate, _ := strconv.ParseFloat(os.Getenv(faultRateEnv), 64)
	f := &faults{rate: rate, file: os.Getenv(faultFileEnv), rng: rand.New(rand.NewPCG(uint64(os.Getpid()), 7))}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return f.wrap(rt) })
	ctx := ctrl.SetupSignalHandler()
	mgr, err := manager.New(ctx, cfg, ctrl.Options{
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	}, manager.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := mgr.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// faults answers a share of ephemeral-container writes with a 504 after the API server applied them.
type faults struct {
	mu   sync.Mutex
	rate float64
	file string
	rng  *rand.Rand
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

const timeoutBody = `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",` +
	`"message":"Timeout: request did not complete within requested timeout","reason":"Timeout","code":504}`

func (f *faults) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(r)
		if err != nil || r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, "/ephemeralcontainers") ||
			resp.StatusCode != http.StatusOK || !f.hit() {
			return resp, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if out, err := os.OpenFile(f.file, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
			_, _ = out.Write([]byte{'x'})
			_ = out.Close()
		}
		return &http.Response{StatusCode: http.StatusGatewayTimeout, Status: "504 Gateway Timeout",
			Header: http.Header{"Content-Type": []string{"application/json"}}, Request: r,
			Body: io.NopCloser(bytes.NewBufferString(timeoutBody)), ContentLength: int64(len(timeoutBody)),
			Proto: resp.Proto, ProtoMajor: resp.ProtoMajor, ProtoMinor: resp.ProtoMinor}, nil
	})
}

func (f *faults) hit() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.Float64() < f.rate
}
