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

// Package chaos runs EphemeralJobs through API faults, manager crashes and pauses, and
// checks that their results are exact. Each test is one mode, with its own API server and
// a manager run as a separate process (the test binary), at parallelism 10:
//
//   - faults and crashes: replicas 400 over 500 pods, while the manager is killed with
//     SIGKILL again and again;
//   - long reasons: replicas 240 over 300 pods, whose failed containers end with a
//     terminated reason of 200 characters, longer than status.results[].reason may be
//     (ASCII in some pods, two-byte characters in others);
//   - paused leader: replicas 300 over 360 pods, each container running 800ms, under two
//     managers with leader election; the leader is stopped with SIGSTOP past its lease,
//     twice, at different points of the job, and resumes beside the new leader; a manager
//     that exits (a leader that lost its lease does) is replaced, as a Deployment would;
//   - status timeouts: replicas 240 over 300 pods, while at least a fifth of the job's
//     status writes that the API server applies are answered with a 504, the manager
//     writes the status every 100ms, and it is killed with SIGKILL.
//
// In every mode about 10% of ephemeral-container writes are applied but answered with a
// 504, and another writer keeps changing pods around the injection frontier. At every
// observed moment no more than replicas pods hold the job's containers, none holds two,
// no two share an index, and no more than parallelism are unfinished; no status of the job
// counts more successes or failures than the pods hold right after it was seen, and none
// has a result reason longer than 128 bytes. At the end the job is finished, exactly
// replicas pods hold its containers, and the status counts equal the exit codes in the
// pods. EJOB_CHAOS_SEED seeds every random choice: the faults, the failing pods, the
// points of the pauses and the racing writer.
package chaos

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
	"github.com/ephemeraljob/ephemeraljob-operator/test/kubelet"
)

const (
	parallelism = 10
	namespace   = "chaos"
	// podFaultRate is the share of ephemeral-container writes answered with a 504 after
	// they were applied.
	podFaultRate = 0.1
	// seedEnv seeds a run's random choices, so that runs with different seeds meet
	// different faults; defaultSeed is used when it is unset.
	seedEnv     = "EJOB_CHAOS_SEED"
	defaultSeed = 20260101
	// pauseFor is how long, at least, a leader stays stopped: past its lease, so that
	// another manager takes it.
	pauseFor = 5 * leaseDuration / 2
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runManagerChild())
	}
	// The observer's job informer logs through controller-runtime; the test has nothing to
	// say through it.
	ctrl.SetLogger(logr.Discard())
	os.Exit(m.Run())
}

func TestJobIsExactUnderFaultsAndCrashes(t *testing.T) {
	r := runChaos(t, mode{pods: 500, replicas: 400, crashes: 5})
	if r.podFaults*100 < 5*r.replicas {
		t.Errorf("%d ephemeral-container writes were answered with a timeout, fewer than 5%% of %d", r.podFaults, r.replicas)
	}
}

// The kubelet's reasons are short CamelCase words, but a runtime may report anything:
// the job must bound them before they reach its status, whose reasons the CRD limits to
// 128 characters. Before it did, every status write was refused and the job never
// finished.
func TestJobIsExactWithLongReasons(t *testing.T) {
	r := runChaos(t, mode{pods: 300, replicas: 240, reason: longReason})
	st := r.job.Status
	if c := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionStatusTrimmed); c != nil &&
		c.Status == metav1.ConditionTrue {
		t.Errorf("the API server refused a status of the job: %s", c.Message)
	}
	// Each long reason the pods report is in a result group, cut to the CRD's bound: the
	// check of the reasons' length at every status is then not vacuous.
	seen := map[string]bool{}
	for i := range r.pods {
		if res, ok := podstate.Evaluate(&r.pods[i], r.job.UID); ok && res.Outcome == podstate.Failed {
			seen[res.Reason] = true
		}
	}
	if len(seen) < 2 {
		t.Errorf("the failed pods report %d distinct reasons, want both long ones", len(seen))
	}
	for reason := range seen {
		found := false
		for _, g := range st.Results {
			cut := strings.TrimSuffix(g.Reason, "…")
			found = found || (!g.Succeeded && cut != "" && len(g.Reason) <= maxReasonBytes && strings.HasPrefix(reason, cut))
		}
		if !found {
			t.Errorf("no failed result group carries the reason %.20q… (%d bytes) cut to %d bytes; results: %+v",
				reason, len(reason), maxReasonBytes, st.Results)
		}
	}
}

