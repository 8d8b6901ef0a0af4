import type { Ack, Job } from './delivery';
import { SEP, type KvStore } from './kv-store';
import { toMailbox } from './mailbox';
import { NS } from './namespaces';
import { takeRecent } from './replay';
import { hashResumeToken, sameHash } from './resume-token';
import { markPending, pendingAskCount } from './limits';
import { emptyMailbox, fromAttachment, isLive, isSuspended, toAttachment, type Attachment, type Session } from './session';
import { emptyStats } from './stats';
import { addSubscription, removeSubscription, subscriptionsOfConn } from './topics';
import type { Turn } from './turn';

/**
 * Session resume (issue 14), the parts that are not the machine's: where a
 * suspended session is kept, how a hub:connect finds it, and how it moves
 * onto the connection that resumes it.
 *
 * A suspended session has no socket, so its attachment cannot hold it; its
 * record (the same attachment format) lives in `NS.suspended` under the
 * connection it last had, and a woken hub reads those records beside the
 * sockets' attachments. Registrations, subscriptions and census row keep
 * naming that connection while it is suspended, so routing finds the
 * session unchanged; when it resumes they are moved to the new connection
 * in the same turn.
 */

const SUSPENDED = NS.suspended;
const BUF = NS.buffer;

/** Writes the record of a suspended session (instead of a socket attachment, which it no longer has). */
export const storeSuspended = (kv: KvStore, session: Session): void => kv.put(SUSPENDED, session.connId, toAttachment(session));

export const forgetSuspended = (kv: KvStore, connId: string): void => kv.delete(SUSPENDED, connId);

/** The suspended sessions in storage, for a hub rebuilt after a wake; unreadable records are dropped. */
export const loadSuspended = (kv: KvStore): Session[] => {
  const sessions: Session[] = [];
  for (const [connId, raw] of kv.scan<unknown>(SUSPENDED, '')) {
    const session = fromAttachment(raw);
    if (session && session.connId === connId && isSuspended(session)) sessions.push(session);
    else kv.delete(SUSPENDED, connId);
  }
  return sessions;
};

/**
 * The session a hub:connect presenting `token` resumes: the token's hash
 * matches, the identity is the one the session had (with auth on, the
 * identity of the verified JWT; with auth off, the `from` of the connect),
 * and the session is either suspended within its grace period or still
 * live on another socket (the hub has not yet noticed that socket is gone;
 * the caller takes the session over from it). Anything else is no match,
 * and the connect goes on as a new session.
 */
export const findResumable = (sessions: Iterable<Session>, token: string | undefined, identity: string, now: number): Session | null => {
  if (token === undefined || token.length === 0) return null;
  const hash = hashResumeToken(token);
  for (const s of sessions) {
    if (s.resumeHash === null || !(isSuspended(s) || isLive(s))) continue;
    if (!sameHash(hash, s.resumeHash)) continue;
    const c = s.snapshot.context;
    if (c.identity !== identity) return null;
    if (isLive(s)) return s;
    return c.graceUntil !== null && now < c.graceUntil ? s : null;
  }
  return null;
};

/**
 * Entering `suspended`: the frames the old socket may have missed
 * (replay.ts), then what waited in the pause buffer (the client paused
 * before it dropped), are older than anything that arrives from now on, so
 * they go to the head of the mailbox, in their order.
 */
export const suspend = (turn: Turn, session: Session): void => {
  const { kv } = turn.host;
  // First what the old socket may not have read (replay.ts): it was sent before anything buffered or new.
  for (const frame of takeRecent(session)) toMailbox(turn, session, frame, null);
  if (session.flow.buffered > 0) {
    for (const [, entry] of kv.scan<{ frame: string; ack: Ack | null }>(BUF, session.connId + SEP)) {
      toMailbox(turn, session, entry.frame, entry.ack);
    }
    kv.deletePrefix(BUF, session.connId + SEP);
    session.flow.buffered = 0;
  }
  session.flow.dropped = 0;
  session.flow.pausedByHub = false;
  turn.dirty.add(session);
  turn.log.log('info', 'session.suspended', {
    sessionId: session.snapshot.context.sessionId,
    code: session.snapshot.context.closeCode ?? undefined,
    reason: session.snapshot.context.closeReason ?? undefined,
  });
};

/**
 * Moves what names the suspended session's old connection onto `connId`:
 * registrations (rows unchanged but for the connection, so `version`,
 * expiry and renewal token stay), subscriptions (same ids), and queued
 * fan-out the session itself sent. Returns the old connection id.
 */
export const moveToConnection = (turn: Turn, session: Session, connId: string): string => {
  const { kv, registry } = turn.host;
  const old = session.connId;
  // A put replaces the row, connection index included (registry-cache.ts).
  for (const row of registry.byConn(old)) registry.put({ ...row, connId });
  turn.registryTouched = true;
  for (const sub of subscriptionsOfConn(turn, old)) {
    removeSubscription(turn, sub);
    addSubscription(turn, { ...sub, connId });
  }
  if (session.flow.queued > 0) {
    for (const [jobKey, job] of kv.scan<Job>(NS.job, '')) {
      if (job.senderConn === old) kv.put(NS.job, jobKey, { ...job, senderConn: connId });
    }
  }
  redirectAcks(turn, old, connId);
  forgetSuspended(kv, old);
  session.connId = connId;
  return old;
};

interface HoldsAck {
  ack: Ack | null;
}

/**
 * Asks this session made that still wait for their hub:delivery_ack (in a
 * paused target's buffer, a suspended target's mailbox, or queued fan-out)
 * name the old connection; they are readdressed to the new one, pending
 * rows included, so the ack reaches the client that now holds the session.
 * The pending-ask count tells at no cost whether there is anything to look
 * for; only then are the stores scanned (a resume is rare, asks are not).
 */
const redirectAcks = (turn: Turn, old: string, connId: string): void => {
  if (pendingAskCount(turn, old) === 0) return;
  const { kv } = turn.host;
  for (const ns of [NS.buffer, NS.mailbox, NS.job]) {
    for (const [k, entry] of kv.scan<HoldsAck>(ns, '')) {
      if (entry.ack?.conn !== old) continue;
      const ack: Ack = { ...entry.ack, conn: connId };
      markPending(turn, ack);
      kv.put(ns, k, { ...entry, ack });
    }
  }
};

/**
 * What the socket a session was taken over from keeps as its attachment: a
 * closed session holding nothing (no token hash, stats or mailbox), which a
 * hub rebuilt after a wake skips, so a socket still closing then never
 * brings back a second copy of the session.
 */
export const closedAttachment = (session: Session, connId: string): Attachment => {
  const a = toAttachment(session);
  return { ...a, connId, machine: { value: 'closed', context: a.machine.context }, resumeHash: null, stats: emptyStats(), mailbox: emptyMailbox() };
};
