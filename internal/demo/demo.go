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

// Package demo plays the proposal's Story 1 on one machine, with no cluster and no
// container runtime: a local control plane (envtest's etcd and kube-apiserver), the
// operator's manager in-process (controller, webhook, MySQL recorder on a private
// MariaDB), and the kubelet stand-in of the test suites. Run prints what it does as
// numbered steps and tears everything down when it returns.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/kubectlejob"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/manager"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil/mariadb"
	"github.com/ephemeraljob/ephemeraljob-operator/test/kubelet"
)

// The story's files, relative to the repository's top directory, and what they hold.
const (
	podsFile  = "config/samples/story1_pods.yaml"
	jobFile   = "config/samples/story1_ephemeraljob.yaml"
	jobName   = "hello-world-ephemeral-job"
	namespace = metav1.NamespaceDefault
	appLabel  = "app=helloworld"
	podCount  = 4
	region    = "demo"
)

// Counts are the columns of `kubectl get ejob` but the name and the age.
type Counts struct {
	Phase                                      appsv1alpha1.EphemeralJobPhase
	Match, Succeeded, Failed, Running, Waiting int32
}

// CountsOf returns the counts of a job's status.
func CountsOf(s appsv1alpha1.EphemeralJobStatus) Counts {
	return Counts{Phase: s.Phase, Match: s.Match, Succeeded: s.Succeeded, Failed: s.Failed, Running: s.Running,
		Waiting: s.Waiting}
}

// String prints the counts as `kubectl get ejob` does.
func (c Counts) String() string {
	return fmt.Sprintf("STATUS %s MATCH %d SUCCEED %d FAILED %d RUNNING %d WAITING %d",
		c.Phase, c.Match, c.Succeeded, c.Failed, c.Running, c.Waiting)
}

// Story1 is how the proposal's Story 1 ends: two of the four pods run helloworld, two don't.
var Story1 = Counts{Phase: appsv1alpha1.EphemeralJobFailed, Match: 4, Succeeded: 2, Failed: 2}

// Options tune Run. Zero fields take their defaults.
type Options struct {
	// Out receives the demo's narration; os.Stdout when nil.
	Out io.Writer
	// Keep keeps everything running after the story until ctx ends, printing how to
	// reach the control plane and the database.
	Keep bool
	// RunFor is how long the kubelet stand-in runs each ephemeral container: long enough
	// to watch the job progress. Default 1s.
	RunFor time.Duration
	// StepTimeout bounds each step that waits for something to happen. Default 1 minute.
	StepTimeout time.Duration
	// WorkDir holds the kubeconfig and the manager's log. When empty, a temporary
	// directory is made and removed at the end; a given directory is left in place.
	WorkDir string
}

// Result is what the story showed.
type Result struct {
	// Job is the job's status once it finished, read from the API server.
	Job appsv1alpha1.EphemeralJobStatus
	// Table is every row `kubectl get ejob` printed as the job progressed, split into columns
	// (NAME STATUS MATCH SUCCEED FAILED RUNNING WAITING AGE).
	Table [][]string
	// Results and Groups are what `kubectl ejob results --logs` and `--group` printed once
	// the job finished; History what `kubectl ejob results` printed from MySQL at the end,
	// once the job and its pods were gone.
	Results, Groups, History string
	// Jobs and Pods are the recorder's rows at the end of the story, once the job and
	// then its pods were deleted.
	Jobs []recorder.JobRecord
	Pods []recorder.PodRecord
	// APIServer and MySQL are the addresses the demo served on (host:port), now closed.
	APIServer string
	MySQL     string
}

// stopper stops one thing the demo started; name says what, or is empty for a detail.
type stopper struct {
	name string
	stop func()
}

// demo holds what Run started, for its steps and its teardown.
type demo struct {
	opts    Options
	out     io.Writer
	step    int
	root    string
	kubectl string
	workDir string

	env      *envtest.Environment
	cfg      *rest.Config
	k8s      client.Client
	db       *mariadb.Server
	store    *recorder.MySQLStore
	logFile  *os.File
	stoppers []stopper // run last first by teardown
}

