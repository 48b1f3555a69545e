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

// Package mariadb runs a private MariaDB server for tests.
//
// Start launches mariadbd on a free port of 127.0.0.1 (StartOn: of another address, for
// clients elsewhere, such as pods) with a fresh data directory,
// or, when EJOB_TEST_MYSQL_DSN is set, uses that server instead. The server can be
// stopped and restarted on the same port and data directory, to test clients
// through a database outage. Start takes a context, so it works in Ginkgo suites
// (BeforeSuite + DeferCleanup(srv.Close)) as well as in TestMain; StartT wraps it
// for a single test.
package mariadb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// EnvDSN names the environment variable holding the DSN of an existing server to use
// instead of a private one, e.g. "root:pw@tcp(127.0.0.1:3306)/". Each Start creates its
// own database there and Close drops it.
const EnvDSN = "EJOB_TEST_MYSQL_DSN"

// ErrNotManaged is returned by Stop and Restart when the server comes from EJOB_TEST_MYSQL_DSN.
var ErrNotManaged = errors.New("the MySQL server comes from " + EnvDSN + ": it cannot be stopped or restarted")

const (
	defaultStartTimeout = 90 * time.Second
	stopTimeout         = 30 * time.Second
	pollInterval        = 50 * time.Millisecond
)

// Server is a MySQL-compatible server for tests, with one database created for the caller.
type Server struct {
	// Host and Port are the TCP address of the server.
	Host string
	Port int
	// User and Password log in with every privilege (root without a password for a private server).
	User     string
	Password string
	// DBName is the database created for the caller.
	DBName string

	base    *mysql.Config
	managed bool

	dir     string
	dataDir string
	socket  string
	logPath string
	mariadb string

	// bind is the address the private server listens on.
	bind string

	mu        sync.Mutex
	proc      *exec.Cmd
	exited    chan struct{}
	databases []string
}

// Start starts a private mariadbd (or connects to EJOB_TEST_MYSQL_DSN), creates a
// database and waits until the server answers. The context bounds the start only;
// call Close to stop the server and remove its files.
func Start(ctx context.Context) (*Server, error) {
	return StartOn(ctx, "127.0.0.1")
}

// StartOn is Start with a private server listening on bindAddress (an IP address),
// reachable by clients of other hosts or network namespaces that route to it; the
// server's Host is that address. A server from EJOB_TEST_MYSQL_DSN is used as it is.
func StartOn(ctx context.Context, bindAddress string) (*Server, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartTimeout)
		defer cancel()
	}
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return startExternal(ctx, dsn)
	}
	return startPrivate(ctx, bindAddress)
}

// StartT starts a server for one test, fails the test when it cannot, and closes the
// server when the test ends.
func StartT(tb testing.TB) *Server {
	tb.Helper()
	srv, err := Start(context.Background())
	if err != nil {
		tb.Fatalf("starting MariaDB: %v", err)
	}
	tb.Cleanup(func() {
		if err := srv.Close(); err != nil {
			tb.Errorf("closing MariaDB: %v", err)
		}
	})
	return srv
}

