#!/usr/bin/env bash
# Builds the real Kubernetes components of the test bed from Go modules (hack/kube/go.mod pins the version
# and every staging module), once: each binary is cached outside the repo, keyed by version, and later runs
# skip the build. All missing binaries are built by one `go build`, so shared packages compile once, and a
# lock on the cache makes a second caller wait for the first instead of building the same thing again.
#
#   bash hack/build-kube.sh [component ...]     default: kube-apiserver kubelet pause
#   components: kube-apiserver kubelet kube-controller-manager kube-scheduler pause
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="v1.34.4"
cache="${KUBE_REGCRED_CACHE:-$HOME/.cache/kube-regcred}"
components=("$@")
[ "${#components[@]}" -gt 0 ] || components=(kube-apiserver kubelet pause)

# The pause program has no Kubernetes version: its cache key is its source.
pause_key="$(sha256sum "$here/kube/cmd/pause/main.go" | cut -c1-12)"
binary_of() {
  case "$1" in
    pause) echo "$cache/pause-$pause_key" ;;
    kube-apiserver|kubelet|kube-controller-manager|kube-scheduler) echo "$cache/$1-$version" ;;
    *) echo "build-kube: unknown component \"$1\"" >&2; exit 2 ;;
  esac
}
is_built() {
  local binary
  binary="$(binary_of "$1")"
  [ -x "$binary" ] || return 1
  [ "$1" = pause ] && return 0
  # A binary without the real version stamped in fails the apiserver's emulation-version check.
  "$binary" --version 2>/dev/null | grep -qx "Kubernetes $version"
}
missing() {
  local c
  for c in "${components[@]}"; do is_built "$c" || echo "$c"; done
}

[ -z "$(missing)" ] && exit 0
mkdir -p "$cache"
exec 9>"$cache/.build.lock"
if ! flock -n 9; then
  echo "build-kube: another build holds $cache/.build.lock; waiting for it" >&2
  flock 9
fi
mapfile -t todo < <(missing)
[ "${#todo[@]}" -eq 0 ] && exit 0

if ! command -v go >/dev/null 2>&1; then
  [ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
  echo "build-kube: Go is needed to build ${todo[*]} $version for the test bed, and it is not installed" >&2
  exit 1
fi

minor="${version#v1.}"; minor="${minor%%.*}"
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $p.gitVersion=$version -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
pkgs=()
for c in "${todo[@]}"; do pkgs+=("./cmd/$c"); done

cd "$here/kube"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
# Packages the build cache cannot serve: what the progress lines count towards.
total="$(go list -trimpath -deps -f '{{if .Stale}}{{.ImportPath}}{{end}}' "${pkgs[@]}" | grep -c . || true)"
echo "build-kube: building ${todo[*]} $version from Go modules ($total packages to compile; cold: about 5-20 minutes on 2 cores)" >&2
start=$(date +%s)
out="$(mktemp -d "$cache/.build.XXXXXX")"
trap 'rm -rf "$out"' EXIT
# -v names each package as it is compiled: a progress line every 100 instead of minutes of silence.
go build -v -trimpath -ldflags "$ldflags" -o "$out/" "${pkgs[@]}" 2>&1 | awk -v total="$total" '
  /^(#|go: |[a-z].*\.go:[0-9])/ { print > "/dev/stderr"; next }
  { n++; if (n % 100 == 0) { printf "build-kube: %d/%d packages compiled\n", n, total > "/dev/stderr"; fflush("/dev/stderr") } }'
for c in "${todo[@]}"; do
  [ -x "$out/$c" ] || { echo "build-kube: go build produced no $c" >&2; exit 1; }
  mv "$out/$c" "$(binary_of "$c")"
done
echo "build-kube: built ${todo[*]} in $(( $(date +%s) - start )) s into $cache" >&2
