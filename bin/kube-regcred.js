#!/usr/bin/env node
// Entry for `npx kube-regcred`: runs the TypeScript sources with Node 24's type stripping. The
// container image runs what `npm run build` compiles (dist/main.js) instead: see the Dockerfile.
// Written so that any Node.js can parse it: an older one gets one line saying what to do instead of a
// stack trace about the ".ts" extension.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 24 || (major === 24 && minor < 11)) {
  process.stderr.write(
    `kube-regcred needs Node.js 24.11 or newer, and this is ${process.version}: in a clone run "npm start -- <subcommand>" or "npx kube-regcred <subcommand>" (both use the Node 24 that npm installs with the project), or run the container image\n`,
  );
  process.exit(2);
}
await import('../src/main.ts');
