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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/controller"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/manager"
)

// EnvManagerChild makes a test binary run a manager with leader election (RunManagerChild);
// its value is the managerSpec, as JSON.
const EnvManagerChild = "EJOB_BENCH_MANAGER"

// Lines a manager process prints: its pod cache synced, it leads.
const (
	childSynced  = "EJOB-BENCH-SYNCED"
	childLeading = "EJOB-BENCH-LEADING"
)

// LeaseTimings are leader election's timings. Zero values are cmd/main.go's: those of
// internal/manager.
type LeaseTimings struct {
	LeaseDuration time.Duration `json:"leaseDuration,omitempty"`
	RenewDeadline time.Duration `json:"renewDeadline,omitempty"`
	RetryPeriod   time.Duration `json:"retryPeriod,omitempty"`
}

// Lease returns the lease duration the managers run with.
func (l LeaseTimings) Lease() time.Duration {
	if l.LeaseDuration > 0 {
		return l.LeaseDuration
	}
	return manager.DefaultLeaseDuration
}

// Retry returns the retry period the managers run with.
func (l LeaseTimings) Retry() time.Duration {
	if l.RetryPeriod > 0 {
		return l.RetryPeriod
	}
	return manager.DefaultRetryPeriod
}

// managerSpec is what the test tells a manager process.
type managerSpec struct {
	Kubeconfig string `json:"kubeconfig"`
	Identity   string `json:"identity"`
	// Namespace holds the lease.
	Namespace string       `json:"namespace"`
	Lease     LeaseTimings `json:"lease"`
}

// RunManagerChild runs the operator's manager as cmd/main.go does with --leader-elect:
// built by internal/manager.New, with cmd/main.go's client limits, releasing its lease when
// it stops (SIGTERM). It prints childSynced once its pod cache synced and childLeading once
// it leads, and returns when the manager stopped.
func RunManagerChild() error {
	var spec managerSpec
	if err := json.Unmarshal([]byte(os.Getenv(EnvManagerChild)), &spec); err != nil {
		return fmt.Errorf("reading %s: %w", EnvManagerChild, err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", spec.Kubeconfig)
	if err != nil {
		return fmt.Errorf("reading the kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = controller.DefaultClientQPS, controller.DefaultClientBurst
	// The log goes to a file the test shows when a handover fails.
	ctrl.SetLogger(zap.New())
	ctx := ctrl.SetupSignalHandler()
	opts := ctrl.Options{
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		LeaderElection:                true,
		LeaderElectionNamespace:       spec.Namespace,
		LeaderElectionReleaseOnCancel: true,
	}
	if l := spec.Lease; l.LeaseDuration > 0 {
		opts.LeaseDuration, opts.RenewDeadline, opts.RetryPeriod = &l.LeaseDuration, &l.RenewDeadline, &l.RetryPeriod
	}
	mgr, err := manager.New(ctx, cfg, opts, manager.Options{LeaderElectionIdentity: spec.Identity})
	if err != nil {
		return err
	}
	go func() {
		// The pod informer exists before the manager starts (the controller's index made it),
		// and syncs whether or not this process leads.
		if _, err := mgr.GetCache().GetInformer(ctx, &corev1.Pod{}); err == nil {
			fmt.Println(childSynced)
		}
	}()
	go func() {
		select {
		case <-mgr.Elected():
			fmt.Println(childLeading)
		case <-ctx.Done():
		}
	}()
	return mgr.Start(ctx)
}

// managerProcess is a manager run by RunManagerChild in a process of its own, reaching the
// API server through its own proxy.
type managerProcess struct {
	identity string
	cmd      *exec.Cmd
	proxy    *writeProxy
	log      string
	// synced and leading are closed when the process printed that line; done when it exited.
	synced, leading, done chan struct{}
}

// startManagerProcess starts a manager process named identity, whose lease is in ns.
func (h *Harness) startManagerProcess(dir, identity, ns string, lease LeaseTimings, writes *writeLog) (*managerProcess, error) {
	proxy, err := h.startProxy(identity, writes)
	if err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(dir, identity+".kubeconfig")
	c := clientcmdapi.NewConfig()
	c.Clusters["bench"] = &clientcmdapi.Cluster{Server: proxy.URL}
	c.AuthInfos["bench"] = &clientcmdapi.AuthInfo{}
	c.Contexts["bench"] = &clientcmdapi.Context{Cluster: "bench", AuthInfo: "bench"}
	c.CurrentContext = "bench"
	if err := clientcmd.WriteToFile(*c, kubeconfig); err != nil {
		return nil, errors.Join(fmt.Errorf("writing a kubeconfig: %w", err), proxy.Close())
	}
	spec, err := json.Marshal(managerSpec{Kubeconfig: kubeconfig, Identity: identity, Namespace: ns, Lease: lease})
	if err != nil {
		return nil, errors.Join(err, proxy.Close())
	}
	p := &managerProcess{identity: identity, proxy: proxy, log: filepath.Join(dir, identity+".log"),
		synced: make(chan struct{}), leading: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], "-test.run=^TestManagerChild$")
	p.cmd.Env = append(os.Environ(), EnvManagerChild+"="+string(spec))
	logFile, err := os.Create(p.log)
	if err != nil {
		return nil, errors.Join(err, proxy.Close())
	}
	p.cmd.Stderr = logFile
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, errors.Join(err, logFile.Close(), proxy.Close())
	}
	if err := p.cmd.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("starting manager %s: %w", identity, err), logFile.Close(), proxy.Close())
	}
	go func() {
		var once [2]sync.Once
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			switch sc.Text() {
			case childSynced:
				once[0].Do(func() { close(p.synced) })
			case childLeading:
				once[1].Do(func() { close(p.leading) })
			}
		}
		_ = p.cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// stop kills the process if it still runs, waits for it and closes its proxy.
func (p *managerProcess) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	return p.proxy.Close()
}

