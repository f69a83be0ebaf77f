// `kube-regcred credential-provider`: the kubelet image credential provider (KEP-4412). One request on
// stdin, one response on stdout, JSON logs on stderr, exit 1 with a one-line reason when it cannot
// give credentials (the kubelet appends stderr to the error it logs).
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { systemClock, type Clock } from '../clock.ts';
import { parseCommandLine } from './command-line.ts';
import { answerRequest } from '../credential-provider/answer.ts';
import { MAX_REQUEST_BYTES } from '../credential-provider/api.ts';
import { credentialProviderHelp, parseCredentialProviderSettings } from '../credential-provider/options.ts';
import { toRegcredError } from '../errors.ts';
import { createChainguardExchanger } from '../exchange/chainguard.ts';
import { createPassthroughExchanger } from '../exchange/passthrough.ts';
import { bodyExcerpt } from '../redact.ts';
import { leanFetch } from '../http/lean-fetch.ts';
import { createLogger } from '../log.ts';

export interface CredentialProviderIo {
  stdin: AsyncIterable<Buffer | string>;
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  clock?: Clock;
}

async function readAll(input: AsyncIterable<Buffer | string>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    chunks.push(buffer);
    size += buffer.byteLength;
    // Past the limit decodeRequest refuses anyway; reading on would only cost memory.
    if (size > MAX_REQUEST_BYTES) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * This process's peak RSS in KiB. VmHWM, not getrusage's maxRSS: on Linux that survives fork+exec and
 * so reports the parent's size (the kubelet's, or the bench's) for a small child.
 */
function peakRssKiB(): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]);
  } catch {
    // Not Linux: fall through.
  }
  return process.resourceUsage().maxRSS;
}

/** The entry point; resolves with the exit code. */
export async function runCredentialProvider(
  argv: string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CredentialProviderIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const commandLine = parseCommandLine('credential-provider', argv, credentialProviderHelp, () => parseCredentialProviderSettings(argv, env));
  if ('exitCode' in commandLine) return commandLine.exitCode;
  const { settings } = commandLine;
  const clock = io.clock ?? systemClock;
  // Synchronous writes: a process that lives for one request must not exit with log lines pending.
  const logger = createLogger({ level: settings.logLevel, base: { component: 'credential-provider' }, destination: pino.destination({ dest: 2, sync: true }) });
  // leanFetch, not the global fetch: undici's load is most of a cold call's CPU (bench/credential-provider.ts).
  const exchanger =
    settings.mode === 'passthrough'
      ? createPassthroughExchanger()
      : createChainguardExchanger({ issuerUrl: settings.issuerUrl, audience: settings.audience, timeoutMs: settings.exchangeTimeoutMs, clock, fetch: leanFetch });
  try {
    const response = await answerRequest(await readAll(io.stdin), {
      mode: settings.mode,
      exchanger,
      clock,
      refresh: settings.refresh,
      target: { audience: settings.audience, identityTemplate: settings.identityTemplate },
      passthroughUsername: settings.passthroughUsername,
      cacheKeyType: settings.cacheKeyType,
      logger,
    });
    io.stdout.write(response + '\n');
    // Peak RSS of this process (KiB): what the bench reports; kubelet runs us once per uncached pull.
    const cpu = process.cpuUsage();
    logger.debug({ maxRssKiB: peakRssKiB(), uptimeMs: Math.round(performance.now()), cpuMs: Math.round((cpu.user + cpu.system) / 1000) }, 'answered');
    return 0;
  } catch (err) {
    const error = toRegcredError(err);
    // Our messages are token-free by construction; redacted and flattened once more because this line
    // lands in the kubelet's log.
    io.stderr.write(`kube-regcred credential-provider: ${bodyExcerpt(`${error.code}: ${error.message}`, 400)}\n`);
    return 1;
  }
}
