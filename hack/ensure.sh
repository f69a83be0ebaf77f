#!/usr/bin/env bash
# Installs what `npm test`, `npm run demo` and `npm run bench` need on a stock Debian machine, and
# nothing when it is already there: Debian packages, the npm dependencies (Node 24 among them), and the
# Kubernetes components built from Go modules (kube-apiserver, kubelet, kube-controller-manager,
# kube-scheduler, the node's pause program), the Distribution 3.x registry, and (for `test` and `bench`)
# the image built from the Dockerfile. Safe to run again and again.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
# strip: the credential provider single executable drops the node binary's debug info (18 MiB).
command -v strip >/dev/null 2>&1 || missing+=(binutils)
# The test bed's node: containerd runs the Pods' containers through runc; iptables only to prove that
# the node leaves no chain behind.
command -v containerd >/dev/null 2>&1 || missing+=(containerd)
command -v runc >/dev/null 2>&1 || missing+=(runc)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
# The node's pod network (test/support/pod-network.ts): the bridge, host-local and loopback CNI plugins.
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
# The image is built from the Dockerfile without a daemon (hack/build-image.sh).
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "ensure: installing Debian packages: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# node_modules/.package-lock.json is npm's record of what it installed: older than the lockfile means stale.
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "ensure: installing npm dependencies (Node 24 comes with them)" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

# The demo's bed has no controllers of a cluster; the shipped-image e2e of `npm test` runs the shipped
# Deployments, which need kube-controller-manager and kube-scheduler.
components=(kube-apiserver kubelet pause)
[ "${1:-}" = demo ] || components+=(kube-controller-manager kube-scheduler)
bash hack/build-kube.sh "${components[@]}"
bash hack/build-registry-v3.sh

# The image the tests push and run, and whose size the bench reports: a cache hit when nothing changed.
case "${1:-all}" in
  all|test|bench) bash hack/build-image.sh >/dev/null ;;
esac
