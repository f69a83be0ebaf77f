// Writes to Secrets: new .dockerconfigjson data plus status annotations under optimistic concurrency
// (a merge patch carrying metadata.resourceVersion, so a concurrent change yields a 409 KubeConflict that
// the caller retries on the fresh object), and a status-only patch that never touches data.
import type { V1Secret } from '@kubernetes/client-node';
import { RegcredError } from '../errors.ts';
import { MERGE_PATCH, type KubeApi } from './api-client.ts';
import { classifyKubeError } from './errors.ts';

export const DOCKER_CONFIG_JSON_KEY = '.dockerconfigjson';
/** The key of a push secret: the file build tools (kaniko, buildah, skopeo) mount as config.json. */
export const CONFIG_JSON_KEY = 'config.json';

/**
 * The answer to a write as PartialObjectMetadata (the apiserver honours it for PATCH too), else the whole
 * object: a write to a tenant's 1 MiB Secret then answers about 1 KiB, not the 1 MiB again.
 */
const METADATA_ONLY = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

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
  const patch = async (ref: SecretRef, body: object): Promise<string | undefined> => {
    try {
      // Only the new resourceVersion is read: the answer is the metadata, not the Secret (its data) again.
      const result = await options.api.request<V1Secret>('PATCH', `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/secrets/${encodeURIComponent(ref.name)}`, {
        query: { fieldManager: options.fieldManager },
        body,
        contentType: MERGE_PATCH,
        accept: METADATA_ONLY,
      });
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
