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

package controller

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestIntervalsRoundTrip(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"0", "0"},
		{"0-3,7", "0-3,7"},
		{"0-3,4-5", "0-5"},
		{"9-10,12", "9-10,12"},
	}
	for _, tc := range tests {
		s, err := parseIntervals(tc.in)
		if err != nil {
			t.Fatalf("parseIntervals(%q): %v", tc.in, err)
		}
		if got := s.String(); got != tc.want {
			t.Errorf("parseIntervals(%q).String() = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"x", "-1", "3-1", "1,,2", "5,3", "0-4,2"} {
		if _, err := parseIntervals(bad); err == nil {
			t.Errorf("parseIntervals(%q) accepted", bad)
		}
	}
}

func TestIntervalsDoNotExpandRanges(t *testing.T) {
	s, err := parseIntervals("0-2147483646")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.ranges) != 1 || s.len() != 2147483647 || !s.has(2147483646) || s.has(-1) {
		t.Errorf("got %d ranges, %d indexes", len(s.ranges), s.len())
	}
}

// TestIntervalsMatchASet adds random indexes and compares with a plain set.
func TestIntervalsMatchASet(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		var s intervals
		ref := map[int32]bool{}
		for range rng.IntN(60) {
			i := int32(rng.IntN(40))
			if added := s.add(i); added == ref[i] {
				t.Fatalf("add(%d) = %v with the index already present: %v", i, added, ref[i])
			}
			ref[i] = true
		}
		var want []int32
		for i := range ref {
			want = append(want, i)
		}
		slices.Sort(want)
		var got []int32
		for _, r := range s.ranges {
			for i := r.lo; i <= r.hi; i++ {
				got = append(got, i)
			}
		}
		if !slices.Equal(got, want) || int(s.len()) != len(want) {
			t.Fatalf("ranges %v hold %v, want %v", s.ranges, got, want)
		}
		for k := 1; k < len(s.ranges); k++ {
			if s.ranges[k].lo <= s.ranges[k-1].hi+1 {
				t.Fatalf("ranges %v are not merged", s.ranges)
			}
		}
		back, err := parseIntervals(s.String())
		if err != nil || back.String() != s.String() {
			t.Fatalf("round trip of %q: %q, %v", s.String(), back.String(), err)
		}
	}
}

func TestUnionMatchesASet(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		var a, b intervals
		want := map[int32]bool{}
		for range rng.IntN(40) {
			i := int32(rng.IntN(60))
			if rng.IntN(2) == 0 {
				a.add(i)
			} else {
				b.add(i)
			}
			want[i] = true
		}
		u := union(a, b)
		if u.len() != int32(len(want)) {
			t.Fatalf("union of %s and %s has %d indexes, want %d", a.String(), b.String(), u.len(), len(want))
		}
		for i := range int32(61) {
			if u.has(i) != want[i] {
				t.Fatalf("union of %s and %s = %s: has(%d) = %v", a.String(), b.String(), u.String(), i, u.has(i))
			}
		}
		// Adjacent ranges are merged, as add merges them.
		var ref intervals
		for i := range want {
			ref.add(i)
		}
		if u.String() != ref.String() {
			t.Fatalf("union %s, want %s", u.String(), ref.String())
		}
	}
}

func TestPrefixStringCutsAtARange(t *testing.T) {
	s, _ := parseIntervals("0-3,7,9-10")
	for n, want := range map[int]string{0: "", 3: "0-3", 5: "0-3,7", 9: "0-3,7", 10: "0-3,7,9-10", 100: "0-3,7,9-10"} {
		if got := s.prefixString(n); got != want {
			t.Errorf("prefixString(%d) = %q, want %q", n, got, want)
		}
	}
}
