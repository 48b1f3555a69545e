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

package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"time"

	// Import all Kubernetes client auth plugins (e.g. Azure, GCP, OIDC, etc.)
	// to ensure that exec-entrypoint and run can make use of them.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/ephemeraljob/ephemeraljob-operator/internal/controller"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/manager"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/recorder"
	"github.com/ephemeraljob/ephemeraljob-operator/internal/webhookcert"
	// +kubebuilder:scaffold:imports
)

// The values of --webhook-cert-management.
const (
	webhookCertSelf     = "self"
	webhookCertExternal = "external"
)

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

func init() {
	utilruntime.Must(manager.AddToScheme(scheme))
	// +kubebuilder:scaffold:scheme
}

// nolint:gocyclo
func main() {
	var metricsAddr string
	var metricsCertPath, metricsCertName, metricsCertKey string
	var webhookCertPath, webhookCertName, webhookCertKey string
	var webhookPort int
	var webhookCertManagement string
	var webhookCert webhookcert.Options
	var enableLeaderElection bool
	var leaderElectionNamespace string
	var probeAddr string
	var secureMetrics bool
	var enableHTTP2 bool
	var tlsOpts []func(*tls.Config)
	var metaStorage, region string
	var kubeAPIQPS float64
	var maxConcurrentReconciles int
	var kubeAPIBurst int
	var statusWriteInterval time.Duration
	var statusWriteQPS float64
	var recordOutputBytes int64
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0", "The address the metrics endpoint binds to. "+
		"Use :8443 for HTTPS or :8080 for HTTP, or leave as 0 to disable the metrics service.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "The address the probe endpoint binds to.")
	flag.BoolVar(&enableLeaderElection, "leader-elect", false,
		"Enable leader election for controller manager. "+
			"Enabling this will ensure there is only one active controller manager.")
	flag.StringVar(&leaderElectionNamespace, "leader-election-namespace", "",
		"The namespace of the leader election lease; empty means the namespace of the pod's service account "+
			"(set it when running outside a cluster).")
	flag.BoolVar(&secureMetrics, "metrics-secure", true,
		"If set, the metrics endpoint is served securely via HTTPS. Use --metrics-secure=false to use HTTP instead.")
	flag.StringVar(&webhookCertPath, "webhook-cert-path", "", "The directory that contains the webhook certificate.")
	flag.StringVar(&webhookCertName, "webhook-cert-name", "tls.crt", "The name of the webhook certificate file.")
	flag.StringVar(&webhookCertKey, "webhook-cert-key", "tls.key", "The name of the webhook key file.")
	flag.IntVar(&webhookPort, "webhook-port", webhook.DefaultPort, "The port the webhook server listens on.")
	flag.StringVar(&webhookCertManagement, "webhook-cert-management", webhookCertExternal,
		"Who provides the webhook's serving certificate. 'self': the manager makes a CA and a certificate for "+
			"<--webhook-service>.<--webhook-namespace>.svc into the Secret --webhook-cert-secret, which must exist "+
			"(empty at first), adds the CA to the caBundle of --webhook-configuration, renews both 90 days before "+
			"they expire (the leader renews, any replica issues the first certificate, every replica serves the "+
			"Secret's certificate); no cert-manager needed "+
			"(config/default). 'external': the certificate is read from --webhook-cert-path, and whoever issues it "+
			"injects the caBundle (config/cert-manager).")
	flag.StringVar(&webhookCert.SecretName, "webhook-cert-secret", webhookcert.DefaultSecretName,
		"With --webhook-cert-management=self: the Secret holding the CA and the webhook's certificate.")
	flag.StringVar(&webhookCert.ServiceName, "webhook-service", webhookcert.DefaultServiceName,
		"With --webhook-cert-management=self: the Service the API server calls the webhook through.")
	flag.StringVar(&webhookCert.WebhookConfigurationName, "webhook-configuration",
		webhookcert.DefaultWebhookConfigurationName,
		"With --webhook-cert-management=self: the ValidatingWebhookConfiguration whose caBundle the manager writes.")
	flag.StringVar(&webhookCert.Namespace, "webhook-namespace", "",
		"With --webhook-cert-management=self: the namespace of the Secret and the Service; empty means the "+
			"namespace of the pod's service account (set it when running outside a cluster).")
	flag.StringVar(&metricsCertPath, "metrics-cert-path", "",
		"The directory that contains the metrics server certificate.")
	flag.StringVar(&metricsCertName, "metrics-cert-name", "tls.crt", "The name of the metrics server certificate file.")
	flag.StringVar(&metricsCertKey, "metrics-cert-key", "tls.key", "The name of the metrics server key file.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false,
		"If set, HTTP/2 will be enabled for the metrics and webhook servers")
	flag.StringVar(&metaStorage, "meta-storage", "",
		"Where to persist job and pod history: 'mysql' (settings from MYSQL_HOST, MYSQL_PORT, MYSQL_DB_NAME, "+
			"MYSQL_USER, MYSQL_PASSWORD), or empty for none.")
	flag.StringVar(&metaStorage, "object-storage", "", "Alias of --meta-storage.")
	flag.StringVar(&region, "region", "", "Recorded as deploy_region of every job and pod row.")
	flag.Float64Var(&kubeAPIQPS, "kube-api-qps", controller.DefaultClientQPS,
		"The most requests per second the manager sends to the API server (a job writes once per pod).")
	flag.IntVar(&kubeAPIBurst, "kube-api-burst", controller.DefaultClientBurst,
		"The most requests the manager sends to the API server in a burst above --kube-api-qps.")
	flag.IntVar(&maxConcurrentReconciles, "max-concurrent-reconciles", controller.DefaultMaxConcurrentReconciles,
		"How many jobs are reconciled at once; a job's passes never overlap.")
	flag.DurationVar(&statusWriteInterval, "status-write-interval", controller.DefaultStatusWriteInterval,
		"How often, at most, a running job's status is written when only its counts changed; "+
			"phase changes are written at once. A negative value writes every change.")
	flag.Float64Var(&statusWriteQPS, "status-write-qps", controller.DefaultStatusWriteQPS,
		"How many of those progress writes per second all jobs share, taking turns (with more jobs writing, each "+
			"waits longer). A negative value leaves each job its --status-write-interval.")
	flag.Int64Var(&recordOutputBytes, "record-output-bytes", 0,
		"With --meta-storage mysql: fetch the log of each finished target's container once and keep at most this "+
			"many bytes of it in MySQL (column output), up to 1048576; 0 turns it off. Needs the right to get pods/log "+
			"(config/components/record-output).")
	opts := zap.Options{
		Development: true,
	}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))

	// if the enable-http2 flag is false (the default), http/2 should be disabled
	// due to its vulnerabilities. More specifically, disabling http/2 will
	// prevent from being vulnerable to the HTTP/2 Stream Cancellation and
	// Rapid Reset CVEs. For more information see:
	// - https://github.com/advisories/GHSA-qppj-fm5r-hxr3
	// - https://github.com/advisories/GHSA-4374-p667-p6c8
	disableHTTP2 := func(c *tls.Config) {
		setupLog.Info("disabling http/2")
		c.NextProtos = []string{"http/1.1"}
	}

	if !enableHTTP2 {
		tlsOpts = append(tlsOpts, disableHTTP2)
	}

	// Initial webhook TLS options
	webhookTLSOpts := tlsOpts
	webhookServerOptions := webhook.Options{
		TLSOpts: webhookTLSOpts,
		Port:    webhookPort,
	}

	switch webhookCertManagement {
	case webhookCertExternal:
	case webhookCertSelf:
		if len(webhookCertPath) > 0 {
			setupLog.Error(errors.New("--webhook-cert-path is read with --webhook-cert-management=external only: "+
				"drop one of them"), "invalid flag")
			os.Exit(1)
		}
	default:
		setupLog.Error(fmt.Errorf("--webhook-cert-management %q is not supported: use self or external",
			webhookCertManagement), "invalid flag")
		os.Exit(1)
	}

	if len(webhookCertPath) > 0 {
		setupLog.Info("Initializing webhook certificate watcher using provided certificates",
			"webhook-cert-path", webhookCertPath, "webhook-cert-name", webhookCertName, "webhook-cert-key", webhookCertKey)

		webhookServerOptions.CertDir = webhookCertPath
		webhookServerOptions.CertName = webhookCertName
		webhookServerOptions.KeyName = webhookCertKey
	}

	webhookServer := webhook.NewServer(webhookServerOptions)

	// Metrics endpoint is enabled in 'config/default/kustomization.yaml'. The Metrics options configure the server.
	// More info:
	// - https://pkg.go.dev/sigs.k8s.io/controller-runtime@v0.22.4/pkg/metrics/server
	// - https://book.kubebuilder.io/reference/metrics.html
	metricsServerOptions := metricsserver.Options{
		BindAddress:   metricsAddr,
		SecureServing: secureMetrics,
		TLSOpts:       tlsOpts,
	}

	if secureMetrics {
		// FilterProvider is used to protect the metrics endpoint with authn/authz.
		// These configurations ensure that only authorized users and service accounts
		// can access the metrics endpoint. The RBAC are configured in 'config/rbac/kustomization.yaml'. More info:
		// https://pkg.go.dev/sigs.k8s.io/controller-runtime@v0.22.4/pkg/metrics/filters#WithAuthenticationAndAuthorization
		metricsServerOptions.FilterProvider = filters.WithAuthenticationAndAuthorization
	}

	// Without --metrics-cert-path, controller-runtime serves metrics with a self-signed
	// certificate it generates. config/default passes the certificate cert-manager issues.
	if len(metricsCertPath) > 0 {
		setupLog.Info("Initializing metrics certificate watcher using provided certificates",
			"metrics-cert-path", metricsCertPath, "metrics-cert-name", metricsCertName, "metrics-cert-key", metricsCertKey)

		metricsServerOptions.CertDir = metricsCertPath
		metricsServerOptions.CertName = metricsCertName
		metricsServerOptions.KeyName = metricsCertKey
	}

	var mysqlConfig recorder.Config
	switch metaStorage {
	case "":
	case "mysql":
		var err error
		if mysqlConfig, err = recorder.ConfigFromEnv(); err != nil {
			setupLog.Error(err, "invalid MySQL settings")
			os.Exit(1)
		}
	default:
		setupLog.Error(fmt.Errorf("--meta-storage %q is not supported: use mysql, or leave it empty", metaStorage),
			"invalid flag")
		os.Exit(1)
	}

	if err := recorder.ValidateOutputBytes(recordOutputBytes); err != nil {
		setupLog.Error(fmt.Errorf("--record-output-bytes %w", err), "invalid flag")
		os.Exit(1)
	}
	if recordOutputBytes > 0 && metaStorage != "mysql" {
		setupLog.Error(errors.New("--record-output-bytes needs --meta-storage mysql: the output is kept in MySQL"),
			"invalid flag")
		os.Exit(1)
	}

	ctx := ctrl.SetupSignalHandler()
	managerOpts := manager.Options{
		// nolint:goconst
		Webhooks:                os.Getenv("ENABLE_WEBHOOKS") != "false",
		Recorder:                recorder.Options{Region: region, OutputBytes: recordOutputBytes},
		StatusWriteInterval:     statusWriteInterval,
		StatusWriteQPS:          statusWriteQPS,
		MaxConcurrentReconciles: maxConcurrentReconciles,
	}
	if webhookCertManagement == webhookCertSelf {
		managerOpts.WebhookCert = &webhookCert
	}
	if metaStorage == "mysql" {
		managerOpts.MySQL = &mysqlConfig
	}
	if statusWriteQPS == 0 || math.IsNaN(statusWriteQPS) || math.IsInf(statusWriteQPS, 0) {
		setupLog.Error(fmt.Errorf("--status-write-qps (%v) must be a positive number, or negative to leave each job "+
			"its --status-write-interval", statusWriteQPS), "invalid flag")
		os.Exit(1)
	}
	if maxConcurrentReconciles <= 0 {
		setupLog.Error(fmt.Errorf("--max-concurrent-reconciles (%d) must be positive", maxConcurrentReconciles),
			"invalid flag")
		os.Exit(1)
	}
	if kubeAPIQPS <= 0 || kubeAPIBurst <= 0 {
		setupLog.Error(fmt.Errorf("--kube-api-qps (%v) and --kube-api-burst (%d) must be positive", kubeAPIQPS, kubeAPIBurst),
			"invalid flag")
		os.Exit(1)
	}
	restConfig := ctrl.GetConfigOrDie()
	restConfig.QPS, restConfig.Burst = float32(kubeAPIQPS), kubeAPIBurst

	mgr, err := manager.New(ctx, restConfig, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsServerOptions,
		WebhookServer:           webhookServer,
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          enableLeaderElection,
		LeaderElectionID:        manager.LeaderElectionID,
		LeaderElectionNamespace: leaderElectionNamespace,
		// A leader that stops (a rolling update, SIGTERM) releases its lease, so the standby
		// takes over in about a second instead of after the lease duration. Safe here: the
		// manager stops the controller and waits for the injections on their way before it
		// releases the lease, every write is fenced by the last renewal (internal/leader),
		// and the process ends when Start returns.
		LeaderElectionReleaseOnCancel: true,
	}, managerOpts)
	if err != nil {
		setupLog.Error(err, "unable to set up the manager")
		os.Exit(1)
	}
	// +kubebuilder:scaffold:builder
	if managerOpts.MySQL != nil {
		setupLog.Info("recording jobs and pods to MySQL", "mysql", mysqlConfig.String())
	}

	setupLog.Info("starting manager")
	if err := mgr.Start(ctx); err != nil {
		setupLog.Error(err, "problem running manager")
		os.Exit(1)
	}
}