// Run plays Story 1 and returns what it showed. Whatever happens, including ctx ending
// midway, it stops everything it started before it returns.
func Run(ctx context.Context, opts Options) (res *Result, err error) {
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	if opts.RunFor <= 0 {
		opts.RunFor = time.Second
	}
	if opts.StepTimeout <= 0 {
		opts.StepTimeout = time.Minute
	}
	d := &demo{opts: opts, out: opts.Out, root: testutil.RepoRoot()}
	d.kubectl = filepath.Join(testutil.AssetsDir(), "kubectl")
	begin := time.Now()
	defer func() {
		switch {
		case err != nil && ctx.Err() != nil:
			d.printf("\nInterrupted: %v\n", err)
		case err != nil:
			d.printf("\nThe demo failed: %v\n", err)
			if d.logFile != nil {
				d.printf("The end of the manager's log:\n")
				d.indent(fileTail(d.logFile.Name()))
			}
		}
		if tdErr := d.teardown(); tdErr != nil {
			err = errors.Join(err, tdErr)
		}
		if err == nil {
			d.printf("Done in %s.\n", time.Since(begin).Round(100*time.Millisecond))
		}
	}()
	res = &Result{}
	for _, s := range []func(context.Context, *Result) error{
		d.startBackends, d.startManager, d.startKubelet, d.createWorkload, d.applyJob, d.watchJob,
		d.showResults, d.showRows, d.deleteJob, d.deletePods, d.showHistory,
	} {
		if err := s(ctx, res); err != nil {
			return res, err
		}
	}
	if opts.Keep {
		d.keep(ctx)
	}
	return res, nil
}

// stepf starts a numbered step.
func (d *demo) stepf(format string, args ...any) {
	d.step++
	d.printf("\n%2d. %s\n", d.step, fmt.Sprintf(format, args...))
}

func (d *demo) printf(format string, args ...any) { _, _ = fmt.Fprintf(d.out, format, args...) }

// indent prints text under its step.
func (d *demo) indent(text string) {
	for line := range strings.SplitSeq(strings.TrimRight(text, "\n"), "\n") {
		d.printf("    %s\n", line)
	}
}

// startBackends starts the control plane (with the CRD and the webhook configuration)
// and MariaDB, side by side.
func (d *demo) startBackends(ctx context.Context, res *Result) error {
	d.stepf("Starting a local control plane (etcd and kube-apiserver %s from %s, on 127.0.0.1) and a private MariaDB",
		testutil.K8sVersion, d.rel(testutil.AssetsDir()))
	begin := time.Now()
	if err := d.makeWorkDir(); err != nil {
		return err
	}
	type started struct {
		db  *mariadb.Server
		err error
	}
	dbDone := make(chan started, 1)
	go func() {
		db, err := mariadb.Start(ctx)
		dbDone <- started{db, err}
	}()

	d.env = testutil.NewEnvironment()
	d.env.WebhookInstallOptions = envtest.WebhookInstallOptions{
		Paths: []string{filepath.Join(d.root, "config", "webhook", "manifests.yaml")},
	}
	cfg, envErr := d.env.Start()
	if envErr == nil {
		d.cfg = cfg
		d.onStop("the control plane", func() {
			if err := d.env.Stop(); err != nil {
				d.printf("    stopping the control plane: %v\n", err)
			}
		})
	} else {
		d.env = nil
		envErr = fmt.Errorf("starting the control plane (make envtest-bins puts its binaries into %s): %w",
			testutil.AssetsDir(), envErr)
	}
	db := <-dbDone
	if db.err == nil {
		d.db = db.db
		d.onStop("MariaDB", func() {
			if err := d.db.Close(); err != nil {
				d.printf("    stopping MariaDB: %v\n", err)
			}
		})
	} else {
		db.err = fmt.Errorf("starting MariaDB: %w", db.err)
	}
	if err := errors.Join(envErr, db.err); err != nil {
		return err
	}
	apiServer, err := url.Parse(d.cfg.Host)
	if err != nil {
		return fmt.Errorf("parsing the API server's address: %w", err)
	}
	res.APIServer, res.MySQL = apiServer.Host, d.db.Addr()
	d.printf("    ready in %s: kube-apiserver %s, MariaDB %s (database %s)\n",
		time.Since(begin).Round(100*time.Millisecond), d.cfg.Host, d.db.Addr(), d.db.DBName)

	scheme := runtime.NewScheme()
	if err := manager.AddToScheme(scheme); err != nil {
		return err
	}
	if d.k8s, err = client.New(d.cfg, client.Options{Scheme: scheme}); err != nil {
		return fmt.Errorf("creating a client: %w", err)
	}
	kubeconfig := filepath.Join(d.workDir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, d.env.KubeConfig, 0o600); err != nil {
		return fmt.Errorf("writing the kubeconfig: %w", err)
	}
	wio := &d.env.WebhookInstallOptions
	d.stepf("Installed the EphemeralJob CRD (config/crd/bases) and the validating webhook configuration "+
		"(config/webhook), pointed at https://%s:%d; kubectl uses %s", wio.LocalServingHost, wio.LocalServingPort,
		kubeconfig)
	return d.run(ctx, "api-resources", "--api-group=apps.kruise.io")
}

