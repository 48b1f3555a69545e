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
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/kubectlejob"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
	"github.com/ephemeraljob/ephemeraljob-operator/test/kubelet"
)

// ejobRun is one run of `kubectl ejob`.
type ejobRun struct {
	code           int
	stdout, stderr string
}

// kubectlEjob runs `kubectl ejob` in-process against the suite's API server, with the
// MySQL settings of mysqlCfg in its environment.
func kubectlEjob(ctx context.Context, mysqlCfg recorder.Config, args ...string) ejobRun {
	GinkgoHelper()
	kubeconfig := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(os.WriteFile(kubeconfig, testEnv.KubeConfig, 0o600)).To(Succeed())
	env := map[string]string{"MYSQL_HOST": mysqlCfg.Host, "MYSQL_PORT": strconv.Itoa(mysqlCfg.Port),
		"MYSQL_USER": mysqlCfg.User, "MYSQL_PASSWORD": mysqlCfg.Password, "MYSQL_DB_NAME": mysqlCfg.DBName}
	var stdout, stderr bytes.Buffer
	code := kubectlejob.Run(ctx, append(args, "--kubeconfig", kubeconfig), &stdout, &stderr,
		kubectlejob.Options{Getenv: func(k string) string { return env[k] }})
	return ejobRun{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// tableRows returns the rows of a table printed by `kubectl ejob`, without its header, as
// their cells.
func tableRows(table string) [][]string {
	GinkgoHelper()
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	Expect(lines).NotTo(BeEmpty())
	var rows [][]string
	for _, l := range lines[1:] {
		rows = append(rows, strings.Fields(l))
	}
	return rows
}

var _ = Describe("kubectl ejob results of a job that refused more pods than its status details", func() {
	It("lists every refused pod with its reason, live and from MySQL once the job and its pods are deleted",
		func(ctx SpecContext) {
			const n = 25
			mysqlCfg := newDatabase(ctx)
			store := openStore(mysqlCfg)
			startManager(mysqlCfg, logr.Logger{})
			ns := newNamespace(ctx, kubelet.ExitZero)
			var pods []*corev1.Pod
			want := map[string]bool{}
			for i := range n {
				// No container "app" to target: the job refuses every one.
				name := fmt.Sprintf("web-%02d", i)
				pods = append(pods, testutil.MakePod(name, ns).Label("app", "web").Containers("other").Obj())
				want[name] = true
			}
			running := runPods(ctx, pods)
			job := testutil.MakeEphemeralJob("refusing", ns, "web").Obj()
			Expect(k8s.Create(ctx, job)).To(Succeed())
			Eventually(phaseOf(ctx, ns, job.Name)).WithContext(ctx).
				Should(Equal(fmt.Sprintf("Failed match=%d succeeded=0 failed=%d running=0 waiting=0", n, n)))
			status := getJob(ctx, Default, ns, job.Name).Status
			Expect(status.Refused).To(HaveLen(appsv1alpha1.MaxRefusedListed), "the status details the first ten")
			Expect(status.Refusals).To(HaveLen(1))
			Expect(status.Refusals[0].Count).To(BeEquivalentTo(n))

			expectEveryRefusal := func(run ejobRun, source string) {
				GinkgoHelper()
				Expect(run.code).To(Equal(0), run.stderr)
				rows := tableRows(run.stdout)
				Expect(rows).To(HaveLen(n), run.stdout)
				seen := map[string]bool{}
				for _, row := range rows {
					Expect(row).To(ContainElements("Failed", appsv1alpha1.ReasonTargetContainerNotFound), run.stdout)
					seen[row[0]] = true
				}
				Expect(seen).To(Equal(want))
				Expect(run.stderr).NotTo(ContainSubstring("not shown"), "no target is left out as gone")
				if source == "live" {
					Expect(run.stderr).To(BeEmpty(), "no pod that exists is called gone")
				}
			}
			expectOneGroup := func(run ejobRun) {
				GinkgoHelper()
				Expect(run.code).To(Equal(0), run.stderr)
				rows := tableRows(run.stdout)
				Expect(rows).To(HaveLen(1), run.stdout)
				Expect(rows[0][:3]).To(Equal([]string{strconv.Itoa(n), "Failed", "-"}), run.stdout)
				Expect(rows[0][3]).To(Equal(appsv1alpha1.ReasonTargetContainerNotFound))
			}

			expectEveryRefusal(kubectlEjob(ctx, mysqlCfg, "results", job.Name, "-n", ns), "live")
			expectOneGroup(kubectlEjob(ctx, mysqlCfg, "results", job.Name, "-n", ns, "--group"))

			// The recorder keeps a row for every refused pod, not only the ten detailed.
			Eventually(func(g Gomega) {
				rows := podRows(ctx, g, store, string(job.UID))
				g.Expect(rows).To(HaveLen(n))
				for name, row := range rows {
					g.Expect(row.Status).To(Equal(recorder.PodStatusFailed), name)
					g.Expect(row.Reason).To(Equal(appsv1alpha1.ReasonTargetContainerNotFound), name)
					g.Expect(row.PodID).To(Equal(string(running[name].UID)), name)
				}
			}).WithContext(ctx).Should(Succeed())

			Expect(k8s.Delete(ctx, job)).To(Succeed())
			for _, p := range running {
				Expect(k8s.Delete(ctx, p, client.GracePeriodSeconds(0))).To(Succeed())
			}
			Eventually(func() bool {
				return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(job), &appsv1alpha1.EphemeralJob{}))
			}).WithContext(ctx).Should(BeTrue())
			Eventually(func(g Gomega) {
				var left corev1.PodList
				g.Expect(k8s.List(ctx, &left, client.InNamespace(ns))).To(Succeed())
				g.Expect(left.Items).To(BeEmpty())
			}).WithContext(ctx).Should(Succeed())

			fromHistory := kubectlEjob(ctx, mysqlCfg, "results", job.Name, "-n", ns)
			expectEveryRefusal(fromHistory, "history")
			Expect(fromHistory.stderr).To(HavePrefix("note: ejob " + ns + "/refusing is gone from the API server; " +
				"showing its history from MySQL"))
			Expect(strings.Count(fromHistory.stderr, "\n")).To(Equal(1), "one note, and nothing about missing targets")
			expectOneGroup(kubectlEjob(ctx, mysqlCfg, "results", job.Name, "-n", ns, "--group"))
		})
})
