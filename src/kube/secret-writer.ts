// Writes to Secrets: new .dockerconfigjson data plus status annotations under optimistic concurrency
// (a merge patch carrying metadata.resourceVersion, so a concurrent change yields a 409 KubeConflict that
// the caller retries on the fresh object), and a status-only patch that never touches data.
import type { V1Secret } from '@kubernetes/client-node';
import { DOCKER_CONFIG_JSON_KEY } from '../dockerconfig.ts';
import { RegcredError } from '../errors.ts';
import type { KubeApi } from './api-client.ts';
import { classifyKubeError } from './errors.ts';
import { MERGE_PATCH_OPTIONS, typedApis } from './typed-apis.ts';

export interface SecretRef {
  namespace: string;
  name: string;
}

export interface DataWrite extends SecretRef {
  /** The resourceVersion the new content was computed from; the write fails with KubeConflict if stale. */
  resourceVersion: string;
  /** The complete new Docker config document (serialized JSON). */
  dockerConfigJson: string;
  /** The data key it goes to; default `.dockerconfigjson`, `config.json` for push secrets. */
  key?: string;
  /** Annotations to set; `null` removes one. Others are left as they are. */
  annotations: Readonly<Record<string, string | null>>;
}

export interface StatusWrite extends SecretRef {
  annotations: Readonly<Record<string, string | null>>;
}

export interface SecretWriter {
  /** Resolves with the new resourceVersion. Throws RegcredError (KubeConflict, KubeForbidden, ...). */
  writeData(write: DataWrite): Promise<string | undefined>;
  /** Annotation-only merge patch: no precondition, because it never changes what the Secret grants. */
  writeStatus(write: StatusWrite): Promise<string | undefined>;
}

export function createSecretWriter(options: { api: KubeApi; fieldManager: string }): SecretWriter {
  const { core } = typedApis(options.api);
  const patch = async (ref: SecretRef, body: object): Promise<string | undefined> => {
    try {
      const result: V1Secret = await core.patchNamespacedSecret({ name: ref.name, namespace: ref.namespace, body, fieldManager: options.fieldManager }, MERGE_PATCH_OPTIONS);
      return result.metadata?.resourceVersion;
    } catch (err) {
      const error = classifyKubeError(err, `patch Secret ${ref.namespace}/${ref.name}`);
      if (error.code !== 'KubeForbidden') throw error;
      // The usual cause is the per-name write grant: say so where people will read it (Event, logs).
      throw new RegcredError('KubeForbidden', `${error.message}: the controller's RBAC grant does not cover this Secret name (grant update/patch with resourceNames)`, {
        status: error.status,
      });
    }
  };
  return {
    writeData(write) {
      return patch(write, {
        metadata: { resourceVersion: write.resourceVersion, annotations: { ...write.annotations } },
        data: { [write.key ?? DOCKER_CONFIG_JSON_KEY]: Buffer.from(write.dockerConfigJson, 'utf8').toString('base64') },
      });
    },
    writeStatus(write) {
      return patch(write, { metadata: { annotations: { ...write.annotations } } });
    },
  };
}
