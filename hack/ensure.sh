#!/usr/bin/env bash
# Installs what `npm test`, `npm run demo` and `npm run bench` need on a stock Debian machine, and
# nothing when it is already there: Debian packages, the npm dependencies (Node 24 among them), and the
# kube-apiserver built from Go modules. Safe to run again and again.
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

bash hack/build-apiserver.sh
bash hack/build-registry-v3.sh
