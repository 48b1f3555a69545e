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
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// Exit codes of `kubectl ejob run`, worst first: a script tells from them how the command
// went without reading its output.
const (
	// ExitSucceeded: every target succeeded.
	ExitSucceeded = 0
	// ExitTargetsFailed: at least one target failed or refused injection.
	ExitTargetsFailed = 1
	// ExitNothingRan: no target could run — no pod matched, every one refused — or the job
	// could not be created.
	ExitNothingRan = 2
	// ExitTimedOut: the job's --timeout passed before every target finished.
	ExitTimedOut = 3
	// ExitInterrupted: Ctrl-C paused the job (128 + SIGINT, as a shell reports it).
	ExitInterrupted = 130
)

// cli is what `run` and `logs` share: the factory of the flags every command takes, and
// the streams.
type cli struct {
	f              *factory
	stdout, stderr io.Writer
	stdin          io.Reader
}

func (c *cli) namespace() (string, error)        { return c.f.namespace() }
func (c *cli) restConfig() (*rest.Config, error) { return c.f.restConfig() }

// runOptions are the flags of `run`.
type runOptions struct {
	selector      string
	name          string
	container     string
	image         string
	target        string
	env           []string
	pullPolicy    string
	custom        string
	profile       string
	parallelism   int32
	maxPods       int32
	failureBudget int32
	startTimeout  time.Duration
	timeout       time.Duration
	ttl           time.Duration
	dryRun        string
	output        string
	yes           bool
	detach        bool
	confirmAbove  int
	limitBytes    int64
	interval      time.Duration
}

const runLong = `Run a command in every pod that matches a label selector, through an EphemeralJob: its
containers are added to the pods as ephemeral containers, at most --parallelism at a time,
and the pods' own specs are not changed.

Before creating the job, run lists the matching pods with your credentials and says how many
it will reach, on how many nodes, and which lack the target container. Above --confirm-above
pods it asks for confirmation on a terminal, and needs --yes without one.

While the job runs, a progress line on stderr says how many targets finished, succeeded,
failed and run, the rate and the time so far; refusals and the first failures are printed as
they happen. Ctrl-C pauses the job (spec.paused) and says how to resume or delete it; a
second Ctrl-C leaves at once.

At the end run prints the results folded: targets that ended the same way and printed the
same output share one row, with their pods. The exit code is the worst outcome:
  0    every target succeeded
  1    at least one target failed or refused injection
  2    nothing could run: no pod matched, every pod refused, or the job could not be created
  3    --timeout passed before every target finished
  130  interrupted: Ctrl-C paused the job`

const runExample = `  # Is nginx running in every pod of app=web?
  kubectl ejob run -n shop -l app=web --image=busybox --target=app -- pidof nginx

  # Ten at a time, stopping once 5 pods failed, without asking
  kubectl ejob run -l app=web --image=busybox --parallelism=10 --failure-budget=5 --yes -- sh -c 'test -s /proc/1/cmdline'

  # In a namespace that enforces the restricted Pod Security level
  kubectl ejob run -l app=web --image=busybox --profile=restricted -- id -u

  # The job it would create, without creating it
  kubectl ejob run -l app=web --image=busybox --target=app --dry-run=client -o yaml -- date`

