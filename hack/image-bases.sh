# The recipe of the two local base images hack/build-image.sh builds the Dockerfile on (sourced by it;
# its content is part of the bases' cache key). Each is a folder of files committed as an image:
#   $node_tag     stands for node:24.21.0-bookworm-slim (the Dockerfile's NODE_IMAGE)
#   $runtime_tag  stands for gcr.io/distroless/cc-debian12:nonroot (RUNTIME_IMAGE)
# Needs from the driver: $root, $work, say, commit_rootfs DIR TAG [buildah config options].

# The Node the image runs is the one the project pins for development (devDependencies.node); npm is
# the version that Node release bundles (its CHANGELOG: "upgrade npm to 11.19.0" in 24.20.0, none since).
node_version="$(sed -n '/"devDependencies"/,/}/s/^ *"node": *"\([0-9.]*\)".*/\1/p' "$root/package.json")"
npm_version="11.19.0"
suite="bookworm"
[ -n "$node_version" ] || { say "no devDependencies.node version in package.json"; exit 1; }
case "$(dpkg --print-architecture)" in
  amd64) node_arch=x64 ;;
  arm64) node_arch=arm64 ;;
  *) say "unsupported architecture $(dpkg --print-architecture)"; exit 1 ;;
esac
runtime_debs=(base-files netbase tzdata ca-certificates libc6 libgcc-s1 gcc-12-base libstdc++6)
# What RUN steps of the build stages need beyond the runtime's files: a shell and coreutils.
build_debs=("${runtime_debs[@]}" dash coreutils libacl1 libattr1 libgmp10 libselinux1 libpcre2-8-0)
node_tag="localhost/kube-regcred-base/node:$node_version-$suite-slim"
runtime_tag="localhost/kube-regcred-base/distroless-cc:debian12-nonroot"


# Unpacks Debian packages into $1 the way distroless does: data only, no maintainer scripts.
unpack_debs() {
  local dir="$1"; shift
  mkdir -p "$work/debs" "$dir"
  # As root, apt would hand the download to its _apt user, who cannot write to the cache.
  (cd "$work/debs" && apt-get download -q=2 -o APT::Sandbox::User=root "$@")
  local deb
  for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$dir"; done
  rm -rf "$work/debs"
  # Licences stay (copyright files); changelogs, manuals and info pages go, as in the slim images.
  find "$dir/usr/share/doc" -type f ! -name copyright -delete 2>/dev/null || true
  rm -rf "$dir/usr/share/man" "$dir/usr/share/info" "$dir/usr/share/lintian"
  # update-ca-certificates' bundle, without running it: every Mozilla certificate, concatenated.
  mkdir -p "$dir/etc/ssl/certs"
  cat "$dir"/usr/share/ca-certificates/mozilla/*.crt >"$dir/etc/ssl/certs/ca-certificates.crt"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$dir/etc/nsswitch.conf"
  mkdir -p "$dir/tmp" "$dir/root"
  chmod 1777 "$dir/tmp"; chmod 700 "$dir/root"
  ln -sf /usr/share/zoneinfo/Etc/UTC "$dir/etc/localtime"
}

# Builds both bases into the driver's storage.
assemble_bases() {
  say "assembling $runtime_tag from Debian $suite packages: ${runtime_debs[*]}"
  local rootfs="$work/runtime"
  unpack_debs "$rootfs" "${runtime_debs[@]}"
  # distroless' users: root, nonroot (65532, the image's USER) and nobody.
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
  mkdir -p "$rootfs/home/nonroot"
  chown 65532:65532 "$rootfs/home/nonroot"; chmod 700 "$rootfs/home/nonroot"
  commit_rootfs "$rootfs" "$runtime_tag" --user 65532 --workingdir /home/nonroot \
    --created-by "kube-regcred hack/image-bases.sh: Debian $suite ${runtime_debs[*]} (for gcr.io/distroless/cc-debian12:nonroot)" \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt

  say "assembling $node_tag: Debian $suite packages (${build_debs[*]}), node-linux-$node_arch@$node_version and npm@$npm_version from the npm registry"
  rootfs="$work/node"
  unpack_debs "$rootfs" "${build_debs[@]}"
  [ -e "$rootfs/bin/sh" ] || ln -s dash "$rootfs/bin/sh"
  # The official image's users: root (whose HOME holds npm's cache) and node.
  printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnode:x:1000:\n' >"$rootfs/etc/group"
  mkdir -p "$work/npm" "$rootfs/usr/local/bin" "$rootfs/usr/local/lib/node_modules/npm"
  (cd "$work/npm" && npm pack --silent "node-linux-$node_arch@$node_version" "npm@$npm_version" >/dev/null)
  tar -xzf "$work/npm/node-linux-$node_arch-$node_version.tgz" -C "$work/npm"
  cp -a "$work/npm/package/bin/node" "$rootfs/usr/local/bin/node"
  cp -a "$work/npm/package/include" "$rootfs/usr/local/include"
  tar -xzf "$work/npm/npm-$npm_version.tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  rm -rf "$work/npm"
  # NODE_EXTRA_CA_CERTS (not in the official image): npm in RUN steps trusts the bundle at that path,
  # which hack/build-image.sh mounts this machine's over for RUN steps, as this machine's own npm does.
  commit_rootfs "$rootfs" "$node_tag" --env NODE_VERSION="$node_version" --cmd node \
    --created-by "kube-regcred hack/image-bases.sh: Debian $suite ${build_debs[*]}, npm node-linux-$node_arch@$node_version npm@$npm_version (for node:$node_version-$suite-slim)" \
    --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
}
