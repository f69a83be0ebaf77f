// Which identity and registry one kubelet request is for (pure): the ServiceAccount's annotations
// first, the configured identity template second. The same annotation names and parsers as Secrets.
import { ANNOTATIONS, parseIdentity, parseRegistryHost } from '../annotations.ts';
import { RegcredError, toRegcredError } from '../errors.ts';
import { decodeClaims } from '../token/jwt-times.ts';
import type { CredentialProviderRequest } from './api.ts';

export interface ProviderTargetSettings {
  /** The audience the exchanger needs; the kubelet's serviceAccountTokenAudience must be it. */
  audience: string;
  /**
   * Identity for ServiceAccounts without an identity annotation for the registry, with `{namespace}`
   * and `{serviceAccount}` filled from the token's subject. Unset: the annotation is required.
   */
  identityTemplate?: string | undefined;
}

export interface ServiceAccountRef {
  namespace: string;
  name: string;
}

export type ProviderDecision =
  | { kind: 'exchange'; identity: string; registry: string; serviceAccount: ServiceAccountRef; subjectToken: string; identityFrom: 'annotation' | 'template' }
  | { kind: 'passthrough'; registry: string; serviceAccount: ServiceAccountRef; subjectToken: string }
  | { kind: 'reject'; error: RegcredError; serviceAccount?: ServiceAccountRef };

const SUBJECT_PREFIX = 'system:serviceaccount:';

/**
 * The registry host of an image reference, the way the kubelet's parseRegistry and containerd read it:
 * the first path segment when it looks like a host (has `.` or `:`, or is `localhost`), else Docker Hub.
 */
export function registryOfImage(image: string): string {
  const slash = image.indexOf('/');
  const first = slash === -1 ? '' : image.slice(0, slash);
  if (first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost')) return parseRegistryHost(first);
  return 'docker.io';
}

/** `system:serviceaccount:<ns>:<name>` of an (unverified) ServiceAccount token, and whether it has `audience`. */
function readServiceAccountToken(token: string, audience: string): { serviceAccount: ServiceAccountRef; hasAudience: boolean } {
  let claims: Record<string, unknown>;
  try {
    claims = decodeClaims(token);
  } catch {
    throw new RegcredError('RequestInvalid', 'serviceAccountToken is not a JWT');
  }
  const sub = claims.sub;
  const parts = typeof sub === 'string' && sub.startsWith(SUBJECT_PREFIX) ? sub.slice(SUBJECT_PREFIX.length).split(':') : [];
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
    throw new RegcredError('RequestInvalid', 'serviceAccountToken subject is not system:serviceaccount:<namespace>:<name>');
  }
  const aud = claims.aud;
  const audiences = Array.isArray(aud) ? aud : [aud];
  return { serviceAccount: { namespace: parts[0]!, name: parts[1]! }, hasAudience: audiences.includes(audience) };
}

/** The identity annotation that applies to `registry`, or undefined when the ServiceAccount names none for it. */
function annotatedIdentity(annotations: Readonly<Record<string, string>>, registry: string): string | undefined {
  const primary = annotations[ANNOTATIONS.identity];
  const alias = annotations[ANNOTATIONS.identityAlias];
  if (primary === undefined && alias === undefined) return undefined;
  if (primary !== undefined && alias !== undefined && primary !== alias) {
    throw new RegcredError('IdentityInvalid', `${ANNOTATIONS.identity} and ${ANNOTATIONS.identityAlias} are both set and differ`);
  }
  // On a ServiceAccount the registry annotation says which registry the identity is for; absent, it is
  // for whatever registry the kubelet sends here (the provider config's matchImages chose those).
  const forRegistry = annotations[ANNOTATIONS.registry];
  if (forRegistry !== undefined && parseRegistryHost(forRegistry) !== registry) return undefined;
  return parseIdentity(primary ?? alias);
}

function fillTemplate(template: string, serviceAccount: ServiceAccountRef): string {
  return template.replaceAll('{namespace}', serviceAccount.namespace).replaceAll('{serviceAccount}', serviceAccount.name);
}

/**
 * `passthrough`: the Pod's own token is the registry credential (the registry verifies it), so no
 * identity is chosen: only the token's subject and audience are checked, as for an exchange.
 */
export function decideProviderTarget(request: CredentialProviderRequest, settings: ProviderTargetSettings, mode: 'exchange' | 'passthrough' = 'exchange'): ProviderDecision {
  let serviceAccount: ServiceAccountRef | undefined;
  try {
    const subjectToken = request.serviceAccountToken;
    if (subjectToken === undefined) {
      throw new RegcredError(
        'RequestInvalid',
        'the kubelet sent no ServiceAccount token (the provider config needs tokenAttributes with serviceAccountTokenAudience and requireServiceAccount: true)',
      );
    }
    const read = readServiceAccountToken(subjectToken, settings.audience);
    serviceAccount = read.serviceAccount;
    if (!read.hasAudience) {
      throw new RegcredError('RequestInvalid', `the ServiceAccount token lacks audience ${settings.audience} (the provider config must set tokenAttributes.serviceAccountTokenAudience to it)`);
    }
    const registry = registryOfImage(request.image);
    if (mode === 'passthrough') return { kind: 'passthrough', registry, serviceAccount, subjectToken };
    const who = `${serviceAccount.namespace}/${serviceAccount.name}`;
    const fromAnnotation = annotatedIdentity(request.serviceAccountAnnotations ?? {}, registry);
    if (fromAnnotation !== undefined) {
      return { kind: 'exchange', identity: fromAnnotation, registry, serviceAccount, subjectToken, identityFrom: 'annotation' };
    }
    if (settings.identityTemplate === undefined) {
      throw new RegcredError('IdentityInvalid', `ServiceAccount ${who} has no ${ANNOTATIONS.identity} annotation for ${registry} (and no --identity-template is set)`);
    }
    const identity = parseIdentity(fillTemplate(settings.identityTemplate, serviceAccount));
    return { kind: 'exchange', identity, registry, serviceAccount, subjectToken, identityFrom: 'template' };
  } catch (error) {
    const rejected = toRegcredError(error);
    return serviceAccount ? { kind: 'reject', error: rejected, serviceAccount } : { kind: 'reject', error: rejected };
  }
}
