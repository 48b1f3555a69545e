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

package v1alpha1

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	psaapi "k8s.io/pod-security-admission/api"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/profile"
)

// Beginnings of the messages validatePodSecurity gives, as users read them.
const (
	restrictedRefusal  = `violates PodSecurity "restricted:latest": `
	baselineRefusal    = `violates PodSecurity "baseline:latest": `
	relyingOnPods      = `would violate PodSecurity "restricted:latest" on pods that do not set at pod level`
	podsWillRefuse     = relyingOnPods + ` what the template leaves unset, and those pods will refuse the injection: `
	restrictedHint     = `to pass PodSecurity "restricted:latest" on every pod, set securityContext {`
	baselineHint       = `to pass PodSecurity "baseline:latest" on every pod, remove the settings named`
	restrictedWarning  = `would violate PodSecurity "restricted:latest": `
	invalidLabels      = `namespace "ns" has invalid Pod Security labels`
	allowPrivilegeEsc  = `allowPrivilegeEscalation != false`
	capabilitiesReason = `unrestricted capabilities`
)

var debugSecurityContext = specPath.Child("template", "ephemeralContainers").Index(0).Child("securityContext")

// namespaceWith returns the namespace "ns" with the labels and annotations.
func namespaceWith(labels, annotations map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", Labels: labels, Annotations: annotations}}
}

// withSecurityContext returns validJob, whose container runs busybox as root, with that securityContext.
func withSecurityContext(sc *corev1.SecurityContext) *appsv1alpha1.EphemeralJob {
	return withContainer(func(ec *corev1.EphemeralContainer) { ec.SecurityContext = sc })
}

// withProfile returns validJob with the profile applied to its container.
func withProfile(t *testing.T, name string) *appsv1alpha1.EphemeralJob {
	t.Helper()
	ej := validJob()
	if err := profile.Apply(name, &ej.Spec.Template.EphemeralContainers[0]); err != nil {
		t.Fatalf("applying profile %q: %v", name, err)
	}
	return ej
}

