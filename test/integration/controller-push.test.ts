// Push secrets end to end: the controller (as its own ServiceAccount, with an identity policy) fills an
// Opaque Secret's config.json through `kube-regcred sts`, and skopeo pushes with it to a real Distribution
// registry; the pull identity's pull secret can pull but not push; a pull identity in a push secret is refused.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify as toYaml } from 'yaml';
import { startStsProcess, type RunningSts } from '../../src/cmd/sts.ts';
import { buildTinyImage } from '../support/oci-image.ts';
import { createCertificateAuthority, issueCertificate } from '../support/pki.ts';
import { freePort } from '../support/ports.ts';
import { startRegistry, type RegistryProcess } from '../support/registry.ts';
import { skopeoCopy, writeAuthfile } from '../support/skopeo.ts';
import type { TestSts } from '../support/test-sts.ts';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import { waitFor } from '../support/wait.ts';
import { captureLogs } from '../unit/sts-fixtures.ts';
import {
  Kube,
  SA_NAME,
  STS_AUDIENCE,
  createControllerIdentity,
  grantSecretName,
  metricValue,
  startController,
  tokenOf,
  type ControllerIdentity,
  type TestController,
} from './controller-harness.ts';
import { scratchDir } from '../support/scratch.ts';

const SERVICE = 'registry.kube-regcred.test';
const TOKEN_ISSUER = 'kube-regcred-sts-push-test';

