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

// Command demo plays the proposal's Story 1 on this machine, with no cluster and no
// container runtime: see `make demo`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/demo"
)

func main() {
	var opts demo.Options
	keep, _ := strconv.ParseBool(os.Getenv("DEMO_KEEP"))
	flag.BoolVar(&opts.Keep, "keep", keep, "Keep everything running after the story, until Ctrl-C (or set DEMO_KEEP=1).")
	flag.DurationVar(&opts.RunFor, "run-for", 0, "How long each ephemeral container runs (default 1s).")
	flag.DurationVar(&opts.StepTimeout, "step-timeout", 0, "How long a step may wait for something (default 1m).")
	flag.StringVar(&opts.WorkDir, "work-dir", "",
		"Where to put the kubeconfig and the manager's log (default: a temporary directory, removed at the end).")
	flag.Parse()

	// The first Ctrl-C ends the demo cleanly; a second one, after stop, ends it at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	if _, err := demo.Run(ctx, opts); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "demo: interrupted")
			os.Exit(130)
		}
		os.Exit(1)
	}
}
