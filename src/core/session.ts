import { z } from 'zod';
import { sessionMachine } from '../../machines/session';
import { permissionsSchema, type Permissions } from './auth';
import type { AbuseWindow, Bucket } from './rate-limit';
import { emptyStats, sessionStatsSchema, type SessionStats } from './stats';
import type { SessionSnapshot } from './machine-step';
import type { RecentFrames } from './replay';

export { newSnapshot, stepMachine, type SessionSnapshot } from './machine-step';
export type SessionState = 'connecting' | 'registered' | 'paused' | 'rate-limited' | 'suspended' | 'closing' | 'closed';

/** One live connection as the core keeps it in memory. */
export interface Session {
  connId: string;
  snapshot: SessionSnapshot;
  bucket: Bucket;
  abuse: AbuseWindow;
  /** Session token handed out in hub:connected; refreshable (contract §10). */
  token: string | null;
  tokenExpiresAt: number | null;
  flow: Flow;
  /** Auth on: when the session's JWT expires (the session is closed then unless refreshed). */
  authExpiresAt: number | null;
  /** Auth on: the token's permissions claim; null means the configured defaults. */
  permissions: Permissions | null;
  stats: SessionStats;
  /** SHA-256 of the resume token handed out in hub:connected (src/core/resume-token.ts); null when resume is off. */
  resumeHash: string | null;
  /** The offline mailbox of a suspended session (src/core/mailbox.ts). */
  mailbox: MailboxState;
  /** In memory only, never in the attachment: the last frames sent to the socket (src/core/replay.ts). */
  recent?: RecentFrames | undefined;
  /** In memory only: the session's seen-set scope, once fixed (src/core/idempotency.ts). */
  dedupScope?: string | undefined;
  /**
   * In memory only: frames of this session the runtime holds, not yet
   * handled (src/runtime/fair-queue.ts), as it last reported. A crash or an
   * eviction forgets them, and this with them.
   */
  held?: number | undefined;
}

/** What the session knows of its mailbox, so a live or empty one never costs a storage read. */
export interface MailboxState {
  /** Arrival sequence of the last row written. */
  seq: number;
  /** Rows waiting. */
  count: number;
  /** Frame bytes waiting. */
  bytes: number;
}

export const emptyMailbox = (): MailboxState => ({ seq: 0, count: 0, bytes: 0 });

/** Delivery bookkeeping of a session, kept with it across hibernation. */
export interface Flow {
  /** Sequence of the last frame put in the pause buffer. */
  bufSeq: number;
  /** Frames waiting in the pause buffer. */
  buffered: number;
  /** Frames dropped from the pause buffer since the last resume. */
  dropped: number;
  /** Recipients still queued for this session's own broadcasts, publications and sends. */
  queued: number;
  /** The hub told this sender to pause (queue above the threshold). */
  pausedByHub: boolean;
}

export const emptyFlow = (): Flow => ({ bufSeq: 0, buffered: 0, dropped: 0, queued: 0, pausedByHub: false });

const STATE_NAMES = ['connecting', 'registered', 'paused', 'rate-limited', 'suspended', 'closing', 'closed'] as const;
const nullableNumber = z.number().nullable();

const contextSchema = z.object({
  sessionId: z.string(),
  identity: z.string().nullable(),
  capabilities: z.array(z.string()),
  openedAt: z.number(),
  lastSeen: z.number(),
  connectDeadline: nullableNumber,
  connectTimeoutMs: z.number(),
  heartbeatTimeoutMs: z.number(),
  rateLimitedUntil: nullableNumber,
  resumeTo: z.enum(['registered', 'paused']),
  closeDeadline: nullableNumber,
  closeCode: nullableNumber,
  closeReason: z.string().nullable(),
  // Written since session resume (issue 14); older attachments read as resume off.
  resumeGraceMs: z.number().default(0),
  graceUntil: nullableNumber.default(null),
});

