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

import "time"

// Defaults of the manager's client rate limit. A job writes once per target pod, so
// the limit bounds how fast jobs go: client-go's default of 5 (controller-runtime's 20)
// requests per second would make a 5,000-pod job take minutes longer than the API
// server needs. The API server's priority and fairness still protects it.
const (
	DefaultClientQPS   = 200
	DefaultClientBurst = 400
)

// DefaultStatusWriteInterval is how often, at most, a running job's status is written
// when only its counts changed; phase changes, refusals and results of pods that are gone
// are written at once.
const DefaultStatusWriteInterval = time.Second

// DefaultStatusWriteQPS is how many of those progress writes all jobs share per second:
// a job whose interval passed waits for its turn. Each status write costs the API server
// more than a pod's update (a custom resource is decoded, validated and encoded as JSON),
// and every running job writes its progress: with 100 jobs of 50 pods at once, one write
// a second each (about 2,500 writes) made the jobs take 1.1–1.3× as long as the same
// injections without status, and 400 writes 1.02×. With ten jobs or fewer writing, each
// still writes once a second; with 100, about every ten seconds.
const DefaultStatusWriteQPS = 10

// DefaultMaxConcurrentReconciles is how many jobs are reconciled at once. A pass waits on
// the API server for its status write, so with one worker many running jobs queue behind
// each other's writes: with 100 jobs at once the one worker was busy for the whole run and
// a job waited seconds in the queue before its pass, which kept a finished target out of
// its job's status for as long; with eight, the wait fell to about a second. Passes of
// different jobs share only the reconciler's locked maps and the metrics, so they may run
// together; passes of one job never do.
const DefaultMaxConcurrentReconciles = 8