func (c *cli) runCommand() *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:     "run -l SELECTOR --image=IMAGE [--target=CONTAINER] [flags] [-- COMMAND [ARGS...]]",
		Short:   "Run a command in every pod matching a selector and show the results, folded",
		Long:    runLong,
		Example: runExample,
		RunE: func(cmd *cobra.Command, args []string) error {
			if n := cmd.ArgsLenAtDash(); n > 0 || (n < 0 && len(args) > 0) {
				return fmt.Errorf("the command goes after --, as in 'kubectl ejob run -l app=web --image=busybox -- %s'",
					strings.Join(args, " "))
			}
			return c.run(cmd.Context(), o, args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.selector, "selector", "l", "", "Label selector of the pods to run in (required), e.g. app=web.")
	f.StringVar(&o.name, "name", "", "The job's name (default: generated, run-XXXXX).")
	f.StringVarP(&o.container, "container", "c", "ejob", "The name of the container added to each pod.")
	f.StringVar(&o.image, "image", "", "The container's image (required unless --custom sets it).")
	f.StringVar(&o.target, "target", "", "The pod container whose processes the command sees (default: the pods' "+
		"first container, when it has the same name in every pod).")
	f.StringArrayVar(&o.env, "env", nil, "An environment variable of the container, NAME=VALUE; repeatable.")
	f.StringVar(&o.pullPolicy, "image-pull-policy", string(corev1.PullIfNotPresent), "Always, IfNotPresent or Never.")
	f.StringVar(&o.custom, "custom", "", "A JSON or YAML file with a partial container spec merged into the "+
		"container, as kubectl debug --custom does.")
	f.StringVar(&o.profile, "profile", "", "A security profile for the container: general, baseline, "+
		"restricted, netadmin, sysadmin, or auto for the namespace's Pod Security enforce level.")
	_ = cmd.RegisterFlagCompletionFunc("profile", cobra.FixedCompletions(append(profileNames(), "auto"),
		cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("dry-run", cobra.FixedCompletions([]string{"none", "client", "server"},
		cobra.ShellCompDirectiveNoFileComp))
	f.Int32Var(&o.parallelism, "parallelism", 5, fmt.Sprintf("How many pods run the command at once (1-%d).",
		appsv1alpha1.MaxParallelism))
	f.Int32Var(&o.maxPods, "max-pods", 0, "The most pods to run in (the job's replicas; default: every matching pod).")
	f.Int32Var(&o.failureBudget, "failure-budget", 0, "Stop starting new pods once this many failed (default: never).")
	f.DurationVar(&o.startTimeout, "start-timeout", 0, "How long a container may take to start (default 5m).")
	f.DurationVar(&o.timeout, "timeout", 0, "Fail the job if it runs longer than this (default: no limit).")
	f.DurationVar(&o.ttl, "ttl", 24*time.Hour, "Delete the job this long after it finished (0: keep it).")
	f.StringVar(&o.dryRun, "dry-run", "none", "client: print the job, send nothing; server: have the API server "+
		"and the webhook check it without creating it.")
	f.StringVarP(&o.output, "output", "o", "", "With --dry-run: yaml, json or name.")
	f.BoolVarP(&o.yes, "yes", "y", false, "Do not ask for confirmation, however many pods match.")
	f.BoolVar(&o.detach, "detach", false, "Return once the job is created; read it later with 'kubectl ejob results'.")
	f.IntVar(&o.confirmAbove, "confirm-above", 50, "Ask for confirmation when more pods than this match.")
	f.Int64Var(&o.limitBytes, "limit-bytes", 10240, fmt.Sprintf(
		"Read at most this many bytes of each container's output (1-%d).", maxLimitBytes))
	f.DurationVar(&o.interval, "progress-interval", 5*time.Second,
		"When stderr is not a terminal, print a progress line this often.")
	return cmd
}

// run is `kubectl ejob run`.
func (c *cli) run(ctx context.Context, o *runOptions, command []string) error {
	nothing := func(err error) error { return &exitCodeError{code: ExitNothingRan, err: err} }
	if err := o.check(); err != nil {
		return nothing(err)
	}
	ns, err := c.namespace()
	if err != nil {
		return nothing(err)
	}
	cfg, err := c.restConfig()
	if err != nil {
		return nothing(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nothing(fmt.Errorf("creating a client: %w", err))
	}
	clientset, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nothing(fmt.Errorf("creating a client: %w", err))
	}
	selector, labelSelector, err := parseSelector(o.selector)
	if err != nil {
		return nothing(err)
	}
	// From here Ctrl-C is run's: before the job exists it stops the command, and once the
	// job exists it pauses it (follow), also when pressed while the job was being created.
	c.f.takesInterrupts.Store(true)
	defer c.f.takesInterrupts.Store(false)
	pods, err := listSelected(ctx, clientset, ns, selector)
	if err != nil {
		return nothing(err)
	}
	plan := planRun(pods, o.target)
	if plan.running == 0 {
		pending := ""
		if plan.pending > 0 {
			pending = fmt.Sprintf(" (%s not running yet)", count(plan.pending, "pod"))
		}
		return nothing(fmt.Errorf("no running pod in namespace %s matches %s%s; nothing to run in", ns, o.selector, pending))
	}
	if o.target == "" {
		if plan.target == "" {
			return nothing(fmt.Errorf("pass --target: %s", plan.noTarget))
		}
		o.target = plan.target
	}
	level := ""
	if o.profile == "auto" {
		if level, err = enforceLevel(ctx, clientset, ns); err != nil {
			return nothing(err)
		}
	}
	job, err := o.job(ns, command, level, labelSelector)
	if err != nil {
		return nothing(err)
	}
	if o.dryRun != "none" {
		return c.dryRun(ctx, dyn, o, job)
	}
	c.preflight(plan, o, ns)
	if err := c.confirm(ctx, plan, o, command); err != nil {
		return nothing(err)
	}
	select {
	case <-c.f.interrupts:
		return nothing(errors.New("interrupted; nothing was created"))
	default:
	}
	created, err := createJob(ctx, dyn, job)
	if err != nil {
		return nothing(fmt.Errorf("creating the job: %w", err))
	}
	fmt.Fprintf(c.stderr, "ephemeraljob.apps.kruise.io/%s created\n", created.Name)
	if o.detach {
		fmt.Fprintf(c.stdout, "%s\n", created.Name)
		return nil
	}
	return c.follow(ctx, dyn, clientset, o, created)
}

// check validates the flags that need no API server.
func (o *runOptions) check() error {
	if o.selector == "" {
		return errors.New("-l/--selector is required: the pods to run in, e.g. -l app=web")
	}
	if o.image == "" && o.custom == "" {
		return errors.New("--image is required: the image of the container that runs the command, e.g. --image=busybox")
	}
	if o.parallelism < 1 || o.parallelism > appsv1alpha1.MaxParallelism {
		return fmt.Errorf("--parallelism %d is not within 1-%d", o.parallelism, appsv1alpha1.MaxParallelism)
	}
	if o.maxPods < 0 || o.failureBudget < 0 {
		return errors.New("--max-pods and --failure-budget cannot be negative")
	}
	for name, d := range map[string]time.Duration{"--start-timeout": o.startTimeout, "--timeout": o.timeout, "--ttl": o.ttl} {
		if d < 0 || (d > 0 && d < time.Second) {
			return fmt.Errorf("%s %s: give whole seconds or more, e.g. 30s, 5m", name, d)
		}
	}
	switch o.dryRun {
	case "none", "client", "server":
	default:
		return fmt.Errorf("--dry-run=%q is not one of none, client, server", o.dryRun)
	}
	switch o.output {
	case "", "json", "yaml", "name":
	default:
		return fmt.Errorf("-o %q is not one of yaml, json, name", o.output)
	}
	if o.output != "" && o.dryRun == "none" {
		return errors.New("-o prints the job of --dry-run: pass --dry-run=client or --dry-run=server")
	}
	switch corev1.PullPolicy(o.pullPolicy) {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		return fmt.Errorf("--image-pull-policy %q is not one of Always, IfNotPresent, Never", o.pullPolicy)
	}
	if o.limitBytes < 1 || o.limitBytes > maxLimitBytes {
		return fmt.Errorf("--limit-bytes %d is not within 1-%d", o.limitBytes, maxLimitBytes)
	}
	if o.profile != "" && o.profile != "auto" && !slices.Contains(profileNames(), o.profile) {
		return fmt.Errorf("--profile %q is not one of %s, auto", o.profile, strings.Join(profileNames(), ", "))
	}
	return nil
}

// job builds the EphemeralJob the options describe; level is the namespace's Pod Security
// enforce level when --profile=auto.
func (o *runOptions) job(namespace string, command []string, level string, sel *metav1.LabelSelector) (
	*appsv1alpha1.EphemeralJob, error) {
	c := corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name:    o.container,
		Image:   o.image,
		Command: command,
		// The tail of a failing command's output becomes its termination message, which the
		// job's status folds into its results.
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		ImagePullPolicy:          corev1.PullPolicy(o.pullPolicy),
	}, TargetContainerName: o.target}
	for _, e := range o.env {
		name, value, ok := strings.Cut(e, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--env %q: give NAME=VALUE", e)
		}
		c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
	}
	if o.custom != "" {
		var err error
		if c, err = mergeCustom(c, o.custom); err != nil {
			return nil, err
		}
	}
	if o.profile != "" {
		name := o.profile
		if name == "auto" {
			name = profileForLevel(level)
		}
		if err := applyProfile(name, &c); err != nil {
			return nil, err
		}
	}
	if c.Image == "" {
		return nil, fmt.Errorf("the container has no image: pass --image, or set image in %s", o.custom)
	}
	job := &appsv1alpha1.EphemeralJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: appsv1alpha1.GroupVersion.String(), Kind: "EphemeralJob"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: o.name},
		Spec: appsv1alpha1.EphemeralJobSpec{
			Selector:    sel,
			Parallelism: &o.parallelism,
			Template:    appsv1alpha1.EphemeralContainerTemplateSpec{EphemeralContainers: []corev1.EphemeralContainer{c}},
		},
	}
	if o.name == "" {
		job.GenerateName = "run-"
	}
	if o.maxPods > 0 {
		job.Spec.Replicas = &o.maxPods
	}
	if o.failureBudget > 0 {
		job.Spec.FailureBudget = &o.failureBudget
	}
	if o.startTimeout > 0 {
		job.Spec.StartDeadlineSeconds = new(int32(o.startTimeout / time.Second))
	}
	if o.timeout > 0 {
		job.Spec.ActiveDeadlineSeconds = new(int64(o.timeout / time.Second))
	}
	if o.ttl > 0 {
		job.Spec.TTLSecondsAfterFinished = new(int32(o.ttl / time.Second))
	}
	return job, nil
}

