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
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// loadJob reads an EphemeralJob manifest from config/samples, where the proposal's manifests are.
func loadJob(t testing.TB, name string) *appsv1alpha1.EphemeralJob {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", name))
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	ej := &appsv1alpha1.EphemeralJob{}
	if err := yaml.UnmarshalStrict(data, ej); err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
	return ej
}

// validJob returns a job that passes every create rule.
func validJob() *appsv1alpha1.EphemeralJob {
	return &appsv1alpha1.EphemeralJob{
		ObjectMeta: metav1.ObjectMeta{Name: "ej", Namespace: "ns"},
		Spec: appsv1alpha1.EphemeralJobSpec{
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Replicas:    ptr.To[int32](3),
			Parallelism: ptr.To[int32](1),
			Template: appsv1alpha1.EphemeralContainerTemplateSpec{
				EphemeralContainers: []corev1.EphemeralContainer{{
					EphemeralContainerCommon: corev1.EphemeralContainerCommon{
						Name:                     "debug",
						Image:                    "busybox:latest",
						Command:                  []string{"sleep", "10"},
						ImagePullPolicy:          corev1.PullIfNotPresent,
						TerminationMessagePolicy: corev1.TerminationMessageReadFile,
					},
					TargetContainerName: "web",
				}},
			},
		},
	}
}

// withJob returns validJob changed by mutate.
func withJob(mutate func(ej *appsv1alpha1.EphemeralJob)) *appsv1alpha1.EphemeralJob {
	ej := validJob()
	mutate(ej)
	return ej
}

// withContainer returns validJob with its first ephemeral container changed by mutate.
func withContainer(mutate func(ec *corev1.EphemeralContainer)) *appsv1alpha1.EphemeralJob {
	return withJob(func(ej *appsv1alpha1.EphemeralJob) { mutate(&ej.Spec.Template.EphemeralContainers[0]) })
}

// Details of the errors validate reports, as users read them.
const (
	cannotBeSet     = "cannot be set for an Ephemeral Container"
	outsideOneToTen = "must be between 1 and 10, inclusive"
	targetRequired  = "the container whose namespaces the ephemeral container shares"
)

var (
	specPath = field.NewPath("spec")
	ec0Path  = specPath.Child("template", "ephemeralContainers").Index(0)
)

