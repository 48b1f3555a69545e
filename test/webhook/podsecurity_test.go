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

package webhook

import (
	"context"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	psaapi "k8s.io/pod-security-admission/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/profile"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

// warningCollector keeps the warnings that the API server sends back, as kubectl prints them.
type warningCollector struct {
	mu       sync.Mutex
	warnings []string
}

// HandleWarningHeaderWithContext keeps a warning; 299 is the code of every warning the API
// server and admission webhooks send.
func (w *warningCollector) HandleWarningHeaderWithContext(_ context.Context, code int, _ string, text string) {
	if code != 299 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.warnings = append(w.warnings, text)
}

// take returns the warnings kept so far and forgets them.
func (w *warningCollector) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	got := w.warnings
	w.warnings = nil
	return got
}

// warnedAdmin returns a client that acts as the admin and the collector of the warnings its
// requests get.
func warnedAdmin() (client.Client, *warningCollector) {
	w := &warningCollector{}
	c := rest.CopyConfig(cfg)
	c.WarningHandlerWithContext = w
	cl, err := client.New(c, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	return cl, w
}

// newPodSecurityNamespace creates a namespace for one spec with these labels and annotations.
func newPodSecurityNamespace(ctx context.Context, labels, annotations map[string]string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "pod-security-", Labels: labels, Annotations: annotations}}
	Expect(admin.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// restrictedPod creates a pod that passes restricted by itself, with runAsNonRoot, its user and
// its seccomp profile set at pod level when podLevel is true, and on its one container otherwise.
func restrictedPod(ctx context.Context, name, ns string, podLevel bool) *corev1.Pod {
	pod := testutil.MakePod(name, ns).Label("app", "app").Obj()
	container := &corev1.SecurityContext{
		AllowPrivilegeEscalation: new(false),
		Capabilities:             dropAll(),
	}
	runAsNonRoot, user := new(true), new(int64(1000))
	seccomp := &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	if podLevel {
		pod.Spec.SecurityContext = &corev1.PodSecurityContext{
			RunAsNonRoot: runAsNonRoot, RunAsUser: user, SeccompProfile: seccomp}
	} else {
		container.RunAsNonRoot, container.RunAsUser, container.SeccompProfile = runAsNonRoot, user, seccomp
	}
	pod.Spec.Containers[0].SecurityContext = container
	Expect(admin.Create(ctx, pod)).To(Succeed())
	return pod
}

// inject adds c to the pod's ephemeral containers through pods/ephemeralcontainers, as the
// controller does, so that the API server's own Pod Security admission judges it.
func inject(ctx context.Context, pod *corev1.Pod, c corev1.EphemeralContainer) error {
	current := &corev1.Pod{}
	Expect(admin.Get(ctx, client.ObjectKeyFromObject(pod), current)).To(Succeed())
	current.Spec.EphemeralContainers = append(current.Spec.EphemeralContainers, c)
	return admin.SubResource("ephemeralcontainers").Update(ctx, current)
}

// dropAll drops every capability, as restricted requires.
func dropAll() *corev1.Capabilities {
	return &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
}

// rootJob returns a job whose one container, "check", runs busybox as root with no securityContext.
func rootJob(ns string) *appsv1alpha1.EphemeralJob {
	return testutil.MakeEphemeralJob("debug", ns, "app").Obj()
}

// jobWith returns rootJob with its container's securityContext set to sc.
func jobWith(ns string, sc *corev1.SecurityContext) *appsv1alpha1.EphemeralJob {
	ej := rootJob(ns)
	ej.Spec.Template.EphemeralContainers[0].SecurityContext = sc
	return ej
}

// profiled returns rootJob with the profile applied to its container.
func profiled(ns, name string) *appsv1alpha1.EphemeralJob {
	ej := rootJob(ns)
	Expect(profile.Apply(name, &ej.Spec.Template.EphemeralContainers[0])).To(Succeed())
	return ej
}

// refusedByPodSecurity matches the API server's own Pod Security refusal of an injection.
func refusedByPodSecurity(level string, reason string) OmegaMatcher {
	return SatisfyAll(
		Satisfy(apierrors.IsForbidden),
		MatchError(ContainSubstring(`violates PodSecurity "`+level+`:latest": `+reason)),
	)
}

const checkSecurityContext = "spec.template.ephemeralContainers[0].securityContext"

var _ = Describe("the EphemeralJob webhook and Pod Security", func() {
	enforce := func(level psaapi.Level) map[string]string {
		return map[string]string{psaapi.EnforceLevelLabel: string(level)}
	}

	It("refuses a root busybox where restricted is enforced, naming each violation, and says what to set",
		func(ctx SpecContext) {
			ns := newPodSecurityNamespace(ctx, enforce(psaapi.LevelRestricted), nil)
			warned, warnings := warnedAdmin()

			err := warned.Create(ctx, rootJob(ns))

			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			Expect(causes(err)).To(ConsistOf(
				"FieldValueForbidden "+checkSecurityContext+".allowPrivilegeEscalation",
				"FieldValueForbidden "+checkSecurityContext+".capabilities",
			))
			Expect(err.Error()).To(ContainSubstring(`violates PodSecurity "restricted:latest": allowPrivilegeEscalation ` +
				`!= false (container "check" must set securityContext.allowPrivilegeEscalation=false)`))
			Expect(err.Error()).To(ContainSubstring(`violates PodSecurity "restricted:latest": unrestricted ` +
				`capabilities (container "check" must set securityContext.capabilities.drop=["ALL"])`))
			Expect(warnings.take()).To(ConsistOf(
				SatisfyAll(
					HavePrefix(`would violate PodSecurity "restricted:latest" on pods that do not set at pod level`),
					ContainSubstring(`runAsNonRoot != true (pod or container "check" must set securityContext.runAsNonRoot=true)`),
					ContainSubstring(`seccompProfile (pod or container "check" must set securityContext.seccompProfile.type`),
				),
				SatisfyAll(
					HavePrefix(`to pass PodSecurity "restricted:latest" on every pod, set securityContext {`),
					ContainSubstring(`"runAsNonRoot":true`), ContainSubstring(`"allowPrivilegeEscalation":false`),
					ContainSubstring(`"capabilities":{"drop":["ALL"]}`),
					ContainSubstring(`"seccompProfile":{"type":"RuntimeDefault"}`),
					HaveSuffix(`as the "restricted" profile does`),
				),
			))
			Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "debug"}, &appsv1alpha1.EphemeralJob{})).
				To(Satisfy(apierrors.IsNotFound))
		})

	It("admits the restricted profile without a word, and so does the API server on every pod of the namespace",
		func(ctx SpecContext) {
			ns := newPodSecurityNamespace(ctx, enforce(psaapi.LevelRestricted), nil)
			warned, warnings := warnedAdmin()
			job := profiled(ns, profile.Restricted)

			Expect(warned.Create(ctx, job)).To(Succeed())
			Expect(warnings.take()).To(BeEmpty())

			withPodLevel := restrictedPod(ctx, "pod-level", ns, true)
			withContainerLevel := restrictedPod(ctx, "container-level", ns, false)
			// The API server's Pod Security admission judges injections here: the root template is refused.
			Expect(inject(ctx, withPodLevel, rootJob(ns).Spec.Template.EphemeralContainers[0])).
				To(refusedByPodSecurity("restricted", "allowPrivilegeEscalation != false"))

			for _, pod := range []*corev1.Pod{withPodLevel, withContainerLevel} {
				Expect(inject(ctx, pod, job.Spec.Template.EphemeralContainers[0])).To(Succeed(), pod.Name)
				stored := &corev1.Pod{}
				Expect(admin.Get(ctx, client.ObjectKeyFromObject(pod), stored)).To(Succeed())
				Expect(stored.Spec.EphemeralContainers).To(HaveExactElements(
					HaveField("SecurityContext", Equal(job.Spec.Template.EphemeralContainers[0].SecurityContext))))
			}
		})

	It("only warns about a template that relies on the pods' own runAsNonRoot and seccomp, as the API server "+
		"then judges pod by pod", func(ctx SpecContext) {
		ns := newPodSecurityNamespace(ctx, enforce(psaapi.LevelRestricted), nil)
		warned, warnings := warnedAdmin()
		job := jobWith(ns, &corev1.SecurityContext{
			AllowPrivilegeEscalation: new(false),
			Capabilities:             dropAll(),
		})

		Expect(warned.Create(ctx, job)).To(Succeed())
		Expect(warnings.take()).To(ConsistOf(
			HavePrefix(`would violate PodSecurity "restricted:latest" on pods that do not set at pod level what the `+
				`template leaves unset, and those pods will refuse the injection: runAsNonRoot != true`),
			HavePrefix(`to pass PodSecurity "restricted:latest" on every pod`),
		))

		container := job.Spec.Template.EphemeralContainers[0]
		Expect(inject(ctx, restrictedPod(ctx, "pod-level", ns, true), container)).To(Succeed())
		Expect(inject(ctx, restrictedPod(ctx, "container-level", ns, false), container)).
			To(refusedByPodSecurity("restricted", "runAsNonRoot != true"))
	})

	DescribeTable("refuses what no pod can make up for, as the API server does even on the most favourable pod",
		func(ctx SpecContext, level psaapi.Level, sc *corev1.SecurityContext, wantField, wantReason string) {
			ns := newPodSecurityNamespace(ctx, enforce(level), nil)
			job := jobWith(ns, sc)

			err := admin.Create(ctx, job)

			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			Expect(causes(err)).To(ConsistOf("FieldValueForbidden " + checkSecurityContext + "." + wantField))
			Expect(err.Error()).To(ContainSubstring(`violates PodSecurity "` + string(level) + `:latest": ` + wantReason))
			Expect(inject(ctx, restrictedPod(ctx, "pod-level", ns, true), job.Spec.Template.EphemeralContainers[0])).
				To(refusedByPodSecurity(string(level), wantReason))
		},
		Entry("an unconfined seccomp profile under restricted", psaapi.LevelRestricted, &corev1.SecurityContext{
			RunAsNonRoot: new(true), AllowPrivilegeEscalation: new(false),
			Capabilities:   dropAll(),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined},
		}, "seccompProfile",
			`seccompProfile (container "check" must not set securityContext.seccompProfile.type to "Unconfined")`),
		Entry("a privileged container under baseline", psaapi.LevelBaseline, &corev1.SecurityContext{Privileged: new(true)},
			"privileged", `privileged (container "check" must not set securityContext.privileged=true)`),
	)

	It("admits a root busybox where restricted is only warned about, with the API server's own warning",
		func(ctx SpecContext) {
			ns := newPodSecurityNamespace(ctx, map[string]string{psaapi.WarnLevelLabel: string(psaapi.LevelRestricted)}, nil)
			warned, warnings := warnedAdmin()
			// A pod whose one container is the template's: the API server warns about it in its own words.
			pod := testutil.MakePod("like-the-template", ns).Obj()
			pod.Spec.Containers = []corev1.Container{{Name: "check", Image: "busybox:latest"}}
			Expect(warned.Create(ctx, pod)).To(Succeed())
			apiServerWarnings := warnings.take()
			Expect(apiServerWarnings).To(HaveExactElements(HavePrefix(`would violate PodSecurity "restricted:latest": `)))

			Expect(warned.Create(ctx, rootJob(ns))).To(Succeed())

			Expect(warnings.take()).To(Equal(apiServerWarnings))
		})

	It("does not check a namespace annotated as exempt, whose injections the API server still judges",
		func(ctx SpecContext) {
			ns := newPodSecurityNamespace(ctx, enforce(psaapi.LevelRestricted),
				map[string]string{appsv1alpha1.AnnotationPodSecurityExempt: "true"})
			warned, warnings := warnedAdmin()
			job := rootJob(ns)

			Expect(warned.Create(ctx, job)).To(Succeed())
			Expect(warnings.take()).To(BeEmpty())

			Expect(inject(ctx, restrictedPod(ctx, "pod-level", ns, true), job.Spec.Template.EphemeralContainers[0])).
				To(refusedByPodSecurity("restricted", "allowPrivilegeEscalation != false"))
		})

	It("refuses to resume a paused job once its namespace enforces a level the template breaks, "+
		"and lets it be changed otherwise", func(ctx SpecContext) {
		ns := newPodSecurityNamespace(ctx, nil, nil)
		job := rootJob(ns)
		job.Spec.Paused = true
		Expect(admin.Create(ctx, job)).To(Succeed())
		namespace := &corev1.Namespace{}
		Expect(admin.Get(ctx, client.ObjectKey{Name: ns}, namespace)).To(Succeed())
		namespace.Labels[psaapi.EnforceLevelLabel] = string(psaapi.LevelRestricted)
		Expect(admin.Update(ctx, namespace)).To(Succeed())

		Expect(admin.Get(ctx, client.ObjectKeyFromObject(job), job)).To(Succeed())
		job.Spec.Parallelism = new(int32(2))
		Expect(admin.Update(ctx, job)).To(Succeed())

		job.Spec.Paused = false
		err := admin.Update(ctx, job)

		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(causes(err)).To(ConsistOf(
			"FieldValueForbidden "+checkSecurityContext+".allowPrivilegeEscalation",
			"FieldValueForbidden "+checkSecurityContext+".capabilities",
		))
		stored := &appsv1alpha1.EphemeralJob{}
		Expect(admin.Get(ctx, client.ObjectKeyFromObject(job), stored)).To(Succeed())
		Expect(stored.Spec.Paused).To(BeTrue())
	})
})
