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

package kubectlejob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/spf13/pflag"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
)

// mysqlFlags are the connection flags of the history. They are prefixed with --mysql-
// because --user, --namespace and --timeout mean the kubeconfig's user, the namespace and
// kubectl's request timeout to a kubectl plugin.
type mysqlFlags struct {
	host, db, user, tls string
	port                int
	timeout             time.Duration
	fs                  *pflag.FlagSet
	// getenv reads the MYSQL_* variables.
	getenv func(string) string
}

func (c *mysqlFlags) bind(fs *pflag.FlagSet) {
	c.fs = fs
	fs.StringVar(&c.host, "mysql-host", "", "MySQL host of the history (default $MYSQL_HOST)")
	fs.IntVar(&c.port, "mysql-port", 0, "MySQL port (default $MYSQL_PORT, else 3306)")
	fs.StringVar(&c.db, "mysql-db", "", "MySQL database (default $MYSQL_DB_NAME)")
	fs.StringVar(&c.user, "mysql-user", "", "MySQL user (default $MYSQL_USER; the password comes from $MYSQL_PASSWORD only)")
	fs.StringVar(&c.tls, "mysql-tls", "", "MySQL TLS mode: true, false, skip-verify or preferred (default $MYSQL_TLS)")
	fs.DurationVar(&c.timeout, "mysql-timeout", 30*time.Second, "give up on MySQL after this long")
}

// configured reports whether a history database was named, by --mysql-host or MYSQL_HOST.
func (c *mysqlFlags) configured() bool {
	return c.fs.Changed("mysql-host") || c.getenv("MYSQL_HOST") != ""
}

// readEnv reads the manager's MYSQL_* variables, as recorder.ReadEnv does, through getenv.
func (c *mysqlFlags) readEnv() (recorder.Config, error) {
	cfg := recorder.Config{Host: c.getenv("MYSQL_HOST"), Port: 3306, DBName: c.getenv("MYSQL_DB_NAME"),
		User: c.getenv("MYSQL_USER"), Password: c.getenv("MYSQL_PASSWORD"), TLS: c.getenv("MYSQL_TLS"),
		TLSCAFile: c.getenv("MYSQL_TLS_CA_FILE")}
	if p := c.getenv("MYSQL_PORT"); p != "" {
		port, err := strconv.Atoi(p)
		if err != nil || port <= 0 || port > 65535 {
			return cfg, fmt.Errorf("MYSQL_PORT %q is not a port number (1-65535)", p)
		}
		cfg.Port = port
	}
	return cfg, nil
}

// config returns the MySQL settings: the environment, overridden by the flags given.
func (c *mysqlFlags) config() (recorder.Config, error) {
	cfg, err := c.readEnv()
	if err != nil && !c.fs.Changed("mysql-port") {
		return cfg, fmt.Errorf("%w (or pass --mysql-port)", err)
	}
	if c.fs.Changed("mysql-host") {
		cfg.Host = c.host
	}
	if c.fs.Changed("mysql-port") {
		if c.port <= 0 || c.port > 65535 {
			return cfg, fmt.Errorf("--mysql-port %d is not a port number (1-65535)", c.port)
		}
		cfg.Port = c.port
	}
	if c.fs.Changed("mysql-db") {
		cfg.DBName = c.db
	}
	if c.fs.Changed("mysql-user") {
		cfg.User = c.user
	}
	if c.fs.Changed("mysql-tls") {
		cfg.TLS = c.tls
	}
	for _, req := range []struct{ val, what, flag, env string }{
		{cfg.Host, "host", "--mysql-host", "MYSQL_HOST"}, {cfg.DBName, "database", "--mysql-db", "MYSQL_DB_NAME"},
		{cfg.User, "user", "--mysql-user", "MYSQL_USER"},
	} {
		if req.val == "" {
			return cfg, fmt.Errorf("no MySQL %s for the history: set %s or pass %s", req.what, req.env, req.flag)
		}
	}
	return cfg, nil
}

