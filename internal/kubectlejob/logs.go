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
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// logsOptions are the flags of `logs`.
type logsOptions struct {
	follow bool
	prefix bool
	tail   int64
	color  string
}

// maxLogLine bounds one line of a container's output held in memory.
const maxLogLine = 64 << 10

// logsRescan is how often `logs -f` looks for new targets.
var logsRescan = 2 * time.Second

const logsLong = `Print the output of each target's container of an EphemeralJob, read through pods/log
with your credentials, target by target in index order.

With --prefix each line starts with pod/container, in one colour per pod on a terminal (as
stern does). With -f the output of running containers is streamed, and targets that start
later are followed too, until the job finishes and every stream ended. The targets are
looked for among the pods the job's selector matches now.`

const logsExample = `  # What every target printed
  kubectl ejob logs hello-world-ephemeral-job --prefix

  # Follow a running job, the last 10 lines of each container first
  kubectl ejob logs hello-world-ephemeral-job -f --prefix --tail 10`

func (c *cli) logsCommand() *cobra.Command {
	o := &logsOptions{}
	cmd := &cobra.Command{
		Use:               "logs JOB",
		Short:             "Print the output of every target's container, following new targets with -f",
		Long:              logsLong,
		Example:           logsExample,
		Args:              exactlyOne("the job's name"),
		ValidArgsFunction: jobNameCompletion(c.f),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.logs(cmd.Context(), o, args[0])
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.follow, "follow", "f", false, "Stream the output, and follow targets that start later, until the job finishes.")
	f.BoolVar(&o.prefix, "prefix", false, "Start each line with pod/container.")
	f.Int64Var(&o.tail, "tail", -1, "Lines of each container's output to show first (-1: all).")
	f.StringVar(&o.color, "color", "auto", "Colour the prefixes: auto (on a terminal), always or never.")
	return cmd
}

// logs is `kubectl ejob logs`.
func (c *cli) logs(ctx context.Context, o *logsOptions, name string) error {
	switch o.color {
	case "auto", "always", "never":
	default:
		return fmt.Errorf("--color %q is not one of auto, always, never", o.color)
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
	job, err := getJob(ctx, dyn, ns, name)
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("ejob %q not found in namespace %q; 'kubectl ejob results %s --logs' reads the output "+
			"the history kept", name, ns, name)
	}
	if err != nil {
		return fmt.Errorf("reading ejob %s/%s: %w", ns, name, err)
	}
	colored := o.color == "always" || (o.color == "auto" && isTerminal(c.stdout))
	w := &lineWriter{w: c.stdout, prefix: o.prefix, colored: colored, colors: map[string]string{}}
	streams := &streamSet{started: map[string]bool{}}
	// The targets are among the pods the job selects: listing those, not the namespace, keeps
	// each look of -f as cheap as the job is small.
	selector, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return fmt.Errorf("ejob %s/%s has an invalid selector: %w", ns, name, err)
	}
	for {
		selected, err := listSelected(ctx, clientset, ns, selector)
		if err != nil {
			return err
		}
		keep := keepsPod(job)
		pods := slices.DeleteFunc(selected, func(p corev1.Pod) bool { return !keep(&p) })
		targets, _ := liveTargets(job, pods)
		for _, t := range targets {
			key := t.Pod + "/" + t.Container
			if t.Container == "" || t.StartedAt == nil || streams.started[key] {
				continue
			}
			streams.started[key] = true
			follow := o.follow && t.Status == "Running"
			if !o.follow {
				// Without -f the targets print one after the other, in index order.
				w.copy(ctx, clientset, ns, t.Pod, t.Container, o.tail, false)
				continue
			}
			streams.wg.Add(1)
			go func() {
				defer streams.wg.Done()
				w.copy(ctx, clientset, ns, t.Pod, t.Container, o.tail, follow)
			}()
		}
		if !o.follow || job.Status.Phase.IsFinished() {
			break
		}
		select {
		case <-ctx.Done():
			streams.wg.Wait()
			return nil
		case <-time.After(logsRescan):
		}
		if job, err = getJob(ctx, dyn, ns, name); err != nil {
			streams.wg.Wait()
			return fmt.Errorf("reading ejob %s/%s: %w", ns, name, err)
		}
	}
	streams.wg.Wait()
	return w.err
}

// streamSet is the containers whose output is being, or was, printed.
type streamSet struct {
	started map[string]bool
	wg      sync.WaitGroup
}

// lineWriter prints whole lines of many containers without interleaving them.
type lineWriter struct {
	mu      sync.Mutex
	w       io.Writer
	prefix  bool
	colored bool
	colors  map[string]string
	err     error
}

// podColors are the ANSI colours of the pods' prefixes, as stern cycles through them.
var podColors = []string{"\x1b[32m", "\x1b[33m", "\x1b[34m", "\x1b[35m", "\x1b[36m", "\x1b[92m", "\x1b[93m", "\x1b[94m",
	"\x1b[95m", "\x1b[96m"}

// copy prints one container's output line by line; a failure to read it is a line too.
func (lw *lineWriter) copy(ctx context.Context, clientset kubernetes.Interface, ns, pod, container string, tail int64,
	follow bool) {
	opts := &corev1.PodLogOptions{Container: container, Follow: follow}
	if tail >= 0 {
		opts.TailLines = &tail
	}
	stream, err := clientset.CoreV1().Pods(ns).GetLogs(pod, opts).Stream(ctx)
	if err != nil {
		lw.line(pod, container, fmt.Sprintf("(output not readable: %s)", oneLine(err.Error())))
		return
	}
	defer func() { _ = stream.Close() }()
	sc := bufio.NewScanner(stream)
	sc.Buffer(make([]byte, 4096), maxLogLine)
	for sc.Scan() {
		lw.line(pod, container, sc.Text())
	}
	if err := sc.Err(); err != nil && !errors.Is(err, context.Canceled) {
		lw.line(pod, container, fmt.Sprintf("(output cut: %s)", oneLine(err.Error())))
	}
}

func (lw *lineWriter) line(pod, container, text string) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.err != nil {
		return
	}
	out := printable(text)
	if lw.prefix {
		p := pod + "/" + container
		if lw.colored {
			color, ok := lw.colors[pod]
			if !ok {
				color = podColors[len(lw.colors)%len(podColors)]
				lw.colors[pod] = color
			}
			p = color + p + "\x1b[0m"
		}
		out = p + " " + out
	}
	_, lw.err = fmt.Fprintln(lw.w, out)
}
