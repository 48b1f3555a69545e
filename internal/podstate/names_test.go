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
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestDerivedName(t *testing.T) {
	a, b := types.UID("6b1c0d3e-1111-4a2b-9c3d-000000000001"), types.UID("6b1c0d3e-1111-4a2b-9c3d-000000000002")
	if DerivedName("helloworld-ec", a) != DerivedName("helloworld-ec", a) {
		t.Fatal("the derived name is not stable")
	}
	if DerivedName("helloworld-ec", a) == DerivedName("helloworld-ec", b) {
		t.Fatal("two jobs derive the same name")
	}
	for _, name := range []string{"c", "helloworld-ec", strings.Repeat("x", 55), strings.Repeat("y", 63)} {
		got := DerivedName(name, a)
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Errorf("DerivedName(%q) = %q, not a container name: %v", name, got, errs)
		}
		if !strings.HasPrefix(got, name[:min(len(name), 40)]) {
			t.Errorf("DerivedName(%q) = %q does not start with the template name", name, got)
		}
		if !NameMatches(got, name, a) || !NameMatches(name, name, a) || NameMatches(got, name, b) {
			t.Errorf("NameMatches does not recognise %q for %q", got, name)
		}
	}
	long := strings.Repeat("z", 60)
	if DerivedName(long+"-a", a) == DerivedName(long+"-b", a) {
		t.Error("two template names cut to the same prefix derive the same name")
	}
}
