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

package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/manager"
)

// maxRestarts bounds how often the managers may exit on their own in one run: a manager
// that cannot start would otherwise be restarted until the test's deadline.
const maxRestarts = 20

// managers runs the manager processes of one run, each in a slot, and starts a new
// process in the slot of one that exits, as a Deployment's ReplicaSet would.
type managers struct {
	t    *testing.T
	spec childSpec // the fields shared by every process: Seed and Identity are set per process
	// election runs the processes with leader election.
	election bool
	log      string

	mu       sync.Mutex
	slots    map[string]*child
	started  int // processes started, which numbers their seeds and identities
	restarts int // processes that exited without being killed, and were replaced
	stopping bool
	wg       sync.WaitGroup
}

// child is a manager process.
type child struct {
	slot, identity string
	cmd            *exec.Cmd
	// done is closed once the process exited and was waited for.
	done chan struct{}
	// killed is set before the test kills the process, so that its exit is not a restart.
	killed bool
}

// startManagers starts one manager process in each slot; their output goes to manager.log
// in the run's directory.
func startManagers(t *testing.T, spec childSpec, election bool, slots ...string) *managers {
	t.Helper()
	m := &managers{t: t, spec: spec, election: election, log: filepath.Join(spec.Dir, "manager.log"),
		slots: map[string]*child{}}
	t.Cleanup(m.stop)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, slot := range slots {
		if err := m.startLocked(slot); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// startLocked starts a process in the slot, and replaces it when it exits.
func (m *managers) startLocked(slot string) error {
	m.started++
	spec := m.spec
	// Each process draws its own faults, from the run's seed.
	spec.Seed = m.spec.Seed*1000 + uint64(m.started)
	if m.election {
		// A restarted process is a new pod, with a new name: reusing the name would let it
		// take the lease its predecessor held at once.
		spec.Identity = fmt.Sprintf("manager-%s-%d", slot, m.started)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	log, err := os.OpenFile(m.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = log.Close() }()
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, so that SIGSTOP and SIGKILL reach all of it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	c := &child{slot: slot, identity: spec.Identity, cmd: cmd, done: make(chan struct{})}
	m.slots[slot] = c
	m.wg.Go(func() { m.supervise(c) })
	return nil
}

// supervise waits for the process to exit, and starts another in its slot unless the
// test killed it or the run is over.
func (m *managers) supervise(c *child) {
	err := c.cmd.Wait()
	close(c.done)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopping || c.killed {
		return
	}
	m.restarts++
	m.t.Logf("manager %s exited (%v) and was replaced (restart %d)", c.identity, err, m.restarts)
	if m.restarts > maxRestarts {
		m.t.Errorf("the managers exited %d times: not restarting any more", m.restarts)
		return
	}
	if err := m.startLocked(c.slot); err != nil {
		m.t.Errorf("restarting manager %s: %v", c.slot, err)
	}
}

// crash kills the slot's process with SIGKILL, as an OOM kill or a node failure would,
// and starts another in its place.
func (m *managers) crash(slot string) {
	m.mu.Lock()
	c := m.slots[slot]
	c.killed = true
	m.mu.Unlock()
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	<-c.done
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.startLocked(slot); err != nil {
		m.t.Fatal(err)
	}
}

// byIdentity returns the running process named identity in the lease, or nil.
func (m *managers) byIdentity(identity string) *child {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.slots {
		if c.identity == identity && !c.exited() {
			return c
		}
	}
	return nil
}

func (m *managers) restarted() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.restarts
}

// stop kills every process, and shows the end of their log when the test failed.
func (m *managers) stop() {
	m.mu.Lock()
	m.stopping = true
	procs := make([]*child, 0, len(m.slots))
	for _, c := range m.slots {
		procs = append(procs, c)
	}
	m.mu.Unlock()
	for _, c := range procs {
		// SIGKILL ends a stopped process too.
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	}
	m.wg.Wait()
	if m.t.Failed() {
		if b, err := os.ReadFile(m.log); err == nil {
			lines := bytes.Split(b, []byte("\n"))
			m.t.Logf("the managers' log ends with:\n%s", bytes.Join(lines[max(0, len(lines)-60):], []byte("\n")))
		}
	}
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process's group.
func (c *child) signal(sig syscall.Signal) error { return syscall.Kill(-c.cmd.Process.Pid, sig) }

// leaseHolder returns who holds the managers' lease, or "" when nobody does or it cannot
// be read.
func leaseHolder(ctx context.Context, c client.Client) string {
	var lease coordinationv1.Lease
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: manager.LeaderElectionID}, &lease); err != nil ||
		lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// ago formats a duration for the log, to the millisecond.
func ago(since time.Time) time.Duration { return time.Since(since).Round(time.Millisecond) }
