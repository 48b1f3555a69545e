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

// Package chaos runs one EphemeralJob through API faults and manager crashes and checks
// that its result is exact: a job of replicas 400 over 500 pods, parallelism 10, while
// about 5% of ephemeral-container writes are applied but answered with a 504, the manager
// (a separate process) is killed with SIGKILL again and again, and another writer keeps
// changing pods around the injection frontier. At every observed moment no more than
// replicas pods hold the job's containers, none holds two, no two share an index, and no
// more than parallelism are unfinished; at the end exactly replicas pods hold them and
// the status counts equal the exit codes in the pods.
package chaos

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/podstate"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
	"github.com/ephemeraljob/ephemeraljob-operator/test/kubelet"
)

const (
	pods        = 500
	replicas    = 400
	parallelism = 10
	crashes     = 5
	// faultRate is the share of ephemeral-container writes answered with a 504 after they
	// were applied; the run requires at least 5% of the targets to have met one.
	faultRate = 0.1
	namespace = "chaos"
)

// exitCode is what the kubelet stand-in ends a pod's container with: one pod in seven fails.
func exitCode(pod string) int32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(pod))
	if h.Sum32()%7 == 0 {
		return 1
	}
	return 0
}

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runManagerChild())
	}
	os.Exit(m.Run())
}

func TestJobIsExactUnderFaultsAndCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos suite takes a minute or two")
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(appsv1alpha1.AddToScheme(scheme))
	env := testutil.NewEnvironment()
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	cfg.QPS, cfg.Burst = 500, 1000
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	clientset := kubernetes.NewForConfigOrDie(cfg)
	kubeconfig := writeKubeconfig(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		t.Fatal(err)
	}
	stub := &kubelet.Stub{Client: clientset, Namespace: namespace, Workers: 8,
		Decide: func(pod *corev1.Pod, _ *corev1.EphemeralContainer) kubelet.Outcome {
			return kubelet.Outcome{ExitCode: exitCode(pod.Name)}
		}}
	go func() { _ = stub.Run(ctx) }()
	createPods(ctx, t, clientset)

	obs := startObserver(ctx, t, clientset)

	mgr := startChild(t, kubeconfig)
	defer func() { mgr.kill() }()
	job := testutil.MakeEphemeralJob("chaos", namespace, "web").Parallelism(parallelism).Replicas(replicas).Obj()
	if err := k8s.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	go raceWriters(ctx, clientset, obs)

	// Kill the manager whenever the job made some progress, crashes times.
	for i := range crashes {
		target := (i + 1) * replicas / (crashes + 2)
		if err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(context.Context) (bool, error) {
			return obs.injected() >= target, nil
		}); err != nil {
			t.Fatalf("waiting for %d injections before crash %d: %v (%s)", target, i+1, err, obs.summary())
		}
		mgr.kill()
		t.Logf("crash %d at %d injected pods", i+1, obs.injected())
		mgr = startChild(t, kubeconfig)
	}

	var final appsv1alpha1.EphemeralJob
	if err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(job), &final); err != nil {
			return false, nil
		}
		return final.Status.Phase.IsFinished(), nil
	}); err != nil {
		t.Fatalf("the job did not finish: %v; status %+v; %s", err, final.Status, obs.summary())
	}
	if v := obs.violation(); v != "" {
		t.Fatal(v)
	}

	var list corev1.PodList
	if err := k8s.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		t.Fatal(err)
	}
	var holding, succeeded, failed int32
	for i := range list.Items {
		pod := &list.Items[i]
		owned := podstate.OwnedContainers(pod, final.UID)
		if len(owned) > 1 {
			t.Errorf("pod %s holds %d containers of the job", pod.Name, len(owned))
		}
		if len(owned) == 0 {
			continue
		}
		holding++
		res, _ := podstate.Evaluate(pod, final.UID)
		switch res.Outcome {
		case podstate.Succeeded:
			succeeded++
		case podstate.Failed:
			failed++
		default:
			t.Errorf("pod %s is %s after the job finished", pod.Name, res.Outcome)
		}
	}
	st := final.Status
	t.Logf("status: %s match %d succeeded %d failed %d; pods: %d holding, %d exit 0, %d exit non-zero; "+
		"%d faults answered with 504; at most %d unfinished seen", st.Phase, st.Match, st.Succeeded, st.Failed,
		holding, succeeded, failed, mgr.faults(), obs.maxUnfinished())
	if holding != replicas {
		t.Errorf("%d pods hold the job's container, want exactly %d", holding, replicas)
	}
	if st.Match != replicas || st.Succeeded != succeeded || st.Failed != failed {
		t.Errorf("status counts match %d succeeded %d failed %d; the pods say %d, %d, %d",
			st.Match, st.Succeeded, st.Failed, holding, succeeded, failed)
	}
	if mgr.faults()*100 < 5*replicas {
		t.Errorf("%d ephemeral-container writes were answered with a timeout, fewer than 5%% of %d", mgr.faults(), replicas)
	}
}

