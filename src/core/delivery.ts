import { frameFor, type FlatFrame } from './flat';
import { markPending, settlePending } from './limits';
import { key, seqKey, SEP, type KvStore } from './kv-store';
import { NS } from './namespaces';
import type { HubOps } from './request';
import { countsTraffic, isLive, isReachable, stateOf, type Session } from './session';
import { toMailbox } from './mailbox';
import { rememberSent } from './replay';
import { countDelivery } from './stats';
import type { Turn } from './turn';

/**
 * How a frame reaches a session: straight to its socket, or into its pause
 * buffer (durable, in order) while it is paused. Work too large for one turn
 * (broadcast and publication beyond the sync threshold, and anything a sender
 * sends while earlier work of its own is still queued) becomes a job that the
 * alarm drains a bounded number of batches per run (runJobBatches). Jobs
 * and buffers live in storage, and each batch's sends and storage writes
 * happen in the same turn, so an eviction between batches neither loses nor
 * repeats a recipient.
 */

/** Who gets `hub:delivery_ack` once a frame reached the target's socket. */
export interface Ack {
  conn: string;
  to: string;
  requestId: string;
  messageId: string;
  target: string;
  /** While the ask waits for its answer: its row in the pending-ask count (src/core/limits.ts). */
  pending?: string;
  /** When the hub received the ask, for the ask-to-ack latency; absent on acks stored by older versions. */
  askedAt?: number;
}

interface Buffered {
  frame: string;
  ack: Ack | null;
}

interface Recipient {
  address: string;
  connId: string;
}

export interface Job {
  seq: number;
  kind: 'send' | 'broadcast' | 'publish';
  senderConn: string;
  head: string;
  tail: string;
  remaining: number;
  delivered: number;
  failed: number;
  ack: Ack | null;
}

const BUF = NS.buffer;
const JOB = NS.job;
const JOB_RECIPIENT = NS.jobRecipient;
const META = NS.meta;

/** Whether deliveries to this session are held (client paused, possibly also rate-limited meanwhile). */
export const isPaused = (session: Session): boolean => {
  const state = stateOf(session);
  return state === 'paused' || (state === 'rate-limited' && session.snapshot.context.resumeTo === 'paused');
};

export const sendAck = (turn: Turn, ack: Ack): void => {
  if (ack.askedAt !== undefined) turn.ackLatency(ack.conn, turn.now - ack.askedAt);
  turn.reply(ack.conn, ack.to, ack.requestId, 'hub:delivery_ack', {
    messageId: ack.messageId,
    deliveredAt: turn.now,
    status: 'delivered',
  });
};

export const sendUnknownActor = (turn: Turn, ack: Ack, resolution?: string): void => {
  turn.error(ack.conn, ack.to, ack.requestId, {
    code: 'unknown_actor',
    message: `Actor ${ack.target} is not registered with this hub (or its session closed).`,
    ...(resolution !== undefined && { resolution }),
    extra: { actorAddress: ack.target },
  });
};

/**
 * Hands one frame to a live session, or buffers it if the session is paused.
 * Beyond PAUSE_BUFFER_LIMIT the oldest buffered frame is dropped and counted;
 * an ask whose frame is dropped is told so, so no ask goes unanswered.
 */
