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

// Package kubectlejob is `kubectl ejob`, the kubectl plugin that shows what an
// EphemeralJob's containers did: live from the API server with the user's own
// credentials, and from the MySQL history the recorder keeps once the job or its pods are
// gone. cmd/kubectl-ejob is its binary; the demo runs it in-process.
package kubectlejob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
)

// Options tune Run for tests. Zero fields take their defaults.
type Options struct {
	// Now is the clock of durations and --since; time.Now when nil.
	Now func() time.Time
	// Getenv reads the MYSQL_* variables; os.Getenv when nil.
	Getenv func(string) string
}

// Run executes a command line of `kubectl ejob` (args without the program's name) and
// returns its exit code: 0, or 1 after printing one line that says what went wrong.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, opts Options) int {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	c := &cli{opts: opts, stdout: stdout, stderr: stderr}
	c.mysql.getenv = opts.Getenv
	root := c.command()
	// cobra reads os.Args when given nil.
	root.SetArgs(append([]string{}, args...))
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "error: %s\n", oneLine(err.Error()))
		return 1
	}
	return 0
}

// count says how many of something there are: "1 pod", "2 pods".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// oneLine joins a message's lines, so that every error is one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// cli holds the flags every command shares.
type cli struct {
	opts           Options
	stdout, stderr io.Writer
	loading        *clientcmd.ClientConfigLoadingRules
	overrides      clientcmd.ConfigOverrides
	kube           clientcmd.ClientConfig
	mysql          mysqlFlags
}

const rootLong = `kubectl ejob shows what an EphemeralJob's containers did, target by target: live from the
API server with your credentials, and from the MySQL history the operator's recorder keeps
(--meta-storage mysql) once the job or its pods are gone.

The history is read when MYSQL_HOST (or --mysql-host) is set, with MYSQL_PORT, MYSQL_DB_NAME,
MYSQL_USER, MYSQL_TLS (or --mysql-port, --mysql-db, --mysql-user, --mysql-tls); the password
comes from MYSQL_PASSWORD only, so that it shows in no process list or shell history.

Put the kubectl-ejob binary on your PATH to run it as "kubectl ejob". docs/kubectl-ejob.md
has the full reference.`

func (c *cli) command() *cobra.Command {
	root := &cobra.Command{
		Use:   "ejob",
		Short: "Show the results of EphemeralJobs, live and from history",
		Long:  rootLong,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl ejob",
		},
		SilenceErrors: true,
		SilenceUsage:  true,
		// A bare `kubectl ejob` prints its help, like kubectl.
		Run: func(cmd *cobra.Command, _ []string) { _ = cmd.Help() },
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())
	})
	flags := root.PersistentFlags()
	c.loading = clientcmd.NewDefaultClientConfigLoadingRules()
	flags.StringVar(&c.loading.ExplicitPath, clientcmd.RecommendedConfigPathFlag, "",
		"Path to the kubeconfig file to use for CLI requests.")
	clientcmd.BindOverrideFlags(&c.overrides, flags, clientcmd.RecommendedConfigOverrideFlags(""))
	c.kube = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(c.loading, &c.overrides)
	c.mysql.bind(flags)
	root.AddCommand(c.resultsCommand(), c.historyCommand())
	return root
}

// namespace returns -n, else the namespace of the kubeconfig's context, else "default".
func (c *cli) namespace() (string, error) {
	ns, _, err := c.kube.Namespace()
	if clientcmd.IsEmptyConfig(err) {
		return "default", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the namespace from the kubeconfig (pass -n, or --kubeconfig): %w", err)
	}
	return ns, nil
}

// restConfig returns the client configuration of the kubeconfig, with kubectl's flags applied.
func (c *cli) restConfig() (*rest.Config, error) {
	cfg, err := c.kube.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig (pass --kubeconfig or set KUBECONFIG): %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "kubectl-ejob"
	return cfg, nil
}

// exactlyOne is a cobra.PositionalArgs that names what the one argument is.
func exactlyOne(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%s takes one argument, %s; got %d (see '%s --help')", cmd.CommandPath(), what,
				len(args), cmd.CommandPath())
		}
		return nil
	}
}

