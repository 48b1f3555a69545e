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
	"time"

	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// controllerName is the EphemeralJob controller's name in its metrics.
const controllerName = "ephemeraljob"

// WorkerLoad is what the EphemeralJob controller's workers did, from the metrics of the
// managers run in this process: the time its reconciles took, and the time jobs waited in
// its queue before a worker took them. A CPU profile cannot show a worker that waits on
// the API server; these can: reconcile time near the run's length times the workers means
// the workers are the limit, and long queue waits say jobs stood in line for them.
type WorkerLoad struct {
	Busy    time.Duration
	Passes  uint64
	Waited  time.Duration
	Waits   uint64
	Workers int
}

// readWorkerLoad returns the controller's cumulative figures so far.
func readWorkerLoad() WorkerLoad {
	var l WorkerLoad
	families, err := metrics.Registry.Gather()
	if err != nil {
		return l
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			// The controller's metrics name it in their label "controller", the work queue's in "name".
			ours := false
			for _, lp := range m.GetLabel() {
				ours = ours || lp.GetValue() == controllerName && (lp.GetName() == "controller" || lp.GetName() == "name")
			}
			if !ours {
				continue
			}
			switch f.GetName() {
			case "controller_runtime_reconcile_time_seconds":
				l.Busy += seconds(m.GetHistogram().GetSampleSum())
				l.Passes += m.GetHistogram().GetSampleCount()
			case "workqueue_queue_duration_seconds":
				l.Waited += seconds(m.GetHistogram().GetSampleSum())
				l.Waits += m.GetHistogram().GetSampleCount()
			case "controller_runtime_max_concurrent_reconciles":
				l.Workers = int(m.GetGauge().GetValue())
			}
		}
	}
	return l
}

// since returns the figures from an earlier reading to this one.
func (l WorkerLoad) since(before WorkerLoad) WorkerLoad {
	return WorkerLoad{Busy: l.Busy - before.Busy, Passes: l.Passes - before.Passes, Waited: l.Waited - before.Waited,
		Waits: l.Waits - before.Waits, Workers: l.Workers}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