export const deliver = (turn: Turn, target: Session, frame: string, ack: Ack | null): 'delivered' | 'buffered' | 'refused' => {
  // A suspended session has no socket: its mailbox holds the frame until it resumes (mailbox.ts).
  if (target.snapshot.value === 'suspended') return toMailbox(turn, target, frame, ack) ? 'buffered' : 'refused';
  const holder = turn.statsHolder(target);
  countDelivery(holder.stats, turn.now);
  turn.soft.add(holder);
  if (!isPaused(target)) {
    turn.effects.push({ kind: 'send', conn: target.connId, frame });
    rememberSent(target, frame);
    if (ack) sendAck(turn, ack);
    return 'delivered';
  }
  const { kv } = turn.host;
  const flow = target.flow;
  flow.bufSeq++;
  if (ack) markPending(turn, ack);
  kv.put(BUF, key(target.connId, seqKey(flow.bufSeq)), { frame, ack } satisfies Buffered);
  flow.buffered++;
  if (flow.buffered > turn.config.pauseBufferLimit) {
    const [oldest] = kv.scan<Buffered>(BUF, target.connId + SEP, 1);
    if (oldest) {
      kv.delete(BUF, oldest[0]);
      flow.buffered--;
      flow.dropped++;
      settlePending(turn, oldest[1].ack);
      if (oldest[1].ack) {
        turn.reply(oldest[1].ack.conn, oldest[1].ack.to, oldest[1].ack.requestId, 'hub:delivery_ack', {
          messageId: oldest[1].ack.messageId,
          deliveredAt: null,
          status: 'dropped',
        });
      }
    }
  }
  turn.dirty.add(target);
  return 'buffered';
};

/** Sends everything a paused session accumulated, in order (on hub:resume). */
export const flushBuffer = (turn: Turn, session: Session): number => {
  const { kv } = turn.host;
  const entries = kv.scan<Buffered>(BUF, session.connId + SEP);
  for (const [, entry] of entries) {
    turn.effects.push({ kind: 'send', conn: session.connId, frame: entry.frame });
    rememberSent(session, entry.frame);
    settlePending(turn, entry.ack);
    if (entry.ack) sendAck(turn, entry.ack);
  }
  kv.deletePrefix(BUF, session.connId + SEP);
  session.flow.buffered = 0;
  turn.dirty.add(session);
  return entries.length;
};

/** A closing session's buffer is discarded; asks waiting on it learn the target is gone. */
export const releaseBuffer = (turn: Turn, session: Session): void => {
  const { kv } = turn.host;
  if (session.flow.buffered === 0) return;
  for (const [, entry] of kv.scan<Buffered>(BUF, session.connId + SEP)) {
    settlePending(turn, entry.ack);
    if (entry.ack) sendUnknownActor(turn, entry.ack);
  }
  kv.deletePrefix(BUF, session.connId + SEP);
  session.flow.buffered = 0;
};

// ------------------------------------------------------------------ jobs

export const hasJobs = (kv: KvStore): boolean => kv.count(JOB, '') > 0;

/** Deliveries waiting anywhere: queued fan-out recipients, pause buffers and the mailboxes of suspended sessions. */
export const queuedDeliveries = (kv: KvStore): number => {
  let queued = kv.count(BUF, '') + kv.count(NS.mailbox, '');
  for (const [, job] of kv.scan<Job>(JOB, '')) queued += job.remaining;
  return queued;
};

export const enqueueJob = (
  turn: Turn,
  sender: Session,
  job: Omit<Job, 'seq' | 'remaining' | 'delivered' | 'failed'> & { delivered?: number; failed?: number },
  recipients: Recipient[],
): Job | null => {
  if (recipients.length === 0) return null;
  const { kv } = turn.host;
  if (job.ack) markPending(turn, job.ack);
  const seq = (kv.get<number>(META, 'jobSeq') ?? 0) + 1;
  kv.put(META, 'jobSeq', seq);
  const stored: Job = {
    ...job,
    seq,
    remaining: recipients.length,
    delivered: job.delivered ?? 0,
    failed: job.failed ?? 0,
  };
  kv.put(JOB, seqKey(seq), stored);
  // One row per batch, not per recipient: a fan-out to 1000 wrote and later
  // deleted 900 rows, most of its storage work (issue 11). Each batch is cut
  // to the threshold in force now and delivered whole by one alarm.
  const size = turn.config.broadcastSyncThreshold;
  for (let i = 0; i * size < recipients.length; i++) {
    kv.put(JOB_RECIPIENT, key(seqKey(seq), seqKey(i)), recipients.slice(i * size, (i + 1) * size));
  }
  sender.flow.queued += recipients.length;
  turn.dirty.add(sender);
  turn.jobsAdded = true;
  return stored;
};

