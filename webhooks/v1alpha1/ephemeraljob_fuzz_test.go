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
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	psaapi "k8s.io/pod-security-admission/api"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// FuzzValidate checks, whatever the objects hold, that validate never panics, never
// refuses an update that changes nothing, and refuses, with a bounded number of errors,
// every update that changes a field other than parallelism, replicas and paused; and that
// the Pod Security check never panics and names only fields of the template's containers.
func FuzzValidate(f *testing.F) {
	seed := func(ej *appsv1alpha1.EphemeralJob) []byte {
		data, err := json.Marshal(ej)
		if err != nil {
			f.Fatalf("encoding seed: %v", err)
		}
		return data
	}
	story1, story2 := loadJob(f, "story1_ephemeraljob.yaml"), loadJob(f, "story2_ephemeraljob.yaml")
	f.Add(seed(story1), seed(story2))
	f.Add([]byte(nil), seed(story1))
	f.Add(seed(validJob()), seed(validJob()))
	f.Add(seed(validJob()), []byte(`{"spec":{"template":{"ephemeralContainers":[{"name":"a","securityContext":{
		"privileged":true,"capabilities":{"add":["SYS_ADMIN"]},"seccompProfile":{"type":"Unconfined"},
		"runAsUser":0,"windowsOptions":{"hostProcess":true},"procMount":"Unmasked"}},{}]}}}`))
	f.Add([]byte(`{}`), []byte(`{}`))
	f.Add([]byte(`{"spec":{"selector":{}}}`), []byte(`{"spec":{
		"selector":{"matchExpressions":[{"key":"","operator":"Bogus","values":["x"]}]},
		"template":{"ephemeralContainers":[{}]}}}`))
	f.Add(seed(validJob()), []byte(`{"spec":{
		"parallelism":-2147483648,"replicas":-1,"activeDeadlineSeconds":-9223372036854775808,
		"template":{"ephemeralContainers":[
			{"name":"a","ports":[{}],"resources":{"limits":{}},"env":[{"name":"="},{"name":"ephemeraljob"}],
			 "volumeMounts":[{"subPath":"x"}],"restartPolicy":"Always"},
			{"name":"a"}]}}}`))
	f.Add([]byte(`{"spec":{"selector":{"matchLabels":{"":""}}}}`), []byte(`{"spec":{"selector":{"matchLabels":{"":""}}}}`))
	f.Add(seed(validJob()), []byte(`{"spec":{"selector":{"matchLabels":{"app":"web"}},"parallelism":1,"replicas":3,
		"template":{"ephemeralContainers":[{"name":"debug","image":"busybox:latest","command":["sleep","10"],
			"imagePullPolicy":"IfNotPresent","terminationMessagePolicy":"File","targetContainerName":"web",
			"args":[],"securityContext":{}}]}}}`))
	f.Add([]byte(`{"spec":{"template":{"ephemeralContainers":[{"env":[{"name":"A","value":"1"},{"name":"B"}]}]}}}`),
		[]byte(`{"spec":{"template":{"ephemeralContainers":[
			{"env":[{"name":"A","value":"2"},{"name":"B","value":""}]},{}]}}}`))

	f.Fuzz(func(t *testing.T, oldData, newData []byte) {
		oldJob, newJob := &appsv1alpha1.EphemeralJob{}, &appsv1alpha1.EphemeralJob{}
		_ = json.Unmarshal(oldData, oldJob)
		_ = json.Unmarshal(newData, newJob)

		created := validate(nil, newJob)
		_ = validate(oldJob, newJob)
		_ = validate(newJob, oldJob)
		for _, e := range created {
			_ = e.Error()
		}

		templatePath := field.NewPath("spec", "template")
		for _, level := range []string{"baseline", "restricted"} {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns",
				Labels: map[string]string{psaapi.EnforceLevelLabel: level, psaapi.AuditLevelLabel: "restricted"}}}
			errs, _ := validatePodSecurity(ns, &newJob.Spec.Template, templatePath)
			for _, e := range errs {
				if e.Type != field.ErrorTypeForbidden || !strings.HasPrefix(e.Field, "spec.template.ephemeralContainers[") {
					t.Errorf("Pod Security error outside the template's containers, or not Forbidden: %v", e)
				}
			}
		}

		if errs := validate(newJob, newJob.DeepCopy()); len(errs) != 0 {
			t.Errorf("an update that changes nothing is refused: %v", errs.ToAggregate())
		}

		frozen := newJob.Spec.DeepCopy()
		frozen.Parallelism, frozen.Replicas, frozen.Paused = oldJob.Spec.Parallelism, oldJob.Spec.Replicas, oldJob.Spec.Paused
		changed := !apiequality.Semantic.DeepEqual(oldJob.Spec, *frozen)
		errs := validateSpecUpdate(&oldJob.Spec, &newJob.Spec, field.NewPath("spec"))
		switch {
		case changed && len(errs) == 0:
			t.Errorf("a change outside parallelism, replicas and paused is not refused")
		case !changed && len(errs) != 0:
			t.Errorf("a change of parallelism, replicas or paused only is refused: %v", errs.ToAggregate())
		case len(errs) > maxSpecChangeErrors+1:
			t.Errorf("%d errors about changed fields, want at most %d", len(errs), maxSpecChangeErrors+1)
		}
		for _, e := range errs {
			if e.Type != field.ErrorTypeForbidden {
				t.Errorf("error about a changed field is not Forbidden: %v", e)
			}
		}
	})
}
