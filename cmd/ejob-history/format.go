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

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
)

// none stands for an empty or unknown value in a table.
const none = "-"

// timeLayout prints times in UTC to the second, the way they sort.
const timeLayout = "2006-01-02 15:04:05Z"

// writeJobs prints job rows as a table.
func writeJobs(w io.Writer, jobs []recorder.JobRecord) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tUID\tSTATUS\tMATCH\tSUCCEEDED\tFAILED\tIN-ETCD\tCREATED\tFINISHED")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", cell(j.Namespace), cell(j.Name), cell(j.JobID),
			cell(j.Status), j.MatchCount, j.Succeeded, j.Failed, yesNo(j.IsInEtcd), formatTime(j.GmtCreated),
			formatTimePtr(j.GmtFinished))
	}
	return tw.Flush()
}

// writePods prints a line about the job, then its pod rows as a table.
func writePods(w io.Writer, job recorder.JobRecord, pods []recorder.PodRecord) error {
	where := "in the API server"
	if !job.IsInEtcd {
		where = "deleted from the API server"
	}
	if _, err := fmt.Fprintf(w, "Job %s/%s (UID %s): %s, %d succeeded, %d failed of %d; %s\n",
		job.Namespace, job.Name, job.JobID, cell(job.Status), job.Succeeded, job.Failed, job.MatchCount, where); err != nil {
		return err
	}
	if len(pods) == 0 {
		_, err := fmt.Fprintln(w, "No pods recorded for this job.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POD\tSTATUS\tEXIT\tREASON\tCONTAINER\tIMAGE\tHOST\tSTARTED\tFINISHED\tIN-ETCD")
	for _, p := range pods {
		remark := parseRemark(p.Remark)
		exit := none
		if remark.ExitCode != nil {
			exit = strconv.Itoa(int(*remark.ExitCode))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cell(p.Name), cell(p.Status), exit,
			cell(remark.Reason), cell(p.ReplicaType), cell(p.Image), cell(p.HostIP), formatTimePtr(p.GmtStarted),
			formatTimePtr(p.GmtFinished), yesNo(p.IsInEtcd))
	}
	return tw.Flush()
}

// parseRemark decodes a pod row's remark; a remark that is not a PodRemark (written by
// something else) shows as its reason, so it is not lost.
func parseRemark(s string) recorder.PodRemark {
	var r recorder.PodRemark
	if s == "" {
		return r
	}
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return recorder.PodRemark{Reason: s}
	}
	return r
}

// cell makes a value fit one table cell: no tabs or line breaks, none when empty.
func cell(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
	if s == "" {
		return none
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return none
	}
	return t.UTC().Format(timeLayout)
}

func formatTimePtr(t *time.Time) string {
	if t == nil {
		return none
	}
	return formatTime(*t)
}