// open returns a store on the configured database, and a context bounded by --mysql-timeout.
func (c *mysqlFlags) open(ctx context.Context) (*recorder.MySQLStore, context.Context, context.CancelFunc, error) {
	if c.timeout <= 0 {
		return nil, nil, nil, fmt.Errorf("--mysql-timeout %v must be positive", c.timeout)
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

// explainMySQL adds a hint to the errors whose cause is not plain from MySQL's words.
func explainMySQL(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1054 { // no such column
		return fmt.Errorf("%w (this database has not been migrated by a manager of this version yet: start one with --meta-storage mysql)", err)
	}
	if errors.As(err, &me) && me.Number == 1146 { // no such table
		return fmt.Errorf("%w (the database has no recorder tables: is it the one the manager's --meta-storage "+
			"mysql writes to, and did the manager start once?)", err)
	}
	return err
}

// jobStatuses are the values of the job table's status column.
var jobStatuses = []string{recorder.StatusCreated, string(appsv1alpha1.EphemeralJobWaiting),
	string(appsv1alpha1.EphemeralJobRunning), string(appsv1alpha1.EphemeralJobSucceeded),
	string(appsv1alpha1.EphemeralJobFailed), string(appsv1alpha1.EphemeralJobError),
	string(appsv1alpha1.EphemeralJobPaused)}

// maxJobs bounds --limit.
const maxJobs = 10000

// listHistoryJobs returns the job rows of the filter, newest first, up to limit, a page at a time.
func listHistoryJobs(ctx context.Context, store recorder.Store, filter recorder.JobFilter, limit int) (
	[]recorder.JobRecord, error) {
	filter.NewestFirst = true
	var jobs []recorder.JobRecord
	for len(jobs) < limit {
		filter.Limit = min(limit-len(jobs), recorder.MaxListLimit)
		page, err := store.ListJobs(ctx, filter)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, page...)
		if len(page) < filter.Limit {
			break
		}
		filter.AfterID = page[len(page)-1].ID
	}
	return jobs, nil
}

// newestHistoryJob returns the newest job row of the filter, and how many rows matched
// (jobs re-created under one name have one row each).
func newestHistoryJob(ctx context.Context, store recorder.Store, filter recorder.JobFilter) (
	recorder.JobRecord, int, bool, error) {
	filter.NewestFirst, filter.Limit = true, recorder.MaxListLimit
	jobs, err := store.ListJobs(ctx, filter)
	if err != nil || len(jobs) == 0 {
		return recorder.JobRecord{}, 0, false, err
	}
	return jobs[0], len(jobs), true, nil
}

// writeHistoryJobs prints job rows as a table.
func writeHistoryJobs(w io.Writer, jobs []recorder.JobRecord, noHeaders bool) error {
	t := &table{noHeaders: noHeaders}
	t.header("NAMESPACE", "NAME", "UID", "STATUS", "MATCH", "SUCCEEDED", "FAILED", "IN-ETCD", "CREATED", "FINISHED")
	for _, j := range jobs {
		t.row(cell(j.Namespace), cell(j.Name), cell(j.JobID), cell(j.Status), fmt.Sprint(j.MatchCount),
			fmt.Sprint(j.Succeeded), fmt.Sprint(j.Failed), yesNo(j.IsInEtcd), formatTime(j.GmtCreated),
			formatTimePtr(j.GmtFinished))
	}
	return t.write(w)
}

// writeHistoryPods prints a line about the job, then its pod rows as a table; with
// noHeaders, only the rows.
func writeHistoryPods(w io.Writer, job recorder.JobRecord, pods []recorder.PodRecord, noHeaders bool) error {
	if noHeaders {
		t := &table{noHeaders: true}
		historyPodsTable(t, pods)
		return t.write(w)
	}
	where := "in the API server"
	if !job.IsInEtcd {
		where = "deleted from the API server"
	}
	if _, err := fmt.Fprintf(w, "Job %s/%s (UID %s): %s, %d succeeded, %d failed of %d; %s\n",
		cell(job.Namespace), cell(job.Name), cell(job.JobID), cell(job.Status), job.Succeeded, job.Failed,
		job.MatchCount, where); err != nil {
		return err
	}
	if len(pods) == 0 {
		_, err := fmt.Fprintln(w, "No pods recorded for this job.")
		return err
	}
	t := &table{}
	historyPodsTable(t, pods)
	return t.write(w)
}

func historyPodsTable(t *table, pods []recorder.PodRecord) {
	t.header("POD", "CONTAINER", "STATUS", "EXIT", "REASON", "MESSAGE", "IMAGE", "HOST", "STARTED", "FINISHED",
		"IN-ETCD")
	for _, p := range pods {
		tg := historyTarget(p, false)
		t.row(cell(p.Name), cell(tg.Container), cell(p.Status), exitCell(tg.ExitCode), cell(tg.Reason),
			messageCell(tg.Message), cell(p.Image), cell(p.HostIP), formatTimePtr(p.GmtStarted),
			formatTimePtr(p.GmtFinished), yesNo(p.IsInEtcd))
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return none
	}
	return t.UTC().Format(timeLayout)
}

func formatTimePtr(t *time.Time) string {
	if t == nil {
		return none
	}
	return formatTime(*t)
}
