// Time and randomness are dependencies, created in main and passed down, so tests can fix both.

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A number in [0, 1), like Math.random. */
export type Random = () => number;

export const systemRandom: Random = Math.random;
