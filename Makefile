# Image URL to use all building/pushing image targets
IMG ?= controller:latest

# Get the currently used golang install path (in GOPATH/bin, unless GOBIN is set)
ifeq (,$(shell go env GOBIN))
GOBIN=$(shell go env GOPATH)/bin
else
GOBIN=$(shell go env GOBIN)
endif

# CONTAINER_TOOL defines the container tool to be used for building images.
# Be aware that the target commands are only tested with Docker which is
# scaffolded by default. However, you might want to replace it to use other
# tools. (i.e. podman)
CONTAINER_TOOL ?= docker

# Setting SHELL to bash allows bash commands to be executed by recipes.
# Options are set to exit when a recipe line exits non-zero or a piped command fails.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

# The help target prints out all targets with their descriptions organized
# beneath their categories. The categories are represented by '##@' and the
# target descriptions by '##'. The awk command is responsible for reading the
# entire set of makefiles included in this invocation, looking for lines of the
# file as xyz: ## something, and then pretty-format the target and help. Then,
# if there's a line with ##@ something, that gets pretty-printed as a category.
# More info on the usage of ANSI control characters for terminal formatting:
# https://en.wikipedia.org/wiki/ANSI_escape_code#SGR_parameters
# More info on the awk command:
# http://linuxcommand.org/lc3_adv_awk.php

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate WebhookConfiguration, ClusterRole and CustomResourceDefinition objects.
	"$(CONTROLLER_GEN)" rbac:roleName=manager-role crd webhook paths="./..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: controller-gen ## Generate code containing DeepCopy, DeepCopyInto, and DeepCopyObject method implementations.
	"$(CONTROLLER_GEN)" object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## Run go fmt against code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet against code.
	go vet ./...

## FUZZTIME is how much `make test` fuzzes the webhook's validation: a number of inputs (a count, not a
## duration, so that a loaded machine cannot end the run mid-minimization); fuzz longer by hand with FUZZTIME=10m.
FUZZTIME ?= 30000x

.PHONY: test
test: manifests generate fmt vet envtest-bins ## Run all tests: unit tests and the envtest suites (starts its own kube-apiserver, etcd and MariaDB).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test $(GO_TEST_FLAGS) ./... -coverprofile cover.out
	go test ./webhooks/v1alpha1 -run '^$$' -fuzz FuzzValidate -fuzztime $(FUZZTIME)

.PHONY: test-e2e-node
test-e2e-node: ## Run the e2e suite on a real kubelet, containerd and runc started for it (root on Linux; see hack/e2e-node.sh).
	hack/e2e-node.sh

.PHONY: bench-e2e-node
bench-e2e-node: ## On the real node: kubectl ejob run over 20 pods against a shell loop of kubectl debug; prints both wall times.
	EJOB_BENCH=1 EJOB_BENCH_OUT="$(LOCALBIN)/bench-e2e-node.txt" E2E_NODE_GINKGO_ARGS="-ginkgo.label-filter=bench" hack/e2e-node.sh
	@cat "$(LOCALBIN)/bench-e2e-node.txt"

.PHONY: demo
demo: envtest-bins ## Play the proposal's Story 1 on this machine (local control plane, manager, MariaDB), then tear down.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" hack/demo.sh

.PHONY: demo-keep
demo-keep: envtest-bins ## Like demo, but keep everything running afterwards, until Ctrl-C.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" DEMO_KEEP=1 hack/demo.sh

## BENCHTIME is how long each Go benchmark of `make bench` runs.
BENCHTIME ?= 2s

.PHONY: bench
bench: envtest-bins ## Measure job time against the floor, 100 jobs at once, API requests, cache memory at 10,000 pods, the MySQL recorder and leader handovers; writes docs/benchmarks.md.
	@mkdir -p "$(LOCALBIN)"
	@date +%s > "$(LOCALBIN)/bench-started"
	go test ./internal/controller -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) | tee "$(LOCALBIN)/bench-go.txt"
	EJOB_BENCH=1 EJOB_BENCH_GO_RESULTS="$(LOCALBIN)/bench-go.txt" EJOB_BENCH_STARTED="$$(cat "$(LOCALBIN)/bench-started")" \
		KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test ./test/bench -run '^TestBench$$' -v -timeout 120m

