/**
 * The namespaces of the hub's ordered key-value store (src/core/kv-store.ts).
 * The core stores through them, and the fuzz invariants read the same
 * storage back to check it, so both name them from here.
 */
export const NS = {
  /** Subscriptions by topic, then address. */
  subByTopic: 'sub',
  /** Subscriptions by subscription id. */
  subById: 'subid',
  /** Subscription ids by connection, topic and address, for release on close. */
  subByConn: 'subconn',
  /** Pause buffers: frames held for a paused session, by connection and sequence. */
  buffer: 'buf',
  /** Queued fan-out jobs, by sequence. */
  job: 'job',
  /** A queued job's remaining recipients, one row per batch, by job and batch index (older jobs: one row per recipient). */
  jobRecipient: 'jobr',
  /** Hub-wide values: the job sequence, stored counters, the delivery-rate window, the last reported totals. */
  meta: 'meta',
  /** One row per session that has not started closing, for recovery after the runtime lost sockets. */
  census: 'conn',
  /** One row per hub:send ask still waiting for its delivery_ack, by asking connection. */
  pendingAsk: 'pask',
  // ---- Idempotent requests and topic recovery (issue 14 B).
  /** Seen request ids with their original answer, by scope (session or identity) and sequence (src/core/dedup.ts). */
  dedup: 'dedup',
  /** When each dedup scope was last written, for sweeping scopes nobody uses any more. */
  dedupScope: 'dedups',
  /** Seen asks still waiting for their answer, by asking connection and request id: the row of their entry. */
  dedupPending: 'dedupp',
  /** Each topic's history position: epoch, latest offset, the size it was kept with (src/core/topic-history.ts). */
  topicMeta: 'tmeta',
  /** Each topic's recent publications, by topic and offset. */
  topicHistory: 'thist',
  /** Offline mailboxes of suspended sessions: frames by session id and arrival sequence (src/core/mailbox.ts). */
  mailbox: 'mbox',
  /** The record of each suspended session (its attachment, since it has no socket), by its last connection. */
  suspended: 'susp',
} as const;
