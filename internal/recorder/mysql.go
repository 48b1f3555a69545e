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
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-sql-driver/mysql"
	"github.com/golang-migrate/migrate/v4"
	migratemysql "github.com/golang-migrate/migrate/v4/database/mysql"
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

// migrations holds the schema, applied in order by Migrate and recorded in the
// schema_migrations table.
//
//go:embed migrations/*.sql
var migrations embed.FS

const (
	// DefaultQueryTimeout bounds each statement.
	DefaultQueryTimeout = 30 * time.Second
	// DefaultMaxOpenConns bounds the connection pool.
	DefaultMaxOpenConns = 4
	// migrateTimeout bounds a whole migration run.
	migrateTimeout = 5 * time.Minute
	// rowsPerStatement caps the rows of one multi-row INSERT.
	rowsPerStatement = 250
	// sweepPageSize is how many rows a sweep reads at once.
	sweepPageSize = 500
)

// StoreOptions tune a MySQLStore. Zero fields take their defaults.
type StoreOptions struct {
	// QueryTimeout bounds each statement; DefaultQueryTimeout when zero.
	QueryTimeout time.Duration
	// MaxOpenConns bounds the connection pool; DefaultMaxOpenConns when zero.
	MaxOpenConns int
	// Logger receives the driver's own messages, scrubbed of the password.
	Logger logr.Logger
}

// MySQLStore is the Store on MySQL 5.7+ or MariaDB 10.3+.
//
// Ordering: every row is ordered by the observation it was written from. An observation
// of an object's deletion (is_in_etcd=0) comes after every observation of the live
// object; observations alike in that are ordered by the object's resourceVersion,
// compared as Kubernetes allows since 1.35 (KEP-5504,
// resourceversion.CompareResourceVersion): resourceVersions of one resource are integers,
// and the larger one is the later state. The version column keeps the resourceVersion as
// the string it is; version_order holds it as a DECIMAL(65,0), 0 when it is not a
// well-formed resourceVersion. An upsert changes a row's columns only when the incoming
// observation is not earlier than the stored one, so a record never replaces one read
// from a later state of the object, whichever process wrote it and in whatever order the
// writes land: two writers overlapping (a rolling update, a leader that lost its lease
// but still flushes) and a leader change leave every row at the latest state either of
// them saw. is_in_etcd only ever goes from 1 to 0: UIDs are never reused, so an object
// seen gone never comes back.
//
// Every statement is parameterized and bounded by QueryTimeout; errors returned never
// carry the password.
type MySQLStore struct {
	cfg     Config
	mc      *mysql.Config
	db      *sql.DB
	opts    StoreOptions
	secrets []string
}

var _ Store = (*MySQLStore)(nil)

// NewMySQLStore returns a store for the database in cfg. It opens a bounded pool
// without connecting; call Migrate before writing.
func NewMySQLStore(cfg Config, opts StoreOptions) (*MySQLStore, error) {
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = DefaultQueryTimeout
	}
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = DefaultMaxOpenConns
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	mc, err := cfg.mysqlConfig()
	if err != nil {
		return nil, err
	}
	s := &MySQLStore{cfg: cfg, mc: mc, opts: opts}
	if cfg.Password != "" {
		s.secrets = []string{mc.FormatDSN(), cfg.Password}
	}
	mc.Logger = driverLogger{log: opts.Logger.WithName("mysql-driver"), secrets: s.secrets}
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, s.fail("configuring the MySQL client", err)
	}
	s.db = sql.OpenDB(connector)
	s.db.SetMaxOpenConns(opts.MaxOpenConns)
	s.db.SetMaxIdleConns(opts.MaxOpenConns)
	s.db.SetConnMaxLifetime(5 * time.Minute)
	s.db.SetConnMaxIdleTime(time.Minute)
	return s, nil
}

// Close closes the connection pool.
func (s *MySQLStore) Close() error {
	return s.fail("closing the MySQL pool", s.db.Close())
}

// Ping checks that MySQL answers.
func (s *MySQLStore) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	err := s.db.PingContext(ctx)
	noteUp(err)
	return s.fail("pinging MySQL", err)
}