func startExternal(ctx context.Context, dsn string) (*Server, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", EnvDSN, err)
	}
	if cfg.Net != "tcp" {
		return nil, fmt.Errorf("%s must use tcp, not %q", EnvDSN, cfg.Net)
	}
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("parsing the address of %s: %w", EnvDSN, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("parsing the port of %s: %w", EnvDSN, err)
	}
	cfg.DBName = ""
	s := &Server{Host: host, Port: port, User: cfg.User, Password: cfg.Passwd, base: cfg}
	if err := s.waitReady(ctx); err != nil {
		return nil, err
	}
	if s.DBName, err = s.NewDatabase(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func startPrivate(ctx context.Context, bindAddress string) (s *Server, err error) {
	mariadbd, err := findBinary("mariadbd", "/usr/sbin/mariadbd")
	if err != nil {
		return nil, err
	}
	installDB, err := findBinary("mariadb-install-db", "/usr/bin/mariadb-install-db")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ejob-mariadb-")
	if err != nil {
		return nil, fmt.Errorf("creating the data directory: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	port, err := freePort(bindAddress)
	if err != nil {
		return nil, err
	}
	s = &Server{
		Host:    bindAddress,
		bind:    bindAddress,
		Port:    port,
		User:    "root",
		managed: true,
		dir:     dir,
		dataDir: filepath.Join(dir, "data"),
		socket:  filepath.Join(dir, "mariadbd.sock"),
		logPath: filepath.Join(dir, "mariadbd.log"),
		mariadb: mariadbd,
	}
	s.base = mysql.NewConfig()
	s.base.User = s.User
	s.base.Net = "tcp"
	s.base.Addr = net.JoinHostPort(s.Host, strconv.Itoa(s.Port))

	// A temporary directory of its own: servers started at once by parallel test
	// binaries must not share /tmp, where their temporary table files could collide.
	if err := os.Mkdir(s.tmpDir(), 0o700); err != nil {
		return nil, fmt.Errorf("creating the temporary directory: %w", err)
	}
	args := append([]string{"--no-defaults", "--datadir=" + s.dataDir, "--tmpdir=" + s.tmpDir(),
		"--auth-root-authentication-method=normal", "--skip-test-db"}, userArgs()...)
	out, err := exec.CommandContext(ctx, installDB, args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("running mariadb-install-db: %w: %s", err, tail(string(out), 2000))
	}
	if err := s.startProcess(ctx); err != nil {
		return nil, err
	}
	if s.DBName, err = s.NewDatabase(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// Managed reports whether this harness started the server, so that Stop and Restart work.
func (s *Server) Managed() bool { return s.managed }

// Addr returns host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// MySQLConfig returns a go-sql-driver configuration for the named database
// (the caller's database when name is empty), with parseTime and UTC times.
func (s *Server) MySQLConfig(name string) *mysql.Config {
	cfg := s.base.Clone()
	if name == "" {
		name = s.DBName
	}
	cfg.DBName = name
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.Timeout = 5 * time.Second
	return cfg
}

// DSN returns the DSN of the named database (the caller's database when name is empty).
func (s *Server) DSN(name string) string { return s.MySQLConfig(name).FormatDSN() }

// NewDatabase creates an empty utf8mb4 database with a unique name and returns the name.
// Close drops it when the server comes from EJOB_TEST_MYSQL_DSN.
func (s *Server) NewDatabase(ctx context.Context) (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("naming a database: %w", err)
	}
	name := "ejob_test_" + hex.EncodeToString(b)
	// The name is made of [a-z0-9_] only, so quoting it with backticks is safe.
	if err := s.exec(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		return "", fmt.Errorf("creating database %s: %w", name, err)
	}
	s.mu.Lock()
	s.databases = append(s.databases, name)
	s.mu.Unlock()
	return name, nil
}

// NewUser creates a user with a random password who may connect from any host and has
// every privilege on the caller's database (DBName), and returns its name and password:
// what a client elsewhere logs in with, root being reachable from localhost only.
func (s *Server) NewUser(ctx context.Context) (user, password string, err error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("making a password: %w", err)
	}
	user, password = "ejob_"+hex.EncodeToString(b[:4]), hex.EncodeToString(b[4:])
	// Names and password are made of [a-z0-9_] only, so quoting them is safe.
	if err := s.exec(ctx, "CREATE USER '"+user+"'@'%' IDENTIFIED BY '"+password+"'"); err != nil {
		return "", "", fmt.Errorf("creating user %s: %w", user, err)
	}
	if err := s.exec(ctx, "GRANT ALL PRIVILEGES ON `"+s.DBName+"`.* TO '"+user+"'@'%'"); err != nil {
		return "", "", fmt.Errorf("granting %s the database %s: %w", user, s.DBName, err)
	}
	return user, password, nil
}

// Stop shuts the server down and waits until it exited; its data stays for Restart.
func (s *Server) Stop() error {
	if !s.managed {
		return ErrNotManaged
	}
	s.mu.Lock()
	proc, exited := s.proc, s.exited
	s.proc, s.exited = nil, nil
	s.mu.Unlock()
	if proc == nil {
		return nil
	}
	if err := proc.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stopping mariadbd: %w", err)
	}
	select {
	case <-exited:
		return nil
	case <-time.After(stopTimeout):
	}
	if err := proc.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing mariadbd: %w", err)
	}
	<-exited
	return nil
}

// Restart starts a stopped server again on the same port and data directory, and
// waits until it answers. A running server is stopped first.
func (s *Server) Restart(ctx context.Context) error {
	if !s.managed {
		return ErrNotManaged
	}
	if err := s.Stop(); err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartTimeout)
		defer cancel()
	}
	return s.startProcess(ctx)
}

