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

package e2enode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

var _ = Describe("EphemeralJob on a real kubelet", func() {
	var ns string

	BeforeEach(func(ctx SpecContext) {
		ns = testNamespace(ctx)
	})

	It("runs Story 1 twice on the same pods, applied with its Deployments; kubectl ejob results shows the real output", func(ctx SpecContext) {
		const name = "hello-world-ephemeral-job"
		By("applying the proposal's Deployments and EphemeralJob in one kubectl apply -f DIR")
		dir := GinkgoT().TempDir()
		for src, dst := range map[string]string{
			filepath.Join("testdata", "story1_deployments.yaml"): "story1_deployments.yaml",
			sample("story1_ephemeraljob.yaml"):                   "story1_ephemeraljob.yaml",
		} {
			data, err := os.ReadFile(src)
			Expect(err).NotTo(HaveOccurred())
			Expect(os.WriteFile(filepath.Join(dir, dst), data, 0o600)).To(Succeed())
		}
		watch := watchUnfinished(ctx, ns)
		runKubectl("apply", "-n", ns, "-f", dir)

		var before map[string]string
		var containers []string
		for run := 1; run <= 2; run++ {
			job := waitFinished(ctx, ns, name)
			Expect(job.Status.Phase).To(Equal(appsv1alpha1.EphemeralJobFailed))
			container := "helloworld-ec"
			if run > 1 {
				container = podstate.DerivedName(container, job.UID)
			}
			containers = append(containers, container)

			By(fmt.Sprintf("run %d: reading `kubectl get ejob`", run))
			Expect(ejobColumns(ns, name)).To(Equal(map[string]string{
				"STATUS": "Failed", "MATCH": "4", "SUCCEED": "2", "FAILED": "2", "RUNNING": "0", "WAITING": "0"}))
			Expect(watch.max()).To(Equal(1), "parallelism 1 must hold one unfinished target at most, and use it")

			By(fmt.Sprintf("run %d: checking each pod's ephemeral containers against its Deployment", run))
			pods := listPods(ctx, ns, "app=helloworld")
			if before == nil {
				before = mainContainers(pods, "helloworld")
			}
			exitCodes := map[string]int32{}
			for _, pod := range pods {
				var names []string
				for _, c := range pod.Spec.EphemeralContainers {
					names = append(names, c.Name)
				}
				Expect(names).To(Equal(containers), "pod %s", pod.Name)
				st := ephemeralStatus(&pod, container)
				Expect(st).NotTo(BeNil(), "pod %s has no status for %s", pod.Name, container)
				Expect(st.State.Terminated).NotTo(BeNil(), "pod %s: %+v", pod.Name, st.State)
				exitCodes[pod.Name] = st.State.Terminated.ExitCode
				if isNoWork(&pod) {
					Expect(st.State.Terminated.ExitCode).To(Equal(int32(1)), "pidof finds no helloworld in %s", pod.Name)
				} else {
					Expect(st.State.Terminated.ExitCode).To(Equal(int32(0)), "pidof finds helloworld in %s", pod.Name)
				}
			}
			Expect(exitCodes).To(HaveLen(4))

			By(fmt.Sprintf("run %d: kubectl ejob results --logs", run))
			out := runKubectl("ejob", "results", name, "-n", ns, "--logs")
			GinkgoWriter.Println(out)
			shown := resultRows(out)
			Expect(shown).To(HaveLen(4), "%s", out)
			for pod, code := range exitCodes {
				row := shown[pod]
				Expect(row).NotTo(BeNil(), "no row for %s in\n%s", pod, out)
				Expect(row.container).To(Equal(container))
				if code == 0 {
					Expect(row.status).To(Equal("Succeeded"))
					Expect(row.exit).To(Equal("0"))
					// pidof prints the PIDs it found: the target's helloworld, PID 1 of the shared namespace.
					Expect(row.output).To(MatchRegexp(`^\d+( \d+)*$`), "output of %s", pod)
				} else {
					Expect(row.status).To(Equal("Failed"))
					Expect(row.exit).To(Equal("1"))
					Expect(row.output).To(BeEmpty(), "pidof prints nothing when it finds nothing (%s)", pod)
				}
			}

			By(fmt.Sprintf("run %d: reading the pods' rows in MySQL", run))
			Eventually(func(g Gomega) {
				rows, err := store.ListPods(ctx, string(job.UID))
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(rows).To(HaveLen(4))
				for _, row := range rows {
					var remark recorder.PodRemark
					g.Expect(json.Unmarshal([]byte(row.Remark), &remark)).To(Succeed(), "remark of %s: %q", row.Name, row.Remark)
					g.Expect(remark.ExitCode).NotTo(BeNil(), "row of %s", row.Name)
					g.Expect(*remark.ExitCode).To(Equal(exitCodes[row.Name]), "row of %s", row.Name)
					g.Expect(remark.Container).To(Equal(container))
					g.Expect(row.ContainerName).To(Equal(container))
					g.Expect(row.ExitCode).To(HaveValue(Equal(exitCodes[row.Name])), "row of %s", row.Name)
					// The recorder fetched the container's output once it finished: pidof's PIDs, or nothing.
					g.Expect(strings.TrimSpace(row.Output)).To(Equal(shown[row.Name].output), "output of %s", row.Name)
					want := recorder.PodStatusSucceeded
					if exitCodes[row.Name] != 0 {
						want = recorder.PodStatusFailed
					}
					g.Expect(row.Status).To(Equal(want), "row of %s", row.Name)
					g.Expect(row.Namespace).To(Equal(ns))
					g.Expect(row.Image).To(Equal("busybox:latest"))
					g.Expect(row.GmtFinished).NotTo(BeNil())
				}
			}).Should(Succeed())

			if run == 1 {
				By("deleting the job and applying the same manifest again")
				runKubectl("delete", "ejob", name, "-n", ns, "--wait")
				runKubectl("apply", "-n", ns, "-f", filepath.Join(dir, "story1_ephemeraljob.yaml"))
			}
		}

		By("checking that the main containers were not touched")
		Expect(mainContainers(listPods(ctx, ns, "app=helloworld"), "helloworld")).To(Equal(before))
	})

	It("runs Story 2: the ephemeral container keeps running and sees the target's processes", func(ctx SpecContext) {
		By("applying the proposal's pod")
		runKubectl("apply", "-n", ns, "-f", filepath.Join("testdata", "story2_pod.yaml"))
		pods := waitRunningPods(ctx, ns, "env=test", 1)
		before := mainContainers(pods, "nginx")

		By("applying the proposal's EphemeralJob")
		runKubectl("apply", "-n", ns, "-f", sample("story2_ephemeraljob.yaml"))
		Eventually(func(g Gomega) {
			g.Expect(ejobColumns(ns, "nginx-ephemeral-job")).To(Equal(map[string]string{
				"STATUS": "Running", "MATCH": "1", "SUCCEED": "0", "FAILED": "0", "RUNNING": "1", "WAITING": "0"}))
			pod := &corev1.Pod{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "nginx"}, pod)).To(Succeed())
			st := ephemeralStatus(pod, "nginx-ec")
			g.Expect(st).NotTo(BeNil())
			g.Expect(st.State.Running).NotTo(BeNil())
		}).Should(Succeed())

		By("running ps aux in the ephemeral container")
		out := runKubectl("exec", "-n", ns, "nginx", "-c", "nginx-ec", "--", "ps", "aux")
		GinkgoWriter.Println(out)
		// The target's entrypoint is PID 1: the PID namespace is the target container's.
		// (busybox's ps prints a TIME column or not, depending on its build.)
		Expect(out).To(MatchRegexp(`(?m)^\s*1\s+root\s+(\d+:\d+\s+)?httpd -f`))
		Expect(out).To(MatchRegexp(`(?m)^\s*\d+\s+root\s+(\d+:\d+\s+)?sleep 99999$`))

		By("checking that the main container was not touched")
		Expect(mainContainers(listPods(ctx, ns, "env=test"), "nginx")).To(Equal(before))
	})

	It("never runs more containers at once than parallelism on a real node", func(ctx SpecContext) {
		for i := range 6 {
			Expect(k8s.Create(ctx, busyboxPod(fmt.Sprintf("par-%d", i), ns, "par"))).To(Succeed())
		}
		waitRunningPods(ctx, ns, "app=par", 6)
		watch := watchUnfinished(ctx, ns)

		job := testutil.MakeEphemeralJob("par", ns, "par").Parallelism(2).Obj()
		job.Spec.Template.EphemeralContainers[0].Command = []string{"sleep", "3"}
		Expect(k8s.Create(ctx, job)).To(Succeed())
		job = waitFinished(ctx, ns, "par")
		Expect(job.Status.Phase).To(Equal(appsv1alpha1.EphemeralJobSucceeded))
		Expect(job.Status.Match).To(Equal(int32(6)))
		Expect(job.Status.Succeeded).To(Equal(int32(6)))
		Expect(watch.max()).To(Equal(2), "parallelism 2 must hold two unfinished targets at most, and use them")
		for _, pod := range listPods(ctx, ns, "app=par") {
			st := ephemeralStatus(&pod, "check")
			Expect(st).NotTo(BeNil(), "pod %s", pod.Name)
			Expect(st.State.Terminated).NotTo(BeNil(), "pod %s", pod.Name)
			Expect(st.State.Terminated.ExitCode).To(BeZero(), "pod %s", pod.Name)
		}
	})

	It("counts a container whose image may not be pulled as failed, with the kubelet's reason", func(ctx SpecContext) {
		for i := range 3 {
			Expect(k8s.Create(ctx, busyboxPod(fmt.Sprintf("never-%d", i), ns, "never"))).To(Succeed())
		}
		waitRunningPods(ctx, ns, "app=never", 3)

		// Parallelism 1: each target must be counted failed for the next one to be injected.
		job := testutil.MakeEphemeralJob("never", ns, "never").Parallelism(1).Obj()
		c := &job.Spec.Template.EphemeralContainers[0]
		c.Image, c.ImagePullPolicy = "registry.invalid/absent:1.0", corev1.PullNever
		Expect(k8s.Create(ctx, job)).To(Succeed())
		job = waitFinished(ctx, ns, "never")
		Expect(job.Status.Phase).To(Equal(appsv1alpha1.EphemeralJobFailed))
		Expect(job.Status.Match).To(Equal(int32(3)))
		Expect(job.Status.Failed).To(Equal(int32(3)))
		for _, pod := range listPods(ctx, ns, "app=never") {
			st := ephemeralStatus(&pod, "check")
			Expect(st).NotTo(BeNil(), "pod %s", pod.Name)
			Expect(st.State.Waiting).NotTo(BeNil(), "pod %s: %+v", pod.Name, st.State)
			Expect(st.State.Waiting.Reason).To(Equal("ErrImageNeverPull"))
			res, ok := podstate.Evaluate(&pod, job.UID)
			Expect(ok).To(BeTrue())
			Expect(res.Outcome).To(Equal(podstate.Failed))
			Expect(res.Reason).To(Equal("ErrImageNeverPull"))
		}
		failed := findCondition(job, appsv1alpha1.ConditionFailed)
		Expect(failed).NotTo(BeNil())
		Expect(failed.Message).To(ContainSubstring("ErrImageNeverPull"))
	})

	It("runs a command in one step with kubectl ejob run: two groups, exit code 1; kubectl ejob logs -f shows the real output", func(ctx SpecContext) {
		runKubectl("apply", "-n", ns, "-f", filepath.Join("testdata", "story1_deployments.yaml"))
		pods := waitRunningPods(ctx, ns, "app=helloworld", 4)

		out, stderr, code := kubectlExit("ejob", "run", "-n", ns, "-l", "app=helloworld", "--image=busybox:latest",
			"--target=helloworld", "--yes", "--name=pidof", "--", "pidof", "helloworld")
		GinkgoWriter.Println(out, stderr)
		Expect(code).To(Equal(1), "some targets failed: the exit code is 1\n%s%s", out, stderr)
		// Folded: the two pods that run helloworld printed the same PID (1: the target's
		// entrypoint in the shared PID namespace), the two others nothing.
		groups := regexp.MustCompile(`(?m)^(\d+)\s+(Succeeded|Failed)\s+(\S+)`).FindAllStringSubmatch(out, -1)
		Expect(groups).To(HaveLen(2), "%s", out)
		Expect(groups[0][1:]).To(Equal([]string{"2", "Succeeded", "0"}), "%s", out)
		Expect(groups[1][1:]).To(Equal([]string{"2", "Failed", "1"}), "%s", out)
		Expect(out).To(MatchRegexp(`(?m)^    \| 1$`), "the PID pidof printed, under its group")
		Expect(stderr).To(ContainSubstring("4 running pods on 1 node"))

		logs := runKubectl("ejob", "logs", "pidof", "-n", ns, "-f", "--prefix")
		GinkgoWriter.Println(logs)
		var want []string
		for _, pod := range pods {
			if !isNoWork(&pod) {
				want = append(want, pod.Name+"/ejob 1")
			}
		}
		Expect(strings.Split(strings.TrimSpace(logs), "\n")).To(ConsistOf(want))
	})

	It("honours the restricted Pod Security level: a root template is refused at create, run --profile=restricted runs", func(ctx SpecContext) {
		nsObj := &corev1.Namespace{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
		nsObj.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
		Expect(k8s.Update(ctx, nsObj)).To(Succeed())
		for i := range 2 {
			pod := busyboxPod(fmt.Sprintf("rs-%d", i), ns, "rs")
			pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: new(true), RunAsUser: new(int64(1000)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
			pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: new(false),
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
			Expect(k8s.Create(ctx, pod)).To(Succeed())
		}
		waitRunningPods(ctx, ns, "app=rs", 2)

		By("refusing a job whose busybox runs as root, naming what to set")
		root := testutil.MakeEphemeralJob("root", ns, "rs").Obj()
		err := k8s.Create(ctx, root)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(And(ContainSubstring(`violates PodSecurity "restricted:latest"`),
			ContainSubstring("securityContext.allowPrivilegeEscalation"), ContainSubstring("capabilities")))

		By("running a non-root command with --profile=restricted")
		out, stderr, code := kubectlExit("ejob", "run", "-n", ns, "-l", "app=rs", "--image=busybox:latest",
			"--target=app", "--profile=restricted", "--yes", "--name=whoami", "--", "id", "-u")
		GinkgoWriter.Println(out, stderr)
		Expect(code).To(BeZero(), "%s%s", out, stderr)
		Expect(out).To(MatchRegexp(`(?m)^2\s+Succeeded\s+0\s`))
		Expect(out).To(MatchRegexp(`(?m)^    \| 65534$`), "the profile's user")
	})

	// A measurement, not a check: `make bench-e2e-node` runs it (EJOB_BENCH=1) and prints
	// the wall times side by side; docs/benchmarks.md keeps them.
	It("kubectl ejob run over 20 pods against a shell loop of kubectl debug", Label("bench"), func(ctx SpecContext) {
		if os.Getenv("EJOB_BENCH") == "" {
			Skip("a benchmark: make bench-e2e-node runs it")
		}
		const pods = 20
		for i := range pods {
			Expect(k8s.Create(ctx, busyboxPod(fmt.Sprintf("bench-%02d", i), ns, "bench"))).To(Succeed())
		}
		waitRunningPods(ctx, ns, "app=bench", pods)

		began := time.Now()
		out, stderr, code := kubectlExit("ejob", "run", "-n", ns, "-l", "app=bench", "--image=busybox:latest",
			"--image-pull-policy=IfNotPresent", "--target=app", "--parallelism=10", "--yes", "--name=bench", "--",
			"pidof", "sleep")
		ejobRun := time.Since(began)
		Expect(code).To(BeZero(), "%s%s", out, stderr)
		Expect(out).To(MatchRegexp(`(?m)^20\s+Succeeded`))

		// As a user would script it: one kubectl debug per pod, waiting for its container to
		// end before reading its output and going on.
		script := `set -eu
for p in $(kubectl get pods -n "$NS" -l app=bench -o name); do
  kubectl debug -n "$NS" "$p" --image=busybox:latest --image-pull-policy=IfNotPresent --target=app -c dbg -- pidof sleep >/dev/null
  until [ -n "$(kubectl get -n "$NS" "$p" -o jsonpath='{.status.ephemeralContainerStatuses[?(@.name=="dbg")].state.terminated.exitCode}')" ]; do
    sleep 0.2
  done
  kubectl logs -n "$NS" "$p" -c dbg
done`
		cmd := exec.CommandContext(ctx, "bash", "-c", script)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+os.Getenv(envKubeconfig), "NS="+ns,
			"PATH="+filepath.Dir(kubectl)+string(os.PathListSeparator)+os.Getenv("PATH"))
		began = time.Now()
		loopOut, err := cmd.CombinedOutput()
		debugLoop := time.Since(began)
		Expect(err).NotTo(HaveOccurred(), "%s", loopOut)
		Expect(strings.Count(string(loopOut), "\n")).To(Equal(pods), "one line of pidof per pod:\n%s", loopOut)

		report := fmt.Sprintf("kubectl ejob run (parallelism 10): %.1fs; kubectl debug loop: %.1fs; %d pods; ratio %.2f\n",
			ejobRun.Seconds(), debugLoop.Seconds(), pods, debugLoop.Seconds()/ejobRun.Seconds())
		GinkgoWriter.Print(report)
		if path := os.Getenv("EJOB_BENCH_OUT"); path != "" {
			Expect(os.WriteFile(path, []byte(report), 0o644)).To(Succeed())
		}
	})
})

