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
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// immutableSpecMessage is the detail of every error about a spec field changed on update.
const immutableSpecMessage = "may not be changed after creation: " + mutableSpecFields

// mutableSpecFields ends every error about a spec field changed on update, saying what may change instead.
const mutableSpecFields = "only spec.parallelism, spec.replicas and spec.paused may change"

// maxSpecChangeErrors is how many changed spec fields an update is refused with, one error each.
// Any further ones are counted in one more error, so that an update that rewrites a large
// template gets an answer of bounded size.
const maxSpecChangeErrors = 10

// mapFields are the JSON names of the spec's fields, at any depth, whose values are maps: their
// keys are data rather than field names, so paths show them as [key], not .key. A test checks
// this set against the Go types the spec is made of.
var mapFields = sets.New("matchLabels", "limits", "requests")

// listItemNouns names the items of a list in the error about its changed length; items of lists
// not listed are "items".
var listItemNouns = map[string]string{"ephemeralContainers": "container"}

// ephemeralContainerForbiddenMessage is the detail the API server gives for a field
// an ephemeral container may not set; the same words are used here.
const ephemeralContainerForbiddenMessage = "cannot be set for an Ephemeral Container"

// allowedEphemeralContainerFields classifies every field of corev1.EphemeralContainerCommon
// the way the API server does when it validates a pod's ephemeral containers: true fields
// may be set, false fields may not. A field missing from the map is refused, as the API
// server refuses fields it does not list.
var allowedEphemeralContainerFields = map[string]bool{
	"Name":                     true,
	"Image":                    true,
	"Command":                  true,
	"Args":                     true,
	"WorkingDir":               true,
	"Ports":                    false,
	"EnvFrom":                  true,
	"Env":                      true,
	"Resources":                false,
	"ResizePolicy":             false,
	"RestartPolicy":            false,
	"RestartPolicyRules":       false,
	"VolumeMounts":             true,
	"VolumeDevices":            true,
	"LivenessProbe":            false,
	"ReadinessProbe":           false,
	"StartupProbe":             false,
	"Lifecycle":                false,
	"TerminationMessagePath":   true,
	"TerminationMessagePolicy": true,
	"ImagePullPolicy":          true,
	"SecurityContext":          true,
	"Stdin":                    true,
	"StdinOnce":                true,
	"TTY":                      true,
}

// reservedEnvNames are the environment variables the controller sets in every injected container.
var reservedEnvNames = sets.New(appsv1alpha1.EnvJobName, appsv1alpha1.EnvJobUID, appsv1alpha1.EnvJobIndex)

var supportedPullPolicies = []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}

var supportedTerminationMessagePolicies = []corev1.TerminationMessagePolicy{
	corev1.TerminationMessageReadFile,
	corev1.TerminationMessageFallbackToLogsOnError,
}

// validate returns every problem of newJob, created when oldJob is nil and updated from oldJob otherwise.
//
// On update the create rules apply to the new values too, but a problem that the old object
// already had is not reported again: only parallelism, replicas and paused can change, so such
// a problem can only come from an object stored before these rules existed, and refusing it
// would block every later metadata change of that object, finalizer removal included.
func validate(oldJob, newJob *appsv1alpha1.EphemeralJob) field.ErrorList {
	specPath := field.NewPath("spec")
	errs := validateSpec(&newJob.Spec, specPath)
	if oldJob == nil {
		return errs
	}
	errs = withoutPreexisting(errs, validateSpec(&oldJob.Spec, specPath))
	return append(errs, validateSpecUpdate(&oldJob.Spec, &newJob.Spec, specPath)...)
}

// withoutPreexisting returns the errors of errs that are not in old.
func withoutPreexisting(errs, old field.ErrorList) field.ErrorList {
	if len(errs) == 0 || len(old) == 0 {
		return errs
	}
	seen := sets.New[string]()
	for _, e := range old {
		seen.Insert(e.Error())
	}
	var kept field.ErrorList
	for _, e := range errs {
		if !seen.Has(e.Error()) {
			kept = append(kept, e)
		}
	}
	return kept
}

