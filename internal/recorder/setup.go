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
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

// Defaults of Options.
const (
	DefaultSweepInterval  = 5 * time.Minute
	DefaultBatchSize      = 200
	DefaultBatchWait      = 100 * time.Millisecond
	DefaultRetryBaseDelay = 100 * time.Millisecond
	DefaultRetryMaxDelay  = 30 * time.Second
	DefaultPingInterval   = 15 * time.Second
	// DefaultMaxPendingBytes bounds the records queued for MySQL: 64 MiB holds about
	// 100,000 records of typical size, the rows of a 100,000-pod job.
	DefaultMaxPendingBytes = 64 << 20
)

// Options tune the recorder. Zero fields take their defaults.
type Options struct {
	// Region is recorded as deploy_region of every row.
	Region string
	// SweepInterval is the time between two passes that mark gone the rows of vanished
	// objects and import the objects without a row; DefaultSweepInterval when zero.
	SweepInterval time.Duration
	// BatchSize caps the rows of each table written in one batch; DefaultBatchSize when zero.
	BatchSize int
	// BatchWait is how long the writer waits for a batch to fill; DefaultBatchWait when zero.
	BatchWait time.Duration
	// RetryBaseDelay and RetryMaxDelay bound the exponential backoff between retries of
	// a failed write or connection; DefaultRetryBaseDelay and DefaultRetryMaxDelay when zero.
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// PingInterval is the time between two pings that keep the mysql_up gauge current;
	// DefaultPingInterval when zero.
	PingInterval time.Duration
	// QueryTimeout bounds each statement; DefaultQueryTimeout when zero.
	QueryTimeout time.Duration
	// MaxOpenConns bounds the connection pool; DefaultMaxOpenConns when zero.
	MaxOpenConns int
	// MaxPendingBytes bounds the memory of the records observed and not yet written
	// (while MySQL is slow or down); DefaultMaxPendingBytes when zero. Records that do
	// not fit are left out, and every object is re-read and written once MySQL takes
	// writes again.
	MaxPendingBytes int
	// OutputBytes, when positive, makes the recorder fetch the log of each finished
	// target's deciding container once, at most this many bytes of it, and store it in
	// the row's output column; at most MaxOutputBytes. Zero leaves output alone. It
	// needs the right to get pods/log.
	OutputBytes int64
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.SweepInterval, DefaultSweepInterval)
	def(&o.BatchWait, DefaultBatchWait)
	def(&o.RetryBaseDelay, DefaultRetryBaseDelay)
	def(&o.RetryMaxDelay, DefaultRetryMaxDelay)
	def(&o.PingInterval, DefaultPingInterval)
	def(&o.QueryTimeout, DefaultQueryTimeout)
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.MaxOpenConns <= 0 {
		o.MaxOpenConns = DefaultMaxOpenConns
	}
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = DefaultMaxPendingBytes
	}
	return o
}

// +kubebuilder:rbac:groups=apps.kruise.io,resources=ephemeraljobs,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch

// SetupWithManager adds the MySQL recorder to the manager and returns its readiness
// check, for mgr.AddReadyzCheck. It registers two runnables:
//
//   - a connector, on every replica: it connects to MySQL and applies the embedded
//     migrations in the background, retrying with backoff, so the manager starts while
//     MySQL is down; the readiness check fails until this first succeeded. It then
//     pings MySQL every PingInterval for the mysql_up gauge and the readiness check,
//     which fails while MySQL does not answer.
//   - the recorder, on the leader only: event handlers on the manager's informers for
//     EphemeralJobs and Pods queue a row per job and per (job, pod) pair (pods are
//     related to a job by the EPHEMERALJOB_UID of the ephemeral containers its
//     controller injected, and by the job's status.refused), and a writer drains the
//     queue in batches of up to BatchSize rows or BatchWait, retrying failed writes
//     until they succeed. The queue holds at most MaxPendingBytes; what does not fit is
//     re-read from the cache once MySQL takes writes again. Deleted objects are recorded with
//     is_in_etcd=0 and their last known state. Once the cache synced and MySQL is
//     ready, and then every SweepInterval, it marks gone the rows whose object is no
//     longer in the cache and imports the objects that have no row, leaving existing
//     rows alone.
//
// Metrics, on controller-runtime's registry: ephemeraljob_recorder_write_errors_total,
// _write_duration_seconds, _dropped_records_total, _records_pending, _pending_bytes,
// _overflowed_records_total, _rereads_total, _missing_in_storage, _imported_total,
// _swept_total, _mysql_up, and with OutputBytes _output_fetches_total and _outputs_queued.
//
// With OutputBytes set, the recorder also fetches each finished target's output once,
// after writing its row, through the pods/log subresource (see outputFetcher).
// The manager's scheme must know the EphemeralJob types.
func SetupWithManager(mgr ctrl.Manager, cfg Config, opts Options) (healthz.Checker, error) {
	opts = opts.withDefaults()
	if err := ValidateOutputBytes(opts.OutputBytes); err != nil {
		return nil, fmt.Errorf("the output kept per target %w", err)
	}
	var logs kubernetes.Interface
	if opts.OutputBytes > 0 {
		cs, err := kubernetes.NewForConfig(mgr.GetConfig())
		if err != nil {
			return nil, fmt.Errorf("creating the client that reads containers' logs: %w", err)
		}
		logs = cs
	}
	log := mgr.GetLogger().WithName("recorder")
	conns := opts.MaxOpenConns
	if opts.OutputBytes > 0 {
		// The output workers read and write the output column with connections of their
		// own, so that a burst of finished targets never keeps the writer waiting.
		conns += outputWorkers
	}
	store, err := NewMySQLStore(cfg, StoreOptions{QueryTimeout: opts.QueryTimeout, MaxOpenConns: conns, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("setting up the MySQL store: %w", err)
	}
	closer := &storeCloser{close: store.Close, log: log}
	conn := newConnector(store, cfg, opts, log.WithName("connector"))
	conn.closer = closer
	rec := newRecorder(store, mgr.GetCache(), mgr.GetCache(), opts, log, conn.ready)
	rec.closer = closer
	rec.mysqlBack = conn.back
	if logs != nil {
		rec.outputs = newOutputFetcher(store, podLogs(logs), mgr.GetCache(), opts.OutputBytes,
			outputRetryBaseDelay, outputRetryMaxDelay, log.WithName("output"))
	}
	if err := mgr.Add(conn); err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("adding the MySQL connector: %w", err)
	}
	if err := mgr.Add(rec); err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("adding the recorder: %w", err)
	}
	return conn.Check, nil
}