## PODS are the cache sizes `make bench-memory` measures, ascending. 100,000 pods take about 19 GB in envtest:
## on a machine with less, `make bench-memory PODS="10000 30000"`.
PODS ?= 10000 30000 100000

.PHONY: bench-memory
bench-memory: envtest-bins ## Measure only the manager's memory and sync time with PODS pods in its cache (10,000, 30,000 and 100,000 by default: about 17 minutes); writes its section of docs/benchmarks.md, keeps bin/bench-heap.pprof.
	@mkdir -p "$(LOCALBIN)"
	EJOB_BENCH=1 EJOB_BENCH_PODS="$(PODS)" KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" \
		go test ./test/bench -run '^TestBenchMemory$$' -v -timeout 60m

.PHONY: verify
verify: manifests generate build-installer ## Fail when committed generated files (CRD, RBAC, webhook, deepcopy, dist/install.yaml) are stale.
	@if [ -n "$$(git status --porcelain -- api config dist/install.yaml)" ]; then \
		echo "Generated files are stale; run 'make manifests generate build-installer' and commit:"; \
		git status --porcelain -- api config dist/install.yaml; \
		git --no-pager diff --stat -- api config dist/install.yaml; \
		exit 1; \
	fi

.PHONY: lint
lint: golangci-lint ## Run golangci-lint linter
	"$(GOLANGCI_LINT)" run

.PHONY: lint-fix
lint-fix: golangci-lint ## Run golangci-lint linter and perform fixes
	"$(GOLANGCI_LINT)" run --fix

.PHONY: lint-config
lint-config: golangci-lint ## Verify golangci-lint linter configuration
	"$(GOLANGCI_LINT)" config verify

##@ Build

## VERSION and COMMIT are what `kubectl ejob version` prints. The plugin is stripped (-s -w), as kubectl's
## releases are: go-template output keeps every method of every type reachable, which makes it large.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
KUBECTL_EJOB_LDFLAGS = -s -w -X github.com/ephemeraljob/ephemeraljob-operator/internal/kubectlejob.version=$(VERSION) \
	-X github.com/ephemeraljob/ephemeraljob-operator/internal/kubectlejob.commit=$(COMMIT)

.PHONY: build
build: manifests generate fmt vet build-kubectl-ejob ## Build the manager binary and the kubectl plugin bin/kubectl-ejob.
	go build -o bin/manager cmd/main.go

.PHONY: build-kubectl-ejob
build-kubectl-ejob: ## Build only bin/kubectl-ejob, the kubectl plugin, and install bin/kubectl_complete-ejob beside it (kubectl's completion of `kubectl ejob`).
	go build -ldflags "$(KUBECTL_EJOB_LDFLAGS)" -o bin/kubectl-ejob ./cmd/kubectl-ejob
	install -m 0755 cmd/kubectl-ejob/kubectl_complete-ejob bin/kubectl_complete-ejob

.PHONY: plugin-release
plugin-release: ## Build kubectl ejob's release archives (linux, darwin; amd64, arm64) with sha256 sums and the krew manifest into dist/plugin/.
	VERSION="$(VERSION)" LDFLAGS="$(KUBECTL_EJOB_LDFLAGS)" hack/plugin-release.sh

.PHONY: run
run: manifests generate fmt vet install ## Run the manager from your host against the cluster in the current kubeconfig.
	ENABLE_WEBHOOKS=false go run ./cmd/main.go $(RUN_ARGS)

# If you wish to build the manager image targeting other platforms you can use the --platform flag.
# (i.e. docker build --platform linux/arm64). However, you must enable docker buildKit for it.
# More info: https://docs.docker.com/develop/develop-images/build_enhancements/
.PHONY: docker-build
docker-build: ## Build docker image with the manager.
	$(CONTAINER_TOOL) build -t ${IMG} .