// kubectlExit runs kubectl and returns its stdout, its stderr and its exit code.
func kubectlExit(args ...string) (string, string, int) {
	GinkgoHelper()
	cmd := exec.Command(kubectl, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+os.Getenv(envKubeconfig),
		"PATH="+filepath.Dir(mustEnv(envKubectlEjob))+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		Fail(fmt.Sprintf("kubectl %v: %v", args, err))
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// resultRow is a row of `kubectl ejob results --logs`, with the output printed under it.
type resultRow struct {
	container, status, exit, output string
}

// resultRows parses the table of `kubectl ejob results --logs` by pod: columns POD CONTAINER
// STATUS EXIT ..., each row followed by its output's lines, indented and prefixed "| ".
func resultRows(out string) map[string]*resultRow {
	GinkgoHelper()
	rows := map[string]*resultRow{}
	var last *resultRow
	var lines []string
	flush := func() {
		if last != nil {
			last.output = strings.Join(lines, "\n")
		}
		lines = nil
	}
	for i, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		switch {
		case i == 0:
			Expect(strings.Fields(line)[:4]).To(Equal([]string{"POD", "CONTAINER", "STATUS", "EXIT"}), "header %q", line)
		case strings.HasPrefix(line, "    | "):
			lines = append(lines, strings.TrimPrefix(line, "    | "))
		case strings.HasPrefix(line, "    "):
			// "(no output)" and other notes about the output
		default:
			flush()
			f := strings.Fields(line)
			Expect(len(f)).To(BeNumerically(">=", 4), "row %q", line)
			last = &resultRow{container: f[1], status: f[2], exit: f[3]}
			rows[f[0]] = last
		}
	}
	flush()
	return rows
}

// testNamespace creates a namespace for one spec, deleted with its pods when the spec ends.
func testNamespace(ctx context.Context) string {
	GinkgoHelper()
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-node-"}}
	Expect(k8s.Create(ctx, obj)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		// Pods first with a short grace period: the stand-ins ignore SIGTERM as PID 1.
		Expect(k8s.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(obj.Name), client.GracePeriodSeconds(1))).
			To(Succeed())
		Expect(k8s.Delete(ctx, obj)).To(Succeed())
	})
	// Pods mount their ServiceAccount's token: wait until the controller manager made it.
	Eventually(func() error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: obj.Name, Name: "default"}, &corev1.ServiceAccount{})
	}).Should(Succeed())
	return obj.Name
}

