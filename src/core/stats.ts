import { z } from 'zod';
import { opsStatsSchema, sumOps, type OpsStats } from './ops-stats';

/**
 * Traffic counters of one session, kept in its socket attachment. Writing the
 * hub-wide counters to storage on every frame cost one SQLite commit (with an
 * fsync) per frame, even for read-only requests; an attachment write costs
 * next to nothing. The hub's totals are the stored base (sessions that ended,
 * connections opened) plus the sum over open sessions, so they come out the
 * same whether or not the object was evicted in between.
 */
export const sessionStatsSchema = z.object({
  received: z.number(),
  sent: z.number(),
  delivered: z.number(),
  errors: z.number(),
  /** Deliveries to this session in the clock second `rateSecond`, and in the second before it. */
  rateSecond: z.number(),
  rateCount: z.number(),
  rateLast: z.number(),
  /** Counts for the Prometheus endpoint (src/core/ops-stats.ts); absent until the first one. */
  ops: opsStatsSchema.optional(),
});
export type SessionStats = z.infer<typeof sessionStatsSchema>;

export const emptyStats = (): SessionStats => ({
  received: 0,
  sent: 0,
  delivered: 0,
  errors: 0,
  rateSecond: 0,
  rateCount: 0,
  rateLast: 0,
});

export interface Counters {
  messagesReceived: number;
  messagesSent: number;
  messagesDelivered: number;
  errors: number;
  connectionsOpened: number;
  connectionsClosed: number;
  ops?: OpsStats | undefined;
}

export const emptyCounters = (): Counters => ({
  messagesReceived: 0,
  messagesSent: 0,
  messagesDelivered: 0,
  errors: 0,
  connectionsOpened: 0,
  connectionsClosed: 0,
});

/** Adds a session's traffic to a total. */
export const addStats = (total: Counters, stats: SessionStats): void => {
  total.messagesReceived += stats.received;
  total.messagesSent += stats.sent;
  total.messagesDelivered += stats.delivered;
  total.errors += stats.errors;
  total.ops = sumOps(total.ops, stats.ops);
};

/**
 * Windows are whole clock seconds, not a second from whichever event came
 * first: alarms fire at different times (early, late, after a wake), and the
 * rate must not depend on when they did.
 */
const secondOf = (now: number): number => Math.floor(now / 1000) * 1000;

export type RateWindow = Pick<SessionStats, 'rateSecond' | 'rateCount' | 'rateLast'>;

export const emptyRate = (): RateWindow => ({ rateSecond: 0, rateCount: 0, rateLast: 0 });

/** Moves a window forward to the clock second of `now`. */
const roll = (w: RateWindow, now: number): void => {
  const second = secondOf(now);
  if (second === w.rateSecond) return;
  w.rateLast = second - w.rateSecond === 1000 ? w.rateCount : 0;
  w.rateSecond = second;
  w.rateCount = 0;
};

export const countDelivery = (stats: SessionStats, now: number): void => {
  stats.delivered++;
  roll(stats, now);
  stats.rateCount++;
};

/** Adds a closing session's recent deliveries to the stored window, so the hub-wide rate keeps them. */
export const mergeRate = (into: RateWindow, from: RateWindow, now: number): void => {
  const copy = { rateSecond: from.rateSecond, rateCount: from.rateCount, rateLast: from.rateLast };
  roll(into, now);
  roll(copy, now);
  into.rateCount += copy.rateCount;
  into.rateLast += copy.rateLast;
};

/** Deliveries to this session during the last complete clock second before `now`. */
export const lastSecondRate = (stats: RateWindow, now: number): number => {
  const second = secondOf(now);
  if (second === stats.rateSecond) return stats.rateLast;
  return second - stats.rateSecond === 1000 ? stats.rateCount : 0;
};
