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
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-sql-driver/mysql"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
	"github.com/ephemeraljob/ephemeraljob-operator/test/kubelet"
)

// newDatabase creates an empty database on the suite's server and returns the
// recorder's settings for it.
func newDatabase(ctx context.Context) recorder.Config {
	name, err := db.NewDatabase(ctx)
	Expect(err).NotTo(HaveOccurred())
	return recorder.Config{Host: db.Host, Port: db.Port, User: db.User, Password: db.Password, DBName: name}
}

// openStore opens a store on the database for the spec's assertions.
func openStore(mysqlCfg recorder.Config) *recorder.MySQLStore {
	s, err := recorder.NewMySQLStore(mysqlCfg, recorder.StoreOptions{QueryTimeout: 5 * time.Second})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(s.Close()).To(Succeed()) })
	return s
}

// jobRows returns the job rows of a namespace.
func jobRows(ctx context.Context, s *recorder.MySQLStore, ns string) func() ([]recorder.JobRecord, error) {
	return func() ([]recorder.JobRecord, error) {
		return s.ListJobs(ctx, recorder.JobFilter{Namespace: ns})
	}
}

// jobRow returns the only job row of a namespace, failing g when there is not exactly one.
func jobRow(ctx context.Context, g Gomega, s *recorder.MySQLStore, ns string) recorder.JobRecord {
	jobs, err := s.ListJobs(ctx, recorder.JobFilter{Namespace: ns})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(jobs).To(HaveLen(1))
	return jobs[0]
}

// podRows returns a job's pod rows by pod name.
func podRows(ctx context.Context, g Gomega, s *recorder.MySQLStore, jobUID string) map[string]recorder.PodRecord {
	pods, err := s.ListPods(ctx, jobUID)
	g.Expect(err).NotTo(HaveOccurred())
	byName := map[string]recorder.PodRecord{}
	for _, p := range pods {
		g.Expect(byName).NotTo(HaveKey(p.Name), "two rows for pod %s", p.Name)
		byName[p.Name] = p
	}
	return byName
}

func newNamespace(ctx context.Context, decide kubelet.Decider) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ejob-rec-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	deciders.Set(ns.Name, decide)
	return ns.Name
}

func runPods(ctx context.Context, pods []*corev1.Pod) map[string]*corev1.Pod {
	byName := map[string]*corev1.Pod{}
	for _, p := range pods {
		created, err := kubelet.CreateRunning(ctx, clientset, p)
		Expect(err).NotTo(HaveOccurred())
		byName[created.Name] = created
	}
	return byName
}

