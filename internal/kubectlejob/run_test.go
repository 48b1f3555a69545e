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

package kubectlejob

import (
	"bytes"
	"context"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
	"github.com/ephemeraljob/ephemeraljob-operator/test/harness"
	"github.com/ephemeraljob/ephemeraljob-operator/test/kubelet"
)

// runWorld is a namespace of pods labelled app=web, a kubelet stand-in that runs their
// ephemeral containers and serves their output, and the operator's manager.
type runWorld struct {
	ns  string
	k8s client.Client
}

// pidofWeb prints a PID in the pods whose name is in alive and nothing (exit 1) in the
// others, as `pidof web` would.
func pidofWeb(alive ...string) kubelet.Decider {
	return func(pod *corev1.Pod, _ *corev1.EphemeralContainer) kubelet.Outcome {
		for _, name := range alive {
			if pod.Name == name {
				return kubelet.Outcome{Output: "4242\n"}
			}
		}
		return kubelet.Outcome{ExitCode: 1}
	}
}

// newRunWorld starts the stand-in and the manager for one test, with n pods web-0... in
// order, each with the container app (the pods named in lacking have another instead).
func newRunWorld(t *testing.T, ns string, n int, decide kubelet.Decider, runFor time.Duration, lacking ...string) *runWorld {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, cs := newClients(t)
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, appsv1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	node := ns + "-node"
	stub := &kubelet.Stub{Client: cs, Namespace: ns, Decide: decide, StartPods: true, NodeName: node, RunFor: runFor}
	srv := kubelet.StartLogServer(stub)
	t.Cleanup(srv.Close)
	if _, err := srv.RegisterNode(ctx, cs, node); err != nil {
		t.Fatal(err)
	}
	stubCtx, stopStub := context.WithCancel(context.Background())
	t.Cleanup(stopStub)
	go func() { _ = stub.Run(stubCtx) }()

	ctrllog.SetLogger(logr.Discard())
	mgr, err := harness.NewManager(restConfig, scheme)
	if err != nil {
		t.Fatal(err)
	}
	mgr.Run()
	t.Cleanup(func() { _ = mgr.Stop() })

	for i := range n {
		w := testutil.MakePod("web-"+string(rune('0'+i)), ns).Label("app", "web")
		for _, l := range lacking {
			if l == w.Name {
				w = w.Containers("sidecar")
			}
		}
		if err := c.Create(ctx, w.Obj()); err != nil {
			t.Fatal(err)
		}
	}
	// The pods run before the command starts, as they would in a cluster.
	if err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
			return false, nil
		}
		for _, p := range pods.Items {
			if p.Status.Phase != corev1.PodRunning {
				return false, nil
			}
		}
		return len(pods.Items) == n, nil
	}); err != nil {
		t.Fatalf("the pods did not run: %v", err)
	}
	return &runWorld{ns: ns, k8s: c}
}

// runArgs is the command line of the tests' runs in the world's namespace.
func (w *runWorld) runArgs(extra ...string) []string {
	return append([]string{"run", "--kubeconfig", kubeconfig, "-n", w.ns, "-l", "app=web", "--image=busybox",
		"--name=check", "--parallelism=1"}, extra...)
}

// runPiped runs a command line with stdout and stderr not a terminal, as in a script.
func runPiped(t *testing.T, args []string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := Run(ctx, args, &stdout, &stderr, Options{Now: func() time.Time { return now }, Stdin: strings.NewReader("")})
	return code, stdout.String(), stderr.String()
}

func TestRunPipedMixed(t *testing.T) {
	w := newRunWorld(t, "run-mixed", 4, pidofWeb("web-0", "web-1"), 0)
	code, stdout, stderr := runPiped(t, w.runArgs("--target=app", "--", "pidof", "web"))
	if code != ExitTargetsFailed {
		t.Errorf("exit code %d, want %d", code, ExitTargetsFailed)
	}
	golden(t, "run-mixed", transcript(code, stdout, stderr))
}

