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
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil/mariadb"
)

var (
	sharedOnce   sync.Once
	sharedServer *mariadb.Server
	sharedErr    error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedServer != nil {
		if err := sharedServer.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "closing MariaDB:", err)
		}
	}
	os.Exit(code)
}

// testServer returns the MariaDB server shared by the tests, started on first use.
func testServer(t *testing.T) *mariadb.Server {
	t.Helper()
	sharedOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		sharedServer, sharedErr = mariadb.Start(ctx)
	})
	if sharedErr != nil {
		t.Fatalf("starting MariaDB: %v", sharedErr)
	}
	return sharedServer
}

// configFor returns the recorder configuration of a database of the server.
func configFor(srv *mariadb.Server, dbName string) Config {
	return Config{Host: srv.Host, Port: srv.Port, User: srv.User, Password: srv.Password, DBName: dbName}
}

// newTestStore returns a migrated store on a fresh database of the shared server.
func newTestStore(t *testing.T) *MySQLStore {
	t.Helper()
	srv := testServer(t)
	ctx := testContext(t)
	name, err := srv.NewDatabase(ctx)
	if err != nil {
		t.Fatalf("creating a database: %v", err)
	}
	return openStore(t, configFor(srv, name), StoreOptions{QueryTimeout: 10 * time.Second})
}

// openStore opens and migrates a store and closes it at the end of the test.
func openStore(t *testing.T, cfg Config, opts StoreOptions) *MySQLStore {
	t.Helper()
	opts.Logger = testr.New(t)
	s, err := NewMySQLStore(cfg, opts)
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(testContext(t)); err != nil {
		t.Fatalf("migrating: %v", err)
	}
	return s
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		ok, err := cond()
		if ok && err == nil {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s (last error: %v)", timeout, what, lastErr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testLogger(t *testing.T) logr.Logger { return testr.New(t) }
