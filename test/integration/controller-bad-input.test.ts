// Every bad input the controller must survive, on the real test bed: each one gives a Warning Event,
// a last-error annotation and an errors_total metric, the Secret keeps what it had, and the controller
// keeps running. After the STS recovers, Secrets are filled, last-error is cleared and a Recovered Event
// follows.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { StsFault } from '../support/test-sts.ts';
import { waitFor } from '../support/wait.ts';
import {
  metricValue,
  suffix,
  tokenOf,
  type TestController,
  useControllerBed,
} from './controller-harness.ts';

const OTHER = JSON.stringify({ auths: { 'other.example': { username: 'robot', password: 'p4ss', auth: Buffer.from('robot:p4ss').toString('base64') } } });

interface InputCase {
  what: string;
  annotations: Record<string, string>;
  dockerConfigJson?: string;
  code: string;
}

const INPUT_CASES: InputCase[] = [
  { what: 'an empty identity', annotations: { 'kube-regcred.io/identity': '' }, code: 'IdentityInvalid' },
  { what: 'a malformed identity', annotations: { 'kube-regcred.io/identity': 'not an id?x=1&y' }, code: 'IdentityInvalid' },
  {
    what: 'a registry that is not host[:port]',
    annotations: { 'kube-regcred.io/identity': 'input/ok', 'kube-regcred.io/registry': 'https://registry.example/v2' },
    code: 'RegistryInvalid',
  },
  {
    what: 'a registry that is not configured',
    annotations: { 'kube-regcred.io/identity': 'input/ok', 'kube-regcred.io/registry': 'elsewhere.example:5000' },
    code: 'RegistryNotConfigured',
  },
  { what: 'a malformed .dockerconfigjson', annotations: { 'kube-regcred.io/identity': 'input/ok' }, dockerConfigJson: '{"auths": ["not", "an", "object"]}', code: 'DockerConfigInvalid' },
];

const STS_CASES: Array<{ fault: StsFault; code: string }> = [
  { fault: 'timeout', code: 'StsTimeout' },
  { fault: 500, code: 'StsServerError' },
  { fault: 401, code: 'StsUnauthorized' },
  { fault: 429, code: 'StsRateLimited' },
  { fault: 'non-json', code: 'StsBadResponse' },
  { fault: 'no-token', code: 'StsBadResponse' },
  { fault: 'not-a-jwt', code: 'RegistryTokenInvalid' },
];

