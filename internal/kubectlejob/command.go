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
//
// Each command follows kubectl's own: an Options struct built by NewXOptions(streams),
// bound to flags in NewCmdX(f, streams), then Complete (clients and defaults from the
// factory), Validate (flag combinations) and Run (the work). A new command takes the
// factory for its clients and a printFlags for its output, and is added in NewCmdEjob.
package kubectlejob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Options tune Run for tests. Zero fields take their defaults.
type Options struct {
	// Now is the clock of durations and --since; time.Now when nil.
	Now func() time.Time
	// Getenv reads the MYSQL_* variables; os.Getenv when nil.
	Getenv func(string) string
	// Stdin answers `run`'s confirmation; os.Stdin when nil.
	Stdin io.Reader
	// Interrupts delivers Ctrl-C: `run` pauses its job on the first, and every other command
	// stops. Nothing when nil (Main passes the process's SIGINT).
	Interrupts <-chan os.Signal
}

// Run executes a command line of `kubectl ejob` (args without the program's name) and
// returns its exit code: 0, 1 after printing one line that says what went wrong, or the
// code a command chose (results --exit-code).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, opts Options) int {
	in := opts.Stdin
	if in == nil {
		in = os.Stdin
	}
	streams := genericiooptions.IOStreams{In: in, Out: stdout, ErrOut: stderr}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	root, f := newCmdEjob(streams, opts)
	if opts.Interrupts != nil {
		go f.dispatchInterrupts(ctx, opts.Interrupts, cancel)
	}
	// cobra reads os.Args when given nil.
	root.SetArgs(append([]string{}, args...))
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if code, ok := exitCodeOf(err); ok {
		var e *exitCodeError
		if errors.As(err, &e) && e.err != nil {
			fmt.Fprintf(stderr, "error: %s\n", oneLine(e.err.Error()))
		}
		return code
	}
	if err != nil {
		fmt.Fprintf(stderr, "error: %s\n", oneLine(err.Error()))
		return 1
	}
	return 0
}

// Main runs `kubectl ejob` as a program and exits with its code. SIGTERM cancels the
// requests under way; so does Ctrl-C (and it ends a --watch), but for `run`, which
// pauses its job on the first.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	interrupts := make(chan os.Signal, 2)
	signal.Notify(interrupts, os.Interrupt)
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr, Options{Interrupts: interrupts})
	stop()
	os.Exit(code)
}

// dispatchInterrupts hands each Ctrl-C to `run` while it follows its job, and otherwise
// cancels the command.
func (f *factory) dispatchInterrupts(ctx context.Context, from <-chan os.Signal, cancel context.CancelFunc) {
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-from:
			if !f.takesInterrupts.Load() {
				cancel()
				continue
			}
			select {
			case f.interrupts <- s:
			default:
			}
			// The second leaves at once, whatever request is under way.
			if f.interruptsTaken.Add(1) >= 2 {
				cancel()
			}
		}
	}
}

// exitCodeError ends a command with a code chosen for scripts. Without err the output
// already said why and Run prints nothing more; with it Run prints err as any error.
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("exit code %d", e.code)
}

func (e *exitCodeError) Unwrap() error { return e.err }

func exitCodeOf(err error) (int, bool) {
	var e *exitCodeError
	if errors.As(err, &e) {
		return e.code, true
	}
	return 0, false
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

// factory gives the commands what the flags every command shares lead to: the kubeconfig's
// clients and namespace (kubectl's client flags, genericclioptions.ConfigFlags), the
// history's database (the --mysql-* flags and MYSQL_* variables) and the clock.
type factory struct {
	config *genericclioptions.ConfigFlags
	mysql  mysqlFlags
	now    func() time.Time
	// interrupts receives Ctrl-C while takesInterrupts is set (by `run`, as it follows its job).
	interrupts      chan os.Signal
	takesInterrupts atomic.Bool
	interruptsTaken atomic.Int32
}

func newFactory(opts Options) *factory {
	f := &factory{config: genericclioptions.NewConfigFlags(true), now: opts.Now, interrupts: make(chan os.Signal, 2)}
	f.mysql.getenv = opts.Getenv
	if f.now == nil {
		f.now = time.Now
	}
	if f.mysql.getenv == nil {
		f.mysql.getenv = os.Getenv
	}
	return f
}

// namespace returns -n, else the namespace of the kubeconfig's context, else "default".
func (f *factory) namespace() (string, error) {
	ns, _, err := f.config.ToRawKubeConfigLoader().Namespace()
	if clientcmd.IsEmptyConfig(err) {
		return "default", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the namespace from the kubeconfig (pass -n, or --kubeconfig): %w", err)
	}
	return ns, nil
}

// restConfig returns the client configuration of the kubeconfig, with kubectl's flags applied.
func (f *factory) restConfig() (*rest.Config, error) {
	cfg, err := f.config.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig (pass --kubeconfig or set KUBECONFIG): %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "kubectl-ejob/" + version
	return cfg, nil
}

// clients returns a dynamic client (for ephemeraljobs, which client-go has no typed
// client for) and a clientset (for pods).
func (f *factory) clients() (dynamic.Interface, kubernetes.Interface, error) {
	cfg, err := f.restConfig()
	if err != nil {
		return nil, nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("creating a client: %w", err)
	}
	clientset, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("creating a client: %w", err)
	}
	return dyn, clientset, nil
}

const rootLong = `kubectl ejob shows what an EphemeralJob's containers did, target by target: live from the
API server with your credentials, and from the MySQL history the operator's recorder keeps
(--meta-storage mysql) once the job or its pods are gone.

The history is read when MYSQL_HOST (or --mysql-host) is set, with MYSQL_PORT, MYSQL_DB_NAME,
MYSQL_USER, MYSQL_TLS (or --mysql-port, --mysql-db, --mysql-user, --mysql-tls); the password
comes from MYSQL_PASSWORD only, so that it shows in no process list or shell history.

Put the kubectl-ejob binary on your PATH to run it as "kubectl ejob", and kubectl_complete-ejob
beside it for kubectl to complete its commands. docs/kubectl-ejob.md has the full reference.`

// NewCmdEjob returns the root command, `kubectl ejob`, with every command under it.
func NewCmdEjob(streams genericiooptions.IOStreams, opts Options) *cobra.Command {
	root, _ := newCmdEjob(streams, opts)
	return root
}

func newCmdEjob(streams genericiooptions.IOStreams, opts Options) (*cobra.Command, *factory) {
	f := newFactory(opts)
	root := &cobra.Command{
		// The binary's name: cobra names the completion scripts' functions after it.
		Use:   "kubectl-ejob",
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
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())
	})
	flags := root.PersistentFlags()
	f.config.AddFlags(flags)
	f.mysql.bind(flags)
	c := &cli{f: f, stdout: streams.Out, stderr: streams.ErrOut, stdin: streams.In}
	root.AddCommand(c.runCommand(), NewCmdResults(f, streams), c.logsCommand(), NewCmdHistory(f, streams),
		NewCmdVersion(streams))
	registerGlobalCompletions(root, f)
	return root, f
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