## IMAGE_OCI is where image-oci writes the image. The image is the Dockerfile's (the manager built static,
## -trimpath -s -w, at /manager, ENTRYPOINT ["/manager"], USER 65532:65532) for this machine's architecture,
## on a base written from scratch instead of gcr.io/distroless/static:nonroot: /etc/passwd and /etc/group with
## root and nonroot (65532), /home/nonroot, /tmp, and this machine's CA bundle at
## /etc/ssl/certs/ca-certificates.crt (used for MYSQL_TLS=true); no tzdata, /etc/os-release or licences.
IMAGE_OCI ?= $(LOCALBIN)/manager-image.tar
## CA_BUNDLE is the CA bundle image-oci copies into the image.
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt

.PHONY: image-oci
image-oci: ## Build the Dockerfile's image without a container engine, as an OCI archive (IMAGE_OCI, default bin/manager-image.tar) for `ctr -n k8s.io images import`; its base is written from scratch, not distroless (see IMAGE_OCI above).
	@mkdir -p "$(LOCALBIN)/image"
	CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o "$(LOCALBIN)/image/manager" ./cmd
	go build -o "$(LOCALBIN)/image/nodetool" ./test/e2enode/nodetool
	"$(LOCALBIN)/image/nodetool" image -o "$(IMAGE_OCI)" -name "$(IMG)" -nonroot -ca-certs "$(CA_BUNDLE)" \
		-add "$(LOCALBIN)/image/manager:/manager" -entrypoint '["/manager"]'

.PHONY: docker-push
docker-push: ## Push docker image with the manager.
	$(CONTAINER_TOOL) push ${IMG}

# PLATFORMS defines the target platforms for the manager image be built to provide support to multiple
# architectures. (i.e. make docker-buildx IMG=myregistry/mypoperator:0.0.1). To use this option you need to:
# - be able to use docker buildx. More info: https://docs.docker.com/build/buildx/
# - have enabled BuildKit. More info: https://docs.docker.com/develop/develop-images/build_enhancements/
# - be able to push the image to your registry (i.e. if you do not set a valid value via IMG=<myregistry/image:<tag>> then the export will fail)
# To adequately provide solutions that are compatible with multiple platforms, you should consider using this option.
PLATFORMS ?= linux/arm64,linux/amd64,linux/s390x,linux/ppc64le
.PHONY: docker-buildx
docker-buildx: ## Build and push docker image for the manager for cross-platform support
	# copy existing Dockerfile and insert --platform=${BUILDPLATFORM} into Dockerfile.cross, and preserve the original Dockerfile
	sed -e '1 s/\(^FROM\)/FROM --platform=\$$\{BUILDPLATFORM\}/; t' -e ' 1,// s//FROM --platform=\$$\{BUILDPLATFORM\}/' Dockerfile > Dockerfile.cross
	- $(CONTAINER_TOOL) buildx create --name ephemeraljob-operator-builder
	$(CONTAINER_TOOL) buildx use ephemeraljob-operator-builder
	- $(CONTAINER_TOOL) buildx build --push --platform=$(PLATFORMS) --tag ${IMG} -f Dockerfile.cross .
	- $(CONTAINER_TOOL) buildx rm ephemeraljob-operator-builder
	rm Dockerfile.cross

## build-installer renders through an overlay in a temporary directory under bin/ (kustomize takes
## relative paths only), so that setting the image edits no file of config/; dist/install.yaml is
## committed as rendered with the default IMG.
.PHONY: build-installer
build-installer: manifests generate kustomize ## Render config/default into dist/install.yaml, the one file to `kubectl apply -f` (image: IMG).
	@mkdir -p dist
	@tmp="$$(mktemp -d "$(LOCALBIN)/installer.XXXXXX")"; trap 'rm -rf "$$tmp"' EXIT; \
	printf 'resources:\n- ../../config/default\n' > "$$tmp/kustomization.yaml"; \
	(cd "$$tmp" && "$(KUSTOMIZE)" edit set image controller=${IMG}); \
	"$(KUSTOMIZE)" build "$$tmp" > dist/install.yaml

##@ Deployment

ifndef ignore-not-found
  ignore-not-found = false
endif

