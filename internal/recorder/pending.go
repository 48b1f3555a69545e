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

// recordOverhead is what a queued record takes beyond the bytes of its strings: the
// record's struct, its map entry and key. It is rounded up from the struct sizes (a
// JobRecord is about 330 bytes, a PodRecord about 340) and Go's map overhead.
const recordOverhead = 512

// size is the memory a queued job record takes, as pending counts it.
func (r *JobRecord) size() int {
	return recordOverhead + len(r.Name) + len(r.Namespace) + len(r.JobID) + len(r.Version) + len(r.Status) +
		len(r.Kind) + len(r.Resources) + len(r.DeployRegion) + len(r.Tenant) + len(r.Owner)
}

// size is the memory a queued pod record takes, as pending counts it.
func (r *PodRecord) size() int {
	return recordOverhead + len(r.Name) + len(r.Namespace) + len(r.PodID) + len(r.Version) + len(r.Status) +
		len(r.Image) + len(r.JobID) + len(r.ReplicaType) + len(r.Resources) + len(r.HostIP) + len(r.PodIP) +
		len(r.DeployRegion) + len(r.Remark) + len(r.ContainerName) + len(r.Reason) + len(r.Message) + len(r.Output)
}

// pending holds the records observed and not yet written, one per row: a record
// replaces the pending one of the same row unless that one is a later observation (see
// compareObservations), so the latest state wins.
//
// Its memory is bounded: the records it holds never take more than maxBytes (as size
// counts them). A record that does not fit is not queued; pending remembers that it
// overflowed, so that the writer, once MySQL takes writes again, re-reads the current
// state of every object instead (see recorder.reread).
type pending struct {
	mu         sync.Mutex
	jobs       map[string]JobRecord
	pods       map[podKey]PodRecord
	bytes      int
	maxBytes   int
	overflowed bool
	signal     chan struct{}
}

// newPending returns an empty queue holding at most maxBytes of records; 0 means no bound.
func newPending(maxBytes int) *pending {
	return &pending{
		jobs:     map[string]JobRecord{},
		pods:     map[podKey]PodRecord{},
		maxBytes: maxBytes,
		signal:   make(chan struct{}, 1),
	}
}

// addJob queues a job record.
func (p *pending) addJob(rec JobRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.putJob(rec, true)
	p.updated()
}

// addPod queues a pod record.
func (p *pending) addPod(rec PodRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.putPod(rec, true)
	p.updated()
}

// putJob queues rec unless the pending record of its row is later (or, when
// orEqual is false, as late), or rec does not fit; p.mu is held.
func (p *pending) putJob(rec JobRecord, orEqual bool) {
	old, ok := p.jobs[rec.JobID]
	delta := rec.size()
	if ok {
		if c := compareObservations(old.IsInEtcd, old.Version, rec.IsInEtcd, rec.Version); c > 0 || (c == 0 && !orEqual) {
			return
		}
		delta -= old.size()
	}
	if !p.fits(delta, tableJob) {
		return
	}
	p.jobs[rec.JobID] = rec
	p.bytes += delta
}

// putPod queues rec unless the pending record of its row is later (or, when
// orEqual is false, as late), or rec does not fit; p.mu is held.
func (p *pending) putPod(rec PodRecord, orEqual bool) {
	k := podKey{rec.JobID, rec.PodID}
	old, ok := p.pods[k]
	delta := rec.size()
	if ok {
		if c := compareObservations(old.IsInEtcd, old.Version, rec.IsInEtcd, rec.Version); c > 0 || (c == 0 && !orEqual) {
			return
		}
		delta -= old.size()
	}
	if !p.fits(delta, tablePod) {
		return
	}
	p.pods[k] = rec
	p.bytes += delta
}

// fits reports whether delta more bytes stay within the bound, and otherwise notes the
// overflow; p.mu is held.
func (p *pending) fits(delta int, table string) bool {
	if p.maxBytes <= 0 || p.bytes+delta <= p.maxBytes {
		return true
	}
	p.overflowed = true
	overflowedRecords.WithLabelValues(table).Inc()
	return false
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
		p.bytes -= rec.size()
		delete(p.jobs, k)
	}
	var pods []PodRecord
	for k, rec := range p.pods {
		if len(pods) == limit {
			break
		}
		pods = append(pods, rec)
		p.bytes -= rec.size()
		delete(p.pods, k)
	}
	p.publish()
	return jobs, pods
}

// requeueJobs puts back job records whose write failed, unless a later observation
// of the same row arrived meanwhile.
func (p *pending) requeueJobs(recs []JobRecord) {
	if len(recs) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rec := range recs {
		p.putJob(rec, false)
	}
	p.updated()
}

// requeuePods puts back pod records whose write failed, unless a later observation
// of the same row arrived meanwhile.
func (p *pending) requeuePods(recs []PodRecord) {
	if len(recs) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rec := range recs {
		p.putPod(rec, false)
	}
	p.updated()
}

// takeOverflow reports whether records were left out since the last call, and forgets it.
func (p *pending) takeOverflow() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.overflowed
	p.overflowed = false
	return o
}

// hasOverflow reports whether records were left out since the last takeOverflow.
func (p *pending) hasOverflow() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.overflowed
}

// markOverflow notes that records were left out, so that the writer re-reads.
func (p *pending) markOverflow() {
	p.mu.Lock()
	p.overflowed = true
	p.mu.Unlock()
}

// len returns the number of pending records.
func (p *pending) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.jobs) + len(p.pods)
}

// size returns the bytes the pending records take, as size counts them.
func (p *pending) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bytes
}

// updated publishes the size and wakes the writer; p.mu is held.
func (p *pending) updated() {
	p.publish()
	select {
	case p.signal <- struct{}{}:
	default:
	}
}

// publish sets the gauges of the queue; p.mu is held.
func (p *pending) publish() {
	recordsPending.Set(float64(len(p.jobs) + len(p.pods)))
	pendingBytes.Set(float64(p.bytes))
}
