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

package leader

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/client-go/tools/leaderelection/resourcelock"
	clocktesting "k8s.io/utils/clock/testing"
)

// lock is a resource lock whose writes take the time the test gives them and fail when told.
type lock struct {
	resourcelock.Interface
	clock   *clocktesting.FakeClock
	takes   time.Duration
	fail    bool
	written []resourcelock.LeaderElectionRecord
}

func (l *lock) Identity() string { return "me" }

func (l *lock) Update(_ context.Context, ler resourcelock.LeaderElectionRecord) error {
	l.clock.Step(l.takes)
	if l.fail {
		return errors.New("conflict")
	}
	l.written = append(l.written, ler)
	return nil
}

func (l *lock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	return l.Update(ctx, ler)
}

func TestFence(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(t0)
	l := &lock{clock: clk, takes: 2 * time.Second}
	f := NewFence(l, 10*time.Second, clk)
	ctx := context.Background()
	mine := resourcelock.LeaderElectionRecord{HolderIdentity: "me"}

	if !f.Until().IsZero() {
		t.Fatalf("a fence that never renewed allows acting until %v", f.Until())
	}
	if err := f.Create(ctx, mine); err != nil {
		t.Fatal(err)
	}
	// Counted from when the renewal was sent, not from when it was answered.
	if want := t0.Add(10 * time.Second); !f.Until().Equal(want) {
		t.Errorf("after taking the lease: until %v, want %v", f.Until(), want)
	}
	l.fail = true
	if err := f.Update(ctx, mine); err == nil {
		t.Fatal("the failing renewal succeeded")
	}
	if want := t0.Add(10 * time.Second); !f.Until().Equal(want) {
		t.Errorf("a failed renewal moved the fence to %v, want %v", f.Until(), want)
	}
	l.fail = false
	sent := clk.Now()
	if err := f.Update(ctx, mine); err != nil {
		t.Fatal(err)
	}
	if want := sent.Add(10 * time.Second); !f.Until().Equal(want) {
		t.Errorf("after a renewal: until %v, want %v", f.Until(), want)
	}
	// Releasing the lease (an empty holder) closes the fence before the release is sent.
	l.Interface = nil
	var during time.Time
	f.Interface = &observingLock{lock: l, seen: func() { during = f.Until() }}
	if err := f.Update(ctx, resourcelock.LeaderElectionRecord{}); err != nil {
		t.Fatal(err)
	}
	if !during.IsZero() || !f.Until().IsZero() {
		t.Errorf("releasing: until %v while the release was sent, %v after", during, f.Until())
	}
}

// observingLock calls seen when a write reaches it.
type observingLock struct {
	*lock
	seen func()
}

func (o *observingLock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	o.seen()
	return o.lock.Update(ctx, ler)
}
