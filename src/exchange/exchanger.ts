// The one interface every token-exchange protocol implements (Chainguard STS today; our own sts and
// cloud registries later), so the controller and the shared contract suite see them all alike.

/** A registry token and the instants read from it (never verified by us: the registry does that). */
export interface RegistryToken {
  token: string;
  /** When the token stops working: its JWT `exp`, or what the peer said (the earlier), for opaque tokens only the latter. */
  expiresAt: Date;
  issuedAt?: Date;
  notBefore?: Date;
}

export interface ExchangeRequest {
  /** The identity (UID) to act as. */
  identity: string;
  /** The registry host the token is for. */
  registry: string;
  /** The caller's own credential (a ServiceAccount JWT); secret, never logged. */
  subjectToken: string;
  /** What the token is for (pull secret or push secret); protocols with capabilities ask accordingly. Default pull. */
  access?: 'pull' | 'push';
}

export interface Exchanger {
  /** Short protocol name for logs and metric labels, e.g. `chainguard`. */
  readonly name: string;
  /** The audience the subject token must carry (what TokenRequest is asked for). */
  readonly audience: string;
  /**
   * Exchanges the subject token for a registry token. Rejects with a RegcredError whose code says what
   * went wrong (Sts*, RegistryTokenInvalid), or with the signal's reason when `signal` aborts.
   */
  exchange(request: ExchangeRequest, signal?: AbortSignal): Promise<RegistryToken>;
}