/**
 * What a socket's attachment holds. Validated when read back after a wake:
 * an attachment written by an older deploy or corrupted is refused rather
 * than trusted.
 */
export const attachmentSchema = z.object({
  v: z.literal(1),
  connId: z.string().min(1),
  machine: z.object({ value: z.enum(STATE_NAMES), context: contextSchema }),
  bucket: z.object({ tokens: z.number(), updatedAt: z.number() }),
  abuse: z.object({ windowStart: z.number(), count: z.number(), hotSince: nullableNumber }),
  token: z.string().nullable(),
  tokenExpiresAt: nullableNumber,
  flow: z.object({
    bufSeq: z.number(),
    buffered: z.number(),
    dropped: z.number(),
    queued: z.number(),
    pausedByHub: z.boolean(),
  }),
  authExpiresAt: nullableNumber.default(null),
  permissions: permissionsSchema.nullable().default(null),
  stats: sessionStatsSchema.default(emptyStats),
  resumeHash: z.string().nullable().default(null),
  mailbox: z.object({ seq: z.number(), count: z.number(), bytes: z.number() }).default(emptyMailbox),
});
export type Attachment = z.infer<typeof attachmentSchema>;

export const stateOf = (session: Session): SessionState => session.snapshot.value as SessionState;

/** A session that has not started closing: it takes frames, and its own stats are part of the hub's totals. */
export const countsTraffic = (session: Session): boolean => {
  const state = stateOf(session);
  return state !== 'closing' && state !== 'closed';
};

/** Held without a socket for the resume grace period; messages to it go to its mailbox. */
export const isSuspended = (session: Session): boolean => session.snapshot.value === 'suspended';

/** A session messages may be addressed to: live, or suspended (they wait in its mailbox). */
export const isReachable = (session: Session): boolean => isLive(session) || isSuspended(session);

export const isLive = (session: Session): boolean => {
  const state = stateOf(session);
  return state === 'registered' || state === 'paused' || state === 'rate-limited';
};

export const toAttachment = (session: Session): Attachment => ({
  v: 1,
  connId: session.connId,
  machine: { value: stateOf(session) as Attachment['machine']['value'], context: session.snapshot.context },
  bucket: session.bucket,
  abuse: session.abuse,
  token: session.token,
  tokenExpiresAt: session.tokenExpiresAt,
  flow: session.flow,
  authExpiresAt: session.authExpiresAt,
  permissions: session.permissions,
  stats: session.stats,
  resumeHash: session.resumeHash,
  mailbox: session.mailbox,
});

export const fromAttachment = (raw: unknown): Session | null => {
  const parsed = attachmentSchema.safeParse(raw);
  if (!parsed.success) return null;
  const a = parsed.data;
  return {
    connId: a.connId,
    snapshot: sessionMachine.resolveState({ value: a.machine.value, context: a.machine.context }),
    bucket: a.bucket,
    abuse: a.abuse,
    token: a.token,
    tokenExpiresAt: a.tokenExpiresAt,
    flow: a.flow,
    authExpiresAt: a.authExpiresAt,
    permissions: a.permissions,
    stats: a.stats,
    resumeHash: a.resumeHash,
    mailbox: a.mailbox,
  };
};

/** The earliest time this session needs a TICK, or null. */
export const deadlineOf = (session: Session): number | null => {
  const c = session.snapshot.context;
  switch (stateOf(session)) {
    case 'connecting':
      return c.connectDeadline;
    case 'closing':
      return c.closeDeadline;
    case 'suspended':
      return c.graceUntil;
    case 'closed':
      return null;
    default: {
      let due = c.lastSeen + c.heartbeatTimeoutMs;
      if (c.rateLimitedUntil !== null) due = Math.min(due, c.rateLimitedUntil);
      if (session.authExpiresAt !== null) due = Math.min(due, session.authExpiresAt);
      return due;
    }
  }
};
