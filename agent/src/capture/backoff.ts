/** Waits between reopenings of a dropped source: `initialMs`, doubling up to `maxMs`. */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** Each wait is up to this fraction shorter, at random: cameras that dropped together do not all come back at once. */
  jitter: number;
}

/** 0.5 s, 1 s, 2 s … 30 s: quick after a blip, gentle on a camera that is away for long. */
export const RECONNECT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000, jitter: 0.2 };

/** Capped exponential backoff with jitter; `reset` after a success starts again from `initialMs`. */
export class Backoff {
  private attempt = 0;

  constructor(private readonly policy: BackoffPolicy = RECONNECT_BACKOFF, private readonly random: () => number = Math.random) {}

  /** The wait before the next attempt, in ms. */
  next(): number {
    const { initialMs, maxMs, jitter } = this.policy;
    // Past the cap the exponent stops growing (2 ** 1000 would be Infinity).
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(this.attempt, 52));
    this.attempt++;
    return Math.round(base * (1 - jitter * this.random()));
  }

  reset(): void {
    this.attempt = 0;
  }
}