func TestRunPipedAllSucceed(t *testing.T) {
	w := newRunWorld(t, "run-ok", 3, pidofWeb("web-0", "web-1", "web-2"), 0)
	// No --target: the pods' first container, app, is the same in every pod.
	code, stdout, stderr := runPiped(t, w.runArgs("--", "pidof", "web"))
	if code != ExitSucceeded {
		t.Errorf("exit code %d, want 0", code)
	}
	golden(t, "run-all-succeed", transcript(code, stdout, stderr))
}

func TestRunNothingMatches(t *testing.T) {
	w := newRunWorld(t, "run-none", 0, kubelet.ExitZero, 0)
	code, stdout, stderr := runPiped(t, w.runArgs("--target=app", "--", "true"))
	if code != ExitNothingRan {
		t.Errorf("exit code %d, want %d", code, ExitNothingRan)
	}
	golden(t, "run-none-matching", transcript(code, stdout, stderr))
	// Without --target the answer is the same: no pod, not a container to name.
	if again, _, errOut := runPiped(t, w.runArgs("--", "true")); again != ExitNothingRan || errOut != stderr {
		t.Errorf("without --target: exit code %d, stderr %q; want %d, %q", again, errOut, ExitNothingRan, stderr)
	}
}

func TestRunAllRefused(t *testing.T) {
	w := newRunWorld(t, "run-refused", 2, kubelet.ExitZero, 0, "web-0", "web-1")
	code, stdout, stderr := runPiped(t, w.runArgs("--target=app", "--", "true"))
	if code != ExitNothingRan {
		t.Errorf("exit code %d, want %d", code, ExitNothingRan)
	}
	golden(t, "run-all-refused", transcript(code, stdout, stderr))
}

func TestRunTimeout(t *testing.T) {
	w := newRunWorld(t, "run-timeout", 2, func(*corev1.Pod, *corev1.EphemeralContainer) kubelet.Outcome {
		return kubelet.Outcome{Hold: true}
	}, 0)
	code, _, stderr := runPiped(t, w.runArgs("--target=app", "--timeout=2s", "--", "sleep", "3600"))
	if code != ExitTimedOut {
		t.Errorf("exit code %d, want %d; stderr:\n%s", code, ExitTimedOut, stderr)
	}
}

func TestRunDryRunClient(t *testing.T) {
	w := newRunWorld(t, "run-dry", 1, kubelet.ExitZero, 0)
	code, stdout, stderr := runPiped(t, w.runArgs("--target=app", "--env=MODE=check", "--max-pods=3",
		"--failure-budget=2", "--timeout=10m", "--start-timeout=1m", "--dry-run=client", "-o", "yaml", "--",
		"sh", "-c", "pidof web"))
	if code != 0 {
		t.Errorf("exit code %d; stderr:\n%s", code, stderr)
	}
	golden(t, "run-dry-run-client", transcript(code, stdout, stderr))
	var jobs appsv1alpha1.EphemeralJobList
	if err := w.k8s.List(context.Background(), &jobs, client.InNamespace(w.ns)); err != nil || len(jobs.Items) != 0 {
		t.Errorf("a dry run created %d jobs (%v)", len(jobs.Items), err)
	}
}

// screen renders what a terminal shows of a stream: a carriage return goes back to the
// start of the line and ESC [ K erases to its end, as the progress line uses them.
func screen(out string) string {
	var lines [][]rune
	line, col := []rune{}, 0
	for i := 0; i < len(out); {
		switch {
		case strings.HasPrefix(out[i:], "\x1b[K"):
			line = line[:col]
			i += 3
			continue
		case out[i] == '\r':
			col = 0
		case out[i] == '\n':
			lines = append(lines, line)
			line, col = []rune{}, 0
		default:
			r := []rune(out[i:])[0]
			if col < len(line) {
				line[col] = r
			} else {
				line = append(line, r)
			}
			col++
			i += len(string(r))
			continue
		}
		i++
	}
	lines = append(lines, line)
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(strings.TrimRight(string(l), " ") + "\n")
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// ttyRun runs a command line on a pseudo-terminal, as a user at one would: act, when set,
// is called with the terminal's input and the interrupts once the run started.
func ttyRun(t *testing.T, args []string, act func(in io.Writer, interrupt chan<- os.Signal, out *testutil.SyncBuffer)) (int, string) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer func() { _ = ptmx.Close() }()
	out := &testutil.SyncBuffer{}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(out, ptmx)
	}()
	interrupts := make(chan os.Signal, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	codes := make(chan int, 1)
	go func() {
		codes <- Run(ctx, args, tty, tty, Options{Now: func() time.Time { return now }, Stdin: tty, Interrupts: interrupts})
	}()
	if act != nil {
		act(ptmx, interrupts, out)
	}
	code := <-codes
	_ = tty.Close()
	<-copied
	return code, screen(out.String())
}

