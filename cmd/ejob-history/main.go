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

// Command ejob-history prints the EphemeralJobs and pods that the MySQL recorder
// (`--meta-storage mysql`) kept, including those long deleted from the API server.
//
//	ejob-history jobs [--namespace ns] [--status Failed] [--since 24h] [--limit 100]
//	ejob-history pods <namespace>/<name> | <job uid>
//
// It reads the manager's MYSQL_* environment variables; --host, --port, --db, --user
// and --tls override them. The password is read from MYSQL_PASSWORD only, so that it
// never shows in a process list or a shell history.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
)

const usage = `ejob-history prints the EphemeralJobs and pods recorded in MySQL.

Usage:
  ejob-history jobs [flags]                         past jobs, newest first
  ejob-history pods [flags] <namespace>/<name>      the pods of a job (the newest job of that name)
  ejob-history pods [flags] <job uid>

Connection (defaults from MYSQL_HOST, MYSQL_PORT, MYSQL_DB_NAME, MYSQL_USER, MYSQL_TLS;
the password comes from MYSQL_PASSWORD only):
  --host, --port, --db, --user, --tls, --timeout

Run "ejob-history <command> --help" for the flags of a command.
`

// exitUsage is the exit code of a command line that cannot be run.
const exitUsage = 2

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return 0
	}
	var cmd func(context.Context, *connection, []string, io.Writer, io.Writer) error
	var fs *flag.FlagSet
	var conn *connection
	switch args[0] {
	case "jobs":
		fs, conn = newFlagSet("jobs", stderr)
		opts := &jobsOptions{}
		fs.StringVar(&opts.namespace, "namespace", "", "only jobs of this namespace")
		fs.StringVar(&opts.namespace, "n", "", "shorthand for --namespace")
		fs.StringVar(&opts.status, "status", "", "only jobs in this status: "+strings.Join(jobStatuses, ", "))
		fs.DurationVar(&opts.since, "since", 0, "only jobs created within this long before now, e.g. 24h")
		fs.IntVar(&opts.limit, "limit", 100, "print at most this many jobs (1-10000)")
		cmd = opts.run
	case "pods":
		fs, conn = newFlagSet("pods", stderr)
		cmd = runPods
	default:
		fmt.Fprintf(stderr, "ejob-history: unknown command %q: use jobs or pods\n\n%s", args[0], usage)
		return exitUsage
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	if err := cmd(ctx, conn, fs.Args(), stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "ejob-history %s: %v\n", args[0], explain(err))
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return 1
	}
	return 0
}

// usageError is an error in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// connection holds the connection flags.
type connection struct {
	host, db, user, tls string
	port                int
	timeout             time.Duration
	// fs tells which flags were given.
	fs *flag.FlagSet
}

func newFlagSet(name string, stderr io.Writer) (*flag.FlagSet, *connection) {
	fs := flag.NewFlagSet("ejob-history "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &connection{fs: fs}
	fs.StringVar(&c.host, "host", "", "MySQL host (default $MYSQL_HOST)")
	fs.IntVar(&c.port, "port", 0, "MySQL port (default $MYSQL_PORT, else 3306)")
	fs.StringVar(&c.db, "db", "", "database name (default $MYSQL_DB_NAME)")
	fs.StringVar(&c.user, "user", "", "MySQL user (default $MYSQL_USER)")
	fs.StringVar(&c.tls, "tls", "", "TLS mode: true, false, skip-verify or preferred (default $MYSQL_TLS)")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "give up after this long")
	return fs, c
}

// config returns the MySQL settings: the environment, overridden by the flags given.
func (c *connection) config() (recorder.Config, error) {
	cfg, err := recorder.ReadEnv()
	set := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err != nil && !set["port"] {
		return cfg, usageError{err.Error()}
	}
	if set["host"] {
		cfg.Host = c.host
	}
	if set["port"] {
		if c.port <= 0 || c.port > 65535 {
			return cfg, usagef("--port %d is not a port number (1-65535)", c.port)
		}
		cfg.Port = c.port
	}
	if set["db"] {
		cfg.DBName = c.db
	}
	if set["user"] {
		cfg.User = c.user
	}
	if set["tls"] {
		cfg.TLS = c.tls
	}
	for _, req := range []struct{ val, flag, env string }{
		{cfg.Host, "--host", "MYSQL_HOST"}, {cfg.DBName, "--db", "MYSQL_DB_NAME"}, {cfg.User, "--user", "MYSQL_USER"},
	} {
		if req.val == "" {
			return cfg, usagef("no MySQL %s: set %s or pass %s", strings.TrimPrefix(req.flag, "--"), req.env, req.flag)
		}
	}
	return cfg, nil
}