// resultsOptions are the flags of `results`.
type resultsOptions struct {
	output     string
	logs       bool
	group      bool
	limitBytes int64
}

const resultsLong = `Show one row per target of an EphemeralJob: the pod, the container the job injected there
(its template's name, or the name derived from it where that was taken), how it ended
(Succeeded, Failed, Running, Waiting), its exit code, reason and termination message.

The job and its pods are read from the API server with your credentials (get on
ephemeraljobs, list on pods, get on pods/log with --logs). Targets that refused injection
are Failed rows with the refusal's reason. Targets whose pods are gone are read from the
MySQL history when MYSQL_HOST (or --mysql-host) is set; otherwise a note on stderr says how
many are missing. When the job itself is gone from the API server, the whole view comes
from the history (the newest job of that name in the namespace), and stderr says so.`

const resultsExample = `  # Every target of a job, in index order
  kubectl ejob results hello-world-ephemeral-job

  # With the index, node and times; with each container's output under its row
  kubectl ejob results hello-world-ephemeral-job -o wide
  kubectl ejob results hello-world-ephemeral-job --logs

  # Fold identical results into one row each, with how many targets and which
  kubectl ejob results hello-world-ephemeral-job --group --logs

  # For scripts
  kubectl ejob results hello-world-ephemeral-job -o json`

func (c *cli) resultsCommand() *cobra.Command {
	o := &resultsOptions{}
	cmd := &cobra.Command{
		Use:     "results JOB",
		Short:   "Show every target of a job: its container, status, exit code, reason and message",
		Long:    resultsLong,
		Example: resultsExample,
		Args:    exactlyOne("the job's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.results(cmd.Context(), o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "Output format: wide, json or yaml (default: a table).")
	f.BoolVar(&o.logs, "logs", false, "Add each container's output (pods/log), under its row or as the output field.")
	f.Int64Var(&o.limitBytes, "limit-bytes", 10240, fmt.Sprintf(
		"With --logs, read at most this many bytes of each container's output (1-%d).", maxLimitBytes))
	f.BoolVar(&o.group, "group", false,
		"Fold targets with the same status, exit code, reason and message (and output, with --logs) into one row.")
	return cmd
}

func (c *cli) results(ctx context.Context, o *resultsOptions, name string) error {
	switch o.output {
	case formatTable, formatWide, formatJSON, formatYAML:
	default:
		return fmt.Errorf("-o %q is not one of wide, json, yaml", o.output)
	}
	if o.group && o.output == formatWide {
		return errors.New("--group has no wide form: use -o json or yaml for every pod of each group")
	}
	if o.limitBytes < 1 || o.limitBytes > maxLimitBytes {
		return fmt.Errorf("--limit-bytes %d is not within 1-%d", o.limitBytes, maxLimitBytes)
	}
	ns, err := c.namespace()
	if err != nil {
		return err
	}
	cfg, err := c.restConfig()
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("creating a client: %w", err)
	}
	clientset, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("creating a client: %w", err)
	}
	var view *View
	job, err := getJob(ctx, dyn, ns, name)
	switch {
	case apierrors.IsNotFound(err):
		if !c.mysql.configured() {
			return fmt.Errorf("ejob %q not found in namespace %q; to read it from the history, set MYSQL_HOST "+
				"(or --mysql-host) and the other MYSQL_* settings", name, ns)
		}
		if view, err = c.historyView(ctx, ns, name, o); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("reading ejob %s/%s: %w", ns, name, err)
	default:
		pods, _, err := listJobPods(ctx, clientset.CoreV1(), ns, keepsPod(job))
		if err != nil {
			return err
		}
		targets, forged := liveTargets(job, pods)
		if len(forged) > 0 {
			fmt.Fprintf(c.stderr, "note: left out %s holding containers with the job's UID that the job did not "+
				"inject (%s); see the job's ForgedContainers condition\n", count(len(forged), "pod"),
				strings.Join(forged, ", "))
		}
		view = &View{Job: jobInfoLive(job), Targets: targets}
		if o.logs {
			fetchLogs(ctx, clientset.CoreV1(), ns, view.Targets, o.limitBytes)
		}
		view.Missing = missingTargets(&job.Status, view.Targets)
		if view.Unidentified = podstate.UnidentifiedRefusals(&job.Status); view.Unidentified > 0 {
			fmt.Fprintf(c.stderr, "note: %s that refused injection not shown: the job's status counts them by "+
				"reason (status.refusals) but names at most %d refused pods\n", count(int(view.Unidentified), "target"),
				appsv1alpha1.MaxRefusedListed+appsv1alpha1.MaxRefusedIDs)
		}
		if view.Missing > 0 {
			if err := c.addGone(ctx, view, o); err != nil {
				return err
			}
		}
	}
	if o.group {
		view.Groups, view.Targets = groupTargets(view.Targets), nil
	}
	return printView(c.stdout, view, printOptions{format: o.output, group: o.group, logs: o.logs, now: c.opts.Now()})
}

