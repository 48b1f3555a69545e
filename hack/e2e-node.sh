#!/usr/bin/env bash
# e2e-node.sh runs the end-to-end suite (test/e2enode) on a real single-node cluster:
# etcd, kube-apiserver, kube-scheduler, kube-controller-manager, containerd, runc, a
# kubelet and kube-proxy, all under one temporary directory, then tears everything down.
#
# Networking: pods get addresses of POD_SUBNET on the bridge BRIDGE (CNI bridge plugin);
# kube-apiserver listens on the node IP (the machine's first global IPv4 address), which
# pods reach through the bridge's gateway, and the lease endpoint reconciler points the
# kubernetes Service there; kube-proxy (nftables mode) routes Service ClusterIPs, for pods
# and for the host, whose kube-apiserver calls webhooks through their Service's ClusterIP.
#
# It needs root on Linux with cgroups. It installs Debian's containerd, runc,
# containernetworking-plugins, nftables and busybox-static when they are missing, builds
# the Kubernetes binaries through the Go module proxy into bin/ (cached after the first
# run), writes the images the suite's manifests name as OCI image-layout tarballs, the
# operator's own with `make image-oci`, and imports them into containerd: nothing is
# pulled from a registry.
#
# The suite runs every spec against the operator deployed as pods, installed from
# dist/install.yaml with MySQL turned on through config/mysql; see test/e2enode/suite_test.go.
#
# Environment:
#   E2E_NODE_KEEP=1             keep the components' logs (the path is printed at the end)
#   E2E_NODE_KEEP_ON_FAILURE=1  keep them only when the run fails
#   E2E_NODE_GINKGO_ARGS        extra arguments for the suite, e.g. "-ginkgo.focus=Story"

# The teardown and its helpers run from a trap, which shellcheck does not follow.
# shellcheck disable=SC2317
set -euo pipefail

start=$(date +%s)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
K8S_VERSION="${K8S_VERSION:-1.37.2}"
BRIDGE=ejobe2e0
POD_SUBNET=10.244.0.0/24
SERVICE_SUBNET=10.96.0.0/16
KUBERNETES_SERVICE_IP=10.96.0.1
# The operator's image: pods name it so, `make image-oci` writes it.
OPERATOR_IMAGE=ephemeraljob-operator:e2e-node

log() { echo "e2e-node: $*" >&2; }
die() { echo "e2e-node: $*" >&2; exit 1; }

# --- What the machine must offer -------------------------------------------------------
[ "$(uname -s)" = Linux ] || die "needs Linux (a kubelet, containerd and runc); this machine runs $(uname -s)"
[ "$(id -u)" = 0 ] || die "needs root to run a kubelet, containerd and runc: run 'sudo make test-e2e-node'"
if ! grep -qE '\scgroup2?\s' /proc/mounts; then
  die "needs cgroups mounted (none found in /proc/mounts): containers cannot run here"
fi
if ! grep -qw overlay /proc/filesystems && ! modprobe overlay 2>/dev/null; then
  die "needs the overlay filesystem for containerd's snapshotter"
fi

