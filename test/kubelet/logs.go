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

package kubelet

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// LogSource holds the output of containers, as a kubelet's container runtime does.
type LogSource interface {
	// ContainerLog returns the output of a container, and false when there is no such container.
	ContainerLog(namespace, pod, container string) (string, bool)
}

// Logs is a LogSource that tests fill. The zero value is ready to use.
type Logs struct {
	mu sync.Mutex
	m  map[string]string
}

// Set makes out the output of the container.
func (l *Logs) Set(namespace, pod, container, out string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]string{}
	}
	l.m[namespace+"/"+pod+"/"+container] = out
}

// ContainerLog returns what Set stored.
func (l *Logs) ContainerLog(namespace, pod, container string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out, ok := l.m[namespace+"/"+pod+"/"+container]
	return out, ok
}

// LogServer stands in for the kubelet's log endpoint, GET /containerLogs/{namespace}/{pod}/{container},
// which the API server calls for pods/log. It serves HTTPS on 127.0.0.1 with a self-signed
// certificate: a kube-apiserver started without --kubelet-certificate-authority (as envtest
// starts it) does not verify the kubelet's serving certificate. Pods bound to a Node made by
// RegisterNode have their logs read from it.
type LogServer struct {
	srv         *httptest.Server
	source      LogSource
	ignoreLimit atomic.Bool
}

// IgnoreLimit makes the server send the whole output whatever limitBytes asks, as a
// kubelet that misbehaves would, so that a client's own bound can be tested.
func (s *LogServer) IgnoreLimit(ignore bool) { s.ignoreLimit.Store(ignore) }

// StartLogServer starts a LogServer serving the output of source.
func StartLogServer(source LogSource) *LogServer {
	s := &LogServer{source: source}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.StartTLS()
	return s
}

// Port returns the port the server listens on.
func (s *LogServer) Port() int32 {
	u, err := url.Parse(s.srv.URL)
	if err != nil {
		panic(err) // httptest builds the URL itself.
	}
	port, _ := strconv.Atoi(u.Port())
	return int32(port)
}

// Close stops the server.
func (s *LogServer) Close() { s.srv.Close() }

func (s *LogServer) serve(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if r.Method != http.MethodGet || len(parts) != 4 || parts[0] != "containerLogs" {
		http.NotFound(w, r)
		return
	}
	out, ok := s.source.ContainerLog(parts[1], parts[2], parts[3])
	if !ok {
		http.Error(w, fmt.Sprintf("container %q in pod %q is not available", parts[3], parts[2]), http.StatusNotFound)
		return
	}
	if v := r.URL.Query().Get("limitBytes"); v != "" && !s.ignoreLimit.Load() {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			http.Error(w, "limitBytes must be a positive integer", http.StatusBadRequest)
			return
		}
		if int64(len(out)) > n {
			out = out[:n]
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(out))
}

// RegisterNode creates the Node name whose kubelet is this server: its only address is the
// InternalIP 127.0.0.1 and its kubelet endpoint the server's port, so that the API server
// sends the pods/log requests of the pods bound to it here.
func (s *LogServer) RegisterNode(ctx context.Context, c kubernetes.Interface, name string) (*corev1.Node, error) {
	node, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}},
		metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating node %s: %w", name, err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = s.Port()
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
		Reason: "KubeletReady", Message: "the kubelet stand-in serves logs", LastHeartbeatTime: metav1.Now(),
		LastTransitionTime: metav1.Now()}}
	node, err = c.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("writing the status of node %s: %w", name, err)
	}
	return node, nil
}

// Bind binds a pod to a node, as the scheduler does; its logs are then read from that
// node's kubelet.
func Bind(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, node string) error {
	return c.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}, metav1.CreateOptions{})
}
