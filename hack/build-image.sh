#!/usr/bin/env bash
# Builds the kube-regcred image from the Dockerfile with buildah, without a Docker daemon and without an
# image registry: the two base images the Dockerfile takes as build arguments are assembled here from
# what this machine can reach, then `buildah bud` builds the Dockerfile exactly as `docker build` would.
#
#   NODE_IMAGE     (default node:24.21.0-bookworm-slim): Debian bookworm's libc, a shell and coreutils
#                  (Debian packages), Node from the npm package node-linux-<arch> and npm from the npm
#                  package npm, laid out as the official image lays them out (/usr/local).
#   RUNTIME_IMAGE  (default gcr.io/distroless/cc-debian12:nonroot): the Debian packages a distroless cc
#                  image is made of (libc6, libgcc-s1, libstdc++6, ca-certificates, tzdata, base-files,
#                  netbase), unpacked with dpkg-deb -x and no maintainer script, plus distroless' users
#                  (nonroot = 65532) and PATH. No shell.
#
# The result is an OCI archive in ~/.cache/kube-regcred/image/, named by a hash of every input (the
# Dockerfile, .dockerignore, every file the Dockerfile COPYs from the context (package*.json,
# tsconfig*.json, src/), this script, the base recipe hack/image-bases.sh, the Debian package
# versions, the Node and npm versions): a second run with
# nothing changed finds it and returns in a second or two.
# The archive's path is the last line on stdout; progress goes to stderr.
#
# Cache kept on purpose (documented in README "Image"): the archives (the newest 3), and buildah's
# storage in ~/.cache/kube-regcred/image/storage (the bases, tagged with their recipe's key, and the
# layer cache), so that a change to src/ rebuilds only the layers from `COPY src` on. Nothing is written to the repository; under /var/lib/containers only the one
# file every containers/image tool run as root shares (cache/blob-info-cache-v1.boltdb, which skopeo
# writes too); the run directory is a temporary one removed at exit. `bash hack/build-image.sh --clean` removes the whole cache.
#
# Needs root (buildah's storage and its chroot isolation): CI and the test bed run as root.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${KUBE_REGCRED_CACHE:-$HOME/.cache/kube-regcred}/image"
storage="$cache/storage"
say() { echo "build-image: $*" >&2; }

# shellcheck source=hack/image-bases.sh
source "$root/hack/image-bases.sh"

if [ "${1:-}" = "--clean" ]; then
  if [ -d "$storage" ]; then
    buildah --root "$storage" --runroot "$(mktemp -d)" rm --all >/dev/null 2>&1 || true
    buildah --root "$storage" --runroot "$(mktemp -d)" rmi --all --force >/dev/null 2>&1 || true
  fi
  rm -rf "$cache"
  say "removed $cache"
  exit 0
fi

for tool in buildah dpkg-deb apt-get npm sha256sum flock; do
  command -v "$tool" >/dev/null 2>&1 || { say "$tool is needed (bash hack/ensure.sh installs it)"; exit 1; }
done
[ "$(id -u)" = 0 ] || { say "needs root: buildah's storage and chroot isolation (run it with sudo)"; exit 1; }

# Debian package versions go into the key, so a security update of libc6 builds a new image.
if ! debs="$(apt-get download --print-uris "${build_debs[@]}" 2>/dev/null)"; then
  say "apt's package lists do not know ${build_debs[*]}: apt-get update"
  apt-get update -qq
  debs="$(apt-get download --print-uris "${build_debs[@]}")"
fi
base_key="$( { cat "$root/hack/image-bases.sh"; echo "$debs"; echo "node $node_version npm $npm_version $node_arch"; } | sha256sum | cut -c1-16)"
key="$( {
  echo "$base_key"
  cd "$root"
  sha256sum hack/build-image.sh Dockerfile .dockerignore
  # Whatever the Dockerfile copies from the build context (package*.json, tsconfig*.json, src/, ...).
  sed -n 's/^COPY  *\([^-].*\)  *[^ ]*$/\1/p' Dockerfile | tr ' ' '\n' | LC_ALL=C sort -u |
    xargs -r -I{} find {} -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
} | sha256sum | cut -c1-16)"
archive="$cache/kube-regcred-$key.oci.tar"
if [ -s "$archive" ]; then
  say "cache hit: $archive"
  echo "$archive"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
