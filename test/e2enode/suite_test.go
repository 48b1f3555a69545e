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
// The suite installs the operator as its users do (see deployed_operator_test.go): the
// committed dist/install.yaml with the image `make image-oci` built, then its MySQL
// recorder turned on through config/mysql with a MariaDB on the node's IP. Every spec
// runs against that Deployment, its webhook called through its Service.
package e2enode

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
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
	envKubeconfig        = "E2E_NODE_KUBECONFIG" // admin (system:masters) kubeconfig of the cluster
	envKubectl           = "E2E_NODE_KUBECTL"
	envKubectlEjob       = "E2E_NODE_KUBECTL_EJOB" // the kubectl plugin (go build ./cmd/kubectl-ejob)
	envNodeName          = "E2E_NODE_NAME"
	envLogDir            = "E2E_NODE_LOG_DIR"            // where the operator's pods' logs go (none when unset)
	envOperatorImage     = "E2E_NODE_OPERATOR_IMAGE"     // the image `make image-oci` wrote and the node holds
	envContainerdAddress = "E2E_NODE_CONTAINERD_ADDRESS" // containerd's socket, for ctr
)

var (
	scheme  = runtime.NewScheme()
	cfg     *rest.Config
	k8s     client.Client
	cs      *kubernetes.Clientset
	kubectl string
	store   *recorder.MySQLStore
	db      *mariadb.Server
	// operator is the operator's Deployment.
	operator *deployedOperator
)

func TestE2ENode(t *testing.T) {
	if os.Getenv(envKubeconfig) == "" {
		t.Skipf("%s is not set: run `make test-e2e-node` (root on Linux) to run this suite on a real kubelet", envKubeconfig)
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "EphemeralJob e2e suite on a real node")
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

	// The CRD first, as the README's upgrade notes ask; the install applies it again.
	By("installing the CRD from config/crd")
	root := testutil.RepoRoot()
	runKubectl("apply", "-f", filepath.Join(root, "config", "crd", "bases"))
	// kubectl wait fails instead of waiting while a new CRD has no conditions yet: retry it.
	Eventually(func() error {
		_, err := kubectlOutput("wait", "--for=condition=Established", "crd/ephemeraljobs.apps.kruise.io", "--timeout=10s")
		return err
	}).WithTimeout(time.Minute).Should(Succeed())

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
}, NodeTimeout(5*time.Minute))

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
