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

// Package leader keeps a manager that may have lost its lease from acting beside the new
// leader. Leader election is not a lock: a leader paused past its lease (a long GC stall, a
// frozen VM, SIGSTOP) resumes believing it leads, and client-go's elector only notices
// when its renew deadline ends. The Fence wraps the election's resource lock and learns
// from it when the lease was last renewed; the controller asks it before every write.
package leader

import (
	"context"
	"sync"
	"time"

	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/clock"
)

// Fence is a resourcelock.Interface that remembers when this process last renewed the
// lease, and says until when it may act: the time the last successful renewal was sent,
// plus the renew deadline.
//
// Why that is safe: a renewal is an update guarded by the lease's resourceVersion, so its
// success means nobody took the lease before it was applied. Another candidate takes the
// lease only once it has seen no change of it for the lease duration, measured from when
// it saw the change, which is after this process sent it. So no other process acts before
// sent + leaseDuration, and this one stops writing at sent + renewDeadline: the difference
// (5 s with the defaults) is the margin left to a write already on its way.
type Fence struct {
	resourcelock.Interface
	renewDeadline time.Duration
	clock         clock.PassiveClock

	mu    sync.Mutex
	until time.Time
}

// NewFence wraps lock. renewDeadline must be the elector's, which is shorter than its lease duration.
func NewFence(lock resourcelock.Interface, renewDeadline time.Duration, clk clock.PassiveClock) *Fence {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Fence{Interface: lock, renewDeadline: renewDeadline, clock: clk}
}

// Create takes a lease that did not exist.
func (f *Fence) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	return f.write(ctx, ler, f.Interface.Create)
}

// Update renews or takes the lease, or releases it (an empty holder).
func (f *Fence) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	return f.write(ctx, ler, f.Interface.Update)
}

func (f *Fence) write(ctx context.Context, ler resourcelock.LeaderElectionRecord,
	send func(context.Context, resourcelock.LeaderElectionRecord) error) error {
	mine := ler.HolderIdentity == f.Identity()
	if !mine {
		// Releasing: stop acting before anyone else can take the lease.
		f.close()
	}
	sent := f.clock.Now()
	err := send(ctx, ler)
	if err == nil && mine {
		f.mu.Lock()
		if u := sent.Add(f.renewDeadline); u.After(f.until) {
			f.until = u
		}
		f.mu.Unlock()
	}
	return err
}

// close stops the process from acting until its next successful renewal.
func (f *Fence) close() {
	f.mu.Lock()
	f.until = time.Time{}
	f.mu.Unlock()
}

// Until returns the time until which this process may write: zero when it does not hold
// the lease.
func (f *Fence) Until() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.until
}

// Left returns how long this process may still write: zero or less when it may not. It is
// measured on the monotonic clock and on the wall clock, whichever says less: the
// monotonic clock stands still while a VM is suspended (a paused VM's other processes see
// the time jump), the wall clock may be stepped back.
func (f *Fence) Left() time.Duration {
	until := f.Until()
	if until.IsZero() {
		return 0
	}
	now := f.clock.Now()
	return min(until.Sub(now), until.Round(0).Sub(now.Round(0)))
}
