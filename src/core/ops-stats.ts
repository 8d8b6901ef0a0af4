import { z } from 'zod';
import { boundedMemo } from './bounded-memo';

/**
 * Operational counters for the Prometheus endpoint (src/ops/), beyond the
 * totals of hub:metrics. They follow the same rule as those totals: a session
 * counts into its own stats (in its socket attachment, no storage commit per
 * frame) and its counts move into the stored base when it starts closing.
 *
 * Every field is optional and every map sparse, because an attachment is
 * limited to 16 KiB and most sessions only ever use a handful of request
 * types and never see an error. The labels are bounded (request types and
 * error codes of the protocol, "other" for anything else), so a session's
 * counts stay near 1.5 KiB at worst: inside the 4 KiB that session-budget.ts
 * leaves above what a session may weigh when it connects.
 */

/** Upper bounds (in milliseconds) of the ask-to-ack latency buckets; +Inf is implied. */
export const ACK_BUCKETS_MS = [1, 5, 10, 50, 100, 500, 1_000, 5_000, 30_000] as const;

const countMap = z.record(z.string(), z.number());

export const opsStatsSchema = z.object({
  /** Valid envelopes received, by type. */
  requests: countMap.optional(),
  /** Error replies sent, by error code. */
  errors: countMap.optional(),
  /** Ask-to-ack latencies: one count per bucket of ACK_BUCKETS_MS plus one for +Inf (not cumulative). */
  ackBuckets: z.array(z.number()).optional(),
  ackSumMs: z.number().optional(),
  /** Sessions that started closing, by close reason. Only the stored base has these. */
  closes: countMap.optional(),
  /** Messages for suspended sessions, by outcome: queued, delivered, dropped_overflow, dropped_expired (src/core/mailbox.ts). */
  mailbox: countMap.optional(),
});
export type OpsStats = z.infer<typeof opsStatsSchema>;

type MapField = 'requests' | 'errors' | 'closes' | 'mailbox';

const bump = (ops: OpsStats, field: MapField, label: string, by = 1): void => {
  const map = (ops[field] ??= {});
  map[label] = (map[label] ?? 0) + by;
};

/** A label value that is safe and bounded: anything odd collapses into "other". */
const LABEL = /^[a-z][a-z0-9_:.-]{0,63}$/;
export const labelOf = (value: string | null | undefined, fallback: string): string =>
  value === null || value === undefined ? fallback : LABEL.test(value) ? value : 'other';

export const countRequest = (ops: OpsStats, type: string): void => bump(ops, 'requests', type);
/** Error codes come from the catalogue, a few dozen at most: each is checked against LABEL once, not once per refusal of a flood. */
const errorLabel = boundedMemo((code) => labelOf(code, 'other'));
export const countError = (ops: OpsStats, code: string): void => bump(ops, 'errors', errorLabel(code));
export const countClose = (ops: OpsStats, reason: string | null): void => bump(ops, 'closes', labelOf(reason, 'peer_closed'));

export type MailboxOutcome = 'queued' | 'delivered' | 'dropped_overflow' | 'dropped_expired';
export const countMailbox = (ops: OpsStats, outcome: MailboxOutcome, by = 1): void => bump(ops, 'mailbox', outcome, by);

export const observeAck = (ops: OpsStats, ms: number): void => {
  const buckets = (ops.ackBuckets ??= new Array<number>(ACK_BUCKETS_MS.length + 1).fill(0));
  let i = ACK_BUCKETS_MS.findIndex((bound) => ms <= bound);
  if (i < 0) i = ACK_BUCKETS_MS.length;
  buckets[i] = (buckets[i] ?? 0) + 1;
  ops.ackSumMs = (ops.ackSumMs ?? 0) + ms;
};

/** `a` plus `b` as a new value; neither argument is changed, so a stored base is never aliased. */
export const sumOps = (a: OpsStats | undefined, b: OpsStats | undefined): OpsStats | undefined => {
  if (!b) return a;
  const out: OpsStats = structuredClone(a ?? {});
  for (const field of ['requests', 'errors', 'closes', 'mailbox'] as const) {
    for (const [label, n] of Object.entries(b[field] ?? {})) bump(out, field, label, n);
  }
  if (b.ackBuckets) {
    const buckets = (out.ackBuckets ??= new Array<number>(ACK_BUCKETS_MS.length + 1).fill(0));
    b.ackBuckets.forEach((n, i) => (buckets[i] = (buckets[i] ?? 0) + n));
    out.ackSumMs = (out.ackSumMs ?? 0) + (b.ackSumMs ?? 0);
  }
  return out;
};