/**
 * Takes the next batch of a job's recipients out of storage: one row holding
 * the batch, or, for a job queued before batches were stored as one row, up
 * to `size` rows of one recipient each. The deletes commit with the batch's
 * sends (same turn), so an eviction neither loses nor repeats a recipient.
 */
const nextBatch = (kv: KvStore, jobKey: string, size: number): Recipient[] => {
  const [first] = kv.scan<Recipient[] | Recipient>(JOB_RECIPIENT, jobKey + SEP, 1);
  if (!first) return [];
  if (Array.isArray(first[1])) {
    kv.delete(JOB_RECIPIENT, first[0]);
    return first[1];
  }
  const rows = kv.scan<Recipient>(JOB_RECIPIENT, jobKey + SEP, size);
  for (const [rowKey] of rows) kv.delete(JOB_RECIPIENT, rowKey);
  return rows.map(([, r]) => r);
};

/**
 * What one alarm run sends of the queued fan-out: batches, oldest job first,
 * until BROADCAST_ALARM_LIMIT recipients have been handled (at least one
 * batch). Each alarm run costs its own storage commit and a trip through
 * the runtime's alarm scheduling before the next one; at one batch per run
 * a broadcast to 1000 took nine of them, which made it ~1.3-1.8 times as
 * slow as the raw object sending to all 1000 in one go, and 40 % dearer in
 * CPU (issue 11). The limit still bounds how long one run holds the object.
 * Every batch of the run commits with its sends in this one turn, so an
 * eviction still neither loses nor repeats a recipient.
 */
export const runJobBatches = (turn: Turn, hub: HubOps): void => {
  let handled = 0;
  while (handled < turn.config.broadcastAlarmLimit) {
    const batch = runJobBatch(turn, hub);
    if (batch === null) return;
    handled += Math.max(1, batch);
  }
};

/**
 * Delivers the next batch of the oldest job. Returns how many recipients it
 * handled, or null when no job is queued.
 */
const runJobBatch = (turn: Turn, hub: HubOps): number | null => {
  const { kv } = turn.host;
  const [first] = kv.scan<Job>(JOB, '', 1);
  if (!first) return null;
  const [jobKey, job] = first;
  const batch = nextBatch(kv, jobKey, turn.config.broadcastSyncThreshold);
  const flat: FlatFrame = { head: job.head, tail: job.tail };
  const sender = hub.session(job.senderConn);
  // The alarm has no frame whose sender would count what it causes, so each
  // recipient of the batch would count its own delivery and be rewritten: a
  // hundred attachment writes per batch, most of a queued fan-out's extra
  // cost (issue 11). The job's sender counts them instead, as it counts its
  // synchronous deliveries; its attachment is rewritten this turn anyway
  // (flow.queued), and the totals, sums over sessions and the base, are the
  // same. It then also counts the rest of this alarm's traffic, which changes
  // none of the totals either.
  if (sender && turn.origin === null && countsTraffic(sender)) turn.origin = sender;
  for (const r of batch) {
    // A queued send's ask stops waiting here: answered now, or waiting anew in a pause buffer.
    if (job.kind === 'send') settlePending(turn, job.ack);
    const target = hub.session(r.connId);
    if (target && isReachable(target)) {
      deliver(turn, target, frameFor(flat, r.address), job.kind === 'send' ? job.ack : null);
      job.delivered++;
    } else {
      job.failed++;
      if (job.kind === 'send' && job.ack) sendUnknownActor(turn, job.ack);
    }
  }
  job.remaining -= batch.length;
  if (job.remaining <= 0 || batch.length === 0) kv.delete(JOB, jobKey);
  else kv.put(JOB, jobKey, job);
  if (sender) {
    sender.flow.queued = Math.max(0, sender.flow.queued - batch.length);
    turn.dirty.add(sender);
    // A closing sender's socket is already closed: no hub:resume may follow.
    if (isLive(sender)) hub.checkBackpressure(turn, sender);
  }
  return batch.length;
};
