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

	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
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
}

type knownJob struct {
	KnownJob
	deleted bool
}

func newKnownJobs() *knownJobs {
	return &knownJobs{jobs: map[types.UID]*knownJob{}, rescan: map[types.UID]string{}}
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
			delete(k.jobs, uid)
		}
	}
}
