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

// Package e2enode runs the operator against a real single-node cluster: a kubelet with
// containerd and runc, so that ephemeral containers really run. hack/e2e-node.sh
// (`make test-e2e-node`) brings the cluster up and points the suite at it through the
// E2E_NODE_* environment variables; without them the suite is skipped.
//
// The suite runs the operator one of two ways, chosen by E2E_NODE_OPERATOR:
//   - process (the default): a separate process built from ./cmd, with its validating
//     webhook registered by URL and its MySQL recorder writing to a private MariaDB, and
//     authorized only by the ClusterRole in config/rbac; every spec but those labelled
//     operator-pods runs against it.
//   - pods: the operator installed from dist/install.yaml with its image set, then its
//     MySQL recorder turned on through config/mysql and a MariaDB on the node's IP (see
//     deployed_operator_test.go), its webhook called through its Service; every spec
//     runs against it. hack/e2e-node.sh runs this mode.
package e2enode

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	appsv1alpha1 "github.com/ephemeraljob/ephemeraljob-operator/api/v1alpha1"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil/mariadb"
)

// The environment hack/e2e-node.sh sets.
const (
	envKubeconfig         = "E2E_NODE_KUBECONFIG"          // admin (system:masters) kubeconfig of the cluster
	envOperatorKubeconfig = "E2E_NODE_OPERATOR_KUBECONFIG" // the operator's own identity
	envManager            = "E2E_NODE_MANAGER"             // the operator binary (go build ./cmd)
	envKubectl            = "E2E_NODE_KUBECTL"
	envKubectlEjob        = "E2E_NODE_KUBECTL_EJOB" // the kubectl plugin (go build ./cmd/kubectl-ejob)
	envCA                 = "E2E_NODE_CA"           // the cluster CA, which also signed the webhook's certificate
	envWebhookCert        = "E2E_NODE_WEBHOOK_CERT"
	envWebhookKey         = "E2E_NODE_WEBHOOK_KEY"
	envNodeName           = "E2E_NODE_NAME"
	envLogDir             = "E2E_NODE_LOG_DIR"            // where the operator's log goes (default: the temporary directory)
	envOperator           = "E2E_NODE_OPERATOR"           // how the operator runs: process (default) or pods
	envOperatorImage      = "E2E_NODE_OPERATOR_IMAGE"     // the image `make image-oci` wrote and the node holds
	envContainerdAddress  = "E2E_NODE_CONTAINERD_ADDRESS" // containerd's socket, for ctr
)

// How the suite runs the operator (E2E_NODE_OPERATOR).
const (
	operatorAsProcess = "process"
	operatorAsPods    = "pods"
)

// labelOperatorPods marks the specs that need the operator deployed as pods; with the
// operator as a process only the others run, with the operator as pods every spec does.
const labelOperatorPods = "operator-pods"

const operatorUser = "ephemeraljob-operator"

var (
	scheme  = runtime.NewScheme()
	cfg     *rest.Config
	k8s     client.Client
	cs      *kubernetes.Clientset
	kubectl string
	store   *recorder.MySQLStore
	db      *mariadb.Server
	// operator is the operator's Deployment when the suite runs it as pods, nil otherwise.
	operator *deployedOperator
)

// operatorMode returns E2E_NODE_OPERATOR, process when unset.
func operatorMode() (string, error) {
	switch m := os.Getenv(envOperator); m {
	case "", operatorAsProcess:
		return operatorAsProcess, nil
	case operatorAsPods:
		return m, nil
	default:
		return "", fmt.Errorf("%s=%q: want %s or %s", envOperator, m, operatorAsProcess, operatorAsPods)
	}
}

// operatorLabelFilter narrows a label filter to the specs the operator's mode can run.
func operatorLabelFilter(filter, mode string) string {
	if mode == operatorAsPods {
		return filter
	}
	if filter == "" {
		return "!" + labelOperatorPods
	}
	return "(" + filter + ") && !" + labelOperatorPods
}

func TestE2ENode(t *testing.T) {
	if os.Getenv(envKubeconfig) == "" {
		t.Skipf("%s is not set: run `make test-e2e-node` (root on Linux) to run this suite on a real kubelet", envKubeconfig)
	}
	mode, err := operatorMode()
	if err != nil {
		t.Fatal(err)
	}
	RegisterFailHandler(Fail)
	suiteConfig, reporterConfig := GinkgoConfiguration()
	suiteConfig.LabelFilter = operatorLabelFilter(suiteConfig.LabelFilter, mode)
	RunSpecs(t, "EphemeralJob e2e suite on a real node (operator: "+mode+")", suiteConfig, reporterConfig)
}

func mustEnv(name string) string {
	v := os.Getenv(name)
	Expect(v).NotTo(BeEmpty(), "%s must be set", name)
	return v
}