// addGone adds, from the history, the targets whose pods are gone from the API server; without
// a history it says on stderr how many are missing and how to see them.
func (c *cli) addGone(ctx context.Context, view *View, o *resultsOptions) error {
	if !c.mysql.configured() {
		fmt.Fprintf(c.stderr, "note: %s of the job not shown: their pods are gone from the API server; "+
			"set MYSQL_HOST (or --mysql-host) to read them from the history, or run 'kubectl ejob history pods %s/%s'\n",
			count(int(view.Missing), "target"), view.Job.Namespace, view.Job.Name)
		return nil
	}
	store, ctx, done, err := c.mysql.open(ctx)
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
		view.Targets = append(view.Targets, c.historyTarget(p, o))
		added++
	}
	sortTargets(view.Targets)
	view.Missing = max(view.Missing-int64(added), 0)
	if view.Missing > 0 {
		fmt.Fprintf(c.stderr, "note: %s of the job not shown: their pods are gone from the API server "+
			"and the history has no row for them\n", count(int(view.Missing), "target"))
	}
	return nil
}

// historyView reads the newest job of that name in the namespace, and its pods, from the history.
func (c *cli) historyView(ctx context.Context, ns, name string, o *resultsOptions) (*View, error) {
	store, ctx, done, err := c.mysql.open(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	job, n, ok, err := newestHistoryJob(ctx, store, recorder.JobFilter{Namespace: ns, Name: name})
	if err != nil {
		return nil, fmt.Errorf("reading the history: %w", explainMySQL(err))
	}
	if !ok {
		return nil, fmt.Errorf("ejob %q not found in namespace %q, neither in the API server nor in the history", name, ns)
	}
	rows, err := store.ListPodsOutput(ctx, job.JobID, o.outputChars())
	if err != nil {
		return nil, fmt.Errorf("reading the job's pods from the history: %w", explainMySQL(err))
	}
	also := ""
	if n > 1 {
		also = fmt.Sprintf("; %d jobs had that name, this is the newest (see 'kubectl ejob history jobs')", n)
	}
	fmt.Fprintf(c.stderr, "note: ejob %s/%s is gone from the API server; showing its history from MySQL (UID %s)%s\n",
		ns, name, job.JobID, also)
	view := &View{Job: jobInfoHistory(job)}
	for _, p := range rows {
		view.Targets = append(view.Targets, c.historyTarget(p, o))
	}
	sortTargets(view.Targets)
	return view, nil
}

// outputChars is how many characters of each recorded output to read from the history:
// none without --logs; with it, one more than --limit-bytes (a character is at least a
// byte), so that a longer output is known to be cut.
func (o *resultsOptions) outputChars() int64 {
	if !o.logs {
		return 0
	}
	return o.limitBytes + 1
}

// historyTarget is a pod row's target, its recorded output cut at --limit-bytes.
func (c *cli) historyTarget(p recorder.PodRecord, o *resultsOptions) Target {
	t := historyTarget(p, o.logs)
	if t.Output != nil && int64(len(*t.Output)) > o.limitBytes {
		cut := int(o.limitBytes)
		for cut > 0 && !utf8.RuneStart((*t.Output)[cut]) {
			cut-- // never split a character
		}
		out := (*t.Output)[:cut]
		t.Output, t.OutputTruncated = &out, true
	}
	return t
}

func (c *cli) historyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Read the jobs and pods the recorder kept in MySQL, including those gone from the API server",
		Long: `Read the jobs and pods the operator's recorder (--meta-storage mysql) kept in MySQL, including
those long deleted from the API server. It needs no cluster: the connection comes from
MYSQL_HOST, MYSQL_PORT, MYSQL_DB_NAME, MYSQL_USER, MYSQL_TLS (or the --mysql-* flags) and the
password from MYSQL_PASSWORD only. Times are UTC.`,
		Run: func(cmd *cobra.Command, _ []string) { _ = cmd.Help() },
	}
	cmd.AddCommand(c.historyJobsCommand(), c.historyPodsCommand())
	return cmd
}

