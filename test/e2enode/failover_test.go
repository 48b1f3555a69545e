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
	"context"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/manager"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

// The failover specs run one job over failoverPods pods, failoverReplicas of them targets.
const (
	failoverPods     = 32
	failoverReplicas = 30
)

// failoverCommand sleeps, then fails in the pods whose name ends in 0 or 5: the ephemeral
// container shares the pod's UTS namespace, so hostname prints the pod's name.
func failoverCommand(sleep int) []string {
	return []string{"sh", "-c", fmt.Sprintf(`sleep %d; case "$(hostname)" in *0|*5) exit 1;; esac`, sleep)}
}

var _ = Describe("The deployed operator failing over during a job", Ordered, func() {
	var ns string
	BeforeAll(func(ctx SpecContext) {
		ns = testNamespace(ctx)
		for i := range failoverPods {
			Expect(k8s.Create(ctx, busyboxPod(fmt.Sprintf("t-%02d", i), ns, "failover"))).To(Succeed())
		}
		waitRunningPods(ctx, ns, "app=failover", failoverPods)
	})
	BeforeEach(func(ctx SpecContext) {
		operator.waitAvailable(ctx)
		Eventually(func() string { return operator.leader(ctx) }).ShouldNot(BeEmpty())
	})

	It("keeps every invariant when the leader's pod is deleted with --grace-period=0 --force", func(ctx SpecContext) {
		runThroughFailover(ctx, ns, "force", 5, 3, func(leader string) {
			runKubectl("delete", "pod", "-n", operator.namespace, leader, "--grace-period=0", "--force")
		})
	})

	It("keeps every invariant through kubectl rollout restart", func(ctx SpecContext) {
		// A slower job: the Deployment replaces the standby first, one pod at a time, and the
		// leader stops only once its replacement is ready.
		runThroughFailover(ctx, ns, "restart", 3, 4, func(string) {
			runKubectl("rollout", "restart", "-n", operator.namespace, "deployment/"+operator.deployment)
		})
	})

	It("keeps every invariant when the leader's container is killed through containerd and the kubelet restarts it", func(ctx SpecContext) {
		address := mustEnv(envContainerdAddress)
		var leader string
		var restarts int32
		runThroughFailover(ctx, ns, "kill", 5, 3, func(l string) {
			leader = l
			var pod corev1.Pod
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: operator.namespace, Name: leader}, &pod)).To(Succeed())
			Expect(pod.Status.ContainerStatuses).To(HaveLen(1))
			restarts = pod.Status.ContainerStatuses[0].RestartCount
			id, found := strings.CutPrefix(pod.Status.ContainerStatuses[0].ContainerID, "containerd://")
			Expect(found).To(BeTrue(), "container ID %q", pod.Status.ContainerStatuses[0].ContainerID)
			out, err := exec.CommandContext(ctx, "ctr", "--address", address, "-n", "k8s.io",
				"task", "kill", "-s", "SIGKILL", id).CombinedOutput()
			Expect(err).NotTo(HaveOccurred(), "ctr task kill: %s", out)
		})

		By("the kubelet restarting the killed container in the same pod")
		Eventually(func(g Gomega) {
			var pod corev1.Pod
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: operator.namespace, Name: leader}, &pod)).To(Succeed())
			g.Expect(pod.Status.ContainerStatuses).To(HaveLen(1))
			g.Expect(pod.Status.ContainerStatuses[0].RestartCount).To(Equal(restarts + 1))
			g.Expect(isReady(&pod)).To(BeTrue())
		}).Should(Succeed())
	})
})

