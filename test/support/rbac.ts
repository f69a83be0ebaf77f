// The one way tests grant a Role to a ServiceAccount (what the README and docs tell users to do with
// kubectl create role/rolebinding): a Role and a RoleBinding of the same name in one namespace.
import { RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import type { ControlPlane } from './control-plane.ts';

export interface RoleGrant {
  namespace: string;
  /** Name of both the Role and its RoleBinding. */
  name: string;
  rules: V1PolicyRule[];
  serviceAccount: { namespace: string; name: string };
}

export async function grantRole(cp: ControlPlane, grant: RoleGrant): Promise<void> {
  const rbac = cp.kubeConfig('admin').makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({ namespace: grant.namespace, body: { metadata: { name: grant.name }, rules: grant.rules } });
  await rbac.createNamespacedRoleBinding({
    namespace: grant.namespace,
    body: {
      metadata: { name: grant.name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: grant.name },
      subjects: [{ kind: 'ServiceAccount', ...grant.serviceAccount }],
    },
  });
}
