// Which action an OCI distribution API request needs (pure). A request the grammar does not describe
// is not forwarded at all: what the proxy authorizes must be exactly what the upstream will serve.
import { isRepositoryName } from '../sts/scope.ts';

/** What a registry token's `access` must grant for a request (Distribution's own mapping). */
export type RequiredAction = 'pull' | 'push' | 'delete';

export type ProxyRoute =
  /** `GET /v2/`: any valid token (the API version check clients use to find the challenge). */
  | { kind: 'base' }
  /** `GET /v2/_catalog`: any valid token; the answer is cut down to what the token may pull. */
  | { kind: 'catalog' }
  | {
      kind: 'repository';
      repository: string;
      action: RequiredAction;
      /** `tags` answers carry pagination links; `upload` answers carry upload Locations. */
      endpoint: 'manifest' | 'blob' | 'upload' | 'tags' | 'referrers';
      /** Cross-repository mount (`POST .../uploads/?mount=&from=`): the source needs pull as well. */
      mountFrom?: string;
    };

export type RouteResult = { ok: true; route: ProxyRoute } | { ok: false; status: 404 | 405; reason: string };

// distribution/reference: tags and digests, as the upstream's router accepts them.
const TAG = '[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}';
const DIGEST = '[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+';
// Upload session IDs are UUIDs (2.8, 3.x); no dots or percent signs, so no path tricks.
const UPLOAD_ID = '[A-Za-z0-9_=-]{1,256}';
const NAME = '(.+?)';

const PATTERNS: ReadonlyArray<{ re: RegExp; endpoint: 'manifest' | 'blob' | 'upload-start' | 'upload' | 'tags' | 'referrers' }> = [
  { re: new RegExp(`^/v2/${NAME}/manifests/(?:${TAG}|${DIGEST})$`), endpoint: 'manifest' },
  { re: new RegExp(`^/v2/${NAME}/blobs/uploads/?$`), endpoint: 'upload-start' },
  { re: new RegExp(`^/v2/${NAME}/blobs/uploads/${UPLOAD_ID}$`), endpoint: 'upload' },
  { re: new RegExp(`^/v2/${NAME}/blobs/${DIGEST}$`), endpoint: 'blob' },
  { re: new RegExp(`^/v2/${NAME}/tags/list$`), endpoint: 'tags' },
  { re: new RegExp(`^/v2/${NAME}/referrers/${DIGEST}$`), endpoint: 'referrers' },
];

function methodNotAllowed(): RouteResult {
  return { ok: false, status: 405, reason: 'method not allowed' };
}

/**
 * The route of `method path?query`. `path` is the raw request path (not decoded): percent-encoded
 * or dot segments never match the grammar, so they are never forwarded.
 */
export function routeRequest(method: string, path: string, query: URLSearchParams): RouteResult {
  const read = method === 'GET' || method === 'HEAD';
  if (path === '/v2/' || path === '/v2') return read ? { ok: true, route: { kind: 'base' } } : methodNotAllowed();
  if (path === '/v2/_catalog') return read ? { ok: true, route: { kind: 'catalog' } } : methodNotAllowed();
  for (const { re, endpoint } of PATTERNS) {
    const match = re.exec(path);
    if (!match || !isRepositoryName(match[1]!)) continue;
    const repository = match[1]!;
    const at = (action: RequiredAction, kind: 'manifest' | 'blob' | 'upload' | 'tags' | 'referrers', extra: { mountFrom?: string } = {}): RouteResult => ({
      ok: true,
      route: { kind: 'repository', repository, action, endpoint: kind, ...extra },
    });
    switch (endpoint) {
      case 'manifest':
        if (read) return at('pull', 'manifest');
        if (method === 'PUT') return at('push', 'manifest');
        if (method === 'DELETE') return at('delete', 'manifest');
        return methodNotAllowed();
      case 'blob':
        if (read) return at('pull', 'blob');
        if (method === 'DELETE') return at('delete', 'blob');
        return methodNotAllowed();
      case 'upload-start': {
        if (method !== 'POST') return methodNotAllowed();
        const from = query.get('from');
        return at('push', 'upload', from !== null && query.has('mount') && isRepositoryName(from) ? { mountFrom: from } : {});
      }
      case 'upload':
        // Status (GET), chunk (PATCH), finish (PUT), cancel (DELETE): all part of pushing.
        if (['GET', 'HEAD', 'PATCH', 'PUT', 'DELETE'].includes(method)) return at('push', 'upload');
        return methodNotAllowed();
      case 'tags':
        return read ? at('pull', 'tags') : methodNotAllowed();
      case 'referrers':
        return read ? at('pull', 'referrers') : methodNotAllowed();
    }
  }
  return { ok: false, status: 404, reason: 'not an OCI distribution API path' };
}
