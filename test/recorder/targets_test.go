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
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
	"github.com/ephemeraljob/ephemeraljob-operator/test/kubelet"
)

// addEphemeralContainer adds an ephemeral container to a pod as a user allowed to do so
// would, with the env she chooses; a conflict with the kubelet stand-in is retried.
func addEphemeralContainer(ctx context.Context, pod *corev1.Pod, name string, env ...corev1.EnvVar) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		current, err := clientset.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		current.Spec.EphemeralContainers = append(current.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: name, Image: "busybox:latest",
				ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				Env: env},
		})
		_, err = clientset.CoreV1().Pods(pod.Namespace).UpdateEphemeralContainers(ctx, pod.Name, current,
			metav1.UpdateOptions{})
		return err
	})).To(Succeed())
}

var _ = Describe("MySQL recorder's pod rows", func() {
	It("records each refused target with its reason, and no container the controller did not inject",
		func(ctx SpecContext) {
			mysqlCfg := newDatabase(ctx)
			store := openStore(mysqlCfg)
			startManager(mysqlCfg, logr.Logger{})
			ns := newNamespace(ctx, kubelet.ExitZero)
			pods := runPods(ctx, []*corev1.Pod{
				testutil.MakePod("web-0", ns).Label("app", "web").Obj(),
				// No container "app" to target: the job refuses it.
				testutil.MakePod("web-1", ns).Label("app", "web").Containers("other").Obj(),
				testutil.MakePod("bystander", ns).Label("app", "other").Obj(),
			})
			// Someone allowed to add ephemeral containers marks one with a made-up job UID.
			addEphemeralContainer(ctx, pods["bystander"], "made-up",
				corev1.EnvVar{Name: appsv1alpha1.EnvJobUID, Value: "00000000-made-up-job-uid"})

			job := testutil.MakeEphemeralJob("refusing", ns, "web").Obj()
			Expect(k8s.Create(ctx, job)).To(Succeed())
			// ... and one with the real job's UID, under a name its template does not have.
			addEphemeralContainer(ctx, pods["bystander"], "forged",
				corev1.EnvVar{Name: appsv1alpha1.EnvJobUID, Value: string(job.UID)})
			Eventually(phaseOf(ctx, ns, job.Name)).WithContext(ctx).
				Should(Equal("Failed match=2 succeeded=1 failed=1 running=0 waiting=0"))

			Eventually(func(g Gomega) {
				rows := podRows(ctx, g, store, string(job.UID))
				g.Expect(rows).To(HaveKey("web-1"))
				refused := rows["web-1"]
				g.Expect(refused.Status).To(Equal(recorder.PodStatusFailed))
				g.Expect(refused.PodID).To(Equal(string(pods["web-1"].UID)))
				g.Expect(remarkOf(g, refused).Reason).To(Equal(appsv1alpha1.ReasonTargetContainerNotFound))
				g.Expect(rows).To(HaveKey("web-0"))
				g.Expect(rows["web-0"].Status).To(Equal(recorder.PodStatusSucceeded))
			}).WithContext(ctx).Should(Succeed())

			Consistently(func(g Gomega) {
				rows := podRows(ctx, g, store, string(job.UID))
				g.Expect(rows).To(HaveLen(2), "rows of the job: only its two targets")
				made, err := store.ListPods(ctx, "00000000-made-up-job-uid")
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(made).To(BeEmpty(), "rows for a made-up job")
			}).WithContext(ctx).WithTimeout(2 * time.Second).Should(Succeed())
		})

	It("records the result of the container the job ran under the name derived where its template's name was taken",
		func(ctx SpecContext) {
			mysqlCfg := newDatabase(ctx)
			store := openStore(mysqlCfg)
			startManager(mysqlCfg, logr.Logger{})
			const message = "ran under the derived name ✓"
			ns := newNamespace(ctx, func(_ *corev1.Pod, c *corev1.EphemeralContainer) kubelet.Outcome {
				if c.Name == "check" {
					return kubelet.Outcome{Message: "the earlier run"}
				}
				return kubelet.Outcome{ExitCode: 7, Message: message}
			})
			pods := runPods(ctx, []*corev1.Pod{testutil.MakePod("web-0", ns).Label("app", "web").Obj()})
			// An earlier run of the same manifest left its container, named as the template's.
			addEphemeralContainer(ctx, pods["web-0"], "check")

			// The job stays paused, so that its controller adds nothing: its container is
			// added here under the derived name, with the env the controller writes, as the
			// controller does where the template's name is taken. (The controller does not
			// count a container it did not inject itself; the recorder records it all the same.)
			job := testutil.MakeEphemeralJob("rerun", ns, "web").Paused(true).Obj()
			Expect(k8s.Create(ctx, job)).To(Succeed())
			derived := podstate.DerivedName("check", job.UID)
			Expect(derived).NotTo(Equal("check"))
			addEphemeralContainer(ctx, pods["web-0"], derived,
				corev1.EnvVar{Name: appsv1alpha1.EnvJobName, Value: job.Name},
				corev1.EnvVar{Name: appsv1alpha1.EnvJobUID, Value: string(job.UID)},
				corev1.EnvVar{Name: appsv1alpha1.EnvJobIndex, Value: "0"})

			Eventually(func(g Gomega) {
				rows := podRows(ctx, g, store, string(job.UID))
				g.Expect(rows).To(HaveLen(1))
				g.Expect(rows).To(HaveKey("web-0"))
				row := rows["web-0"]
				g.Expect(row.Status).To(Equal(recorder.PodStatusFailed))
				g.Expect(row.ContainerName).To(Equal(derived))
				g.Expect(row.ReplicaType).To(Equal("check"))
				g.Expect(row.ExitCode).To(HaveValue(BeEquivalentTo(7)))
				g.Expect(row.Reason).To(Equal("Error"))
				g.Expect(row.Message).To(Equal(message))
				g.Expect(row.Output).To(BeEmpty(), "no output is fetched unless asked for")
			}).WithContext(ctx).Should(Succeed())
		})

	It("with output fetching on, fetches a finished target's log through the API server once, and keeps it",
		func(ctx SpecContext) {
			mysqlCfg := newDatabase(ctx)
			store := openStore(mysqlCfg)
			opts := recorderOptions
			opts.OutputBytes = 1024
			ns := newNamespace(ctx, kubelet.ExitZero)
			// The managers' requests for the log of web-0 are counted on their way to the
			// API server; the cluster holds the finished targets of other specs too.
			var logRequests atomic.Int64
			restCfg := rest.CopyConfig(cfg)
			restCfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
				return roundTripper(func(req *http.Request) (*http.Response, error) {
					if req.URL.Path == "/api/v1/namespaces/"+ns+"/pods/web-0/log" {
						logRequests.Add(1)
					}
					return rt.RoundTrip(req)
				})
			})
			before := outputFetches()
			mgr := startManagerOn(restCfg, mysqlCfg, opts, logr.Logger{})
			pods := runPods(ctx, []*corev1.Pod{testutil.MakePod("web-0", ns).Label("app", "web").Obj()})
			job := testutil.MakeEphemeralJob("logs", ns, "web").Obj()
			Expect(k8s.Create(ctx, job)).To(Succeed())
			Eventually(phaseOf(ctx, ns, job.Name)).WithContext(ctx).
				Should(Equal("Succeeded match=1 succeeded=1 failed=0 running=0 waiting=0"))

			// envtest runs no kubelet, and its pods are on no node: the API server answers
			// pods/log for them with an empty log, which the recorder stores as the output.
			Eventually(func(g Gomega) {
				exists, stored, err := store.OutputState(ctx, string(job.UID), string(pods["web-0"].UID))
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(exists).To(BeTrue())
				g.Expect(stored).To(BeTrue(), "the output is stored")
			}).WithContext(ctx).Should(Succeed())
			Expect(logRequests.Load()).To(BeEquivalentTo(1))
			Expect(delta(before, outputFetches())).To(HaveKeyWithValue("stored", BeNumerically(">=", 1)))

			// A restarted manager is offered every finished target again: it reads that the
			// output is stored, and does not ask for it again.
			Expect(mgr.Stop()).To(Succeed())
			restarted := outputFetches()
			startManagerOn(restCfg, mysqlCfg, opts, logr.Logger{})
			Eventually(func() map[string]float64 {
				return delta(restarted, outputFetches())
			}).WithContext(ctx).Should(HaveKeyWithValue("already_stored", BeNumerically(">=", 1)))
			Consistently(logRequests.Load).WithContext(ctx).WithTimeout(3 * time.Second).Should(BeEquivalentTo(1))
			Eventually(func(g Gomega) {
				rows := podRows(ctx, g, store, string(job.UID))
				g.Expect(rows).To(HaveKey("web-0"))
				g.Expect(rows["web-0"].Status).To(Equal(recorder.PodStatusSucceeded))
				g.Expect(rows["web-0"].ExitCode).To(HaveValue(BeEquivalentTo(0)))
				g.Expect(rows["web-0"].ContainerName).To(Equal("check"))
			}).WithContext(ctx).Should(Succeed())
		})
})

// roundTripper is an http.RoundTripper made of a function.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// outputFetches returns ephemeraljob_recorder_output_fetches_total by result.
func outputFetches() map[string]float64 {
	GinkgoHelper()
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	byResult := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "ephemeraljob_recorder_output_fetches_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" {
					byResult[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return byResult
}

// delta returns what grew between two readings of outputFetches.
func delta(before, after map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for k, v := range after {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}
