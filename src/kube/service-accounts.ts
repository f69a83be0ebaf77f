// Attaching a pull secret to ServiceAccounts: `imagePullSecrets` gets an entry with the Secret's name.
// A strategic merge patch merges that list by `name`, so the entry is never duplicated and concurrent
// writers (kubectl, other controllers) are not overwritten; a read first avoids a write when present.
import type { V1ServiceAccount } from '@kubernetes/client-node';
import { RegcredError } from '../errors.ts';
import type { KubeApi } from './api-client.ts';
import { classifyKubeError } from './errors.ts';
import { STRATEGIC_MERGE_PATCH_OPTIONS, typedApis } from './typed-apis.ts';

export type AttachResult = 'attached' | 'present';

export interface ServiceAccountAttacher {
  /** Throws RegcredError (KubeNotFound when the ServiceAccount does not exist, KubeForbidden, ...). */
  attach(namespace: string, serviceAccount: string, secretName: string): Promise<AttachResult>;
}

export function createServiceAccountAttacher(options: { api: KubeApi; fieldManager: string }): ServiceAccountAttacher {
  const { core } = typedApis(options.api);
  return {
    async attach(namespace, serviceAccount, secretName) {
      // Name and namespace apart: `ns/name` can exceed the 32-character run last-error redacts as token-like.
      const what = `ServiceAccount ${serviceAccount} in namespace ${namespace}`;
      try {
        const current: V1ServiceAccount = await core.readNamespacedServiceAccount({ name: serviceAccount, namespace });
        if ((current.imagePullSecrets ?? []).some((ref) => ref.name === secretName)) return 'present';
        await core.patchNamespacedServiceAccount(
          { name: serviceAccount, namespace, body: { imagePullSecrets: [{ name: secretName }] }, fieldManager: options.fieldManager },
          STRATEGIC_MERGE_PATCH_OPTIONS,
        );
        return 'attached';
      } catch (err) {
        const error = classifyKubeError(err, `attach to ${what}`);
        if (error.code === 'KubeForbidden') {
          throw new RegcredError('KubeForbidden', `${error.message}: grant get/patch on serviceaccounts to attach pull secrets`, { status: error.status });
        }
        throw error;
      }
    },
  };
}
