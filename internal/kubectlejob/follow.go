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
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
)

// pollInterval is how often `run` reads its job: one small object, so a read every half
// second costs nothing and never goes stale, as a watch that expires could.
var pollInterval = 500 * time.Millisecond

// maxFailuresShown bounds the failures `run` prints as they happen: after that many
// distinct ones, the folded results at the end say the rest.
const maxFailuresShown = 5

// follow shows the job's progress until it finishes, or until Ctrl-C paused it and its
// running targets ended, then prints the folded results and returns the exit code. The
// caller routes Ctrl-C here (takesInterrupts) before it creates the job, so that one
// pressed while the job was being created pauses it too.
func (c *cli) follow(ctx context.Context, dyn dynamic.Interface, clientset kubernetes.Interface, o *runOptions,
	job *appsv1alpha1.EphemeralJob) error {
	start := c.f.now()
	p := &progress{w: c.stderr, tty: isTerminal(c.stderr), interval: o.interval, now: c.f.now, start: start, last: start}
	seen := newEventsSeen()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	paused, asked := false, false
	for {
		current, err := readJob(ctx, dyn, job.Namespace, job.Name)
		switch {
		case err != nil && ctx.Err() != nil:
			p.done()
			if asked {
				// The second Ctrl-C cancelled whatever was under way.
				writeLine(c.stderr, "left; ejob %s/%s stays paused", job.Namespace, job.Name)
				return &exitCodeError{code: ExitInterrupted}
			}
			return ctx.Err()
		case apierrors.IsNotFound(err) || apierrors.IsForbidden(err):
			p.done()
			return fmt.Errorf("following ejob %s/%s: %w", job.Namespace, job.Name, err)
		case err != nil:
			p.note(fmt.Sprintf("reading the job: %v; trying again", oneLine(err.Error())))
		default:
			job = current
			for _, line := range seen.newEvents(job) {
				p.note(line)
			}
			p.show(job)
		}
		st := &job.Status
		if st.Phase.IsFinished() || st.Phase == appsv1alpha1.EphemeralJobError ||
			(paused && st.Phase == appsv1alpha1.EphemeralJobPaused && st.ActiveIndexes == "") {
			break
		}
		select {
		case <-ctx.Done():
			continue // the read above returns
		case <-c.f.interrupts:
			if asked {
				p.done()
				writeLine(c.stderr, "left; ejob %s/%s stays paused", job.Namespace, job.Name)
				return &exitCodeError{code: ExitInterrupted}
			}
			asked = true
			if err := pauseJob(ctx, dyn, job); err != nil {
				p.note(fmt.Sprintf("could not pause ejob %s, it keeps running: %v (Ctrl-C again to leave it)",
					job.Name, oneLine(err.Error())))
				continue
			}
			paused = true
			p.note(fmt.Sprintf("paused ejob %s: the running targets finish, no new one starts (Ctrl-C again to "+
				"leave now). Resume: kubectl patch ejob %s -n %s --type=merge -p '{\"spec\":{\"paused\":false}}'; "+
				"delete: kubectl delete ejob %s -n %s", job.Name, job.Name, job.Namespace, job.Name, job.Namespace))
		case <-tick.C:
		}
	}
	p.done()
	// From here Ctrl-C stops the command, as for any other.
	c.f.takesInterrupts.Store(false)
	if err := c.printFolded(ctx, clientset, job, o.limitBytes); err != nil {
		return err
	}
	if code := outcomeCode(job); code != ExitSucceeded {
		return &exitCodeError{code: code}
	}
	return nil
}

// printFolded prints the job's targets folded by result and output, as `results --group
// --logs` does.
func (c *cli) printFolded(ctx context.Context, clientset kubernetes.Interface, job *appsv1alpha1.EphemeralJob,
	limit int64) error {
	pods, _, err := listJobPods(ctx, clientset.CoreV1(), job.Namespace, keepsPod(job))
	if err != nil {
		return err
	}
	targets, _ := liveTargets(job, pods)
	fetchLogs(ctx, clientset.CoreV1(), job.Namespace, targets, limit)
	view := &View{Job: jobInfoLive(job), Groups: groupTargets(targets)}
	return printView(c.stdout, view, printOptions{group: true, logs: true, now: c.f.now()})
}

