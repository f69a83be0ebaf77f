#!/usr/bin/env node
// Entry for `npx kube-regcred`: runs the TypeScript sources with Node 24's type stripping. The
// container image runs what `npm run build` compiles (dist/main.js) instead: see the Dockerfile.
import '../src/main.ts';