// runThroughFailover runs a job of failoverReplicas targets with the given parallelism and
// sleep over the namespace's pods, disrupts the leader once targets have finished, and
// checks the invariants at every moment the suite's watches observe and the final counts
// against the containers' exit codes. It reports the handover (see failoverWatch.handover).
func runThroughFailover(ctx context.Context, ns, name string, parallelism int32, sleep int, disrupt func(leader string)) {
	GinkgoHelper()
	job := testutil.MakeEphemeralJob(name, ns, "failover").Container("fo-"+name, "app").
		Replicas(failoverReplicas).Parallelism(parallelism).Paused(true).Obj()
	job.Spec.Template.EphemeralContainers[0].Command = failoverCommand(sleep)
	// Created paused, so that the watches start before the first injection.
	Expect(k8s.Create(ctx, job)).To(Succeed())
	w := startFailoverWatch(ns, job.UID, failoverReplicas, int(parallelism))
	Expect(k8s.Patch(ctx, job, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"paused":false}}`)))).To(Succeed())

	By("disrupting the leader once targets have finished")
	Eventually(func() int32 { s := w.status(); return s.Succeeded + s.Failed }).Should(BeNumerically(">=", parallelism))
	leader := operator.leader(ctx)
	Expect(leader).NotTo(BeEmpty())
	holder := w.holder()
	disrupted := time.Now()
	disrupt(leader)

	By("the job finishing under another holder of the lease")
	job = waitFinished(ctx, ns, name)
	Expect(w.violations()).To(BeEmpty())
	h, err := w.handover(holder, disrupted)
	Expect(err).NotTo(HaveOccurred())
	AddReportEntry("handover "+name, h.String())
	GinkgoWriter.Printf("handover %s: %s\n", name, h)

	By("the final counts equal the containers' exit codes, each target injected once")
	var succeeded, failed int32
	exitCodes := map[string]int32{}
	for _, pod := range listPods(ctx, ns, "app=failover") {
		owned := podstate.OwnedContainers(&pod, job.UID)
		Expect(len(owned)).To(BeNumerically("<=", 1), "pod %s", pod.Name)
		if len(owned) == 0 {
			continue
		}
		st := ephemeralStatus(&pod, owned[0].Name)
		Expect(st).NotTo(BeNil(), "pod %s", pod.Name)
		Expect(st.State.Terminated).NotTo(BeNil(), "pod %s: %+v", pod.Name, st.State)
		want := int32(0)
		if strings.HasSuffix(pod.Name, "0") || strings.HasSuffix(pod.Name, "5") {
			want = 1
		}
		Expect(st.State.Terminated.ExitCode).To(Equal(want), "pod %s", pod.Name)
		exitCodes[pod.Name] = want
		if want == 0 {
			succeeded++
		} else {
			failed++
		}
	}
	Expect(succeeded + failed).To(Equal(int32(failoverReplicas)))
	Expect(job.Status.Succeeded).To(Equal(succeeded))
	Expect(job.Status.Failed).To(Equal(failed))

	By("every MySQL row of the job's pods final, with the container's exit code")
	Eventually(func(g Gomega) {
		rows, err := store.ListPods(ctx, string(job.UID))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(rows).To(HaveLen(failoverReplicas))
		for _, row := range rows {
			code, ok := exitCodes[row.Name]
			g.Expect(ok).To(BeTrue(), "a row for %s, which is no target", row.Name)
			g.Expect(row.ExitCode).To(HaveValue(Equal(code)), "row of %s", row.Name)
			want := recorder.PodStatusSucceeded
			if code != 0 {
				want = recorder.PodStatusFailed
			}
			g.Expect(row.Status).To(Equal(want), "row of %s", row.Name)
			g.Expect(row.GmtFinished).NotTo(BeNil(), "row of %s", row.Name)
		}
	}).Should(Succeed())
	Expect(w.violations()).To(BeEmpty())
}

// observedWrite is a write of the operator as a watch of the suite delivered it.
type observedWrite struct {
	at   time.Time
	what string
}

// leaseHolder is a holder of the leader election lease from the moment a watch delivered it.
type leaseHolder struct {
	at       time.Time
	identity string
}

// handover describes a change of leader as the suite's watches observed it.
type handover struct {
	// LastOld is the old leader's last write: the last write observed before the lease
	// named a new holder. FirstNew is the new leader's first: the first write observed
	// after it.
	disrupted, leased    time.Time
	lastOld, firstNew    observedWrite
	oldHolder, newHolder string
}

func (h handover) String() string {
	return fmt.Sprintf("%.1fs from the old leader's last write (%s) to the new leader's first (%s); "+
		"the lease changed holder %.1fs and the new leader wrote %.1fs after the disruption (%s -> %s)",
		h.firstNew.at.Sub(h.lastOld.at).Seconds(), h.lastOld.what, h.firstNew.what,
		h.leased.Sub(h.disrupted).Seconds(), h.firstNew.at.Sub(h.disrupted).Seconds(), h.oldHolder, h.newHolder)
}

// failoverWatch watches a job, the pods of its namespace and the leader election lease,
// checks the job's invariants at every event and keeps the times of the operator's writes
// (status writes of the job and injections into pods) and of the lease's holders.
type failoverWatch struct {
	jobUID                types.UID
	replicas, parallelism int

	mu       sync.Mutex
	owned    map[string]int  // containers of the job in each pod
	unfinish map[string]bool // pods with a container of the job not terminated
	jobRV    string
	last     appsv1alpha1.EphemeralJobStatus
	writes   []observedWrite
	holders  []leaseHolder
	problems []string
}

func startFailoverWatch(ns string, uid types.UID, replicas, parallelism int) *failoverWatch {
	GinkgoHelper()
	w := &failoverWatch{jobUID: uid, replicas: replicas, parallelism: parallelism,
		owned: map[string]int{}, unfinish: map[string]bool{}}
	wctx, cancel := context.WithCancel(context.Background())
	DeferCleanup(cancel)
	pods, err := cs.CoreV1().Pods(ns).Watch(wctx, metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	jobs, err := wc.Watch(wctx, &appsv1alpha1.EphemeralJobList{}, client.InNamespace(ns))
	Expect(err).NotTo(HaveOccurred())
	leases, err := cs.CoordinationV1().Leases(operator.namespace).Watch(wctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", manager.LeaderElectionID).String()})
	Expect(err).NotTo(HaveOccurred())
	for _, wi := range []watch.Interface{pods, jobs, leases} {
		go func() {
			defer GinkgoRecover()
			for ev := range wi.ResultChan() {
				w.observe(time.Now(), ev)
			}
			if wctx.Err() == nil {
				w.mu.Lock()
				w.problems = append(w.problems, "a watch ended before the spec")
				w.mu.Unlock()
			}
		}()
		DeferCleanup(wi.Stop)
	}
	return w
}

func (w *failoverWatch) observe(at time.Time, ev watch.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ev.Type == watch.Error {
		w.problems = append(w.problems, fmt.Sprintf("watch error: %v", ev.Object))
		return
	}
	switch o := ev.Object.(type) {
	case *corev1.Pod:
		w.observePod(at, o, ev.Type == watch.Deleted)
	case *appsv1alpha1.EphemeralJob:
		w.observeJob(at, o)
	case *coordinationv1.Lease:
		id := ""
		if o.Spec.HolderIdentity != nil {
			id = *o.Spec.HolderIdentity
		}
		if n := len(w.holders); n == 0 || w.holders[n-1].identity != id {
			w.holders = append(w.holders, leaseHolder{at: at, identity: id})
		}
	}
}

func (w *failoverWatch) observePod(at time.Time, pod *corev1.Pod, deleted bool) {
	if deleted {
		w.problems = append(w.problems, fmt.Sprintf("pod %s deleted", pod.Name))
		return
	}
	owned := podstate.OwnedContainers(pod, w.jobUID)
	if len(owned) > w.owned[pod.Name] {
		w.writes = append(w.writes, observedWrite{at: at, what: "injection into " + pod.Name})
	}
	w.owned[pod.Name] = len(owned)
	w.unfinish[pod.Name] = false
	for _, c := range owned {
		if st := ephemeralStatus(pod, c.Name); st == nil || st.State.Terminated == nil {
			w.unfinish[pod.Name] = true
		}
	}
	if len(owned) > 1 {
		w.problems = append(w.problems, fmt.Sprintf("%s: pod %s holds %d containers of the job", at.Format(time.StampMilli),
			pod.Name, len(owned)))
	}
	targets, unfinished := 0, 0
	for name, n := range w.owned {
		if n > 0 {
			targets++
		}
		if w.unfinish[name] {
			unfinished++
		}
	}
	if targets > w.replicas {
		w.problems = append(w.problems, fmt.Sprintf("%s: %d targets, replicas %d", at.Format(time.StampMilli), targets, w.replicas))
	}
	if unfinished > w.parallelism {
		w.problems = append(w.problems, fmt.Sprintf("%s: %d unfinished targets, parallelism %d", at.Format(time.StampMilli),
			unfinished, w.parallelism))
	}
}

func (w *failoverWatch) observeJob(at time.Time, job *appsv1alpha1.EphemeralJob) {
	if job.UID != w.jobUID || job.ResourceVersion == w.jobRV {
		return
	}
	w.jobRV = job.ResourceVersion
	s := job.Status
	if reflect.DeepEqual(s, w.last) {
		return
	}
	w.writes = append(w.writes, observedWrite{at: at, what: "job status " + job.ResourceVersion})
	bad := func(format string, args ...any) {
		w.problems = append(w.problems, at.Format(time.StampMilli)+": job status "+fmt.Sprintf(format, args...))
	}
	if s.Succeeded < w.last.Succeeded || s.Failed < w.last.Failed {
		bad("counts went back: succeeded %d -> %d, failed %d -> %d", w.last.Succeeded, s.Succeeded, w.last.Failed, s.Failed)
	}
	if int(s.Succeeded+s.Failed) > w.replicas || int(s.Targeted) > w.replicas {
		bad("succeeded %d + failed %d, targeted %d, replicas %d", s.Succeeded, s.Failed, s.Targeted, w.replicas)
	}
	if int(s.Running) > w.parallelism {
		bad("running %d, parallelism %d", s.Running, w.parallelism)
	}
	w.last = *s.DeepCopy()
}

func (w *failoverWatch) status() appsv1alpha1.EphemeralJobStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// holder returns the lease's holder as last observed.
func (w *failoverWatch) holder() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.holders) == 0 {
		return ""
	}
	return w.holders[len(w.holders)-1].identity
}

func (w *failoverWatch) violations() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.problems...)
}

// handover finds the first holder of the lease after old, observed after the disruption,
// and the writes observed on either side of that moment.
func (w *failoverWatch) handover(old string, disrupted time.Time) (handover, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	h := handover{disrupted: disrupted, oldHolder: old}
	for _, l := range w.holders {
		if l.at.After(disrupted) && l.identity != "" && l.identity != old {
			h.leased, h.newHolder = l.at, l.identity
			break
		}
	}
	if h.newHolder == "" {
		return h, fmt.Errorf("no new holder of the lease after %s: %+v", old, w.holders)
	}
	for _, wr := range w.writes {
		if !wr.at.After(h.leased) {
			h.lastOld = wr
		} else if h.firstNew.at.IsZero() {
			h.firstNew = wr
		}
	}
	if h.lastOld.at.IsZero() || h.firstNew.at.IsZero() {
		return h, fmt.Errorf("no write on both sides of the lease's change at %s: %+v", h.leased, w.writes)
	}
	return h, nil
}
