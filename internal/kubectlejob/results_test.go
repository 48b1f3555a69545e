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
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
	"github.com/ephemeraljob/ephemeraljob-operator/test/kubelet"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files with the output of this run")

// now is the clock of every golden run: five minutes after the containers started.
var now = time.Date(2026, 5, 1, 10, 5, 0, 0, time.UTC)

// at returns a time of the scenario, seconds after 10:00:00.
func at(seconds int) metav1.Time {
	return metav1.NewTime(time.Date(2026, 5, 1, 10, 0, seconds, 0, time.UTC))
}

// runCLI runs a command line and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := Run(ctx, args, &stdout, &stderr, Options{Now: func() time.Time { return now }})
	return code, stdout.String(), stderr.String()
}

// golden compares got with testdata/<name>.golden byte for byte, or rewrites the file with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s (run go test with -update to write it): %v", path, err)
	}
	if got != string(want) {
		t.Errorf("the output differs from %s (run go test with -update to accept it):\n--- got\n%s\n--- want\n%s",
			path, got, want)
	}
}

// transcript is a run's exit code, stdout and stderr as one text, for a golden file.
func transcript(code int, stdout, stderr string) string {
	s := stdout
	if stderr != "" {
		s += "# stderr:\n" + stderr
	}
	if code != 0 {
		s += fmt.Sprintf("# exit code %d\n", code)
	}
	return s
}

// liveScenario is a job and its targets written into an envtest API server, as the
// controller and a kubelet would have left them.
type liveScenario struct {
	kubeconfig string
	namespace  string
	job        *appsv1alpha1.EphemeralJob
	// derived is the name the job's container took in web-2, where "check" was taken.
	derived string
	// logs is the kubelet stand-in of the scenario's node.
	logs *kubelet.LogServer
	// podUIDs are the UIDs of the scenario's pods, in the order they were created.
	podUIDs []types.UID
}

// normalize replaces what differs from run to run (the job's UID, the hash in the derived
// container name, the job's creation time) by placeholders of the same length, so that the
// columns of a table stay where they are.
func (s *liveScenario) normalize(out string) string {
	uid := string(s.job.UID)
	out = strings.ReplaceAll(out, s.derived, "check-"+strings.Repeat("#", len(s.derived)-len("check-")))
	out = strings.ReplaceAll(out, uid, "00000000-0000-0000-0000-000000000000")
	created := s.job.CreationTimestamp.UTC().Format(time.RFC3339)
	out = strings.ReplaceAll(out, created, "2026-05-01T09:59:00Z")
	for i, uid := range s.podUIDs {
		out = strings.ReplaceAll(out, string(uid), fmt.Sprintf("00000000-0000-0000-0000-%012d", i+1))
	}
	return out
}

// env is the control plane of the package's tests.
var (
	restConfig *rest.Config
	kubeconfig string
)

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		// Run by kubectl as the plugin (TestKubectlPluginCompletion).
		Main()
	}
	flag.Parse()
	env := testutil.NewEnvironment()
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting the control plane (make envtest-bins puts its binaries into %s): %v\n",
			testutil.AssetsDir(), err)
		os.Exit(1)
	}
	restConfig = cfg
	dir, err := os.MkdirTemp("", "kubectl-ejob-test-")
	if err == nil {
		kubeconfig = filepath.Join(dir, "kubeconfig")
		err = os.WriteFile(kubeconfig, env.KubeConfig, 0o600)
	}
	code := 1
	if err != nil {
		fmt.Fprintf(os.Stderr, "writing the kubeconfig: %v\n", err)
	} else {
		code = m.Run()
	}
	_ = os.RemoveAll(dir)
	if err := env.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping the control plane: %v\n", err)
	}
	os.Exit(code)
}

func newClients(t *testing.T) (client.Client, kubernetes.Interface) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := appsv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	return c, cs
}

// target is one pod of the scenario.
type target struct {
	name   string
	index  int32
	state  corev1.ContainerState
	output string
	// taken, when set, gives the pod an earlier ephemeral container named like the
	// template's, so that the job's container takes the derived name.
	taken bool
}

