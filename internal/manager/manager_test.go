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

package manager

import (
	"testing"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
)

// TestLeaseTimings: the lease timings the caller leaves unset are the package's, those it
// sets are kept, and a renew deadline past the lease duration is refused.
func TestLeaseTimings(t *testing.T) {
	cfg := &rest.Config{Host: "https://127.0.0.1:1"}
	o := ctrl.Options{LeaderElectionNamespace: "ns", LeaderElectionID: LeaderElectionID}
	if _, err := newFence(cfg, &o, "me"); err != nil {
		t.Fatal(err)
	}
	if *o.LeaseDuration != DefaultLeaseDuration || *o.RenewDeadline != DefaultRenewDeadline ||
		*o.RetryPeriod != DefaultRetryPeriod {
		t.Errorf("timings %v, %v, %v; want the defaults", *o.LeaseDuration, *o.RenewDeadline, *o.RetryPeriod)
	}

	retry := 2 * time.Second
	o = ctrl.Options{LeaderElectionNamespace: "ns", LeaderElectionID: LeaderElectionID, RetryPeriod: &retry}
	if _, err := newFence(cfg, &o, "me"); err != nil {
		t.Fatal(err)
	}
	if *o.RetryPeriod != retry {
		t.Errorf("retry period %v, want the caller's %v", *o.RetryPeriod, retry)
	}

	renew := DefaultLeaseDuration
	o = ctrl.Options{LeaderElectionNamespace: "ns", LeaderElectionID: LeaderElectionID, RenewDeadline: &renew}
	if _, err := newFence(cfg, &o, "me"); err == nil {
		t.Error("a renew deadline equal to the lease duration was accepted")
	}
}
