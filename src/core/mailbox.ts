import { sendAck, type Ack } from './delivery';
import { key, seqKey, SEP } from './kv-store';
import { markPending, settlePending } from './limits';
import { NS } from './namespaces';
import { countMailbox, type MailboxOutcome } from './ops-stats';
import { rememberSent } from './replay';
import type { Session } from './session';
import type { Turn } from './turn';

/**
 * The offline mailbox of a suspended session (issue 14): what is addressed
 * to a session while its socket is gone waits here, in arrival order, until
 * the session resumes or its grace period ends.
 *
 * Rows are keyed by session id and arrival sequence, not by connection: a
 * resumed session keeps its session id but gets a new connection. The
 * session itself carries the row count and byte total (`Session.mailbox`),
 * so deciding about the bound and skipping an empty mailbox never reads
 * storage.
 *
 * Overflow refuses the newest message rather than dropping the oldest: what
 * is already waiting stays, and the resumed client receives a gap-free prefix
 * of what was sent to it. An ask refused this way is answered `mailbox_full`
 * at once, so the asker is never left waiting; a tell or a fan-out copy has
 * nobody to answer and is dropped, logged and counted.
 */

interface Letter {
  frame: string;
  /** An ask's acknowledgement, sent when the frame reaches the resumed socket. */
  ack: Ack | null;
}

const MAILBOX = NS.mailbox;

const prefixOf = (session: Session): string => session.snapshot.context.sessionId + SEP;

const count = (turn: Turn, session: Session, outcome: MailboxOutcome, by = 1): void => {
  const holder = turn.statsHolder(session);
  countMailbox((holder.stats.ops ??= {}), outcome, by);
  turn.soft.add(holder);
};

/** The frame's UTF-8 size, which is what the byte bound limits (and what storage holds). */
const bytesOf = (frame: string): number => {
  let n = frame.length;
  for (let i = 0; i < frame.length; i++) {
    const c = frame.charCodeAt(i);
    if (c >= 0x80) n += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : 1;
  }
  return n;
};

/**
 * Puts one frame into a suspended session's mailbox, or refuses it when the
 * mailbox is at MAILBOX_LIMIT messages or the frame would take it past
 * MAILBOX_MAX_BYTES. Returns whether it was kept.
 */
export const toMailbox = (turn: Turn, target: Session, frame: string, ack: Ack | null): boolean => {
  const box = target.mailbox;
  const size = bytesOf(frame);
  const { mailboxLimit, mailboxMaxBytes } = turn.config;
  const address = ack?.target ?? target.snapshot.context.identity ?? '';
  if (box.count >= mailboxLimit || box.bytes + size > mailboxMaxBytes) {
    count(turn, target, 'dropped_overflow');
    turn.log.log('warn', 'mailbox.overflow', {
      sessionId: target.snapshot.context.sessionId,
      traceId: ack?.requestId,
      count: box.count,
      bytes: box.bytes,
    });
    if (ack) {
      settlePending(turn, ack);
      turn.error(ack.conn, ack.to, ack.requestId, {
        code: 'mailbox_full',
        message: `${ack.target} is offline and its mailbox holds ${box.count} messages (${box.bytes} bytes), its limit.`,
        details: { actorAddress: address, limit: mailboxLimit },
      });
    }
    return false;
  }
  box.seq++;
  box.count++;
  box.bytes += size;
  if (ack) markPending(turn, ack);
  turn.host.kv.put(MAILBOX, key(target.snapshot.context.sessionId, seqKey(box.seq)), { frame, ack } satisfies Letter);
  count(turn, target, 'queued');
  turn.dirty.add(target);
  return true;
};

/**
 * Sends the whole mailbox to the session's (new) socket in arrival order and
 * deletes it; each ask among it is acknowledged now, when its frame reaches
 * a socket. The caller sends hub:connected first, so the client knows the
 * session before its messages arrive, and nothing new can get ahead of the
 * mailbox: it all goes out within this one turn.
 */
export const drainMailbox = (turn: Turn, session: Session): number => {
  if (session.mailbox.count === 0) return 0;
  const { kv } = turn.host;
  const rows = kv.scan<Letter>(MAILBOX, prefixOf(session));
  for (const [, letter] of rows) {
    turn.effects.push({ kind: 'send', conn: session.connId, frame: letter.frame });
    rememberSent(session, letter.frame);
    if (letter.ack) {
      settlePending(turn, letter.ack);
      sendAck(turn, letter.ack);
    }
  }
  kv.deletePrefix(MAILBOX, prefixOf(session));
  count(turn, session, 'delivered', rows.length);
  session.mailbox = { seq: session.mailbox.seq, count: 0, bytes: 0 };
  turn.dirty.add(session);
  return rows.length;
};

/**
 * The grace period ended (or the session was released otherwise): every
 * waiting ask is answered `resume_expired`, every tell is dropped and counted.
 */
export const expireMailbox = (turn: Turn, session: Session): number => {
  if (session.mailbox.count === 0) return 0;
  const { kv } = turn.host;
  const rows = kv.scan<Letter>(MAILBOX, prefixOf(session));
  for (const [, letter] of rows) {
    if (!letter.ack) continue;
    settlePending(turn, letter.ack);
    turn.error(letter.ack.conn, letter.ack.to, letter.ack.requestId, {
      code: 'resume_expired',
      message: `${letter.ack.target} lost its connection and did not resume within the grace period; the message was not delivered.`,
      details: { actorAddress: letter.ack.target },
    });
  }
  kv.deletePrefix(MAILBOX, prefixOf(session));
  count(turn, session, 'dropped_expired', rows.length);
  turn.log.log('info', 'mailbox.expired', { sessionId: session.snapshot.context.sessionId, count: rows.length });
  session.mailbox = { seq: session.mailbox.seq, count: 0, bytes: 0 };
  return rows.length;
};