// setUpLive writes the scenario into a namespace of its own: a job whose eight targets
// succeeded (0, 1, 7), failed (2; 5 refused injection; 6 whose pod is gone), run (3) and
// wait (4), a pod that claims an index the job never gave, a pod of another job, and the
// node whose kubelet (a LogServer) serves the containers' output.
func setUpLive(t *testing.T, namespace string) *liveScenario {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, cs := newClients(t)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	logs := &kubelet.Logs{}
	srv := kubelet.StartLogServer(logs)
	t.Cleanup(srv.Close)
	node := namespace + "-node"
	if _, err := srv.RegisterNode(ctx, cs, node); err != nil {
		t.Fatal(err)
	}

	// The job's UID is random, and so is the length of the hash in the name derived from
	// it (8 characters, fewer for 1 UID in 400). The goldens hold that name's length, so a
	// job whose derived name is shorter is made again.
	var job *appsv1alpha1.EphemeralJob
	for job == nil || len(podstate.DerivedName("check", job.UID)) != len("check-")+8 {
		if job != nil {
			if err := c.Delete(ctx, job); err != nil {
				t.Fatal(err)
			}
		}
		job = testutil.MakeEphemeralJob("hello", namespace, "web").Obj()
		job.Spec.Template.EphemeralContainers[0].Command = []string{"pidof", "web"}
		if err := c.Create(ctx, job); err != nil {
			t.Fatal(err)
		}
	}
	s := &liveScenario{kubeconfig: kubeconfig, namespace: namespace, job: job,
		derived: podstate.DerivedName("check", job.UID), logs: srv}

	terminated := func(code int32, reason, message string, start, end int) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason,
			Message: message, StartedAt: at(start), FinishedAt: at(end)}}
	}
	long := strings.Repeat("a line of a long thread dump\n", 40)
	targets := []target{
		{name: "web-0", index: 0, state: terminated(0, "Completed", "", 0, 1), output: "1\n"},
		{name: "web-1", index: 1, state: terminated(0, "Completed", "", 2, 3), output: "1\n"},
		{name: "web-2", index: 2, taken: true, output: "",
			state: terminated(1, "Error", "no process named web\nchecked by pidof; the application is down", 4, 6)},
		{name: "web-3", index: 3, output: "still looking\n\x1b[31mred\x1b[0m\ttabbed\n",
			state: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(0)}}},
		{name: "web-4", index: 4, state: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
			Reason: "ImagePullBackOff", Message: `Back-off pulling image "busybox:latest"`}}},
		{name: "web-7", index: 7, state: terminated(0, "Completed", "", 10, 75), output: long},
	}
	for _, tg := range targets {
		pod := testutil.MakePod(tg.name, namespace).Label("app", "web").Obj()
		pod.Spec.NodeName = node
		created, err := cs.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.podUIDs = append(s.podUIDs, created.UID)
		injected := testutil.MakePod(tg.name, namespace).Injected(job, tg.index).Obj().Spec.EphemeralContainers
		name := "check"
		if tg.taken {
			name = s.derived
			injected[0].Name = name
			earlier := testutil.MakePod(tg.name, namespace).Injected(
				testutil.MakeEphemeralJob("earlier", namespace, "web").UID("0b7c6a0e-0000-4000-8000-000000000001").Obj(), 0,
			).Obj().Spec.EphemeralContainers
			injected = append(earlier, injected...)
		}
		created.Spec.EphemeralContainers = injected
		updated, err := cs.CoreV1().Pods(namespace).UpdateEphemeralContainers(ctx, tg.name, created, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		updated.Status.Phase = corev1.PodRunning
		updated.Status.EphemeralContainerStatuses = nil
		for _, ec := range injected {
			st := corev1.ContainerStatus{Name: ec.Name, Image: ec.Image, State: tg.state}
			if ec.Name != name {
				st.State = terminated(0, "Completed", "", 0, 0)
			}
			updated.Status.EphemeralContainerStatuses = append(updated.Status.EphemeralContainerStatuses, st)
		}
		if _, err := cs.CoreV1().Pods(namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if tg.state.Waiting == nil {
			logs.Set(namespace, tg.name, name, tg.output)
		}
	}

	// A pod claiming index 99, which the job never gave (its indexLimit is 8), and a pod of another job.
	for _, p := range []*corev1.Pod{
		testutil.MakePod("intruder", namespace).Injected(job, 99).Obj(),
		testutil.MakePod("other-job", namespace).Injected(
			testutil.MakeEphemeralJob("other", namespace, "web").UID("0b7c6a0e-0000-4000-8000-000000000002").Obj(), 0).Obj(),
	} {
		ecs := p.Spec.EphemeralContainers
		p.Spec.EphemeralContainers = nil
		created, err := cs.CoreV1().Pods(namespace).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Spec.EphemeralContainers = ecs
		if _, err := cs.CoreV1().Pods(namespace).UpdateEphemeralContainers(ctx, p.Name, created,
			metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	job.Status = appsv1alpha1.EphemeralJobStatus{
		Phase: appsv1alpha1.EphemeralJobRunning, Match: 8, Succeeded: 3, Failed: 3, Running: 1, Waiting: 1,
		Targeted: 8, IndexLimit: 8, SucceededIndexes: "0-1,7", FailedIndexes: "2,5-6", ActiveIndexes: "3-4",
		RefusedIndexes: "5", Refusals: []appsv1alpha1.ReasonCount{{Reason: appsv1alpha1.ReasonContainerNameTaken, Count: 1}},
		Refused: []appsv1alpha1.RefusedPod{{Index: 5, Name: "web-5", UID: "0b7c6a0e-0000-4000-8000-000000000005",
			Reason:  appsv1alpha1.ReasonTargetContainerNotFound,
			Message: `the pod has no container named "app" to target`}},
		StartTime: &metav1.Time{Time: at(0).Time},
	}
	if err := c.Status().Update(ctx, job); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestResultsLive runs `results` against the scenario in a real API server and compares
// every output format with its golden file.
func TestResultsLive(t *testing.T) {
	t.Setenv("MYSQL_HOST", "")
	defer func(n int64) { podPageSize = n }(podPageSize)
	// Two pods a page: the scenario's eight pods take four pages, so a lost continue token
	// loses targets.
	podPageSize = 2
	s := setUpLive(t, "results-live")
	base := []string{"results", "hello", "--kubeconfig", s.kubeconfig, "-n", s.namespace}
	for _, tt := range []struct {
		golden string
		args   []string
	}{
		{"results", nil},
		{"results-wide", []string{"-o", "wide"}},
		{"results-group", []string{"--group"}},
		{"results-json", []string{"-o", "json"}},
		{"results-yaml", []string{"-o", "yaml"}},
		{"results-logs", []string{"--logs", "--limit-bytes", "64"}},
		{"results-group-logs", []string{"--group", "--logs"}},
		{"results-group-json", []string{"--group", "-o", "json"}},
		{"results-logs-json", []string{"--logs", "--limit-bytes", "64", "-o", "json"}},
		{"results-kyaml", []string{"-o", "kyaml"}},
		{"results-name", []string{"-o", "name"}},
		{"results-no-headers", []string{"--no-headers"}},
		{"results-jsonpath", []string{"-o", `jsonpath={range .items[*]}{.metadata.name} {.status} {.exitCode}{"\n"}{end}`}},
		{"results-jsonpath-as-json", []string{"-o", "jsonpath-as-json={.items[?(@.status==\"Failed\")].metadata.name}"}},
		{"results-jsonpath-file", []string{"-o", "jsonpath-file=" + templateFile(t, "{.job.phase} {.missing}\n")}},
		{"results-go-template", []string{"-o",
			`go-template={{range .items}}{{.metadata.name}}={{.status}}{{"\n"}}{{end}}`}},
		{"results-go-template-file", []string{"-o", "go-template-file",
			"--template", templateFile(t, "{{.job.name}}: {{len .items}} targets\n")}},
		{"results-custom-columns", []string{"-o",
			"custom-columns=POD:.metadata.name,INDEX:.index,STATUS:.status,EXIT:.exitCode,IMAGE:.image"}},
		{"results-custom-columns-file", []string{"-o", "custom-columns-file=" +
			templateFile(t, "POD STATUS REASON\n.metadata.name .status .reason\n")}},
		{"results-custom-columns-group", []string{"--group", "--no-headers", "-o",
			"custom-columns=COUNT:.count,STATUS:.status,PODS:.pods"}},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append(base, tt.args...)...)
			golden(t, tt.golden, s.normalize(transcript(code, stdout, stderr)))
		})
	}
	// The bound on the output is the CLI's own: a kubelet that sends everything changes nothing.
	t.Run("a kubelet that ignores limitBytes", func(t *testing.T) {
		s.logs.IgnoreLimit(true)
		defer s.logs.IgnoreLimit(false)
		code, stdout, stderr := runCLI(t, append(base, "--logs", "--limit-bytes", "64", "-o", "json")...)
		golden(t, "results-logs-json", s.normalize(transcript(code, stdout, stderr)))
	})
}

// templateFile writes a template into a file of the test and returns its path.
func templateFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "template")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