// mergeCustom merges a partial container spec from a JSON or YAML file into c with a
// strategic merge patch, as `kubectl debug --custom` does; the name and the target stay.
func mergeCustom(c corev1.EphemeralContainer, path string) (corev1.EphemeralContainer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("--custom: %w", err)
	}
	patch, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return c, fmt.Errorf("--custom %s is not a JSON or YAML object: %w", path, err)
	}
	var probe corev1.Container
	if err := json.Unmarshal(patch, &probe); err != nil {
		return c, fmt.Errorf("--custom %s is not a container spec: %w", path, err)
	}
	orig, err := json.Marshal(corev1.Container(c.EphemeralContainerCommon))
	if err != nil {
		return c, err
	}
	merged, err := strategicpatch.StrategicMergePatch(orig, patch, corev1.Container{})
	if err != nil {
		return c, fmt.Errorf("--custom %s: %w", path, err)
	}
	var out corev1.Container
	if err := json.Unmarshal(merged, &out); err != nil {
		return c, fmt.Errorf("--custom %s: %w", path, err)
	}
	out.Name = c.Name
	return corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon(out),
		TargetContainerName: c.TargetContainerName}, nil
}

// runPlan is what the selected pods say about a run before it starts.
type runPlan struct {
	running, pending int
	nodes            int
	// lacking names the running pods without the target container (at most a few), of
	// lackingCount.
	lacking      []string
	lackingCount int
	// target is the container to target: the one asked for, or the pods' common first one.
	target, noTarget string
}