// sample returns the path of a manifest in config/samples.
func sample(name string) string {
	return filepath.Join(testutil.RepoRoot(), "config", "samples", name)
}

// busyboxPod is a pod whose main container "app" sleeps.
func busyboxPod(name, ns, app string) *corev1.Pod {
	pod := testutil.MakePod(name, ns).Label("app", app).Obj()
	pod.Spec.Containers[0].Image = "busybox:latest"
	pod.Spec.Containers[0].ImagePullPolicy = corev1.PullIfNotPresent
	pod.Spec.Containers[0].Command = []string{"sleep", "99999"}
	grace := int64(1)
	pod.Spec.TerminationGracePeriodSeconds = &grace
	return pod
}

func listPods(ctx context.Context, ns, selector string) []corev1.Pod {
	GinkgoHelper()
	sel, err := labels.Parse(selector)
	Expect(err).NotTo(HaveOccurred())
	var list corev1.PodList
	Expect(k8s.List(ctx, &list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: sel})).To(Succeed())
	return list.Items
}

// waitRunningPods waits until exactly n pods match and all their containers run.
func waitRunningPods(ctx context.Context, ns, selector string, n int) []corev1.Pod {
	GinkgoHelper()
	var pods []corev1.Pod
	Eventually(func(g Gomega) {
		pods = listPods(ctx, ns, selector)
		g.Expect(pods).To(HaveLen(n))
		for _, p := range pods {
			g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning), "pod %s", p.Name)
			g.Expect(p.Status.ContainerStatuses).NotTo(BeEmpty(), "pod %s", p.Name)
			for _, st := range p.Status.ContainerStatuses {
				g.Expect(st.State.Running).NotTo(BeNil(), "pod %s container %s: %+v", p.Name, st.Name, st.State)
			}
		}
	}).Should(Succeed())
	return pods
}

