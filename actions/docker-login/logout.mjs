// Post step of kube-regcred docker login: removes the registry entry it wrote, keeping every other one.
// The credential expires within minutes anyway; this keeps it out of caches and self-hosted runners.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

const file = process.env.STATE_auth_file;
const registry = process.env.STATE_registry;
try {
  if (file && registry && existsSync(file)) {
    const config = JSON.parse(readFileSync(file, 'utf8'));
    if (config?.auths?.[registry]) {
      delete config.auths[registry];
      const temporary = `${file}.kube-regcred-${process.pid}`;
      writeFileSync(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
      renameSync(temporary, file);
      process.stdout.write(`Removed the credential for ${registry} from ${file}\n`);
    }
  }
} catch (err) {
  // A post step must not fail the job for a file someone else changed.
  process.stdout.write(`::warning::kube-regcred docker logout: could not clean up (${err?.name ?? 'error'})\n`);
}
