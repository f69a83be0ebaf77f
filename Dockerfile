# kube-regcred: one image, both subcommands (`controller`, `sts`). The TypeScript sources run directly
# on Node 24 (type stripping), so the image holds no compiler and no build output.
FROM node:24-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only; no install scripts (the `node` devDependency is what has one).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
# Numeric, so that runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "/app/bin/kube-regcred.js"]
CMD ["--help"]