// waitShown waits until the terminal shows s.
func waitShown(t *testing.T, out *testutil.SyncBuffer, s string) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, time.Minute, true,
		func(context.Context) (bool, error) { return strings.Contains(out.String(), s), nil }); err != nil {
		t.Fatalf("the terminal never showed %q:\n%s", s, screen(out.String()))
	}
}

// On a terminal, run asks before running in more pods than --confirm-above, redraws one
// progress line, and prints the folded results.
func TestRunOnATerminalAsksAndRedraws(t *testing.T) {
	w := newRunWorld(t, "run-tty", 3, pidofWeb("web-0", "web-1"), 0)
	code, shown := ttyRun(t, w.runArgs("--target=app", "--confirm-above=2", "--", "pidof", "web"),
		func(in io.Writer, _ chan<- os.Signal, out *testutil.SyncBuffer) {
			waitShown(t, out, "[y/N] ")
			_, _ = io.WriteString(in, "y\n")
		})
	if code != ExitTargetsFailed {
		t.Errorf("exit code %d, want %d", code, ExitTargetsFailed)
	}
	golden(t, "run-tty", shown)
}

// Ctrl-C pauses the job: the running targets finish, no new one starts, and run prints
// what finished and exits 130.
func TestRunCtrlCPauses(t *testing.T) {
	w := newRunWorld(t, "run-ctrlc", 4, pidofWeb("web-0", "web-1", "web-2", "web-3"), 2*time.Second)
	code, shown := ttyRun(t, w.runArgs("--target=app", "--parallelism=2", "--", "pidof", "web"),
		func(_ io.Writer, interrupt chan<- os.Signal, _ *testutil.SyncBuffer) {
			if err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, time.Minute, true,
				func(ctx context.Context) (bool, error) {
					job := &appsv1alpha1.EphemeralJob{}
					err := w.k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "check"}, job)
					return err == nil && job.Status.Running == 2, nil
				}); err != nil {
				t.Errorf("the job never ran two targets: %v", err)
			}
			interrupt <- os.Interrupt
		})
	if code != ExitInterrupted {
		t.Errorf("exit code %d, want %d", code, ExitInterrupted)
	}
	job := &appsv1alpha1.EphemeralJob{}
	if err := w.k8s.Get(context.Background(), client.ObjectKey{Namespace: w.ns, Name: "check"}, job); err != nil {
		t.Fatal(err)
	}
	if !job.Spec.Paused || job.Status.Succeeded != 2 || job.Status.Match != 4 {
		t.Errorf("after Ctrl-C the job is paused %t with %d of %d succeeded, want paused with 2 of 4",
			job.Spec.Paused, job.Status.Succeeded, job.Status.Match)
	}
	golden(t, "run-ctrl-c", shown)
}

