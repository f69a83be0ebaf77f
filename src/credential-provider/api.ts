// The kubelet's credentialprovider.kubelet.k8s.io/v1 wire types: a strict decoder for the request and
// an encoder that can only produce a response the kubelet's strict decoder accepts (pure).
import { RegcredError } from '../errors.ts';
import { isPlainObject } from '../plain-object.ts';

export const API_VERSION = 'credentialprovider.kubelet.k8s.io/v1';
export const REQUEST_KIND = 'CredentialProviderRequest';
export const RESPONSE_KIND = 'CredentialProviderResponse';

/** What the kubelet sends on stdin (k8s.io/kubelet/pkg/apis/credentialprovider/v1). */
export interface CredentialProviderRequest {
  /** The image being pulled, as the Pod names it, without tag or digest in practice. */
  image: string;
  /** The Pod's ServiceAccount token (KEP-4412, tokenAttributes set); secret, never logged. */
  serviceAccountToken?: string;
  /** Only the annotation keys the provider config lists as required or optional. */
  serviceAccountAnnotations?: Record<string, string>;
}

/**
 * How the kubelet keys its cache of our answer. `Global` is never offered: one answer for every image
 * of every registry is wrong for per-registry identities.
 */
export type CacheKeyType = 'Image' | 'Registry';
export const CACHE_KEY_TYPES: readonly CacheKeyType[] = ['Image', 'Registry'];

/** One answer, in the terms we decide in; encodeResponse turns it into the wire form. */
export interface CredentialAnswer {
  cacheKeyType: CacheKeyType;
  /** Whole seconds the kubelet may reuse the answer; 0: do not cache. */
  cacheDurationSeconds: number;
  /** The match pattern the credential is for (a registry host, or an image with Image keys). */
  pattern: string;
  username: string;
  password: string;
}

const REQUEST_FIELDS = new Set(['apiVersion', 'kind', 'image', 'serviceAccountToken', 'serviceAccountAnnotations']);
/** A request is a few KiB (a JWT and some annotations); anything far larger is not the kubelet. */
export const MAX_REQUEST_BYTES = 1024 * 1024;

function invalid(message: string): RegcredError {
  return new RegcredError('RequestInvalid', `CredentialProviderRequest: ${message}`);
}


/**
 * Parses the kubelet's request strictly, as the kubelet parses our answer: unknown fields, a wrong
 * apiVersion or kind, and wrongly typed fields are refused. Messages name fields, never values (the
 * token is one of them).
 */
export function decodeRequest(raw: string): CredentialProviderRequest {
  if (Buffer.byteLength(raw, 'utf8') > MAX_REQUEST_BYTES) throw invalid(`larger than ${MAX_REQUEST_BYTES} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    // The SyntaxError quotes the input, which holds the token: do not keep it.
    throw invalid('stdin is not JSON');
  }
  if (!isPlainObject(parsed)) throw invalid('not a JSON object');
  const unknown = Object.keys(parsed).filter((key) => !REQUEST_FIELDS.has(key));
  if (unknown.length > 0) throw invalid(`unknown field ${JSON.stringify(unknown.sort()[0]!.slice(0, 64))}`);
  if (parsed.apiVersion !== API_VERSION) throw invalid(`apiVersion must be ${API_VERSION}`);
  if (parsed.kind !== REQUEST_KIND) throw invalid(`kind must be ${REQUEST_KIND}`);
  if (typeof parsed.image !== 'string' || parsed.image === '') throw invalid('image must be a non-empty string');
  const request: CredentialProviderRequest = { image: parsed.image };
  const token = parsed.serviceAccountToken;
  if (token !== undefined && token !== null) {
    if (typeof token !== 'string') throw invalid('serviceAccountToken must be a string');
    if (token !== '') request.serviceAccountToken = token;
  }
  const annotations = parsed.serviceAccountAnnotations;
  if (annotations !== undefined && annotations !== null) {
    if (!isPlainObject(annotations) || !Object.values(annotations).every((v) => typeof v === 'string')) {
      throw invalid('serviceAccountAnnotations must map strings to strings');
    }
    request.serviceAccountAnnotations = { ...(annotations as Record<string, string>) };
  }
  return request;
}

/**
 * The response JSON. Built field by field from a typed answer, so nothing else can reach stdout:
 * exactly apiVersion, kind, cacheKeyType, cacheDuration (a Go duration string, `<n>s`) and one auth
 * entry of {username, password}. Throws Internal (a bug of ours) rather than emit what the kubelet
 * would refuse.
 */
export function encodeResponse(answer: CredentialAnswer): string {
  if (!CACHE_KEY_TYPES.includes(answer.cacheKeyType)) throw new RegcredError('Internal', 'cacheKeyType must be Image or Registry');
  const seconds = answer.cacheDurationSeconds;
  if (!Number.isSafeInteger(seconds) || seconds < 0) throw new RegcredError('Internal', 'cacheDuration must be whole seconds ≥ 0');
  if (answer.pattern === '') throw new RegcredError('Internal', 'auth pattern is empty');
  if (typeof answer.username !== 'string' || typeof answer.password !== 'string') {
    throw new RegcredError('Internal', 'username and password must be strings');
  }
  return JSON.stringify({
    apiVersion: API_VERSION,
    kind: RESPONSE_KIND,
    cacheKeyType: answer.cacheKeyType,
    cacheDuration: `${seconds}s`,
    auth: { [answer.pattern]: { username: answer.username, password: answer.password } },
  });
}
