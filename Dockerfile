# kube-regcred: one image, both subcommands (`controller`, `sts`). The image runs JavaScript compiled by
# tsc from src/: Node 24 could strip the types itself, but its stripper costs about 30 MiB of RSS per
# process, a fifth of the controller's memory budget. Development and tests run the TypeScript directly.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Dev dependencies for the compiler; no install scripts (the `node` devDependency is what has one).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /app/dist ./dist
# Numeric, so that runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "/app/dist/main.js"]
CMD ["--help"]
