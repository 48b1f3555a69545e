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
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// requestCounter counts the requests a client sends, by verb and resource, through a
// wrapped http.RoundTripper (rest.Config.Wrap).
type requestCounter struct {
	mu sync.Mutex
	// byKey counts requests by "VERB resource[/subresource]".
	byKey map[string]int
	// codes counts responses by "VERB resource code" for codes >= 400.
	errors map[string]int
	// perObject counts writes by "resource/subresource namespace/name".
	perObject map[string]int
	// injected records when each pod's ephemeralcontainers write returned 2xx, by "ns/name".
	injected map[string]time.Time
	// writeTimes holds when each write was sent, by resource.
	writeTimes map[string][]time.Time
	// steady is set once the manager's cache synced: reads past the cache after it are counted apart.
	steady       bool
	steadyReads  map[string]int
	watchStreams int
}

func newRequestCounter() *requestCounter {
	return &requestCounter{byKey: map[string]int{}, errors: map[string]int{}, perObject: map[string]int{},
		injected: map[string]time.Time{}, steadyReads: map[string]int{}, writeTimes: map[string][]time.Time{}}
}

// wrap returns the round tripper to hand to rest.Config.Wrap.
func (c *requestCounter) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		verb, resource, object := classify(req)
		sent := time.Now()
		resp, err := next.RoundTrip(req)
		c.mu.Lock()
		defer c.mu.Unlock()
		key := verb + " " + resource
		c.byKey[key]++
		if verb == "WATCH" {
			c.watchStreams++
		}
		if c.steady && (verb == "GET" || verb == "LIST") {
			c.steadyReads[key]++
		}
		if isWrite(verb) && object != "" {
			c.perObject[resource+" "+object]++
		}
		if isWrite(verb) {
			c.writeTimes[resource] = append(c.writeTimes[resource], sent)
		}
		switch {
		case err != nil:
			c.errors[key+" transport-error"]++
		case resp.StatusCode >= 400:
			c.errors[fmt.Sprintf("%s %d", key, resp.StatusCode)]++
		case resource == "pods/ephemeralcontainers" && isWrite(verb):
			if _, seen := c.injected[object]; !seen {
				c.injected[object] = time.Now()
			}
		}
		return resp, err
	})
}

// markSteady starts counting reads past the cache.
func (c *requestCounter) markSteady() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.steady = true
}

// snapshot returns copies of the counts.
func (c *requestCounter) snapshot() requestCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := requestCounts{ByKey: clone(c.byKey), Errors: clone(c.errors), SteadyReads: clone(c.steadyReads),
		Injected: make(map[string]time.Time, len(c.injected))}
	for k, v := range c.injected {
		out.Injected[k] = v
	}
	out.PeakWrites = map[string]int{}
	for res, times := range c.writeTimes {
		out.PeakWrites[res] = peakPerSecond(times)
	}
	out.WritesPerObject = map[string][]int{}
	for k, n := range c.perObject {
		res, _, _ := strings.Cut(k, " ")
		out.WritesPerObject[res] = append(out.WritesPerObject[res], n)
	}
	return out
}

// requestCounts is what a requestCounter saw.
type requestCounts struct {
	ByKey, Errors, SteadyReads map[string]int
	// PeakWrites is, per resource, the most writes sent within one second: a figure at the
	// client's rate limit (controller.DefaultClientQPS per resource, after a burst) says the
	// limit held the writes back.
	PeakWrites map[string]int
	// WritesPerObject lists, per resource, how many writes each object received.
	WritesPerObject map[string][]int
	Injected        map[string]time.Time
}

// count returns the requests of one "VERB resource" key, summing PUT and PATCH for "WRITE".
func (r requestCounts) count(verb, resource string) int {
	if verb == "WRITE" {
		return r.ByKey["PUT "+resource] + r.ByKey["PATCH "+resource]
	}
	return r.ByKey[verb+" "+resource]
}

// errorsWith sums the errors of a resource with an HTTP code.
func (r requestCounts) errorsWith(resource string, code int) int {
	n := 0
	for k, v := range r.Errors {
		f := strings.Fields(k)
		if len(f) == 3 && f[1] == resource && f[2] == fmt.Sprint(code) {
			n += v
		}
	}
	return n
}

// table renders the counts as markdown rows "| request | count |", sorted.
func (r requestCounts) table() string {
	var keys []string
	for k := range r.ByKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString("| request | count |\n|---|---|\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "| `%s` | %d |\n", k, r.ByKey[k])
	}
	var errs []string
	for k := range r.Errors {
		errs = append(errs, k)
	}
	slices.Sort(errs)
	for _, k := range errs {
		fmt.Fprintf(&b, "| `%s` (error) | %d |\n", k, r.Errors[k])
	}
	return b.String()
}

// peakPerSecond returns the most of the times (in the order they were taken) that fall
// within one second.
func peakPerSecond(times []time.Time) int {
	s := slices.Clone(times)
	slices.SortFunc(s, func(a, b time.Time) int { return a.Compare(b) })
	peak, lo := 0, 0
	for hi := range s {
		for s[hi].Sub(s[lo]) >= time.Second {
			lo++
		}
		peak = max(peak, hi-lo+1)
	}
	return peak
}

func isWrite(verb string) bool {
	return verb == "PUT" || verb == "PATCH" || verb == "POST" || verb == "DELETE"
}

// classify names a request's verb (GET, LIST, WATCH, PUT, PATCH, POST, DELETE), its
// resource with subresource ("pods/ephemeralcontainers") and its object ("ns/name").
func classify(req *http.Request) (verb, resource, object string) {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	// /api/v1/... or /apis/group/version/...
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return req.Method, req.URL.Path, ""
	}
	ns := ""
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) != 2 {
		ns, parts = parts[1], parts[2:]
	}
	var name string
	switch len(parts) {
	case 0:
		resource = "namespaces"
	case 1:
		resource = parts[0]
	case 2:
		resource, name = parts[0], parts[1]
	default:
		resource, name = parts[0]+"/"+parts[2], parts[1]
	}
	if name != "" {
		object = ns + "/" + name
	}
	verb = req.Method
	if verb == http.MethodGet {
		switch {
		case req.URL.Query().Get("watch") == "true" || req.URL.Query().Get("watch") == "1":
			verb = "WATCH"
		case name == "":
			verb = "LIST"
		}
	}
	return verb, resource, object
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func clone(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
