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
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
)

// schemaStore is what the connector needs of a store.
type schemaStore interface {
	Migrate(ctx context.Context) error
	Ping(ctx context.Context) error
}

// connector brings MySQL up in the background: it retries connecting and migrating
// with exponential backoff until both succeed, so the manager starts while MySQL is
// down, then pings MySQL periodically to keep the mysql_up gauge current.
type connector struct {
	store schemaStore
	cfg   Config
	opts  Options
	log   logr.Logger
	clk   clock.WithTicker
	// closer, when set, closes the store after the last user stopped.
	closer *storeCloser

	readyOnce sync.Once
	ready     chan struct{}
	// back receives when MySQL answers a ping again after it did not.
	back chan struct{}

	mu      sync.Mutex
	lastErr error
}

func newConnector(store schemaStore, cfg Config, opts Options, log logr.Logger) *connector {
	return &connector{
		store: store,
		cfg:   cfg,
		opts:  opts.withDefaults(),
		log:   log,
		clk:   clock.RealClock{},
		ready: make(chan struct{}),
		back:  make(chan struct{}, 1),
	}
}

// NeedLeaderElection is false: every replica connects and migrates, so that every
// replica becomes ready and a new leader finds the schema in place.
func (c *connector) NeedLeaderElection() bool { return false }

// Start connects and migrates until it succeeds, then pings until ctx ends.
func (c *connector) Start(ctx context.Context) error {
	if c.closer != nil {
		if !c.closer.acquire() {
			return nil
		}
		defer c.closer.release()
	}
	var delay time.Duration
	for {
		err := c.store.Migrate(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		c.setErr(err)
		delay = backoff(delay, c.opts.RetryBaseDelay, c.opts.RetryMaxDelay)
		c.log.Error(err, "MySQL is not ready; retrying", "mysql", c.cfg.String(), "after", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-c.clk.After(delay):
		}
	}
	c.setErr(nil)
	c.readyOnce.Do(func() { close(c.ready) })
	c.log.Info("MySQL is ready", "mysql", c.cfg.String())

	ticker := c.clk.NewTicker(c.opts.PingInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
			// Ping sets the mysql_up gauge and the readiness; the writer logs its own failures.
			err := c.store.Ping(ctx)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil && c.getErr() == nil {
				c.log.Info("MySQL stopped answering; records wait until it is back", "mysql", c.cfg.String(),
					"error", err.Error())
			} else if err == nil && c.getErr() != nil {
				c.log.Info("MySQL answers again", "mysql", c.cfg.String())
				select {
				case c.back <- struct{}{}:
				default:
				}
			}
			c.setErr(err)
		}
	}
}

// Check is the MySQL readiness check: it fails until MySQL was reachable and migrated
// once, and afterwards whenever MySQL did not answer the last ping. The recorder rides
// out outages on its own (records wait in memory and are written when MySQL is back),
// so a deployment whose webhook must keep serving during a MySQL outage leaves this
// check out of the pod's readiness probe (/readyz?exclude=mysql) and watches
// /readyz/mysql or the mysql_up gauge instead.
func (c *connector) Check(_ *http.Request) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.ready:
		if c.lastErr != nil {
			return fmt.Errorf("MySQL %s does not answer: %w", c.cfg.String(), c.lastErr)
		}
		return nil
	default:
	}
	if c.lastErr != nil {
		return fmt.Errorf("MySQL %s is not reachable and migrated yet: %w", c.cfg.String(), c.lastErr)
	}
	return fmt.Errorf("MySQL %s is not reachable and migrated yet", c.cfg.String())
}

func (c *connector) getErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

func (c *connector) setErr(err error) {
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
}

// storeCloser closes a store once every runnable that uses it has stopped. The
// manager stops non-leader runnables (the connector) before leader ones (the
// recorder, which still flushes), so neither may close the store on its own.
type storeCloser struct {
	mu     sync.Mutex
	users  int
	closed bool
	close  func() error
	log    logr.Logger
}

// acquire registers a user, and reports false when the store is already closed.
func (s *storeCloser) acquire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.users++
	return true
}

// release unregisters a user and closes the store after the last one.
func (s *storeCloser) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users--
	if s.users > 0 || s.closed {
		return
	}
	s.closed = true
	if err := s.close(); err != nil {
		s.log.Error(err, "closing the MySQL store")
	}
}