// reliesOnPodLevel returns a securityContext that passes restricted only in a pod that sets
// runAsNonRoot and a seccomp profile at pod level.
func reliesOnPodLevel() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: new(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

// restrictedExcept returns the restricted profile's securityContext changed by mutate.
func restrictedExcept(mutate func(sc *corev1.SecurityContext)) *corev1.SecurityContext {
	c := &corev1.EphemeralContainer{}
	if err := profile.Apply(profile.Restricted, c); err != nil {
		panic(err)
	}
	mutate(c.SecurityContext)
	return c.SecurityContext
}

func TestValidatePodSecurity(t *testing.T) {
	enforce := func(level psaapi.Level) map[string]string {
		return map[string]string{psaapi.EnforceLevelLabel: string(level)}
	}
	restricted, baseline := string(psaapi.LevelRestricted), string(psaapi.LevelBaseline)
	tests := []struct {
		name        string
		labels      map[string]string
		annotations map[string]string
		job         *appsv1alpha1.EphemeralJob
		// wantErrs are the beginnings of "<field>: <detail>" of each Forbidden error, in order.
		wantErrs []string
		// wantWarnings are the beginnings of each warning, in order.
		wantWarnings []string
	}{
		{
			name: "no label: privileged, as the API server defaults it",
			job:  validJob(),
		},
		{
			name:   "privileged forbids nothing",
			labels: enforce(psaapi.LevelPrivileged),
			job:    withProfile(t, profile.SysAdmin),
		},
		{
			name:   "baseline admits a root busybox",
			labels: enforce(psaapi.LevelBaseline),
			job:    validJob(),
		},
		{
			name:         "baseline refuses a privileged container",
			labels:       enforce(psaapi.LevelBaseline),
			job:          withSecurityContext(&corev1.SecurityContext{Privileged: new(true)}),
			wantErrs:     []string{debugSecurityContext.Child("privileged").String() + ": " + baselineRefusal + "privileged"},
			wantWarnings: []string{baselineHint},
		},
		{
			name:   "baseline refuses the general profile's SYS_PTRACE",
			labels: enforce(psaapi.LevelBaseline),
			job:    withProfile(t, profile.General),
			wantErrs: []string{debugSecurityContext.Child("capabilities", "add").String() + ": " + baselineRefusal +
				`non-default capabilities (container "debug" must not include "SYS_PTRACE" in securityContext.capabilities.add)`},
			wantWarnings: []string{baselineHint},
		},
		{
			name:   "baseline admits the baseline profile",
			labels: enforce(psaapi.LevelBaseline),
			job:    withProfile(t, profile.Baseline),
		},
		{
			name:   "restricted refuses a root busybox, and warns about what pods may make up for",
			labels: enforce(psaapi.LevelRestricted),
			job:    validJob(),
			wantErrs: []string{
				debugSecurityContext.Child("allowPrivilegeEscalation").String() + ": " + restrictedRefusal + allowPrivilegeEsc,
				debugSecurityContext.Child("capabilities").String() + ": " + restrictedRefusal + capabilitiesReason,
			},
			wantWarnings: []string{relyingOnPods, restrictedHint},
		},
		{
			name:   "restricted admits the restricted profile",
			labels: enforce(psaapi.LevelRestricted),
			job:    withProfile(t, profile.Restricted),
		},
		{
			name:         "restricted only warns about a template that relies on pod-level runAsNonRoot and seccomp",
			labels:       enforce(psaapi.LevelRestricted),
			job:          withSecurityContext(reliesOnPodLevel()),
			wantWarnings: []string{podsWillRefuse + "runAsNonRoot != true", restrictedHint},
		},
		{
			name:   "restricted refuses an unconfined seccomp profile, which no pod can make up for",
			labels: enforce(psaapi.LevelRestricted),
			job: withSecurityContext(restrictedExcept(func(sc *corev1.SecurityContext) {
				sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
			})),
			wantErrs: []string{debugSecurityContext.Child("seccompProfile").String() + ": " + restrictedRefusal +
				`seccompProfile (container "debug" must not set securityContext.seccompProfile.type to "Unconfined")`},
			wantWarnings: []string{restrictedHint},
		},
		{
			name:   "restricted only warns about root, which pods in their own user namespace admit",
			labels: enforce(psaapi.LevelRestricted),
			job: withSecurityContext(restrictedExcept(func(sc *corev1.SecurityContext) {
				sc.RunAsUser = new(int64(0))
			})),
			wantWarnings: []string{podsWillRefuse + "runAsUser=0", restrictedHint},
		},
		{
			name:   "restricted at v1.21, before it restricted capabilities",
			labels: map[string]string{psaapi.EnforceLevelLabel: restricted, psaapi.EnforceVersionLabel: "v1.21"},
			job:    validJob(),
			wantErrs: []string{debugSecurityContext.Child("allowPrivilegeEscalation").String() +
				`: violates PodSecurity "restricted:v1.21": ` + allowPrivilegeEsc},
			wantWarnings: []string{
				`would violate PodSecurity "restricted:v1.21" on pods that do not set at pod level`,
				`to pass PodSecurity "restricted:v1.21" on every pod`,
			},
		},
		{
			name:   "warn only warns, about every pod",
			labels: map[string]string{psaapi.WarnLevelLabel: restricted},
			job:    validJob(),
			wantWarnings: []string{restrictedWarning + allowPrivilegeEsc + ` (container "debug" must set ` +
				`securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "debug" must set ` +
				`securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "debug" must set ` +
				`securityContext.runAsNonRoot=true), seccompProfile (pod or container "debug" must set ` +
				`securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`},
		},
		{
			name:         "audit warns, saying it is audited",
			labels:       map[string]string{psaapi.AuditLevelLabel: baseline},
			job:          withProfile(t, profile.SysAdmin),
			wantWarnings: []string{`would violate PodSecurity "baseline:latest" (audited, not enforced): privileged`},
		},
		{
			name:         "a stricter warn level warns about what the enforce level admits",
			labels:       map[string]string{psaapi.EnforceLevelLabel: baseline, psaapi.WarnLevelLabel: restricted},
			job:          validJob(),
			wantWarnings: []string{restrictedWarning + allowPrivilegeEsc},
		},
		{
			name: "a refusal comes without the warn and audit levels' warnings, as the API server's",
			labels: map[string]string{psaapi.EnforceLevelLabel: baseline, psaapi.WarnLevelLabel: restricted,
				psaapi.AuditLevelLabel: restricted, psaapi.AuditVersionLabel: "v1.30"},
			job:          withSecurityContext(&corev1.SecurityContext{Privileged: new(true)}),
			wantErrs:     []string{debugSecurityContext.Child("privileged").String() + ": " + baselineRefusal},
			wantWarnings: []string{baselineHint},
		},
		{
			name:   "an enforce level that cannot be parsed is restricted",
			labels: enforce("restrictd"),
			job:    validJob(),
			wantErrs: []string{
				debugSecurityContext.Child("allowPrivilegeEscalation").String() + ": " + restrictedRefusal,
				debugSecurityContext.Child("capabilities").String() + ": " + restrictedRefusal,
			},
			wantWarnings: []string{invalidLabels + `, evaluated as the API server does (an invalid enforce level as ` +
				`restricted, an invalid warn or audit level as privileged, an invalid version as latest): ` +
				`metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "restrictd"`,
				relyingOnPods, restrictedHint},
		},
		{
			name:         "a warn level that cannot be parsed is privileged",
			labels:       map[string]string{psaapi.WarnLevelLabel: "strict"},
			job:          validJob(),
			wantWarnings: []string{invalidLabels},
		},
		{
			name:        "a namespace the annotation says is exempt is not checked",
			labels:      enforce(psaapi.LevelRestricted),
			annotations: map[string]string{appsv1alpha1.AnnotationPodSecurityExempt: "true"},
			job:         validJob(),
		},
		{
			name:        "the exemption annotation must say true",
			labels:      enforce(psaapi.LevelRestricted),
			annotations: map[string]string{appsv1alpha1.AnnotationPodSecurityExempt: "yes"},
			job:         validJob(),
			wantErrs: []string{
				debugSecurityContext.Child("allowPrivilegeEscalation").String() + ": " + restrictedRefusal,
				debugSecurityContext.Child("capabilities").String() + ": " + restrictedRefusal,
			},
			wantWarnings: []string{relyingOnPods, restrictedHint},
		},
		{
			name:   "each container is named by its index",
			labels: enforce(psaapi.LevelBaseline),
			job: withJob(func(ej *appsv1alpha1.EphemeralJob) {
				second := ej.Spec.Template.EphemeralContainers[0]
				second.Name = "admin"
				second.SecurityContext = &corev1.SecurityContext{Privileged: new(true)}
				ej.Spec.Template.EphemeralContainers = append(ej.Spec.Template.EphemeralContainers, second)
			}),
			wantErrs: []string{specPath.Child("template", "ephemeralContainers").Index(1).Child("securityContext",
				"privileged").String() + ": " + baselineRefusal +
				`privileged (container "admin" must not set securityContext.privileged=true)`},
			wantWarnings: []string{baselineHint},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs, warnings := validatePodSecurity(namespaceWith(tt.labels, tt.annotations), &tt.job.Spec.Template,
				specPath.Child("template"))

			gotErrs := make([]string, 0, len(errs))
			for _, e := range errs {
				if e.Type != field.ErrorTypeForbidden {
					t.Errorf("error %v is not Forbidden", e)
				}
				gotErrs = append(gotErrs, e.Field+": "+e.Detail)
			}
			if msg := matchPrefixes(gotErrs, tt.wantErrs); msg != "" {
				t.Errorf("errors: %s", msg)
			}
			if msg := matchPrefixes(warnings, tt.wantWarnings); msg != "" {
				t.Errorf("warnings: %s", msg)
			}
		})
	}
}

