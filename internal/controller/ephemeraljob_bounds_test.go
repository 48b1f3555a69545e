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

package controller

import (
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// Strings read from a pod reach the status cut to the CRD's bounds, as the API server
// measures them: in characters (kube-openapi counts runes) and, stricter, in bytes.
func TestTruncateToStaysWithinTheBound(t *testing.T) {
	const n = maxReasonLength
	tests := []struct {
		name string
		in   string
		cut  bool
	}{
		{name: "127 characters", in: strings.Repeat("a", 127)},
		{name: "128 characters", in: strings.Repeat("a", 128)},
		{name: "129 characters", in: strings.Repeat("a", 129), cut: true},
		{name: "200 characters", in: strings.Repeat("a", 200), cut: true},
		{name: "multi-byte runes across the cut", in: strings.Repeat("é", 100), cut: true},
		{name: "four-byte runes across the cut", in: strings.Repeat("a", 1) + strings.Repeat("😀", 60), cut: true},
		{name: "64 two-byte runes fit", in: strings.Repeat("é", 64)},
		{name: "invalid UTF-8 counted as replaced", in: strings.Repeat("a\xff", 100), cut: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := truncateTo(tc.in, n)
			if len(got) > n || utf8.RuneCountInString(got) > n {
				t.Errorf("%d bytes, %d characters: over %d", len(got), utf8.RuneCountInString(got), n)
			}
			if !utf8.ValidString(got) {
				t.Errorf("invalid UTF-8: %q", got)
			}
			if cut := strings.HasSuffix(got, ellipsis); cut != tc.cut {
				t.Errorf("cut = %v, want %v (%q)", cut, tc.cut, got)
			}
			if !tc.cut && got != tc.in {
				t.Errorf("changed a string within the bound: %q", got)
			}
			if tc.cut && len(got) < n-len(ellipsis)-utf8.UTFMax {
				t.Errorf("cut to %d bytes, more than needed", len(got))
			}
		})
	}
}

// The bounds the ledger applies are the CRD's: a CRD that tightens one without the code
// following would make every status write fail.
func TestResultBoundsMatchTheCRD(t *testing.T) {
	b, err := os.ReadFile("../../config/crd/bases/apps.kruise.io_ephemeraljobs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatal(err)
	}
	results := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"].Properties["results"].Items.Schema
	for field, bound := range map[string]int{"reason": maxReasonLength, "message": maxMessageLength} {
		max := results.Properties[field].MaxLength
		if max == nil || int64(bound) > *max {
			t.Errorf("status.results[].%s: the ledger cuts to %d bytes, the CRD allows %v", field, bound, max)
		}
	}
}