// logTail returns the end of the process's log, for an error message.
func (p *managerProcess) logTail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	return string(b[max(0, len(b)-4000):])
}

// HandoverPlan says how to measure the leader's handovers.
type HandoverPlan struct {
	// Pods are the job's, at Parallelism: enough that it still runs after every handover.
	Pods        int
	Parallelism int32
	// Graceful is how many handovers after SIGTERM are measured before the one after SIGKILL.
	Graceful int
	Lease    LeaseTimings
	// Timeout bounds each wait.
	Timeout time.Duration
}

// Handover is one change of leader, as the API server saw the managers' writes (a write
// being a status write of the job or an ephemeralcontainers update, answered 2xx).
type Handover struct {
	// Signal is how the leader was stopped: SIGTERM (as a rolling update does; the lease is
	// released) or SIGKILL (the lease runs out).
	Signal   syscall.Signal
	From, To string
	// LastWrite is the old leader's last write, FirstWrite the new leader's first,
	// FirstInjection its first ephemeralcontainers update, Acquired its write of the lease
	// that took it: each when the API server's answer came back.
	LastWrite, Acquired, FirstWrite, FirstInjection time.Time
	// Finished is how many of the job's targets had finished when the new leader first wrote.
	Finished int32
}

// Gap is the time from the old leader's last write to the new leader's first.
func (ho Handover) Gap() time.Duration { return ho.FirstWrite.Sub(ho.LastWrite) }

// HandoverReport is the handovers of one job.
type HandoverReport struct {
	Plan      HandoverPlan
	Handovers []Handover
}

// isJobWrite reports whether a write is one of a manager's writes for a job, applied.
func isJobWrite(r writeRecord) bool {
	return (r.resource == "ephemeraljobs/status" || r.resource == "pods/ephemeralcontainers") &&
		r.code >= 200 && r.code < 300
}