func (c *cli) historyJobsCommand() *cobra.Command {
	o := &historyJobsOptions{}
	var all bool
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "List past jobs, newest first",
		Example: `  kubectl ejob history jobs --status Failed --since 24h
  kubectl ejob history jobs -A --limit 20`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			filter := recorder.JobFilter{Status: o.status}
			if !all {
				ns, err := c.namespace()
				if err != nil {
					return err
				}
				filter.Namespace = ns
			}
			if o.since > 0 {
				filter.CreatedAfter = c.opts.Now().Add(-o.since)
			}
			store, ctx, done, err := c.mysql.open(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			jobs, err := listHistoryJobs(ctx, store, filter, o.limit)
			if err != nil {
				return fmt.Errorf("reading the history: %w", explainMySQL(err))
			}
			if len(jobs) == 0 {
				fmt.Fprintln(c.stderr, "no jobs found in history")
				return nil
			}
			return writeHistoryJobs(c.stdout, jobs)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all-namespaces", "A", false, "List the jobs of every namespace.")
	f.StringVar(&o.status, "status", "", "Only jobs in this status: "+strings.Join(jobStatuses, ", ")+".")
	f.DurationVar(&o.since, "since", 0, "Only jobs created within this long before now, e.g. 24h.")
	f.IntVar(&o.limit, "limit", 100, fmt.Sprintf("Print at most this many jobs (1-%d).", maxJobs))
	return cmd
}

// uidPattern is the form of a UID the API server gives.
var uidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func (c *cli) historyPodsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "pods NAMESPACE/NAME | NAME | UID",
		Short: "Show the pods of a past job: the newest job of that name, or the job of that UID",
		Example: `  kubectl ejob history pods default/hello-world-ephemeral-job
  kubectl ejob history pods hello-world-ephemeral-job -n default
  kubectl ejob history pods 4dc25844-d12f-4679-a214-4b064db0e07b`,
		Args: exactlyOne("<namespace>/<name>, a name in -n's namespace, or a job UID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, what, err := c.jobLookup(args[0])
			if err != nil {
				return err
			}
			store, ctx, done, err := c.mysql.open(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			job, n, ok, err := newestHistoryJob(ctx, store, filter)
			if err != nil {
				return fmt.Errorf("reading the history: %w", explainMySQL(err))
			}
			if !ok {
				return fmt.Errorf("%s not found in history", what)
			}
			if n > 1 {
				fmt.Fprintf(c.stderr, "%d jobs were named %s/%s; showing the newest, %s (pass a UID to see another)\n",
					n, job.Namespace, job.Name, job.JobID)
			}
			pods, err := store.ListPodsOutput(ctx, job.JobID, 0)
			if err != nil {
				return fmt.Errorf("reading the job's pods from the history: %w", explainMySQL(err))
			}
			return writeHistoryPods(c.stdout, job, pods)
		},
	}
}

// jobLookup turns the argument of `history pods` into a filter, and says what it names.
func (c *cli) jobLookup(arg string) (recorder.JobFilter, string, error) {
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
	ns, err := c.namespace()
	if err != nil {
		return recorder.JobFilter{}, "", err
	}
	return recorder.JobFilter{Namespace: ns, Name: arg}, fmt.Sprintf("job %q", ns+"/"+arg), nil
}

// Main runs `kubectl ejob` as a program and exits with its code. Ctrl-C cancels the
// requests under way.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr, Options{})
	stop()
	os.Exit(code)
}