// matchPrefixes returns "" when each of got begins with the prefix at the same place in want,
// and what differs otherwise.
func matchPrefixes(got, want []string) string {
	if len(got) != len(want) {
		return "got\n\t" + strings.Join(got, "\n\t") + "\nwant beginnings\n\t" + strings.Join(want, "\n\t")
	}
	for i := range got {
		if !strings.HasPrefix(got[i], want[i]) {
			return "got\n\t" + got[i] + "\nwant it to begin with\n\t" + want[i]
		}
	}
	return ""
}

// TestValidatePodSecurityMessages pins whole messages of the commonest case, a root busybox
// in a restricted namespace: the library's words, the fields and what to set.
func TestValidatePodSecurityMessages(t *testing.T) {
	ej := validJob()
	ns := namespaceWith(map[string]string{psaapi.EnforceLevelLabel: string(psaapi.LevelRestricted)}, nil)

	errs, warnings := validatePodSecurity(ns, &ej.Spec.Template, specPath.Child("template"))

	wantErrs := []string{
		`spec.template.ephemeralContainers[0].securityContext.allowPrivilegeEscalation: Forbidden: violates ` +
			`PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "debug" must set ` +
			`securityContext.allowPrivilegeEscalation=false)`,
		`spec.template.ephemeralContainers[0].securityContext.capabilities: Forbidden: violates ` +
			`PodSecurity "restricted:latest": unrestricted capabilities (container "debug" must set ` +
			`securityContext.capabilities.drop=["ALL"])`,
	}
	gotErrs := make([]string, 0, len(errs))
	for _, e := range errs {
		gotErrs = append(gotErrs, e.Error())
	}
	if diff := cmp.Diff(wantErrs, gotErrs); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	wantWarnings := []string{
		`would violate PodSecurity "restricted:latest" on pods that do not set at pod level what the template ` +
			`leaves unset, and those pods will refuse the injection: runAsNonRoot != true (pod or container "debug" ` +
			`must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "debug" must set ` +
			`securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`,
		`to pass PodSecurity "restricted:latest" on every pod, set securityContext {"capabilities":{"drop":["ALL"]},` +
			`"runAsUser":65534,"runAsNonRoot":true,"allowPrivilegeEscalation":false,"seccompProfile":` +
			`{"type":"RuntimeDefault"}} in each ephemeral container, as the "restricted" profile does`,
	}
	if diff := cmp.Diff(wantWarnings, warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// TestPodSecurityReasonFields checks that every reason the Pod Security checks give about a
// container's securityContext is named by a field, so that no error falls back to the
// container's path, and that the table names no reason the checks do not give.
func TestPodSecurityReasonFields(t *testing.T) {
	everything := corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: "debug",
		SecurityContext: &corev1.SecurityContext{
			Privileged:               new(true),
			Capabilities:             &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}},
			WindowsOptions:           &corev1.WindowsSecurityContextOptions{HostProcess: new(true)},
			ProcMount:                new(corev1.UnmaskedProcMount),
			SELinuxOptions:           &corev1.SELinuxOptions{User: "root"},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined},
			AppArmorProfile:          &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined},
			RunAsNonRoot:             new(false),
			RunAsUser:                new(int64(0)),
			AllowPrivilegeEscalation: new(true),
		},
	}}
	// A second container with another forbidden AppArmor profile makes the reason plural.
	other := *everything.DeepCopy()
	other.Name = "other"
	other.SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: "Custom"}

	seen := sets.New[string]()
	for _, level := range []psaapi.Level{psaapi.LevelBaseline, psaapi.LevelRestricted} {
		lv := psaapi.LevelVersion{Level: level, Version: psaapi.LatestVersion()}
		specs := []*corev1.PodSpec{bestCasePod(everything), worstCasePod(everything), worstCasePod(everything, other)}
		for _, spec := range specs {
			for _, result := range podSecurityEvaluator.EvaluatePod(lv, &metav1.ObjectMeta{}, spec) {
				if !result.Allowed {
					seen.Insert(result.ForbiddenReason)
				}
			}
		}
	}
	if diff := cmp.Diff(sets.List(sets.KeySet(podSecurityReasonFields)), sets.List(seen)); diff != "" {
		t.Errorf("reasons named by podSecurityReasonFields (-) and given by the checks (+):\n%s", diff)
	}
}
