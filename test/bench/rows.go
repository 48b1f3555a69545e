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

package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	corev1 "k8s.io/api/core/v1"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
)

// errNoSuchTable is MySQL's error number for a missing table.
const errNoSuchTable = 1146

// RowWatcher reads the recorder's pod table while a job runs, to learn when each pod's
// row first says Succeeded.
type RowWatcher struct {
	DB *sql.DB
	// Interval is the time between two reads of the table.
	Interval time.Duration

	keyOf   map[string]string // pod UID -> "ns/name"
	start   time.Time
	written int64
	stop    context.CancelFunc
	done    chan error

	mu   sync.Mutex
	seen map[string]time.Time // "ns/name" -> when its row first said Succeeded
}

// RowStats are the recorder's throughput and lag over one job.
type RowStats struct {
	// Rows is how many pod rows said Succeeded at the end; Expected how many should.
	Rows, Expected int
	// Written is the rows upserted (Handler_write); Took the time from the job's creation to the last row.
	Written int64
	Took    time.Duration
	// Lag is, per pod, the time from the stand-in's terminated status write to the row saying Succeeded.
	Lag []time.Duration
}

// Start notes the table's write counters and starts reading it.
func (w *RowWatcher) Start(ctx context.Context, pods []*corev1.Pod) error {
	w.keyOf = make(map[string]string, len(pods))
	for _, p := range pods {
		w.keyOf[string(p.UID)] = p.Namespace + "/" + p.Name
	}
	w.seen = map[string]time.Time{}
	var err error
	if w.written, err = rowsWritten(ctx, w.DB); err != nil {
		return err
	}
	w.start = time.Now()
	pollCtx, stop := context.WithCancel(ctx)
	w.stop, w.done = stop, make(chan error, 1)
	go func() { w.done <- w.poll(pollCtx) }()
	return nil
}

func (w *RowWatcher) poll(ctx context.Context) error {
	tick := time.NewTicker(w.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		rows, err := w.DB.QueryContext(ctx, "SELECT pod_id FROM pod WHERE status = ?", recorder.PodStatusSucceeded)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if myErr, ok := errors.AsType[*mysql.MySQLError](err); ok && myErr.Number == errNoSuchTable {
				continue // the recorder has not created its tables yet
			}
			return fmt.Errorf("reading pod rows: %w", err)
		}
		now := time.Now()
		w.mu.Lock()
		for rows.Next() {
			var uid string
			if err := rows.Scan(&uid); err != nil {
				w.mu.Unlock()
				_ = rows.Close()
				return fmt.Errorf("reading pod rows: %w", err)
			}
			if key, ok := w.keyOf[uid]; ok {
				if _, seen := w.seen[key]; !seen {
					w.seen[key] = now
				}
			}
		}
		w.mu.Unlock()
		if err := rows.Close(); err != nil {
			return fmt.Errorf("reading pod rows: %w", err)
		}
	}
}

func (w *RowWatcher) count() (int, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var last time.Time
	for _, t := range w.seen {
		if t.After(last) {
			last = t
		}
	}
	return len(w.seen), last
}

// Finish waits until every pod's row said Succeeded, or timeout, and returns the figures.
func (w *RowWatcher) Finish(ctx context.Context, h *Harness, timeout time.Duration) (RowStats, error) {
	deadline := time.After(timeout)
	tick := time.NewTicker(w.Interval)
	defer tick.Stop()
wait:
	for {
		if n, _ := w.count(); n == len(w.keyOf) {
			break
		}
		select {
		case <-deadline:
			break wait
		case <-ctx.Done():
			return RowStats{}, ctx.Err()
		case <-tick.C:
		}
	}
	w.stop()
	if err := <-w.done; err != nil {
		return RowStats{}, err
	}
	n, last := w.count()
	written, err := rowsWritten(ctx, w.DB)
	if err != nil {
		return RowStats{}, err
	}
	st := RowStats{Rows: n, Expected: len(w.keyOf), Written: written - w.written, Took: last.Sub(w.start)}
	_, finished := h.stubTimes()
	w.mu.Lock()
	defer w.mu.Unlock()
	for key, seen := range w.seen {
		if f, ok := finished[key]; ok {
			st.Lag = append(st.Lag, seen.Sub(f))
		}
	}
	return st, nil
}

// rowsWritten returns how many rows the server was asked to write since it started
// (Handler_write: one per row of an INSERT, an upsert included, whether it then updated).
func rowsWritten(ctx context.Context, db *sql.DB) (int64, error) {
	rows, err := db.QueryContext(ctx,
		"SHOW GLOBAL STATUS WHERE Variable_name = 'Handler_write'")
	if err != nil {
		return 0, fmt.Errorf("reading Handler_write: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var total int64
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			return 0, fmt.Errorf("reading Handler_write: %w", err)
		}
		total += v
	}
	return total, rows.Err()
}
