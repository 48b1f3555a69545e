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

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
)

// knownJobs remembers the jobs the recorder has seen, so that a pod row is written only
// for a job that exists (see PodRecordsFor). A deleted job is remembered as long as a
// pod still carries its containers, so that the pods' later changes and deletion are
// recorded; maintain forgets it afterwards.
type knownJobs struct {
	mu   sync.Mutex
	jobs map[types.UID]*knownJob
	// rescan lists the jobs seen for the first time whose pods are to be read again: a
	// pod's event may have come before its job's, and was then left out.
	rescan map[types.UID]string
	// refusedByID maps the ID of each pod a known job's status.refusals identifies
	// (podstate.RefusedID) to that job, so that a refused pod's deletion is recorded even
	// when the pod went before the writer read it; refusalScan lists the jobs whose
	// identified pods are to be read from the cache, by UID, with their namespace.
	refusedByID map[string]types.UID
	refusalScan map[types.UID]string
}

type knownJob struct {
	KnownJob
	deleted bool
	// refused finds the pods the job's status identifies as refused; nil when it names none.
	refused *refusalIDs
}

func newKnownJobs() *knownJobs {
	return &knownJobs{jobs: map[types.UID]*knownJob{}, rescan: map[types.UID]string{},
		refusedByID: map[string]types.UID{}, refusalScan: map[types.UID]string{}}
}

// observe notes a job seen in an event; inEtcd is false for a deletion.
func (k *knownJobs) observe(ej *appsv1alpha1.EphemeralJob, inEtcd bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if j, ok := k.jobs[ej.UID]; ok {
		j.deleted = j.deleted || !inEtcd
		return
	}
	k.jobs[ej.UID] = &knownJob{KnownJob: KnownJobFor(ej), deleted: !inEtcd}
	k.rescan[ej.UID] = ej.Namespace
}

// observeRefusals notes the pods a job's status identifies as refused (status.refusals),
// replacing those of its previous status, and asks for them to be read from the cache when
// it identifies any. The job was observed before.
func (k *knownJobs) observeRefusals(ej *appsv1alpha1.EphemeralJob) {
	m := newRefusalIDs(ej)
	k.mu.Lock()
	defer k.mu.Unlock()
	j, ok := k.jobs[ej.UID]
	if !ok {
		return
	}
	k.unindexRefusals(ej.UID, j)
	j.refused = m
	if m == nil {
		return
	}
	for id := range m.reasons {
		k.refusedByID[id] = ej.UID
	}
	k.refusalScan[ej.UID] = ej.Namespace
}

// unindexRefusals drops the job's refused pods' IDs from refusedByID. Called with mu held.
func (k *knownJobs) unindexRefusals(uid types.UID, j *knownJob) {
	if j.refused == nil {
		return
	}
	for id := range j.refused.reasons {
		if k.refusedByID[id] == uid {
			delete(k.refusedByID, id)
		}
	}
}

// refusedRecord returns the row of a pod that a known job's status identifies as refused.
func (k *knownJobs) refusedRecord(pod *corev1.Pod, region string, inEtcd bool) (PodRecord, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	uid, ok := k.refusedByID[podstate.RefusedID(pod.UID)]
	if !ok {
		return PodRecord{}, false
	}
	return k.jobs[uid].refused.recordFor(pod, region, inEtcd)
}

// takeRefusalScan returns and forgets the jobs whose identified refused pods are to be read
// from the cache, by UID, with their namespace.
func (k *knownJobs) takeRefusalScan() map[types.UID]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.refusalScan) == 0 {
		return nil
	}
	r := k.refusalScan
	k.refusalScan = map[types.UID]string{}
	return r
}

// requestRefusalScan asks again for the identified refused pods of these jobs to be read.
func (k *knownJobs) requestRefusalScan(jobs map[types.UID]string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for uid, ns := range jobs {
		k.refusalScan[uid] = ns
	}
}

// lookup returns what is known of the job with this UID.
func (k *knownJobs) lookup(uid types.UID) (KnownJob, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	j, ok := k.jobs[uid]
	if !ok {
		return KnownJob{}, false
	}
	return j.KnownJob, true
}

// takeRescan returns and forgets the jobs whose pods are to be read again, by UID, with their namespace.
func (k *knownJobs) takeRescan() map[types.UID]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.rescan) == 0 {
		return nil
	}
	r := k.rescan
	k.rescan = map[types.UID]string{}
	return r
}

// requestRescan asks again for the pods of these jobs to be read.
func (k *knownJobs) requestRescan(jobs map[types.UID]string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for uid, ns := range jobs {
		k.rescan[uid] = ns
	}
}

// forgetDeleted forgets the deleted jobs that no pod carries containers of.
func (k *knownJobs) forgetDeleted(carried map[types.UID]bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for uid, j := range k.jobs {
		if j.deleted && !carried[uid] {
			k.unindexRefusals(uid, j)
			delete(k.jobs, uid)
			delete(k.refusalScan, uid)
		}
	}
}
