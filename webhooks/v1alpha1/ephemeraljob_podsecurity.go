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
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/profile"
)

// Pod Security admission, in the API server, evaluates every pod the controller adds ephemeral
// containers to, as it stands with them, against the levels its namespace's
// pod-security.kubernetes.io labels name. The webhook runs the same checks, from the same
// library, on the job's template when the job is created or widened, so that a template the
// namespace refuses fails once at kubectl apply instead of on every pod.
//
// A template holds only ephemeral containers, which cannot set pod-level fields, while some
// checks accept a container that leaves a setting to its pod (runAsNonRoot, seccompProfile)
// or relax for a pod in its own user namespace (runAsNonRoot, runAsUser).
// The template is therefore evaluated twice, in a pod holding only its containers:
//   - in the most favourable pod (bestCasePod): what fails there fails on every pod of the
//     namespace, and the enforce level refuses the job, naming the fields;
//   - in a pod that sets nothing at pod level (worstCasePod): what fails only there fails on
//     the pods that do not make up for the template, and is a warning naming what to set.
//
// The namespace's own pods are not read: a pod that breaks the level by itself (created before
// the label, or under an exemption) refuses every injection, whatever the template.
//
// The exemptions of the API server's AdmissionConfiguration (usernames, runtime classes,
// namespaces) are not visible here, so a job the API server would let through under one of
// them is still refused. The way around is the annotation appsv1alpha1.AnnotationPodSecurityExempt
// on the namespace, which turns this check off there: for an exempt namespace, for every
// namespace where jobs should run when the controller's service account is an exempt username,
// and for a namespace whose targets all use an exempt runtime class. The annotation changes
// nothing for the API server, which still evaluates every injection.

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get

// podSecurityEvaluator runs the API server's Pod Security checks. The library's default checks
// are valid by construction, so an error building it is a programming error.
var podSecurityEvaluator = func() policy.Evaluator {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		panic(fmt.Sprintf("building the Pod Security evaluator: %v", err))
	}
	return evaluator
}()

// defaultPodSecurity is the policy the API server applies for a label that a namespace does
// not set, when its AdmissionConfiguration keeps the defaults: privileged, at the latest
// version. A cluster configured with other defaults is not visible to the webhook.
var defaultPodSecurity = psaapi.Policy{
	Enforce: psaapi.LevelVersion{Level: psaapi.LevelPrivileged, Version: psaapi.LatestVersion()},
	Audit:   psaapi.LevelVersion{Level: psaapi.LevelPrivileged, Version: psaapi.LatestVersion()},
	Warn:    psaapi.LevelVersion{Level: psaapi.LevelPrivileged, Version: psaapi.LatestVersion()},
}

// bestCasePod returns a pod holding only containers, with every pod-level setting that can only
// make the checks more lenient: runAsNonRoot and a RuntimeDefault seccomp profile, which the
// containers inherit, and its own user namespace (hostUsers: false), under which the checks
// accept a container that runs as root. It is a Linux pod: a pod that declares
// spec.os.name: windows skips the Linux checks, but counting on it would leave restricted
// nothing to refuse.
func bestCasePod(containers ...corev1.EphemeralContainer) *corev1.PodSpec {
	return &corev1.PodSpec{
		HostUsers: new(false),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   new(true),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		EphemeralContainers: containers,
	}
}

// worstCasePod returns a pod holding only containers and setting nothing at pod level: the
// least favourable of the pods that pass a level by themselves, since any pod-level setting
// a level forbids would make the pod fail on its own.
func worstCasePod(containers ...corev1.EphemeralContainer) *corev1.PodSpec {
	return &corev1.PodSpec{EphemeralContainers: containers}
}

// podSecurityReasonFields names, for the ForbiddenReason of each Pod Security check that looks
// at a container, the field of the container's securityContext that check is about. A reason
// not listed here is reported at the container's path.
var podSecurityReasonFields = map[string][]string{
	"allowPrivilegeEscalation != false": {"allowPrivilegeEscalation"},
	"non-default capabilities":          {"capabilities", "add"},
	"unrestricted capabilities":         {"capabilities"},
	"privileged":                        {"privileged"},
	"procMount":                         {"procMount"},
	"runAsNonRoot != true":              {"runAsNonRoot"},
	"runAsUser=0":                       {"runAsUser"},
	"seLinuxOptions":                    {"seLinuxOptions"},
	"seccompProfile":                    {"seccompProfile"},
	"forbidden AppArmor profile":        {"appArmorProfile"},
	"forbidden AppArmor profiles":       {"appArmorProfile"},
	"hostProcess":                       {"windowsOptions", "hostProcess"},
}

