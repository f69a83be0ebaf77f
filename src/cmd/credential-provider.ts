// `kube-regcred credential-provider`: the kubelet image credential provider (KEP-4412). One request on
// stdin, one response on stdout, JSON logs on stderr, exit 1 with a one-line reason when it cannot
// give credentials (the kubelet appends stderr to the error it logs).
import { pino } from 'pino';
import { systemClock, type Clock } from '../clock.ts';
import { parseCommandLine } from './command-line.ts';
import { answerRequest } from '../credential-provider/answer.ts';
import { MAX_REQUEST_BYTES } from '../credential-provider/api.ts';
import { credentialProviderHelp, parseCredentialProviderSettings } from '../credential-provider/options.ts';
import { toRegcredError } from '../errors.ts';
import { createChainguardExchanger } from '../exchange/chainguard.ts';
import { bodyExcerpt } from '../exchange/redact.ts';
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
    size += buffer.byteLength;
    // One byte over the limit is enough for decodeRequest to refuse; reading on would only cost memory.
    if (size > MAX_REQUEST_BYTES) {
      chunks.push(buffer);
      break;
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
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
  const exchanger = createChainguardExchanger({ issuerUrl: settings.issuerUrl, audience: settings.audience, timeoutMs: settings.exchangeTimeoutMs, clock });
  try {
    const response = await answerRequest(await readAll(io.stdin), {
      mode: settings.mode,
      exchanger,
      clock,
      refresh: settings.refresh,
      target: { audience: settings.audience, identityTemplate: settings.identityTemplate },
      cacheKeyType: settings.cacheKeyType,
      logger,
    });
    io.stdout.write(response + '\n');
    return 0;
  } catch (err) {
    const error = toRegcredError(err);
    // Our messages are token-free by construction; redacted and flattened once more because this line
    // lands in the kubelet's log.
    io.stderr.write(`kube-regcred credential-provider: ${bodyExcerpt(`${error.code}: ${error.message}`, 400)}\n`);
    return 1;
  }
}
