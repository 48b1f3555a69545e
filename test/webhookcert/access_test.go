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

package webhookcert

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/webhookcert"
)

var _ = Describe("a manager told names its RBAC does not grant", func() {
	// Well within controller-runtime's cache sync timeout (2 minutes), after which the manager
	// would stop anyway, saying only that the cache did not sync.
	const promptly = 10 * time.Second

	DescribeTable("stops as it starts, naming the flag to set",
		func(ctx SpecContext, ns string, rename func(*webhookcert.Options), flag string) {
			Expect(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
			managerCfg := grantManagerRoles(ctx, ns)
			o := webhookcert.Options{
				Namespace: ns, SecretName: secretName, ServiceName: serviceName,
				WebhookConfigurationName: configurationName, ExtraDNSNames: []string{"localhost"},
			}
			rename(&o)
			r := startReplica("renamed", managerCfg, o)
			DeferCleanup(r.stop)
			var err error
			Eventually(r.done).WithTimeout(promptly).Should(Receive(&err))
			Expect(err).To(MatchError(ContainSubstring(flag)))
			Expect(err).To(MatchError(ContainSubstring("forbidden")))
		},
		Entry("the Secret", "webhookcert-renamed-secret",
			func(o *webhookcert.Options) { o.SecretName = "renamed-cert" }, "--webhook-cert-secret"),
		Entry("the webhook configuration", "webhookcert-renamed-configuration",
			func(o *webhookcert.Options) { o.WebhookConfigurationName = "renamed" }, "--webhook-configuration"),
	)
})