// Close stops a private server and removes its files, or drops the databases
// created on a server from EJOB_TEST_MYSQL_DSN.
func (s *Server) Close() error {
	if !s.managed {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var errs []error
		s.mu.Lock()
		names := s.databases
		s.databases = nil
		s.mu.Unlock()
		for _, name := range names {
			if err := s.exec(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
				errs = append(errs, fmt.Errorf("dropping database %s: %w", name, err))
			}
		}
		return errors.Join(errs...)
	}
	stopErr := s.Stop()
	return errors.Join(stopErr, os.RemoveAll(s.dir))
}

func (s *Server) startProcess(ctx context.Context) error {
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening the server log: %w", err)
	}
	args := append([]string{
		"--no-defaults",
		"--datadir=" + s.dataDir,
		"--tmpdir=" + s.tmpDir(),
		"--socket=" + s.socket,
		"--pid-file=" + filepath.Join(s.dir, "mariadbd.pid"),
		"--port=" + strconv.Itoa(s.Port),
		"--bind-address=" + s.bind,
		"--skip-log-bin",
		"--character-set-server=utf8mb4",
		"--innodb-buffer-pool-size=64M",
		"--innodb-flush-log-at-trx-commit=2",
	}, userArgs()...)
	cmd := exec.Command(s.mariadb, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("starting mariadbd: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(exited)
	}()
	s.mu.Lock()
	s.proc, s.exited = cmd, exited
	s.mu.Unlock()

	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return fmt.Errorf("%w; server log: %s", err, s.logTail())
	}
	return nil
}

// waitReady polls the server until it answers a ping, it exits, or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	s.mu.Lock()
	exited := s.exited
	s.mu.Unlock()
	var lastErr error
	for {
		if lastErr = s.ping(ctx); lastErr == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("mariadbd exited before it answered")
		case <-ctx.Done():
			return fmt.Errorf("waiting for MySQL at %s to answer: %w (last error: %v)", s.Addr(), ctx.Err(), lastErr)
		case <-time.After(pollInterval):
		}
	}
}

func (s *Server) ping(ctx context.Context) error {
	cfg := s.adminConfig()
	cfg.Timeout = time.Second
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return fmt.Errorf("configuring the MySQL client: %w", err)
	}
	db := sql.OpenDB(connector)
	defer func() { _ = db.Close() }()
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return db.PingContext(pingCtx)
}

// adminConfig is how the harness itself logs in: over the Unix socket for a private
// server, where root is allowed whatever address the server listens on (root@localhost
// does not match a TCP client of a non-loopback address).
func (s *Server) adminConfig() *mysql.Config {
	cfg := s.MySQLConfig("")
	cfg.DBName = ""
	if s.managed {
		cfg.Net, cfg.Addr = "unix", s.socket
	}
	return cfg
}

func (s *Server) exec(ctx context.Context, query string) error {
	cfg := s.adminConfig()
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return fmt.Errorf("configuring the MySQL client: %w", err)
	}
	db := sql.OpenDB(connector)
	defer func() { _ = db.Close() }()
	_, err = db.ExecContext(ctx, query)
	return err
}

// tmpDir is the server's temporary directory, beside its data directory.
func (s *Server) tmpDir() string { return filepath.Join(s.dir, "tmp") }

func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return tail(string(b), 4000)
}

func findBinary(name, fallback string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if _, err := os.Stat(fallback); err == nil {
		return fallback, nil
	}
	return "", fmt.Errorf("%s not found in PATH nor at %s: install it with `apt-get install mariadb-server`, "+
		"or point %s at an existing server", name, fallback, EnvDSN)
}

// userArgs returns --user=root when running as root, which mariadbd requires in that case.
func userArgs() []string {
	if os.Geteuid() == 0 {
		return []string{"--user=root"}
	}
	return nil
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
