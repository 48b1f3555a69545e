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
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// writeRecord is one write that passed through a proxy: which process sent it, what it
// wrote, and when the API server's answer came back (by then the write was applied or
// refused).
type writeRecord struct {
	process          string
	verb, resource   string
	code             int
	sent, answeredAt time.Time
}

// writeLog is the writes every proxy of a run saw, in the order their answers came back.
type writeLog struct {
	mu      sync.Mutex
	records []writeRecord
}

func (l *writeLog) add(r writeRecord) {
	l.mu.Lock()
	l.records = append(l.records, r)
	l.mu.Unlock()
}

// find returns the writes that match, in the order their answers came back.
func (l *writeLog) find(match func(writeRecord) bool) []writeRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []writeRecord
	for _, r := range l.records {
		if match(r) {
			out = append(out, r)
		}
	}
	return out
}

// writeProxy forwards one manager process's requests to the API server, with the
// harness's credentials, and logs its writes: each process gets its own, so the log knows
// who wrote what, and the times are taken next to the API server, not in the process.
type writeProxy struct {
	// URL is where the process reaches the API server (plain HTTP on the loopback).
	URL string
	srv *http.Server
}

// startProxy starts a proxy for the process named name.
func (h *Harness) startProxy(name string, writes *writeLog) (*writeProxy, error) {
	target, err := url.Parse(h.Config.Host)
	if err != nil {
		return nil, fmt.Errorf("reading the API server's address: %w", err)
	}
	transport, err := rest.TransportFor(h.Config)
	if err != nil {
		return nil, fmt.Errorf("building the proxy's transport: %w", err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		// Watches stream: every event goes on at once.
		FlushInterval: -1,
		Transport: roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			verb, resource, _ := classify(req)
			sent := time.Now()
			resp, err := transport.RoundTrip(req)
			if isWrite(verb) {
				rec := writeRecord{process: name, verb: verb, resource: resource, sent: sent, answeredAt: time.Now()}
				if err == nil {
					rec.code = resp.StatusCode
				}
				writes.add(rec)
			}
			return resp, err
		}),
		// A killed process leaves its requests half-done: nothing to report.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting a proxy: %w", err)
	}
	p := &writeProxy{URL: "http://" + ln.Addr().String(), srv: &http.Server{Handler: rp, ReadHeaderTimeout: time.Minute}}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Close stops the proxy and ends the requests going through it.
func (p *writeProxy) Close() error {
	if err := p.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("stopping a proxy: %w", err)
	}
	return nil
}