// A leader stopped past its lease (a GC stall, a frozen VM) resumes believing it leads,
// until its elector notices at the renew deadline; meanwhile another manager leads.
// Without the leader fence, the resumed leader kept injecting beside the new one: this
// mode saw 20 targets unfinished at parallelism 10, 330 pods holding the containers of a
// job of replicas 300, and wrong final counts.
func TestJobIsExactWithPausedLeader(t *testing.T) {
	r := runChaos(t, mode{pods: 360, replicas: 300, pauses: 2, runFor: 800 * time.Millisecond})
	// The job is sized so that the first leader resumes mid-job, while it has targets to
	// act on; without that the mode would not test the fence.
	if p := r.pauses[0]; p.finishedAtResume {
		t.Errorf("the job finished before the first paused leader resumed, at %d injected pods", p.resumedAt)
	}
}

// A status write applied but answered with a timeout leaves the manager unsure of what
// the job's status says; its next pass must not count a result twice or lose one. The
// manager writes the status every 100ms, so that the job's status is written often.
func TestJobIsExactUnderStatusTimeouts(t *testing.T) {
	r := runChaos(t, mode{pods: 300, replicas: 240, crashes: 3, statusFaultRate: 0.3,
		statusWriteInterval: 100 * time.Millisecond})
	if r.statusApplied == 0 || r.statusFaults*5 < r.statusApplied {
		t.Errorf("%d of the %d status writes applied were answered with a timeout, want at least a fifth",
			r.statusFaults, r.statusApplied)
	}
}

// A command that fails in every pod stops at the failure budget: the job ends
// FailureBudgetExceeded with at most budget + parallelism - 1 failed targets (checked at
// every observed moment), the other pods untouched, through manager kills and ambiguous
// writes of both kinds.
func TestFailureBudgetStopsAFailingCommand(t *testing.T) {
	const budget = 20
	// Some 25 injections: a third of them answered with a timeout, so that some are.
	r := runChaos(t, mode{pods: 200, replicas: 150, crashes: 3, statusFaultRate: 0.3, failAll: true,
		failureBudget: budget, podFaultRate: 0.3})
	st := r.job.Status
	c := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionFailed)
	if c == nil || c.Reason != appsv1alpha1.ReasonFailureBudgetExceeded {
		t.Errorf("the job ended with %+v, want Failed FailureBudgetExceeded", c)
	}
	if st.Failed < budget || st.Failed > budget+parallelism-1 || st.Succeeded != 0 {
		t.Errorf("%d targets failed and %d succeeded, want between %d and %d failed", st.Failed, st.Succeeded,
			budget, budget+parallelism-1)
	}
	if c != nil && !strings.Contains(c.Message, fmt.Sprintf("%d pods spared", r.replicas-int(st.Failed))) {
		t.Errorf("the message does not count the %d pods spared: %s", r.replicas-int(st.Failed), c.Message)
	}
}

// mode is what a chaos run does to its job.
type mode struct {
	pods, replicas int
	// crashes is how many times the manager is killed with SIGKILL, at points spread over
	// the job.
	crashes int
	// pauses, when set, runs two managers with leader election, and is how many times the
	// leader is stopped with SIGSTOP past its lease.
	pauses int
	// runFor is how long each container runs.
	runFor time.Duration
	// statusFaultRate is the share of the job's applied status writes answered with a 504
	// (besides those that keep it at least minStatusFaultShare), when set.
	statusFaultRate float64
	// statusWriteInterval is the manager's; zero means its default.
	statusWriteInterval time.Duration
	// reason, when set, is the terminated reason of the containers that fail, by pod.
	reason func(seed uint64, pod string) string
	// failAll makes every container exit 1.
	failAll bool
	// podFaultRate is the share of ephemeral-container writes answered with a 504 after
	// they were applied; zero means the default podFaultRate.
	podFaultRate float64
	// failureBudget, when set, is the job's.
	failureBudget int
}