// touch changes a pod's annotations so the kubelet stand-in looks at it again.
func touch(ctx context.Context, pod *corev1.Pod) {
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{"touched":"%d"}}}`, time.Now().UnixNano())
	Expect(k8s.Patch(ctx, pod, client.RawPatch("application/merge-patch+json", patch))).To(Succeed())
}

func getJob(ctx context.Context, g Gomega, ns, name string) *appsv1alpha1.EphemeralJob {
	job := &appsv1alpha1.EphemeralJob{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, job)).To(Succeed())
	return job
}

// phaseOf returns the job's phase and counts as `kubectl get ejob` shows them.
func phaseOf(ctx context.Context, ns, name string) func(g Gomega) string {
	return func(g Gomega) string {
		s := getJob(ctx, g, ns, name).Status
		return fmt.Sprintf("%s match=%d succeeded=%d failed=%d running=%d waiting=%d",
			s.Phase, s.Match, s.Succeeded, s.Failed, s.Running, s.Waiting)
	}
}

const story1Final = "Failed match=4 succeeded=2 failed=2 running=0 waiting=0"

// story1 runs the proposal's Story 1 in a new namespace until the job failed in the API
// server, and returns the namespace, the job and its pods.
func story1(ctx context.Context) (string, *appsv1alpha1.EphemeralJob, map[string]*corev1.Pod) {
	ns := newNamespace(ctx, kubelet.FailWhenEnv("APP_STATE", "false"))
	pods := runPods(ctx, testutil.Story1Pods(ns))
	job, err := testutil.SampleJob("story1_ephemeraljob.yaml", ns)
	Expect(err).NotTo(HaveOccurred())
	Expect(k8s.Create(ctx, job)).To(Succeed())
	Eventually(phaseOf(ctx, ns, job.Name)).WithContext(ctx).Should(Equal(story1Final))
	return ns, getJob(ctx, Default, ns, job.Name), pods
}

// remarkOf decodes a pod row's remark.
func remarkOf(g Gomega, p recorder.PodRecord) recorder.PodRemark {
	var r recorder.PodRemark
	g.Expect(json.Unmarshal([]byte(p.Remark), &r)).To(Succeed(), "remark %q", p.Remark)
	return r
}

// expectStory1Pods checks the four pod rows of Story 1 against the pods.
func expectStory1Pods(g Gomega, rows map[string]recorder.PodRecord, pods map[string]*corev1.Pod, jobUID string,
	inEtcd bool) {
	g.Expect(rows).To(HaveLen(4))
	for name, pod := range pods {
		row, ok := rows[name]
		g.Expect(ok).To(BeTrue(), "no row for pod %s", name)
		wantStatus, wantExit := recorder.PodStatusSucceeded, int32(0)
		if strings.HasPrefix(name, "helloworld-no-work-") {
			wantStatus, wantExit = recorder.PodStatusFailed, 1
		}
		g.Expect(row.Status).To(Equal(wantStatus), "status of pod %s", name)
		remark := remarkOf(g, row)
		g.Expect(remark.ExitCode).To(HaveValue(Equal(wantExit)), "exit code of pod %s", name)
		g.Expect(remark.Container).To(Equal("helloworld-ec"))
		g.Expect(row.PodID).To(Equal(string(pod.UID)))
		g.Expect(row.Namespace).To(Equal(pod.Namespace))
		g.Expect(row.JobID).To(Equal(jobUID))
		g.Expect(row.Image).To(Equal("busybox:latest"))
		g.Expect(row.ReplicaType).To(Equal("helloworld-ec"))
		g.Expect(row.HostIP).To(Equal(pod.Status.HostIP))
		g.Expect(row.PodIP).To(Equal(pod.Status.PodIP))
		g.Expect(row.HostIP).NotTo(BeEmpty())
		g.Expect(row.DeployRegion).To(Equal(testRegion))
		g.Expect(row.IsInEtcd).To(Equal(inEtcd), "is_in_etcd of pod %s", name)
		g.Expect(row.GmtStarted).NotTo(BeNil(), "gmt_started of pod %s", name)
		g.Expect(row.GmtFinished).NotTo(BeNil(), "gmt_finished of pod %s", name)
		g.Expect(*row.GmtFinished).NotTo(BeTemporally("<", *row.GmtStarted))
		g.Expect(row.GmtCreated).To(BeTemporally("~", pod.CreationTimestamp.Time, time.Second))
	}
}

// expectStory1Job checks Story 1's job row against the job.
func expectStory1Job(g Gomega, row recorder.JobRecord, job *appsv1alpha1.EphemeralJob, inEtcd bool) {
	g.Expect(row.Name).To(Equal(testutil.Story1Job))
	g.Expect(row.JobID).To(Equal(string(job.UID)))
	g.Expect(row.Kind).To(Equal("EphemeralJob"))
	g.Expect(row.Status).To(Equal(string(appsv1alpha1.EphemeralJobFailed)))
	g.Expect(row.IsInEtcd).To(Equal(inEtcd))
	g.Expect([]int32{row.MatchCount, row.Succeeded, row.Failed, row.Running, row.Waiting}).To(Equal([]int32{4, 2, 2, 0, 0}))
	g.Expect(row.DeployRegion).To(Equal(testRegion))
	g.Expect(row.GmtCreated).To(BeTemporally("~", job.CreationTimestamp.Time, time.Second))
	g.Expect(row.GmtFinished).NotTo(BeNil())
	g.Expect(*row.GmtFinished).To(BeTemporally("~", job.Status.CompletionTime.Time, time.Second))

	var res recorder.JobResources
	g.Expect(json.Unmarshal([]byte(row.Resources), &res)).To(Succeed(), "resources %q", row.Resources)
	g.Expect(res.Replicas).To(HaveValue(Equal(int32(4))))
	g.Expect(res.Parallelism).To(Equal(int32(1)))
	g.Expect(res.Selector.MatchLabels).To(Equal(map[string]string{"app": "helloworld"}))
	g.Expect(res.Containers).To(Equal([]recorder.ContainerSummary{{Name: "helloworld-ec", Image: "busybox:latest",
		Command: []string{"pidof", "helloworld"}}}))
}

var _ = Describe("MySQL recorder", func() {
	It("records the proposal's Story 1: one job row and four pod rows with their outcomes", func(ctx SpecContext) {
		mysqlCfg := newDatabase(ctx)
		store := openStore(mysqlCfg)
		startManager(mysqlCfg, logr.Logger{})

		ns, job, pods := story1(ctx)
		Eventually(func(g Gomega) {
			expectStory1Job(g, jobRow(ctx, g, store, ns), job, true)
			expectStory1Pods(g, podRows(ctx, g, store, string(job.UID)), pods, string(job.UID), true)
		}).WithContext(ctx).Should(Succeed())
	})

	It("keeps the rows with their final state when the job and its pods are deleted", func(ctx SpecContext) {
		mysqlCfg := newDatabase(ctx)
		store := openStore(mysqlCfg)
		startManager(mysqlCfg, logr.Logger{})
		ns, job, pods := story1(ctx)
		Eventually(func(g Gomega) {
			expectStory1Job(g, jobRow(ctx, g, store, ns), job, true)
			expectStory1Pods(g, podRows(ctx, g, store, string(job.UID)), pods, string(job.UID), true)
		}).WithContext(ctx).Should(Succeed())

		Expect(k8s.Delete(ctx, job)).To(Succeed())
		Eventually(func(g Gomega) {
			expectStory1Job(g, jobRow(ctx, g, store, ns), job, false)
			// The pods still exist: their rows stay in etcd.
			expectStory1Pods(g, podRows(ctx, g, store, string(job.UID)), pods, string(job.UID), true)
		}).WithContext(ctx).Should(Succeed())

		for _, p := range pods {
			Expect(k8s.Delete(ctx, p, client.GracePeriodSeconds(0))).To(Succeed())
		}
		Eventually(func(g Gomega) {
			expectStory1Pods(g, podRows(ctx, g, store, string(job.UID)), pods, string(job.UID), false)
		}).WithContext(ctx).Should(Succeed())
		expectStory1Job(Default, jobRow(ctx, Default, store, ns), job, false)
	})

	It("marks gone on restart a job deleted while the manager was stopped, and imports one created meanwhile",
		func(ctx SpecContext) {
			mysqlCfg := newDatabase(ctx)
			store := openStore(mysqlCfg)
			mgr := startManager(mysqlCfg, logr.Logger{})
			ns := newNamespace(ctx, kubelet.ExitZero)
			runPods(ctx, []*corev1.Pod{testutil.MakePod("web-0", ns).Label("app", "web").Obj()})
			early := testutil.MakeEphemeralJob("early", ns, "web").Obj()
			Expect(k8s.Create(ctx, early)).To(Succeed())
			Eventually(func(g Gomega) string {
				row := jobRow(ctx, g, store, ns)
				g.Expect(row.IsInEtcd).To(BeTrue())
				return row.Status
			}).WithContext(ctx).Should(Equal(string(appsv1alpha1.EphemeralJobSucceeded)))

			Expect(mgr.Stop()).To(Succeed())
			Expect(k8s.Delete(ctx, early)).To(Succeed())
			Eventually(func() error {
				return k8s.Get(ctx, client.ObjectKeyFromObject(early), &appsv1alpha1.EphemeralJob{})
			}).WithContext(ctx).Should(Satisfy(apierrors.IsNotFound))
			// Created with no manager running: no controller sets its phase, no recorder sees it.
			late := testutil.MakeEphemeralJob("late", ns, "nothing").Paused(true).Obj()
			Expect(k8s.Create(ctx, late)).To(Succeed())

			startManager(mysqlCfg, logr.Logger{})
			Eventually(func(g Gomega) map[string]bool {
				jobs, err := jobRows(ctx, store, ns)()
				g.Expect(err).NotTo(HaveOccurred())
				inEtcd := map[string]bool{}
				for _, j := range jobs {
					inEtcd[j.Name] = j.IsInEtcd
				}
				return inEtcd
			}).WithContext(ctx).Should(Equal(map[string]bool{"early": false, "late": true}))
			jobs, err := jobRows(ctx, store, ns)()
			Expect(err).NotTo(HaveOccurred())
			for _, j := range jobs {
				if j.Name == "early" {
					Expect(j.Status).To(Equal(string(appsv1alpha1.EphemeralJobSucceeded)), "the sweep kept the final status")
					Expect(j.GmtFinished).NotTo(BeNil())
				}
			}
		})

	It("loses no row when MySQL stops mid-job, while the job goes on in the API server", func(ctx SpecContext) {
		if !db.Managed() {
			Skip("the MySQL server is not this suite's own: it cannot be stopped")
		}
		mysqlCfg := newDatabase(ctx)
		store := openStore(mysqlCfg)
		mgr := startManager(mysqlCfg, logr.Logger{})
		Eventually(mgr.readiness).WithContext(ctx).Should(Succeed())

		ns := newNamespace(ctx, kubelet.Hold)
		pods := runPods(ctx, testutil.Story1Pods(ns))
		job, err := testutil.SampleJob("story1_ephemeraljob.yaml", ns)
		Expect(err).NotTo(HaveOccurred())
		Expect(k8s.Create(ctx, job)).To(Succeed())
		// Parallelism 1: one pod runs the held check, three wait.
		Eventually(func(g Gomega) {
			row := jobRow(ctx, g, store, ns)
			g.Expect(row.Status).To(Equal(string(appsv1alpha1.EphemeralJobRunning)))
			g.Expect([]int32{row.MatchCount, row.Running, row.Waiting}).To(Equal([]int32{4, 1, 3}))
			g.Expect(podRows(ctx, g, store, row.JobID)).To(HaveLen(1))
		}).WithContext(ctx).Should(Succeed())

		Expect(db.Stop()).To(Succeed())
		DeferCleanup(func(ctx context.Context) { Expect(db.Restart(ctx)).To(Succeed()) })
		Eventually(mgr.readiness).WithContext(ctx).Should(MatchError(ContainSubstring("does not answer")))

		deciders.Set(ns, kubelet.FailWhenEnv("APP_STATE", "false"))
		for _, p := range pods {
			touch(ctx, p)
		}
		Eventually(phaseOf(ctx, ns, job.Name)).WithContext(ctx).Should(Equal(story1Final))
		// The job finished while MySQL was down, and MySQL is still down.
		Expect(mgr.readiness()).To(MatchError(ContainSubstring("does not answer")))
		Expect(pingDirectly(ctx, mysqlCfg)).NotTo(Succeed())

		Expect(db.Restart(ctx)).To(Succeed())
		Eventually(mgr.readiness).WithContext(ctx).Should(Succeed())
		job = getJob(ctx, Default, ns, job.Name)
		Eventually(func(g Gomega) {
			expectStory1Job(g, jobRow(ctx, g, store, ns), job, true)
			expectStory1Pods(g, podRows(ctx, g, store, string(job.UID)), pods, string(job.UID), true)
		}).WithContext(ctx).Should(Succeed())
	})

	It("never logs the password, through a refused login, an outage and a reconnection", func(ctx SpecContext) {
		if !db.Managed() {
			Skip("the MySQL server is not this suite's own: it cannot be stopped")
		}
		const password = "Pa55:w@rd/for-the-recorder-suite"
		mysqlCfg := newDatabase(ctx)
		// The user exists with another password first, so the first logins are refused.
		for _, host := range []string{"%", "localhost", "127.0.0.1"} {
			rootExec(ctx, "CREATE USER 'ejob_rec'@'"+host+"' IDENTIFIED BY 'not-the-password'")
			rootExec(ctx, "GRANT ALL ON `"+mysqlCfg.DBName+"`.* TO 'ejob_rec'@'"+host+"'")
		}
		mysqlCfg.User, mysqlCfg.Password = "ejob_rec", password

		logs := &testutil.SyncBuffer{}
		log := zap.New(zap.WriteTo(io.MultiWriter(logs, GinkgoWriter)), zap.UseDevMode(true),
			zap.Level(zapcore.Level(-4))) // V(4): every line of the recorder, without the client bodies
		mgr := startManager(mysqlCfg, log)
		var readyErrs []string
		notReady := func(want string) {
			GinkgoHelper()
			Eventually(func() error {
				err := mgr.readiness()
				if err != nil {
					readyErrs = append(readyErrs, err.Error())
				}
				return err
			}).WithContext(ctx).Should(MatchError(ContainSubstring(want)))
		}
		notReady("Access denied")

		for _, host := range []string{"%", "localhost", "127.0.0.1"} {
			rootExec(ctx, "ALTER USER 'ejob_rec'@'"+host+"' IDENTIFIED BY '"+password+"'")
		}
		Eventually(mgr.readiness).WithContext(ctx).Should(Succeed())
		store := openStore(mysqlCfg)
		ns := newNamespace(ctx, kubelet.ExitZero)
		runPods(ctx, []*corev1.Pod{testutil.MakePod("web-0", ns).Label("app", "web").Obj()})
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("first", ns, "web").Obj())).To(Succeed())
		Eventually(func(g Gomega) string { return jobRow(ctx, g, store, ns).Status }).WithContext(ctx).
			Should(Equal(string(appsv1alpha1.EphemeralJobSucceeded)))

		Expect(db.Stop()).To(Succeed())
		DeferCleanup(func(ctx context.Context) { Expect(db.Restart(ctx)).To(Succeed()) })
		notReady("does not answer")
		// A job while MySQL is down makes the writer fail and retry.
		Expect(k8s.Create(ctx, testutil.MakeEphemeralJob("second", ns, "nothing").Obj())).To(Succeed())
		Eventually(logs.String).WithContext(ctx).Should(ContainSubstring("writing records failed"))
		Expect(db.Restart(ctx)).To(Succeed())
		Eventually(func(g Gomega) []string {
			jobs, err := jobRows(ctx, store, ns)()
			g.Expect(err).NotTo(HaveOccurred())
			var names []string
			for _, j := range jobs {
				names = append(names, j.Name)
			}
			return names
		}).WithContext(ctx).Should(ConsistOf("first", "second"))
		// The connector notices the return on its own schedule, maybe after the writer did.
		Eventually(logs.String).WithContext(ctx).Should(ContainSubstring("MySQL answers again"))
		Expect(mgr.Stop()).To(Succeed())

		// The logs went through every phase, and name the user but never the password.
		text := logs.String()
		Expect(text).To(And(ContainSubstring("Access denied for user 'ejob_rec'"), ContainSubstring("MySQL is ready"),
			ContainSubstring("MySQL stopped answering"), ContainSubstring("writing records failed"),
			ContainSubstring("MySQL answers again")))
		Expect(text).NotTo(ContainSubstring(password))
		Expect(text).NotTo(ContainSubstring(url.QueryEscape(password)))
		Expect(readyErrs).NotTo(BeEmpty())
		for _, e := range readyErrs {
			Expect(e).NotTo(ContainSubstring(password))
		}
		Expect(mysqlCfg.String()).NotTo(ContainSubstring(password))
		Expect(fmt.Sprintf("%v %+v %#v", mysqlCfg, mysqlCfg, mysqlCfg)).NotTo(ContainSubstring(password))
	})
})

// rootExec runs a statement on the suite's server as its administrator.
func rootExec(ctx context.Context, query string) {
	GinkgoHelper()
	connector, err := mysql.NewConnector(db.MySQLConfig(""))
	Expect(err).NotTo(HaveOccurred())
	conn := sql.OpenDB(connector)
	defer func() { _ = conn.Close() }()
	_, err = conn.ExecContext(ctx, query)
	Expect(err).NotTo(HaveOccurred())
}

// pingDirectly pings the database with a client of its own, bypassing the recorder.
func pingDirectly(ctx context.Context, mysqlCfg recorder.Config) error {
	mc := db.MySQLConfig(mysqlCfg.DBName)
	mc.Timeout = 2 * time.Second
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return err
	}
	conn := sql.OpenDB(connector)
	defer func() { _ = conn.Close() }()
	pingCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return conn.PingContext(pingCtx)
}