// Migrate applies the embedded migrations that the database lacks; applying them
// again changes nothing.
func (s *MySQLStore) Migrate(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, migrateTimeout)
	defer cancel()
	err := s.applyMigrations(ctx, func(m *migrate.Migrate) error { return m.Up() })
	noteUp(err)
	return s.fail("migrating the schema", err)
}

// migrateTo migrates the schema up or down to the given version.
func (s *MySQLStore) migrateTo(ctx context.Context, version uint) error {
	ctx, cancel := context.WithTimeout(ctx, migrateTimeout)
	defer cancel()
	err := s.applyMigrations(ctx, func(m *migrate.Migrate) error { return m.Migrate(version) })
	return s.fail(fmt.Sprintf("migrating the schema to version %d", version), err)
}

// applyMigrations runs apply on a migrate instance over the embedded migrations, on a
// connection of its own, and stops it when ctx ends.
func (s *MySQLStore) applyMigrations(ctx context.Context, apply func(*migrate.Migrate) error) error {
	mc := s.mc.Clone()
	mc.MultiStatements = true
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer func() { _ = db.Close() }()
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	drv, err := migratemysql.WithConnection(ctx, conn, &migratemysql.Config{
		DatabaseName:     s.cfg.DBName,
		StatementTimeout: s.opts.QueryTimeout,
	})
	if err != nil {
		_ = conn.Close()
		return err
	}
	src, err := iofs.New(migrations, "migrations")
	if err != nil {
		_ = drv.Close()
		return err
	}
	m, err := migrate.NewWithInstance("iofs", src, "mysql", drv)
	if err != nil {
		_ = src.Close()
		_ = drv.Close()
		return err
	}
	defer func() { _, _ = m.Close() }()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			m.GracefulStop <- true
		case <-done:
		}
	}()
	if err := apply(m); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return err
	}
	return ctx.Err()
}

// Columns the upserts treat specially.
const (
	colStatus       = "status"
	colIsInEtcd     = "is_in_etcd"
	colVersionOrder = "version_order"
	colOutput       = "output"
)

var (
	jobColumns = []string{"name", "namespace", "job_id", "version", colStatus, "kind", "resources",
		"deploy_region", "tenant", "owner", colIsInEtcd, "match_count", "succeeded", "failed", "running",
		"waiting", "gmt_created", "gmt_modified", "gmt_finished", colVersionOrder}
	podColumns = []string{"name", "namespace", "pod_id", "version", colStatus, "image", "job_id",
		"replica_type", "container_name", "exit_code", "reason", "message", colOutput, "resources", "host_ip",
		"pod_ip", "deploy_region", colIsInEtcd, "remark", "gmt_created", "gmt_modified", "gmt_started",
		"gmt_finished", colVersionOrder}

	// jobUpsert and podUpsert end the multi-row INSERTs of UpsertJobs and UpsertPods.
	jobUpsert = onDuplicateKeyUpdate(jobColumns, "job_id")
	podUpsert = onDuplicateKeyUpdate(podColumns, "job_id", "pod_id")
)

// onDuplicateKeyUpdate builds the update clause of an upsert. Every column but the
// key takes the incoming value only when the incoming observation is not earlier than
// the stored one (see MySQLStore); is_in_etcd only goes down; a pod row marked gone
// never says Pending or Running. A pod's output is set once and then kept, whatever
// the order: it is not part of an observation of the pod but fetched from the kubelet
// after the container ended, and the records of later observations carry none (NULL),
// which must not erase it. version_order and is_in_etcd come last, in that order,
// and no expression reads a column assigned before it, so the result is the same
// whether the server assigns left to right (MySQL) or simultaneously (MariaDB's
// SIMULTANEOUS_ASSIGNMENT).
func onDuplicateKeyUpdate(columns []string, keys ...string) string {
	const newer = "(VALUES(`is_in_etcd`) < `is_in_etcd` OR " +
		"(VALUES(`is_in_etcd`) = `is_in_etcd` AND VALUES(`version_order`) >= `version_order`))"
	var sets []string
	for _, c := range columns {
		switch {
		case slices.Contains(keys, c), c == colVersionOrder, c == colIsInEtcd:
		case c == colStatus && slices.Contains(keys, "pod_id"):
			sets = append(sets, "`status` = IF("+newer+", IF(LEAST(`is_in_etcd`, VALUES(`is_in_etcd`)) = 0 AND "+
				"VALUES(`status`) IN ('"+PodStatusPending+"', '"+PodStatusRunning+"'), '"+PodStatusUnknown+"', "+
				"VALUES(`status`)), `status`)")
		case c == colOutput:
			sets = append(sets, "`output` = COALESCE(`output`, VALUES(`output`))")
		default:
			sets = append(sets, fmt.Sprintf("`%s` = IF(%s, VALUES(`%s`), `%s`)", c, newer, c, c))
		}
	}
	sets = append(sets, "`version_order` = IF("+newer+", VALUES(`version_order`), `version_order`)",
		"`is_in_etcd` = LEAST(`is_in_etcd`, VALUES(`is_in_etcd`))")
	return " ON DUPLICATE KEY UPDATE " + strings.Join(sets, ", ")
}