func TestValidateCreate(t *testing.T) {
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
	emptySelector := &metav1.LabelSelector{}

	tests := []struct {
		name string
		job  *appsv1alpha1.EphemeralJob
		want field.ErrorList
	}{
		{name: "proposal story 1 manifest", job: loadJob(t, "story1_ephemeraljob.yaml")},
		{name: "proposal story 2 manifest", job: loadJob(t, "story2_ephemeraljob.yaml")},
		{name: "valid job", job: validJob()},
		{
			name: "optional fields unset",
			job: withJob(func(ej *appsv1alpha1.EphemeralJob) {
				ej.Spec.Replicas, ej.Spec.Parallelism = nil, nil
			}),
		},
		{
			name: "bounds of numeric fields",
			job: withJob(func(ej *appsv1alpha1.EphemeralJob) {
				ej.Spec.Replicas = ptr.To[int32](0)
				ej.Spec.Parallelism = ptr.To[int32](10)
				ej.Spec.TTLSecondsAfterCreated = ptr.To[int32](0)
				ej.Spec.TTLSecondsAfterFinished = ptr.To[int32](0)
				ej.Spec.ActiveDeadlineSeconds = ptr.To[int64](1)
			}),
		},
		{
			name: "selector by expression",
			job: withJob(func(ej *appsv1alpha1.EphemeralJob) {
				ej.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "app", Operator: metav1.LabelSelectorOpExists},
				}}
			}),
		},
		{
			name: "allowed container fields",
			job: withContainer(func(ec *corev1.EphemeralContainer) {
				ec.ImagePullPolicy = corev1.PullAlways
				ec.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
				ec.Env = []corev1.EnvVar{{Name: "MY.env-name_1", Value: "x"}}
				ec.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
				ec.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(false)}
				ec.Stdin, ec.StdinOnce, ec.TTY = true, true, true
			}),
		},
		{
			name: "selector missing",
			job:  withJob(func(ej *appsv1alpha1.EphemeralJob) { ej.Spec.Selector = nil }),
			want: field.ErrorList{field.Required(specPath.Child("selector"), "")},
		},
		{
			name: "selector empty",
			job:  withJob(func(ej *appsv1alpha1.EphemeralJob) { ej.Spec.Selector = emptySelector }),
			want: field.ErrorList{field.Invalid(specPath.Child("selector"), emptySelector,
				"must not be empty: an empty selector matches every pod in the namespace")},
		},
		{
			name: "selector invalid",
			job: withJob(func(ej *appsv1alpha1.EphemeralJob) {
				ej.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "app", Operator: metav1.LabelSelectorOpIn},
				}}
			}),
			want: field.ErrorList{field.Required(specPath.Child("selector", "matchExpressions").Index(0).Child("values"),
				"must be specified when `operator` is 'In' or 'NotIn'")},
		},
		{
			name: "no ephemeral containers",
			job:  withJob(func(ej *appsv1alpha1.EphemeralJob) { ej.Spec.Template.EphemeralContainers = nil }),
			want: field.ErrorList{field.Required(specPath.Child("template", "ephemeralContainers"),
				"at least one ephemeral container is required")},
		},
		{
			name: "name empty",
			job:  withContainer(func(ec *corev1.EphemeralContainer) { ec.Name = "" }),
			want: field.ErrorList{field.Required(ec0Path.Child("name"), "")},
		},
		{
			name: "name not a DNS label",
			job:  withContainer(func(ec *corev1.EphemeralContainer) { ec.Name = "Debug_1" }),
			want: field.ErrorList{field.Invalid(ec0Path.Child("name"), "Debug_1", utilvalidation.IsDNS1123Label("Debug_1")[0])},
		},
		{
			name: "names not unique",
			job: withJob(func(ej *appsv1alpha1.EphemeralJob) {
				ecs := ej.Spec.Template.EphemeralContainers
				ej.Spec.Template.EphemeralContainers = append(ecs, ecs[0], ecs[0])
			}),
			want: field.ErrorList{
				field.Duplicate(specPath.Child("template", "ephemeralContainers").Index(1).Child("name"), "debug"),
				field.Duplicate(specPath.Child("template", "ephemeralContainers").Index(2).Child("name"), "debug"),
			},
		},
		{
			name: "image empty",
			job:  withContainer(func(ec *corev1.EphemeralContainer) { ec.Image = "" }),
			want: field.ErrorList{field.Required(ec0Path.Child("image"), "")},
		},
		{
			name: "image with surrounding whitespace",
			job:  withContainer(func(ec *corev1.EphemeralContainer) { ec.Image = " busybox " }),
			want: field.ErrorList{field.Invalid(ec0Path.Child("image"), " busybox ",
				"must not have leading or trailing whitespace")},
		},
		{
			name: "imagePullPolicy empty",
			job:  withContainer(func(ec *corev1.EphemeralContainer) { ec.ImagePullPolicy = "" }),
			want: field.ErrorList{field.Required(ec0Path.Child("imagePullPolicy"), "")},
		},
		{
			name: "imagePullPolicy unknown",
			job:  withContainer(func(ec *corev1.EphemeralContainer) { ec.ImagePullPolicy = "Sometimes" }),
			want: field.ErrorList{field.NotSupported(ec0Path.Child("imagePullPolicy"), corev1.PullPolicy("Sometimes"),
				[]corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever})},
		},
		{
			name: "terminationMessagePolicy empty",
			job:  withContainer(func(ec *corev1.EphemeralContainer) { ec.TerminationMessagePolicy = "" }),
			want: field.ErrorList{field.Required(ec0Path.Child("terminationMessagePolicy"), "")},
		},
		{
			name: "terminationMessagePolicy unknown",
			job:  withContainer(func(ec *corev1.EphemeralContainer) { ec.TerminationMessagePolicy = "Stdout" }),
			want: field.ErrorList{field.NotSupported(ec0Path.Child("terminationMessagePolicy"),
				corev1.TerminationMessagePolicy("Stdout"),
				[]corev1.TerminationMessagePolicy{
					corev1.TerminationMessageReadFile,
					corev1.TerminationMessageFallbackToLogsOnError,
				})},
		},
		{
			name: "targetContainerName empty",
			job:  withContainer(func(ec *corev1.EphemeralContainer) { ec.TargetContainerName = "" }),
			want: field.ErrorList{field.Required(ec0Path.Child("targetContainerName"), targetRequired)},
		},
		{
			name: "targetContainerName not a container name",
			job:  withContainer(func(ec *corev1.EphemeralContainer) { ec.TargetContainerName = "Web" }),
			want: field.ErrorList{field.Invalid(ec0Path.Child("targetContainerName"), "Web",
				utilvalidation.IsDNS1123Label("Web")[0])},
		},
		{
			name: "ports forbidden",
			job: withContainer(func(ec *corev1.EphemeralContainer) {
				ec.Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}}
			}),
			want: field.ErrorList{field.Forbidden(ec0Path.Child("ports"), cannotBeSet)},
		},
		{
			name: "resources forbidden",
			job: withContainer(func(ec *corev1.EphemeralContainer) {
				ec.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}
			}),
			want: field.ErrorList{field.Forbidden(ec0Path.Child("resources"), cannotBeSet)},
		},
		{
			name: "resizePolicy forbidden",
			job: withContainer(func(ec *corev1.EphemeralContainer) {
				ec.ResizePolicy = []corev1.ContainerResizePolicy{
					{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.NotRequired},
				}
			}),
			want: field.ErrorList{field.Forbidden(ec0Path.Child("resizePolicy"), cannotBeSet)},
		},
		{
			name: "restartPolicy forbidden",
			job: withContainer(func(ec *corev1.EphemeralContainer) {
				ec.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
			}),
			want: field.ErrorList{field.Forbidden(ec0Path.Child("restartPolicy"), cannotBeSet)},
		},
		{
			name: "restartPolicyRules forbidden",
			job: withContainer(func(ec *corev1.EphemeralContainer) {
				ec.RestartPolicyRules = []corev1.ContainerRestartRule{{Action: corev1.ContainerRestartRuleActionRestart}}
			}),
			want: field.ErrorList{field.Forbidden(ec0Path.Child("restartPolicyRules"), cannotBeSet)},
		},
		{
			name: "livenessProbe forbidden",
			job:  withContainer(func(ec *corev1.EphemeralContainer) { ec.LivenessProbe = probe }),
			want: field.ErrorList{field.Forbidden(ec0Path.Child("livenessProbe"), cannotBeSet)},
		},
		{
			name: "readinessProbe forbidden",
			job:  withContainer(func(ec *corev1.EphemeralContainer) { ec.ReadinessProbe = probe }),
			want: field.ErrorList{field.Forbidden(ec0Path.Child("readinessProbe"), cannotBeSet)},
		},
		{
			name: "startupProbe forbidden",
			job:  withContainer(func(ec *corev1.EphemeralContainer) { ec.StartupProbe = probe }),
			want: field.ErrorList{field.Forbidden(ec0Path.Child("startupProbe"), cannotBeSet)},
		},
		{
			name: "lifecycle forbidden",
			job: withContainer(func(ec *corev1.EphemeralContainer) {
				ec.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: probe.Exec}}
			}),
			want: field.ErrorList{field.Forbidden(ec0Path.Child("lifecycle"), cannotBeSet)},
		},
		{
			name: "volume mount subPath and subPathExpr forbidden",
			job: withContainer(func(ec *corev1.EphemeralContainer) {
				ec.VolumeMounts = []corev1.VolumeMount{
					{Name: "data", MountPath: "/a", SubPath: "x"},
					{Name: "data", MountPath: "/b", SubPathExpr: "$(POD_NAME)"},
				}
			}),
			want: field.ErrorList{
				field.Forbidden(ec0Path.Child("volumeMounts").Index(0).Child("subPath"), cannotBeSet),
				field.Forbidden(ec0Path.Child("volumeMounts").Index(1).Child("subPathExpr"), cannotBeSet),
			},
		},
		{
			name: "env names empty or invalid",
			job: withContainer(func(ec *corev1.EphemeralContainer) {
				ec.Env = []corev1.EnvVar{{Name: ""}, {Name: "A=B"}, {Name: "ÜBER"}}
			}),
			want: field.ErrorList{
				field.Required(envName(0), ""),
				field.Invalid(envName(1), "A=B", utilvalidation.IsRelaxedEnvVarName("A=B")[0]),
				field.Invalid(envName(2), "ÜBER", utilvalidation.IsRelaxedEnvVarName("ÜBER")[0]),
			},
		},
		{
			name: "env names the controller sets",
			job: withContainer(func(ec *corev1.EphemeralContainer) {
				ec.Env = []corev1.EnvVar{
					{Name: appsv1alpha1.EnvJobName, Value: "other"},
					{Name: appsv1alpha1.EnvJobUID, Value: "x"},
					{Name: appsv1alpha1.EnvJobIndex, Value: "0"},
					{Name: "EPHEMERALJOB_uid", Value: "not reserved"},
				}
			}),
			want: field.ErrorList{
				field.Forbidden(envName(0), `"ephemeraljob" is set by the EphemeralJob controller`),
				field.Forbidden(envName(1), `"EPHEMERALJOB_UID" is set by the EphemeralJob controller`),
				field.Forbidden(envName(2), `"EPHEMERALJOB_INDEX" is set by the EphemeralJob controller`),
			},
		},
		{
			name: "parallelism zero",
			job:  withJob(func(ej *appsv1alpha1.EphemeralJob) { ej.Spec.Parallelism = ptr.To[int32](0) }),
			want: field.ErrorList{field.Invalid(specPath.Child("parallelism"), int32(0), outsideOneToTen)},
		},
		{
			name: "parallelism above ten",
			job:  withJob(func(ej *appsv1alpha1.EphemeralJob) { ej.Spec.Parallelism = ptr.To[int32](11) }),
			want: field.ErrorList{field.Invalid(specPath.Child("parallelism"), int32(11), outsideOneToTen)},
		},
		{
			name: "replicas negative",
			job:  withJob(func(ej *appsv1alpha1.EphemeralJob) { ej.Spec.Replicas = ptr.To[int32](-1) }),
			want: field.ErrorList{field.Invalid(specPath.Child("replicas"), int64(-1), "must be greater than or equal to 0")},
		},
		{
			name: "TTLs negative",
			job: withJob(func(ej *appsv1alpha1.EphemeralJob) {
				ej.Spec.TTLSecondsAfterCreated = ptr.To[int32](-1)
				ej.Spec.TTLSecondsAfterFinished = ptr.To[int32](-2)
			}),
			want: field.ErrorList{
				field.Invalid(specPath.Child("ttlSecondsAfterCreated"), int64(-1), "must be greater than or equal to 0"),
				field.Invalid(specPath.Child("ttlSecondsAfterFinished"), int64(-2), "must be greater than or equal to 0"),
			},
		},
		{
			name: "activeDeadlineSeconds zero",
			job:  withJob(func(ej *appsv1alpha1.EphemeralJob) { ej.Spec.ActiveDeadlineSeconds = ptr.To[int64](0) }),
			want: field.ErrorList{field.Invalid(specPath.Child("activeDeadlineSeconds"), int64(0),
				"must be greater than or equal to 1")},
		},
		{
			name: "failureBudget zero",
			job:  withJob(func(ej *appsv1alpha1.EphemeralJob) { ej.Spec.FailureBudget = ptr.To[int32](0) }),
			want: field.ErrorList{field.Invalid(specPath.Child("failureBudget"), int64(0),
				"must be greater than or equal to 1")},
		},
		{
			name: "maxEphemeralContainersPerPod out of range",
			job: withJob(func(ej *appsv1alpha1.EphemeralJob) {
				ej.Spec.MaxEphemeralContainersPerPod = ptr.To[int32](1001)
			}),
			want: field.ErrorList{field.Invalid(specPath.Child("maxEphemeralContainersPerPod"), int32(1001),
				"must be between 1 and 1000, inclusive")},
		},
		{
			name: "every problem is reported",
			job: withJob(func(ej *appsv1alpha1.EphemeralJob) {
				ej.Spec.Selector = nil
				ej.Spec.Parallelism = ptr.To[int32](20)
				ec := corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
					Ports: []corev1.ContainerPort{{ContainerPort: 80}},
				}}
				ej.Spec.Template.EphemeralContainers = append(ej.Spec.Template.EphemeralContainers, ec)
			}),
			want: field.ErrorList{
				field.Required(specPath.Child("selector"), ""),
				field.Invalid(specPath.Child("parallelism"), int32(20), outsideOneToTen),
				field.Required(ec1Path().Child("name"), ""),
				field.Required(ec1Path().Child("image"), ""),
				field.Required(ec1Path().Child("imagePullPolicy"), ""),
				field.Required(ec1Path().Child("terminationMessagePolicy"), ""),
				field.Required(ec1Path().Child("targetContainerName"), targetRequired),
				field.Forbidden(ec1Path().Child("ports"), cannotBeSet),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := validate(nil, tt.job)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("validate(nil, job) mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// ec1Path is the path of the second ephemeral container.
func ec1Path() *field.Path {
	return specPath.Child("template", "ephemeralContainers").Index(1)
}

// envName is the path of the name of the i-th environment variable of the first ephemeral container.
func envName(i int) *field.Path {
	return ec0Path.Child("env").Index(i).Child("name")
}

func TestValidateUpdate(t *testing.T) {
	const msg = "may not be changed after creation: only spec.parallelism, spec.replicas and spec.paused may change"
	withPorts := func(ej *appsv1alpha1.EphemeralJob) {
		ej.Spec.Template.EphemeralContainers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80}}
	}

	tests := []struct {
		name     string
		old, new *appsv1alpha1.EphemeralJob
		want     field.ErrorList
	}{
		{name: "no change", old: validJob(), new: validJob()},
		{
			name: "parallelism, replicas and paused change",
			old:  validJob(),
			new: withJob(func(ej *appsv1alpha1.EphemeralJob) {
				ej.Spec.Parallelism = ptr.To[int32](5)
				ej.Spec.Replicas = nil
				ej.Spec.Paused = true
			}),
		},
		{
			name: "metadata and status change",
			old:  validJob(),
			new: withJob(func(ej *appsv1alpha1.EphemeralJob) {
				ej.Labels = map[string]string{"team": "sre"}
				ej.Finalizers = []string{"example.com/keep"}
				ej.Status.Phase = appsv1alpha1.EphemeralJobRunning
				ej.Status.Match = 3
			}),
		},
		{
			name: "selector changes",
			old:  validJob(),
			new: withJob(func(ej *appsv1alpha1.EphemeralJob) {
				ej.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
			}),
			want: field.ErrorList{field.Forbidden(specPath.Child("selector", "matchLabels").Key("app"), msg)},
		},
		{
			name: "template image changes",
			old:  validJob(),
			new: withContainer(func(ec *corev1.EphemeralContainer) {
				ec.Image = "alpine:3"
			}),
			want: field.ErrorList{field.Forbidden(ec0Path.Child("image"), msg)},
		},
		{
			name: "template gets another container",
			old:  validJob(),
			new: withJob(func(ej *appsv1alpha1.EphemeralJob) {
				second := *ej.Spec.Template.EphemeralContainers[0].DeepCopy()
				second.Name = "debug-2"
				ej.Spec.Template.EphemeralContainers = append(ej.Spec.Template.EphemeralContainers, second)
			}),
			want: field.ErrorList{field.Forbidden(specPath.Child("template", "ephemeralContainers"),
				"may not be changed after creation (had 1 container, now 2): "+
					"only spec.parallelism, spec.replicas and spec.paused may change")},
		},
		{
			name: "ttlSecondsAfterCreated set",
			old:  validJob(),
			new:  withJob(func(ej *appsv1alpha1.EphemeralJob) { ej.Spec.TTLSecondsAfterCreated = ptr.To[int32](60) }),
			want: field.ErrorList{field.Forbidden(specPath.Child("ttlSecondsAfterCreated"), msg)},
		},
		{
			name: "ttlSecondsAfterFinished changes",
			old:  withJob(func(ej *appsv1alpha1.EphemeralJob) { ej.Spec.TTLSecondsAfterFinished = ptr.To[int32](60) }),
			new:  withJob(func(ej *appsv1alpha1.EphemeralJob) { ej.Spec.TTLSecondsAfterFinished = ptr.To[int32](120) }),
			want: field.ErrorList{field.Forbidden(specPath.Child("ttlSecondsAfterFinished"), msg)},
		},
		{
			name: "activeDeadlineSeconds removed",
			old:  withJob(func(ej *appsv1alpha1.EphemeralJob) { ej.Spec.ActiveDeadlineSeconds = ptr.To[int64](600) }),
			new:  validJob(),
			want: field.ErrorList{field.Forbidden(specPath.Child("activeDeadlineSeconds"), msg)},
		},
		{
			name: "several immutable fields change",
			old:  validJob(),
			new: withJob(func(ej *appsv1alpha1.EphemeralJob) {
				ej.Spec.Selector.MatchLabels["tier"] = "front"
				ej.Spec.ActiveDeadlineSeconds = ptr.To[int64](30)
				ej.Spec.Parallelism = ptr.To[int32](2)
			}),
			want: field.ErrorList{
				field.Forbidden(specPath.Child("selector", "matchLabels").Key("tier"), msg),
				field.Forbidden(specPath.Child("activeDeadlineSeconds"), msg),
			},
		},
		{
			name: "new parallelism breaks a create rule",
			old:  validJob(),
			new:  withJob(func(ej *appsv1alpha1.EphemeralJob) { ej.Spec.Parallelism = ptr.To[int32](11) }),
			want: field.ErrorList{field.Invalid(specPath.Child("parallelism"), int32(11), outsideOneToTen)},
		},
		{
			name: "new replicas breaks a create rule",
			old:  validJob(),
			new:  withJob(func(ej *appsv1alpha1.EphemeralJob) { ej.Spec.Replicas = ptr.To[int32](-3) }),
			want: field.ErrorList{field.Invalid(specPath.Child("replicas"), int64(-3), "must be greater than or equal to 0")},
		},
		{
			name: "changed template is checked by the create rules too",
			old:  validJob(),
			new:  withJob(withPorts),
			want: field.ErrorList{
				field.Forbidden(ec0Path.Child("ports"), cannotBeSet),
				field.Forbidden(ec0Path.Child("ports"), "may not be changed after creation (had 0 items, now 1): "+
					"only spec.parallelism, spec.replicas and spec.paused may change"),
			},
		},
		{
			name: "problem stored before the rules existed does not block a label change",
			old:  withJob(withPorts),
			new: withJob(func(ej *appsv1alpha1.EphemeralJob) {
				withPorts(ej)
				ej.Labels = map[string]string{"team": "sre"}
			}),
		},
		{
			name: "problem stored before the rules existed does not hide a new one",
			old:  withJob(withPorts),
			new: withJob(func(ej *appsv1alpha1.EphemeralJob) {
				withPorts(ej)
				ej.Spec.Parallelism = ptr.To[int32](0)
			}),
			want: field.ErrorList{field.Invalid(specPath.Child("parallelism"), int32(0), outsideOneToTen)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := validate(tt.old, tt.new)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("validate(old, new) mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateUpdateNamesDeepestChangedField(t *testing.T) {
	const (
		forbidden = ": Forbidden: may not be changed after creation: " +
			"only spec.parallelism, spec.replicas and spec.paused may change"
		ec0 = "spec.template.ephemeralContainers[0]"
		ec1 = "spec.template.ephemeralContainers[1]"
	)
	lengthChanged := func(path, lengths string) string {
		return path + ": Forbidden: may not be changed after creation (" + lengths + "): " +
			"only spec.parallelism, spec.replicas and spec.paused may change"
	}
	withEnv := func(ej *appsv1alpha1.EphemeralJob) {
		second := *ej.Spec.Template.EphemeralContainers[0].DeepCopy()
		second.Name = "debug-2"
		second.Env = []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}, {Name: "C", Value: "3"}}
		ej.Spec.Template.EphemeralContainers = append(ej.Spec.Template.EphemeralContainers, second)
	}
	withCapabilities := func(ec *corev1.EphemeralContainer) {
		ec.SecurityContext = &corev1.SecurityContext{
			Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_PTRACE"}},
		}
	}
	withManyEnv := func(value string) func(ec *corev1.EphemeralContainer) {
		return func(ec *corev1.EphemeralContainer) {
			for i := range 15 {
				ec.Env = append(ec.Env, corev1.EnvVar{Name: fmt.Sprintf("V%02d", i), Value: value})
			}
		}
	}
	withCPULimit := func(cpu string) func(ec *corev1.EphemeralContainer) {
		return func(ec *corev1.EphemeralContainer) {
			ec.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
		}
	}

	tests := []struct {
		name     string
		old, new *appsv1alpha1.EphemeralJob
		want     []string
	}{
		{
			name: "image",
			old:  validJob(),
			new:  withContainer(func(ec *corev1.EphemeralContainer) { ec.Image = "alpine:3" }),
			want: []string{ec0 + ".image" + forbidden},
		},
		{
			name: "value of one environment variable of the second container",
			old:  withJob(withEnv),
			new: withJob(func(ej *appsv1alpha1.EphemeralJob) {
				withEnv(ej)
				ej.Spec.Template.EphemeralContainers[1].Env[2].Value = "4"
			}),
			want: []string{ec1 + ".env[2].value" + forbidden},
		},
		{
			name: "value of a label of the selector",
			old:  validJob(),
			new:  withJob(func(ej *appsv1alpha1.EphemeralJob) { ej.Spec.Selector.MatchLabels["app"] = "db" }),
			want: []string{"spec.selector.matchLabels[app]" + forbidden},
		},
		{
			name: "label added to the selector, its key named as written",
			old:  validJob(),
			new: withJob(func(ej *appsv1alpha1.EphemeralJob) {
				ej.Spec.Selector.MatchLabels["app.kubernetes.io/name"] = "web"
			}),
			want: []string{"spec.selector.matchLabels[app.kubernetes.io/name]" + forbidden},
		},
		{
			name: "one value of a selector expression",
			old: withJob(func(ej *appsv1alpha1.EphemeralJob) {
				ej.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{
					{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"front", "back"}},
				}
			}),
			new: withJob(func(ej *appsv1alpha1.EphemeralJob) {
				ej.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{
					{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"front", "cache"}},
				}
			}),
			want: []string{"spec.selector.matchExpressions[0].values[1]" + forbidden},
		},
		{
			name: "added capability",
			old:  withContainer(withCapabilities),
			new: withContainer(func(ec *corev1.EphemeralContainer) {
				withCapabilities(ec)
				ec.SecurityContext.Capabilities.Add[0] = "NET_ADMIN"
			}),
			want: []string{ec0 + ".securityContext.capabilities.add[0]" + forbidden},
		},
		{
			name: "security context set where there was none",
			old:  validJob(),
			new: withContainer(func(ec *corev1.EphemeralContainer) {
				ec.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
			}),
			want: []string{ec0 + ".securityContext.privileged" + forbidden},
		},
		{
			name: "empty security context set where there was none",
			old:  validJob(),
			new:  withContainer(func(ec *corev1.EphemeralContainer) { ec.SecurityContext = &corev1.SecurityContext{} }),
			want: []string{ec0 + ".securityContext" + forbidden},
		},
		{
			name: "container added",
			old:  validJob(),
			new:  withJob(withEnv),
			want: []string{lengthChanged("spec.template.ephemeralContainers", "had 1 container, now 2")},
		},
		{
			name: "container removed",
			old:  withJob(withEnv),
			new:  validJob(),
			want: []string{lengthChanged("spec.template.ephemeralContainers", "had 2 containers, now 1")},
		},
		{
			name: "argument appended to the command",
			old:  validJob(),
			new:  withContainer(func(ec *corev1.EphemeralContainer) { ec.Command = append(ec.Command, "20") }),
			want: []string{lengthChanged(ec0+".command", "had 2 items, now 3")},
		},
		{
			name: "several fields of one container, in the order of their names",
			old:  validJob(),
			new: withContainer(func(ec *corev1.EphemeralContainer) {
				ec.WorkingDir = "/tmp"
				ec.Image = "alpine:3"
				ec.Command[1] = "20"
			}),
			want: []string{ec0 + ".command[1]" + forbidden, ec0 + ".image" + forbidden, ec0 + ".workingDir" + forbidden},
		},
		{
			name: "an empty list for none is no change",
			old:  validJob(),
			new:  withContainer(func(ec *corev1.EphemeralContainer) { ec.Args = []string{} }),
		},
		{
			name: "an empty list for none is not named beside a change",
			old:  validJob(),
			new: withContainer(func(ec *corev1.EphemeralContainer) {
				ec.Args = []string{}
				ec.Image = "alpine:3"
			}),
			want: []string{ec0 + ".image" + forbidden},
		},
		{
			name: "the same quantity written differently is no change",
			old:  withContainer(withCPULimit("1")),
			new:  withContainer(withCPULimit("1000m")),
		},
		{
			name: "a quantity that changes is named by its key",
			old:  withContainer(withCPULimit("1")),
			new:  withContainer(withCPULimit("2")),
			want: []string{ec0 + ".resources.limits[cpu]" + forbidden},
		},
		{
			name: "int64 values that a float64 cannot tell apart",
			old: withContainer(func(ec *corev1.EphemeralContainer) {
				ec.SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](1 << 62)}
			}),
			new: withContainer(func(ec *corev1.EphemeralContainer) {
				ec.SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](1<<62 + 1)}
			}),
			want: []string{ec0 + ".securityContext.runAsUser" + forbidden},
		},
		{
			name: "TTL removed",
			old:  withJob(func(ej *appsv1alpha1.EphemeralJob) { ej.Spec.TTLSecondsAfterCreated = ptr.To[int32](60) }),
			new:  validJob(),
			want: []string{"spec.ttlSecondsAfterCreated" + forbidden},
		},
		{
			name: "at most ten changed fields, then how many more",
			old:  withContainer(withManyEnv("old")),
			new:  withContainer(withManyEnv("new")),
			want: []string{
				ec0 + ".env[0].value" + forbidden,
				ec0 + ".env[1].value" + forbidden,
				ec0 + ".env[2].value" + forbidden,
				ec0 + ".env[3].value" + forbidden,
				ec0 + ".env[4].value" + forbidden,
				ec0 + ".env[5].value" + forbidden,
				ec0 + ".env[6].value" + forbidden,
				ec0 + ".env[7].value" + forbidden,
				ec0 + ".env[8].value" + forbidden,
				ec0 + ".env[9].value" + forbidden,
				"spec: Forbidden: 5 more fields changed, which may not be changed after creation: " +
					"only spec.parallelism, spec.replicas and spec.paused may change",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range validate(tt.old, tt.new) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("validate(old, new) errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMapFieldsCoverEveryMapField fails when a map is added to the spec, at any depth, that
// mapFields does not list, so that the keys of that map are not shown as field names; and when
// a name in mapFields is also the name of a field that is not a map, which would show that
// field's fields as keys.
func TestMapFieldsCoverEveryMapField(t *testing.T) {
	marshaler := reflect.TypeFor[json.Marshaler]()
	maps, others := sets.New[string](), sets.New[string]()
	seen := sets.New[reflect.Type]()
	var visit func(typ reflect.Type)
	visit = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		// A type that writes its own JSON, such as a quantity or an int-or-string, is one value.
		if seen.Has(typ) || typ.Implements(marshaler) || reflect.PointerTo(typ).Implements(marshaler) {
			return
		}
		seen.Insert(typ)
		switch typ.Kind() {
		case reflect.Map:
			visit(typ.Elem())
		case reflect.Struct:
			for i := range typ.NumField() {
				f := typ.Field(i)
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if !f.IsExported() || name == "-" {
					continue
				}
				fieldType := f.Type
				for fieldType.Kind() == reflect.Pointer {
					fieldType = fieldType.Elem()
				}
				switch {
				case name == "":
					// An inlined struct: its fields are the parent's.
				case fieldType.Kind() == reflect.Map:
					maps.Insert(name)
				default:
					others.Insert(name)
				}
				visit(f.Type)
			}
		}
	}
	visit(reflect.TypeFor[appsv1alpha1.EphemeralJobSpec]())

	if missing := maps.Difference(mapFields); missing.Len() > 0 {
		t.Errorf("spec fields %v are maps that mapFields does not list", sets.List(missing))
	}
	if extra := mapFields.Difference(maps); extra.Len() > 0 {
		t.Errorf("mapFields lists %v, which no map field of the spec is named", sets.List(extra))
	}
	if both := maps.Intersection(others); both.Len() > 0 {
		t.Errorf("names %v are those of maps and of other fields of the spec alike", sets.List(both))
	}
}

// TestAllowedEphemeralContainerFieldsCoverEveryField fails when corev1.EphemeralContainerCommon
// gains a field, so that whether the API server lets ephemeral containers set it is looked up
// and recorded in allowedEphemeralContainerFields.
func TestAllowedEphemeralContainerFieldsCoverEveryField(t *testing.T) {
	typ := reflect.TypeFor[corev1.EphemeralContainerCommon]()
	names := map[string]bool{}
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		names[name] = true
		if _, ok := allowedEphemeralContainerFields[name]; !ok {
			t.Errorf("field %s of EphemeralContainerCommon is not classified in allowedEphemeralContainerFields", name)
		}
	}
	for name := range allowedEphemeralContainerFields {
		if !names[name] {
			t.Errorf("allowedEphemeralContainerFields lists %s, which EphemeralContainerCommon does not have", name)
		}
	}
}

func TestValidateUpdateReturnsOneInvalidError(t *testing.T) {
	v := &EphemeralJobValidator{}
	oldJob := validJob()
	newJob := withJob(func(ej *appsv1alpha1.EphemeralJob) {
		ej.Spec.Selector = nil
		ej.Spec.Parallelism = ptr.To[int32](0)
		ej.Spec.TTLSecondsAfterCreated = ptr.To[int32](5)
	})

	_, err := v.ValidateUpdate(t.Context(), oldJob, newJob)

	if !apierrors.IsInvalid(err) {
		t.Fatalf("ValidateUpdate() error = %v, want an Invalid status error", err)
	}
	status := err.(apierrors.APIStatus).Status()
	d := status.Details
	if status.Code != 422 || d.Kind != "EphemeralJob" || d.Group != "apps.kruise.io" || d.Name != "ej" {
		t.Errorf("status = code %d, details %+v; want 422 for apps.kruise.io EphemeralJob ej", status.Code, status.Details)
	}
	var gotFields []string
	for _, c := range status.Details.Causes {
		gotFields = append(gotFields, string(c.Type)+" "+c.Field)
	}
	wantFields := []string{
		"FieldValueRequired spec.selector",
		"FieldValueInvalid spec.parallelism",
		"FieldValueForbidden spec.selector.matchLabels[app]",
		"FieldValueForbidden spec.ttlSecondsAfterCreated",
	}
	if diff := cmp.Diff(wantFields, gotFields); diff != "" {
		t.Errorf("causes mismatch (-want +got):\n%s", diff)
	}

	if _, err := v.ValidateUpdate(t.Context(), oldJob, validJob()); err != nil {
		t.Errorf("ValidateUpdate() of an unchanged job = %v, want nil", err)
	}
}
