// client-node's generated, typed API clients, sent through our transport (api-client.ts) as their
// `httpApi`: keep-alive connections and credentials from KubeConfig, the same limits as every other call,
// and a non-2xx answer thrown as KubeApiError before the generated code sees it (it would keep the
// body, which can echo a Secret, in ApiException.body and its message).
import {
  AuthenticationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  PatchStrategy,
  ResponseContext,
  SelfDecodingBody,
  ServerConfiguration,
  createConfiguration,
  setHeaderOptions,
  wrapHttpLibrary,
  type ConfigurationOptions,
  type RequestContext,
} from '@kubernetes/client-node';
import type { KubeApi } from './api-client.ts';

export interface TypedApis {
  core: CoreV1Api;
  coordination: CoordinationV1Api;
  authentication: AuthenticationV1Api;
}

/** The per-call option a patch needs: the generated code would send a JSON Patch content type. */
export const STRATEGIC_MERGE_PATCH_OPTIONS: ConfigurationOptions = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

/** Per-call time limit (the Lease's requests must end within its renew deadline). */
export function timeoutOptions(timeoutMs: number): ConfigurationOptions {
  return setHeaderOptions(TIMEOUT_HEADER, String(timeoutMs));
}

/** Carries a per-call limit from the options above to the transport; never sent. */
const TIMEOUT_HEADER = 'x-kube-regcred-timeout-ms';
const BASE = 'https://kube-api.invalid';

export function createTypedApis(api: KubeApi): TypedApis {
  const httpApi = wrapHttpLibrary({
    async send(request: RequestContext): Promise<ResponseContext> {
      const url = new URL(request.getUrl());
      const headers = { ...request.getHeaders() };
      const timeout = headers[TIMEOUT_HEADER];
      delete headers[TIMEOUT_HEADER];
      const contentType = Object.entries(headers).find(([name]) => name.toLowerCase() === 'content-type')?.[1];
      const body = request.getBody();
      const answer = await api.requestText(request.getHttpMethod(), url.pathname + url.search, {
        ...(typeof body === 'string' ? { body } : {}),
        ...(contentType ? { contentType } : {}),
        ...(timeout ? { timeoutMs: Number(timeout) } : {}),
      });
      const responseHeaders: Record<string, string> = {};
      for (const [name, value] of Object.entries(answer.headers)) if (typeof value === 'string') responseHeaders[name] = value;
      return new ResponseContext(answer.status, responseHeaders, new SelfDecodingBody(Promise.resolve(Buffer.from(answer.text))));
    },
  });
  // The base URL is a placeholder: the transport prepends the real server (with its path prefix).
  const configuration = createConfiguration({ baseServer: new ServerConfiguration(BASE, {}), httpApi });
  return {
    core: new CoreV1Api(configuration),
    coordination: new CoordinationV1Api(configuration),
    authentication: new AuthenticationV1Api(configuration),
  };
}

const byApi = new WeakMap<KubeApi, TypedApis>();

/** The typed clients over `api`, made once per transport. */
export function typedApis(api: KubeApi): TypedApis {
  let apis = byApi.get(api);
  if (!apis) {
    apis = createTypedApis(api);
    byApi.set(api, apis);
  }
  return apis;
}