// startManager runs the manager with the wiring of cmd/main.go: the controller, the
// webhook on envtest's local serving certificate, and the MySQL recorder.
func (d *demo) startManager(ctx context.Context, _ *Result) error {
	logPath := filepath.Join(d.workDir, "manager.log")
	d.stepf("Starting the manager in-process, wired as cmd/main.go --meta-storage mysql: controller, webhook "+
		"and MySQL recorder (log: %s)", logPath)
	var err error
	if d.logFile, err = os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return fmt.Errorf("opening the manager's log: %w", err)
	}
	logs := &closingWriter{w: d.logFile}
	log := zap.New(zap.WriteTo(logs), zap.UseDevMode(true))
	ctrl.SetLogger(log)
	klog.SetLogger(log)
	d.onStop("", func() {
		// Later log lines, from goroutines still ending, go nowhere rather than to a closed
		// file. The loggers stay: klog's may not be replaced while goroutines log.
		logs.close()
	})

	wio := &d.env.WebhookInstallOptions
	mysqlConfig := recorder.Config{Host: d.db.Host, Port: d.db.Port, DBName: d.db.DBName, User: d.db.User,
		Password: d.db.Password}
	mgrCtx, stop := context.WithCancel(context.Background())
	mgr, err := manager.New(mgrCtx, d.cfg, ctrl.Options{
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer: webhook.NewServer(webhook.Options{
			Host: wio.LocalServingHost, Port: wio.LocalServingPort, CertDir: wio.LocalServingCertDir,
		}),
	}, manager.Options{Webhooks: true, MySQL: &mysqlConfig, Recorder: recorder.Options{Region: region}})
	if err != nil {
		stop()
		return err
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	d.onStop("the manager", func() {
		stop()
		if err := <-done; err != nil {
			d.printf("    the manager: %v\n", err)
		}
	})
	// kubectl apply goes through the webhook, so it must serve first.
	err = d.waitFor(ctx, "the webhook server to start", func(context.Context) (bool, error) {
		select {
		case err := <-done:
			done <- err
			return false, fmt.Errorf("the manager stopped: %w", err)
		default:
		}
		return mgr.GetWebhookServer().StartedChecker()(nil) == nil, nil
	})
	if err != nil {
		return err
	}
	if d.store, err = recorder.NewMySQLStore(mysqlConfig, recorder.StoreOptions{}); err != nil {
		return fmt.Errorf("connecting to MySQL: %w", err)
	}
	d.onStop("", func() { _ = d.store.Close() })
	d.printf("    webhook serving on https://%s:%d, recording to %s\n", wio.LocalServingHost, wio.LocalServingPort,
		mysqlConfig)
	return nil
}

// nodeName is the node the kubelet stand-in binds the pods to.
const nodeName = "demo-node"

// startKubelet runs the kubelet stand-in of the test suites, deciding by command, and its
// log endpoint, registered as the node the pods are bound to so that pods/log reaches it.
func (d *demo) startKubelet(ctx context.Context, _ *Result) error {
	d.stepf("Starting the kubelet stand-in (test/kubelet): it binds pods to node %s, marks them Running and runs "+
		"each ephemeral container for %s; `pidof NAME` prints 1 and succeeds where the target container's main "+
		"process is NAME, and prints nothing and fails elsewhere; the node's log endpoint serves what they printed",
		nodeName, d.opts.RunFor)
	clientset, err := kubernetes.NewForConfig(d.cfg)
	if err != nil {
		return fmt.Errorf("creating a clientset: %w", err)
	}
	stub := &kubelet.Stub{Client: clientset, Decide: kubelet.Pidof, RunFor: d.opts.RunFor, StartPods: true,
		NodeName: nodeName}
	logs := kubelet.StartLogServer(stub)
	d.onStop("", logs.Close)
	if _, err := logs.RegisterNode(ctx, clientset, nodeName); err != nil {
		return err
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := stub.Run(ctx); err != nil && ctx.Err() == nil {
			d.printf("    the kubelet stand-in stopped: %v\n", err)
		}
	}()
	d.onStop("the kubelet stand-in", func() { stop(); <-done })
	return nil
}

