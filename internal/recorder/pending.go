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

import "sync"

// podKey identifies a pod row.
type podKey struct{ jobUID, podUID string }

// pending holds the records observed and not yet written, one per row: a record
// replaces the pending one of the same row unless that one is a later observation (see
// compareObservations), so the latest state wins and memory stays bounded by the number
// of objects.
type pending struct {
	mu     sync.Mutex
	jobs   map[string]JobRecord
	pods   map[podKey]PodRecord
	signal chan struct{}
}

func newPending() *pending {
	return &pending{
		jobs:   map[string]JobRecord{},
		pods:   map[podKey]PodRecord{},
		signal: make(chan struct{}, 1),
	}
}

// addJob queues a job record.
func (p *pending) addJob(rec JobRecord) {
	p.mu.Lock()
	if old, ok := p.jobs[rec.JobID]; !ok || compareObservations(old.IsInEtcd, old.Version, rec.IsInEtcd, rec.Version) <= 0 {
		p.jobs[rec.JobID] = rec
	}
	p.updated()
	p.mu.Unlock()
}

// addPod queues a pod record.
func (p *pending) addPod(rec PodRecord) {
	p.mu.Lock()
	k := podKey{rec.JobID, rec.PodID}
	if old, ok := p.pods[k]; !ok || compareObservations(old.IsInEtcd, old.Version, rec.IsInEtcd, rec.Version) <= 0 {
		p.pods[k] = rec
	}
	p.updated()
	p.mu.Unlock()
}

// take removes and returns up to limit records of each table.
func (p *pending) take(limit int) ([]JobRecord, []PodRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var jobs []JobRecord
	for k, rec := range p.jobs {
		if len(jobs) == limit {
			break
		}
		jobs = append(jobs, rec)
		delete(p.jobs, k)
	}
	var pods []PodRecord
	for k, rec := range p.pods {
		if len(pods) == limit {
			break
		}
		pods = append(pods, rec)
		delete(p.pods, k)
	}
	recordsPending.Set(float64(len(p.jobs) + len(p.pods)))
	return jobs, pods
}

// requeueJobs puts back job records whose write failed, unless a later observation
// of the same row arrived meanwhile.
func (p *pending) requeueJobs(recs []JobRecord) {
	if len(recs) == 0 {
		return
	}
	p.mu.Lock()
	for _, rec := range recs {
		if old, ok := p.jobs[rec.JobID]; !ok || compareObservations(old.IsInEtcd, old.Version, rec.IsInEtcd, rec.Version) < 0 {
			p.jobs[rec.JobID] = rec
		}
	}
	p.updated()
	p.mu.Unlock()
}

// requeuePods puts back pod records whose write failed, unless a later observation
// of the same row arrived meanwhile.
func (p *pending) requeuePods(recs []PodRecord) {
	if len(recs) == 0 {
		return
	}
	p.mu.Lock()
	for _, rec := range recs {
		k := podKey{rec.JobID, rec.PodID}
		if old, ok := p.pods[k]; !ok || compareObservations(old.IsInEtcd, old.Version, rec.IsInEtcd, rec.Version) < 0 {
			p.pods[k] = rec
		}
	}
	p.updated()
	p.mu.Unlock()
}

// len returns the number of pending records.
func (p *pending) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.jobs) + len(p.pods)
}

// updated publishes the size and wakes the writer; p.mu is held.
func (p *pending) updated() {
	recordsPending.Set(float64(len(p.jobs) + len(p.pods)))
	select {
	case p.signal <- struct{}{}:
	default:
	}
}
