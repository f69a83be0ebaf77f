// Writes to Secrets: new .dockerconfigjson data plus status annotations under optimistic concurrency
// (a merge patch carrying metadata.resourceVersion, so a concurrent change yields a 409 KubeConflict that
// the caller retries on the fresh object), and a status-only patch that never touches data.
import { DOCKER_CONFIG_JSON_KEY } from '../dockerconfig.ts';
import { RegcredError } from '../errors.ts';
import type { KubeApi } from './api-client.ts';
import { classifyKubeError } from './errors.ts';

export interface SecretRef {
  namespace: string;
  name: string;
}

export interface DataWrite extends SecretRef {
  /** The resourceVersion the new content was computed from; the write fails with KubeConflict if stale. */
  resourceVersion: string;
  /** The complete new Docker config document, serialized and base64-encoded (dockerconfig.ts encodeDockerConfig). */
  dockerConfigBase64: string;
  /** The data key it goes to; default `.dockerconfigjson`, `config.json` for push secrets. */
  key?: string;
  /** Annotations to set; `null` removes one. Others are left as they are. */
  annotations: Readonly<Record<string, string | null>>;
}

export interface StatusWrite extends SecretRef {
  annotations: Readonly<Record<string, string | null>>;
}

export interface DocumentRead extends SecretRef {
  /** The resourceVersion the caller's view is at: a Secret changed since fails with KubeConflict. */
  resourceVersion: string;
  key: string;
}

export interface SecretWriter {
  /**
   * The base64 value of `key` as the Secret holds it now (undefined: absent), for a write that must keep
   * what the cache did not (an omitted entry, kube/compact-docker-config.ts).
   */
  readDocument(read: DocumentRead): Promise<string | undefined>;
  /** Resolves with the new resourceVersion. Throws RegcredError (KubeConflict, KubeForbidden, ...). */
  writeData(write: DataWrite): Promise<string | undefined>;
  /** Annotation-only merge patch: no precondition, because it never changes what the Secret grants. */
  writeStatus(write: StatusWrite): Promise<string | undefined>;
}

function secretPath(ref: SecretRef): string {
  return `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/secrets/${encodeURIComponent(ref.name)}`;
}

export function createSecretWriter(options: { api: KubeApi; fieldManager: string }): SecretWriter {
  const patch = async (ref: SecretRef, body: object): Promise<string | undefined> => {
    try {
      // Only the new resourceVersion is read from the answer (api-client.ts asks for just the metadata).
      return await options.api.requestResourceVersion('PATCH', secretPath(ref), {
        query: { fieldManager: options.fieldManager },
        body,
        contentType: 'application/merge-patch+json',
      });
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
    async readDocument(read) {
      let secret: { metadata?: { resourceVersion?: string }; data?: Record<string, string> };
      try {
        secret = await options.api.request('GET', secretPath(read));
      } catch (err) {
        throw classifyKubeError(err, `get Secret ${read.namespace}/${read.name}`);
      }
      // Another version than the one decided on: the watch brings it, and the reconcile runs again.
      if (secret.metadata?.resourceVersion !== read.resourceVersion) {
        throw new RegcredError('KubeConflict', `get Secret ${read.namespace}/${read.name}: changed since it was read`);
      }
      return secret.data?.[read.key];
    },
    writeData(write) {
      return patch(write, {
        metadata: { resourceVersion: write.resourceVersion, annotations: { ...write.annotations } },
        data: { [write.key ?? DOCKER_CONFIG_JSON_KEY]: write.dockerConfigBase64 },
      });
    },
    writeStatus(write) {
      return patch(write, { metadata: { annotations: { ...write.annotations } } });
    },
  };
}