func waitFinished(ctx context.Context, ns, name string) *appsv1alpha1.EphemeralJob {
	GinkgoHelper()
	job := &appsv1alpha1.EphemeralJob{}
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, job)).To(Succeed())
		g.Expect(job.Status.Phase).To(BeElementOf(appsv1alpha1.EphemeralJobSucceeded, appsv1alpha1.EphemeralJobFailed),
			"status: %+v", job.Status)
		g.Expect(job.Status.Running + job.Status.Waiting).To(BeZero())
	}).Should(Succeed())
	return job
}

// ejobColumns returns the columns of the job's row in `kubectl get ejob`, by header,
// without NAME and AGE. kubectl aligns the columns, so each value starts where its
// header does; an empty cell (a status not written yet) is "".
func ejobColumns(ns, name string) (map[string]string, error) {
	out, err := kubectlOutput("get", "ejob", "-n", ns, name)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 2 {
		return nil, fmt.Errorf("kubectl get ejob printed %d lines:\n%s", len(lines), out)
	}
	header, row := lines[0], lines[1]
	starts := regexp.MustCompile(`\S+`).FindAllStringIndex(header, -1)
	cols := map[string]string{}
	for i, se := range starts {
		end := len(row)
		if i+1 < len(starts) {
			end = min(starts[i+1][0], len(row))
		}
		cell := ""
		if se[0] < len(row) {
			cell = strings.TrimSpace(row[se[0]:end])
		}
		switch h := header[se[0]:se[1]]; h {
		case "NAME":
			if cell != name {
				return nil, fmt.Errorf("kubectl get ejob printed the row of %q:\n%s", cell, out)
			}
		case "AGE":
		default:
			cols[h] = cell
		}
	}
	return cols, nil
}