// MeasureHandover runs a job under two manager processes with leader election, stops the
// leader plan.Graceful times with SIGTERM and once with SIGKILL, a new standby taking the
// place of each stopped one, and times every handover from the writes the proxies saw.
func (h *Harness) MeasureHandover(ctx context.Context, plan HandoverPlan, logf func(string, ...any)) (rep *HandoverReport, err error) {
	rep = &HandoverReport{Plan: plan}
	ns, err := h.Namespace(ctx, "handover")
	if err != nil {
		return nil, err
	}
	logf("creating %d pods for the handovers", plan.Pods)
	if _, err := h.createRunningPods(ctx, ns, "pod", plan.Pods,
		func(int) map[string]string { return map[string]string{"app": "handover"} }); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ejob-handover-")
	if err != nil {
		return nil, err
	}
	writes := &writeLog{}
	var procs []*managerProcess
	defer func() {
		for _, p := range procs {
			err = errors.Join(err, p.stop())
		}
		if err != nil {
			for _, p := range procs {
				err = fmt.Errorf("%w\nthe log of manager %s ends with:\n%s", err, p.identity, p.logTail())
			}
		}
		_ = os.RemoveAll(dir)
	}()
	start := func() (*managerProcess, error) {
		p, err := h.startManagerProcess(dir, fmt.Sprintf("manager-%d", len(procs)+1), ns, plan.Lease, writes)
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
		return p, p.await(ctx, p.synced, "its pod cache synced", plan.Timeout)
	}
	leader, err := start()
	if err != nil {
		return rep, err
	}
	if err := leader.await(ctx, leader.leading, "leading", plan.Timeout); err != nil {
		return rep, err
	}
	standby, err := start()
	if err != nil {
		return rep, err
	}
	job := benchJob(ns, "handover", map[string]string{"app": "handover"}, plan.Parallelism)
	if err := h.Client.Create(ctx, job); err != nil {
		return rep, fmt.Errorf("creating the job: %w", err)
	}
	for round := range plan.Graceful + 1 {
		sig := syscall.SIGTERM
		if round == plan.Graceful {
			sig = syscall.SIGKILL
		}
		// The leader must be well into its work when it stops: injecting and writing status.
		if err := waitFor(ctx, plan.Timeout, fmt.Sprintf("manager %s to write 20 times", leader.identity), func() bool {
			return len(writes.find(func(r writeRecord) bool { return r.process == leader.identity && isJobWrite(r) })) >= 20
		}); err != nil {
			return rep, err
		}
		if err := leader.cmd.Process.Signal(sig); err != nil {
			return rep, fmt.Errorf("stopping manager %s: %w", leader.identity, err)
		}
		byNew := func(r writeRecord) bool { return r.process == standby.identity && isJobWrite(r) }
		injectedByNew := func(r writeRecord) bool { return byNew(r) && r.resource == "pods/ephemeralcontainers" }
		if err := waitFor(ctx, plan.Lease.Lease()+plan.Timeout, fmt.Sprintf("manager %s to inject", standby.identity),
			func() bool { return len(writes.find(injectedByNew)) > 0 }); err != nil {
			return rep, err
		}
		if err := leader.await(ctx, leader.done, "exiting", plan.Timeout); err != nil {
			return rep, err
		}
		ho := Handover{Signal: sig, From: leader.identity, To: standby.identity}
		old := writes.find(func(r writeRecord) bool { return r.process == leader.identity && isJobWrite(r) })
		ho.LastWrite = old[len(old)-1].answeredAt
		ho.FirstWrite = writes.find(byNew)[0].answeredAt
		ho.FirstInjection = writes.find(injectedByNew)[0].answeredAt
		if lease := writes.find(func(r writeRecord) bool {
			return r.process == standby.identity && r.resource == "leases" && r.code >= 200 && r.code < 300
		}); len(lease) > 0 {
			ho.Acquired = lease[0].answeredAt
		}
		if err := h.Client.Get(ctx, client.ObjectKeyFromObject(job), job); err != nil {
			return rep, fmt.Errorf("reading the job: %w", err)
		}
		if job.Status.Phase.IsFinished() {
			return rep, fmt.Errorf("the job finished during handover %d: %d pods are too few", round+1, plan.Pods)
		}
		ho.Finished = job.Status.Succeeded + job.Status.Failed
		rep.Handovers = append(rep.Handovers, ho)
		logf("handover after %s: %s's last write → %s's first write %v (lease taken %v after the last write; first injection %v after the lease)",
			signalName(sig), ho.From, ho.To, ho.Gap().Round(time.Millisecond), ho.Acquired.Sub(ho.LastWrite).Round(time.Millisecond),
			ho.FirstInjection.Sub(ho.Acquired).Round(time.Millisecond))
		leader = standby
		if round < plan.Graceful {
			if standby, err = start(); err != nil {
				return rep, err
			}
		}
	}
	return rep, h.deletePods(ctx, ns, logf)
}

// signalName names the signals a leader is stopped with as kill(1) does.
func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGKILL:
		return "SIGKILL"
	}
	return sig.String()
}

// await waits until ch is closed, the process exits (unless that is what is awaited), or
// the timeout passes.
func (p *managerProcess) await(ctx context.Context, ch chan struct{}, what string, timeout time.Duration) error {
	select {
	case <-ch:
		return nil
	case <-p.done:
		if ch == p.done {
			return nil
		}
		return fmt.Errorf("manager %s exited before %s", p.identity, what)
	case <-time.After(timeout):
		return fmt.Errorf("manager %s: not %s within %v", p.identity, what, timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitFor checks cond every 10 ms until it holds or timeout passes: the writes it reads are
// logged with their own times, so the check's period does not blur them.
func waitFor(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.After(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			return fmt.Errorf("waiting for %s: not within %v", what, timeout)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}
