// Typed errors with a stable code. Logs, Events, the last-error annotation, metric labels and tests
// match on `code`, never on message text; messages and codes never carry secret material.

/** Every error the project reports, by code. The value says whether retrying can help. */
export const ERROR_CODES = {
  // Secret input: fixed only by a change to the Secret (or the controller's configuration).
  IdentityInvalid: 'permanent',
  RegistryInvalid: 'permanent',
  RegistryNotConfigured: 'permanent',
  DockerConfigInvalid: 'permanent',
  DockerConfigTooLarge: 'permanent',
  AccessInvalid: 'permanent',
  NamespaceNotAllowed: 'permanent',
  ServiceAccountInvalid: 'permanent',
  // Security token service (client side).
  StsUnreachable: 'transient',
  StsTimeout: 'transient',
  StsServerError: 'transient',
  StsRateLimited: 'transient',
  StsUnauthorized: 'permanent',
  StsForbidden: 'permanent',
  StsRejected: 'permanent',
  StsBadResponse: 'transient',
  RegistryTokenInvalid: 'transient',
  // Kubernetes API.
  KubeForbidden: 'permanent',
  KubeConflict: 'transient',
  KubeNotFound: 'permanent',
  KubeUnavailable: 'transient',
  KubeInvalid: 'permanent',
  TokenRequestFailed: 'transient',
  TokenRequestForbidden: 'permanent',
  /** This replica cannot prove it still leads (leader election): it must not write; not reported. */
  NotLeader: 'transient',
  // Token service (server side).
  CredentialMissing: 'permanent',
  CredentialInvalid: 'permanent',
  IssuerUnknown: 'permanent',
  IdentityUnknown: 'permanent',
  IdentityMismatch: 'permanent',
  AudienceInvalid: 'permanent',
  ScopeInvalid: 'permanent',
  JwksUnavailable: 'transient',
  ConfigInvalid: 'permanent',
  RequestInvalid: 'permanent',
  SigningKeyInvalid: 'permanent',
  Internal: 'transient',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;
export type ErrorKind = (typeof ERROR_CODES)[ErrorCode];

export interface RegcredErrorOptions {
  cause?: unknown;
  /** A hint from the peer (Retry-After), in milliseconds. */
  retryAfterMs?: number;
  /** HTTP status of the peer's answer, when there was one. */
  status?: number;
}

/**
 * The one error type of the project. `message` is written for people and must already be free of
 * tokens, passwords and response bodies that could hold them.
 */
export class RegcredError extends Error {
  readonly code: ErrorCode;
  readonly retryAfterMs: number | undefined;
  readonly status: number | undefined;

  constructor(code: ErrorCode, message: string, options: RegcredErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RegcredError';
    this.code = code;
    this.retryAfterMs = options.retryAfterMs;
    this.status = options.status;
  }

  get kind(): ErrorKind {
    return ERROR_CODES[this.code];
  }

  get transient(): boolean {
    return this.kind === 'transient';
  }
}

export function isRegcredError(value: unknown): value is RegcredError {
  return value instanceof RegcredError;
}

/** Wraps anything thrown into a RegcredError; unknown failures count as transient and internal. */
export function toRegcredError(value: unknown): RegcredError {
  if (value instanceof RegcredError) return value;
  return new RegcredError('Internal', 'unexpected internal error', { cause: value });
}
