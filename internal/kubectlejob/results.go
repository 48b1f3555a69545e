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

package kubectlejob

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
)

// Exit codes of `results --exit-code`, as `git diff --exit-code` has them: the command
// worked, and the code says what it found. An error exits 1 too, with its `error:` line.
const (
	// ExitAllSucceeded: every target succeeded.
	ExitAllSucceeded = 0
	// ExitSomeFailed: a target failed, was refused, has not finished, or its result is unknown.
	ExitSomeFailed = 1
	// ExitNoneRan: no target could run: the job has none, or every one failed before its
	// containers started (refused injection, or never started).
	ExitNoneRan = 2
)

// ResultsOptions are the flags and clients of `results`.
type ResultsOptions struct {
	genericiooptions.IOStreams
	PrintFlags *printFlags

	Logs       bool
	LimitBytes int64
	Group      bool
	Watch      bool
	ExitCode   bool

	// Set by Complete.
	Name      string
	Namespace string
	f         *factory
	printer   printers.ResourcePrinter
	dyn       dynamic.Interface
	kube      kubernetes.Interface
}

// NewResultsOptions returns the defaults of `results`.
func NewResultsOptions(streams genericiooptions.IOStreams) *ResultsOptions {
	return &ResultsOptions{IOStreams: streams, PrintFlags: newPrintFlags(formatWide), LimitBytes: 10240}
}

const resultsLong = `Show one row per target of an EphemeralJob: the pod, the container the job injected there
(its template's name, or the name derived from it where that was taken), how it ended
(Succeeded, Failed, Running, Waiting), its exit code, reason and termination message.

The job and its pods are read from the API server with your credentials (get on
ephemeraljobs, list on pods, get on pods/log with --logs, watch on both with -w). Targets
that refused injection are Failed rows with the refusal's reason. Targets whose pods are
gone are read from the MySQL history when MYSQL_HOST (or --mysql-host) is set; otherwise a
note on stderr says how many are missing. When the job itself is gone from the API server,
the whole view comes from the history (the newest job of that name in the namespace), and
stderr says so.

With --exit-code the exit code says what the results are, for scripts:
  0  every target succeeded
  1  a target failed, was refused, has not finished (use -w to wait), or its result is
     unknown (its pod is gone and the history has no row for it)
  2  no target could run: the job has none, or every one was refused injection or never
     started
An error exits 1 too, after its "error:" line on stderr. Without --exit-code the exit code
is 0 whatever the results.`

const resultsExample = `  # Every target of a job, in index order
  kubectl ejob results hello-world-ephemeral-job

  # With the index, node and times; with each container's output under its row
  kubectl ejob results hello-world-ephemeral-job -o wide
  kubectl ejob results hello-world-ephemeral-job --logs

  # Fold identical results into one row each, with how many targets and which
  kubectl ejob results hello-world-ephemeral-job --group --logs

  # Follow the targets as they finish, until the job does; fail the script if one failed
  kubectl ejob results hello-world-ephemeral-job -w --exit-code

  # For scripts
  kubectl ejob results hello-world-ephemeral-job -o json
  kubectl ejob results hello-world-ephemeral-job -o name
  kubectl ejob results hello-world-ephemeral-job -o custom-columns=POD:.metadata.name,EXIT:.exitCode
  kubectl ejob results hello-world-ephemeral-job -o jsonpath='{.items[?(@.status=="Failed")].metadata.name}'`