// createWorkload applies the proposal's pods and waits until they run.
func (d *demo) createWorkload(ctx context.Context, _ *Result) error {
	d.stepf("Creating Story 1's workload: the pod templates of the proposal's Deployments helloworld and " +
		"helloworld-no-work, as plain pods (no controller-manager runs here to make pods of Deployments)")
	if err := d.run(ctx, "apply", "-f", podsFile); err != nil {
		return err
	}
	allRunning := func(ctx context.Context) (bool, error) {
		pods := &corev1.PodList{}
		err := d.k8s.List(ctx, pods, client.InNamespace(namespace), client.MatchingLabels{"app": "helloworld"})
		if err != nil {
			return false, err
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == podCount, nil
	}
	if err := d.waitFor(ctx, fmt.Sprintf("%d running pods labelled %s", podCount, appLabel), allRunning); err != nil {
		return err
	}
	return d.run(ctx, "get", "pods", "-l", appLabel, "-o", "custom-columns=NAME:.metadata.name,STATUS:.status.phase,"+
		"COMMAND:.spec.containers[0].command,LABELS:.metadata.labels")
}

// applyJob applies the proposal's EphemeralJob, unchanged.
func (d *demo) applyJob(ctx context.Context, _ *Result) error {
	d.stepf("Applying the proposal's EphemeralJob as it is (the webhook validates it)")
	return d.run(ctx, "apply", "-f", jobFile)
}

// watchJob prints `kubectl get ejob` each time the job's status changes, until it finished.
func (d *demo) watchJob(ctx context.Context, res *Result) error {
	d.stepf("Watching the job until it finishes")
	d.printf("    $ kubectl get ejob\n")
	var last *Counts
	header := false
	err := d.waitFor(ctx, "the job to finish", func(ctx context.Context) (bool, error) {
		job := &appsv1alpha1.EphemeralJob{}
		if err := d.k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: jobName}, job); err != nil {
			return false, err
		}
		st := CountsOf(job.Status)
		if last != nil && *last == st {
			return false, nil
		}
		last = &st
		// kubectl reads the job after this Get: it shows this state or a later one.
		out, err := d.output(ctx, "get", "ejob", jobName)
		if err != nil {
			return false, err
		}
		head, rows := parseTable(out)
		if len(rows) != 1 {
			return false, fmt.Errorf("kubectl get ejob printed %q, not a header and a row", out)
		}
		if !header {
			d.printf("    %s\n", formatRow(head, head))
			header = true
		}
		if n := len(res.Table); n == 0 || !slices.Equal(rows[0][:len(rows[0])-1], res.Table[n-1][:len(rows[0])-1]) {
			d.printf("    %s\n", formatRow(head, rows[0]))
			res.Table = append(res.Table, rows[0])
		}
		if !job.Status.Phase.IsFinished() {
			return false, nil
		}
		res.Job = job.Status
		return true, nil
	})
	if err != nil {
		return err
	}
	if got := CountsOf(res.Job); got != Story1 {
		return fmt.Errorf("the job ended with %s, where the proposal shows %s", got, Story1)
	}
	d.printf("    as in the proposal: MATCH %d SUCCEED %d FAILED %d\n", Story1.Match, Story1.Succeeded, Story1.Failed)
	return nil
}

// parseTable splits kubectl's table output into the header's cells and the rows' cells,
// cutting every line where the header's words start, so that an empty cell stays "".
func parseTable(out string) (header []string, rows [][]string) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	var starts []int
	for i, r := range lines[0] {
		if r != ' ' && (i == 0 || lines[0][i-1] == ' ') {
			starts = append(starts, i)
		}
	}
	cut := func(line string) []string {
		cells := make([]string, len(starts))
		for i, start := range starts {
			end := len(line)
			if i+1 < len(starts) {
				end = min(starts[i+1], end)
			}
			if start < end {
				cells[i] = strings.TrimSpace(line[start:end])
			}
		}
		return cells
	}
	for _, line := range lines[1:] {
		rows = append(rows, cut(line))
	}
	return cut(lines[0]), rows
}