// validateSpec applies the create rules to a spec.
func validateSpec(spec *appsv1alpha1.EphemeralJobSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateSelector(spec.Selector, fldPath.Child("selector"))...)
	if spec.Replicas != nil {
		errs = append(errs, validateMinimum(int64(*spec.Replicas), 0, fldPath.Child("replicas"))...)
	}
	if spec.Parallelism != nil {
		errs = append(errs, validateParallelism(*spec.Parallelism, fldPath.Child("parallelism"))...)
	}
	errs = append(errs, validateTemplate(&spec.Template, fldPath.Child("template"))...)
	if ttl := spec.TTLSecondsAfterCreated; ttl != nil {
		errs = append(errs, validateMinimum(int64(*ttl), 0, fldPath.Child("ttlSecondsAfterCreated"))...)
	}
	if ttl := spec.TTLSecondsAfterFinished; ttl != nil {
		errs = append(errs, validateMinimum(int64(*ttl), 0, fldPath.Child("ttlSecondsAfterFinished"))...)
	}
	if d := spec.StartDeadlineSeconds; d != nil {
		errs = append(errs, validateMinimum(int64(*d), 1, fldPath.Child("startDeadlineSeconds"))...)
	}
	if spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, validateMinimum(*spec.ActiveDeadlineSeconds, 1, fldPath.Child("activeDeadlineSeconds"))...)
	}
	if b := spec.FailureBudget; b != nil {
		errs = append(errs, validateMinimum(int64(*b), 1, fldPath.Child("failureBudget"))...)
	}
	if m := spec.MaxEphemeralContainersPerPod; m != nil && (*m < 1 || *m > maxEphemeralContainersPerPod) {
		errs = append(errs, field.Invalid(fldPath.Child("maxEphemeralContainersPerPod"), *m,
			utilvalidation.InclusiveRangeError(1, maxEphemeralContainersPerPod)))
	}
	return errs
}

// maxEphemeralContainersPerPod is the largest spec.maxEphemeralContainersPerPod, as the CRD says.
const maxEphemeralContainersPerPod = 1000

// validateSelector requires a valid selector that selects something less than every pod.
func validateSelector(sel *metav1.LabelSelector, fldPath *field.Path) field.ErrorList {
	if sel == nil {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	errs := metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, fldPath)
	if len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(fldPath, sel,
			"must not be empty: an empty selector matches every pod in the namespace"))
	}
	return errs
}

// validateParallelism requires parallelism between 1 and MaxParallelism.
func validateParallelism(parallelism int32, fldPath *field.Path) field.ErrorList {
	if parallelism < 1 || parallelism > appsv1alpha1.MaxParallelism {
		msg := utilvalidation.InclusiveRangeError(1, int(appsv1alpha1.MaxParallelism))
		return field.ErrorList{field.Invalid(fldPath, parallelism, msg)}
	}
	return nil
}

// validateMinimum requires value to be at least minimum.
func validateMinimum(value, minimum int64, fldPath *field.Path) field.ErrorList {
	if value < minimum {
		return field.ErrorList{field.Invalid(fldPath, value, fmt.Sprintf("must be greater than or equal to %d", minimum))}
	}
	return nil
}

// validateTemplate requires at least one ephemeral container, each valid, with names unique in the template.
func validateTemplate(tmpl *appsv1alpha1.EphemeralContainerTemplateSpec, fldPath *field.Path) field.ErrorList {
	ecPath := fldPath.Child("ephemeralContainers")
	if len(tmpl.EphemeralContainers) == 0 {
		return field.ErrorList{field.Required(ecPath, "at least one ephemeral container is required")}
	}
	var errs field.ErrorList
	names := sets.New[string]()
	for i := range tmpl.EphemeralContainers {
		ec := &tmpl.EphemeralContainers[i]
		idxPath := ecPath.Index(i)
		errs = append(errs, validateEphemeralContainer(ec, idxPath)...)
		if ec.Name == "" {
			continue
		}
		if names.Has(ec.Name) {
			errs = append(errs, field.Duplicate(idxPath.Child("name"), ec.Name))
		}
		names.Insert(ec.Name)
	}
	return errs
}

// validateEphemeralContainer refuses what the API server would refuse when the container is
// added to a pod, as far as it can be told without the pod, plus the proposal's required
// fields and the environment variables the controller sets.
func validateEphemeralContainer(ec *corev1.EphemeralContainer, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList

	namePath := fldPath.Child("name")
	if ec.Name == "" {
		errs = append(errs, field.Required(namePath, ""))
	} else {
		for _, msg := range utilvalidation.IsDNS1123Label(ec.Name) {
			errs = append(errs, field.Invalid(namePath, ec.Name, msg))
		}
	}

	imagePath := fldPath.Child("image")
	if ec.Image == "" {
		errs = append(errs, field.Required(imagePath, ""))
	} else if ec.Image != strings.TrimSpace(ec.Image) {
		errs = append(errs, field.Invalid(imagePath, ec.Image, "must not have leading or trailing whitespace"))
	}

	pullPath := fldPath.Child("imagePullPolicy")
	switch ec.ImagePullPolicy {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	case "":
		errs = append(errs, field.Required(pullPath, ""))
	default:
		errs = append(errs, field.NotSupported(pullPath, ec.ImagePullPolicy, supportedPullPolicies))
	}

	tmpPath := fldPath.Child("terminationMessagePolicy")
	switch ec.TerminationMessagePolicy {
	case corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError:
	case "":
		errs = append(errs, field.Required(tmpPath, ""))
	default:
		errs = append(errs, field.NotSupported(tmpPath, ec.TerminationMessagePolicy, supportedTerminationMessagePolicies))
	}

	// Container names are DNS labels, so a target that is not one can never be found in a pod.
	targetPath := fldPath.Child("targetContainerName")
	if ec.TargetContainerName == "" {
		errs = append(errs, field.Required(targetPath, "the container whose namespaces the ephemeral container shares"))
	} else {
		for _, msg := range utilvalidation.IsDNS1123Label(ec.TargetContainerName) {
			errs = append(errs, field.Invalid(targetPath, ec.TargetContainerName, msg))
		}
	}

	errs = append(errs, validateAllowedFields(&ec.EphemeralContainerCommon, fldPath)...)

	for i, vm := range ec.VolumeMounts {
		vmPath := fldPath.Child("volumeMounts").Index(i)
		if vm.SubPath != "" {
			errs = append(errs, field.Forbidden(vmPath.Child("subPath"), ephemeralContainerForbiddenMessage))
		}
		if vm.SubPathExpr != "" {
			errs = append(errs, field.Forbidden(vmPath.Child("subPathExpr"), ephemeralContainerForbiddenMessage))
		}
	}

	errs = append(errs, validateEnv(ec.Env, fldPath.Child("env"))...)
	return errs
}

