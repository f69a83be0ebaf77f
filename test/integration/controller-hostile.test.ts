// Hostile Secrets, on the real test bed: a Docker config nested thousands of levels deep, bytes that are
// not UTF-8, an attach-to list with a bad name, and Docker configs of about 1 MiB. Each is a permanent
// input error, reported once with a message that names the problem; large ones are not kept in the
// controller's cache; and a valid Secret beside them keeps being refreshed.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { before, describe, it } from 'node:test';
import { waitFor } from '../support/wait.ts';
import { metricValue, tokenOf, type TestController, useControllerBed } from './controller-harness.ts';

const LARGE_SECRETS = 20;
/** Just under the apiserver's 1 MiB limit for a Secret's data. */
const LARGE_BYTES = 1_000_000;

function largeConfig(seed: number): string {
  const filler = Buffer.alloc(Math.floor(((LARGE_BYTES - 64) * 3) / 4), seed).toString('base64');
  return JSON.stringify({ auths: { 'big.example': { auth: filler } } });
}

describe('controller: hostile Secrets', () => {
  const bed = useControllerBed({ stsTokenLifetimeSeconds: 8 });
  let controller: TestController;
  const ns: Record<'deep' | 'utf8' | 'attach' | 'large' | 'many', string> = { deep: '', utf8: '', attach: '', large: '', many: '' };

  before(async () => {
    for (const key of Object.keys(ns) as Array<keyof typeof ns>) ns[key] = await bed.kube.namespace(`hostile-${key}`);
    controller = await bed.startController(Object.values(ns), ['--no-leader-elect', '--refresh-min-margin', '1s']);
  });

  async function reported(namespace: string, code: string): Promise<{ lastError: string; message: string }> {
    const lastError = await waitFor(async () => {
      const value = (await bed.kube.secret(namespace, 'pull-secret'))?.metadata?.annotations?.['kube-regcred.io/last-error'];
      return value?.startsWith(`${code}:`) ? value : undefined;
    }, { description: `last-error ${code} on ${namespace}/pull-secret` });
    const warnings = (await bed.kube.events(namespace, 'pull-secret')).filter((e) => e.type === 'Warning');
    assert.equal(warnings.length, 1, `one Warning Event, got ${warnings.map((e) => e.message).join(' | ')}`);
    return { lastError, message: warnings[0]!.message ?? '' };
  }

  it('refuses a Docker config nested 6,000 levels deep, once, as a permanent input error', async () => {
    const deep = `{"auths":{},"x":${'['.repeat(6000)}${']'.repeat(6000)}}`;
    await bed.kube.createPullSecret(ns.deep, 'pull-secret', { 'kube-regcred.io/identity': 'hostile/deep' }, deep);
    const { lastError, message } = await reported(ns.deep, 'DockerConfigInvalid');
    assert.match(lastError, /nested deeper than 32 levels/);
    assert.match(message, /nested deeper than 32 levels/);
    const count = metricValue(await controller.metricsText(), 'kube_regcred_errors_total', { code: 'DockerConfigInvalid' });
    await sleep(3_000);
    assert.equal(metricValue(await controller.metricsText(), 'kube_regcred_errors_total', { code: 'DockerConfigInvalid' }), count, 'not retried');
    assert.equal(metricValue(await controller.metricsText(), 'kube_regcred_errors_total', { code: 'Internal' }), 0, 'no internal error');
    assert.equal(bed.sts.calls.byIdentity.get('hostile/deep') ?? 0, 0, 'no exchange for it');
  });

  it('refuses bytes that are not UTF-8 and leaves them exactly as they were', async () => {
    const bytes = Buffer.concat([Buffer.from('{"'), Buffer.from([0xff, 0xfe]), Buffer.from('":1,"auths":{"other.example":{"auth":"cm9ib3Q6cDRzcw=="}}}')]);
    await bed.kube.core.createNamespacedSecret({
      namespace: ns.utf8,
      body: { metadata: { name: 'pull-secret', annotations: { 'kube-regcred.io/identity': 'hostile/utf8' } }, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': bytes.toString('base64') } },
    });
    const { lastError } = await reported(ns.utf8, 'DockerConfigInvalid');
    assert.match(lastError, /not valid UTF-8/);
    const stored = (await bed.kube.secret(ns.utf8, 'pull-secret'))?.data?.['.dockerconfigjson'];
    assert.equal(stored, bytes.toString('base64'), 'the data is byte-for-byte what it was');
  });

  it('names the attach-to annotation when its list holds a bad name', async () => {
    await bed.kube.createPullSecret(ns.attach, 'pull-secret', { 'kube-regcred.io/identity': 'hostile/attach', 'kube-regcred.io/attach-to': 'Default,../x' });
    const { lastError } = await reported(ns.attach, 'ServiceAccountInvalid');
    assert.match(lastError, /kube-regcred\.io\/attach-to/);
    assert.doesNotMatch(lastError, /kube-regcred\.io\/service-account/);
  });

  it('reports a Docker config over the cap and does not keep its data', async () => {
    await bed.kube.createPullSecret(ns.large, 'pull-secret', { 'kube-regcred.io/identity': 'hostile/large' }, largeConfig(1));
    const { lastError } = await reported(ns.large, 'DockerConfigTooLarge');
    assert.match(lastError, /more than the 65536 bytes/);
    const cached = controller.running.secrets.get(ns.large, 'pull-secret');
    assert.deepEqual(cached?.data, {}, 'no data cached');
    assert.ok((cached?.droppedDataBytes ?? 0) > 900_000, 'the size is remembered');
    assert.equal(bed.sts.calls.byIdentity.get('hostile/large') ?? 0, 0, 'no exchange for it');
  });

  it(`keeps refreshing a valid Secret beside ${LARGE_SECRETS} Secrets of 1 MiB, none of whose data is cached`, async (t) => {
    const rssBefore = process.memoryUsage().rss;
    await bed.kube.createPullSecret(ns.many, 'pull-secret', { 'kube-regcred.io/identity': 'hostile/valid' });
    for (let i = 0; i < LARGE_SECRETS; i++) await bed.kube.createPullSecret(ns.many, `large-${i}`, { 'kube-regcred.io/identity': 'hostile/many' }, largeConfig(i + 2));
    const first = await waitFor(async () => tokenOf(await bed.kube.secret(ns.many, 'pull-secret')), { description: 'valid Secret filled' });
    await waitFor(
      () => Array.from({ length: LARGE_SECRETS }, (_, i) => controller.running.secrets.get(ns.many, `large-${i}`)).every((s) => s?.droppedDataBytes !== undefined),
      { description: 'every large Secret cached without data' },
    );
    for (let i = 0; i < LARGE_SECRETS; i++) assert.deepEqual(controller.running.secrets.get(ns.many, `large-${i}`)?.data, {});
    // Two refreshes of the 8 s token while the large Secrets are there.
    const second = await waitFor(async () => {
      const token = tokenOf(await bed.kube.secret(ns.many, 'pull-secret'));
      return token !== first ? token : undefined;
    }, { description: 'first refresh', timeoutMs: 20_000 });
    await waitFor(async () => {
      const token = tokenOf(await bed.kube.secret(ns.many, 'pull-secret'));
      return token !== second ? token : undefined;
    }, { description: 'second refresh', timeoutMs: 20_000 });
    await waitFor(async () => metricValue(await controller.metricsText(), 'kube_regcred_errors_total', { code: 'DockerConfigTooLarge' }) >= LARGE_SECRETS + 1, {
      description: 'every large Secret counted',
    });
    const warnings = (await bed.kube.core.listNamespacedEvent({ namespace: ns.many })).items.filter((e) => e.reason === 'InvalidSecret');
    assert.equal(warnings.length, LARGE_SECRETS, 'one InvalidSecret Event per large Secret');
    t.diagnostic(`test process RSS (test + controller) ${Math.round(rssBefore / 2 ** 20)} MiB before, ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB after ${LARGE_SECRETS} x 1 MiB Secrets`);
  });
});
