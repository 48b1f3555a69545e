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

package controller

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
	"github.com/ephemeraljob/ephemeraljob-operator/test/kubelet"
)

// newNamespace creates a namespace whose ephemeral containers the stand-in treats with decide.
func newNamespace(ctx context.Context, decide kubelet.Decider) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ejob-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	deciders.Set(ns.Name, decide)
	return ns.Name
}

func setDecider(ns string, decide kubelet.Decider) { deciders.Set(ns, decide) }

// runPod creates the pod and marks it Running.
func runPod(ctx context.Context, pod *corev1.Pod) *corev1.Pod {
	pod, err := kubelet.CreateRunning(ctx, clientset, pod)
	Expect(err).NotTo(HaveOccurred())
	return pod
}

func runPods(ctx context.Context, ns, app string, n int) []*corev1.Pod {
	var pods []*corev1.Pod
	for i := range n {
		pods = append(pods, runPod(ctx, testutil.MakePod(fmt.Sprintf("%s-%d", app, i), ns).Label("app", app).Obj()))
	}
	return pods
}

func getJob(ctx context.Context, ns, name string) *appsv1alpha1.EphemeralJob {
	job := &appsv1alpha1.EphemeralJob{}
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, job)).To(Succeed())
	return job
}

// counts is the job's status as `kubectl get ejob` shows it.
type counts struct {
	Phase                                      appsv1alpha1.EphemeralJobPhase
	Match, Succeeded, Failed, Running, Waiting int32
}

// jobCounts returns the job's counts, checking on every read that match = succeeded + failed + running + waiting.
func jobCounts(ctx context.Context, ns, name string) func(g Gomega) counts {
	return func(g Gomega) counts {
		job := &appsv1alpha1.EphemeralJob{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, job)).To(Succeed())
		s := job.Status
		Expect(s.Match).To(Equal(s.Succeeded+s.Failed+s.Running+s.Waiting), "invariant broken in %+v", s)
		return counts{s.Phase, s.Match, s.Succeeded, s.Failed, s.Running, s.Waiting}
	}
}

// parallelismMonitor watches the namespace's pods and records the most pods that had an
// unfinished container of the job at any observed moment.
type parallelismMonitor struct {
	mu       sync.Mutex
	max      int
	injected map[string]int // pod name -> containers of the job
	stop     func()
}

func monitorParallelism(ctx context.Context, ns string) *parallelismMonitor {
	ctx, cancel := context.WithCancel(ctx)
	m := &parallelismMonitor{injected: map[string]int{}, stop: cancel}
	unfinished := map[string]bool{}
	observe := func(pod *corev1.Pod, deleted bool) {
		m.mu.Lock()
		defer m.mu.Unlock()
		if deleted {
			delete(unfinished, pod.Name)
		} else if uids := podstate.JobUIDs(pod); len(uids) > 0 {
			res, _ := podstate.Evaluate(pod, uids[0])
			unfinished[pod.Name] = !res.Outcome.IsFinished()
			m.injected[pod.Name] = len(podstate.OwnedContainers(pod, uids[0]))
		}
		n := 0
		for _, u := range unfinished {
			if u {
				n++
			}
		}
		m.max = max(m.max, n)
	}
	factory := informers.NewSharedInformerFactoryWithOptions(clientset, 0, informers.WithNamespace(ns))
	informer := factory.Core().V1().Pods().Informer()
	_, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { observe(o.(*corev1.Pod), false) },
		UpdateFunc: func(_, o any) { observe(o.(*corev1.Pod), false) },
		DeleteFunc: func(o any) {
			if pod, ok := o.(*corev1.Pod); ok {
				observe(pod, true)
			}
		},
	})
	Expect(err).NotTo(HaveOccurred())
	factory.Start(ctx.Done())
	Expect(toolscache.WaitForCacheSync(ctx.Done(), informer.HasSynced)).To(BeTrue())
	return m
}

func (m *parallelismMonitor) Max() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.max
}

func (m *parallelismMonitor) Injected() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for k, v := range m.injected {
		out[k] = v
	}
	return out
}

func sampleJob(file, ns string) *appsv1alpha1.EphemeralJob {
	job, err := testutil.SampleJob(file, ns)
	Expect(err).NotTo(HaveOccurred())
	return job
}

var hold = kubelet.Hold

