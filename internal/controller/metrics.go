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

package controller

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

var (
	injections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ephemeraljob_injections_total",
		Help: "Injections of a job's ephemeral containers into a pod, by result: Injected, Conflict, Error, or a refusal reason.",
	}, []string{"result"})
	jobsByPhase = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ephemeraljob_jobs",
		Help: "EphemeralJobs by phase.",
	}, []string{"phase"})
	injectionDelay = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "ephemeraljob_injection_delay_seconds",
		Help:    "Time from a job's creation to each of its injections.",
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 16),
	})
	passDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "ephemeraljob_pass_duration_seconds",
		Help:    "Time one reconcile pass of a job takes, API calls included.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
	})
	forgedContainers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ephemeraljob_forged_containers_total",
		Help: "Pods found holding containers with a job's UID that the job did not inject, by reason; they are not counted.",
	}, []string{"reason"})
	statusConflicts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ephemeraljob_status_write_conflicts_total",
		Help: "Status writes refused because the job changed since the version they were based on.",
	})
	fencedPasses = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ephemeraljob_fenced_passes_total",
		Help: "Passes skipped because the lease was not renewed within the renew deadline: the leader may have changed.",
	})
)

func init() {
	metrics.Registry.MustRegister(injections, jobsByPhase, injectionDelay, passDuration, forgedContainers, statusConflicts,
		fencedPasses)
}

// phases remembers each job's last reported phase, so the gauge counts every job once.
var phases = struct {
	sync.Mutex
	m map[types.NamespacedName]appsv1alpha1.EphemeralJobPhase
}{m: map[types.NamespacedName]appsv1alpha1.EphemeralJobPhase{}}

func observePhase(job *appsv1alpha1.EphemeralJob, phase appsv1alpha1.EphemeralJobPhase) {
	key := client.ObjectKeyFromObject(job)
	phases.Lock()
	defer phases.Unlock()
	if old, ok := phases.m[key]; ok {
		if old == phase {
			return
		}
		jobsByPhase.WithLabelValues(string(old)).Dec()
	}
	phases.m[key] = phase
	jobsByPhase.WithLabelValues(string(phase)).Inc()
}

func forgetPhase(key types.NamespacedName) {
	phases.Lock()
	defer phases.Unlock()
	if old, ok := phases.m[key]; ok {
		jobsByPhase.WithLabelValues(string(old)).Dec()
		delete(phases.m, key)
	}
}
