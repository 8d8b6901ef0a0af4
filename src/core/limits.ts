import { isPaused, type Ack } from './delivery';
import { key, seqKey, SEP } from './kv-store';
import type { HubRequest } from './request';
import type { Session } from './session';
import type { Turn } from './turn';
import { NS } from './namespaces';

/**
 * Fair shares: what one session may hold of the hub at once, so that no
 * session can make every other one wait (each registration, subscription and
 * waiting ask costs storage and work on every scan of it). Each cap is a
 * [vars] entry; a request beyond it is refused with its own named error and
 * changes nothing. Counts come from durable storage, so they hold across
 * hibernation without being kept in the attachment.
 */

/** Registrations: a new address for this session (re-registering one it holds is always allowed). */
export const refuseRegistrationOverCap = (req: HubRequest, alreadyHeld: boolean): boolean => {
  if (alreadyHeld) return false;
  const limit = req.turn.config.maxRegistrationsPerSession;
  const now = req.turn.now;
  const held = req.turn.host.registry.byConn(req.session.connId).filter((row) => row.expiresAt > now).length;
  if (held < limit) return false;
  req.fail({
    code: 'too_many_registrations',
    message: `This session holds its limit of ${limit} registrations.`,
    details: { limit },
  });
  return true;
};


/** Subscriptions: a new one on this connection (subscribing again to the same topic is always allowed). */
export const refuseSubscriptionOverCap = (req: HubRequest): boolean => {
  const limit = req.turn.config.maxSubscriptionsPerSession;
  if (req.turn.host.kv.count(NS.subByConn, req.session.connId + SEP) < limit) return false;
  req.fail({
    code: 'too_many_subscriptions',
    message: `This session holds its limit of ${limit} subscriptions.`,
    details: { limit },
  });
  return true;
};

/**
 * Pending asks: `hub:send` asks whose `hub:delivery_ack` still waits, in a
 * paused target's buffer or queued behind the sender's earlier work. One
 * row per waiting ask, keyed by the asking connection, added when an ask
 * starts waiting and removed when it is answered (delivered, dropped or
 * unknown_actor), so the count is exact whatever the client's ids are.
 */
const PENDING = NS.pendingAsk;
const META = NS.meta;

export const pendingAskCount = (turn: Turn, conn: string): number => turn.host.kv.count(PENDING, conn + SEP);

/** The ask starts waiting; its Ack remembers the row so whoever answers it can remove it. */
export const markPending = (turn: Turn, ack: Ack): void => {
  const { kv } = turn.host;
  if (ack.pending !== undefined) kv.delete(PENDING, ack.pending);
  const seq = (kv.get<number>(META, 'askSeq') ?? 0) + 1;
  kv.put(META, 'askSeq', seq);
  ack.pending = key(ack.conn, seqKey(seq));
  kv.put(PENDING, ack.pending, 1);
};

/** The ask is answered (or about to be re-marked): its row goes. */
export const settlePending = (turn: Turn, ack: Ack | null): void => {
  if (ack?.pending === undefined) return;
  turn.host.kv.delete(PENDING, ack.pending);
  delete ack.pending;
};

/** An ask that would wait (target paused or suspended, or the sender has queued work) beyond the cap. */
export const refusePendingAskOverCap = (req: HubRequest, target: Session): boolean => {
  if (!req.isAsk || (req.session.flow.queued === 0 && !isPaused(target) && target.snapshot.value !== 'suspended')) return false;
  const limit = req.turn.config.maxPendingAsksPerSession;
  if (pendingAskCount(req.turn, req.session.connId) < limit) return false;
  req.fail({
    code: 'too_many_pending_asks',
    message: `This session has ${limit} hub:send asks waiting for their delivery_ack.`,
    details: { limit },
  });
  return true;
};

const utf8 = new TextEncoder();
/** Room the reply's envelope and paging fields take besides its list (ids, addresses and numbers: well under 1 KiB). */
const ENVELOPE_ROOM = 1024;

/**
 * Bounds a list reply (discover, list_actors) by bytes as well as by count:
 * the whole frame stays within MAX_MESSAGE_SIZE, the largest frame the hub
 * itself accepts, whatever metadata the actors carry. The first entry is
 * always admitted so a client paging through can make progress; it came in
 * a frame within that size, so it fits on its own.
 */
export class ReplyBudget {
  private left: number;
  private count = 0;

  constructor(turn: Turn) {
    this.left = turn.config.maxMessageSize - ENVELOPE_ROOM;
  }

  /** Whether one more entry fits; counts it if so. */
  admit(entry: unknown): boolean {
    const size = utf8.encode(JSON.stringify(entry)).byteLength + 1; // and its comma
    if (this.count > 0 && size > this.left) return false;
    this.left -= size;
    this.count++;
    return true;
  }

  /** The longest prefix of `entries` that fits. */
  fit<T>(entries: T[]): T[] {
    let n = 0;
    while (n < entries.length && this.admit(entries[n])) n++;
    return n === entries.length ? entries : entries.slice(0, n);
  }
}
