// Pass-through registries: those that verify OIDC tokens themselves (kube-regcred sts /token, zot,
// Harbor, Cloudsmith), so the credential written into the Secret IS a ServiceAccount token with the
// registry's audience. Which Secrets are pass-through, and with which audience and username (pure).
import { RegcredError } from './errors.ts';

/** How a configured pass-through registry is reached. */
export interface PassthroughRegistry {
  /** The `aud` of the ServiceAccount token; what the registry's OIDC configuration accepts. */
  audience: string;
  /** The Docker config username beside the token (kube-regcred sts: the issuer's name). */
  username: string;
}

/** What a pass-through Secret asks for. */
export interface PassthroughTarget {
  audience: string;
  username: string;
}

export interface PassthroughSettings {
  /** Registries whose Secrets are all pass-through, by host[:port]. */
  passthroughRegistries?: Readonly<Record<string, PassthroughRegistry>>;
}

/** The value of kube-regcred.io/exchange that asks for pass-through. */
export const PASSTHROUGH = 'passthrough';
/** Username when the registry's configuration names none. */
export const DEFAULT_PASSTHROUGH_USERNAME = 'kube-regcred';

/** Audiences: what TokenRequest and the token-for annotation can carry unambiguously (no `,` or `=`). */
const AUDIENCE_PATTERN = /^[A-Za-z0-9._:/-]{1,253}$/;

export function isValidAudience(value: string): boolean {
  return AUDIENCE_PATTERN.test(value);
}

/**
 * The pass-through target of a Secret for `registry`, or undefined for an exchanged one. Pass-through
 * when the registry is configured so, or when the Secret says `kube-regcred.io/exchange: passthrough`
 * (then the audience is the registry host unless configured). Throws AccessInvalid for another value.
 */
export function passthroughTargetFor(registry: string, exchange: string | undefined, settings: PassthroughSettings): PassthroughTarget | undefined {
  if (exchange !== undefined && exchange !== PASSTHROUGH) {
    throw new RegcredError('AccessInvalid', `kube-regcred.io/exchange must be ${PASSTHROUGH} (or absent)`);
  }
  const configured = settings.passthroughRegistries?.[registry];
  if (configured) return { audience: configured.audience, username: configured.username };
  if (exchange === PASSTHROUGH) return { audience: registry, username: DEFAULT_PASSTHROUGH_USERNAME };
  return undefined;
}
