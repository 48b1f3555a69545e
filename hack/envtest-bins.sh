#!/usr/bin/env bash
# envtest-bins.sh puts the control-plane binaries the tests need into a directory
# (default ./bin/k8s/<version>): kube-apiserver, etcd and kubectl.
#
# It tries, in order:
#   1. binaries already there (cached from an earlier run);
#   2. setup-envtest, when it can reach its download site (skipped with ENVTEST_OFFLINE=1);
#   3. building kube-apiserver and kubectl from k8s.io/kubernetes, and etcd from
#      go.etcd.io/etcd/server/v3, through the Go module proxy with throwaway wrapper modules
#      (etcd from Debian's etcd-server package when its build fails).
#
# It prints the directory on stdout, so callers can do
#   export KUBEBUILDER_ASSETS=$(hack/envtest-bins.sh)
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${ENVTEST_BIN_DIR:-$ROOT/bin/k8s/$K8S_VERSION}"
EXTRA="${ENVTEST_EXTRA_BINS:-}" # e.g. "kubelet kube-scheduler kube-controller-manager"

log() { echo "envtest-bins: $*" >&2; }

have_all() {
  local b
  for b in kube-apiserver etcd kubectl $EXTRA; do
    [ -x "$DEST/$b" ] || return 1
  done
}

mkdir -p "$DEST"
if have_all; then
  echo "$DEST"
  exit 0
fi

# 2. setup-envtest, only if its site answers quickly (it never does offline).
if [ "${ENVTEST_OFFLINE:-}" != "1" ] && [ -z "$EXTRA" ] && [ -x "$ROOT/bin/setup-envtest" ]; then
  if dir=$(timeout 30 "$ROOT/bin/setup-envtest" use "$K8S_VERSION" --bin-dir "$ROOT/bin" -p path 2>/dev/null) && [ -n "$dir" ]; then
    for b in kube-apiserver etcd kubectl; do
      [ -x "$dir/$b" ] && cp -f "$dir/$b" "$DEST/$b"
    done
    have_all && { echo "$DEST"; exit 0; }
  fi
  log "setup-envtest could not download binaries; building from source"
fi

# 3a. etcd, built from its Go module through the module proxy: the API server streams an
# informer's initial list (watch-list) only from etcd 3.4.31 / 3.5.13 on, and Debian's
# etcd-server is 3.4.23. Debian's package is the fallback when the build fails.
build_etcd() {
  local work
  work="$(mktemp -d)"
  (
    cd "$work"
    go mod init etcd-wrapper >/dev/null 2>&1
    go mod edit -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' > main.go
    GOFLAGS=-mod=mod go mod tidy >&2
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$DEST/etcd" . >&2
  )
  local rc=$?
  rm -rf "$work"
  return $rc
}
ETCD_VERSION="${ETCD_VERSION:-v3.7.0}"
if [ ! -x "$DEST/etcd" ]; then
  log "building etcd $ETCD_VERSION through the Go module proxy"
  build_etcd || log "could not build etcd $ETCD_VERSION; using Debian's etcd-server (no streaming lists)"
fi
if [ ! -x "$DEST/etcd" ]; then
  if ! command -v etcd >/dev/null 2>&1 && [ ! -x /usr/bin/etcd ]; then
    log "installing Debian's etcd-server"
    if [ "$(id -u)" = 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server >&2 ||
        { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server >&2; }
    else
      log "etcd not found: install Debian's etcd-server (sudo apt-get install etcd-server)"; exit 1
    fi
    # The package starts a system etcd on the default ports; the tests want none.
    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now etcd >/dev/null 2>&1 || true; fi
    pkill -x etcd >/dev/null 2>&1 || true
  fi
  ln -sf "$(command -v etcd || echo /usr/bin/etcd)" "$DEST/etcd"
fi

# 3b. kube-apiserver, kubectl (and any extras) from k8s.io/kubernetes.
need=()
for b in kube-apiserver kubectl $EXTRA; do
  [ -x "$DEST/$b" ] || need+=("$b")
done
if [ ${#need[@]} -gt 0 ]; then
  log "building ${need[*]} v$K8S_VERSION through the Go module proxy (about 8-10 minutes the first time)"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  minor="${K8S_VERSION#*.}"; minor="${minor%%.*}"
  staging_version="v0.${K8S_VERSION#*.}"
  (
    cd "$work"
    go mod init envtest-wrapper >/dev/null 2>&1
    go mod edit -require="k8s.io/kubernetes@v$K8S_VERSION"
    for m in api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider \
      cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api \
      cri-client cri-streaming csi-translation-lib dynamic-resource-allocation endpointslice externaljwt \
      kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics \
      mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller streaming; do
      go mod edit -replace="k8s.io/$m=k8s.io/$m@$staging_version"
    done
    pkgs=()
    for b in "${need[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
    printf 'package tools\n\nimport (\n' > tools.go
    for p in "${pkgs[@]}"; do printf '\t_ "%s"\n' "$p" >> tools.go; done
    printf ')\n' >> tools.go
    sed -i '1i //go:build tools\n' tools.go
    GOFLAGS=-mod=mod go mod tidy >&2
    ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
    ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    for p in "${pkgs[@]}"; do
      CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$DEST/$(basename "$p")" "$p" >&2
    done
  )
fi

have_all || { log "some binaries are still missing in $DEST"; exit 1; }
echo "$DEST"