# --- Debian packages ---------------------------------------------------------------------
pkgs=()
command -v containerd >/dev/null 2>&1 || pkgs+=(containerd)
command -v runc >/dev/null 2>&1 || pkgs+=(runc)
[ -x /usr/lib/cni/bridge ] || pkgs+=(containernetworking-plugins)
command -v nft >/dev/null 2>&1 || pkgs+=(nftables)
[ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null)" = "install ok installed" ] || pkgs+=(busybox-static)
[ -x /usr/sbin/mariadbd ] || command -v mariadbd >/dev/null 2>&1 || pkgs+=(mariadb-server)
[ -x /usr/bin/etcd ] || command -v etcd >/dev/null 2>&1 || pkgs+=(etcd-server)
if [ ${#pkgs[@]} -gt 0 ]; then
  log "installing ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${pkgs[@]}" >&2 || { apt-get update -q >&2 && apt-get install -y -q "${pkgs[@]}" >&2; }
  # Packages may start system services; the suite runs its own.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now containerd etcd mariadb >/dev/null 2>&1 || true; fi
fi
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || BUSYBOX="$(command -v busybox)"

# --- Binaries ------------------------------------------------------------------------------
# kube-apiserver, kubectl and etcd are shared with envtest (bin/k8s/<version>); the node's
# other components are built beside links to them in bin/node/<version>.
ENVTEST_DIR="$(K8S_VERSION=$K8S_VERSION "$ROOT/hack/envtest-bins.sh")"
K8S_BIN="$ROOT/bin/node/$K8S_VERSION"
mkdir -p "$K8S_BIN"
for b in kube-apiserver kubectl etcd; do
  [ -e "$K8S_BIN/$b" ] || ln -sf "$ENVTEST_DIR/$b" "$K8S_BIN/$b"
done
K8S_VERSION=$K8S_VERSION ENVTEST_BIN_DIR="$K8S_BIN" ENVTEST_EXTRA_BINS="kubelet kube-scheduler kube-controller-manager kube-proxy" \
  "$ROOT/hack/envtest-bins.sh" >/dev/null
KUBECTL="$K8S_BIN/kubectl"

OUT="$ROOT/bin/e2e-node"
mkdir -p "$OUT"
log "building the operator, the images' programs and the suite"
(
  cd "$ROOT"
  go build -o "$OUT/plugins/kubectl-ejob" ./cmd/kubectl-ejob
  go build -o "$OUT/nodetool" ./test/e2enode/nodetool
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$OUT/pause" ./test/e2enode/images/pause
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$OUT/helloworld" ./test/e2enode/images/helloworld
  go test -c -o "$OUT/e2enode.test" ./test/e2enode
  # The operator's image, as a user builds it without a container engine.
  make --no-print-directory image-oci IMG="$OPERATOR_IMAGE" IMAGE_OCI="$OUT/operator-image.tar" >&2
)
NODETOOL="$OUT/nodetool"

# --- The temporary root and its teardown -----------------------------------------------------
R="$(mktemp -d /tmp/ejob-e2e-node.XXXXXX)"
chmod 755 "$R"
mkdir -p "$R/logs" "$R/tmp" "$R/images"
declare -A PIDS=()
ORDER=()
# Paths containerd, runc, CNI and the kubelet use whatever they are told: what existed
# before the run is kept, what the run added is removed.
HARDCODED=(/run/containerd /run/netns /var/lib/cni /var/log/containers /var/lib/kubelet)
declare -A BEFORE=()
for p in "${HARDCODED[@]}"; do
  if [ -e "$p" ]; then BEFORE[$p]="$(find "$p" -mindepth 1 -maxdepth 1 -printf '%f ' 2>/dev/null)"; fi
done
CGROUP_MOUNTS=()
while read -r _ mnt fstype _; do
  case "$fstype" in cgroup | cgroup2) CGROUP_MOUNTS+=("$mnt") ;; esac
done </proc/mounts
declare -A CGROUP_BEFORE=()
for m in "${CGROUP_MOUNTS[@]}"; do
  for g in kubepods k8s.io; do [ -d "$m/$g" ] && CGROUP_BEFORE["$m/$g"]=1; done
done
BRIDGE_BEFORE=0
ip link show "$BRIDGE" >/dev/null 2>&1 && BRIDGE_BEFORE=1
# The kubelet is told not to add iptables chains; any KUBE-* chain that appears anyway goes.
iptables_chains() { # iptables_chains CMD: "table/chain" of every KUBE-* chain
  local t
  for t in filter nat mangle; do "$1" -t "$t" -S 2>/dev/null | awk -v t="$t" '$1 == "-N" && $2 ~ /^KUBE-/ {print t "/" $2}'; done
}
declare -A IPT_BEFORE=()
for ipt in iptables ip6tables; do
  command -v "$ipt" >/dev/null 2>&1 || continue
  for c in $(iptables_chains "$ipt"); do IPT_BEFORE["$ipt/$c"]=1; done
done
clean_iptables() {
  local ipt c t chain rule
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null 2>&1 || continue
    for c in $(iptables_chains "$ipt"); do
      [ -n "${IPT_BEFORE["$ipt/$c"]:-}" ] && continue
      t=${c%%/*} chain=${c#*/}
      "$ipt" -t "$t" -S | grep -E -- "^-A .* -j $chain( |$)" | while read -r _ rule; do
        eval "\"$ipt\" -t \"$t\" -D $rule"
      done
      "$ipt" -t "$t" -F "$chain" && "$ipt" -t "$t" -X "$chain"
    done
  done
}
# kube-proxy keeps its rules in nftables tables of its own.
NFT_TABLES=("ip kube-proxy" "ip6 kube-proxy")
declare -A NFT_BEFORE=()
for t in "${NFT_TABLES[@]}"; do
  # shellcheck disable=SC2086
  nft list table $t >/dev/null 2>&1 && NFT_BEFORE[$t]=1
done
# The kubelet and kube-proxy tune these sysctls, the script sets bridge-nf-call-iptables;
# the teardown puts them back.
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes
  net.bridge.bridge-nf-call-iptables net.ipv4.conf.all.route_localnet net.netfilter.nf_conntrack_max)
