#!/usr/bin/env bash
# demo.sh runs the proposal's Story 1 on this machine (see `make demo`): it installs what a
# fresh Debian machine lacks (MariaDB), builds the demo, and runs it. The envtest binaries
# come from `make envtest-bins`. DEMO_KEEP=1 keeps everything running afterwards, until Ctrl-C.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
  echo "demo: installing Debian's mariadb-server (the demo starts a private mariadbd of its own)"
  sudo_=""
  [ "$(id -u)" = 0 ] || sudo_="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_ apt-get install -y -q mariadb-server >/dev/null ||
    { $sudo_ apt-get update -q >/dev/null && $sudo_ apt-get install -y -q mariadb-server >/dev/null; }
  # The package may start a system MariaDB on port 3306; the demo needs none.
  if command -v systemctl >/dev/null 2>&1; then $sudo_ systemctl disable --now mariadb >/dev/null 2>&1 || true; fi
fi

go build -o bin/demo ./cmd/demo
exec bin/demo "$@"