// listSelected lists the pods of the namespace that match the selector, a page at a time.
func listSelected(ctx context.Context, clientset kubernetes.Interface, namespace string,
	selector labels.Selector) ([]corev1.Pod, error) {
	var pods []corev1.Pod
	opts := metav1.ListOptions{LabelSelector: selector.String(), Limit: podPageSize}
	for {
		page, err := clientset.CoreV1().Pods(namespace).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing the pods of namespace %s that match %s: %w", namespace, selector, err)
		}
		pods = append(pods, page.Items...)
		if page.Continue == "" {
			return pods, nil
		}
		opts.Continue = page.Continue
	}
}

// planRun counts the pods the job will reach, as the controller chooses them: running and
// not terminating now; pending ones join once they run.
func planRun(pods []corev1.Pod, target string) runPlan {
	p := runPlan{target: target}
	nodes := map[string]bool{}
	first := map[string]int{}
	for i := range pods {
		pod := &pods[i]
		switch {
		case pod.DeletionTimestamp != nil:
			continue
		case pod.Status.Phase == corev1.PodPending:
			p.pending++
			continue
		case pod.Status.Phase != corev1.PodRunning:
			continue
		}
		p.running++
		nodes[pod.Spec.NodeName] = true
		if len(pod.Spec.Containers) > 0 {
			first[pod.Spec.Containers[0].Name]++
		}
		if target != "" && !hasTarget(pod, target) {
			p.lackingCount++
			if len(p.lacking) < 5 {
				p.lacking = append(p.lacking, pod.Name)
			}
		}
	}
	p.nodes = len(nodes)
	if target == "" {
		switch len(first) {
		case 0:
			p.noTarget = "no running pod matches, so there is no container to default to"
		case 1:
			for name := range first {
				p.target = name
			}
		default:
			names := make([]string, 0, len(first))
			for name := range first {
				names = append(names, name)
			}
			sort.Strings(names)
			p.noTarget = fmt.Sprintf("the matching pods' first containers differ (%s)", strings.Join(names, ", "))
		}
	}
	return p
}

