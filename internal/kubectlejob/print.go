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
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
)

// none stands for an empty or unknown value in a table.
const none = "-"

// timeLayout prints times in UTC to the second, the way they sort.
const timeLayout = "2006-01-02 15:04:05Z"

// messageWidth is how many characters of a message a table shows.
const messageWidth = 50

// maxGroupPods is how many pod names a group's row shows before "+N more".
const maxGroupPods = 3

// printOptions say how to print a view as a table.
type printOptions struct {
	wide, group, logs, noHeaders bool
	now                          time.Time
}

// printView prints the view as a table: a row per target, or per group with --group.
func printView(w io.Writer, v *View, o printOptions) error {
	t := &table{noHeaders: o.noHeaders}
	if o.group {
		t.header("COUNT", "STATUS", "EXIT", "REASON", "MESSAGE", "PODS")
		for _, g := range v.Groups {
			t.row(strconv.Itoa(g.Count), g.Status, exitCell(g.ExitCode), cell(g.Reason), messageCell(g.Message),
				podsCell(g.Pods))
			if o.logs {
				t.block(outputBlock(g.Output, g.OutputTruncated, "", v.Job.Source))
			}
		}
		return t.write(w)
	}
	mixed := false
	for _, tg := range v.Targets {
		mixed = mixed || tg.Source != v.Job.Source
	}
	t.header(targetHeader(o.wide, mixed)...)
	for _, tg := range v.Targets {
		t.row(targetCells(tg, o.wide, mixed, o.now)...)
		if o.logs {
			t.block(outputBlock(tg.Output, tg.OutputTruncated, tg.OutputError, tg.Source))
		}
	}
	return t.write(w)
}

// targetHeader is the header of a table of targets; mixed adds the SOURCE column of -o wide
// to the default table, for a view whose rows come from the API server and the history.
func targetHeader(wide, mixed bool) []string {
	head := []string{"POD", "CONTAINER", "STATUS", "EXIT", "REASON", "MESSAGE", "DURATION"}
	if wide {
		return append([]string{"INDEX"}, append(head, "NODE", "STARTED", "FINISHED", "SOURCE")...)
	}
	if mixed {
		return append(head, "SOURCE")
	}
	return head
}

// targetCells are a target's cells under targetHeader.
func targetCells(tg Target, wide, mixed bool, now time.Time) []string {
	cells := []string{cell(tg.Pod), cell(tg.Container), tg.Status, exitCell(tg.ExitCode), cell(tg.Reason),
		messageCell(tg.Message), durationCell(tg, now)}
	if wide {
		index := none
		if tg.Index != nil {
			index = strconv.Itoa(int(*tg.Index))
		}
		return append([]string{index}, append(cells, cell(tg.Node), timeCell(tg.StartedAt),
			timeCell(tg.FinishedAt), tg.Source)...)
	}
	if mixed {
		return append(cells, tg.Source)
	}
	return cells
}

// table lays out rows in columns as wide as their widest cell, with free lines (a
// target's output) between the rows that do not widen the columns.
type table struct {
	lines [][]string // a row's cells, or one free line in a slice of one with free set
	free  []bool
	// noHeaders leaves the header out (--no-headers).
	noHeaders bool
	// widths are the columns' least widths, and after write the widths it used: a table
	// printed after another (--watch) keeps its columns.
	widths []int
}

func (t *table) header(cells ...string) {
	if !t.noHeaders {
		t.row(cells...)
	}
}

func (t *table) row(cells ...string) {
	t.lines = append(t.lines, cells)
	t.free = append(t.free, false)
}

func (t *table) block(lines []string) {
	for _, l := range lines {
		t.lines = append(t.lines, []string{l})
		t.free = append(t.free, true)
	}
}

func (t *table) write(w io.Writer) error {
	widths := slices.Clone(t.widths)
	for i, cells := range t.lines {
		if t.free[i] {
			continue
		}
		for k, c := range cells {
			if k == len(widths) {
				widths = append(widths, 0)
			}
			widths[k] = max(widths[k], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for i, cells := range t.lines {
		if t.free[i] {
			b.WriteString(cells[0])
			b.WriteByte('\n')
			continue
		}
		for k, c := range cells {
			if k == len(cells)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", widths[k]-utf8.RuneCountInString(c)+2))
		}
		b.WriteByte('\n')
	}
	t.widths = widths
	_, err := io.WriteString(w, b.String())
	return err
}

// outputIndent is how a target's output is indented under its row.
const outputIndent = "    | "

// outputBlock returns the lines that show a target's output under its row.
func outputBlock(output *string, truncated bool, errText, source string) []string {
	switch {
	case errText != "":
		return []string{"    (no output: " + printable(errText) + ")"}
	case output == nil:
		return nil
	case *output == "":
		return []string{"    (no output)"}
	}
	var lines []string
	for l := range strings.SplitSeq(strings.TrimSuffix(*output, "\n"), "\n") {
		lines = append(lines, outputIndent+printable(strings.TrimSuffix(l, "\r")))
	}
	if truncated {
		lines = append(lines, "    (output truncated: raise --limit-bytes to see more)")
	}
	return lines
}

// printable makes text safe for a terminal: a tab becomes spaces, other control
// characters (an escape sequence from a pod could rewrite the screen) and invalid UTF-8
// are shown quoted, as Go would write them.
func printable(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '\t':
			b.WriteString("    ")
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsControl(r) || !unicode.IsPrint(r) && r != ' ':
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// cell makes a value fit one table cell: printable, one line, none when empty.
func cell(s string) string {
	s = strings.Join(strings.Fields(printable(strings.NewReplacer("\n", " ", "\r", " ").Replace(s))), " ")
	if s == "" {
		return none
	}
	return s
}

// messageCell is a message on one line, cut to messageWidth characters.
func messageCell(s string) string {
	s = cell(s)
	if utf8.RuneCountInString(s) <= messageWidth {
		return s
	}
	return string([]rune(s)[:messageWidth-3]) + "..."
}

func exitCell(code *int32) string {
	if code == nil {
		return none
	}
	return strconv.Itoa(int(*code))
}

// podsCell names the first pods of a group and how many more it holds.
func podsCell(pods []string) string {
	if len(pods) <= maxGroupPods {
		return cell(strings.Join(pods, ","))
	}
	return cell(strings.Join(pods[:maxGroupPods], ",")) + fmt.Sprintf(",+%d more", len(pods)-maxGroupPods)
}

// durationCell is how long the job's containers ran: until they finished, or until now
// while they run. A history row that never finished (its pod was deleted first) has none.
func durationCell(t Target, now time.Time) string {
	switch {
	case t.StartedAt == nil:
		return none
	case t.FinishedAt != nil:
		return duration.HumanDuration(t.FinishedAt.Sub(t.StartedAt.Time))
	case t.Status == string(podstate.Running) && t.Source == SourceLive:
		return duration.HumanDuration(now.Sub(t.StartedAt.Time))
	}
	return none
}

func timeCell(t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return none
	}
	return t.UTC().Format(timeLayout)
}
