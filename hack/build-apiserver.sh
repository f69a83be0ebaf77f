#!/usr/bin/env bash
# Builds the real kube-apiserver for the test bed from Go modules (hack/kube-apiserver/go.mod pins the
# version and every staging module), once: the binary is cached outside the repo, keyed by version.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="v1.34.4"
cache="${KUBE_REGCRED_CACHE:-$HOME/.cache/kube-regcred}"
binary="$cache/kube-apiserver-$version"

if [ -x "$binary" ] && "$binary" --version 2>/dev/null | grep -qx "Kubernetes $version"; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  [ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
  echo "build-apiserver: Go is needed to build kube-apiserver $version for the test bed, and it is not installed" >&2
  exit 1
fi

mkdir -p "$cache"
minor="${version#v1.}"; minor="${minor%%.*}"
pkgs=(k8s.io/component-base/version k8s.io/client-go/pkg/version)
ldflags="-s -w"
for p in "${pkgs[@]}"; do
  ldflags+=" -X $p.gitVersion=$version -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
echo "build-apiserver: building kube-apiserver $version from Go modules (cold: about 3-10 minutes)" >&2
start=$(date +%s)
cd "$here/kube-apiserver"
# The apiserver emulation-version check needs the real version stamped in (see ldflags above).
GOTOOLCHAIN=local CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$binary.tmp.$$" .
mv "$binary.tmp.$$" "$binary"
echo "build-apiserver: built $binary in $(( $(date +%s) - start )) s" >&2
