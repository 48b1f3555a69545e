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
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"

	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// RefusedIDLength is the length of a pod's ID in status.refusals[].podIDs.
const RefusedIDLength = 8

// RefusedID identifies a pod in status.refusals[].podIDs: 48 bits of the FNV-1a hash of its
// UID, in 8 URL-safe base64 characters. Two pods of a namespace share one with a chance of
// about one in 10^7 even with 100,000 pods and 4,096 refusals. The controller writes these
// IDs; the recorder and `kubectl ejob` match pods against them, so all three compute them here.
func RefusedID(uid types.UID) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(uid))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], h.Sum64())
	return base64.RawURLEncoding.EncodeToString(b[2:])
}

// RefusedIDs returns the reason of every pod status.refusals identifies, by the pod's
// RefusedID; nil when it identifies none. An ID listed under two reasons keeps the first.
func RefusedIDs(refusals []appsv1alpha1.ReasonCount) map[string]string {
	var ids map[string]string
	for _, rc := range refusals {
		for i := 0; i+RefusedIDLength <= len(rc.PodIDs); i += RefusedIDLength {
			if ids == nil {
				ids = map[string]string{}
			}
			id := rc.PodIDs[i : i+RefusedIDLength]
			if _, ok := ids[id]; !ok {
				ids[id] = rc.Reason
			}
		}
	}
	return ids
}

// UnidentifiedRefusals counts the refusals the status neither details (status.refused) nor
// identifies (status.refusals[].podIDs): those past MaxRefusedIDs, told apart by reason only.
func UnidentifiedRefusals(status *appsv1alpha1.EphemeralJobStatus) int64 {
	if len(status.Refusals) == 0 {
		// Written before refusals were counted: every refusal was detailed.
		return 0
	}
	var n int64
	for _, rc := range status.Refusals {
		n += int64(rc.Count) - int64(len(rc.PodIDs)/RefusedIDLength)
	}
	return max(n-int64(len(status.Refused)), 0)
}
