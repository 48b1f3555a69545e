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

import "k8s.io/apimachinery/pkg/util/resourceversion"

// maxVersionOrderDigits is the most digits of a resourceVersion that orders rows: the
// version column holds 64 characters (version_order, a DECIMAL(65,0), would hold 65).
const maxVersionOrderDigits = maxVersionLen

// orderable reports whether a resourceVersion can order rows: it is well formed in the
// sense of KEP-5504 (a positive integer without leading zeros, which
// resourceversion.CompareResourceVersion accepts) and fits the version_order column.
func orderable(rv string) bool {
	if len(rv) > maxVersionOrderDigits {
		return false
	}
	_, err := resourceversion.CompareResourceVersion(rv, rv)
	return err == nil
}

// versionOrder returns what the version_order column holds for a resourceVersion: the
// resourceVersion itself when it is orderable, else "0", which orders before every
// orderable one.
func versionOrder(rv string) string {
	if orderable(rv) {
		return rv
	}
	return "0"
}

// compareVersions compares two resourceVersions of one resource as
// resourceversion.CompareResourceVersion does, with one addition: a resourceVersion that
// is not orderable orders before every orderable one, and equal to another that is not.
func compareVersions(a, b string) int {
	okA, okB := orderable(a), orderable(b)
	switch {
	case !okA && !okB:
		return 0
	case !okA:
		return -1
	case !okB:
		return 1
	}
	c, err := resourceversion.CompareResourceVersion(a, b)
	if err != nil {
		// Unreachable: both were checked.
		return 0
	}
	return c
}

// compareObservations orders two observations of one row, as the store's upserts do: an
// observation of the object's deletion (inEtcd false) comes after every observation of
// the live object; observations alike in that are ordered by resourceVersion.
func compareObservations(aInEtcd bool, aRV string, bInEtcd bool, bRV string) int {
	switch {
	case aInEtcd == bInEtcd:
		return compareVersions(aRV, bRV)
	case !aInEtcd:
		return 1
	default:
		return -1
	}
}
