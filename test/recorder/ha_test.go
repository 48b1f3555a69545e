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

package recorder

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
	"github.com/ephemeraljob/ephemeraljob-operator/test/harness"
	"github.com/ephemeraljob/ephemeraljob-operator/test/kubelet"
)

// finalWithin is how soon after a job ended every row of it must be final.
const finalWithin = 30 * time.Second

// gate holds every container running until it is opened; then a container exits 1 in
// the pods whose index (the number at the end of their name) is odd, 0 in the others.
type gate struct{ open atomic.Bool }

func (g *gate) decide(pod *corev1.Pod, _ *corev1.EphemeralContainer) kubelet.Outcome {
	if !g.open.Load() {
		return kubelet.Outcome{Hold: true}
	}
	if failsAtGate(pod.Name) {
		return kubelet.Outcome{ExitCode: 1, Message: "odd"}
	}
	return kubelet.Outcome{}
}

// failsAtGate reports whether a pod's container exits 1 once the gate is open.
func failsAtGate(podName string) bool {
	i, err := strconv.Atoi(podName[strings.LastIndex(podName, "-")+1:])
	return err == nil && i%2 == 1
}

// gatedJob creates n pods labelled app=web and a job over them with the given
// parallelism in a new namespace whose containers wait at g, and returns the namespace,
// the job and the pods.
func gatedJob(ctx context.Context, g *gate, n int, parallelism int32) (string, *appsv1alpha1.EphemeralJob,
	map[string]*corev1.Pod) {
	ns := newNamespace(ctx, g.decide)
	pods := make([]*corev1.Pod, 0, n)
	for i := range n {
		pods = append(pods, testutil.MakePod(fmt.Sprintf("web-%d", i), ns).Label("app", "web").Obj())
	}
	byName := runPods(ctx, pods)
	job := testutil.MakeEphemeralJob("ha", ns, "web").Parallelism(parallelism).Obj()
	Expect(k8s.Create(ctx, job)).To(Succeed())
	return ns, job, byName
}

// openGate lets the held containers finish and makes the kubelet stand-in look at every pod again.
func openGate(ctx context.Context, g *gate, pods map[string]*corev1.Pod) {
	g.open.Store(true)
	for _, p := range pods {
		touch(ctx, p)
	}
}

// monotonic fails the spec at once when a row is ever seen at an earlier
// resourceVersion than before: rows only move forward, at every observed moment.
type monotonic map[string]string

func (m monotonic) see(key, version string) {
	GinkgoHelper()
	if last, ok := m[key]; ok {
		c, err := resourceversion.CompareResourceVersion(version, last)
		Expect(err).NotTo(HaveOccurred(), "version of row %s", key)
		Expect(c).To(BeNumerically(">=", 0), "row %s went back from version %s to %s", key, last, version)
	}
	m[key] = version
}

// expectFinalRows checks that the job row and every pod row of the job say what the API
// server says: the job's phase, counts and completion time, each pod's outcome and finish time.
func expectFinalRows(ctx context.Context, g Gomega, store *recorder.MySQLStore, ns string,
	job *appsv1alpha1.EphemeralJob, pods map[string]*corev1.Pod, seen monotonic) {
	row := jobRow(ctx, g, store, ns)
	seen.see("job", row.Version)
	st := job.Status
	g.Expect(row.Status).To(Equal(string(st.Phase)))
	g.Expect([]int32{row.MatchCount, row.Succeeded, row.Failed, row.Running, row.Waiting}).
		To(Equal([]int32{st.Match, st.Succeeded, st.Failed, st.Running, st.Waiting}))
	g.Expect(row.GmtFinished).NotTo(BeNil(), "gmt_finished of the job")
	g.Expect(*row.GmtFinished).To(BeTemporally("~", st.CompletionTime.Time, time.Second))

	rows := podRows(ctx, g, store, string(job.UID))
	for name, r := range rows {
		seen.see(name, r.Version)
	}
	g.Expect(rows).To(HaveLen(len(pods)))
	for name := range pods {
		r, ok := rows[name]
		g.Expect(ok).To(BeTrue(), "no row for pod %s", name)
		want := recorder.PodStatusSucceeded
		if failsAtGate(name) {
			want = recorder.PodStatusFailed
		}
		g.Expect(r.Status).To(Equal(want), "status of pod %s", name)
		g.Expect(r.GmtFinished).NotTo(BeNil(), "gmt_finished of pod %s", name)
		g.Expect(r.IsInEtcd).To(BeTrue(), "is_in_etcd of pod %s", name)
	}
}