func ephemeralStatus(pod *corev1.Pod, name string) *corev1.ContainerStatus {
	for i := range pod.Status.EphemeralContainerStatuses {
		if pod.Status.EphemeralContainerStatuses[i].Name == name {
			return &pod.Status.EphemeralContainerStatuses[i]
		}
	}
	return nil
}

// isNoWork reports whether the pod belongs to the helloworld-no-work Deployment, whose
// container runs `sleep 99999` instead of helloworld.
func isNoWork(pod *corev1.Pod) bool {
	return strings.HasPrefix(pod.Name, "helloworld-no-work-")
}

// mainContainers returns, per pod, the named container's ID and restart count.
func mainContainers(pods []corev1.Pod, container string) map[string]string {
	GinkgoHelper()
	out := map[string]string{}
	for _, p := range pods {
		for _, st := range p.Status.ContainerStatuses {
			if st.Name == container {
				Expect(st.ContainerID).NotTo(BeEmpty(), "pod %s", p.Name)
				out[p.Name] = st.ContainerID + " restarts=" + strconv.Itoa(int(st.RestartCount))
			}
		}
	}
	Expect(out).To(HaveLen(len(pods)))
	return out
}

func findCondition(job *appsv1alpha1.EphemeralJob, t string) *metav1.Condition {
	for i := range job.Status.Conditions {
		if job.Status.Conditions[i].Type == t {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

// unfinishedWatch follows the pods of a namespace with an informer and keeps the largest
// number of pods seen at once with an ephemeral container that has not terminated
// (injected and waiting, or running): the pods a job holds against its parallelism.
type unfinishedWatch struct {
	mu      sync.Mutex
	pods    map[string]bool
	highest int
}

func watchUnfinished(ctx context.Context, ns string) *unfinishedWatch {
	GinkgoHelper()
	w := &unfinishedWatch{pods: map[string]bool{}}
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
	inf := factory.Core().V1().Pods().Informer()
	update := func(obj any) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		w.pods[pod.Name] = hasUnfinished(pod)
		n := 0
		for _, u := range w.pods {
			if u {
				n++
			}
		}
		w.highest = max(w.highest, n)
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    update,
		UpdateFunc: func(_, obj any) { update(obj) },
	})
	Expect(err).NotTo(HaveOccurred())
	stop := make(chan struct{})
	DeferCleanup(func() { close(stop) })
	factory.Start(stop)
	Expect(cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)).To(BeTrue())
	return w
}

func hasUnfinished(pod *corev1.Pod) bool {
	for _, c := range pod.Spec.EphemeralContainers {
		st := ephemeralStatus(pod, c.Name)
		if st == nil || st.State.Terminated == nil {
			return true
		}
	}
	return false
}

func (w *unfinishedWatch) max() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.highest
}