// formatRow lays out a row of `kubectl get ejob` in columns as wide as the header's cells,
// or as the longest job name and phase for the first two, so that rows printed one at a
// time line up.
func formatRow(header, cells []string) string {
	var b strings.Builder
	for i, c := range cells {
		if i == len(cells)-1 {
			b.WriteString(c)
			break
		}
		w := len(c)
		if i < len(header) {
			w = max(w, len(header[i]))
		}
		switch i {
		case 0:
			w = max(w, len(jobName))
		case 1:
			w = max(w, len(appsv1alpha1.EphemeralJobSucceeded))
		}
		fmt.Fprintf(&b, "%-*s   ", w, c)
	}
	return b.String()
}

// showResults shows the job's results target by target, and folded, with the kubectl plugin.
func (d *demo) showResults(ctx context.Context, res *Result) error {
	d.stepf("The results, target by target, and folded: the kubectl plugin kubectl-ejob (cmd/kubectl-ejob, run " +
		"in-process here), reading the job, its pods and their containers' output with kubectl's credentials")
	var err error
	if res.Results, err = d.ejob(ctx, "results", jobName, "--logs"); err != nil {
		return err
	}
	res.Groups, err = d.ejob(ctx, "results", jobName, "--group")
	return err
}

// showHistory shows the results again once the job and its pods are gone: from MySQL.
func (d *demo) showHistory(ctx context.Context, res *Result) error {
	d.stepf("The results once the job and its pods are gone: kubectl ejob reads them from MySQL (MYSQL_HOST=%s "+
		"MYSQL_PORT=%d MYSQL_DB_NAME=%s MYSQL_USER=%s)", d.db.Host, d.db.Port, d.db.DBName, d.db.User)
	var err error
	res.History, err = d.ejob(ctx, "results", jobName)
	return err
}

// ejob runs `kubectl ejob` in-process on the demo's kubeconfig and database, and prints the
// command and what it printed.
func (d *demo) ejob(ctx context.Context, args ...string) (string, error) {
	d.printf("    $ kubectl ejob %s\n", strings.Join(args, " "))
	env := map[string]string{"MYSQL_HOST": d.db.Host, "MYSQL_PORT": strconv.Itoa(d.db.Port),
		"MYSQL_DB_NAME": d.db.DBName, "MYSQL_USER": d.db.User, "MYSQL_PASSWORD": d.db.Password}
	var out strings.Builder
	code := kubectlejob.Run(ctx, append(args, "--kubeconfig", filepath.Join(d.workDir, "kubeconfig")), &out, &out,
		kubectlejob.Options{Getenv: func(k string) string { return env[k] }})
	if code != 0 {
		return out.String(), fmt.Errorf("kubectl ejob %s: exit code %d: %s", strings.Join(args, " "), code,
			strings.TrimSpace(out.String()))
	}
	d.indent(out.String())
	return out.String(), nil
}

// showRows waits until the recorder wrote the finished job and its pods, and prints them.
func (d *demo) showRows(ctx context.Context, res *Result) error {
	d.stepf("The recorder's rows in MySQL (tables job and pod)")
	jobs, pods, err := d.waitRows(ctx, "the finished job and its pods in MySQL", func(jobs []recorder.JobRecord,
		pods []recorder.PodRecord) bool {
		if len(jobs) != 1 || !jobs[0].IsInEtcd || jobs[0].Status != string(res.Job.Phase) ||
			jobs[0].MatchCount != res.Job.Match || jobs[0].Succeeded != res.Job.Succeeded || jobs[0].Failed != res.Job.Failed {
			return false
		}
		finished := 0
		for _, p := range pods {
			if p.Status == recorder.PodStatusSucceeded || p.Status == recorder.PodStatusFailed {
				finished++
			}
		}
		return finished == int(res.Job.Match)
	})
	if err != nil {
		return err
	}
	d.printRows(jobs, pods)
	return nil
}

