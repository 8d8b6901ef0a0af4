/**
 * Token bucket per session (contract §7) plus the abuse detector. Both are
 * plain data so they can sit in the socket attachment and survive hibernation.
 */
export interface Bucket {
  tokens: number;
  updatedAt: number;
}

export interface AbuseWindow {
  /** Start of the current one-second window. */
  windowStart: number;
  count: number;
  /** Start of an unbroken run of windows above the abuse rate, or null. */
  hotSince: number | null;
}

export interface RateLimitSettings {
  perSecond: number;
  burst: number;
}

export const ABUSE_FACTOR = 10;
export const ABUSE_DURATION_MS = 10_000;
const WINDOW_MS = 1_000;

export const fullBucket = (settings: RateLimitSettings, now: number): Bucket => ({
  tokens: settings.burst,
  updatedAt: now,
});

export const refill = (bucket: Bucket, settings: RateLimitSettings, now: number): Bucket => {
  const elapsed = Math.max(0, now - bucket.updatedAt);
  return {
    tokens: Math.min(settings.burst, bucket.tokens + (elapsed * settings.perSecond) / 1000),
    updatedAt: Math.max(now, bucket.updatedAt),
  };
};

export type TakeResult = { ok: true; bucket: Bucket } | { ok: false; bucket: Bucket; retryAfter: number };

export const take = (bucket: Bucket, settings: RateLimitSettings, now: number): TakeResult => {
  const current = refill(bucket, settings, now);
  if (current.tokens >= 1) return { ok: true, bucket: { ...current, tokens: current.tokens - 1 } };
  // Milliseconds until one whole token has accumulated; never 0 so clients always back off.
  const retryAfter = Math.max(1, Math.ceil(((1 - current.tokens) * 1000) / settings.perSecond));
  return { ok: false, bucket: current, retryAfter };
};

/** Whether a token would be available at `now`, without spending it. */
export const hasToken = (bucket: Bucket, settings: RateLimitSettings, now: number): boolean =>
  refill(bucket, settings, now).tokens >= 1;

export const freshAbuseWindow = (now: number): AbuseWindow => ({ windowStart: now, count: 0, hotSince: null });

/**
 * Counts every rate-limited frame. A session that stays above ABUSE_FACTOR
 * times its limit in consecutive one-second windows for ABUSE_DURATION_MS is
 * abusive. Returns the next window state and whether the threshold was crossed.
 */
export const countFrame = (
  window: AbuseWindow,
  settings: RateLimitSettings,
  now: number,
): { window: AbuseWindow; abusive: boolean } => {
  let next = window;
  // A window that has counted nothing yet (the one opened with the socket) starts at
  // its first frame; anchored at the open, it would let a flood that began later in
  // that second count the whole second as hot and close the sender before 10 s.
  if (window.count === 0 || now - window.windowStart >= WINDOW_MS) {
    const hot = window.count > settings.perSecond * ABUSE_FACTOR;
    // A gap of more than one window breaks the run: the sender paused.
    const contiguous = now - window.windowStart < 2 * WINDOW_MS;
    const hotSince = hot && contiguous ? (window.hotSince ?? window.windowStart) : null;
    next = { windowStart: now, count: 0, hotSince };
  }
  next = { ...next, count: next.count + 1 };
  const abusive = next.hotSince !== null && now - next.hotSince >= ABUSE_DURATION_MS;
  return { window: next, abusive };
};