.PHONY: install
install: manifests kustomize ## Install CRDs into the K8s cluster specified in ~/.kube/config.
	@out="$$( "$(KUSTOMIZE)" build config/crd 2>/dev/null || true )"; \
	if [ -n "$$out" ]; then echo "$$out" | "$(KUBECTL)" apply -f -; else echo "No CRDs to install; skipping."; fi

.PHONY: uninstall
uninstall: manifests kustomize ## Uninstall CRDs from the K8s cluster specified in ~/.kube/config. Call with ignore-not-found=true to ignore resource not found errors during deletion.
	@out="$$( "$(KUSTOMIZE)" build config/crd 2>/dev/null || true )"; \
	if [ -n "$$out" ]; then echo "$$out" | "$(KUBECTL)" delete --ignore-not-found=$(ignore-not-found) -f -; else echo "No CRDs to delete; skipping."; fi

.PHONY: deploy
deploy: manifests kustomize ## Deploy controller to the K8s cluster specified in ~/.kube/config.
	cd config/manager && "$(KUSTOMIZE)" edit set image controller=${IMG}
	"$(KUSTOMIZE)" build config/default | "$(KUBECTL)" apply -f -

.PHONY: undeploy
undeploy: kustomize ## Undeploy controller from the K8s cluster specified in ~/.kube/config. Call with ignore-not-found=true to ignore resource not found errors during deletion.
	"$(KUSTOMIZE)" build config/default | "$(KUBECTL)" delete --ignore-not-found=$(ignore-not-found) -f -

##@ Dependencies

## Location to install dependencies to
LOCALBIN ?= $(shell pwd)/bin
$(LOCALBIN):
	mkdir -p "$(LOCALBIN)"

## Tool Binaries
KUBECTL ?= kubectl
KUSTOMIZE ?= $(LOCALBIN)/kustomize
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
ENVTEST ?= $(LOCALBIN)/setup-envtest
GOLANGCI_LINT = $(LOCALBIN)/golangci-lint

## Tool Versions
KUSTOMIZE_VERSION ?= v5.8.1
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0

## ENVTEST_K8S_VERSION is the Kubernetes version of the envtest control plane (kube-apiserver, kubectl).
ENVTEST_K8S_VERSION ?= 1.37.2
## ENVTEST_ASSETS holds kube-apiserver, etcd and kubectl; hack/envtest-bins.sh fills it.
ENVTEST_ASSETS ?= $(LOCALBIN)/k8s/$(ENVTEST_K8S_VERSION)

.PHONY: envtest-bins
envtest-bins: ## Put kube-apiserver, etcd and kubectl into bin/k8s (built from source when they cannot be downloaded).
	@K8S_VERSION=$(ENVTEST_K8S_VERSION) ENVTEST_BIN_DIR="$(ENVTEST_ASSETS)" hack/envtest-bins.sh >/dev/null

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Download kustomize locally if necessary.
$(KUSTOMIZE): $(LOCALBIN)
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Download controller-gen locally if necessary.
$(CONTROLLER_GEN): $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: envtest
envtest: $(ENVTEST) ## Download setup-envtest locally (it needs internet; envtest-bins falls back to building).
$(ENVTEST): $(LOCALBIN)
	$(call go-install-tool,$(ENVTEST),sigs.k8s.io/controller-runtime/tools/setup-envtest,release-0.25)

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Download golangci-lint locally if necessary.
$(GOLANGCI_LINT): $(LOCALBIN)
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

# go-install-tool will 'go install' any package with custom target and name of binary, if it doesn't exist
# $1 - target path with name of binary
# $2 - package url which can be installed
# $3 - specific version of package
define go-install-tool
@[ -f "$(1)-$(3)" ] && [ "$$(readlink -- "$(1)" 2>/dev/null)" = "$(1)-$(3)" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Downloading $${package}" ;\
rm -f "$(1)" ;\
GOBIN="$(LOCALBIN)" go install $${package} ;\
mv "$(LOCALBIN)/$$(basename "$(1)")" "$(1)-$(3)" ;\
} ;\
ln -sf "$$(realpath "$(1)-$(3)")" "$(1)"
endef