// logs prints each target's output with its pod/container; -f follows targets that start
// later, until the job finishes.
func TestLogs(t *testing.T) {
	w := newRunWorld(t, "logs", 3, pidofWeb("web-0", "web-2"), time.Second)
	code, stdout, stderr := runPiped(t, w.runArgs("--target=app", "--parallelism=3", "--detach", "--", "pidof", "web"))
	if code != 0 || stdout != "check\n" {
		t.Fatalf("run --detach: exit code %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runPiped(t, []string{"logs", "--kubeconfig", kubeconfig, "-n", w.ns, "check", "-f", "--prefix"})
	if code != 0 {
		t.Fatalf("logs -f: exit code %d, stderr:\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	slices.Sort(lines)
	if want := []string{"web-0/ejob 4242", "web-2/ejob 4242"}; !slices.Equal(lines, want) {
		t.Errorf("logs -f printed %q, want %q (in any order)", lines, want)
	}
	job := &appsv1alpha1.EphemeralJob{}
	if err := w.k8s.Get(context.Background(), client.ObjectKey{Namespace: w.ns, Name: "check"}, job); err != nil ||
		!job.Status.Phase.IsFinished() {
		t.Errorf("logs -f returned before the job finished: %s (%v)", job.Status.Phase, err)
	}
	code, stdout, stderr = runPiped(t, []string{"logs", "--kubeconfig", kubeconfig, "-n", w.ns, "check", "--prefix"})
	golden(t, "logs-prefix", transcript(code, stdout, stderr))
}

// --custom merges a partial container spec into the container, as kubectl debug does: a
// list is merged by its key, the name and the target stay the job's.
func TestMergeCustom(t *testing.T) {
	path := t.TempDir() + "/custom.yaml"
	if err := os.WriteFile(path, []byte("name: other\nimage: busybox:1.36\nenv:\n- name: A\n  value: custom\n"+
		"securityContext:\n  runAsUser: 1000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "ejob",
		Image: "busybox", Env: []corev1.EnvVar{{Name: "A", Value: "flag"}, {Name: "B", Value: "flag"}}},
		TargetContainerName: "app"}
	got, err := mergeCustom(c, path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "ejob" || got.TargetContainerName != "app" || got.Image != "busybox:1.36" ||
		got.SecurityContext == nil || *got.SecurityContext.RunAsUser != 1000 {
		t.Errorf("merged container %+v", got)
	}
	if want := []corev1.EnvVar{{Name: "A", Value: "custom"}, {Name: "B", Value: "flag"}}; !slices.Equal(got.Env, want) {
		t.Errorf("env %+v, want %+v", got.Env, want)
	}
	if err := os.WriteFile(path, []byte("command: not-a-list\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := mergeCustom(c, path); err == nil || !strings.Contains(err.Error(), "--custom") {
		t.Errorf("a spec that is no container: %v", err)
	}
}

func TestOutcomeCode(t *testing.T) {
	failed := func(reason string) []metav1.Condition {
		return []metav1.Condition{{Type: appsv1alpha1.ConditionFailed, Status: metav1.ConditionTrue, Reason: reason}}
	}
	tests := []struct {
		name string
		st   appsv1alpha1.EphemeralJobStatus
		want int
	}{
		{"all succeeded", appsv1alpha1.EphemeralJobStatus{Phase: appsv1alpha1.EphemeralJobSucceeded, Match: 2, Succeeded: 2}, ExitSucceeded},
		{"one failed", appsv1alpha1.EphemeralJobStatus{Phase: appsv1alpha1.EphemeralJobFailed, Match: 2, Succeeded: 1, Failed: 1,
			Conditions: failed(appsv1alpha1.ReasonTargetsFailed)}, ExitTargetsFailed},
		{"the budget stopped it", appsv1alpha1.EphemeralJobStatus{Phase: appsv1alpha1.EphemeralJobFailed, Match: 3, Failed: 3,
			Conditions: failed(appsv1alpha1.ReasonFailureBudgetExceeded)}, ExitTargetsFailed},
		{"every target refused", appsv1alpha1.EphemeralJobStatus{Phase: appsv1alpha1.EphemeralJobFailed, Match: 2, Failed: 2,
			Refusals: []appsv1alpha1.ReasonCount{{Reason: "TargetContainerNotFound", Count: 2}}}, ExitNothingRan},
		{"some refused, some succeeded", appsv1alpha1.EphemeralJobStatus{Phase: appsv1alpha1.EphemeralJobFailed, Match: 2,
			Succeeded: 1, Failed: 1, Refusals: []appsv1alpha1.ReasonCount{{Reason: "TargetContainerNotFound", Count: 1}}}, ExitTargetsFailed},
		{"the deadline passed", appsv1alpha1.EphemeralJobStatus{Phase: appsv1alpha1.EphemeralJobFailed, Match: 2, Running: 2,
			Conditions: failed(appsv1alpha1.ReasonDeadlineExceeded)}, ExitTimedOut},
		{"the deadline passed before any target", appsv1alpha1.EphemeralJobStatus{Phase: appsv1alpha1.EphemeralJobFailed,
			Conditions: failed(appsv1alpha1.ReasonNoTargets)}, ExitTimedOut},
		{"paused", appsv1alpha1.EphemeralJobStatus{Phase: appsv1alpha1.EphemeralJobPaused, Match: 4, Succeeded: 2, Waiting: 2}, ExitInterrupted},
		{"an invalid selector", appsv1alpha1.EphemeralJobStatus{Phase: appsv1alpha1.EphemeralJobError}, ExitNothingRan},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := outcomeCode(&appsv1alpha1.EphemeralJob{Status: tc.st}); got != tc.want {
				t.Errorf("exit code %d, want %d", got, tc.want)
			}
		})
	}
}

func TestParseSelector(t *testing.T) {
	for s, ok := range map[string]bool{"app=web": true, "app in (web,api),tier!=db,canary,!old": true,
		"app=web,app=api": false, "a b": false, "rank>3": false} {
		if _, _, err := parseSelector(s); (err == nil) != ok {
			t.Errorf("parseSelector(%q): %v", s, err)
		}
	}
	// The job's selector selects what -l does.
	want, ls, err := parseSelector("app in (web,api),tier!=db,canary,!old")
	if err != nil {
		t.Fatal(err)
	}
	got, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range []labels.Set{{"app": "web", "canary": ""}, {"app": "api", "canary": "", "tier": "db"},
		{"app": "web", "canary": "", "old": "1"}, {"app": "web"}, {"app": "db", "canary": ""}, {"app": "api", "canary": "", "tier": "fe"}} {
		if got.Matches(set) != want.Matches(set) {
			t.Errorf("on %v the job's selector %v says %t, -l %v says %t", set, got, got.Matches(set), want, want.Matches(set))
		}
	}
}

// Ctrl-C stops any command but run, which takes the first to pause its job; the second
// stops it as well, whatever request is under way.
func TestInterruptsGoToRunThenStop(t *testing.T) {
	f := newFactory(Options{})
	from := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.dispatchInterrupts(ctx, from, cancel)
	f.takesInterrupts.Store(true)
	from <- os.Interrupt
	select {
	case <-f.interrupts:
	case <-time.After(10 * time.Second):
		t.Fatal("run did not get the first Ctrl-C")
	}
	if ctx.Err() != nil {
		t.Fatal("the first Ctrl-C stopped the command instead of pausing the job")
	}
	from <- os.Interrupt
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the second Ctrl-C did not stop the command")
	}

	f = newFactory(Options{})
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go f.dispatchInterrupts(ctx, from, cancel)
	from <- os.Interrupt
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Ctrl-C did not stop a command other than run")
	}
}

// A job deleted while run follows it ends run with an error that says so, not a loop.
func TestRunJobDeletedWhileRunning(t *testing.T) {
	w := newRunWorld(t, "run-deleted", 1, func(*corev1.Pod, *corev1.EphemeralContainer) kubelet.Outcome {
		return kubelet.Outcome{Hold: true}
	}, 0)
	done := make(chan struct{})
	var code int
	var stderr string
	go func() {
		defer close(done)
		code, _, stderr = runPiped(t, w.runArgs("--target=app", "--", "sleep", "3600"))
	}()
	job := &appsv1alpha1.EphemeralJob{}
	if err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, time.Minute, true,
		func(ctx context.Context) (bool, error) {
			return w.k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "check"}, job) == nil, nil
		}); err != nil {
		t.Fatal(err)
	}
	if err := w.k8s.Delete(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("run kept following a deleted job")
	}
	if code != 1 || !strings.Contains(stderr, "error: following ejob run-deleted/check") {
		t.Errorf("exit code %d, stderr:\n%s", code, stderr)
	}
}
