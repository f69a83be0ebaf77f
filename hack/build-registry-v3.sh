#!/usr/bin/env bash
# Builds the Distribution 3.x registry (Debian ships 2.8 only) from its Go module, once: the token
# service's `jwks` header style is what 3.x verifies, and the tests prove it against the real thing.
set -euo pipefail
version="v3.0.0"
cache="${KUBE_REGCRED_CACHE:-$HOME/.cache/kube-regcred}"
binary="$cache/registry-$version"

[ -x "$binary" ] && exit 0
if ! command -v go >/dev/null 2>&1; then
  [ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
  echo "build-registry-v3: Go is needed to build Distribution $version for the test bed, and it is not installed" >&2
  exit 1
fi
mkdir -p "$cache"
gobin="$(mktemp -d)"
trap 'rm -rf "$gobin"' EXIT
echo "build-registry-v3: building Distribution registry $version from Go modules" >&2
start=$(date +%s)
GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$gobin" go install -trimpath -ldflags "-s -w" \
  "github.com/distribution/distribution/v3/cmd/registry@$version"
mv "$gobin/registry" "$binary"
echo "build-registry-v3: built $binary in $(( $(date +%s) - start )) s" >&2
