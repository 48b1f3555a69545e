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

package mariadb

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

func openDB(t *testing.T, srv *Server) *sql.DB {
	t.Helper()
	connector, err := mysql.NewConnector(srv.MySQLConfig(""))
	if err != nil {
		t.Fatalf("configuring the client: %v", err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestServerKeepsDataAcrossStopAndRestart(t *testing.T) {
	srv := StartT(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := openDB(t, srv)

	var charset string
	if err := db.QueryRowContext(ctx, "SELECT @@character_set_database").Scan(&charset); err != nil {
		t.Fatalf("reading the database charset: %v", err)
	}
	if charset != "utf8mb4" {
		t.Errorf("database charset = %q, want utf8mb4", charset)
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (v VARCHAR(16)) CHARSET utf8mb4"); err != nil {
		t.Fatalf("creating a table: %v", err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES (?)", "kept 🙂"); err != nil {
		t.Fatalf("inserting: %v", err)
	}

	if !srv.Managed() {
		t.Skip("the server comes from " + EnvDSN + "; stop and restart are not available")
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("stopping: %v", err)
	}
	pingCtx, pingCancel := context.WithTimeout(ctx, 5*time.Second)
	err := db.PingContext(pingCtx)
	pingCancel()
	if err == nil {
		t.Fatal("ping succeeded while the server was stopped")
	}

	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("restarting: %v", err)
	}
	var v string
	if err := db.QueryRowContext(ctx, "SELECT v FROM t").Scan(&v); err != nil {
		t.Fatalf("reading after restart: %v", err)
	}
	if v != "kept 🙂" {
		t.Errorf("value after restart = %q, want %q", v, "kept 🙂")
	}
}

func TestNewDatabaseIsolatesCallers(t *testing.T) {
	srv := StartT(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	other, err := srv.NewDatabase(ctx)
	if err != nil {
		t.Fatalf("creating a database: %v", err)
	}
	if other == srv.DBName {
		t.Fatalf("NewDatabase returned the caller's database %q again", other)
	}
	if !strings.Contains(srv.DSN(other), "/"+other+"?") {
		t.Errorf("DSN(%q) = %q does not name the database", other, srv.DSN(other))
	}
}

func TestMissingBinaryNamesThePackage(t *testing.T) {
	_, err := findBinary("no-such-mariadbd", "/nonexistent/mariadbd")
	if err == nil {
		t.Fatal("findBinary found a binary that does not exist")
	}
	if !strings.Contains(err.Error(), "apt-get install mariadb-server") {
		t.Errorf("error %q does not say how to install MariaDB", err)
	}
}

func TestExternalServerCannotBeStopped(t *testing.T) {
	s := &Server{}
	if err := s.Stop(); !errors.Is(err, ErrNotManaged) {
		t.Errorf("Stop() = %v, want ErrNotManaged", err)
	}
	if err := s.Restart(context.Background()); !errors.Is(err, ErrNotManaged) {
		t.Errorf("Restart() = %v, want ErrNotManaged", err)
	}
}

func TestNewUserReachesOnlyTheCallersDatabase(t *testing.T) {
	srv := StartT(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	other, err := srv.NewDatabase(ctx)
	if err != nil {
		t.Fatalf("creating a database: %v", err)
	}
	user, password, err := srv.NewUser(ctx)
	if err != nil {
		t.Fatalf("creating a user: %v", err)
	}
	open := func(dbName string) error {
		cfg := srv.MySQLConfig(dbName)
		cfg.User, cfg.Passwd = user, password
		connector, err := mysql.NewConnector(cfg)
		if err != nil {
			return err
		}
		db := sql.OpenDB(connector)
		defer func() { _ = db.Close() }()
		_, err = db.ExecContext(ctx, "CREATE TABLE t (id INT)")
		return err
	}
	if err := open(srv.DBName); err != nil {
		t.Errorf("the new user creating a table in %s: %v", srv.DBName, err)
	}
	if err := open(other); err == nil {
		t.Errorf("the new user created a table in %s, another caller's database", other)
	}
}