// targets is how many pods the job must end up holding its containers: replicas, or
// between the failure budget and that plus parallelism - 1 when every container fails.
func (m mode) targets() (least, most int) {
	if m.failureBudget > 0 && m.failAll {
		return m.failureBudget, m.failureBudget + parallelism - 1
	}
	return m.replicas, m.replicas
}

// result is what a chaos run ended with.
type result struct {
	replicas int
	job      appsv1alpha1.EphemeralJob
	pods     []corev1.Pod
	pauses   []pause
	restarts int
	// podFaults counts the ephemeral-container writes answered with a 504; statusFaults the
	// status writes, among the statusApplied the API server applied.
	podFaults, statusFaults, statusApplied int
}

// runChaos runs one job through the mode's faults, checks the invariants common to every
// mode, and returns what it ended with for the mode's own checks.
func runChaos(t *testing.T, m mode) *result {
	t.Helper()
	if testing.Short() {
		t.Skip("the chaos suite takes a few minutes")
	}
	seed := chaosSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	began := time.Now()
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(appsv1alpha1.AddToScheme(scheme))
	env := testutil.NewEnvironment()
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	cfg.QPS, cfg.Burst = 500, 1000
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	clientset := kubernetes.NewForConfigOrDie(cfg)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		t.Fatal(err)
	}
	stub := &kubelet.Stub{Client: clientset, Namespace: namespace, Workers: 8, RunFor: m.runFor,
		Decide: func(pod *corev1.Pod, _ *corev1.EphemeralContainer) kubelet.Outcome {
			out := kubelet.Outcome{ExitCode: exitCode(seed, pod.Name)}
			if m.failAll {
				out.ExitCode = 1
			}
			if out.ExitCode != 0 && m.reason != nil {
				out.Reason = m.reason(seed, pod.Name)
			}
			return out
		}}
	go func() { _ = stub.Run(ctx) }()
	createPods(ctx, t, clientset, m.pods)

	least, most := m.targets()
	obs := startObserver(ctx, t, cfg, scheme, most)

	if m.podFaultRate == 0 {
		m.podFaultRate = podFaultRate
	}
	spec := childSpec{Kubeconfig: writeKubeconfig(t, cfg), Dir: dir, Seed: seed, PodFaultRate: m.podFaultRate,
		StatusFaultRate: m.statusFaultRate, StatusWriteInterval: m.statusWriteInterval}
	slots := []string{"a"}
	if m.pauses > 0 {
		slots = []string{"a", "b"}
	}
	mgrs := startManagers(t, spec, m.pauses > 0, slots...)
	job := testutil.MakeEphemeralJob("chaos", namespace, "web").Parallelism(parallelism).Replicas(int32(m.replicas)).Obj()
	if m.failureBudget > 0 {
		job.Spec.FailureBudget = new(int32(m.failureBudget))
	}
	if err := k8s.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	go raceWriters(ctx, clientset, obs, m.pods, rand.New(rand.NewPCG(seed, 2)))

	// Kill the manager whenever the job made some progress, crashes times.
	for i := range m.crashes {
		target := (i + 1) * least / (m.crashes + 2)
		waitInjected(ctx, t, obs, target, fmt.Sprintf("crash %d", i+1))
		mgrs.crash("a")
		t.Logf("crash %d at %d injected pods", i+1, obs.injected())
	}

	// Stop the leader whenever the job made some progress, pauses times: first early, then
	// some targets after the previous pause ended, at points the seed moves.
	var pauses []pause
	for i := range m.pauses {
		target := m.replicas/10 + rng.IntN(m.replicas/20)
		if i > 0 {
			target = pauses[i-1].resumedAt + parallelism + rng.IntN(2*parallelism)
		}
		waitInjected(ctx, t, obs, target, fmt.Sprintf("pause %d", i+1))
		p := pauseLeader(ctx, t, k8s, mgrs, obs)
		t.Logf("pause %d: leader %s stopped at %d injected pods for %s; %s took the lease; resumed at %d injected pods "+
			"(job finished: %t); it exited %s after it resumed", i+1, p.leader, p.injectedAt, p.stoppedFor, p.successor,
			p.resumedAt, p.finishedAtResume, p.exitedAfter)
		pauses = append(pauses, p)
	}

	var final appsv1alpha1.EphemeralJob
	if err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(job), &final); err != nil {
			return false, nil
		}
		return final.Status.Phase.IsFinished(), nil
	}); err != nil {
		t.Fatalf("the job did not finish: %v; status %+v; %s; %s", err, final.Status, obs.summary(), obs.violation())
	}
	// The observer checks each status when its informer delivers it: wait for the last.
	if err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(context.Context) (bool, error) {
		_, finished := obs.checked()
		return finished, nil
	}); err != nil {
		t.Fatalf("the observer did not see the job finish: %v; %s", err, obs.summary())
	}
	// The final counts are checked and shown even when an invariant broke, to tell how far
	// the job went wrong.
	if v := obs.violation(); v != "" {
		t.Error(v)
	}

	var list corev1.PodList
	if err := k8s.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		t.Fatal(err)
	}
	var holding, succeeded, failed int32
	for i := range list.Items {
		pod := &list.Items[i]
		owned := podstate.OwnedContainers(pod, final.UID)
		if len(owned) > 1 {
			t.Errorf("pod %s holds %d containers of the job", pod.Name, len(owned))
		}
		if len(owned) == 0 {
			continue
		}
		holding++
		res, _ := podstate.Evaluate(pod, final.UID)
		switch res.Outcome {
		case podstate.Succeeded:
			succeeded++
		case podstate.Failed:
			failed++
		default:
			t.Errorf("pod %s is %s after the job finished", pod.Name, res.Outcome)
		}
	}
	r := &result{replicas: m.replicas, job: final, pods: list.Items, pauses: pauses, restarts: mgrs.restarted(),
		podFaults: countIn(dir, podFaultsFile), statusFaults: countIn(dir, statusFaultsFile),
		statusApplied: countIn(dir, statusAppliedFile)}
	st := final.Status
	statuses, _ := obs.checked()
	t.Logf("status: %s match %d succeeded %d failed %d; pods: %d holding, %d exit 0, %d exit non-zero; "+
		"%d ephemeral-container writes answered with 504; %d of %d status writes applied answered with 504 (%d not applied); "+
		"%d managers replaced; at most %d unfinished seen; %d statuses checked; %s", st.Phase, st.Match, st.Succeeded,
		st.Failed, holding, succeeded, failed, r.podFaults, r.statusFaults, r.statusApplied, countIn(dir, statusRefusedFile),
		r.restarts, obs.maxUnfinished(), statuses, ago(began))
	if holding < int32(least) || holding > int32(most) {
		t.Errorf("%d pods hold the job's container, want between %d and %d", holding, least, most)
	}
	if st.Match != holding || st.Succeeded != succeeded || st.Failed != failed {
		t.Errorf("status counts match %d succeeded %d failed %d; the pods say %d, %d, %d",
			st.Match, st.Succeeded, st.Failed, holding, succeeded, failed)
	}
	if r.podFaults == 0 {
		t.Error("no ephemeral-container write was answered with a timeout")
	}
	return r
}

