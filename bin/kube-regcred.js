#!/usr/bin/env node
// Entry for `npx kube-regcred` and the container image. The sources are TypeScript run by Node 24's
// type stripping, so there is no build step.
import '../src/main.ts';