// NewCmdResults returns `results`.
func NewCmdResults(f *factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewResultsOptions(streams)
	cmd := &cobra.Command{
		Use:               "results JOB",
		Short:             "Show every target of a job: its container, status, exit code, reason and message",
		Long:              resultsLong,
		Example:           resultsExample,
		Args:              exactlyOne("the job's name"),
		ValidArgsFunction: jobNameCompletion(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(f, cmd, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.PrintFlags.addFlags(cmd)
	flags := cmd.Flags()
	flags.BoolVar(&o.Logs, "logs", o.Logs, "Add each container's output (pods/log), under its row or as the output field.")
	flags.Int64Var(&o.LimitBytes, "limit-bytes", o.LimitBytes, fmt.Sprintf(
		"With --logs, read at most this many bytes of each container's output (1-%d).", maxLimitBytes))
	flags.BoolVar(&o.Group, "group", o.Group,
		"Fold targets with the same status, exit code, reason and message (and output, with --logs) into one row.")
	flags.BoolVarP(&o.Watch, "watch", "w", o.Watch,
		"After the rows, print each target's row again when it changes, until the job finishes (or Ctrl-C).")
	flags.BoolVar(&o.ExitCode, "exit-code", o.ExitCode,
		"Exit 0 when every target succeeded, 1 when one failed or was refused, 2 when none could run.")
	return cmd
}

// Complete reads the job's name and namespace and builds the printer and the clients.
func (o *ResultsOptions) Complete(f *factory, _ *cobra.Command, args []string) error {
	o.f, o.Name = f, args[0]
	var err error
	if o.printer, err = o.PrintFlags.toPrinter(); err != nil {
		return err
	}
	if o.Namespace, err = f.namespace(); err != nil {
		return err
	}
	o.dyn, o.kube, err = f.clients()
	return err
}

// Validate checks the flags' combinations, before any request.
func (o *ResultsOptions) Validate() error {
	switch {
	case o.Group && o.PrintFlags.output == formatWide:
		return errors.New("--group has no wide form: use -o json or yaml for every pod of each group")
	case o.Group && o.PrintFlags.name():
		return errors.New("--group has no -o name form: a group is no object with a name; drop --group to name the pods")
	case o.Watch && o.Group:
		return errors.New("--watch prints each target's row as it changes, which --group folds: drop one of them")
	case o.Watch && o.Logs:
		return errors.New("--watch prints rows as targets change, without their output: drop --logs, " +
			"and run the command again without -w once the job finished to read it")
	case o.LimitBytes < 1 || o.LimitBytes > maxLimitBytes:
		return fmt.Errorf("--limit-bytes %d is not within 1-%d", o.LimitBytes, maxLimitBytes)
	}
	return nil
}

// Run prints the job's results, and follows them with --watch.
func (o *ResultsOptions) Run(ctx context.Context) error {
	view, live, err := o.view(ctx)
	if err != nil {
		return err
	}
	if o.Watch && live != nil {
		if view, err = o.watch(ctx, view, live); err != nil {
			return err
		}
	} else {
		if o.Watch {
			fmt.Fprintln(o.ErrOut, "note: the job is gone from the API server: there is nothing to watch")
		}
		if err := o.print(view); err != nil {
			return err
		}
	}
	if code := exitCodeFor(view); o.ExitCode && code != ExitAllSucceeded {
		return &exitCodeError{code: code}
	}
	return nil
}

// exitCodeFor is the --exit-code of a view's targets, before they are grouped. Targets
// without a row count too: the refusals the status cannot name failed before they ran, and
// those whose pods are gone ended as the job's counts say, when they say that every target
// succeeded; otherwise their result is unknown.
func exitCodeFor(v *View) int {
	succeeded, unstarted := 0, int(v.Unidentified)
	for _, t := range v.Targets {
		switch {
		case t.Status == string(podstate.Succeeded):
			succeeded++
		case failedUnstarted(t):
			unstarted++
		}
	}
	total := len(v.Targets) + int(v.Unidentified) + int(v.Missing)
	switch {
	case v.Missing > 0:
		if v.Job.Match > 0 && v.Job.Succeeded == v.Job.Match && succeeded == len(v.Targets) {
			return ExitAllSucceeded
		}
		return ExitSomeFailed
	case unstarted == total:
		return ExitNoneRan
	case succeeded == total:
		return ExitAllSucceeded
	}
	return ExitSomeFailed
}

// print prints the view as a table or with the printer of -o.
func (o *ResultsOptions) print(v *View) error {
	if o.Group {
		v = &View{Job: v.Job, Groups: groupTargets(v.Targets), Missing: v.Missing, Unidentified: v.Unidentified}
	}
	if o.printer == nil {
		return printView(o.Out, v, printOptions{wide: o.PrintFlags.output == formatWide, group: o.Group, logs: o.Logs,
			noHeaders: o.PrintFlags.noHeaders, now: o.f.now()})
	}
	obj, err := viewObject(v, o.PrintFlags.name())
	if err != nil {
		return err
	}
	return o.printer.PrintObj(obj, o.Out)
}

// view reads the job's results: live, with the history's rows for targets whose pods are
// gone, or wholly from the history when the job is gone (live is then nil).
func (o *ResultsOptions) view(ctx context.Context) (*View, *liveState, error) {
	job, err := getJob(ctx, o.dyn, o.Namespace, o.Name)
	switch {
	case apierrors.IsNotFound(err):
		if !o.f.mysql.configured() {
			return nil, nil, fmt.Errorf("ejob %q not found in namespace %q; to read it from the history, set "+
				"MYSQL_HOST (or --mysql-host) and the other MYSQL_* settings", o.Name, o.Namespace)
		}
		view, err := o.historyView(ctx)
		return view, nil, err
	case err != nil:
		return nil, nil, fmt.Errorf("reading ejob %s/%s: %w", o.Namespace, o.Name, err)
	}
	pods, podsVersion, err := listJobPods(ctx, o.kube.CoreV1(), o.Namespace, keepsPod(job))
	if err != nil {
		return nil, nil, err
	}
	live := &liveState{job: job, pods: make(map[types.UID]corev1.Pod, len(pods)), podsVersion: podsVersion}
	for _, p := range pods {
		live.pods[p.UID] = p
	}
	targets, forged := liveTargets(job, pods)
	if len(forged) > 0 {
		fmt.Fprintf(o.ErrOut, "note: left out %s holding containers with the job's UID that the job did not "+
			"inject (%s); see the job's ForgedContainers condition\n", count(len(forged), "pod"),
			strings.Join(forged, ", "))
	}
	view := &View{Job: jobInfoLive(job), Targets: targets}
	if o.Logs {
		fetchLogs(ctx, o.kube.CoreV1(), o.Namespace, view.Targets, o.LimitBytes)
	}
	view.Missing = missingTargets(&job.Status, view.Targets)
	if view.Unidentified = podstate.UnidentifiedRefusals(&job.Status); view.Unidentified > 0 {
		fmt.Fprintf(o.ErrOut, "note: %s that refused injection not shown: the job's status counts them by "+
			"reason (status.refusals) but names at most %d refused pods\n", count(int(view.Unidentified), "target"),
			appsv1alpha1.MaxRefusedListed+appsv1alpha1.MaxRefusedIDs)
	}
	if view.Missing > 0 {
		if err := o.addGone(ctx, view); err != nil {
			return nil, nil, err
		}
	}
	return view, live, nil
}

// addGone adds, from the history, the targets whose pods are gone from the API server; without
// a history it says on stderr how many are missing and how to see them.
func (o *ResultsOptions) addGone(ctx context.Context, view *View) error {
	if !o.f.mysql.configured() {
		fmt.Fprintf(o.ErrOut, "note: %s of the job not shown: their pods are gone from the API server; "+
			"set MYSQL_HOST (or --mysql-host) to read them from the history, or run 'kubectl ejob history pods %s/%s'\n",
			count(int(view.Missing), "target"), view.Job.Namespace, view.Job.Name)
		return nil
	}
	store, ctx, done, err := o.f.mysql.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	rows, err := store.ListPodsOutput(ctx, view.Job.UID, o.outputChars())
	if err != nil {
		return fmt.Errorf("reading the job's pods from the history: %w", explainMySQL(err))
	}
	// Matched by UID: a pod deleted and recreated under its name was another target.
	shown := map[string]bool{}
	for _, t := range view.Targets {
		shown[t.uid] = true
	}
	added := 0
	for _, p := range rows {
		if shown[p.PodID] {
			continue
		}
		view.Targets = append(view.Targets, o.historyTarget(p))
		added++
	}
	sortTargets(view.Targets)
	view.Missing = max(view.Missing-int64(added), 0)
	if view.Missing > 0 {
		fmt.Fprintf(o.ErrOut, "note: %s of the job not shown: their pods are gone from the API server "+
			"and the history has no row for them\n", count(int(view.Missing), "target"))
	}
	return nil
}

// historyView reads the newest job of that name in the namespace, and its pods, from the history.
func (o *ResultsOptions) historyView(ctx context.Context) (*View, error) {
	store, ctx, done, err := o.f.mysql.open(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	job, n, ok, err := newestHistoryJob(ctx, store, recorder.JobFilter{Namespace: o.Namespace, Name: o.Name})
	if err != nil {
		return nil, fmt.Errorf("reading the history: %w", explainMySQL(err))
	}
	if !ok {
		return nil, fmt.Errorf("ejob %q not found in namespace %q, neither in the API server nor in the history",
			o.Name, o.Namespace)
	}
	rows, err := store.ListPodsOutput(ctx, job.JobID, o.outputChars())
	if err != nil {
		return nil, fmt.Errorf("reading the job's pods from the history: %w", explainMySQL(err))
	}
	also := ""
	if n > 1 {
		also = fmt.Sprintf("; %d jobs had that name, this is the newest (see 'kubectl ejob history jobs')", n)
	}
	fmt.Fprintf(o.ErrOut, "note: ejob %s/%s is gone from the API server; showing its history from MySQL (UID %s)%s\n",
		o.Namespace, o.Name, job.JobID, also)
	view := &View{Job: jobInfoHistory(job)}
	for _, p := range rows {
		view.Targets = append(view.Targets, o.historyTarget(p))
	}
	sortTargets(view.Targets)
	return view, nil
}

// outputChars is how many characters of each recorded output to read from the history:
// none without --logs; with it, one more than --limit-bytes (a character is at least a
// byte), so that a longer output is known to be cut.
func (o *ResultsOptions) outputChars() int64 {
	if !o.Logs {
		return 0
	}
	return o.LimitBytes + 1
}

// historyTarget is a pod row's target, its recorded output cut at --limit-bytes.
func (o *ResultsOptions) historyTarget(p recorder.PodRecord) Target {
	t := historyTarget(p, o.Logs)
	if t.Output != nil && int64(len(*t.Output)) > o.LimitBytes {
		cut := int(o.LimitBytes)
		for cut > 0 && !utf8.RuneStart((*t.Output)[cut]) {
			cut-- // never split a character
		}
		out := (*t.Output)[:cut]
		t.Output, t.OutputTruncated = &out, true
	}
	return t
}
