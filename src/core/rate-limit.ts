/**
 * Token bucket per session (contract §7) plus the abuse detector. Both are
 * plain data so they can sit in the socket attachment and survive hibernation.
 * They are updated in place: they run on every frame, and twice for each
 * refusal of a flood, where a fresh object per step was measurable garbage
 * (issue 11). The attachment is a copy taken when it is written, so nothing
 * written is changed afterwards.
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

/** Tokens the bucket holds at `now`: what it held, plus the refill since, up to the burst. */
const tokensAt = (bucket: Bucket, settings: RateLimitSettings, now: number): number =>
  Math.min(settings.burst, bucket.tokens + (Math.max(0, now - bucket.updatedAt) * settings.perSecond) / 1000);

/**
 * Refills the bucket to `now` and spends one token if there is one. Returns 0
 * when it was spent, else the milliseconds until one whole token has
 * accumulated: never 0, so clients always back off.
 */
export const take = (bucket: Bucket, settings: RateLimitSettings, now: number): number => {
  const tokens = tokensAt(bucket, settings, now);
  bucket.updatedAt = Math.max(now, bucket.updatedAt);
  if (tokens >= 1) {
    bucket.tokens = tokens - 1;
    return 0;
  }
  bucket.tokens = tokens;
  return Math.max(1, Math.ceil(((1 - tokens) * 1000) / settings.perSecond));
};

/** Whether a token would be available at `now`, without spending it. */
export const hasToken = (bucket: Bucket, settings: RateLimitSettings, now: number): boolean => tokensAt(bucket, settings, now) >= 1;

export const freshAbuseWindow = (now: number): AbuseWindow => ({ windowStart: now, count: 0, hotSince: null });

/**
 * Whether countFrame at `now` would only add one to the current window: no
 * new window starts and the session is not found abusive (refusal-lane.ts).
 */
export const onlyCounts = (window: AbuseWindow, now: number): boolean =>
  window.count !== 0 && now - window.windowStart < WINDOW_MS && !(window.hotSince !== null && now - window.hotSince >= ABUSE_DURATION_MS);

/**
 * Counts every rate-limited frame. A session that stays above ABUSE_FACTOR
 * times its limit in consecutive one-second windows for ABUSE_DURATION_MS is
 * abusive. Returns the next window state and whether the threshold was crossed.
 */
export const countFrame = (window: AbuseWindow, settings: RateLimitSettings, now: number): boolean => {
  // A window that has counted nothing yet (the one opened with the socket) starts at
  // its first frame; anchored at the open, it would let a flood that began later in
  // that second count the whole second as hot and close the sender before 10 s.
  if (window.count === 0 || now - window.windowStart >= WINDOW_MS) {
    const hot = window.count > settings.perSecond * ABUSE_FACTOR;
    // A gap of more than one window breaks the run: the sender paused.
    const contiguous = now - window.windowStart < 2 * WINDOW_MS;
    window.hotSince = hot && contiguous ? (window.hotSince ?? window.windowStart) : null;
    window.windowStart = now;
    window.count = 0;
  }
  window.count++;
  return window.hotSince !== null && now - window.hotSince >= ABUSE_DURATION_MS;
};