// validateAllowedFields forbids every set field that allowedEphemeralContainerFields does not allow.
// The path of each error is the field's JSON name, as the API server reports it.
func validateAllowedFields(c *corev1.EphemeralContainerCommon, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	value := reflect.ValueOf(c).Elem()
	typ := value.Type()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if allowedEphemeralContainerFields[f.Name] {
			continue
		}
		if value.Field(i).IsZero() {
			continue
		}
		jsonName, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		errs = append(errs, field.Forbidden(fldPath.Child(jsonName), ephemeralContainerForbiddenMessage))
	}
	return errs
}

// validateEnv requires names the API server accepts and refuses the names the controller sets.
func validateEnv(env []corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range env {
		namePath := fldPath.Index(i).Child("name")
		switch {
		case ev.Name == "":
			errs = append(errs, field.Required(namePath, ""))
		case reservedEnvNames.Has(ev.Name):
			errs = append(errs, field.Forbidden(namePath, fmt.Sprintf("%q is set by the EphemeralJob controller", ev.Name)))
		default:
			for _, msg := range utilvalidation.IsRelaxedEnvVarName(ev.Name) {
				errs = append(errs, field.Invalid(namePath, ev.Name, msg))
			}
		}
	}
	return errs
}

// validateSpecUpdate forbids every spec change except to parallelism, replicas and paused,
// naming the deepest fields that changed.
//
// The proposal allows only parallelism and replicas to change. Paused may change too: pausing
// and resuming a running job is the reason the field exists.
func validateSpecUpdate(oldSpec, newSpec *appsv1alpha1.EphemeralJobSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	immutable := []struct {
		name     string
		old, new any
	}{
		{"selector", oldSpec.Selector, newSpec.Selector},
		{"template", oldSpec.Template, newSpec.Template},
		{"ttlSecondsAfterCreated", oldSpec.TTLSecondsAfterCreated, newSpec.TTLSecondsAfterCreated},
		{"ttlSecondsAfterFinished", oldSpec.TTLSecondsAfterFinished, newSpec.TTLSecondsAfterFinished},
		{"activeDeadlineSeconds", oldSpec.ActiveDeadlineSeconds, newSpec.ActiveDeadlineSeconds},
		{"startDeadlineSeconds", oldSpec.StartDeadlineSeconds, newSpec.StartDeadlineSeconds},
		{"failureBudget", oldSpec.FailureBudget, newSpec.FailureBudget},
		{"maxEphemeralContainersPerPod", oldSpec.MaxEphemeralContainersPerPod, newSpec.MaxEphemeralContainersPerPod},
	}
	for _, f := range immutable {
		if !apiequality.Semantic.DeepEqual(f.old, f.new) {
			errs = append(errs, changedFields(f.old, f.new, fldPath.Child(f.name), f.name)...)
		}
	}

	// A spec field not named above is immutable as well.
	rest := *newSpec
	rest.Selector = oldSpec.Selector
	rest.Template = oldSpec.Template
	rest.TTLSecondsAfterCreated = oldSpec.TTLSecondsAfterCreated
	rest.TTLSecondsAfterFinished = oldSpec.TTLSecondsAfterFinished
	rest.ActiveDeadlineSeconds = oldSpec.ActiveDeadlineSeconds
	rest.StartDeadlineSeconds = oldSpec.StartDeadlineSeconds
	rest.FailureBudget = oldSpec.FailureBudget
	rest.MaxEphemeralContainersPerPod = oldSpec.MaxEphemeralContainersPerPod
	rest.Parallelism = oldSpec.Parallelism
	rest.Replicas = oldSpec.Replicas
	rest.Paused = oldSpec.Paused
	if !apiequality.Semantic.DeepEqual(*oldSpec, rest) {
		errs = append(errs, changedFields(*oldSpec, rest, fldPath, "")...)
	}

	if more := len(errs) - maxSpecChangeErrors; more > 0 {
		errs = append(errs[:maxSpecChangeErrors:maxSpecChangeErrors], field.Forbidden(fldPath,
			fmt.Sprintf("%d more fields changed, which %s", more, immutableSpecMessage)))
	}
	return errs
}