var _ = BeforeSuite(func(ctx SpecContext) {
	// The client logs the API server's warnings (Pod Security's among them) through controller-runtime.
	ctrllog.SetLogger(GinkgoLogr)
	SetDefaultEventuallyTimeout(3 * time.Minute)
	SetDefaultEventuallyPollingInterval(500 * time.Millisecond)
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(appsv1alpha1.AddToScheme(scheme)).To(Succeed())

	var err error
	cfg, err = clientcmd.BuildConfigFromFlags("", mustEnv(envKubeconfig))
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	cs, err = kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	kubectl = mustEnv(envKubectl)

	By("installing the CRD and the operator's ClusterRole from config/")
	root := testutil.RepoRoot()
	runKubectl("apply", "-f", filepath.Join(root, "config", "crd", "bases"))
	// kubectl wait fails instead of waiting while a new CRD has no conditions yet: retry it.
	Eventually(func() error {
		_, err := kubectlOutput("wait", "--for=condition=Established", "crd/ephemeraljobs.apps.kruise.io", "--timeout=10s")
		return err
	}).WithTimeout(time.Minute).Should(Succeed())
	if mode, _ := operatorMode(); mode == operatorAsPods {
		By("installing the operator from dist/install.yaml")
		operator = deployOperator(ctx, renderOperator(mustEnv(envOperatorImage)))

		By("starting MariaDB on the node's IP, which pods reach through the bridge's gateway")
		db, err = mariadb.StartOn(ctx, nodeIP(ctx))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(db.Close()).To(Succeed()) })
		user, password, err := db.NewUser(ctx)
		Expect(err).NotTo(HaveOccurred())
		settings := recorder.Config{Host: db.Host, Port: db.Port, User: user, Password: password, DBName: db.DBName}
		store, err = recorder.NewMySQLStore(settings, recorder.StoreOptions{})
		Expect(err).NotTo(HaveOccurred())

		By("turning the MySQL recorder on as the README says: config/mysql with its Secret, and the record-output component")
		operator.enableMySQL(ctx, mustEnv(envOperatorImage), settings)
		return
	}

	runKubectl("apply", "-f", filepath.Join(root, "config", "rbac", "role.yaml"))
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "ephemeraljob-e2e-operator"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "manager-role"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: operatorUser}},
	}
	Expect(client.IgnoreAlreadyExists(k8s.Create(ctx, binding))).To(Succeed())
	// The operator records each target's output (--record-output-bytes), with the right to
	// read logs that only the component config/components/record-output grants.
	runKubectl("apply", "-f", filepath.Join(root, "config", "components", "record-output", "pod_log_role.yaml"))
	logBinding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "ephemeraljob-e2e-operator-pod-log"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "manager-pod-log-role"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: operatorUser}},
	}
	Expect(client.IgnoreAlreadyExists(k8s.Create(ctx, logBinding))).To(Succeed())

	By("starting MariaDB")
	db, err = mariadb.Start(ctx)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(db.Close()).To(Succeed()) })
	store, err = recorder.NewMySQLStore(recorder.Config{Host: db.Host, Port: db.Port, User: db.User,
		Password: db.Password, DBName: db.DBName}, recorder.StoreOptions{})
	Expect(err).NotTo(HaveOccurred())

	By("starting the operator")
	webhookPort, probePort := freePort(), freePort()
	startOperator(webhookPort, probePort)

	By("registering the validating webhook of config/webhook by URL")
	registerWebhook(ctx, webhookPort)
}, NodeTimeout(5*time.Minute))

// startOperator runs the manager binary with the webhook, the MySQL recorder and the
// operator's own identity, and waits until it is ready (which includes MySQL).
func startOperator(webhookPort, probePort int) {
	logDir := os.Getenv(envLogDir)
	if logDir == "" {
		logDir = os.TempDir()
	}
	logPath := filepath.Join(logDir, "operator.log")
	logFile, err := os.Create(logPath)
	Expect(err).NotTo(HaveOccurred())
	cmd := exec.Command(mustEnv(envManager),
		"--webhook-cert-path", filepath.Dir(mustEnv(envWebhookCert)),
		"--webhook-cert-name", filepath.Base(mustEnv(envWebhookCert)),
		"--webhook-cert-key", filepath.Base(mustEnv(envWebhookKey)),
		"--webhook-port", strconv.Itoa(webhookPort),
		"--health-probe-bind-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(probePort)),
		"--metrics-bind-address", "0",
		"--meta-storage", "mysql", "--region", "e2e-node", "--record-output-bytes", "65536")
	cmd.Env = append(os.Environ(),
		"KUBECONFIG="+mustEnv(envOperatorKubeconfig),
		"MYSQL_HOST="+db.Host, "MYSQL_PORT="+strconv.Itoa(db.Port), "MYSQL_DB_NAME="+db.DBName,
		"MYSQL_USER="+db.User, "MYSQL_PASSWORD="+db.Password)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The operator dies with the suite, whatever ends it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	Expect(cmd.Start()).To(Succeed())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	DeferCleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		var err error
		select {
		case err = <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			err = <-exited
		}
		GinkgoWriter.Printf("operator stopped: %v\n", err)
		_ = logFile.Close()
	})

	readyz := fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort)
	Eventually(func(g Gomega) {
		select {
		case err := <-exited:
			exited <- err
			out, _ := os.ReadFile(logPath)
			Fail(fmt.Sprintf("the operator exited: %v\n%s", err, tail(out, 3000)))
		default:
		}
		resp, err := http.Get(readyz)
		g.Expect(err).NotTo(HaveOccurred())
		_ = resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	}).WithTimeout(2 * time.Minute).Should(Succeed())
	GinkgoWriter.Printf("operator ready; log in %s\n", logPath)
}