// progress is the one line `run` keeps on stderr: redrawn in place on a terminal, printed
// every interval (and when the job finishes) otherwise.
type progress struct {
	w        io.Writer
	tty      bool
	interval time.Duration
	now      func() time.Time
	start    time.Time
	// line is what the terminal shows; printed and last are the line printed elsewhere and
	// when (the start before the first: the first comes an interval in, or at the end).
	line, printed string
	last          time.Time
}

// show redraws the line for the job.
func (p *progress) show(job *appsv1alpha1.EphemeralJob) {
	st := &job.Status
	elapsed := p.now().Sub(p.start)
	done := st.Succeeded + st.Failed
	rate := "-"
	if secs := elapsed.Seconds(); secs >= 1 && done > 0 {
		rate = fmt.Sprintf("%.1f/s", float64(done)/secs)
	}
	line := fmt.Sprintf("%s: %d/%d done, %d succeeded, %d failed, %d running, %s, %s", phaseWord(st.Phase), done,
		st.Match, st.Succeeded, st.Failed, st.Running, rate, elapsed.Round(time.Second))
	if p.tty {
		if line != p.line {
			_, _ = fmt.Fprintf(p.w, "\r\x1b[K%s", line)
			p.line = line
		}
		return
	}
	if line != p.printed && (st.Phase.IsFinished() || p.now().Sub(p.last) >= p.interval) {
		writeLine(p.w, "%s", line)
		p.printed, p.last = line, p.now()
	}
}

// note prints a line of its own, above the progress line on a terminal.
func (p *progress) note(s string) {
	if p.tty && p.line != "" {
		_, _ = fmt.Fprintf(p.w, "\r\x1b[K%s\n%s", s, p.line)
		return
	}
	writeLine(p.w, "%s", s)
}

// done ends the progress line, so that what follows starts on a line of its own.
func (p *progress) done() {
	if p.tty && p.line != "" {
		_, _ = fmt.Fprintln(p.w)
		p.line = ""
	}
}

func phaseWord(phase appsv1alpha1.EphemeralJobPhase) string {
	if phase == "" {
		return "Pending"
	}
	return string(phase)
}

// eventsSeen remembers the refusals and failures already printed.
type eventsSeen struct {
	refused  map[int32]bool
	failures map[string]bool
}

func newEventsSeen() *eventsSeen {
	return &eventsSeen{refused: map[int32]bool{}, failures: map[string]bool{}}
}

// newEvents returns a line for each refusal the status details and for each failed result
// group, that were not printed before; the status holds the first 10 of each.
func (e *eventsSeen) newEvents(job *appsv1alpha1.EphemeralJob) []string {
	var lines []string
	for _, r := range job.Status.Refused {
		if !e.refused[r.Index] {
			e.refused[r.Index] = true
			lines = append(lines, fmt.Sprintf("refused: pod %s: %s: %s", r.Name, r.Reason, oneLine(clip(r.Message, 200))))
		}
	}
	for _, g := range job.Status.Results {
		// A refusal's group names its pods without a container: the refused line said it.
		if g.Succeeded || len(g.Pods) == 0 || !strings.Contains(g.Pods[0], "/") || len(e.failures) >= maxFailuresShown {
			continue
		}
		key := fmt.Sprintf("%v|%s|%s", exitCell(g.ExitCode), g.Reason, g.Message)
		if e.failures[key] {
			continue
		}
		e.failures[key] = true
		how := g.Reason
		if g.ExitCode != nil {
			how = fmt.Sprintf("exit code %d", *g.ExitCode)
		}
		line := fmt.Sprintf("failed: %s: %s", g.Pods[0], how)
		if m := oneLine(clip(g.Message, 200)); m != "" {
			line += ": " + m
		}
		if len(e.failures) == maxFailuresShown {
			line += " (further failures are in the results below)"
		}
		lines = append(lines, line)
	}
	return lines
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// interactive reports whether the user can answer a question: stdin and stderr are terminals.
func (c *cli) interactive() bool {
	f, ok := c.stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && isTerminal(c.stderr)
}