// changedFields returns a Forbidden error for each deepest field in which oldValue and newValue,
// found at path under the JSON name name, differ; the caller knows that they differ semantically.
//
// The values are compared in their JSON form, so that the paths use the names users write in
// their manifests, and any type can be compared without knowing its fields. Semantic equality
// takes a null list or map for an empty one, while it tells a nil pointer to a struct from a
// pointer to an empty one; JSON shows both as null against {} or []. Such places are therefore
// named only when nothing else differs, since one of them must then be the change. Should the
// JSON forms show no difference at all, path itself is named: a change is never left unreported.
func changedFields(oldValue, newValue any, path *field.Path, name string) field.ErrorList {
	oldJSON, oldErr := jsonValue(oldValue)
	newJSON, newErr := jsonValue(newValue)
	if oldErr != nil || newErr != nil {
		return field.ErrorList{field.Forbidden(path, immutableSpecMessage)}
	}
	var d specDiff
	d.compare(oldJSON, newJSON, path, name)
	switch {
	case len(d.changed) > 0:
		return d.changed
	case len(d.nullOrEmpty) > 0:
		return d.nullOrEmpty
	default:
		return field.ErrorList{field.Forbidden(path, immutableSpecMessage)}
	}
}

// jsonValue returns v as encoding/json decodes its JSON into an any. Numbers stay json.Numbers,
// so that two int64 values that one float64 would hold alike still differ.
func jsonValue(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out any
	return out, dec.Decode(&out)
}

// specDiff collects the places where two JSON values differ.
type specDiff struct {
	// changed holds an error for each scalar that differs and each list whose length differs.
	changed field.ErrorList
	// nullOrEmpty holds an error for each place where one value is null and the other an empty object or list.
	nullOrEmpty field.ErrorList
}

// compare records where oldValue and newValue, found at path, differ. name is the JSON field
// name the values are found under, or "" for a list item or a map value.
func (d *specDiff) compare(oldValue, newValue any, path *field.Path, name string) {
	if oldValue == nil && newValue == nil {
		return
	}
	oldObject, oldIsObject := oldValue.(map[string]any)
	newObject, newIsObject := newValue.(map[string]any)
	oldList, oldIsList := oldValue.([]any)
	newList, newIsList := newValue.([]any)
	switch {
	case (oldIsObject || oldValue == nil) && (newIsObject || newValue == nil):
		if len(oldObject) == 0 && len(newObject) == 0 && oldIsObject != newIsObject {
			d.nullOrEmpty = append(d.nullOrEmpty, field.Forbidden(path, immutableSpecMessage))
			return
		}
		isMap := mapFields.Has(name)
		keys := sets.KeySet(oldObject).Union(sets.KeySet(newObject))
		for _, key := range sets.List(keys) {
			if isMap {
				d.compare(oldObject[key], newObject[key], path.Key(key), "")
			} else {
				d.compare(oldObject[key], newObject[key], path.Child(key), key)
			}
		}
	case (oldIsList || oldValue == nil) && (newIsList || newValue == nil):
		switch {
		case len(oldList) != len(newList):
			d.changed = append(d.changed, field.Forbidden(path, lengthChangedMessage(name, len(oldList), len(newList))))
		case len(oldList) == 0 && oldIsList != newIsList:
			d.nullOrEmpty = append(d.nullOrEmpty, field.Forbidden(path, immutableSpecMessage))
		default:
			for i := range oldList {
				d.compare(oldList[i], newList[i], path.Index(i), "")
			}
		}
	default:
		// At most one of the values is an object or a list here, so either their types differ
		// or both are comparable scalars, and != cannot panic.
		if oldValue != newValue {
			d.changed = append(d.changed, field.Forbidden(path, immutableSpecMessage))
		}
	}
}

// lengthChangedMessage is the detail of the error about the list name whose length changed from had to now.
func lengthChangedMessage(name string, had, now int) string {
	noun, ok := listItemNouns[name]
	if !ok {
		noun = "item"
	}
	if had != 1 {
		noun += "s"
	}
	return fmt.Sprintf("may not be changed after creation (had %d %s, now %d): %s", had, noun, now, mutableSpecFields)
}
