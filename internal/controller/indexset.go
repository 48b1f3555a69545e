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
	"slices"
	"strconv"
	"strings"
)

// indexSet is a set of target indexes, written in status as ranges: "0-3,7,9-10".
type indexSet map[int32]struct{}

// parseIndexSet reads the range notation; it fails on anything else.
func parseIndexSet(s string) (indexSet, error) {
	set := indexSet{}
	if s == "" {
		return set, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.ParseInt(lo, 10, 32)
		if err != nil || first < 0 {
			return nil, fmt.Errorf("parsing index range %q: %q is not an index", s, lo)
		}
		last := first
		if isRange {
			if last, err = strconv.ParseInt(hi, 10, 32); err != nil || last < first {
				return nil, fmt.Errorf("parsing index range %q: %q is not a range", s, part)
			}
		}
		for i := first; i <= last; i++ {
			set[int32(i)] = struct{}{}
		}
	}
	return set, nil
}

// String writes the set as sorted, merged ranges.
func (s indexSet) String() string {
	idx := make([]int32, 0, len(s))
	for i := range s {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	var b strings.Builder
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(idx[i])))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(int(idx[j])))
		}
		i = j + 1
	}
	return b.String()
}

func (s indexSet) has(i int32) bool {
	_, ok := s[i]
	return ok
}