describe('controller: push secrets through kube-regcred sts', () => {
  let cp: ControlPlane;
  let kube: Kube;
  let identity: ControllerIdentity;
  let sts: RunningSts;
  let registry: RegistryProcess;
  let controller: TestController;
  let ns: string;
  let work: string;
  let image: string;

  before(async () => {
    cp = await useControlPlane();
    kube = new Kube(cp);
    identity = await createControllerIdentity(cp);
    ns = await kube.namespace('push');
    work = scratchDir('controller-push-');
    image = buildTinyImage(join(work, 'image'));
    const ca = createCertificateAuthority(mkdtempSync(join(work, 'pki-')), 'kube-regcred push test root');
    const signer = issueCertificate(ca, { commonName: 'sts signer', keyType: 'ec', fileStem: 'signer' });
    const stsPort = await freePort();
    registry = await startRegistry({ realm: `http://127.0.0.1:${stsPort}/token`, service: SERVICE, issuer: TOKEN_ISSUER, rootCertBundlePath: ca.certFile });
    const controllerSubject = `system:serviceaccount:${identity.namespace}:${SA_NAME}`;
    // Push is told apart by IDENTITY: the Chainguard exchange protocol has no scope parameter, so the
    // controller asks for the push identity, whose grants (here, in our sts) include push.
    const config = {
      service: SERVICE,
      tokenIssuer: TOKEN_ISSUER,
      exchangeAudiences: [registry.host],
      lifetimes: { exchange: '10m', registry: '5m' },
      signing: { keyFile: signer.keyFile, certificateFile: signer.certFile, headerStyle: 'x5c' },
      issuers: [{ name: 'cluster', issuer: cp.issuer, audiences: [STS_AUDIENCE], caFile: cp.caFile }],
      identities: [
        { uid: 'ci/pusher', issuer: 'cluster', subject: controllerSubject, grants: [{ repository: 'apps/**', actions: ['pull', 'push'] }] },
        { uid: 'ci/puller', issuer: 'cluster', subject: controllerSubject, grants: [{ repository: 'apps/**', actions: ['pull'] }] },
      ],
    };
    const stsConfig = join(work, 'sts.yaml');
    writeFileSync(stsConfig, toYaml(config));
    sts = await startStsProcess(
      { configPath: stsConfig, listen: { host: '127.0.0.1', port: stsPort }, ops: { host: '127.0.0.1', port: 0 }, shutdownGraceMs: 1_000, logLevel: 'warn' },
      { logDestination: captureLogs().stream, watch: { pollIntervalMs: 0 } },
    );
    const policyPath = join(work, 'policy.yaml');
    writeFileSync(policyPath, toYaml({
      identities: [
        { uid: 'ci/pusher', uses: ['push'], namespaces: [ns] },
        { uid: 'ci/puller', uses: ['pull'], namespaces: [ns] },
      ],
    }));
    await grantSecretName(cp, identity, ns, 'push-secret');
    const stsUrl = { url: `http://127.0.0.1:${stsPort}` } as TestSts;
    controller = await startController(identity, stsUrl, [ns], ['--no-leader-elect', '--identity-policy', policyPath, '--registries', registry.host]);
  });

  after(async () => {
    await controller?.stop();
    await registry?.stop();
    await sts?.stop();
  });

  const createPushSecret = (name: string, uid: string) =>
    kube.core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name, annotations: { 'kube-regcred.io/identity': uid, 'kube-regcred.io/access': 'push', 'kube-regcred.io/registry': registry.host } },
        type: 'Opaque',
        data: { 'config.json': Buffer.from('{}').toString('base64') },
      },
    });

  it('writes an Opaque config.json that skopeo pushes with', async () => {
    await createPushSecret('push-secret', 'ci/pusher');
    const secret = await waitFor(async () => {
      const s = await kube.secret(ns, 'push-secret');
      const raw = s?.data?.['config.json'];
      const config = raw ? (JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as { auths?: Record<string, unknown> }) : undefined;
      return config?.auths?.[registry.host] ? s : undefined;
    }, { description: 'push-secret filled' });
    assert.equal(secret.type, 'Opaque');
    assert.deepEqual(Object.keys(secret.data ?? {}), ['config.json'], 'no .dockerconfigjson key');
    assert.equal(secret.metadata?.annotations?.['kube-regcred.io/token-for'], `identity=ci/pusher,registry=${registry.host},access=push`);
    const authfile = writeAuthfile(Buffer.from(secret.data!['config.json']!, 'base64').toString('utf8'));
    const pushed = await skopeoCopy(`oci:${image}:latest`, `docker://${registry.host}/apps/pushed:v1`, { destAuthfile: authfile });
    assert.ok(pushed.ok, `push with the push secret failed: ${pushed.stderr}`);
  });

  it('the pull identity pulls but cannot push', async () => {
    await kube.createPullSecret(ns, 'pull-secret', { 'kube-regcred.io/identity': 'ci/puller', 'kube-regcred.io/registry': registry.host });
    const token = await waitFor(async () => tokenOf(await kube.secret(ns, 'pull-secret'), registry.host), { description: 'pull-secret filled' });
    const authfile = writeAuthfile(JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from(`_token:${token}`).toString('base64') } } }));
    const pulled = await skopeoCopy(`docker://${registry.host}/apps/pushed:v1`, `oci:${mkdtempSync(join(work, 'pulled-'))}:latest`, { srcAuthfile: authfile });
    assert.ok(pulled.ok, `pull with the pull secret failed: ${pulled.stderr}`);
    const pushed = await skopeoCopy(`oci:${image}:latest`, `docker://${registry.host}/apps/by-puller:v1`, { destAuthfile: authfile });
    assert.ok(!pushed.ok, 'the pull identity pushed');
    assert.match(pushed.stderr, /denied|unauthorized|authentication required/i);
  });

  it('keeps no unrelated Opaque Secret in its cache, and drops one that stops being a push secret', async () => {
    const cache = () => controller.running.controller;
    // An Opaque Secret with an identity but no access=push is not a push secret: not cached, not managed.
    await kube.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'plain', annotations: { 'kube-regcred.io/identity': 'ci/pusher' } }, type: 'Opaque', data: { x: 'eA==' } },
    });
    await kube.core.patchNamespacedSecret({ namespace: ns, name: 'push-secret', body: [{ op: 'remove', path: '/metadata/annotations/kube-regcred.io~1access' }] });
    await waitFor(async () => metricValue(await controller.metricsText(), 'kube_regcred_managed_secrets') === 1, {
      description: 'only pull-secret left managed',
    });
    await cache().idle();
    assert.equal(controller.running.controller.queue.scheduledAt(`${ns}/plain`), undefined);
    assert.equal(controller.running.controller.queue.scheduledAt(`${ns}/push-secret`), undefined, 'no timer for a Secret that is no longer a push secret');
  });

  it('refuses a push secret whose identity the policy does not allow to push', async () => {
    await createPushSecret('push-with-puller', 'ci/puller');
    const events = await waitFor(async () => {
      const list = (await kube.events(ns, 'push-with-puller')).filter((e) => e.reason === 'NotAllowed');
      return list.length > 0 ? list : undefined;
    }, { description: 'NotAllowed Event on the push secret of the pull identity' });
    assert.match(events[0]!.message ?? '', /identity ci\/puller may not be used to push/);
    const secret = await kube.secret(ns, 'push-with-puller');
    assert.equal(Buffer.from(secret!.data!['config.json']!, 'base64').toString('utf8'), '{}', 'nothing written');
  });
});
