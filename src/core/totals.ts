import type { Metrics } from '../protocol/replies';
import { NS } from './namespaces';
import { countClose, countError, observeAck } from './ops-stats';
import { noteReported } from './restart';
import { addStats, emptyCounters, emptyRate, emptyStats, lastSecondRate, mergeRate, type Counters, type RateWindow, type SessionStats } from './stats';
import { countsTraffic, isLive, type Session } from './session';
import type { HubHost, Turn } from './turn';
import { queuedDeliveries } from './delivery';
import { topicCount } from './topics';

/**
 * What attribute() counts for a turn whose one effect is a rate_limited
 * reply to its own origin (refusal-lane.ts): one frame sent, one error.
 */
export const countRefusal = (stats: SessionStats): void => {
  stats.sent++;
  stats.errors++;
  countError((stats.ops ??= {}), 'rate_limited');
};

/** Counters of ended sessions and opened connections; the open sessions carry their own. */
const COUNTERS_KEY = 'counters';
const RATE_KEY = 'rate';

/**
 * Hub-wide counters. Each open session counts its own traffic in its stats
 * (written with its attachment, so no storage write per frame); what ended
 * sessions did, and connections opened, live in a stored base. The totals
 * are the base plus every open session, so they read the same before and
 * after a wake.
 */
export class Totals {
  /** Stored totals of what ended sessions did, plus connections opened. */
  readonly base: Counters;
  /** Recent deliveries to sessions that ended, for processingRate. */
  private readonly baseRate: RateWindow;
  private dirty = false;

  constructor(
    private readonly host: HubHost,
    private readonly sessions: ReadonlyMap<string, Session>,
  ) {
    this.base = host.kv.get<Counters>(NS.meta, COUNTERS_KEY) ?? emptyCounters();
    this.baseRate = host.kv.get<RateWindow>(NS.meta, RATE_KEY) ?? emptyRate();
  }

  markDirty(): void {
    this.dirty = true;
  }

  opened(): void {
    this.base.connectionsOpened++;
    this.dirty = true;
  }

  /**
   * Counted when the close starts: a closing socket is not restored after a
   * wake, so a close the peer never confirms might otherwise never count. Its
   * traffic moves into the stored totals at the same moment, so the totals
   * read the same whether or not the closing socket is seen again.
   */
  ending(session: Session, closeReason: string | null, now: number): void {
    this.base.connectionsClosed++;
    countClose((this.base.ops ??= {}), closeReason);
    addStats(this.base, session.stats);
    mergeRate(this.baseRate, session.stats, now);
    this.host.kv.put(NS.meta, RATE_KEY, this.baseRate);
    session.stats = emptyStats();
    this.dirty = true;
  }

  /** Hub-wide totals: the stored base plus what every open session did so far. */
  get counters(): Counters {
    const total = { ...this.base };
    for (const session of this.sessions.values()) if (countsTraffic(session)) addStats(total, session.stats);
    return total;
  }

  processingRate(now: number): number {
    let rate = lastSecondRate(this.baseRate, now);
    for (const session of this.sessions.values()) if (countsTraffic(session)) rate += lastSecondRate(session.stats, now);
    return rate;
  }

  metrics(turn: Turn): Metrics {
    // The per-label counts are for the Prometheus endpoint; hub:metrics keeps its flat numbers.
    const { ops: _ops, ...totals } = this.counters;
    noteReported(turn.host.kv, totals);
    let currentSessions = 0;
    for (const s of this.sessions.values()) if (isLive(s)) currentSessions++;
    return {
      ...totals,
      currentSessions,
      registeredActors: turn.host.registry.countLive(turn.now),
      topics: topicCount(turn),
      queuedDeliveries: queuedDeliveries(turn.host.kv),
    };
  }

  /** Frames sent and errors go to the turn's origin (see Turn.origin), else the receiving session, or the base once it is ending. */
  attribute(turn: Turn): void {
    // Once per turn rather than per frame sent: whether the origin counts cannot change in between.
    const origin = turn.origin !== null && countsTraffic(turn.origin) ? turn.origin : null;
    for (const e of turn.effects) {
      if (e.kind !== 'send') continue;
      const session = this.countedBy(turn, origin, e.conn);
      if (session) session.stats.sent++;
      else this.base.messagesSent++;
    }
    const errors = turn.errors;
    if (errors !== null) {
      for (let i = 0; i < errors.conns.length; i++) {
        const session = this.countedBy(turn, origin, errors.conns[i]!);
        if (session) session.stats.errors++;
        else this.base.errors++;
        countError(((session?.stats ?? this.base).ops ??= {}), errors.codes[i] ?? 'other');
      }
    }
    if (turn.ackLatencies !== null) for (const { conn, ms } of turn.ackLatencies) observeAck(((this.countedBy(turn, origin, conn)?.stats ?? this.base).ops ??= {}), ms);
  }

  /** Whether the stored base has changes not yet written (flush() writes them). */
  get unwritten(): boolean {
    return this.dirty;
  }

  /** Writes the base if it changed this turn. */
  flush(): void {
    if (!this.dirty) return;
    this.host.kv.put(NS.meta, COUNTERS_KEY, this.base);
    this.dirty = false;
  }

  /**
   * The session whose stats count a frame sent to `conn` this turn (`origin`
   * when it counts, see Turn.origin), or null for the base (marked dirty).
   */
  private countedBy(turn: Turn, origin: Session | null, conn: string): Session | null {
    const session = origin ?? this.sessions.get(conn);
    if (session && countsTraffic(session)) {
      turn.soft.add(session);
      return session;
    }
    this.dirty = true;
    return null;
  }
}