// hasTarget reports whether the pod has a container the job can target by that name: a
// regular container or a native sidecar.
func hasTarget(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			return true
		}
	}
	return false
}

// preflight says on stderr what the run will reach.
func (c *cli) preflight(p runPlan, o *runOptions, namespace string) {
	msg := fmt.Sprintf("%s on %s in namespace %s match %s", count(p.running, "running pod"), count(p.nodes, "node"),
		namespace, o.selector)
	if o.maxPods > 0 && int(o.maxPods) < p.running {
		msg += fmt.Sprintf("; --max-pods runs in %d of them", o.maxPods)
	}
	fmt.Fprintf(c.stderr, "%s; target container %q\n", msg, o.target)
	if p.pending > 0 {
		fmt.Fprintf(c.stderr, "%s not running yet join once they run\n", count(p.pending, "pod"))
	}
	if p.lackingCount > 0 {
		names := strings.Join(p.lacking, ", ")
		if p.lackingCount > len(p.lacking) {
			names += ", …"
		}
		fmt.Fprintf(c.stderr, "%s lack container %q and will refuse: %s\n", count(p.lackingCount, "pod"), o.target, names)
	}
}

// confirm asks, on a terminal, before running in more than --confirm-above pods; without a
// terminal it needs --yes.
func (c *cli) confirm(ctx context.Context, p runPlan, o *runOptions, command []string) error {
	reach := p.running
	if o.maxPods > 0 {
		reach = min(reach, int(o.maxPods))
	}
	if o.yes || reach <= o.confirmAbove {
		return nil
	}
	if !c.interactive() {
		return fmt.Errorf("%s would run the command; pass --yes to confirm without a terminal", count(reach, "pod"))
	}
	what := strings.Join(command, " ")
	if what == "" {
		what = "the image's command"
	}
	fmt.Fprintf(c.stderr, "Run %q in %s? [y/N] ", what, count(reach, "pod"))
	answers := make(chan string, 1)
	go func() {
		answer, _ := bufio.NewReader(c.stdin).ReadString('\n')
		answers <- answer
	}()
	select {
	case answer := <-answers:
		switch strings.ToLower(strings.TrimSpace(answer)) {
		case "y", "yes":
			return nil
		}
		return errors.New("not confirmed; nothing was created")
	case <-c.f.interrupts:
		fmt.Fprintln(c.stderr)
		return errors.New("interrupted; nothing was created")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// parseSelector parses -l as kubectl does, and returns it as the job's label selector too,
// so that the job selects the very pods that were counted. A requirement a label selector
// cannot hold (> and <, or a key given twice, which matchLabels would keep once) is refused.
func parseSelector(s string) (labels.Selector, *metav1.LabelSelector, error) {
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, nil, fmt.Errorf("-l %q: %w", s, err)
	}
	reqs, _ := sel.Requirements()
	ls := &metav1.LabelSelector{}
	seen := map[string]bool{}
	for _, r := range reqs {
		if seen[r.Key()] {
			return nil, nil, fmt.Errorf("-l %q gives key %q more than one requirement; use one per key, e.g. "+
				"'%s in (a,b)'", s, r.Key(), r.Key())
		}
		seen[r.Key()] = true
		values := r.Values().List()
		var op metav1.LabelSelectorOperator
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals:
			if ls.MatchLabels == nil {
				ls.MatchLabels = map[string]string{}
			}
			ls.MatchLabels[r.Key()] = values[0]
			continue
		case selection.In:
			op = metav1.LabelSelectorOpIn
		case selection.NotEquals, selection.NotIn:
			op = metav1.LabelSelectorOpNotIn
		case selection.Exists:
			op, values = metav1.LabelSelectorOpExists, nil
		case selection.DoesNotExist:
			op, values = metav1.LabelSelectorOpDoesNotExist, nil
		default:
			return nil, nil, fmt.Errorf("-l %q: a job's selector cannot say %q", s, r.Operator())
		}
		ls.MatchExpressions = append(ls.MatchExpressions, metav1.LabelSelectorRequirement{Key: r.Key(), Operator: op,
			Values: values})
	}
	return sel, ls, nil
}

