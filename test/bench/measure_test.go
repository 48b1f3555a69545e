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
