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
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// interval is the closed range of target indexes [lo, hi].
type interval struct{ lo, hi int32 }

// intervals is a set of target indexes kept as sorted, disjoint, non-adjacent ranges, so
// its size follows the number of ranges, never the number of indexes (a job whose targets
// all succeeded is one range whatever its size). It is written in status as "0-3,7,9-10".
type intervals struct {
	ranges []interval
	count  int32
}

// parseIntervals reads the range notation without expanding it: a forged "0-2147483646"
// costs one range, not two billion entries. It fails on anything but sorted, disjoint ranges.
func parseIntervals(s string) (intervals, error) {
	var set intervals
	if s == "" {
		return set, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.ParseInt(lo, 10, 32)
		if err != nil || first < 0 {
			return intervals{}, fmt.Errorf("parsing index ranges %q: %q is not an index", s, lo)
		}
		last := first
		if isRange {
			if last, err = strconv.ParseInt(hi, 10, 32); err != nil || last < first {
				return intervals{}, fmt.Errorf("parsing index ranges %q: %q is not a range", s, part)
			}
		}
		if n := len(set.ranges); n > 0 && int64(set.ranges[n-1].hi) >= first {
			return intervals{}, fmt.Errorf("parsing index ranges %q: %q is out of order", s, part)
		}
		set.insertRange(int32(first), int32(last))
	}
	return set, nil
}

// search returns the position of the first range whose hi is >= i.
func (s *intervals) search(i int32) int {
	return sort.Search(len(s.ranges), func(k int) bool { return s.ranges[k].hi >= i })
}

// has reports whether i is in the set, in O(log ranges).
func (s *intervals) has(i int32) bool {
	k := s.search(i)
	return k < len(s.ranges) && s.ranges[k].lo <= i
}

// add puts i into the set and reports whether it was new. Appending past the last range,
// the common case, costs O(1).
func (s *intervals) add(i int32) bool {
	if s.has(i) {
		return false
	}
	s.insertRange(i, i)
	return true
}

// insertRange adds [lo, hi], which must not overlap the set, merging adjacent ranges.
func (s *intervals) insertRange(lo, hi int32) {
	s.count += hi - lo + 1
	k := s.search(lo)
	joinsPrev := k > 0 && s.ranges[k-1].hi == lo-1
	joinsNext := k < len(s.ranges) && s.ranges[k].lo == hi+1
	switch {
	case joinsPrev && joinsNext:
		s.ranges[k-1].hi = s.ranges[k].hi
		s.ranges = append(s.ranges[:k], s.ranges[k+1:]...)
	case joinsPrev:
		s.ranges[k-1].hi = hi
	case joinsNext:
		s.ranges[k].lo = lo
	default:
		s.ranges = append(s.ranges, interval{})
		copy(s.ranges[k+1:], s.ranges[k:])
		s.ranges[k] = interval{lo, hi}
	}
}

// len returns the number of indexes in the set.
func (s *intervals) len() int32 { return s.count }

// String writes the set as ranges.
func (s *intervals) String() string {
	var b strings.Builder
	for k, r := range s.ranges {
		if k > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(r.lo)))
		if r.hi > r.lo {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(int(r.hi)))
		}
	}
	return b.String()
}

// union returns the indexes in a or b, merging the two sorted range lists in
// O(ranges), without expanding them.
func union(a, b intervals) intervals {
	var out intervals
	i, j := 0, 0
	for i < len(a.ranges) || j < len(b.ranges) {
		var r interval
		if j >= len(b.ranges) || (i < len(a.ranges) && a.ranges[i].lo <= b.ranges[j].lo) {
			r, i = a.ranges[i], i+1
		} else {
			r, j = b.ranges[j], j+1
		}
		if n := len(out.ranges); n > 0 && int64(out.ranges[n-1].hi)+1 >= int64(r.lo) {
			if r.hi > out.ranges[n-1].hi {
				out.count += r.hi - out.ranges[n-1].hi
				out.ranges[n-1].hi = r.hi
			}
			continue
		}
		out.ranges = append(out.ranges, r)
		out.count += r.hi - r.lo + 1
	}
	return out
}

// prefixString writes the set's first ranges, as many as fit in n bytes.
func (s *intervals) prefixString(n int) string {
	var b strings.Builder
	for k, r := range s.ranges {
		part := strconv.Itoa(int(r.lo))
		if r.hi > r.lo {
			part += "-" + strconv.Itoa(int(r.hi))
		}
		if k > 0 {
			part = "," + part
		}
		if b.Len()+len(part) > n {
			break
		}
		b.WriteString(part)
	}
	return b.String()
}
