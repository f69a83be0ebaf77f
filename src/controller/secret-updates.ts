// The writes a reconcile makes to a Secret, each built from what decide() parsed (never from the
// informer's object, which stays frozen): a new token, the removal of a revoked one, a status patch.
import { ANNOTATIONS, formatStatus, registryOfTokenFor } from '../annotations.ts';
import type { Clock } from '../clock.ts';
import {
  configKeyOf,
  decodeDockerConfig,
  encodeDockerConfig,
  hasOmittedEntry,
  hasOwnRegistryEntry,
  isSingleEntryFor,
  parseDockerConfig,
  withoutRegistryEntry,
  withRegistryToken,
  type DockerConfig,
} from '../dockerconfig.ts';
import { RegcredError } from '../errors.ts';
import type { RegistryToken } from '../exchange/exchanger.ts';
import { EVENT_REASONS, type EventRecorder } from '../kube/events.ts';
import type { SecretObject } from '../kube/secret-informer.ts';
import type { SecretWriter } from '../kube/secret-writer.ts';
import type { Logger } from '../log.ts';
import type { SecretReading } from './decide.ts';
import type { ControllerMetrics } from './metrics.ts';
import type { OwnWrites } from './own-writes.ts';
import { objectKey } from '../object-key.ts';
import { tokenDigest } from '../token/held-token.ts';

export interface SecretUpdatesDeps {
  writer: SecretWriter;
  events: EventRecorder;
  metrics: ControllerMetrics;
  clock: Clock;
  /** Told of each token write just before it is sent, so its own watch event can be told apart. */
  ownWrites?: OwnWrites;
}

export interface SecretUpdates {
  /** Writes `token` for the reading's target (and the status annotations), clearing last-error when asked. */
  writeToken(secret: SecretObject, reading: SecretReading, token: RegistryToken, clearError: boolean): Promise<void>;
  /**
   * Removes kube-regcred's entry for `registry` (and the expires-at/token-for annotations). The token
   * itself stays valid at the registry until its exp: revocation stops its use from this Secret and
   * stops refreshes; it cannot recall copies already read.
   */
  revoke(secret: SecretObject, reading: SecretReading, registry: string, log: Logger): Promise<void>;
  writeStatus(secret: SecretObject, annotations: Readonly<Record<string, string | null>>): Promise<void>;
}

export function createSecretUpdates(deps: SecretUpdatesDeps): SecretUpdates {
  const { writer, metrics } = deps;

  /**
   * Writes `change(document)` over the Secret's Docker config, conditional on the resourceVersion it was
   * read at. The document is decide()'s reading; when the change keeps an entry the cache holds only in
   * compact form (a token for another registry), the document is read from the API first: a GET that
   * only a retargeted Secret costs.
   */
  async function writeConfig(
    secret: SecretObject,
    reading: SecretReading,
    change: (document: DockerConfig) => DockerConfig,
    annotations: Readonly<Record<string, string | null>>,
    encode: (document: DockerConfig) => string = encodeDockerConfig,
  ): Promise<void> {
    const { resourceVersion } = secret;
    if (resourceVersion === undefined) throw new RegcredError('KubeInvalid', 'Secret has no resourceVersion');
    const key = configKeyOf(secret);
    let config = change(reading.config);
    if (hasOmittedEntry(config)) {
      const stored = await writer.readDocument({ namespace: secret.namespace, name: secret.name, resourceVersion, key });
      config = change(parseDockerConfig(stored === undefined ? undefined : decodeDockerConfig(stored)));
    }
    await writer.writeData({ namespace: secret.namespace, name: secret.name, resourceVersion, dockerConfigBase64: encode(config), key, annotations });
  }

  /**
   * A document that is only `token`'s entry for `registry` is the same for every Secret that gets the
   * token (a cold start writes one identity's token to thousands): its base64 is made once per token.
   */
  const singleEntryEncodings = new WeakMap<RegistryToken, Map<string, string>>();
  function encodeWithToken(config: DockerConfig, token: RegistryToken, registry: string, username: string | undefined): string {
    if (!isSingleEntryFor(config, registry)) return encodeDockerConfig(config);
    let byEntry = singleEntryEncodings.get(token);
    if (byEntry === undefined) singleEntryEncodings.set(token, (byEntry = new Map()));
    const entryKey = `${registry}\0${username ?? ''}`;
    let encoded = byEntry.get(entryKey);
    if (encoded === undefined) {
      encoded = encodeDockerConfig(config);
      byEntry.set(entryKey, encoded);
    }
    return encoded;
  }

  return {
    async writeToken(secret, reading, token, clearError) {
      const { target } = reading;
      // After a registry change, the token we wrote for the old registry is not left behind.
      const oldRegistry = registryOfTokenFor(secret.annotations[ANNOTATIONS.tokenFor]);
      const change = (document: DockerConfig) => {
        const previous =
          oldRegistry !== undefined && oldRegistry !== target.registry && hasOwnRegistryEntry(document, oldRegistry) ? withoutRegistryEntry(document, oldRegistry) : document;
        return withRegistryToken(previous, target.registry, token.token, target.passthrough?.username);
      };
      const annotations = formatStatus({ target, expiresAt: token.expiresAt, refreshedAt: deps.clock.now(), ...(clearError ? { error: null } : {}) });
      const key = objectKey(secret);
      deps.ownWrites?.sending(key, tokenDigest(token.token));
      try {
        await writeConfig(secret, reading, change, annotations, (config) => encodeWithToken(config, token, target.registry, target.passthrough?.username));
      } catch (err) {
        deps.ownWrites?.forget(key);
        throw err;
      }
      metrics.secretRefreshes.inc();
    },
    async revoke(secret, reading, registry, log) {
      await writeConfig(secret, reading, (document) => withoutRegistryEntry(document, registry), { [ANNOTATIONS.expiresAt]: null, [ANNOTATIONS.tokenFor]: null });
      metrics.revocations.inc();
      log.warn({ registry }, 'registry token removed: the identity policy no longer allows it');
      await deps.events.record(secret, {
        type: 'Warning',
        reason: EVENT_REASONS.TokenRevoked,
        message: `the registry token for ${registry} was removed: the identity policy no longer allows this Secret's identity here`,
      });
    },
    async writeStatus(secret, annotations) {
      await writer.writeStatus({ namespace: secret.namespace, name: secret.name, annotations });
    },
  };
}
