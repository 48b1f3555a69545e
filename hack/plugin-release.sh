#!/usr/bin/env bash
# Builds kubectl ejob's release archives for linux and darwin, amd64 and arm64, with their
# sha256 sums, and renders the krew manifest plugins/ejob.yaml for them, into dist/plugin/.
#
#   VERSION      the release's version (default: git describe)
#   RELEASE_URL  where the archives will be downloaded from
#   LDFLAGS      the linker flags that stamp the version (the Makefile's KUBECTL_EJOB_LDFLAGS)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
RELEASE_URL=${RELEASE_URL:-https://github.com/ephemeraljob/ephemeraljob-operator/releases/download/$VERSION}
OUT=dist/plugin
rm -rf "$OUT" && mkdir -p "$OUT"
manifest=$(sed -e "s|{{VERSION}}|$VERSION|g" -e "s|{{URL}}|$RELEASE_URL|g" plugins/ejob.yaml)
for platform in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64; do
  os=${platform%/*} arch=${platform#*/}
  stage=$(mktemp -d)
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -ldflags "${LDFLAGS:-}" -o "$stage/kubectl-ejob" ./cmd/kubectl-ejob
  install -m 0755 cmd/kubectl-ejob/kubectl_complete-ejob "$stage/kubectl_complete-ejob"
  archive="kubectl-ejob_${VERSION}_${os}_${arch}.tar.gz"
  # Reproducible: fixed order, owner and times.
  tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - kubectl-ejob kubectl_complete-ejob |
    gzip -n >"$OUT/$archive"
  rm -rf "$stage"
  sum=$(sha256sum "$OUT/$archive" | cut -d' ' -f1)
  echo "$sum  $archive" >>"$OUT/sha256sums.txt"
  manifest=${manifest//"{{SHA256_${os}_${arch}}}"/$sum}
  echo "plugin-release: $archive $sum"
done
printf '%s\n' "$manifest" >"$OUT/ejob.yaml"
if grep -q '{{' "$OUT/ejob.yaml"; then
  echo "plugin-release: placeholders left in $OUT/ejob.yaml" >&2
  exit 1
fi
echo "plugin-release: $OUT/ejob.yaml (krew manifest), $OUT/sha256sums.txt"
