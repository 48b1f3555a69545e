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
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
)

// NewCmdHistory returns `history`, the parent of `history jobs` and `history pods`.
func NewCmdHistory(f *factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Read the jobs and pods the recorder kept in MySQL, including those gone from the API server",
		Long: `Read the jobs and pods the operator's recorder (--meta-storage mysql) kept in MySQL, including
those long deleted from the API server. It needs no cluster: the connection comes from
MYSQL_HOST, MYSQL_PORT, MYSQL_DB_NAME, MYSQL_USER, MYSQL_TLS (or the --mysql-* flags) and the
password from MYSQL_PASSWORD only. Times are UTC.`,
		Run: func(cmd *cobra.Command, _ []string) { _ = cmd.Help() },
	}
	cmd.AddCommand(NewCmdHistoryJobs(f, streams), NewCmdHistoryPods(f, streams))
	return cmd
}

// HistoryJobsOptions are the flags of `history jobs`.
type HistoryJobsOptions struct {
	genericiooptions.IOStreams
	PrintFlags *printFlags

	AllNamespaces bool
	Status        string
	Since         time.Duration
	Limit         int

	// Set by Complete.
	filter  recorder.JobFilter
	f       *factory
	printer printers.ResourcePrinter
}

// NewHistoryJobsOptions returns the defaults of `history jobs`.
func NewHistoryJobsOptions(streams genericiooptions.IOStreams) *HistoryJobsOptions {
	return &HistoryJobsOptions{IOStreams: streams, PrintFlags: newPrintFlags(), Limit: 100}
}

