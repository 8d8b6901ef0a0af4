import type { ConnectedPayload } from '../protocol/replies';

/**
 * Pacing runs a little under the advertised rate: frames written exactly one
 * token apart can reach the hub closer together than that when the network
 * delays one of them, and the hub counts arrival times.
 */
const PACE_MARGIN = 0.95;

/**
 * When the next request may be written: the client's mirror of the hub's
 * token bucket for this session (from the rate limit in hub:connected), the
 * retryAfter of the latest refusal, and the spacing that keeps refused
 * requests from all coming back at once.
 */
export class Pacer {
  /** Nothing is written before this time: the hub said retryAfter. */
  private gateUntil = 0;
  /** Mirror of the hub's token bucket for this session, from the advertised rate limit. */
  private bucket: { tokens: number; capacity: number; perMs: number; at: number } | null = null;
  /**
   * After a refusal, writes are spaced at least this far apart (the largest
   * retryAfter seen) until the backlog is gone, so that the refused requests
   * do not all come back at once and get refused again.
   */
  private spacingMs = 0;
  private lastWriteAt = 0;

  constructor(private readonly enabled: boolean) {}

  /** A new session: the hub's bucket starts full when the socket opens and hub:connect costs nothing, so ours starts full too. */
  start(rate: ConnectedPayload['rateLimit'] | undefined, now: number): void {
    this.bucket =
      this.enabled && rate && rate.perSecond > 0 && rate.burst > 0
        ? { tokens: rate.burst, capacity: rate.burst, perMs: (rate.perSecond * PACE_MARGIN) / 1000, at: now }
        : null;
  }

  /** The session ended; the next one starts with a fresh bucket. */
  reset(): void {
    this.gateUntil = 0;
    this.spacingMs = 0;
    this.bucket = null;
  }

  /** How long the next write has to wait; 0 when it may go now. */
  wait(now: number): number {
    let wait = this.gateUntil - now;
    if (this.spacingMs > 0) wait = Math.max(wait, this.lastWriteAt + this.spacingMs - now);
    const bucket = this.bucket;
    if (bucket) {
      bucket.tokens = Math.min(bucket.capacity, bucket.tokens + Math.max(0, now - bucket.at) * bucket.perMs);
      bucket.at = now;
      // The epsilon absorbs float error, which would otherwise turn "exactly one token" into a 1 ms wait.
      if (bucket.tokens < 1 - 1e-9) wait = Math.max(wait, Math.ceil((1 - bucket.tokens) / bucket.perMs));
    }
    return Math.max(0, wait);
  }

  wrote(now: number): void {
    this.lastWriteAt = now;
    if (this.bucket) this.bucket.tokens -= 1;
  }

  /** Everything queued went out: writes need no spacing any more. */
  drained(): void {
    this.spacingMs = 0;
  }

  /** The hub refused for the rate limit; returns how long until writing may resume. */
  refused(retryAfter: number, now: number): number {
    this.gateUntil = Math.max(this.gateUntil, now + retryAfter);
    this.spacingMs = Math.max(this.spacingMs, retryAfter);
    if (this.bucket) {
      // The hub knows its bucket: it holds one token again after retryAfter, so ours is set to match.
      this.bucket.tokens = 1 - retryAfter * this.bucket.perMs;
      this.bucket.at = now;
    }
    return this.gateUntil - now;
  }
}
