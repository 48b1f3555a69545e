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

package bench

import (
	"slices"
	"testing"
	"time"
)

func TestPeakPerSecond(t *testing.T) {
	at := func(ms ...int) []time.Time {
		base := time.Unix(1000, 0)
		var out []time.Time
		for _, m := range ms {
			out = append(out, base.Add(time.Duration(m)*time.Millisecond))
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		times []time.Time
		want  int
	}{
		{"none", nil, 0},
		{"one", at(5), 1},
		// A window is [t, t+1s): writes exactly a second apart are in different windows.
		{"a second apart", at(0, 1000, 2000), 1},
		{"a burst within a second", at(0, 100, 900, 999, 1500), 4},
		{"out of order", at(1500, 999, 0, 900, 100), 4},
		{"the busiest second last", at(0, 1200, 1300, 1400, 1500), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := peakPerSecond(tc.times); got != tc.want {
				t.Errorf("peakPerSecond = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestEachIndex(t *testing.T) {
	for _, tc := range []struct {
		list string
		want []int32
	}{
		{"", nil},
		{"7", []int32{7}},
		{"0-3,7,9-10", []int32{0, 1, 2, 3, 7, 9, 10}},
		{"2-x,4", []int32{4}}, // a part that does not parse is left out
	} {
		var got []int32
		eachIndex(tc.list, func(i int32) { got = append(got, i) })
		if !slices.Equal(got, tc.want) {
			t.Errorf("eachIndex(%q) = %v, want %v", tc.list, got, tc.want)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 30000: "30,000", 100000: "100,000",
		1234567: "1,234,567", -1000: "-1,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseStat(t *testing.T) {
	name, ppid, ticks, ok := parseStat("4242 (kube apiserver) S 4000 4242 4000 0 -1 4194560 9 0 0 0 150 25 0 0 20 0 12 0")
	if !ok || name != "kube apiserver" || ppid != 4000 || ticks != 175 {
		t.Errorf("parseStat = %q, %d, %d, %v; want the name with its space, parent 4000, 175 ticks", name, ppid, ticks, ok)
	}
	if _, _, _, ok := parseStat("4242 (etcd) S 4000"); ok {
		t.Error("a line cut short parsed")
	}
	c, err := readCPU()
	if err != nil || c.Harness <= 0 || c.Machine < c.Harness {
		t.Errorf("readCPU = %+v, %v; want this process's time, within the machine's", c, err)
	}
	busy, err := busyTime("cpu  100 5 50 9000 40 1 2 3 0 0\ncpu0 50 2 25 4500 20 0 1 1 0 0\n")
	if err != nil || busy != 1610*time.Millisecond {
		t.Errorf("busyTime = %v, %v; want 161 ticks: all but idle and iowait", busy, err)
	}
}

func TestWithSection(t *testing.T) {
	const section = "## Cache memory\n\nnew figures\n"
	kept := keptSections + "\n\n## Real node\n\nnode figures\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"after the kept sections", "# Benchmarks\n\n" + kept,
			"# Benchmarks\n\n" + kept + "\n" + section},
		{"in place of an earlier one, the others kept",
			"# Benchmarks\n\n" + keptSections + "\n\n## Cache memory\n\nold figures\n\n## Real node\n\nnode figures\n",
			"# Benchmarks\n\n" + keptSections + "\n\n" + section + "\n## Real node\n\nnode figures\n"},
		{"in place of the last one", "# Benchmarks\n\n" + kept + "\n## Cache memory\n\nold figures\n",
			"# Benchmarks\n\n" + kept + "\n" + section},
		{"a doc without kept sections", "# Benchmarks\n\nfigures\n",
			"# Benchmarks\n\nfigures\n\n" + keptSections + "\n\n" + section},
		// Above the marker, the same heading is make bench's, not this section.
		{"the heading above the kept sections", "# Benchmarks\n\n## Cache memory\n\nmake bench's\n\n" + kept,
			"# Benchmarks\n\n## Cache memory\n\nmake bench's\n\n" + kept + "\n" + section},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := withSection(tc.doc, section); got != tc.want {
				t.Errorf("withSection =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