// deleteJob deletes the job and shows its row stays, marked gone from etcd.
func (d *demo) deleteJob(ctx context.Context, _ *Result) error {
	d.stepf("Deleting the job: its row stays in MySQL, marked is_in_etcd=0 (the pods still exist, so their rows say 1)")
	if err := d.run(ctx, "delete", "ejob", jobName); err != nil {
		return err
	}
	jobs, pods, err := d.waitRows(ctx, "the job's row to say is_in_etcd=0", func(jobs []recorder.JobRecord,
		_ []recorder.PodRecord) bool {
		return len(jobs) == 1 && !jobs[0].IsInEtcd
	})
	if err != nil {
		return err
	}
	d.printRows(jobs, pods)
	return nil
}

// deletePods deletes the workload and shows the pods' rows stay, marked gone from etcd.
func (d *demo) deletePods(ctx context.Context, res *Result) error {
	d.stepf("Deleting the pods: their rows stay too, marked is_in_etcd=0")
	if err := d.run(ctx, "delete", "pods", "-l", appLabel); err != nil {
		return err
	}
	jobs, pods, err := d.waitRows(ctx, "the pods' rows to say is_in_etcd=0", func(_ []recorder.JobRecord,
		pods []recorder.PodRecord) bool {
		for _, p := range pods {
			if p.IsInEtcd {
				return false
			}
		}
		return len(pods) > 0
	})
	if err != nil {
		return err
	}
	d.printRows(nil, pods)
	res.Jobs, res.Pods = jobs, pods
	return nil
}

// keep prints how to use what runs, and waits until ctx ends.
func (d *demo) keep(ctx context.Context) {
	d.stepf("Everything keeps running: press Ctrl-C to stop it and clean up")
	d.indent(fmt.Sprintf(`export KUBECONFIG=%s
alias kubectl=%s
kubectl apply -f %s          # the stand-in starts the pods at once
kubectl apply -f %s
kubectl get ejob -w
kubectl describe ejob %s
go build -o bin/kubectl-ejob ./cmd/kubectl-ejob && export PATH=$PWD/bin:$PATH MYSQL_HOST=%s MYSQL_PORT=%d MYSQL_DB_NAME=%s MYSQL_USER=%s
kubectl ejob results %s --logs
mariadb -h %s -P %d -u %s %s -e 'SELECT name, status, match_count, succeeded, failed, is_in_etcd FROM job'
mariadb -h %s -P %d -u %s %s -e 'SELECT name, status, is_in_etcd, remark FROM pod'
tail -f %s`,
		filepath.Join(d.workDir, "kubeconfig"), d.kubectl, podsFile, jobFile, jobName,
		d.db.Host, d.db.Port, d.db.DBName, d.db.User, jobName,
		d.db.Host, d.db.Port, d.db.User, d.db.DBName, d.db.Host, d.db.Port, d.db.User, d.db.DBName,
		d.logFile.Name()))
	<-ctx.Done()
}

// onStop registers how to stop something the demo started.
func (d *demo) onStop(name string, stop func()) { d.stoppers = append(d.stoppers, stopper{name, stop}) }

// teardown stops what Run started, last first, and removes a temporary work directory.
func (d *demo) teardown() error {
	if len(d.stoppers) == 0 && d.workDir == "" {
		return nil
	}
	var names []string
	for _, s := range slices.Backward(d.stoppers) {
		if s.name != "" {
			names = append(names, s.name)
		}
	}
	what := "removing " + d.workDir
	if d.opts.WorkDir != "" || d.workDir == "" {
		what = ""
	}
	if len(names) > 0 {
		what = strings.TrimSuffix("stopping "+strings.Join(names, ", ")+"; "+what, "; ")
	}
	d.stepf("Tearing down: %s", what)
	for _, s := range slices.Backward(d.stoppers) {
		s.stop()
	}
	d.stoppers = nil
	if d.opts.WorkDir == "" && d.workDir != "" {
		if err := os.RemoveAll(d.workDir); err != nil {
			return fmt.Errorf("removing %s: %w", d.workDir, err)
		}
	}
	return nil
}

func (d *demo) makeWorkDir() error {
	if d.opts.WorkDir != "" {
		d.workDir = d.opts.WorkDir
		return os.MkdirAll(d.workDir, 0o700)
	}
	dir, err := os.MkdirTemp("", "ejob-demo-")
	if err != nil {
		return fmt.Errorf("creating the work directory: %w", err)
	}
	d.workDir = dir
	return nil
}