// validatePodSecurity returns the errors and the warnings of a template, found at fldPath, in
// the namespace ns, as the API server's Pod Security admission would give them for the pods
// the template is added to.
//
// The labels are read as the API server reads them, with the same library: an unset label
// means privileged at the latest version, an enforce level that cannot be parsed means
// restricted, a warn or audit level that cannot be parsed means privileged, a version that
// cannot be parsed means latest; a warning says which labels are invalid. latest is the
// newest version this library knows (that of the k8s.io modules the operator is built with).
//
// The enforce level refuses what fails in the best case and warns about what fails only in
// the worst case; the warn and audit levels warn about what fails in the worst case, as they
// refuse nothing. As the API server does, the warn and audit levels add nothing when the
// enforce level refuses, or when they are the same level and version as it.
func validatePodSecurity(
	ns *corev1.Namespace, tmpl *appsv1alpha1.EphemeralContainerTemplateSpec, fldPath *field.Path,
) (field.ErrorList, []string) {
	if ns.Annotations[appsv1alpha1.AnnotationPodSecurityExempt] == "true" {
		return nil, nil
	}
	nsPolicy, labelErrs := psaapi.PolicyToEvaluate(ns.Labels, defaultPodSecurity)
	var warnings []string
	if len(labelErrs) > 0 {
		warnings = append(warnings, fmt.Sprintf("namespace %q has invalid Pod Security labels, evaluated as the API "+
			"server does (an invalid enforce level as restricted, an invalid warn or audit level as privileged, an "+
			"invalid version as latest): %v", ns.Name, labelErrs.ToAggregate()))
	}
	if nsPolicy.FullyPrivileged() {
		return nil, warnings
	}

	errs, enforceWarnings := enforcePodSecurity(nsPolicy.Enforce, tmpl, fldPath)
	warnings = append(warnings, enforceWarnings...)
	if len(errs) > 0 {
		return errs, warnings
	}
	if !nsPolicy.Warn.Equivalent(&nsPolicy.Enforce) {
		if result := evaluate(nsPolicy.Warn, worstCasePod(tmpl.EphemeralContainers...)); !result.Allowed {
			warnings = append(warnings, fmt.Sprintf("would violate PodSecurity %q: %s",
				nsPolicy.Warn, result.ForbiddenDetail()))
		}
	}
	if !nsPolicy.Audit.Equivalent(&nsPolicy.Enforce) && !nsPolicy.Audit.Equivalent(&nsPolicy.Warn) {
		if result := evaluate(nsPolicy.Audit, worstCasePod(tmpl.EphemeralContainers...)); !result.Allowed {
			warnings = append(warnings, fmt.Sprintf("would violate PodSecurity %q (audited, not enforced): %s",
				nsPolicy.Audit, result.ForbiddenDetail()))
		}
	}
	return errs, warnings
}

// enforcePodSecurity evaluates each container of tmpl alone against the enforce level lv, and
// returns an error for each check that fails in the best case, at the field the check is about,
// and one warning for the checks that fail only in the worst case. Either comes with a warning
// on how to pass the level.
func enforcePodSecurity(
	lv psaapi.LevelVersion, tmpl *appsv1alpha1.EphemeralContainerTemplateSpec, fldPath *field.Path,
) (field.ErrorList, []string) {
	if lv.Level == psaapi.LevelPrivileged {
		return nil, nil
	}
	ecPath := fldPath.Child("ephemeralContainers")
	var errs field.ErrorList
	var worstOnly []policy.CheckResult
	for i, c := range tmpl.EphemeralContainers {
		best := podSecurityEvaluator.EvaluatePod(lv, &metav1.ObjectMeta{}, bestCasePod(c))
		failedAtBest := map[string]bool{}
		for _, result := range best {
			if result.Allowed {
				continue
			}
			failedAtBest[result.ForbiddenReason] = true
			errs = append(errs, field.Forbidden(podSecurityField(ecPath.Index(i), result.ForbiddenReason),
				fmt.Sprintf("violates PodSecurity %q: %s", lv, detail(result))))
		}
		for _, result := range podSecurityEvaluator.EvaluatePod(lv, &metav1.ObjectMeta{}, worstCasePod(c)) {
			if !result.Allowed && !failedAtBest[result.ForbiddenReason] {
				worstOnly = append(worstOnly, result)
			}
		}
	}
	var warnings []string
	if len(worstOnly) > 0 {
		aggregate := policy.AggregateCheckResults(worstOnly)
		warnings = append(warnings, fmt.Sprintf("would violate PodSecurity %q on pods that do not set at pod level "+
			"what the template leaves unset, and those pods will refuse the injection: %s", lv, aggregate.ForbiddenDetail()))
	}
	if len(errs) > 0 || len(worstOnly) > 0 {
		warnings = append(warnings, podSecurityHint(lv))
	}
	return errs, warnings
}

// evaluate runs the Pod Security checks of lv on the pod spec.
func evaluate(lv psaapi.LevelVersion, spec *corev1.PodSpec) policy.AggregateCheckResult {
	return policy.AggregateCheckResults(podSecurityEvaluator.EvaluatePod(lv, &metav1.ObjectMeta{}, spec))
}

// detail formats a failed check as the API server formats each one in its messages.
func detail(result policy.CheckResult) string {
	aggregate := policy.AggregateCheckResults([]policy.CheckResult{result})
	return aggregate.ForbiddenDetail()
}

// podSecurityField returns the path of the field that the check that failed with reason is
// about, in the container at containerPath.
func podSecurityField(containerPath *field.Path, reason string) *field.Path {
	names, ok := podSecurityReasonFields[reason]
	if !ok {
		return containerPath
	}
	return containerPath.Child("securityContext", names...)
}

// podSecurityHint says how to make every container of a template pass lv on every pod: what
// the profile for that level sets, or, when it only removes settings, that the named ones go.
func podSecurityHint(lv psaapi.LevelVersion) string {
	name := profile.ForLevel(lv.Level)
	c := &corev1.EphemeralContainer{}
	if err := profile.Apply(name, c); err != nil || c.SecurityContext == nil {
		return fmt.Sprintf("to pass PodSecurity %q on every pod, remove the settings named from each ephemeral "+
			"container's securityContext, as the %q profile does", lv, name)
	}
	sc, err := json.Marshal(c.SecurityContext)
	if err != nil {
		return fmt.Sprintf("to pass PodSecurity %q on every pod, apply the %q profile to each ephemeral container", lv, name)
	}
	return fmt.Sprintf("to pass PodSecurity %q on every pod, set securityContext %s in each ephemeral container, "+
		"as the %q profile does", lv, sc, name)
}