var _ = Describe("EphemeralJob controller", func() {
	var stopManager func()
	BeforeEach(func() {
		stopManager = startManager()
		DeferCleanup(func() { stopManager() })
	})

	It("runs the proposal's Story 1 three times on the same pods: three complete runs", func(ctx SpecContext) {
		ns := newNamespace(ctx, kubelet.FailWhenEnv("APP_STATE", "false"))
		mon := monitorParallelism(ctx, ns)
		defer mon.stop()
		for _, pod := range testutil.Story1Pods(ns) {
			runPod(ctx, pod)
		}
		const name = "hello-world-ephemeral-job"
		var uids []types.UID
		for run := range 3 {
			By(fmt.Sprintf("run %d: apply the manifest", run+1))
			Expect(k8s.Create(ctx, sampleJob("story1_ephemeraljob.yaml", ns))).To(Succeed())
			Eventually(jobCounts(ctx, ns, name)).Should(Equal(
				counts{Phase: appsv1alpha1.EphemeralJobFailed, Match: 4, Succeeded: 2, Failed: 2}))
			job := getJob(ctx, ns, name)
			uids = append(uids, job.UID)
			Expect(job.Status.CompletionTime).NotTo(BeNil())
			Expect(job.Status.StartTime).NotTo(BeNil())
			Expect(job.Status.Refused).To(BeEmpty())
			container := "helloworld-ec"
			if run > 0 {
				container = podstate.DerivedName(container, job.UID)
			}
			Expect(job.Status.Results).To(ConsistOf(
				And(HaveField("Succeeded", true), HaveField("ExitCode", HaveValue(BeEquivalentTo(0))), HaveField("Count", BeEquivalentTo(2)),
					HaveField("Pods", ConsistOf("helloworld-0/"+container, "helloworld-1/"+container))),
				And(HaveField("Succeeded", false), HaveField("ExitCode", HaveValue(BeEquivalentTo(1))), HaveField("Count", BeEquivalentTo(2)),
					HaveField("Pods", ConsistOf("helloworld-no-work-0/"+container, "helloworld-no-work-1/"+container)))))
			failed := meta.FindStatusCondition(job.Status.Conditions, appsv1alpha1.ConditionFailed)
			Expect(failed).To(HaveField("Reason", appsv1alpha1.ReasonTargetsFailed))
			Expect(failed.Message).To(HavePrefix("2 of 4 pods failed, 2 with exit code 1"))
			Expect(meta.FindStatusCondition(job.Status.Conditions, appsv1alpha1.ConditionComplete)).To(BeNil(),
				"a failed job is not Complete, as for batch/v1 Jobs")
			Expect(mon.Max()).To(Equal(1), "parallelism 1 was exceeded")

			By(fmt.Sprintf("run %d: delete the job", run+1))
			Expect(k8s.Delete(ctx, job)).To(Succeed())
			Eventually(func() bool {
				return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(job), &appsv1alpha1.EphemeralJob{}))
			}).Should(BeTrue())
		}
		want := []string{"helloworld-ec", podstate.DerivedName("helloworld-ec", uids[1]),
			podstate.DerivedName("helloworld-ec", uids[2])}
		for _, pod := range listPods(ctx, ns) {
			var names []string
			for _, c := range pod.Spec.EphemeralContainers {
				names = append(names, c.Name)
			}
			Expect(names).To(Equal(want), "pod %s", pod.Name)
		}
	})

	It("counts selected pods that are not running yet and targets them once they run", func(ctx SpecContext) {
		ns := newNamespace(ctx, kubelet.FailWhenEnv("APP_STATE", "false"))
		By("applying the pods and the job in one kubectl apply -f DIR")
		dir := GinkgoT().TempDir()
		for _, f := range []string{"story1_pods.yaml", "story1_ephemeraljob.yaml"} {
			data, err := testutil.Sample(f)
			Expect(err).NotTo(HaveOccurred())
			Expect(os.WriteFile(filepath.Join(dir, f), data, 0o600)).To(Succeed())
		}
		out, err := exec.CommandContext(ctx, filepath.Join(testutil.AssetsDir(), "kubectl"), "--kubeconfig", kubeconfig,
			"apply", "-n", ns, "-f", dir).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", out)

		By("counting the four Pending pods as waiting, injecting none")
		Eventually(jobCounts(ctx, ns, "hello-world-ephemeral-job")).Should(Equal(
			counts{Phase: appsv1alpha1.EphemeralJobWaiting, Match: 4, Waiting: 4}))
		for _, pod := range listPods(ctx, ns) {
			Expect(pod.Spec.EphemeralContainers).To(BeEmpty())
		}
		c := meta.FindStatusCondition(getJob(ctx, ns, "hello-world-ephemeral-job").Status.Conditions,
			appsv1alpha1.ConditionProgressing)
		Expect(c.Message).To(ContainSubstring("4 of them not running yet"))

		By("targeting them once they run")
		for _, pod := range listPods(ctx, ns) {
			_, err := kubelet.MarkRunning(ctx, clientset, pod)
			Expect(err).NotTo(HaveOccurred())
		}
		Eventually(jobCounts(ctx, ns, "hello-world-ephemeral-job")).Should(Equal(
			counts{Phase: appsv1alpha1.EphemeralJobFailed, Match: 4, Succeeded: 2, Failed: 2}))
	})

	It("stops waiting for a pod that does not run within startDeadlineSeconds", func(ctx SpecContext) {
		ns := newNamespace(ctx, kubelet.ExitZero)
		runPods(ctx, ns, "web", 1)
		Expect(k8s.Create(ctx, testutil.MakePod("stuck", ns).Label("app", "web").Obj())).To(Succeed())
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("stuck", ns, "web").StartDeadline(2).Obj())).To(Succeed())
		Eventually(jobCounts(ctx, ns, "stuck")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobRunning, Match: 2, Succeeded: 1, Waiting: 1}))
		Eventually(jobCounts(ctx, ns, "stuck")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobSucceeded, Match: 1, Succeeded: 1}))
	})

	It("targets a native sidecar", func(ctx SpecContext) {
		ns := newNamespace(ctx, kubelet.ExitZero)
		pod := testutil.MakePod("sidecar", ns).Containers("main").Label("app", "web").Obj()
		pod.Spec.InitContainers = []corev1.Container{{Name: "check-target", Image: "busybox",
			RestartPolicy: new(corev1.ContainerRestartPolicyAlways)}}
		runPod(ctx, pod)
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("side", ns, "web").Container("check", "check-target").Obj())).To(Succeed())
		Eventually(jobCounts(ctx, ns, "side")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobSucceeded, Match: 1, Succeeded: 1}))
		got := &corev1.Pod{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pod), got)).To(Succeed())
		Expect(got.Spec.EphemeralContainers).To(ConsistOf(HaveField("TargetContainerName", "check-target")))
	})

	It("succeeds at once with replicas 0 and injects nothing", func(ctx SpecContext) {
		ns := newNamespace(ctx, kubelet.ExitZero)
		runPods(ctx, ns, "web", 2)
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("zero", ns, "web").Replicas(0).Obj())).To(Succeed())
		Eventually(jobCounts(ctx, ns, "zero")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobSucceeded}))
		for _, pod := range listPods(ctx, ns) {
			Expect(pod.Spec.EphemeralContainers).To(BeEmpty())
		}
	})

	It("runs the proposal's Story 2: a long-running container in one pod", func(ctx SpecContext) {
		ns := newNamespace(ctx, hold)
		nginx := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "nginx", Namespace: ns, Labels: map[string]string{"env": "test"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx",
				ImagePullPolicy: corev1.PullIfNotPresent}}},
		}
		runPod(ctx, nginx)
		Expect(k8s.Create(ctx, sampleJob("story2_ephemeraljob.yaml", ns))).To(Succeed())

		Eventually(jobCounts(ctx, ns, "nginx-ephemeral-job")).Should(Equal(
			counts{Phase: appsv1alpha1.EphemeralJobRunning, Match: 1, Running: 1}))
		pod := &corev1.Pod{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(nginx), pod)).To(Succeed())
		Expect(pod.Spec.EphemeralContainers).To(HaveLen(1))
		ec := pod.Spec.EphemeralContainers[0]
		Expect(ec.Name).To(Equal("nginx-ec"))
		Expect(ec.TargetContainerName).To(Equal("nginx"))
		Expect(ec.Env).To(ContainElement(corev1.EnvVar{Name: "ephemeraljob", Value: "nginx-ephemeral-job"}))
		Expect(ec.Command).To(Equal([]string{"sleep", "99999"}))
	})

	It("never has more than parallelism unfinished injections", func(ctx SpecContext) {
		ns := newNamespace(ctx, kubelet.ExitZero)
		mon := monitorParallelism(ctx, ns)
		defer mon.stop()
		runPods(ctx, ns, "web", 6)
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("par", ns, "web").Parallelism(2).Obj())).To(Succeed())

		Eventually(jobCounts(ctx, ns, "par")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobSucceeded, Match: 6, Succeeded: 6}))
		Expect(mon.Max()).To(BeNumerically("<=", 2))
		Expect(mon.Max()).To(BeNumerically(">=", 1))
		Expect(mon.Injected()).To(HaveLen(6))
	})

	It("targets at most replicas pods, oldest first, and more when replicas is raised", func(ctx SpecContext) {
		ns := newNamespace(ctx, hold)
		pods := runPods(ctx, ns, "web", 5)
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("rep", ns, "web").Replicas(1).Parallelism(5).Obj())).To(Succeed())
		Eventually(jobCounts(ctx, ns, "rep")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobRunning, Match: 1, Running: 1}))
		first := &corev1.Pod{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pods[0]), first)).To(Succeed())
		Expect(first.Spec.EphemeralContainers).To(HaveLen(1), "the oldest pod comes first")

		job := getJob(ctx, ns, "rep")
		job.Spec.Replicas = new(int32(3))
		Expect(k8s.Update(ctx, job)).To(Succeed())
		Eventually(jobCounts(ctx, ns, "rep")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobRunning, Match: 3, Running: 3}))

		setDecider(ns, kubelet.ExitZero)
		// Wake the stand-in: it acts on pod events, so touch each pod.
		for _, p := range pods {
			Expect(touch(ctx, p)).To(Succeed())
		}
		Eventually(jobCounts(ctx, ns, "rep")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobSucceeded, Match: 3, Succeeded: 3}))
		injected := 0
		for _, p := range pods {
			got := &corev1.Pod{}
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), got)).To(Succeed())
			injected += len(got.Spec.EphemeralContainers)
		}
		Expect(injected).To(Equal(3))
	})

	It("finishes when replicas is larger than the matching pods", func(ctx SpecContext) {
		ns := newNamespace(ctx, kubelet.ExitZero)
		runPods(ctx, ns, "web", 2)
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("big", ns, "web").Replicas(5).Obj())).To(Succeed())
		Eventually(jobCounts(ctx, ns, "big")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobSucceeded, Match: 2, Succeeded: 2}))
	})

	It("injects nothing while paused and resumes when unpaused", func(ctx SpecContext) {
		ns := newNamespace(ctx, kubelet.ExitZero)
		pods := runPods(ctx, ns, "web", 2)
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("p", ns, "web").Paused(true).Obj())).To(Succeed())
		Eventually(jobCounts(ctx, ns, "p")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobPaused, Match: 2, Waiting: 2}))
		for _, p := range pods {
			got := &corev1.Pod{}
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), got)).To(Succeed())
			Expect(got.Spec.EphemeralContainers).To(BeEmpty())
		}
		job := getJob(ctx, ns, "p")
		job.Spec.Paused = false
		Expect(k8s.Update(ctx, job)).To(Succeed())
		Eventually(jobCounts(ctx, ns, "p")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobSucceeded, Match: 2, Succeeded: 2}))
	})

	It("fails the job at its deadline and injects nothing after", func(ctx SpecContext) {
		ns := newNamespace(ctx, hold)
		runPods(ctx, ns, "web", 3)
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("dl", ns, "web").Deadline(2).Obj())).To(Succeed())
		// Pods never injected are not targets of a job that ended: only the running one counts.
		Eventually(jobCounts(ctx, ns, "dl")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobFailed, Match: 1, Running: 1}))
		job := getJob(ctx, ns, "dl")
		failed := meta.FindStatusCondition(job.Status.Conditions, appsv1alpha1.ConditionFailed)
		Expect(failed).NotTo(BeNil())
		Expect(failed.Reason).To(Equal(appsv1alpha1.ReasonDeadlineExceeded))
		Expect(job.Status.CompletionTime).NotTo(BeNil())
		Expect(job.Status.CompletionTime.Sub(job.Status.StartTime.Time).Seconds()).To(BeNumerically(">=", 2))
		Consistently(jobCounts(ctx, ns, "dl"), "2s").Should(HaveField("Running", int32(1)))
	})

	It("deletes a finished job after ttlSecondsAfterFinished", func(ctx SpecContext) {
		ns := newNamespace(ctx, kubelet.ExitZero)
		runPods(ctx, ns, "web", 1)
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("ttl", ns, "web").TTLAfterFinished(1).Obj())).To(Succeed())
		Eventually(func() error {
			return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ttl"}, &appsv1alpha1.EphemeralJob{})
		}).Should(Satisfy(apierrors.IsNotFound))
	})

	It("deletes an unfinished job after ttlSecondsAfterCreated", func(ctx SpecContext) {
		ns := newNamespace(ctx, hold)
		runPods(ctx, ns, "web", 1)
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("ttlc", ns, "web").TTLAfterCreated(2).Obj())).To(Succeed())
		Eventually(jobCounts(ctx, ns, "ttlc")).Should(HaveField("Running", int32(1)))
		Eventually(func() error {
			return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ttlc"}, &appsv1alpha1.EphemeralJob{})
		}).Should(Satisfy(apierrors.IsNotFound))
	})

	It("keeps the results of pods deleted mid-job", func(ctx SpecContext) {
		ns := newNamespace(ctx, func(pod *corev1.Pod, _ *corev1.EphemeralContainer) kubelet.Outcome {
			return kubelet.Outcome{Hold: pod.Name == "web-1"}
		})
		pods := runPods(ctx, ns, "web", 2)
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("del", ns, "web").Parallelism(2).Obj())).To(Succeed())
		Eventually(jobCounts(ctx, ns, "del")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobRunning, Match: 2, Succeeded: 1, Running: 1}))
		for _, p := range pods {
			Expect(k8s.Delete(ctx, p, client.GracePeriodSeconds(0))).To(Succeed())
		}
		Eventually(jobCounts(ctx, ns, "del")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobFailed, Match: 2, Succeeded: 1, Failed: 1}))
	})

	It("fails a pod without the target container and goes on with the others", func(ctx SpecContext) {
		ns := newNamespace(ctx, kubelet.ExitZero)
		runPod(ctx, testutil.MakePod("odd", ns).Containers("other").Label("app", "web").Obj())
		runPods(ctx, ns, "web", 2)
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("tgt", ns, "web").Obj())).To(Succeed())
		Eventually(jobCounts(ctx, ns, "tgt")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobFailed, Match: 3, Succeeded: 2, Failed: 1}))
		job := getJob(ctx, ns, "tgt")
		cond := meta.FindStatusCondition(job.Status.Conditions, appsv1alpha1.ConditionInjectionFailed)
		Expect(cond).NotTo(BeNil())
		Expect(cond.Reason).To(Equal(appsv1alpha1.ReasonTargetContainerNotFound))
		Expect(cond.Message).To(ContainSubstring("odd"))
		Expect(job.Status.Refused).To(ConsistOf(HaveField("Name", "odd")))
	})

	It("injects under a derived name where the template's name is taken, and refuses a pod where both are", func(ctx SpecContext) {
		ns := newNamespace(ctx, kubelet.ExitZero)
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("coll", ns, "web").Paused(true).Obj())).To(Succeed())
		job := getJob(ctx, ns, "coll")
		derived := podstate.DerivedName("check", job.UID)
		other := func(name string) corev1.EphemeralContainer {
			return corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: name, Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePolicy: corev1.TerminationMessageReadFile}}
		}
		taken := runPod(ctx, testutil.MakePod("taken", ns).Label("app", "web").Obj())
		taken.Spec.EphemeralContainers = []corev1.EphemeralContainer{other("check")}
		Expect(k8s.SubResource("ephemeralcontainers").Update(ctx, taken)).To(Succeed())
		both := runPod(ctx, testutil.MakePod("both", ns).Label("app", "web").Obj())
		both.Spec.EphemeralContainers = []corev1.EphemeralContainer{other("check"), other(derived)}
		Expect(k8s.SubResource("ephemeralcontainers").Update(ctx, both)).To(Succeed())
		runPods(ctx, ns, "web", 1)
		Expect(k8s.Patch(ctx, job, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"paused":false}}`)))).To(Succeed())

		Eventually(jobCounts(ctx, ns, "coll")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobFailed, Match: 3, Succeeded: 2, Failed: 1}))
		job = getJob(ctx, ns, "coll")
		Expect(job.Status.Refused).To(ConsistOf(And(HaveField("Name", "both"),
			HaveField("Reason", appsv1alpha1.ReasonContainerNameTaken))))
		got := &corev1.Pod{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(taken), got)).To(Succeed())
		Expect(got.Spec.EphemeralContainers).To(HaveLen(2))
		Expect(got.Spec.EphemeralContainers[1].Name).To(Equal(derived))
		Expect(job.Status.Results).To(ContainElement(HaveField("Pods", ContainElement("taken/"+derived))))
	})

	It("injects nothing twice across a controller restart", func(ctx SpecContext) {
		ns := newNamespace(ctx, hold)
		pods := runPods(ctx, ns, "web", 4)
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("rs", ns, "web").Parallelism(2).Obj())).To(Succeed())
		Eventually(jobCounts(ctx, ns, "rs")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobRunning, Match: 4, Running: 2, Waiting: 2}))

		stopManager()
		stopManager = startManager()
		setDecider(ns, kubelet.ExitZero)
		for _, p := range pods {
			Expect(touch(ctx, p)).To(Succeed())
		}
		Eventually(jobCounts(ctx, ns, "rs")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobSucceeded, Match: 4, Succeeded: 4}))
		for _, p := range pods {
			got := &corev1.Pod{}
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), got)).To(Succeed())
			Expect(got.Spec.EphemeralContainers).To(HaveLen(1), "pod %s", p.Name)
		}
	})

	It("fails a target whose containers do not start within startDeadlineSeconds and finishes the job", func(ctx SpecContext) {
		ns := newNamespace(ctx, func(pod *corev1.Pod, _ *corev1.EphemeralContainer) kubelet.Outcome {
			if pod.Name == "web-0" {
				return kubelet.Outcome{WaitingReason: "ImagePullBackOff"}
			}
			return kubelet.Outcome{}
		})
		runPods(ctx, ns, "web", 3)
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("start", ns, "web").Parallelism(1).StartDeadline(2).Obj())).To(Succeed())
		Eventually(jobCounts(ctx, ns, "start")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobFailed, Match: 3, Succeeded: 2, Failed: 1}))
		job := getJob(ctx, ns, "start")
		cond := meta.FindStatusCondition(job.Status.Conditions, appsv1alpha1.ConditionFailed)
		Expect(cond).NotTo(BeNil())
		Expect(cond.Message).To(And(ContainSubstring("web-0"), ContainSubstring("StartDeadlineExceeded")))
		Expect(job.Status.Results).To(ContainElement(And(HaveField("Reason", appsv1alpha1.ReasonStartDeadlineExceeded),
			HaveField("Message", ContainSubstring("ImagePullBackOff")), HaveField("Pods", ConsistOf("web-0/check")))))
	})

	It("fails at once a target the kubelet will never start: an image running as root against runAsNonRoot", func(ctx SpecContext) {
		ns := newNamespace(ctx, func(pod *corev1.Pod, c *corev1.EphemeralContainer) kubelet.Outcome {
			return kubelet.Outcome{WaitingReason: "CreateContainerConfigError", WaitingMessage: fmt.Sprintf(
				"container has runAsNonRoot and image will run as root (pod: %q, container: %s)", pod.Namespace+"/"+pod.Name, c.Name)}
		})
		runPods(ctx, ns, "web", 100)
		// With the default start deadline of 300 s, waiting it out would take 100/10 × 300 s.
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("root", ns, "web").Parallelism(10).Obj())).To(Succeed())
		Eventually(jobCounts(ctx, ns, "root"), "90s").Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobFailed, Match: 100, Failed: 100}))
		job := getJob(ctx, ns, "root")
		Expect(job.Status.Results).To(ConsistOf(And(HaveField("Reason", "CreateContainerConfigError"),
			HaveField("Message", ContainSubstring("image will run as root")), HaveField("Count", int32(100)))))
		Expect(meta.FindStatusCondition(job.Status.Conditions, appsv1alpha1.ConditionFailed)).To(
			HaveField("Reason", appsv1alpha1.ReasonTargetsFailed))
		Expect(meta.FindStatusCondition(job.Status.Conditions, appsv1alpha1.ConditionComplete)).To(BeNil())
	})

	It("refuses a pod that would hold more ephemeral containers than maxEphemeralContainersPerPod", func(ctx SpecContext) {
		ns := newNamespace(ctx, kubelet.ExitZero)
		runPods(ctx, ns, "web", 2)
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("first", ns, "web").Parallelism(2).Obj())).To(Succeed())
		Eventually(jobCounts(ctx, ns, "first")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobSucceeded, Match: 2, Succeeded: 2}))
		second := testutil.MakeEphemeralJob("second", ns, "web").Parallelism(2).Obj()
		second.Spec.MaxEphemeralContainersPerPod = new(int32(1))
		Expect(k8s.Create(ctx, second)).To(Succeed())
		Eventually(jobCounts(ctx, ns, "second")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobFailed, Match: 2, Failed: 2}))
		job := getJob(ctx, ns, "second")
		Expect(job.Status.Refusals).To(ConsistOf(And(HaveField("Reason", appsv1alpha1.ReasonTooManyEphemeralContainers),
			HaveField("Count", int32(2)))))
		Expect(job.Status.Refused).To(HaveEach(HaveField("Message", ContainSubstring("recreate the pod"))))
		for _, p := range listPods(ctx, ns) {
			Expect(p.Spec.EphemeralContainers).To(HaveLen(1), "pod %s grew", p.Name)
		}
	})

	It("names another controller that writes the job's status, in a condition and an event", func(ctx SpecContext) {
		ns := newNamespace(ctx, kubelet.ExitZero)
		runPods(ctx, ns, "web", 2)
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("shared", ns, "web").Parallelism(2).Obj())).To(Succeed())
		Eventually(jobCounts(ctx, ns, "shared")).Should(HaveField("Phase", appsv1alpha1.EphemeralJobSucceeded))
		Expect(meta.FindStatusCondition(getJob(ctx, ns, "shared").Status.Conditions,
			appsv1alpha1.ConditionForeignStatusWriter)).To(BeNil())

		By("another controller writing the status under its own name, as OpenKruise's would")
		job := getJob(ctx, ns, "shared")
		other := job.DeepCopy()
		other.Status.Phase = appsv1alpha1.EphemeralJobRunning
		Expect(k8s.Status().Patch(ctx, other, client.MergeFrom(job), client.FieldOwner("kruise-manager"))).To(Succeed())
		Eventually(func(g Gomega) {
			c := meta.FindStatusCondition(getJob(ctx, ns, "shared").Status.Conditions, appsv1alpha1.ConditionForeignStatusWriter)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Message).To(ContainSubstring(`field manager "kruise-manager"`))
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			var events eventsv1.EventList
			g.Expect(k8s.List(ctx, &events, client.InNamespace(ns))).To(Succeed())
			g.Expect(events.Items).To(ContainElement(And(HaveField("Reason", appsv1alpha1.ReasonAnotherStatusWriter),
				HaveField("Note", ContainSubstring("kruise-manager")))))
		}).Should(Succeed())
	})

	It("lets kubectl wait for Complete only on success and for Failed only on failure, as for Jobs", func(ctx SpecContext) {
		ns := newNamespace(ctx, func(pod *corev1.Pod, _ *corev1.EphemeralContainer) kubelet.Outcome {
			return kubelet.Outcome{ExitCode: map[bool]int32{true: 1}[strings.HasPrefix(pod.Name, "bad-")]}
		})
		runPods(ctx, ns, "good", 2)
		runPods(ctx, ns, "bad", 2)
		kubectlWait := func(condition, job, timeout string) (string, error) {
			out, err := exec.CommandContext(ctx, filepath.Join(testutil.AssetsDir(), "kubectl"), "--kubeconfig", kubeconfig,
				"wait", "-n", ns, "--for=condition="+condition, "ejob/"+job, "--timeout="+timeout).CombinedOutput()
			return string(out), err
		}
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("ok", ns, "good").Parallelism(2).Obj())).To(Succeed())
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("ko", ns, "bad").Parallelism(2).Obj())).To(Succeed())
		out, err := kubectlWait("Complete", "ok", "60s")
		Expect(err).NotTo(HaveOccurred(), "%s", out)
		Expect(out).To(ContainSubstring("condition met"))
		out, err = kubectlWait("Failed", "ko", "60s")
		Expect(err).NotTo(HaveOccurred(), "%s", out)
		Expect(out).To(ContainSubstring("condition met"))
		Expect(getJob(ctx, ns, "ko").Status.Phase).To(Equal(appsv1alpha1.EphemeralJobFailed))
		out, err = kubectlWait("Complete", "ko", "3s")
		Expect(err).To(HaveOccurred(), "kubectl wait --for=condition=Complete returned for a failed job: %s", out)
		Expect(out).To(ContainSubstring("timed out"))
		out, err = kubectlWait("Failed", "ok", "3s")
		Expect(err).To(HaveOccurred(), "kubectl wait --for=condition=Failed returned for a job that succeeded: %s", out)
		Expect(out).To(ContainSubstring("timed out"))
	})

	It("stops starting targets once the failure budget is spent and spares the other pods", func(ctx SpecContext) {
		ns := newNamespace(ctx, func(*corev1.Pod, *corev1.EphemeralContainer) kubelet.Outcome {
			return kubelet.Outcome{ExitCode: 1}
		})
		pods := runPods(ctx, ns, "web", 40)
		monitor := monitorParallelism(ctx, ns)
		defer monitor.stop()
		job := testutil.MakeEphemeralJob("budget", ns, "web").Parallelism(3).Obj()
		job.Spec.FailureBudget = new(int32(5))
		Expect(k8s.Create(ctx, job)).To(Succeed())
		Eventually(jobCounts(ctx, ns, "budget"), "60s").Should(HaveField("Phase", appsv1alpha1.EphemeralJobFailed))
		job = getJob(ctx, ns, "budget")
		Expect(job.Status.Failed).To(And(BeNumerically(">=", 5), BeNumerically("<=", 5+3-1)))
		Expect(job.Status.Succeeded).To(BeZero())
		cond := meta.FindStatusCondition(job.Status.Conditions, appsv1alpha1.ConditionFailed)
		Expect(cond).To(HaveField("Reason", appsv1alpha1.ReasonFailureBudgetExceeded))
		Expect(cond.Message).To(ContainSubstring(fmt.Sprintf("%d pods spared", 40-job.Status.Failed)))
		injected := 0
		for _, p := range pods {
			got := &corev1.Pod{}
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), got)).To(Succeed())
			injected += len(got.Spec.EphemeralContainers)
		}
		Expect(injected).To(Equal(int(job.Status.Failed)), "the spared pods are untouched")
		Expect(monitor.Max()).To(BeNumerically("<=", 3))
	})

	It("keeps a target with several containers unfinished until all ended, and failed if one failed", func(ctx SpecContext) {
		ns := newNamespace(ctx, func(_ *corev1.Pod, c *corev1.EphemeralContainer) kubelet.Outcome {
			if c.Name == "first" {
				return kubelet.Outcome{ExitCode: 1}
			}
			return kubelet.Outcome{Hold: true}
		})
		runPods(ctx, ns, "web", 2)
		monitor := monitorParallelism(ctx, ns)
		defer monitor.stop()
		job := testutil.MakeEphemeralJob("multi", ns, "web").Parallelism(1).Container("first", "app").Obj()
		second := *job.Spec.Template.EphemeralContainers[0].DeepCopy()
		second.Name = "second"
		job.Spec.Template.EphemeralContainers = append(job.Spec.Template.EphemeralContainers, second)
		Expect(k8s.Create(ctx, job)).To(Succeed())
		Eventually(jobCounts(ctx, ns, "multi")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobRunning, Match: 2, Running: 1, Waiting: 1}))
		Consistently(jobCounts(ctx, ns, "multi"), "2s").Should(HaveField("Failed", int32(0)))
		Expect(monitor.Injected()).To(HaveLen(1), "a slot is freed only when every container of a target ended")
		setDecider(ns, func(_ *corev1.Pod, c *corev1.EphemeralContainer) kubelet.Outcome {
			return kubelet.Outcome{ExitCode: map[bool]int32{true: 1}[c.Name == "first"]}
		})
		for _, p := range listPods(ctx, ns) {
			Expect(touch(ctx, p)).To(Succeed())
		}
		Eventually(jobCounts(ctx, ns, "multi")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobFailed, Match: 2, Failed: 2}))
		Expect(monitor.Max()).To(Equal(1))
	})

	It("ignores and reports a container forged with the job's UID and an index it never gave", func(ctx SpecContext) {
		ns := newNamespace(ctx, kubelet.ExitZero)
		runPods(ctx, ns, "web", 2)
		forged := runPod(ctx, testutil.MakePod("forged", ns).Obj())
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("fj", ns, "web").Paused(true).Obj())).To(Succeed())
		job := getJob(ctx, ns, "fj")
		var before runtime.MemStats
		runtime.ReadMemStats(&before)

		forgedJob := job.DeepCopy()
		forgedJob.UID = job.UID
		forged.Spec.EphemeralContainers = testutil.MakePod("x", ns).Injected(forgedJob, 2147483646).Obj().Spec.EphemeralContainers
		Expect(k8s.SubResource("ephemeralcontainers").Update(ctx, forged)).To(Succeed())
		Expect(k8s.Patch(ctx, forged, client.RawPatch("application/merge-patch+json",
			[]byte(`{"metadata":{"labels":{"app":"web"}}}`)))).To(Succeed())
		// A patch, not an update: the controller writes the status meanwhile (it reports the forgery).
		Expect(k8s.Patch(ctx, job, client.RawPatch("application/merge-patch+json",
			[]byte(`{"spec":{"paused":false}}`)))).To(Succeed())

		Eventually(jobCounts(ctx, ns, "fj")).Should(Equal(counts{Phase: appsv1alpha1.EphemeralJobSucceeded, Match: 2, Succeeded: 2}))
		cond := meta.FindStatusCondition(getJob(ctx, ns, "fj").Status.Conditions, appsv1alpha1.ConditionForgedContainers)
		Expect(cond).NotTo(BeNil())
		Expect(cond.Status).To(Equal(metav1.ConditionTrue))
		Expect(cond.Reason).To(Equal(appsv1alpha1.ReasonIndexOutOfRange))
		Expect(cond.Message).To(ContainSubstring("forged"))
		Eventually(func(g Gomega) []string {
			var evs eventsv1.EventList
			g.Expect(k8s.List(ctx, &evs, client.InNamespace(ns))).To(Succeed())
			var reasons []string
			for _, e := range evs.Items {
				reasons = append(reasons, e.Reason)
			}
			return reasons
		}).Should(ContainElement(appsv1alpha1.ReasonIndexOutOfRange))
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		Expect(int64(after.HeapInuse)-int64(before.HeapInuse)).To(BeNumerically("<", 64<<20), "the forged index sized an allocation")
	})

	It("reports a job whose selector matches nothing as Waiting, saying so", func(ctx SpecContext) {
		ns := newNamespace(ctx, kubelet.ExitZero)
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("none", ns, "nothing").Obj())).To(Succeed())
		Eventually(func(g Gomega) string {
			job := &appsv1alpha1.EphemeralJob{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "none"}, job)).To(Succeed())
			g.Expect(job.Status.Phase).To(Equal(appsv1alpha1.EphemeralJobWaiting))
			c := meta.FindStatusCondition(job.Status.Conditions, appsv1alpha1.ConditionProgressing)
			g.Expect(c).NotTo(BeNil())
			return c.Reason
		}).Should(Equal(appsv1alpha1.ReasonNoMatchingPods))
	})
})

// listPods returns the namespace's pods.
func listPods(ctx context.Context, ns string) []*corev1.Pod {
	var list corev1.PodList
	Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	var out []*corev1.Pod
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	return out
}

// touch changes a pod's annotations so the kubelet stand-in looks at it again.
func touch(ctx context.Context, pod *corev1.Pod) error {
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{"touched":"%d"}}}`, metav1.Now().UnixNano()))
	return k8s.Patch(ctx, pod, client.RawPatch("application/merge-patch+json", patch))
}