// NewCmdHistoryJobs returns `history jobs`.
func NewCmdHistoryJobs(f *factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewHistoryJobsOptions(streams)
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "List past jobs, newest first",
		Example: `  kubectl ejob history jobs --status Failed --since 24h
  kubectl ejob history jobs -A --limit 20
  kubectl ejob history jobs -o name`,
		Args: cobra.NoArgs,
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
	flags.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", o.AllNamespaces, "List the jobs of every namespace.")
	flags.StringVar(&o.Status, "status", o.Status, "Only jobs in this status: "+strings.Join(jobStatuses, ", ")+".")
	flags.DurationVar(&o.Since, "since", o.Since, "Only jobs created within this long before now, e.g. 24h.")
	flags.IntVar(&o.Limit, "limit", o.Limit, fmt.Sprintf("Print at most this many jobs (1-%d).", maxJobs))
	_ = cmd.RegisterFlagCompletionFunc("status", cobra.FixedCompletions(jobStatuses, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Complete builds the printer and the filter: the namespace of -n or the kubeconfig,
// unless -A.
func (o *HistoryJobsOptions) Complete(f *factory, _ *cobra.Command, _ []string) error {
	o.f = f
	var err error
	if o.printer, err = o.PrintFlags.toPrinter(); err != nil {
		return err
	}
	o.filter = recorder.JobFilter{Status: o.Status}
	if !o.AllNamespaces {
		if o.filter.Namespace, err = f.namespace(); err != nil {
			return err
		}
	}
	if o.Since > 0 {
		o.filter.CreatedAfter = f.now().Add(-o.Since)
	}
	return nil
}

// Validate checks the flags' values, before any request.
func (o *HistoryJobsOptions) Validate() error {
	if o.Status != "" && !slices.Contains(jobStatuses, o.Status) {
		return fmt.Errorf("--status %q is not one of %s", o.Status, strings.Join(jobStatuses, ", "))
	}
	if o.Since < 0 {
		return fmt.Errorf("--since %v must be positive", o.Since)
	}
	if o.Limit < 1 || o.Limit > maxJobs {
		return fmt.Errorf("--limit %d is not within 1-%d", o.Limit, maxJobs)
	}
	return nil
}

// Run lists the job rows.
func (o *HistoryJobsOptions) Run(ctx context.Context) error {
	store, ctx, done, err := o.f.mysql.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	jobs, err := listHistoryJobs(ctx, store, o.filter, o.Limit)
	if err != nil {
		return fmt.Errorf("reading the history: %w", explainMySQL(err))
	}
	if len(jobs) == 0 {
		fmt.Fprintln(o.ErrOut, "no jobs found in history")
		if o.printer == nil || o.PrintFlags.name() {
			return nil
		}
	}
	if o.printer == nil {
		return writeHistoryJobs(o.Out, jobs, o.PrintFlags.noHeaders)
	}
	obj, err := historyJobsObject(jobs)
	if err != nil {
		return err
	}
	return o.printer.PrintObj(obj, o.Out)
}

// HistoryPodsOptions are the flags of `history pods`.
type HistoryPodsOptions struct {
	genericiooptions.IOStreams
	PrintFlags *printFlags

	// Set by Complete.
	filter  recorder.JobFilter
	what    string
	f       *factory
	printer printers.ResourcePrinter
}

// NewHistoryPodsOptions returns the defaults of `history pods`.
func NewHistoryPodsOptions(streams genericiooptions.IOStreams) *HistoryPodsOptions {
	return &HistoryPodsOptions{IOStreams: streams, PrintFlags: newPrintFlags()}
}

// NewCmdHistoryPods returns `history pods`.
func NewCmdHistoryPods(f *factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewHistoryPodsOptions(streams)
	cmd := &cobra.Command{
		Use:   "pods NAMESPACE/NAME | NAME | UID",
		Short: "Show the pods of a past job: the newest job of that name, or the job of that UID",
		Example: `  kubectl ejob history pods default/hello-world-ephemeral-job
  kubectl ejob history pods hello-world-ephemeral-job -n default
  kubectl ejob history pods 4dc25844-d12f-4679-a214-4b064db0e07b -o json`,
		Args: exactlyOne("<namespace>/<name>, a name in -n's namespace, or a job UID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(f, cmd, args); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.PrintFlags.addFlags(cmd)
	return cmd
}

// uidPattern is the form of a UID the API server gives.
var uidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// Complete turns the argument into a filter (see jobLookup) and builds the printer.
func (o *HistoryPodsOptions) Complete(f *factory, _ *cobra.Command, args []string) error {
	o.f = f
	var err error
	if o.filter, o.what, err = jobLookup(f, args[0]); err != nil {
		return err
	}
	o.printer, err = o.PrintFlags.toPrinter()
	return err
}

// Run prints the newest job of the filter and its pod rows.
func (o *HistoryPodsOptions) Run(ctx context.Context) error {
	store, ctx, done, err := o.f.mysql.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	job, n, ok, err := newestHistoryJob(ctx, store, o.filter)
	if err != nil {
		return fmt.Errorf("reading the history: %w", explainMySQL(err))
	}
	if !ok {
		return fmt.Errorf("%s not found in history", o.what)
	}
	if n > 1 {
		fmt.Fprintf(o.ErrOut, "%d jobs were named %s/%s; showing the newest, %s (pass a UID to see another)\n",
			n, job.Namespace, job.Name, job.JobID)
	}
	pods, err := store.ListPodsOutput(ctx, job.JobID, 0)
	if err != nil {
		return fmt.Errorf("reading the job's pods from the history: %w", explainMySQL(err))
	}
	if o.printer == nil {
		return writeHistoryPods(o.Out, job, pods, o.PrintFlags.noHeaders)
	}
	view := &View{Job: jobInfoHistory(job)}
	for _, p := range pods {
		view.Targets = append(view.Targets, historyTarget(p, false))
	}
	obj, err := viewObject(view, o.PrintFlags.name())
	if err != nil {
		return err
	}
	return o.printer.PrintObj(obj, o.Out)
}

// jobLookup turns the argument of `history pods` into a filter, and says what it names.
func jobLookup(f *factory, arg string) (recorder.JobFilter, string, error) {
	if ns, name, ok := strings.Cut(arg, "/"); ok {
		if ns == "" || name == "" || strings.Contains(name, "/") {
			return recorder.JobFilter{}, "", fmt.Errorf("%q is not <namespace>/<name>", arg)
		}
		return recorder.JobFilter{Namespace: ns, Name: name}, fmt.Sprintf("job %q", arg), nil
	}
	if arg == "" {
		return recorder.JobFilter{}, "", errors.New("the job argument is empty")
	}
	if uidPattern.MatchString(arg) {
		return recorder.JobFilter{JobID: arg}, fmt.Sprintf("job with UID %q", arg), nil
	}
	ns, err := f.namespace()
	if err != nil {
		return recorder.JobFilter{}, "", err
	}
	return recorder.JobFilter{Namespace: ns, Name: arg}, fmt.Sprintf("job %q", ns+"/"+arg), nil
}
