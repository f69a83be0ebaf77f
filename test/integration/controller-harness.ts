// Shared set-up for the controller's integration tests on the real test bed: the controller's own
// ServiceAccount with RBAC like the shipped manifests (never admin), a test STS that verifies its tokens
// against the apiserver JWKS, and an in-process controller whose logs are captured. useControllerBed()
// puts the usual three together for a suite and stops what it started.
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { ApiException, AuthorizationV1Api, CoreV1Api, RbacAuthorizationV1Api, type CoreV1Event, type V1Secret } from '@kubernetes/client-node';
import type { DestinationStream } from 'pino';
import { after, before } from 'node:test';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import { grantRole } from '../support/rbac.ts';
import { waitFor } from '../support/wait.ts';
import { startTestSts, type TestSts } from '../support/test-sts.ts';
import { startControllerProcess, type RunningController } from '../../src/cmd/controller.ts';
import { parseControllerSettings } from '../../src/controller/options.ts';

export const STS_AUDIENCE = 'sts.kube-regcred.test';
export const REGISTRY = 'registry.kube-regcred.test';
export const SA_NAME = 'kube-regcred';

export function suffix(): string {
  return randomUUID().slice(0, 8);
}

export interface ControllerIdentity {
  /** Namespace of the controller's ServiceAccount and Lease. */
  namespace: string;
  /** A kubeconfig file holding a token of that ServiceAccount. */
  kubeconfig: string;
  /** The ServiceAccount token in the kubeconfig (to prove it never leaks). */
  token: string;
}

/**
 * Creates the controller's namespace, ServiceAccount and RBAC like manifests/base (ClusterRoles for
 * read + events and for update/patch of Secrets named pull-secret; a Role for Leases and its own
 * serviceaccounts/token), then a kubeconfig with a token of that ServiceAccount.
 */