// chaosSeed returns the run's seed: EJOB_CHAOS_SEED, or defaultSeed.
func chaosSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(defaultSeed)
	if v := os.Getenv(seedEnv); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", seedEnv, v, err)
		}
	}
	t.Logf("seed %d (%s sets it)", seed, seedEnv)
	return seed
}

// hash mixes the seed and a pod's name, for the choices made per pod.
func hash(seed uint64, pod string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write(binary.LittleEndian.AppendUint64(nil, seed))
	_, _ = h.Write([]byte(pod))
	return h.Sum32()
}

// exitCode is what the kubelet stand-in ends a pod's container with: one pod in seven fails.
func exitCode(seed uint64, pod string) int32 {
	if hash(seed, pod)%7 == 0 {
		return 1
	}
	return 0
}

// The long reasons: 200 characters, of one byte each or of two.
var (
	longASCIIReason = strings.Repeat("LongReason", 20)
	longRuneReason  = strings.Repeat("é", 200)
)

// longReason is the terminated reason of a failed container: half the pods report one
// long reason, half the other.
func longReason(seed uint64, pod string) string {
	if hash(seed, pod)/7%2 == 0 {
		return longASCIIReason
	}
	return longRuneReason
}

// waitInjected waits until target pods hold the job's containers, and fails the test if the
// job finishes first: the mode's next fault would then hit no job.
func waitInjected(ctx context.Context, t *testing.T, o *observer, target int, what string) {
	t.Helper()
	if err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(context.Context) (bool, error) {
		if _, finished := o.checked(); finished {
			return false, fmt.Errorf("the job finished first")
		}
		return o.injected() >= target, nil
	}); err != nil {
		t.Fatalf("waiting for %d injections before %s: %v (%s)", target, what, err, o.summary())
	}
}