// insertOnly ends the INSERTs of the import: an existing row is left as it is and
// does not count as affected.
const insertOnly = " ON DUPLICATE KEY UPDATE `id` = `id`"

// UpsertJobs inserts or updates job rows by job_id; see MySQLStore for the ordering rules.
func (s *MySQLStore) UpsertJobs(ctx context.Context, jobs []JobRecord) error {
	_, err := s.writeJobs(ctx, jobs, jobUpsert)
	return s.fail("upserting jobs", err)
}

// UpsertPods inserts or updates pod rows by (job_id, pod_id); see MySQLStore for the ordering rules.
func (s *MySQLStore) UpsertPods(ctx context.Context, pods []PodRecord) error {
	_, err := s.writePods(ctx, pods, podUpsert)
	return s.fail("upserting pods", err)
}

// InsertMissingJobs inserts the jobs that have no row yet and returns how many it inserted.
func (s *MySQLStore) InsertMissingJobs(ctx context.Context, jobs []JobRecord) (int, error) {
	n, err := s.writeJobs(ctx, jobs, insertOnly)
	return n, s.fail("importing jobs", err)
}

// InsertMissingPods inserts the pods that have no row yet and returns how many it inserted.
func (s *MySQLStore) InsertMissingPods(ctx context.Context, pods []PodRecord) (int, error) {
	n, err := s.writePods(ctx, pods, insertOnly)
	return n, s.fail("importing pods", err)
}

