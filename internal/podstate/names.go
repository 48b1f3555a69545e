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

package podstate

import (
	"fmt"
	"hash/fnv"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// maxContainerNameLength is the longest container name the API server accepts (a DNS label).
const maxContainerNameLength = 63

// DerivedName is the name a job's container takes in a pod where its template name is
// already taken (by an earlier run of the same manifest, or by any other container): the
// template name, a dash and a short hash of the job's UID and the template name, within 63
// characters. Ephemeral containers can never be removed or renamed, so without it a manifest
// could run once per pod, ever. The hash is stable, so every process derives the same name
// for a job; it covers the name too, so two long template names cut to the same prefix
// still derive two names.
func DerivedName(name string, jobUID types.UID) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(jobUID))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(name))
	suffix := rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
	if len(suffix) > 8 {
		suffix = suffix[:8]
	}
	if room := maxContainerNameLength - len(suffix) - 1; len(name) > room {
		name = name[:room]
	}
	return name + "-" + suffix
}

// NameMatches reports whether a container of the job named got stands for the template's
// container named name: under that name, or under the name derived from it.
func NameMatches(got, name string, jobUID types.UID) bool {
	return got == name || got == DerivedName(name, jobUID)
}

// MatchesTemplate reports whether the job's containers in a pod (OwnedContainers) are its
// template as the job writes them for this index: the same container names (or the names
// derived from them) in the same order, each carrying the job's name and this index. The
// rest is not compared: the API server defaults fields (a fieldRef's apiVersion, a pull
// policy) and mutating admission may add env or a securityContext, and neither makes a
// container the job injected any less its own.
func MatchesTemplate(owned []*corev1.EphemeralContainer, template []corev1.EphemeralContainer, jobUID types.UID,
	jobName string, index int32) bool {
	if len(owned) != len(template) {
		return false
	}
	want := strconv.Itoa(int(index))
	for i, c := range owned {
		if !NameMatches(c.Name, template[i].Name, jobUID) {
			return false
		}
		if v, _ := EnvValue(c, appsv1alpha1.EnvJobIndex); v != want {
			return false
		}
		if v, _ := EnvValue(c, appsv1alpha1.EnvJobName); v != jobName {
			return false
		}
	}
	return true
}
