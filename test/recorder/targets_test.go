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
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

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
})