declare -A SYSCTL_BEFORE=()
for s in "${SYSCTLS[@]}"; do SYSCTL_BEFORE[$s]="$(sysctl -n "$s" 2>/dev/null || true)"; done

stop_pid() { # stop_pid NAME PID SECONDS: SIGTERM, then SIGKILL after SECONDS
  local name=$1 pid=$2 secs=$3 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  log "$name did not stop in ${secs}s: killing it"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# pids_under_root prints the processes whose command line names the temporary root:
# container shims, the suite's MariaDB and operator.
pids_under_root() {
  local d pid
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    [ "$pid" = $$ ] && continue
    if tr '\0' ' ' 2>/dev/null <"$d/cmdline" | grep -qF "$R/"; then echo "$pid"; fi
  done
}

# pids_in_cgroups prints the processes left in the pods' cgroups.
pids_in_cgroups() {
  local m g
  for m in "${CGROUP_MOUNTS[@]}"; do
    for g in kubepods k8s.io; do
      [ -d "$m/$g" ] && [ -z "${CGROUP_BEFORE["$m/$g"]:-}" ] && find "$m/$g" -name cgroup.procs -exec cat {} + 2>/dev/null
    done
  done | sort -un
}

teardown() {
  local rc=$? p m g pid leftovers name
  trap - EXIT INT TERM
  set +e
  local down
  down=$(date +%s)
  log "tearing down"
  # Pods first, through the kubelet, so that it stops their sandboxes (CNI teardown, netns).
  if [ -n "${PIDS[kube-controller-manager]:-}" ]; then stop_pid kube-controller-manager "${PIDS[kube-controller-manager]}" 10; fi
  if [ -n "${PIDS[kubelet]:-}" ] && kill -0 "${PIDS[kubelet]}" 2>/dev/null && [ -f "$R/pki/admin.kubeconfig" ]; then
    "$KUBECTL" --kubeconfig "$R/pki/admin.kubeconfig" delete pods --all --all-namespaces --grace-period=1 \
      --timeout=90s >"$R/logs/teardown-pods.log" 2>&1 || log "deleting the pods failed: see $R/logs/teardown-pods.log"
  fi
  for ((i = ${#ORDER[@]} - 1; i >= 0; i--)); do
    name=${ORDER[i]}
    stop_pid "$name" "${PIDS[$name]}" 20
  done
  # Whatever survived: shims, container processes, MariaDB, the operator.
  for _ in 1 2 3; do
    leftovers="$(pids_under_root; pids_in_cgroups)"
    [ -z "$leftovers" ] && break
    for pid in $leftovers; do kill -KILL "$pid" 2>/dev/null; done
    sleep 0.5
  done
  # Mounts: container rootfs, shm, volumes, netns, the kubelet's bind mount of its root.
  for _ in 1 2; do
    findmnt -rn -o TARGET | grep -E "^($R|/run/containerd|/run/netns|/var/lib/kubelet)(/|$)" | sort -r |
      while read -r m; do
        if [ -e /run/netns ] && [[ "$m" == /run/netns/* ]] && [[ " ${BEFORE[/run/netns]:-} " == *" ${m#/run/netns/} "* ]]; then continue; fi
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
      done
  done
  for p in "${HARDCODED[@]}"; do
    if [ -z "${BEFORE[$p]+set}" ]; then
      rm -rf "$p"
    elif [ -d "$p" ]; then
      find "$p" -mindepth 1 -maxdepth 1 -printf '%f\n' | while read -r e; do
        [[ " ${BEFORE[$p]} " == *" $e "* ]] || rm -rf "${p:?}/$e"
      done
    fi
  done
  for m in "${CGROUP_MOUNTS[@]}"; do
    for g in kubepods k8s.io; do
      if [ -d "$m/$g" ] && [ -z "${CGROUP_BEFORE["$m/$g"]:-}" ]; then
        find "$m/$g" -depth -type d -exec rmdir {} + 2>/dev/null
        [ -d "$m/$g" ] && log "cgroup $m/$g is still there"
      fi
    done
  done
  if [ "$BRIDGE_BEFORE" = 0 ] && ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
  clean_iptables
  for t in "${NFT_TABLES[@]}"; do
    # shellcheck disable=SC2086
    [ -z "${NFT_BEFORE[$t]:-}" ] && nft list table $t >/dev/null 2>&1 && nft delete table $t
  done
  for s in "${SYSCTLS[@]}"; do
    [ -n "${SYSCTL_BEFORE[$s]}" ] && sysctl -q -w "$s=${SYSCTL_BEFORE[$s]}" >/dev/null 2>&1
  done
  if [ "${E2E_NODE_KEEP:-}" = 1 ] || { [ "$rc" != 0 ] && [ "${E2E_NODE_KEEP_ON_FAILURE:-}" = 1 ]; }; then
    find "$R" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} +
    log "logs kept in $R/logs"
  else
    if [ "$rc" != 0 ]; then
      for name in "${ORDER[@]}"; do
        echo "----- last lines of $name's log" >&2
        tail -n 15 "$R/logs/$name.log" >&2 2>/dev/null
      done
    fi
    rm -rf "$R"
  fi
  log "teardown $(($(date +%s) - down))s, total $(($(date +%s) - start))s"
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

run_bg() { # run_bg NAME CMD...: start a component in its own session, logging to logs/NAME.log
  local name=$1
  shift
  setsid "$@" >"$R/logs/$name.log" 2>&1 </dev/null &
  PIDS[$name]=$!
  ORDER+=("$name")
}

wait_for() { # wait_for WHAT SECONDS NAME CMD...: poll CMD until it succeeds, while NAME runs
  local what=$1 secs=$2 name=$3 i
  shift 3
  for ((i = 0; i < secs * 5; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "${PIDS[$name]}" 2>/dev/null; then
      tail -n 30 "$R/logs/$name.log" >&2
      die "$name exited while waiting for $what"
    fi
    sleep 0.2
  done
  tail -n 30 "$R/logs/$name.log" >&2
  die "timed out after ${secs}s waiting for $what"
}

# --- Identity, ports, certificates ---------------------------------------------------------------
# The kubelet refuses a loopback node IP: the node's InternalIP is the machine's address,
# while its name resolves to 127.0.0.1 so that the API server reaches it on loopback.
NODE_IP="$(ip -4 -o addr show scope global | awk '{split($4, a, "/"); print a[1]; exit}')"
[ -n "$NODE_IP" ] || die "the machine has no global IPv4 address to use as the node IP"
NODE="$(hostname | tr '[:upper:]' '[:lower:]')"
if ! getent ahostsv4 "$NODE" 2>/dev/null | awk '{print $1}' | grep -q '^127\.'; then NODE=localhost; fi
read -r ETCD_PORT ETCD_PEER_PORT API_PORT KUBELET_PORT KUBELET_HEALTHZ_PORT PROXY_HEALTHZ_PORT PROXY_METRICS_PORT \
  <<<"$("$NODETOOL" ports 7)"
# The API server listens on the node IP: pods reach it there, through the kubernetes Service.
SERVER="https://$NODE_IP:$API_PORT"
PKI="$R/pki"
"$NODETOOL" pki "$PKI" "$SERVER" "$NODE" "$NODE_IP"
ADMIN="$PKI/admin.kubeconfig"
k() { "$KUBECTL" --kubeconfig "$ADMIN" "$@"; }

# --- Images -------------------------------------------------------------------------------------
# One uncompressed layer each, named as the manifests name them. busybox comes from Debian's
# busybox-static; "nginx" is a stand-in whose entrypoint is busybox's httpd.
PAUSE_IMAGE=registry.k8s.io/pause:3.10
"$NODETOOL" image -o "$R/images/pause.tar" -name "$PAUSE_IMAGE" -add "$OUT/pause:/pause" -entrypoint '["/pause"]'
"$NODETOOL" image -o "$R/images/busybox.tar" -name docker.io/library/busybox:latest -busybox "$BUSYBOX" -cmd '["sh"]'
"$NODETOOL" image -o "$R/images/helloworld.tar" -name reg.docker.alibaba-inc.com/zhoushua/helloworld:v1.1 \
  -busybox "$BUSYBOX" -add "$OUT/helloworld:/usr/local/bin/helloworld" -entrypoint '["/usr/local/bin/helloworld"]'
"$NODETOOL" image -o "$R/images/nginx.tar" -name docker.io/library/nginx:latest -busybox "$BUSYBOX" \
  -file "/www/index.html=<h1>nginx stand-in: busybox httpd</h1>" -entrypoint '["httpd", "-f", "-v", "-p", "80", "-h", "/www"]'

# --- Control plane ------------------------------------------------------------------------------
log "starting etcd, kube-apiserver (node $NODE, $NODE_IP)"
run_bg etcd "$K8S_BIN/etcd" --name e2e-node --data-dir "$R/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "e2e-node=http://127.0.0.1:$ETCD_PEER_PORT"
wait_for etcd 30 etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health"

run_bg kube-apiserver "$K8S_BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address "$NODE_IP" --secure-port "$API_PORT" --advertise-address "$NODE_IP" \
  --cert-dir "$R/apiserver" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --client-ca-file "$PKI/ca.crt" --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
  --service-account-issuer https://kubernetes.default.svc.cluster.local --service-account-key-file "$PKI/sa.pub" \
  --service-account-signing-key-file "$PKI/sa.key" --service-cluster-ip-range "$SERVICE_SUBNET" --allow-privileged \
  --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types Hostname,InternalIP
wait_for kube-apiserver 90 kube-apiserver k get --raw /readyz

run_bg kube-controller-manager "$K8S_BIN/kube-controller-manager" --kubeconfig "$PKI/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$PKI/controller-manager.kubeconfig" --authorization-kubeconfig "$PKI/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false --use-service-account-credentials \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt"
run_bg kube-scheduler "$K8S_BIN/kube-scheduler" --kubeconfig "$PKI/scheduler.kubeconfig" \
  --authentication-kubeconfig "$PKI/scheduler.kubeconfig" --authorization-kubeconfig "$PKI/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false

# --- containerd -----------------------------------------------------------------------------------
# No systemd: containerd runs by hand with every directory under the root. The sandbox
# asks runc for an oom_score_adj the machine may not grant (no CAP_SYS_RESOURCE):
# restrict_oom_score_adj clamps it.
mkdir -p "$R/cni/net.d" "$R/containerd"
cat >"$R/cni/net.d/10-ejob-e2e.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "ejob-e2e",
  "plugins": [{
    "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
    "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_SUBNET"}]], "routes": [{"dst": "0.0.0.0/0"}],
             "dataDir": "$R/cni/ipam"}
  }]
}
EOF
CONTAINERD_SOCK="$R/containerd/containerd.sock"
cat >"$R/containerd/config.toml" <<EOF
version = 2
root = "$R/containerd/root"
state = "$R/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$R/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  enable_cdi = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$R/cni/net.d"
EOF
log "starting containerd, importing images"
run_bg containerd containerd --config "$R/containerd/config.toml"
ctr_() { ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }
wait_for containerd 30 containerd ctr --address "$CONTAINERD_SOCK" version
for img in "$R"/images/*.tar "$OUT/operator-image.tar"; do
  ctr_ images import "$img" >>"$R/logs/images.log" 2>&1 || { cat "$R/logs/images.log" >&2; die "importing $img failed"; }
done

# --- kubelet --------------------------------------------------------------------------------------
cat >"$R/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
oomScoreAdj: 0
podLogsDir: $R/pod-logs
volumePluginDir: $R/kubelet-plugins
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%"}
serializeImagePulls: false
registerNode: true
makeIPTablesUtilChains: false
EOF
log "starting the kubelet"
run_bg kubelet "$K8S_BIN/kubelet" --config "$R/kubelet-config.yaml" --kubeconfig "$PKI/kubelet.kubeconfig" \
  --root-dir "$R/kubelet" --cert-dir "$R/kubelet-pki" --hostname-override "$NODE" --node-ip "$NODE_IP" --v 2
wait_for "node $NODE to register" 120 kubelet k get node "$NODE"
wait_for "node $NODE to be Ready" 120 kubelet k wait --for=condition=Ready "node/$NODE" --timeout=2s

# --- kube-proxy ------------------------------------------------------------------------------------
# nftables mode, in tables of its own. Bridged traffic between pods passes netfilter
# (br_netfilter), so that a pod reaching another pod on the bridge through a Service gets
# the answer translated back. Conntrack and oom_score_adj are left as they are: the
# machine may not grant CAP_SYS_RESOURCE.
modprobe br_netfilter 2>/dev/null || true
sysctl -q -w net.bridge.bridge-nf-call-iptables=1 >/dev/null 2>&1 ||
  log "cannot set net.bridge.bridge-nf-call-iptables: Services between pods on the bridge may not answer"
cat >"$R/kube-proxy-config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection: {kubeconfig: $PKI/kube-proxy.kubeconfig}
hostnameOverride: $NODE
healthzBindAddress: 127.0.0.1:$PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$PROXY_METRICS_PORT
clusterCIDR: $POD_SUBNET
detectLocalMode: ClusterCIDR
oomScoreAdj: 0
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
log "starting kube-proxy"
run_bg kube-proxy "$K8S_BIN/kube-proxy" --config "$R/kube-proxy-config.yaml" --v 2
wait_for "the kubernetes Service's ClusterIP to reach the API server" 60 kube-proxy \
  curl -sf --max-time 2 --cacert "$PKI/ca.crt" "https://$KUBERNETES_SERVICE_IP/readyz"
wait_for "the default ServiceAccount" 60 kube-controller-manager k get serviceaccount default -n default
log "cluster up in $(($(date +%s) - start))s"

# --- The suite ---------------------------------------------------------------------------------------
# The suite installs the operator as pods of the image `make image-oci` wrote, and starts
# its own MariaDB on the node IP (under $R/tmp, so the teardown finds it).
suite() {
  # shellcheck disable=SC2086
  (
    cd "$ROOT/test/e2enode"
    TMPDIR="$R/tmp" E2E_NODE_KUBECONFIG="$ADMIN" E2E_NODE_KUBECTL="$KUBECTL" \
      E2E_NODE_KUBECTL_EJOB="$OUT/plugins/kubectl-ejob" E2E_NODE_NAME="$NODE" E2E_NODE_LOG_DIR="$R/logs" \
      E2E_NODE_OPERATOR_IMAGE="$OPERATOR_IMAGE" E2E_NODE_CONTAINERD_ADDRESS="$CONTAINERD_SOCK" \
      "$OUT/e2enode.test" -test.v -test.timeout 20m -ginkgo.v ${E2E_NODE_GINKGO_ARGS:-}
  )
}
set +e
suite_start=$(date +%s)
log "running the suite"
suite
rc=$?
log "the suite took $(($(date +%s) - suite_start))s"
[ $rc = 0 ] || log "the suite failed (exit $rc)"
set -e
exit $rc