describe('controller: bad input', () => {
  const bed = useControllerBed();
  let controller: TestController;
  const inputNs = new Map<InputCase, string>();
  const stsNs = new Map<StsFault, string>();

  before(async () => {
    for (const c of INPUT_CASES) inputNs.set(c, await bed.kube.namespace('bad-input'));
    for (const c of STS_CASES) stsNs.set(c.fault, await bed.kube.namespace('bad-sts'));
    controller = await bed.startController([...inputNs.values(), ...stsNs.values()], ['--no-leader-elect']);
  });

  async function expectReported(namespace: string, code: string, reason: string, originalData: string): Promise<void> {
    const secret = await waitFor(async () => {
      const s = await bed.kube.secret(namespace, 'pull-secret');
      return s?.metadata?.annotations?.['kube-regcred.io/last-error']?.startsWith(`${code}:`) ? s : undefined;
    }, { description: `last-error ${code} on ${namespace}/pull-secret` });
    const data = Buffer.from(secret.data?.['.dockerconfigjson'] ?? '', 'base64').toString('utf8');
    assert.equal(data, originalData, 'the Secret kept its data');
    const events = await waitFor(async () => {
      const list = (await bed.kube.events(namespace, 'pull-secret')).filter((e) => e.type === 'Warning' && e.reason === reason);
      return list.length > 0 ? list : undefined;
    }, { description: `a ${reason} Event on ${namespace}/pull-secret` });
    assert.ok(events[0]!.message?.startsWith(`${code}:`), `Event message names the code: ${events[0]!.message}`);
    assert.ok(metricValue(await controller.metricsText(), 'kube_regcred_errors_total', { code }) >= 1, `errors_total{code="${code}"}`);
    assert.equal(controller.running.controller.readiness().ready, true, 'the controller is still ready');
    const res = await fetch(`http://127.0.0.1:${controller.running.opsPort}/healthz`);
    assert.equal(res.status, 200, 'the controller is still live');
  }

  for (const c of INPUT_CASES) {
    it(`reports ${c.what} (${c.code}) and leaves the Secret as it was`, async () => {
      const namespace = inputNs.get(c)!;
      const data = c.dockerConfigJson ?? OTHER;
      await bed.kube.createPullSecret(namespace, 'pull-secret', c.annotations, data);
      await expectReported(namespace, c.code, 'InvalidSecret', data);
    });
  }

  for (const c of STS_CASES) {
    it(`reports an STS answering ${String(c.fault)} (${c.code}), keeps the old data, and does not send an Event per retry`, async () => {
      const namespace = stsNs.get(c.fault)!;
      const id = `sts-case/${suffix()}`;
      bed.sts.setFault(c.fault);
      await bed.kube.createPullSecret(namespace, 'pull-secret', { 'kube-regcred.io/identity': id }, OTHER);
      await expectReported(namespace, c.code, 'ExchangeFailed', OTHER);
      if (c.fault === 500) {
        // Transient: retried with backoff. Several attempts, still one Event.
        await waitFor(() => (bed.sts.calls.byIdentity.get(id) ?? 0) >= 3, { description: 'three exchange attempts' });
        const warnings = (await bed.kube.events(namespace, 'pull-secret')).filter((e) => e.type === 'Warning');
        assert.equal(warnings.length, 1, `one Warning Event for repeated ${c.code}, got ${warnings.length}`);
      }
    });
  }

  it('fills the Secrets once the STS works again: last-error cleared, Recovered Event', async () => {
    bed.sts.setFault(undefined);
    // Transient failures retry by themselves, but the fault is the STS's, not the Secret's: a Secret of an
    // earlier case that retried while the STS answered 401 (permanent) waits for a change like the 401
    // case itself. So every case's Secret is touched, as an operator would after fixing the STS.
    for (const namespace of stsNs.values()) {
      await bed.kube.core.patchNamespacedSecret({ namespace, name: 'pull-secret', body: [{ op: 'add', path: '/metadata/labels', value: { retry: 'please' } }] });
    }
    for (const [fault, namespace] of stsNs) {
      const secret = await waitFor(async () => {
        const s = await bed.kube.secret(namespace, 'pull-secret');
        return tokenOf(s) && s?.metadata?.annotations?.['kube-regcred.io/last-error'] === undefined ? s : undefined;
      }, { description: `Secret of the ${String(fault)} case filled and last-error cleared`, timeoutMs: 20_000 });
      const data = JSON.parse(Buffer.from(secret.data!['.dockerconfigjson']!, 'base64').toString('utf8')) as { auths: Record<string, unknown> };
      assert.ok(data.auths['other.example'], 'other entry kept');
      await waitFor(async () => (await bed.kube.events(namespace, 'pull-secret')).some((e) => e.type === 'Normal' && e.reason === 'Recovered'), {
        description: `Recovered Event for the ${String(fault)} case`,
      });
    }
    // Permanent input errors stay reported: nothing was retried for them.
    for (const namespace of inputNs.values()) {
      const secret = await bed.kube.secret(namespace, 'pull-secret');
      assert.ok(secret?.metadata?.annotations?.['kube-regcred.io/last-error'], 'input error still reported');
      const warnings = (await bed.kube.events(namespace, 'pull-secret')).filter((e) => e.type === 'Warning');
      assert.equal(warnings.length, 1, 'one Event for a permanent error');
    }
  });

  it('never puts token text in logs, Events or annotations, even when the STS echoes tokens in errors', async () => {
    const texts = [controller.logs.text()];
    for (const namespace of [...inputNs.values(), ...stsNs.values()]) {
      for (const event of await bed.kube.events(namespace, 'pull-secret')) texts.push(`${event.reason} ${event.message}`);
      const secret = await bed.kube.secret(namespace, 'pull-secret');
      texts.push(JSON.stringify(secret?.metadata?.annotations ?? {}));
      const token = tokenOf(secret);
      if (token) texts.push(`\u0000${token}`); // marker: checked below, not searched for itself
    }
    const markers = texts.filter((t) => t.startsWith('\u0000')).map((t) => t.slice(1));
    const all = texts.filter((t) => !t.startsWith('\u0000')).join('\n');
    assert.ok(!all.includes(bed.identity.token), 'the kubeconfig ServiceAccount token appears');
    for (const token of markers) assert.ok(!all.includes(token), 'a registry token appears');
    assert.ok(!/eyJ[A-Za-z0-9_-]{10,}/.test(all), 'something JWT-shaped appears');
    assert.ok(!all.includes('p4ss') && !all.includes(Buffer.from('robot:p4ss').toString('base64')), 'another registry password appears');
  });
});