func (s *MySQLStore) writeJobs(ctx context.Context, jobs []JobRecord, suffix string) (int, error) {
	sorted := slices.Clone(jobs)
	// One order for every writer keeps concurrent multi-row writes from deadlocking.
	slices.SortFunc(sorted, func(a, b JobRecord) int { return strings.Compare(a.JobID, b.JobID) })
	total := 0
	for chunk := range slices.Chunk(sorted, rowsPerStatement) {
		args := make([]any, 0, len(chunk)*len(jobColumns))
		for i := range chunk {
			j := &chunk[i]
			args = append(args, j.Name, j.Namespace, j.JobID, j.Version, j.Status, j.Kind, j.Resources,
				j.DeployRegion, j.Tenant, j.Owner, boolInt(j.IsInEtcd), j.MatchCount, j.Succeeded, j.Failed,
				j.Running, j.Waiting, nullTime(j.GmtCreated), nullTime(j.GmtModified), nullTimePtr(j.GmtFinished),
				versionOrder(j.Version))
		}
		n, err := s.exec(ctx, tableJob, insertStatement(tableJob, jobColumns, len(chunk))+suffix, args)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (s *MySQLStore) writePods(ctx context.Context, pods []PodRecord, suffix string) (int, error) {
	sorted := slices.Clone(pods)
	slices.SortFunc(sorted, func(a, b PodRecord) int {
		if c := strings.Compare(a.JobID, b.JobID); c != 0 {
			return c
		}
		return strings.Compare(a.PodID, b.PodID)
	})
	total := 0
	for chunk := range slices.Chunk(sorted, rowsPerStatement) {
		args := make([]any, 0, len(chunk)*len(podColumns))
		for i := range chunk {
			p := &chunk[i]
			args = append(args, p.Name, p.Namespace, p.PodID, p.Version, p.Status, p.Image, p.JobID,
				p.ReplicaType, p.ContainerName, nullInt32(p.ExitCode), p.Reason, nullString(p.Message),
				nullString(p.Output), p.Resources, p.HostIP, p.PodIP, p.DeployRegion, boolInt(p.IsInEtcd), p.Remark,
				nullTime(p.GmtCreated), nullTime(p.GmtModified), nullTimePtr(p.GmtStarted), nullTimePtr(p.GmtFinished),
				versionOrder(p.Version))
		}
		n, err := s.exec(ctx, tablePod, insertStatement(tablePod, podColumns, len(chunk))+suffix, args)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// insertStatement returns "INSERT INTO table (columns) VALUES (?, ...), ..." for rows rows.
func insertStatement(table string, columns []string, rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO `" + table + "` (`" + strings.Join(columns, "`, `") + "`) VALUES ")
	row := "(" + strings.Repeat("?, ", len(columns)-1) + "?)"
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

// exec runs one write statement within QueryTimeout, recording its duration and
// failure, and returns the rows it affected.
func (s *MySQLStore) exec(ctx context.Context, table, query string, args []any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	start := time.Now()
	res, err := s.db.ExecContext(ctx, query, args...)
	writeDuration.WithLabelValues(table).Observe(time.Since(start).Seconds())
	noteUp(err)
	if err != nil {
		writeErrors.WithLabelValues(table).Inc()
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// OutputState reports whether the pod row of the job exists and whether its output was
// stored (an empty output, fetched from a container that printed nothing, counts).
func (s *MySQLStore) OutputState(ctx context.Context, jobUID, podUID string) (exists, stored bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	err = s.db.QueryRowContext(ctx, "SELECT `output` IS NOT NULL FROM `pod` WHERE `job_id` = ? AND `pod_id` = ?",
		jobUID, podUID).Scan(&stored)
	noteUp(err)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, s.fail("reading whether an output is stored", err)
	}
	return true, stored, nil
}

// PodsWithoutOutput returns up to limit rows of finished targets in the API server whose
// output was not stored, oldest first, with what the output fetcher needs of them.
func (s *MySQLStore) PodsWithoutOutput(ctx context.Context, limit int) ([]PodRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, "SELECT `job_id`, `pod_id`, `namespace`, `name`, `container_name`, `status`, "+
		"`exit_code`, `version` FROM `pod` WHERE `output` IS NULL AND `is_in_etcd` = 1 AND `exit_code` IS NOT NULL "+
		"AND `container_name` <> '' AND `status` IN (?, ?) ORDER BY `id` LIMIT ?",
		PodStatusSucceeded, PodStatusFailed, limit)
	noteUp(err)
	if err != nil {
		return nil, s.fail("reading the rows without output", err)
	}
	defer func() { _ = rows.Close() }()
	var out []PodRecord
	for rows.Next() {
		p := PodRecord{IsInEtcd: true}
		var exitCode int32
		if err := rows.Scan(&p.JobID, &p.PodID, &p.Namespace, &p.Name, &p.ContainerName, &p.Status, &exitCode,
			&p.Version); err != nil {
			return nil, s.fail("reading the rows without output", err)
		}
		p.ExitCode = &exitCode
		out = append(out, p)
	}
	return out, s.fail("reading the rows without output", rows.Err())
}

// StoreOutput sets the output of the pod row of the job unless one is stored already,
// and reports whether it did: the first output stored is the one kept.
func (s *MySQLStore) StoreOutput(ctx context.Context, jobUID, podUID, output string) (bool, error) {
	n, err := s.exec(ctx, tablePod, "UPDATE `pod` SET `output` = ? WHERE `job_id` = ? AND `pod_id` = ? AND `output` IS NULL",
		[]any{output, jobUID, podUID})
	return n > 0, s.fail("storing an output", err)
}

// SweepJobs marks gone every job row still marked present whose job no longer exists.
func (s *MySQLStore) SweepJobs(ctx context.Context, exists Exists) (int, error) {
	n, err := s.sweep(ctx, tableJob, "job_id", "", exists)
	return n, s.fail("sweeping jobs", err)
}

// SweepPods marks gone every pod row still marked present whose pod no longer exists;
// a row still Pending or Running becomes Unknown.
func (s *MySQLStore) SweepPods(ctx context.Context, exists Exists) (int, error) {
	n, err := s.sweep(ctx, tablePod, "pod_id", ", `status` = IF(`status` IN ('"+PodStatusPending+"', '"+
		PodStatusRunning+"'), '"+PodStatusUnknown+"', `status`)", exists)
	return n, s.fail("sweeping pods", err)
}

// sweep pages through the rows still marked present, by id, and marks gone those
// whose object exists says is gone. Asking about each row when it is read, rather
// than comparing with a list taken before, keeps rows written meanwhile for new objects.
func (s *MySQLStore) sweep(ctx context.Context, table, uidColumn, extraSet string, exists Exists) (int, error) {
	var lastID int64
	marked := 0
	for {
		page, err := s.livePage(ctx, table, uidColumn, lastID)
		if err != nil {
			return marked, err
		}
		var gone []any
		for _, r := range page {
			ok, err := exists(ctx, r.namespace, r.name, r.uid)
			if err == nil && !ok {
				gone = append(gone, r.id)
			}
		}
		if len(gone) > 0 {
			query := "UPDATE `" + table + "` SET `is_in_etcd` = 0" + extraSet +
				" WHERE `is_in_etcd` = 1 AND `id` IN (" + strings.Repeat("?, ", len(gone)-1) + "?)"
			n, err := s.exec(ctx, table, query, gone)
			marked += n
			if err != nil {
				return marked, err
			}
		}
		if len(page) < sweepPageSize {
			return marked, nil
		}
		lastID = page[len(page)-1].id
	}
}

type liveRow struct {
	id                   int64
	namespace, name, uid string
}

func (s *MySQLStore) livePage(ctx context.Context, table, uidColumn string, afterID int64) ([]liveRow, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, "SELECT `id`, `namespace`, `name`, `"+uidColumn+"` FROM `"+table+
		"` WHERE `is_in_etcd` = 1 AND `id` > ? ORDER BY `id` LIMIT ?", afterID, sweepPageSize)
	noteUp(err)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var page []liveRow
	for rows.Next() {
		var r liveRow
		if err := rows.Scan(&r.id, &r.namespace, &r.name, &r.uid); err != nil {
			return nil, err
		}
		page = append(page, r)
	}
	return page, rows.Err()
}

// ListJobs returns the job rows matching the filter, in id order (descending with
// NewestFirst), at most filter.Limit.
func (s *MySQLStore) ListJobs(ctx context.Context, filter JobFilter) ([]JobRecord, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	order := "`id`"
	switch {
	case !filter.NewestFirst:
		add("`id` > ?", filter.AfterID)
	case filter.AfterID > 0:
		add("`id` < ?", filter.AfterID)
		order = "`id` DESC"
	default:
		order = "`id` DESC"
	}
	if filter.Namespace != "" {
		add("`namespace` = ?", filter.Namespace)
	}
	if filter.Name != "" {
		add("`name` = ?", filter.Name)
	}
	if filter.JobID != "" {
		add("`job_id` = ?", filter.JobID)
	}
	if filter.Status != "" {
		add("`status` = ?", filter.Status)
	}
	if !filter.CreatedAfter.IsZero() {
		add("`gmt_created` >= ?", filter.CreatedAfter.UTC())
	}
	if !filter.CreatedBefore.IsZero() {
		add("`gmt_created` < ?", filter.CreatedBefore.UTC())
	}
	limit := filter.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	args = append(args, limit)
	query := "SELECT `id`, `" + strings.Join(jobColumns, "`, `") + "` FROM `job`"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY " + order + " LIMIT ?"

	ctx, cancel := context.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, query, args...)
	noteUp(err)
	if err != nil {
		return nil, s.fail("listing jobs", err)
	}
	defer func() { _ = rows.Close() }()
	var jobs []JobRecord
	for rows.Next() {
		var j JobRecord
		var resources sql.NullString
		var created, modified, finished sql.NullTime
		var order string
		if err := rows.Scan(&j.ID, &j.Name, &j.Namespace, &j.JobID, &j.Version, &j.Status, &j.Kind, &resources,
			&j.DeployRegion, &j.Tenant, &j.Owner, &j.IsInEtcd, &j.MatchCount, &j.Succeeded, &j.Failed, &j.Running,
			&j.Waiting, &created, &modified, &finished, &order); err != nil {
			return nil, s.fail("reading jobs", err)
		}
		j.Resources = resources.String
		j.GmtCreated, j.GmtModified, j.GmtFinished = timeOf(created), timeOf(modified), timePtrOf(finished)
		jobs = append(jobs, j)
	}
	return jobs, s.fail("reading jobs", rows.Err())
}

// ListPods returns the pod rows of one job, in id order.
func (s *MySQLStore) ListPods(ctx context.Context, jobUID string) ([]PodRecord, error) {
	return s.ListPodsOutput(ctx, jobUID, -1)
}

// ListPodsOutput is ListPods with at most outputChars characters of each output read
// (none when 0, all when negative; OutputRecorded is set either way), so that listing
// a large job's rows does not read every output whole.
func (s *MySQLStore) ListPodsOutput(ctx context.Context, jobUID string, outputChars int64) ([]PodRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	cols := make([]string, len(podColumns))
	args := []any{}
	for i, c := range podColumns {
		cols[i] = "`" + c + "`"
		switch {
		case c != colOutput || outputChars < 0:
		case outputChars == 0:
			cols[i] = "IF(`output` IS NULL, NULL, '')"
		default:
			cols[i] = "LEFT(`output`, ?)"
			args = append(args, outputChars)
		}
	}
	rows, err := s.db.QueryContext(ctx, "SELECT `id`, "+strings.Join(cols, ", ")+
		" FROM `pod` WHERE `job_id` = ? ORDER BY `id`", append(args, jobUID)...)
	noteUp(err)
	if err != nil {
		return nil, s.fail("listing pods", err)
	}
	defer func() { _ = rows.Close() }()
	var pods []PodRecord
	for rows.Next() {
		var p PodRecord
		var resources, remark, message, output sql.NullString
		var exitCode sql.NullInt32
		var created, modified, started, finished sql.NullTime
		var order string
		if err := rows.Scan(&p.ID, &p.Name, &p.Namespace, &p.PodID, &p.Version, &p.Status, &p.Image, &p.JobID,
			&p.ReplicaType, &p.ContainerName, &exitCode, &p.Reason, &message, &output, &resources, &p.HostIP,
			&p.PodIP, &p.DeployRegion, &p.IsInEtcd, &remark, &created, &modified, &started, &finished, &order); err != nil {
			return nil, s.fail("reading pods", err)
		}
		p.Resources, p.Remark, p.Message, p.Output = resources.String, remark.String, message.String, output.String
		p.OutputRecorded = output.Valid
		if exitCode.Valid {
			p.ExitCode = &exitCode.Int32
		}
		p.GmtCreated, p.GmtModified = timeOf(created), timeOf(modified)
		p.GmtStarted, p.GmtFinished = timePtrOf(started), timePtrOf(finished)
		pods = append(pods, p)
	}
	return pods, s.fail("reading pods", rows.Err())
}

// fail wraps err, scrubbed of the password and DSN, with what the store was doing.
func (s *MySQLStore) fail(doing string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", doing, scrub(err, s.secrets))
}

// noteUp records whether MySQL answered: any error but one MySQL sent back means it did not.
func noteUp(err error) {
	var me *mysql.MySQLError
	switch {
	case err == nil, errors.As(err, &me):
		mysqlUp.Set(1)
	case errors.Is(err, context.Canceled):
	default:
		mysqlUp.Set(0)
	}
}

// driverLogger passes the driver's messages to logr, scrubbed of the secrets.
type driverLogger struct {
	log     logr.Logger
	secrets []string
}

func (l driverLogger) Print(v ...any) {
	l.log.Info("driver message", "message", scrub(errors.New(fmt.Sprint(v...)), l.secrets).Error())
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// nullString writes an empty string as NULL: no message, no output fetched.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullInt32(p *int32) any {
	if p == nil {
		return nil
	}
	return *p
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

func nullTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return nullTime(*t)
}

func timeOf(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

func timePtrOf(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}