// waitFor polls cond until it holds, failing after StepTimeout with what it waited for
// and the last error cond returned.
func (d *demo) waitFor(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, d.opts.StepTimeout, true,
		func(ctx context.Context) (bool, error) {
			ok, err := cond(ctx)
			if err != nil {
				lastErr = err
				return false, nil
			}
			return ok, nil
		})
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("stopped while waiting for %s", what)
	}
	if lastErr != nil {
		return fmt.Errorf("waiting for %s: %w (last error: %v)", what, err, lastErr)
	}
	return fmt.Errorf("waiting for %s: %w", what, err)
}

// waitRows polls the job's rows and its pods' rows until cond holds.
func (d *demo) waitRows(ctx context.Context, what string,
	cond func([]recorder.JobRecord, []recorder.PodRecord) bool) ([]recorder.JobRecord, []recorder.PodRecord, error) {
	var jobs []recorder.JobRecord
	var pods []recorder.PodRecord
	err := d.waitFor(ctx, what, func(ctx context.Context) (bool, error) {
		var err error
		if jobs, err = d.store.ListJobs(ctx, recorder.JobFilter{Namespace: namespace}); err != nil {
			return false, err
		}
		pods = nil
		for _, j := range jobs {
			p, err := d.store.ListPods(ctx, j.JobID)
			if err != nil {
				return false, err
			}
			pods = append(pods, p...)
		}
		return cond(jobs, pods), nil
	})
	return jobs, pods, err
}

// printRows prints job and pod rows as tables of their columns.
func (d *demo) printRows(jobs []recorder.JobRecord, pods []recorder.PodRecord) {
	if jobs != nil {
		d.printf("    table job:\n")
		d.table([]string{"id", "name", "namespace", "status", "match_count", "succeeded", "failed", "running",
			"waiting", "is_in_etcd", "gmt_created", "gmt_finished"}, len(jobs), func(i int) []any {
			j := jobs[i]
			return []any{j.ID, j.Name, j.Namespace, j.Status, j.MatchCount, j.Succeeded, j.Failed, j.Running,
				j.Waiting, boolInt(j.IsInEtcd), clock(&j.GmtCreated), clock(j.GmtFinished)}
		})
	}
	d.printf("    table pod:\n")
	d.table([]string{"id", "name", "status", "replica_type", "image", "is_in_etcd", "gmt_started", "gmt_finished",
		"remark"}, len(pods), func(i int) []any {
		p := pods[i]
		return []any{p.ID, p.Name, p.Status, p.ReplicaType, p.Image, boolInt(p.IsInEtcd), clock(p.GmtStarted),
			clock(p.GmtFinished), p.Remark}
	})
}

func (d *demo) table(header []string, n int, row func(int) []any) {
	w := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintf(w, "    %s\n", strings.Join(header, "\t"))
	for i := range n {
		cells := row(i)
		texts := make([]string, len(cells))
		for k, c := range cells {
			texts[k] = fmt.Sprint(c)
		}
		_, _ = fmt.Fprintf(w, "    %s\n", strings.Join(texts, "\t"))
	}
	_ = w.Flush()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// clock prints a UTC time of day, or NULL. The times come from Kubernetes, to the second.
func clock(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "NULL"
	}
	return t.UTC().Format(time.TimeOnly)
}

// run prints a kubectl command and its output.
func (d *demo) run(ctx context.Context, args ...string) error {
	d.printf("    $ kubectl %s\n", strings.Join(args, " "))
	out, err := d.output(ctx, args...)
	if err == nil { // else the error holds the output
		d.indent(out)
	}
	return err
}

// output runs kubectl, from the repository's top directory, on the demo's kubeconfig.
func (d *demo) output(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, d.kubectl, args...)
	cmd.Dir = d.root
	cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(d.workDir, "kubeconfig"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		err = fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
		if text := strings.TrimSpace(string(out)); text != "" {
			err = fmt.Errorf("%w: %s", err, text)
		}
	}
	return string(out), err
}

// fileTail returns the last lines of a file, or why it cannot.
func fileTail(path string) string {
	const n = 30
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// rel returns path relative to the repository's top directory when it is inside it.
func (d *demo) rel(path string) string {
	if r, err := filepath.Rel(d.root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// closingWriter writes to w until it is closed, and discards what comes after.
type closingWriter struct {
	mu     sync.Mutex
	w      *os.File
	closed bool
}

func (c *closingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return len(p), nil
	}
	return c.w.Write(p)
}

func (c *closingWriter) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		_ = c.w.Close()
	}
}