// registerWebhook registers config/webhook/manifests.yaml with a URL instead of a
// Service, and waits until the webhook answers.
func registerWebhook(ctx context.Context, port int) {
	raw, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "config", "webhook", "manifests.yaml"))
	Expect(err).NotTo(HaveOccurred())
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	Expect(yaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096).Decode(&vwc)).To(Succeed())
	Expect(vwc.Webhooks).NotTo(BeEmpty())
	ca, err := os.ReadFile(mustEnv(envCA))
	Expect(err).NotTo(HaveOccurred())
	vwc.Name = "ephemeraljob-e2e-node"
	for i := range vwc.Webhooks {
		svc := vwc.Webhooks[i].ClientConfig.Service
		Expect(svc).NotTo(BeNil())
		Expect(svc.Path).NotTo(BeNil())
		url := fmt.Sprintf("https://127.0.0.1:%d%s", port, *svc.Path)
		vwc.Webhooks[i].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: ca}
	}
	Expect(k8s.Create(ctx, &vwc)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(k8s.Delete(ctx, &vwc))).To(Succeed()) })

	// A job without targetContainerName passes the CRD's schema; only the webhook refuses it.
	probe := testutil.MakeEphemeralJob("webhook-probe", "default", "none").Container("probe", "").Obj()
	Eventually(func(g Gomega) {
		err := k8s.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		g.Expect(err).To(HaveOccurred())
		g.Expect(err.Error()).To(ContainSubstring(`admission webhook "` + vwc.Webhooks[0].Name + `" denied the request`))
		g.Expect(err.Error()).To(ContainSubstring("targetContainerName"))
	}).WithTimeout(time.Minute).Should(Succeed())
}

// runKubectl runs kubectl as the admin and returns its standard output.
func runKubectl(args ...string) string {
	GinkgoHelper()
	out, err := kubectlOutput(args...)
	Expect(err).NotTo(HaveOccurred(), "kubectl %v", args)
	return out
}

func kubectlOutput(args ...string) (string, error) {
	cmd := exec.Command(kubectl, args...)
	// kubectl finds its plugins on PATH: `kubectl ejob` runs the kubectl-ejob the script built.
	// The kubeconfig goes in the environment, which plugins share; kubectl refuses flags
	// placed before a plugin's name.
	cmd.Env = append(os.Environ(), "KUBECONFIG="+os.Getenv(envKubeconfig),
		"PATH="+filepath.Dir(mustEnv(envKubectlEjob))+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, stderr.String())
	}
	return stdout.String(), nil
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func TestOperatorLabelFilter(t *testing.T) {
	tests := []struct {
		filter, mode, want string
	}{
		{"", operatorAsProcess, "!operator-pods"},
		{"", operatorAsPods, ""},
		{"bench", operatorAsProcess, "(bench) && !operator-pods"},
		{"bench || slow", operatorAsPods, "bench || slow"},
	}
	for _, tt := range tests {
		if got := operatorLabelFilter(tt.filter, tt.mode); got != tt.want {
			t.Errorf("operatorLabelFilter(%q, %q) = %q, want %q", tt.filter, tt.mode, got, tt.want)
		}
	}
}

func TestOperatorMode(t *testing.T) {
	for env, want := range map[string]string{"": operatorAsProcess, "process": operatorAsProcess, "pods": operatorAsPods} {
		t.Setenv(envOperator, env)
		if got, err := operatorMode(); err != nil || got != want {
			t.Errorf("%s=%q: operatorMode() = %q, %v; want %q", envOperator, env, got, err, want)
		}
	}
	t.Setenv(envOperator, "pod")
	if got, err := operatorMode(); err == nil {
		t.Errorf("%s=pod: operatorMode() = %q, want an error", envOperator, got)
	}
}