// pause is one SIGSTOP of the leader.
type pause struct {
	leader, successor string
	// injectedAt and resumedAt are the pods injected when the leader was stopped and when
	// it resumed.
	injectedAt, resumedAt int
	stoppedFor            time.Duration
	finishedAtResume      bool
	exitedAfter           time.Duration
}

// pauseLeader stops the leader's process for pauseFor, and at least until another manager
// holds the lease, then resumes it and waits for it to exit, as a leader that lost its
// lease does.
func pauseLeader(ctx context.Context, t *testing.T, k8s client.Client, m *managers, o *observer) pause {
	t.Helper()
	var leader *child
	if err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		leader = m.byIdentity(leaseHolder(ctx, k8s))
		return leader != nil, nil
	}); err != nil {
		t.Fatalf("waiting for a running manager to hold the lease: %v", err)
	}
	p := pause{leader: leader.identity, injectedAt: o.injected()}
	if err := leader.signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		p.successor = leaseHolder(ctx, k8s)
		return time.Since(stopped) >= pauseFor && p.successor != "" && p.successor != leader.identity, nil
	}); err != nil {
		t.Fatalf("waiting for another manager to take the lease of %s: %v", leader.identity, err)
	}
	if err := leader.signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	p.stoppedFor, p.resumedAt = resumed.Sub(stopped).Round(time.Millisecond), o.injected()
	_, p.finishedAtResume = o.checked()
	// Its elector gives up at the renew deadline; the process then exits at once.
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*renewDeadline, true,
		func(context.Context) (bool, error) { return leader.exited(), nil }); err != nil {
		t.Fatalf("manager %s still runs %s after it resumed past its lease", leader.identity, ago(resumed))
	}
	p.exitedAfter = ago(resumed)
	return p
}

// createPods creates the Running pods the job selects.
func createPods(ctx context.Context, t *testing.T, c kubernetes.Interface, pods int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, pods)
	sem := make(chan struct{}, 20)
	for i := range pods {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			pod := testutil.MakePod(fmt.Sprintf("web-%03d", i), namespace).Label("app", "web").Obj()
			if _, err := kubelet.CreateRunning(ctx, c, pod); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// raceWriters keeps changing the labels-neutral annotations of pods just past the
// injection frontier, so injections meet conflicts.
func raceWriters(ctx context.Context, c kubernetes.Interface, o *observer, pods int, rng *rand.Rand) {
	for ctx.Err() == nil {
		n := o.injected()
		// The frontier: the next pods in creation order, which the job targets next.
		i := min(n+rng.IntN(parallelism*2), pods-1)
		name := fmt.Sprintf("web-%03d", i)
		patch := fmt.Appendf(nil, `{"metadata":{"annotations":{"touched":"%d"}}}`, time.Now().UnixNano())
		_, _ = c.CoreV1().Pods(namespace).Patch(ctx, name, "application/merge-patch+json", patch, metav1.PatchOptions{})
		time.Sleep(5 * time.Millisecond)
	}
}

// writeKubeconfig writes the envtest admin credentials for the manager processes.
func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData,
		Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}