// finishedJob waits until the job finished in the API server and returns it as it ended.
func finishedJob(ctx context.Context, ns, name string, pods int) *appsv1alpha1.EphemeralJob {
	GinkgoHelper()
	failed := pods / 2
	want := fmt.Sprintf("%s match=%d succeeded=%d failed=%d running=0 waiting=0",
		appsv1alpha1.EphemeralJobFailed, pods, pods-failed, failed)
	Eventually(phaseOf(ctx, ns, name)).WithContext(ctx).Should(Equal(want))
	return getJob(ctx, Default, ns, name)
}

// churn updates an annotation of the job n times, each an event the recorder writes.
func churn(ctx context.Context, job *appsv1alpha1.EphemeralJob, n int) {
	GinkgoHelper()
	for i := range n {
		patch := fmt.Appendf(nil, `{"metadata":{"annotations":{"churn":"%d"}}}`, i)
		Expect(k8s.Patch(ctx, job, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
	}
}

// expectRowsFinalSoon checks that every row of the job becomes final within finalWithin
// of the job's end, never moving backwards meanwhile, and reports how long it took.
func expectRowsFinalSoon(ctx context.Context, store *recorder.MySQLStore, ns string, job *appsv1alpha1.EphemeralJob,
	pods map[string]*corev1.Pod, seen monotonic) {
	GinkgoHelper()
	ended := time.Now()
	Eventually(func(g Gomega) {
		expectFinalRows(ctx, g, store, ns, job, pods, seen)
	}).WithContext(ctx).WithTimeout(finalWithin).Should(Succeed())
	AddReportEntry("rows final after the job ended", time.Since(ended).Round(time.Millisecond).String())
}

var _ = Describe("MySQL recorder with more than one writer", func() {
	It("keeps every row final when the leader dies mid-job and a standby takes over", SpecTimeout(5*time.Minute),
		func(ctx SpecContext) {
			mysqlCfg := newDatabase(ctx)
			store := openStore(mysqlCfg)
			le := leaderElection("ejob-rec-" + strings.ReplaceAll(mysqlCfg.DBName, "_", "-"))
			first := startManager(mysqlCfg, logr.Logger{}, le)
			Eventually(first.Elected()).WithContext(ctx).Should(BeClosed())
			// The standby connects and migrates at once, long before it leads.
			second := startManager(mysqlCfg, logr.Logger{}, le)
			Eventually(second.readiness).WithContext(ctx).Should(Succeed())

			g := &gate{}
			const n = 10
			ns, job, pods := gatedJob(ctx, g, n, 3)
			seen := monotonic{}
			Eventually(func(gm Gomega) {
				row := jobRow(ctx, gm, store, ns)
				seen.see("job", row.Version)
				gm.Expect(row.Status).To(Equal(string(appsv1alpha1.EphemeralJobRunning)))
				gm.Expect([]int32{row.MatchCount, row.Running, row.Waiting}).To(Equal([]int32{n, 3, n - 3}))
				gm.Expect(podRows(ctx, gm, store, row.JobID)).To(HaveLen(3))
			}).WithContext(ctx).Should(Succeed())
			// The leader handles many more events than the standby will after it takes over.
			churn(ctx, job, 300)
			Consistently(second.Elected()).Should(Not(BeClosed()), "the standby leads while the leader lives")

			// The leader dies without giving up its lease; the standby takes over when it expires.
			Expect(first.Stop()).To(Succeed())
			openGate(ctx, g, pods)
			Eventually(second.Elected()).WithContext(ctx).Should(BeClosed())

			job = finishedJob(ctx, ns, job.Name, n)
			expectRowsFinalSoon(ctx, store, ns, job, pods, seen)
		})

	It("keeps every row final through a rolling update, two recorders writing at once", SpecTimeout(5*time.Minute),
		func(ctx SpecContext) {
			mysqlCfg := newDatabase(ctx)
			store := openStore(mysqlCfg)
			// The controller runs on its own: the spec is about the recorders.
			ctl, err := harness.NewManager(cfg, scheme)
			Expect(err).NotTo(HaveOccurred())
			ctl.Run()
			DeferCleanup(func() { Expect(ctl.Stop()).To(Succeed()) })
			old := startRecorder(mysqlCfg, recorderOptions)

			g := &gate{}
			const n = 12
			ns, job, pods := gatedJob(ctx, g, n, 3)
			seen := monotonic{}
			Eventually(func(gm Gomega) {
				row := jobRow(ctx, gm, store, ns)
				seen.see("job", row.Version)
				gm.Expect([]int32{row.MatchCount, row.Running, row.Waiting}).To(Equal([]int32{n, 3, n - 3}))
			}).WithContext(ctx).Should(Succeed())

			// The new replica's recorder starts while the old one still writes; both see every
			// event from here on.
			startRecorder(mysqlCfg, recorderOptions)
			openGate(ctx, g, pods)
			Eventually(func(gm Gomega) int32 {
				st := getJob(ctx, gm, ns, job.Name).Status
				return st.Succeeded + st.Failed
			}).WithContext(ctx).Should(BeNumerically(">=", n/2))
			old.Stop()

			job = finishedJob(ctx, ns, job.Name, n)
			expectRowsFinalSoon(ctx, store, ns, job, pods, seen)
		})
})

// metricValue returns the sum of a metric's series on controller-runtime's registry,
// where the recorder registers its metrics.
func metricValue(name string) float64 {
	GinkgoHelper()
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			switch {
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

var _ = Describe("MySQL recorder through a MySQL outage", func() {
	It("makes every row of a 500-pod job final after MySQL was down 60 s mid-job, its queue within its bound",
		SpecTimeout(10*time.Minute), func(ctx SpecContext) {
			if !db.Managed() {
				Skip("the MySQL server is not this suite's own: it cannot be stopped")
			}
			const n, outage = 500, 60 * time.Second
			// Room for about 250 records: the job's 501 rows do not fit.
			const bound = 256 << 10
			mysqlCfg := newDatabase(ctx)
			store := openStore(mysqlCfg)
			opts := recorderOptions
			opts.MaxPendingBytes = bound
			mgr := startManagerWith(mysqlCfg, opts, logr.Logger{})
			Eventually(mgr.readiness).WithContext(ctx).Should(Succeed())

			g := &gate{}
			ns, job, pods := gatedJob(ctx, g, n, 10)
			Eventually(func(gm Gomega) {
				row := jobRow(ctx, gm, store, ns)
				gm.Expect([]int32{row.MatchCount, row.Running, row.Waiting}).To(Equal([]int32{n, 10, n - 10}))
			}).WithContext(ctx).Should(Succeed())
			overflowedBefore := metricValue("ephemeraljob_recorder_overflowed_records_total")
			rereadsBefore := metricValue("ephemeraljob_recorder_rereads_total")

			Expect(db.Stop()).To(Succeed())
			stopped := time.Now()
			DeferCleanup(func(ctx context.Context) { Expect(db.Restart(ctx)).To(Succeed()) })
			maxBytes := 0.0
			queueBytes := func() float64 {
				b := metricValue("ephemeraljob_recorder_pending_bytes")
				maxBytes = max(maxBytes, b)
				return b
			}
			withinBound := func() {
				GinkgoHelper()
				Expect(queueBytes()).To(BeNumerically("<=", bound), "the recorder's queue")
			}
			openGate(ctx, g, pods)
			Eventually(func(gm Gomega) int32 {
				withinBound()
				st := getJob(ctx, gm, ns, job.Name).Status
				return st.Succeeded + st.Failed
			}).WithContext(ctx).Should(BeNumerically(">=", n/2), "the job goes on while MySQL is down")
			Consistently(queueBytes).WithContext(ctx).WithTimeout(outage-time.Since(stopped)).
				WithPolling(200*time.Millisecond).Should(BeNumerically("<=", bound), "the recorder's queue")
			job = finishedJob(ctx, ns, job.Name, n)
			Expect(metricValue("ephemeraljob_recorder_overflowed_records_total")).To(BeNumerically(">", overflowedBefore),
				"records were left out of the full queue")
			AddReportEntry("MySQL down for", time.Since(stopped).Round(time.Second).String())

			Expect(db.Restart(ctx)).To(Succeed())
			back := time.Now()
			Eventually(func(gm Gomega) {
				withinBound()
				expectFinalRows(ctx, gm, store, ns, job, pods, monotonic{})
			}).WithContext(ctx).WithTimeout(finalWithin).Should(Succeed())
			AddReportEntry("rows final after MySQL returned", time.Since(back).Round(time.Millisecond).String())
			AddReportEntry("largest queue seen (bytes)", fmt.Sprintf("%.0f of %d", maxBytes, bound))
			Expect(metricValue("ephemeraljob_recorder_rereads_total")).To(BeNumerically(">", rereadsBefore))
		})
})
