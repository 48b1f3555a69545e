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

// Package harness runs the operator's manager for the envtest suites in test/: the
// one wiring of internal/manager.New, as cmd/main.go runs it, without metrics, webhooks
// or leader election, started and stopped per spec.
package harness

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/manager"
)

// Manager is a controller-runtime manager running the EphemeralJob controller.
type Manager struct {
	ctrl.Manager

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	// started is set by Run; it is read by Stop of the same goroutine.
	started  bool
	err      error
	stopOnce sync.Once
}

// NewManager returns a manager built by internal/manager.New with the EphemeralJob
// controller, not started. configure, when given, adjusts the options first (e.g. to set
// a Logger).
func NewManager(cfg *rest.Config, scheme *runtime.Scheme, configure ...func(*ctrl.Options)) (*Manager, error) {
	return NewManagerWith(cfg, scheme, manager.Options{}, configure...)
}

// NewManagerWith is NewManager with the operator's own options (recorder, intervals).
func NewManagerWith(cfg *rest.Config, scheme *runtime.Scheme, opts manager.Options,
	configure ...func(*ctrl.Options)) (*Manager, error) {
	mgrOpts := ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: new(true)},
	}
	for _, f := range configure {
		f(&mgrOpts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := manager.New(ctx, cfg, mgrOpts, opts)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	return &Manager{Manager: mgr, ctx: ctx, cancel: cancel, done: make(chan struct{})}, nil
}

// Run starts the manager in the background; it runs until Stop.
func (m *Manager) Run() {
	m.started = true
	go func() {
		defer close(m.done)
		m.err = m.Manager.Start(m.ctx)
	}()
}

// Stop stops the manager, waits until every runnable returned, and returns the error
// the manager stopped with. A manager never started just releases its context.
// Stopping again returns the same error.
func (m *Manager) Stop() error {
	m.stopOnce.Do(func() {
		m.cancel()
		if m.started {
			<-m.done
		}
	})
	return m.err
}
