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
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Label names and table label values.
const (
	labelTable = "table"
	tableJob   = "job"
	tablePod   = "pod"
)

var (
	writeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ephemeraljob_recorder_write_errors_total",
		Help: "Failed MySQL writes of the recorder, by table; failed batches are retried.",
	}, []string{labelTable})
	writeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ephemeraljob_recorder_write_duration_seconds",
		Help:    "Duration of the recorder's MySQL batch writes, by table.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
	}, []string{labelTable})
	droppedRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ephemeraljob_recorder_dropped_records_total",
		Help: "Records MySQL refused for their values (never for an outage), by table.",
	}, []string{labelTable})
	recordsPending = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "ephemeraljob_recorder_records_pending",
		Help: "Records observed and not yet written to MySQL.",
	})
	missingInStorage = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ephemeraljob_recorder_missing_in_storage",
		Help: "Objects found in Kubernetes but not in MySQL by the last import, by table; the import inserted them.",
	}, []string{labelTable})
	importedRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ephemeraljob_recorder_imported_total",
		Help: "Rows inserted by imports because their object was in Kubernetes but not in MySQL, by table.",
	}, []string{labelTable})
	sweptRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ephemeraljob_recorder_swept_total",
		Help: "Rows marked is_in_etcd=0 by sweeps because their object was gone, by table.",
	}, []string{labelTable})
	pendingBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "ephemeraljob_recorder_pending_bytes",
		Help: "Memory taken by the records observed and not yet written, as the recorder counts it; at most Options.MaxPendingBytes (64 MiB by default).",
	})
	overflowedRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ephemeraljob_recorder_overflowed_records_total",
		Help: "Records left out of the queue because it was full, by table; their objects are re-read when MySQL takes writes again.",
	}, []string{labelTable})
	rereads = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ephemeraljob_recorder_rereads_total",
		Help: "Times the recorder re-read and wrote every job and pod because records had been left out of the full queue.",
	})
	outputFetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ephemeraljob_recorder_output_fetches_total",
		Help: "Fetches of finished targets' output (--record-output-bytes), by result: stored, already_stored " +
			"(not fetched again), gone (pod or row gone), retried (an attempt failed), failed (attempts exhausted), " +
			"dropped (too many targets waiting).",
	}, []string{"result"})
	outputsQueued = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "ephemeraljob_recorder_outputs_queued",
		Help: "Finished targets whose output waits to be fetched, is being fetched or waits for a retry.",
	})
	mysqlUp = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "ephemeraljob_recorder_mysql_up",
		Help: "1 when MySQL answered the recorder's last ping or write, else 0.",
	})
)

func init() {
	metrics.Registry.MustRegister(writeErrors, writeDuration, droppedRecords, recordsPending,
		missingInStorage, importedRecords, sweptRecords, mysqlUp, pendingBytes, overflowedRecords, rereads,
		outputFetches, outputsQueued)
}