export async function createControllerIdentity(
  cp: ControlPlane,
  options: { bindReadSecrets?: boolean } = {},
  id = suffix(),
): Promise<ControllerIdentity & { bindReadSecrets(): Promise<void> }> {
  const kc = cp.kubeConfig('admin');
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const namespace = `regcred-${id}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: SA_NAME } } });
  const subject = [{ kind: 'ServiceAccount', name: SA_NAME, namespace }];
  const read = `kube-regcred-${id}:read-secrets`;
  const write = `kube-regcred-${id}:write-pull-secrets`;
  await rbac.createClusterRole({
    body: {
      metadata: { name: read },
      rules: [
        { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
        // For the identity policy's namespace selectors (manifests/base grants the same).
        { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] },
      ],
    },
  });
  await rbac.createClusterRole({
    body: {
      metadata: { name: write },
      rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['update', 'patch'], resourceNames: ['pull-secret'] }],
    },
  });
  const bind = (role: string) =>
    rbac.createClusterRoleBinding({
      body: { metadata: { name: role }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects: subject },
    });
  await bind(write);
  if (options.bindReadSecrets !== false) await bind(read);
  await rbac.createNamespacedRole({
    namespace,
    body: {
      metadata: { name: 'kube-regcred' },
      rules: [
        // Like manifests/base/role.yaml, which names the default Lease: tests use their own Lease names.
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
        { apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'], resourceNames: [SA_NAME] },
      ],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: { metadata: { name: 'kube-regcred' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'kube-regcred' }, subjects: subject },
  });
  const issued = await core.createNamespacedServiceAccountToken({
    name: SA_NAME,
    namespace,
    body: { spec: { expirationSeconds: 3600 } },
  });
  const token = issued.status?.token;
  if (!token) throw new Error('TokenRequest for the controller ServiceAccount returned no token');
  return {
    namespace,
    kubeconfig: cp.writeKubeconfig({ token, name: `system:serviceaccount:${namespace}:${SA_NAME}` }),
    token,
    bindReadSecrets: async () => void (await bind(read)),
  };
}

export function startSts(cp: ControlPlane, tokenLifetimeSeconds: number): Promise<TestSts> {
  return startTestSts({
    jwksUrl: `${cp.issuer}/openid/v1/jwks`,
    caPem: cp.caPem,
    expectedAudience: STS_AUDIENCE,
    expectedIssuer: cp.issuer,
    tokenLifetimeSeconds,
  });
}

/** Everything the controller logged, one parsed JSON object per line, plus the raw text. */
export class LogCapture {
  readonly lines: string[] = [];
  readonly stream: DestinationStream = new Writable({
    write: (chunk: Buffer, _encoding, callback) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') this.lines.push(line);
      callback();
    },
  }) as unknown as DestinationStream;
  text(): string {
    return this.lines.join('\n');
  }
}

export interface TestController {
  running: RunningController;
  logs: LogCapture;
  metricsText(): Promise<string>;
  stop(): Promise<void>;
}

export async function startController(
  identity: ControllerIdentity,
  sts: TestSts,
  watchNamespaces: string[],
  extraArgs: string[] = [],
): Promise<TestController> {
  const argv = [
    '--kubeconfig', identity.kubeconfig,
    '--namespaces', watchNamespaces.join(','),
    '--issuer-url', sts.url,
    '--audience', STS_AUDIENCE,
    '--default-registry', REGISTRY,
    '--service-account-name', SA_NAME,
    '--service-account-namespace', identity.namespace,
    '--ops-address', '127.0.0.1:0',
    '--exchange-timeout', '2s',
    '--backoff-base', '200ms',
    '--backoff-max', '2s',
    '--log-level', 'debug',
    ...extraArgs,
  ];
  const settings = parseControllerSettings(argv, {});
  const logs = new LogCapture();
  const running = await startControllerProcess(settings, { env: {}, logDestination: logs.stream });
  return {
    running,
    logs,
    metricsText: () => running.registry.metrics(),
    async stop() {
      await running.stop();
      // KUBE_REGCRED_TEST_LOGS=1 shows what the controller logged, for debugging a failing test.
      if (process.env['KUBE_REGCRED_TEST_LOGS']) process.stderr.write(`--- controller ${running.identity} logs ---\n${logs.text()}\n`);
    },
  };
}

export interface ControllerBedOptions {
  /** Lifetime of the registry tokens the test STS issues; default 3600. */
  stsTokenLifetimeSeconds?: number;
  /** Without the read-Secrets grant (the test binds it later with identity.bindReadSecrets()). */
  bindReadSecrets?: boolean;
}

/** What a suite's before() hook set up; read it in tests and in the suite's own later hooks. */
export interface ControllerBed {
  readonly cp: ControlPlane;
  readonly kube: Kube;
  readonly identity: ControllerIdentity & { bindReadSecrets(): Promise<void> };
  readonly sts: TestSts;
  /** Starts a controller (as `identity` unless another is given) that the bed stops after the suite. */
  startController(watchNamespaces: string[], extraArgs?: string[], identity?: ControllerIdentity): Promise<TestController>;
}

/**
 * For a describe(): the test bed, an admin client, the controller's identity and a test STS, made in
 * a before() hook (registered now, so it runs before the suite's own); an after() hook stops every
 * controller the suite started through the bed, then the STS.
 */
export function useControllerBed(options: ControllerBedOptions = {}): ControllerBed {
  let state: { cp: ControlPlane; kube: Kube; identity: ControllerIdentity & { bindReadSecrets(): Promise<void> }; sts: TestSts } | undefined;
  const controllers: TestController[] = [];
  const ready = () => {
    if (!state) throw new Error('useControllerBed: used before its before() hook ran');
    return state;
  };
  before(async () => {
    const cp = await useControlPlane();
    const kube = new Kube(cp);
    const identity = await createControllerIdentity(cp, options.bindReadSecrets === false ? { bindReadSecrets: false } : {});
    const sts = await startSts(cp, options.stsTokenLifetimeSeconds ?? 3600);
    state = { cp, kube, identity, sts };
  });
  after(async () => {
    for (const controller of controllers) await controller.stop();
    await state?.sts.stop();
  });
  return {
    get cp() {
      return ready().cp;
    },
    get kube() {
      return ready().kube;
    },
    get identity() {
      return ready().identity;
    },
    get sts() {
      return ready().sts;
    },
    async startController(watchNamespaces, extraArgs = [], identity = ready().identity) {
      const controller = await startController(identity, ready().sts, watchNamespaces, extraArgs);
      controllers.push(controller);
      return controller;
    },
  };
}

/** The value of one sample in Prometheus text, 0 when absent. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = (match[2] ?? '').split(',').filter((s) => s !== '');
    if (wanted.every((w) => have.includes(w)) && have.length === wanted.length) return Number(match[3]);
  }
  return 0;
}

export class Kube {
  readonly core: CoreV1Api;
  readonly rbac: RbacAuthorizationV1Api;
  constructor(cp: ControlPlane) {
    this.core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
    this.rbac = cp.kubeConfig('admin').makeApiClient(RbacAuthorizationV1Api);
  }

  async namespace(prefix: string): Promise<string> {
    const name = `${prefix}-${suffix()}`;
    await this.core.createNamespace({ body: { metadata: { name } } });
    return name;
  }

  async createPullSecret(
    namespace: string,
    name: string,
    annotations: Record<string, string>,
    dockerConfigJson: string | undefined = '{}',
  ): Promise<V1Secret> {
    return this.core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name, namespace, annotations },
        type: 'kubernetes.io/dockerconfigjson',
        data: dockerConfigJson === undefined ? {} : { '.dockerconfigjson': Buffer.from(dockerConfigJson).toString('base64') },
      },
    });
  }

  async secret(namespace: string, name: string): Promise<V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ namespace, name });
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  }

  async events(namespace: string, name: string): Promise<CoreV1Event[]> {
    const list = await this.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
    return list.items;
  }
}

export function dockerConfigOf(secret: V1Secret | undefined): Record<string, unknown> | undefined {
  const raw = secret?.data?.['.dockerconfigjson'];
  if (raw === undefined) return undefined;
  return JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as Record<string, unknown>;
}

/** The token kube-regcred wrote for `registry`, if any (password, checked against `auth`). */
export function tokenOf(secret: V1Secret | undefined, registry = REGISTRY): string | undefined {
  const config = dockerConfigOf(secret) as { auths?: Record<string, { username?: string; password?: string; auth?: string }> } | undefined;
  const entry = config?.auths?.[registry];
  if (!entry?.password) return undefined;
  if (entry.username !== '_token') throw new Error(`username is ${entry.username}, expected _token`);
  const auth = Buffer.from(entry.auth ?? '', 'base64').toString('utf8');
  if (auth !== `_token:${entry.password}`) throw new Error('auth does not encode _token:<password>');
  return entry.password;
}

/** exp of a JWT in ms (decoded, not verified: the test STS issued it). */
export function expMs(token: string): number {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp: number };
  return payload.exp * 1000;
}

/**
 * Grants the controller update/patch on one more Secret name with a Role (what the README tells users
 * to do), and waits until the apiserver's RBAC cache answers "allowed" for it.
 */
export async function grantSecretName(cp: ControlPlane, identity: ControllerIdentity, namespace: string, name: string): Promise<void> {
  const kc = cp.kubeConfig('admin');
  await grantRole(cp, {
    namespace,
    name: `kube-regcred-${name}`,
    rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['update', 'patch'], resourceNames: [name] }],
    serviceAccount: { namespace: identity.namespace, name: SA_NAME },
  });
  const authz = kc.makeApiClient(AuthorizationV1Api);
  await waitFor(async () => {
    const review = await authz.createSubjectAccessReview({
      body: {
        spec: {
          user: `system:serviceaccount:${identity.namespace}:${SA_NAME}`,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${identity.namespace}`, 'system:authenticated'],
          resourceAttributes: { namespace, verb: 'patch', resource: 'secrets', name },
        },
      },
    });
    return review.status?.allowed === true;
  }, { description: `patch on Secret ${namespace}/${name} granted` });
}
