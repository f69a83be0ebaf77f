// kube-regcred docker login: the job's GitHub OIDC token becomes a registry credential in the auth
// file docker, podman, buildah and skopeo read. Plain Node (no dependencies, no build), so the action
// runs as checked out. The token is masked before anything else happens and is never printed.
//
// Protocol (GitHub's documented one): GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=<aud> with
// `Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN` -> {"value": "<JWT>"}. Both variables exist
// only when the workflow grants `permissions: id-token: write`.
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

function input(name) {
  // The runner passes `with:` values as INPUT_<NAME> (upper case, spaces as underscores, dashes kept).
  return (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim();
}

class ActionError extends Error {}

function fail(message) {
  throw new ActionError(message);
}

/** Appends `name=value` to one of the runner's command files ($GITHUB_ENV, $GITHUB_OUTPUT, $GITHUB_STATE). */
function setFileCommand(variable, name, value) {
  const file = process.env[variable];
  if (!file) return;
  if (/[\r\n]/.test(value)) fail(`${name} must be one line`);
  appendFileSync(file, `${name}=${value}\n`);
}

async function requestIdToken(audience) {
  const url = process.env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const requestToken = process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!url || !requestToken) {
    fail(
      'no OIDC token available to this job: ACTIONS_ID_TOKEN_REQUEST_URL/ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set. ' +
        'Grant the job `permissions: id-token: write` (and keep `contents: read` if the job checks out code).',
    );
  }
  // The request token is a runner credential: mask it too, in case anything ever echoes the environment.
  process.stdout.write(`::add-mask::${requestToken}\n`);
  const target = new URL(url);
  target.searchParams.set('audience', audience);
  let res;
  try {
    res = await fetch(target, {
      headers: { authorization: `bearer ${requestToken}`, accept: 'application/json; api-version=2.0' },
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    fail(`the OIDC token request failed: ${err.cause?.code ?? err.name}`);
  }
  // The body is not quoted in errors: an error page could hold anything.
  if (res.status !== 200) fail(`the OIDC token request answered HTTP ${res.status} (does the job have \`permissions: id-token: write\`?)`);
  let value;
  try {
    ({ value } = await res.json());
  } catch {
    fail('the OIDC token request answered something that is not JSON');
  }
  if (typeof value !== 'string' || !JWT.test(value)) fail('the OIDC token request answered without a JWT in "value"');
  return value;
}

async function exchange(stsUrl, registry, identity, oidcToken) {
  const target = new URL('/sts/exchange', stsUrl);
  target.searchParams.set('aud', registry);
  target.searchParams.set('identity', identity);
  let res;
  try {
    res = await fetch(target, { method: 'POST', headers: { authorization: `Bearer ${oidcToken}` }, signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    fail(`the sts exchange failed: ${err.cause?.code ?? err.name}`);
  }
  if (res.status !== 200) fail(`the sts refused the exchange for identity "${identity}": HTTP ${res.status}`);
  const { token } = await res.json().catch(() => ({}));
  if (typeof token !== 'string' || !JWT.test(token)) fail('the sts answered without a token');
  process.stdout.write(`::add-mask::${token}\n`);
  return token;
}

function defaultAuthFile() {
  return join(process.env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json');
}

/** Merges one registry entry into a docker config file, keeping every other entry; written atomically, mode 0600. */
function writeAuthFile(file, registry, username, password) {
  let config = {};
  if (existsSync(file)) {
    try {
      config = JSON.parse(readFileSync(file, 'utf8') || '{}');
    } catch {
      fail(`${file} is not JSON; not touching it`);
    }
    if (typeof config !== 'object' || config === null || Array.isArray(config)) fail(`${file} is not a JSON object; not touching it`);
  }
  const auth = Buffer.from(`${username}:${password}`).toString('base64');
  config.auths = { ...(config.auths ?? {}), [registry]: { auth } };
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.kube-regcred-${process.pid}`;
  writeFileSync(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
  if (config.credsStore || config.credHelpers?.[registry]) {
    process.stdout.write(`::warning::${file} names a credential helper; docker may ask it instead of reading the entry written for ${registry}\n`);
  }
}

async function main() {
  const registry = input('registry');
  const audience = input('audience');
  const username = input('username') || 'github';
  const identity = input('identity');
  const stsUrl = input('sts-url');
  if (!registry || /[\s/]/.test(registry)) fail('input "registry" is required: a host[:port], without a scheme or path');
  if (!audience) fail('input "audience" is required: one of the audiences the sts issuer entry for GitHub accepts');
  if (Boolean(identity) !== Boolean(stsUrl)) fail('inputs "identity" and "sts-url" go together');

  const oidcToken = await requestIdToken(audience);
  // Masked first: from here on the runner hides the token wherever it might appear in the log.
  process.stdout.write(`::add-mask::${oidcToken}\n`);
  const credential = identity ? { username: '_token', password: await exchange(stsUrl, registry, identity, oidcToken) } : { username, password: oidcToken };

  const file = resolve(input('auth-file') || defaultAuthFile());
  writeAuthFile(file, registry, credential.username, credential.password);
  // podman, buildah and skopeo read the docker format too; point them at the same file unless the job chose one.
  if (!process.env.REGISTRY_AUTH_FILE) setFileCommand('GITHUB_ENV', 'REGISTRY_AUTH_FILE', file);
  setFileCommand('GITHUB_OUTPUT', 'auth-file', file);
  setFileCommand('GITHUB_STATE', 'auth_file', file);
  setFileCommand('GITHUB_STATE', 'registry', registry);
  process.stdout.write(`Logged in to ${registry} as ${credential.username} (credential written to ${file})\n`);
}

main().catch((err) => {
  const message = err instanceof ActionError ? err.message : `unexpected failure (${err?.name ?? 'error'})`;
  process.stdout.write(`::error::kube-regcred docker login: ${message}\n`);
  process.exitCode = 1;
});