// open returns a store on the configured database, and a context bounded by --timeout.
func (c *connection) open(ctx context.Context) (*recorder.MySQLStore, context.Context,
	context.CancelFunc, error) {
	if c.timeout <= 0 {
		return nil, nil, nil, usagef("--timeout %v must be positive", c.timeout)
	}
	cfg, err := c.config()
	if err != nil {
		return nil, nil, nil, err
	}
	store, err := recorder.NewMySQLStore(cfg, recorder.StoreOptions{QueryTimeout: c.timeout, MaxOpenConns: 1})
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	return store, ctx, func() { cancel(); _ = store.Close() }, nil
}

// jobStatuses are the values of the job table's status column.
var jobStatuses = []string{recorder.StatusCreated, string(appsv1alpha1.EphemeralJobWaiting),
	string(appsv1alpha1.EphemeralJobRunning), string(appsv1alpha1.EphemeralJobSucceeded),
	string(appsv1alpha1.EphemeralJobFailed), string(appsv1alpha1.EphemeralJobError),
	string(appsv1alpha1.EphemeralJobPaused)}

// maxJobs bounds --limit.
const maxJobs = 10000

type jobsOptions struct {
	namespace, status string
	since             time.Duration
	limit             int
	// now is the clock of --since; time.Now when nil.
	now func() time.Time
}

func (o *jobsOptions) run(ctx context.Context, conn *connection, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q: jobs takes only flags", args[0])
	}
	if o.status != "" && !slices.Contains(jobStatuses, o.status) {
		return usagef("--status %q is not one of %s", o.status, strings.Join(jobStatuses, ", "))
	}
	if o.since < 0 {
		return usagef("--since %v must be positive", o.since)
	}
	if o.limit < 1 || o.limit > maxJobs {
		return usagef("--limit %d is not within 1-%d", o.limit, maxJobs)
	}
	filter := recorder.JobFilter{Namespace: o.namespace, Status: o.status, NewestFirst: true}
	if o.since > 0 {
		now := time.Now
		if o.now != nil {
			now = o.now
		}
		filter.CreatedAfter = now().Add(-o.since)
	}
	store, ctx, done, err := conn.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	var jobs []recorder.JobRecord
	for len(jobs) < o.limit {
		filter.Limit = min(o.limit-len(jobs), recorder.MaxListLimit)
		page, err := store.ListJobs(ctx, filter)
		if err != nil {
			return err
		}
		jobs = append(jobs, page...)
		if len(page) < filter.Limit {
			break
		}
		filter.AfterID = page[len(page)-1].ID
	}
	if len(jobs) == 0 {
		fmt.Fprintln(stderr, "no jobs found in history")
		return nil
	}
	return writeJobs(stdout, jobs)
}

func runPods(ctx context.Context, conn *connection, args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return usagef("pods takes one argument, <namespace>/<name> or a job UID; got %d", len(args))
	}
	filter, what, err := jobLookup(args[0])
	if err != nil {
		return err
	}
	store, ctx, done, err := conn.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	filter.NewestFirst, filter.Limit = true, recorder.MaxListLimit
	jobs, err := store.ListJobs(ctx, filter)
	if err != nil {
		return err
	}
	if len(jobs) == 0 {
		return fmt.Errorf("%s not found in history", what)
	}
	job := jobs[0]
	if len(jobs) > 1 {
		fmt.Fprintf(stderr, "%d jobs were named %s/%s; showing the newest, %s (pass a UID to see another)\n",
			len(jobs), job.Namespace, job.Name, job.JobID)
	}
	pods, err := store.ListPods(ctx, job.JobID)
	if err != nil {
		return err
	}
	return writePods(stdout, job, pods)
}

// jobLookup turns the argument of pods into a filter, and says what it names.
func jobLookup(arg string) (recorder.JobFilter, string, error) {
	if ns, name, ok := strings.Cut(arg, "/"); ok {
		if ns == "" || name == "" || strings.Contains(name, "/") {
			return recorder.JobFilter{}, "", usagef("%q is not <namespace>/<name>", arg)
		}
		return recorder.JobFilter{Namespace: ns, Name: name}, fmt.Sprintf("job %q", arg), nil
	}
	if arg == "" {
		return recorder.JobFilter{}, "", usagef("the job argument is empty")
	}
	return recorder.JobFilter{JobID: arg}, fmt.Sprintf("job with UID %q", arg), nil
}

// explain adds a hint to the errors whose cause is not plain from MySQL's words.
func explain(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1146 { // no such table
		return fmt.Errorf("%w (the database has no recorder tables: is it the one the manager's --meta-storage "+
			"mysql writes to, and did the manager start once?)", err)
	}
	return err
}
