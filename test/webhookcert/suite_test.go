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

// Package webhookcert runs two managers, wired by internal/manager.New as cmd/main.go wires
// them with --webhook-cert-management=self, behind a real kube-apiserver that authorizes with
// RBAC, and rotates their webhook's certificate under admission traffic.
package webhookcert

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/manager"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/testutil"
)

var (
	testEnv *envtest.Environment
	cfg     *rest.Config
	admin   client.Client // direct, uncached, member of system:masters
	scheme  = runtime.NewScheme()
)

func TestWebhookCert(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Webhook Certificate Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	Expect(manager.AddToScheme(scheme)).To(Succeed())

	testEnv = testutil.NewEnvironment()
	// The managers get only what config/rbac grants them.
	testEnv.ControlPlane.GetAPIServer().Configure().Set("authorization-mode", "RBAC")
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	admin, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	Expect(testEnv.Stop()).To(Succeed())
})

// managerUser is the user the managers act as.
const managerUser = "ephemeraljob-manager"

// grantManagerRoles creates config/rbac's manager-role (the ClusterRole and the Role) and
// leader-election-role, the Roles in namespace ns, binds them to managerUser, and returns a
// rest.Config acting as that user.
func grantManagerRoles(ctx context.Context, ns string) *rest.Config {
	GinkgoHelper()
	for _, file := range []string{"role.yaml", "leader_election_role.yaml"} {
		for _, obj := range decodeFile(filepath.Join(testutil.RepoRoot(), "config", "rbac", file)) {
			roleRef := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: obj.GetKind(), Name: obj.GetName()}
			subjects := []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: managerUser}}
			var binding client.Object
			switch obj.GetKind() {
			case "ClusterRole":
				binding = &rbacv1.ClusterRoleBinding{RoleRef: roleRef, Subjects: subjects}
			case "Role":
				obj.SetNamespace(ns)
				binding = &rbacv1.RoleBinding{RoleRef: roleRef, Subjects: subjects}
				binding.SetNamespace(ns)
			default:
				Fail("config/rbac/" + file + " holds a " + obj.GetKind())
			}
			// The cluster-wide ones exist from an earlier spec.
			Expect(client.IgnoreAlreadyExists(admin.Create(ctx, obj))).To(Succeed())
			binding.SetName(obj.GetName())
			Expect(client.IgnoreAlreadyExists(admin.Create(ctx, binding))).To(Succeed())
		}
	}
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: managerUser}
	return c
}

// decodeFile splits a file of YAML documents into objects.
func decodeFile(path string) []*unstructured.Unstructured {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	objs, err := testutil.DecodeObjects(data)
	Expect(err).NotTo(HaveOccurred())
	return objs
}
