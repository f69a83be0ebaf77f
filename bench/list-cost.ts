// Diagnostic, not a goal: what the controller's informer LIST costs on the loaded cluster, as it does it
// today (every dockerconfigjson Secret, whole objects, one response) against the alternatives issue 6
// names: metadata only (PartialObjectMetadataList), and whole objects in pages of 500.
import type { KubeHttp } from './kube-http.ts';

export interface ListCost {
  how: string;
  items: number;
  /** Bytes of JSON the client must receive (and, today, hold and parse at once: the largest page). */
  bytes: number;
  largestPageBytes: number;
  ms: number;
}

const PATH = `/api/v1/secrets?fieldSelector=${encodeURIComponent('type=kubernetes.io/dockerconfigjson')}`;
const METADATA_ONLY = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';

async function list(http: KubeHttp, how: string, accept: string | undefined, limit: number | undefined): Promise<ListCost> {
  const started = performance.now();
  let items = 0;
  let bytes = 0;
  let largestPageBytes = 0;
  let next: string | undefined = '';
  while (next !== undefined) {
    const page = `${PATH}${limit ? `&limit=${limit}` : ''}${next ? `&continue=${encodeURIComponent(next)}` : ''}`;
    const text = await http.text(page, accept);
    const size = Buffer.byteLength(text);
    bytes += size;
    largestPageBytes = Math.max(largestPageBytes, size);
    const parsed = JSON.parse(text) as { items: unknown[]; metadata?: { continue?: string } };
    items += parsed.items.length;
    next = parsed.metadata?.continue || undefined;
  }
  return { how, items, bytes, largestPageBytes, ms: performance.now() - started };
}

export async function measureListCost(http: KubeHttp): Promise<ListCost[]> {
  return [
    await list(http, 'whole Secrets, one response (what the controller does)', undefined, undefined),
    await list(http, 'whole Secrets, pages of 500', undefined, 500),
    await list(http, 'metadata only (PartialObjectMetadataList), one response', METADATA_ONLY, undefined),
  ];
}