// dryRun prints the job without creating it: as built (client), or as the API server and
// the webhook would store it (server).
func (c *cli) dryRun(ctx context.Context, dyn dynamic.Interface, o *runOptions, job *appsv1alpha1.EphemeralJob) error {
	// As kubectl prints a new object: without the status the API server would add.
	u, err := toUnstructured(job)
	if err != nil {
		return err
	}
	delete(u.Object, "status")
	var obj runtime.Object = u
	if o.dryRun == "server" {
		out, err := dyn.Resource(appsv1alpha1.GroupVersion.WithResource("ephemeraljobs")).Namespace(job.Namespace).
			Create(ctx, u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return &exitCodeError{code: ExitNothingRan, err: fmt.Errorf("the API server refused the job: %w", err)}
		}
		obj = out
	}
	name := job.Name
	if m, err := meta.Accessor(obj); err == nil && m.GetName() != "" {
		name = m.GetName()
	}
	switch o.output {
	case "yaml", "json":
		var b []byte
		var err error
		if o.output == "json" {
			b, err = json.MarshalIndent(obj, "", "    ")
			b = append(b, '\n')
		} else {
			b, err = yaml.Marshal(obj)
		}
		if err != nil {
			return err
		}
		_, err = c.stdout.Write(b)
		return err
	case "name":
		fmt.Fprintf(c.stdout, "ephemeraljob.apps.kruise.io/%s\n", name)
	default:
		if name == "" {
			name = job.GenerateName + "<generated>"
		}
		fmt.Fprintf(c.stdout, "ephemeraljob.apps.kruise.io/%s created (%s dry run)\n", name, o.dryRun)
	}
	return nil
}

func toUnstructured(job *appsv1alpha1.EphemeralJob) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(job)
	if err != nil {
		return nil, fmt.Errorf("encoding the job: %w", err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// createJob creates the job with the user's credentials.
func createJob(ctx context.Context, dyn dynamic.Interface, job *appsv1alpha1.EphemeralJob) (*appsv1alpha1.EphemeralJob, error) {
	u, err := toUnstructured(job)
	if err != nil {
		return nil, err
	}
	out, err := dyn.Resource(appsv1alpha1.GroupVersion.WithResource("ephemeraljobs")).Namespace(job.Namespace).
		Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	created := &appsv1alpha1.EphemeralJob{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(out.Object, created); err != nil {
		return nil, fmt.Errorf("decoding the job: %w", err)
	}
	return created, nil
}

// pauseJob sets spec.paused, which the webhook allows anyone who may update the job.
func pauseJob(ctx context.Context, dyn dynamic.Interface, job *appsv1alpha1.EphemeralJob) error {
	_, err := dyn.Resource(appsv1alpha1.GroupVersion.WithResource("ephemeraljobs")).Namespace(job.Namespace).
		Patch(ctx, job.Name, types.MergePatchType, []byte(`{"spec":{"paused":true}}`), metav1.PatchOptions{})
	return err
}

// outcomeCode is the exit code of a job that finished, or that Ctrl-C paused, worst first.
func outcomeCode(job *appsv1alpha1.EphemeralJob) int {
	st := &job.Status
	switch {
	case st.Phase == appsv1alpha1.EphemeralJobPaused:
		return ExitInterrupted
	case st.Phase == appsv1alpha1.EphemeralJobError:
		return ExitNothingRan
	case st.Phase == appsv1alpha1.EphemeralJobFailed && hasReason(st, appsv1alpha1.ReasonDeadlineExceeded, appsv1alpha1.ReasonNoTargets):
		return ExitTimedOut
	case st.Match == 0 || (st.Succeeded == 0 && st.Failed > 0 && refusedCount(st) == st.Failed):
		return ExitNothingRan
	case st.Failed > 0 || st.Phase == appsv1alpha1.EphemeralJobFailed:
		return ExitTargetsFailed
	}
	return ExitSucceeded
}

func hasReason(st *appsv1alpha1.EphemeralJobStatus, reasons ...string) bool {
	c := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionFailed)
	return c != nil && slices.Contains(reasons, c.Reason)
}

func refusedCount(st *appsv1alpha1.EphemeralJobStatus) int32 {
	var n int32
	for _, rc := range st.Refusals {
		n += rc.Count
	}
	return n
}

// readJob reads the job, for the progress loop.
func readJob(ctx context.Context, dyn dynamic.Interface, namespace, name string) (*appsv1alpha1.EphemeralJob, error) {
	return getJob(ctx, dyn, namespace, name)
}

// writeLine writes s and a newline, ignoring errors: progress goes to a terminal or a log.
func writeLine(w io.Writer, format string, args ...any) { _, _ = fmt.Fprintf(w, format+"\n", args...) }