if ! flock -n 9; then
  say "another build holds $cache/.lock; waiting for it"
  flock 9
fi
# The other build may have made this very archive.
if [ -s "$archive" ]; then
  say "cache hit: $archive"
  echo "$archive"
  exit 0
fi

start=$(date +%s)
work="$(mktemp -d "$cache/.work.XXXXXX")"
runroot="$(mktemp -d)"
cleanup() {
  buildah --root "$storage" --runroot "$runroot" rm --all >/dev/null 2>&1 || true
  rm -rf "$work" "$runroot"
}
trap cleanup EXIT
# A private configuration: no registry is ever searched for a short name, every image is accepted
# (the inputs are local), and TMPDIR keeps buildah's big temporary files in the cache's file system.
cat >"$work/registries.conf" <<'EOF'
unqualified-search-registries = []
short-name-mode = "disabled"
EOF
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$work/policy.json"
export CONTAINERS_REGISTRIES_CONF="$work/registries.conf" TMPDIR="$work"
bah() { buildah --root "$storage" --runroot "$runroot" --storage-driver "${KUBE_REGCRED_STORAGE_DRIVER:-overlay}" "$@"; }

# The bases are tagged with their recipe's key: worktrees at different versions of the recipe share
# the cache without rebuilding each other's bases (and a stale base is never used).
node_tag+="-$base_key"
runtime_tag+="-$base_key"
bases_current() {
  bah inspect --type image "$runtime_tag" >/dev/null 2>&1 && bah inspect --type image "$node_tag" >/dev/null 2>&1
}

# Commits the folder $1 as image $2 with the buildah config options that follow.
commit_rootfs() {
  local dir="$1" tag="$2"; shift 2
  local ctr mnt
  ctr="$(bah from --pull=never --signature-policy "$work/policy.json" scratch)"
  mnt="$(bah mount "$ctr")"
  cp -a "$dir/." "$mnt/"
  bah umount "$ctr" >/dev/null
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@" "$ctr"
  bah commit --rm --quiet --signature-policy "$work/policy.json" "$ctr" "$tag" >/dev/null
  rm -rf "$dir"
}

bases_current || assemble_bases

say "buildah bud the Dockerfile with NODE_IMAGE=$node_tag RUNTIME_IMAGE=$runtime_tag (npm ci reaches the npm registry)"
image="localhost/kube-regcred:$key"
# chroot isolation: RUN steps need no runc, network namespace or CNI set-up, only root.
# The machine's CA bundle is mounted over the build stages' for RUN steps only (it is in no layer):
# where an egress proxy re-signs TLS (as here), npm ci reaches the registry only through it.
host_ca=()
[ -s /etc/ssl/certs/ca-certificates.crt ] && host_ca=(--volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
bah bud "${host_ca[@]}" --pull=never --layers --isolation chroot --signature-policy "$work/policy.json" \
  --build-arg "NODE_IMAGE=$node_tag" --build-arg "RUNTIME_IMAGE=$runtime_tag" \
  -f "$root/Dockerfile" -t "$image" "$root" 2>&1 | sed -u 's/^/build-image: | /' >&2
say "writing the OCI archive"
bah push --quiet --signature-policy "$work/policy.json" "$image" "oci-archive:$work/image.tar:kube-regcred:$key" >&2
mv "$work/image.tar" "$archive"
bah rmi "$image" >/dev/null 2>&1 || true
# The newest three archives stay.
ls -1t "$cache"/kube-regcred-*.oci.tar | tail -n +4 | xargs -r rm -f
say "built $archive ($(du -m "$archive" | cut -f1) MiB) in $(( $(date +%s) - start )) s"
echo "$archive"
