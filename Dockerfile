# kube-regcred: one image, every subcommand (`controller`, `sts`, `proxy`, ...). The image runs the bundle
# `npm run build` writes (hack/build.ts: src/ and every run-time dependency, client-node among them, in one
# esbuild output): loading client-node's ~1,000 files through the ESM loader costs ~75 MiB of RSS, the
# bundle ~13 (docs/controller.md). The tests and the bench run the same build.
#
# Base images are build arguments so that a build without a registry can pass local ones
# (hack/build-image.sh does, with buildah); `docker build .` anywhere uses these public defaults.
# NODE_IMAGE: npm and a shell for the build stages, and the Node binary the image runs (its Node version
# is the project's, devDependencies.node). RUNTIME_IMAGE: glibc, libstdc++, CA certificates and tzdata,
# a nonroot user, no shell and no package manager: what the node binary links against and nothing else.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

# The JavaScript is the same on every architecture: built once on the build machine's platform.
FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Dev dependencies for the compiler; no install scripts (the `node` devDependency is what has one).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
# npm run build: hack/build.ts bundles src/ and its dependencies with esbuild (dist/ needs no node_modules).
COPY hack/build.ts hack/bundle.ts ./hack/
COPY src ./src
RUN npm run build

# The target platform's Node binary.
FROM ${NODE_IMAGE} AS node

FROM ${RUNTIME_IMAGE}
COPY --from=node /usr/local/bin/node /usr/local/bin/node
ENV NODE_ENV=production
WORKDIR /app
COPY package.json ./
COPY --from=build /app/dist ./dist
# Numeric, so that runAsNonRoot can verify it without /etc/passwd. Nothing is written at run time, so
# the root file system can be read-only.
USER 65532:65532
EXPOSE 8080
# The manifests' `command: ["node", ...]` finds it on the runtime image's PATH (/usr/local/bin).
ENTRYPOINT ["/usr/local/bin/node", "/app/dist/main.js"]
CMD ["--help"]