// createPods creates the Running pods the job selects.
func createPods(ctx context.Context, t *testing.T, c kubernetes.Interface) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, pods)
	sem := make(chan struct{}, 20)
	for i := range pods {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			pod := testutil.MakePod(fmt.Sprintf("web-%03d", i), namespace).Label("app", "web").Obj()
			if _, err := kubelet.CreateRunning(ctx, c, pod); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// observer checks the invariants at every pod event.
type observer struct {
	mu          sync.Mutex
	holding     map[string]bool
	unfinished  map[string]bool
	maxUnfin    int
	firstBroken string
}

func startObserver(ctx context.Context, t *testing.T, c kubernetes.Interface) *observer {
	t.Helper()
	o := &observer{holding: map[string]bool{}, unfinished: map[string]bool{}}
	factory := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(namespace))
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { o.see(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { o.see(obj.(*corev1.Pod)) },
	}); err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
	return o
}

func (o *observer) see(pod *corev1.Pod) {
	o.mu.Lock()
	defer o.mu.Unlock()
	uids := podstate.JobUIDs(pod)
	if len(uids) == 0 {
		return
	}
	owned := podstate.OwnedContainers(pod, uids[0])
	if len(owned) > 1 {
		o.broken(fmt.Sprintf("pod %s holds %d containers of the job", pod.Name, len(owned)))
	}
	o.holding[pod.Name] = true
	res, _ := podstate.Evaluate(pod, uids[0])
	if res.Outcome.IsFinished() {
		delete(o.unfinished, pod.Name)
	} else {
		o.unfinished[pod.Name] = true
	}
	if n := len(o.unfinished); n > o.maxUnfin {
		o.maxUnfin = n
	}
	if len(o.holding) > replicas {
		o.broken(fmt.Sprintf("%d pods hold the job's container, replicas is %d", len(o.holding), replicas))
	}
	if len(o.unfinished) > parallelism {
		o.broken(fmt.Sprintf("%d targets unfinished at once, parallelism is %d", len(o.unfinished), parallelism))
	}
}

func (o *observer) broken(msg string) {
	if o.firstBroken == "" {
		o.firstBroken = msg
	}
}

func (o *observer) injected() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.holding)
}

func (o *observer) maxUnfinished() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.maxUnfin
}

func (o *observer) violation() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.firstBroken
}

func (o *observer) summary() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return fmt.Sprintf("%d pods injected, %d unfinished", len(o.holding), len(o.unfinished))
}

// raceWriters keeps changing the labels-neutral annotations of pods just past the
// injection frontier, so injections meet conflicts.
func raceWriters(ctx context.Context, c kubernetes.Interface, o *observer) {
	rng := rand.New(rand.NewPCG(1, 2))
	for ctx.Err() == nil {
		n := o.injected()
		// The frontier: the next pods in creation order, which the job targets next.
		i := min(n+rng.IntN(parallelism*2), pods-1)
		name := fmt.Sprintf("web-%03d", i)
		patch := fmt.Appendf(nil, `{"metadata":{"annotations":{"touched":"%d"}}}`, time.Now().UnixNano())
		_, _ = c.CoreV1().Pods(namespace).Patch(ctx, name, "application/merge-patch+json", patch, metav1.PatchOptions{})
		time.Sleep(5 * time.Millisecond)
	}
}

// writeKubeconfig writes the envtest admin credentials for the manager process.
func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData,
		Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// child is a manager process.
type child struct {
	cmd       *exec.Cmd
	faultFile string
	t         *testing.T
}

var faultDir string

func startChild(t *testing.T, kubeconfig string) *child {
	t.Helper()
	if faultDir == "" {
		faultDir = t.TempDir()
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "KUBECONFIG="+kubeconfig,
		faultFileEnv+"="+filepath.Join(faultDir, "faults"), faultRateEnv+"="+strconv.FormatFloat(faultRate, 'f', -1, 64))
	log, err := os.OpenFile(filepath.Join(faultDir, "manager.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return &child{cmd: cmd, faultFile: filepath.Join(faultDir, "faults"), t: t}
}

// kill stops the manager abruptly, as an OOM kill or a node failure would.
func (c *child) kill() {
	if c.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	_ = c.cmd.Wait()
}

// faults returns how many writes the manager processes answered with a 504 after applying them.
func (c *child) faults() int {
	b, _ := os.ReadFile(c.faultFile)
	return len(b)
}
