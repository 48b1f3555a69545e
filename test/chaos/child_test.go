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
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/controller"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/manager"
)

// childEnv makes the test binary run the manager instead of the tests; its value is the
// childSpec, as JSON.
const childEnv = "EJOB_CHAOS_MANAGER"

// The files of a run's directory where each manager process appends one byte per counted
// write, so that the counts survive the processes.
const (
	// podFaultsFile counts the ephemeral-container writes answered with a 504 once applied.
	podFaultsFile = "pod-faults"
	// statusAppliedFile counts the job's status writes the API server applied.
	statusAppliedFile = "status-applied"
	// statusFaultsFile counts those among them answered with a 504.
	statusFaultsFile = "status-faults"
	// statusRefusedFile counts the job's status writes the API server did not apply
	// (conflicts mostly).
	statusRefusedFile = "status-refused"
)

// Lease timings of the managers run with leader election: short, so that a pause past the
// lease costs seconds, and long enough that a renewal on this loaded machine does not miss
// its deadline.
const (
	leaseDuration = 4 * time.Second
	renewDeadline = 3 * time.Second
	retryPeriod   = 500 * time.Millisecond
)

// childSpec is what the test tells a manager process.
type childSpec struct {
	Kubeconfig string `json:"kubeconfig"`
	// Dir holds the counting files.
	Dir string `json:"dir"`
	// Seed seeds the process's fault choices; each process of a run gets its own.
	Seed uint64 `json:"seed"`
	// PodFaultRate is the share of ephemeral-container writes applied but answered with a 504.
	PodFaultRate float64 `json:"podFaultRate,omitempty"`
	// StatusFaultRate is the share of the job's applied status writes answered with a 504,
	// besides those that keep the share at least minStatusFaultShare.
	StatusFaultRate float64 `json:"statusFaultRate,omitempty"`
	// Identity, when set, runs the manager with leader election, under this name.
	Identity string `json:"identity,omitempty"`
	// StatusWriteInterval is the manager's; zero means its default.
	StatusWriteInterval time.Duration `json:"statusWriteInterval,omitempty"`
}

// runManagerChild runs the operator's manager, wired by internal/manager.New as in
// cmd/main.go, until it is killed or, with leader election, until it loses its lease.
// Its client sends every write to the API server, and answers a share of the
// ephemeral-container writes and of the job's status writes with a 504 once they were
// applied, as an overloaded API server does.
func runManagerChild() int {
	ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	var spec childSpec
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", spec.Kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg.QPS, cfg.Burst = controller.DefaultClientQPS, controller.DefaultClientBurst // as cmd/main.go
	f := &faults{spec: spec, rng: rand.New(rand.NewPCG(spec.Seed, 7))}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return f.wrap(rt) })
	ctx := ctrl.SetupSignalHandler()
	mgrOpts := ctrl.Options{
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	}
	if spec.Identity != "" {
		ld, rd, rp := leaseDuration, renewDeadline, retryPeriod
		mgrOpts.LeaderElection = true
		mgrOpts.LeaderElectionNamespace = namespace
		mgrOpts.LeaderElectionID = manager.LeaderElectionID
		mgrOpts.LeaseDuration, mgrOpts.RenewDeadline, mgrOpts.RetryPeriod = &ld, &rd, &rp
		mgrOpts.LeaderElectionReleaseOnCancel = true
	}
	mgr, err := manager.New(ctx, cfg, mgrOpts, manager.Options{LeaderElectionIdentity: spec.Identity,
		StatusWriteInterval: spec.StatusWriteInterval})
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

// minStatusFaultShare is the share of the job's applied status writes that are answered
// with a 504 whatever the random draws: a write is faulted whenever fewer than this share
// of the writes so far were, so that a run with few status writes still meets enough.
const minStatusFaultShare = 0.25

// statusPath is the path of an EphemeralJob's status subresource.
var statusPath = regexp.MustCompile(`/ephemeraljobs/[^/]+/status$`)

// faults answers a share of ephemeral-container writes and of status writes with a 504
// after the API server applied them.
type faults struct {
	spec childSpec
	mu   sync.Mutex
	rng  *rand.Rand
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

const timeoutBody = `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",` +
	`"message":"Timeout: request did not complete within requested timeout","reason":"Timeout","code":504}`

func (f *faults) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		raisesLimit := false
		if statusPath.MatchString(r.URL.Path) && r.GetBody != nil {
			if body, err := r.GetBody(); err == nil {
				b, _ := io.ReadAll(body)
				raisesLimit = bytes.Contains(b, []byte(`"indexLimit"`))
			}
		}
		resp, err := rt.RoundTrip(r)
		if err != nil {
			return resp, err
		}
		switch {
		case r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/ephemeralcontainers"):
			if resp.StatusCode != http.StatusOK || !f.hit(f.spec.PodFaultRate) {
				return resp, err
			}
			f.count(podFaultsFile)
		case (r.Method == http.MethodPatch || r.Method == http.MethodPut) && statusPath.MatchString(r.URL.Path):
			if resp.StatusCode != http.StatusOK {
				f.count(statusRefusedFile)
				return resp, err
			}
			if !f.statusHit(raisesLimit) {
				return resp, err
			}
			f.count(statusFaultsFile)
		default:
			return resp, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return &http.Response{StatusCode: http.StatusGatewayTimeout, Status: "504 Gateway Timeout",
			Header: http.Header{"Content-Type": []string{"application/json"}}, Request: r,
			Body: io.NopCloser(bytes.NewBufferString(timeoutBody)), ContentLength: int64(len(timeoutBody)),
			Proto: resp.Proto, ProtoMajor: resp.ProtoMajor, ProtoMinor: resp.ProtoMinor}, nil
	})
}

func (f *faults) hit(rate float64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.Float64() < rate
}

// statusHit counts an applied status write and says whether to answer it with a 504. The
// counts are read from the files, which every manager process of the run appends to, so
// that the share holds across crashes. A write that raises the index limit is always
// answered with a 504: the next pass then meets a limit it did not know was written,
// while injections it accepted may not be in its cache yet.
func (f *faults) statusHit(raisesLimit bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count(statusAppliedFile)
	if f.spec.StatusFaultRate <= 0 {
		return false
	}
	applied, faulted := countIn(f.spec.Dir, statusAppliedFile), countIn(f.spec.Dir, statusFaultsFile)
	return raisesLimit || f.rng.Float64() < f.spec.StatusFaultRate || float64(faulted) < minStatusFaultShare*float64(applied)
}

// count appends one byte to the named file of the run's directory.
func (f *faults) count(name string) {
	if out, err := os.OpenFile(filepath.Join(f.spec.Dir, name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
		_, _ = out.Write([]byte{'x'})
		_ = out.Close()
	}
}

// countIn returns how many writes the named file of a run's directory counts.
func countIn(dir, name string) int {
	st, err := os.Stat(filepath.Join(dir, name))
	if err != nil {
		return 0
	}
	return int(st.Size())
}
