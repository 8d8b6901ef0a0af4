import type { SessionEvent } from '../../machines/session';
import type { HubConfig } from '../config';
import { HUB_ADDRESS } from '../protocol/envelope';
import type { Metrics } from '../protocol/replies';
import type { AuthInput } from './auth';
import type { Effect } from './effects';
import { emptyStats, type Counters } from './stats';
import { runJobBatches } from './delivery';
import { lifecycleHandlers } from './lifecycle';
import { backpressure, backpressureDue, messagingHandlers } from './messaging';
import { SUBSCRIPTION_NAMESPACES } from './topics';
import { RegistryCache } from './registry-cache';
import { CachedKvStore } from './kv-cache';
import { freshAbuseWindow, fullBucket } from './rate-limit';
import { registryHandlers } from './registry';
import { noteEnding, noteOpened, lostSockets, recoverLostSockets } from './restart';
import { internalError } from './internal-error';
import type { HandlerTable, HubOps } from './request';
import {
  countsTraffic,
  deadlineOf,
  emptyFlow,
  emptyMailbox,
  fromAttachment,
  isLive,
  isReachable,
  isSuspended,
  newSnapshot,
  stateOf,
  stepMachine,
  toAttachment,
  type Session,
  type SessionSnapshot,
} from './session';
import { closedAttachment, findResumable, loadSuspended, moveToConnection, storeSuspended } from './resume';
import { handleFrame, type PipelineHub } from './pipeline';
import { CONTEXT_ONLY } from './machine-step';
import { isEnding, performActions } from './machine-effects';
import { IdentityIndex } from './identities';
import { AlarmSchedule, earlier } from './schedule';
import { laneRefusal } from './refusal-lane';
import { Totals } from './totals';
import { Turn, type HubHost, type ReplyTap } from './turn';
import { SeenSet } from './dedup';
import { dedupScope } from './idempotency';
import { TopicHistory } from './topic-history';

const NO_PINGS: ReadonlyMap<string, number> = new Map();

/** One step of a session's machine: the snapshot before, the event, the snapshot after. */
export interface MachineStep {
  connId: string;
  before: SessionSnapshot;
  event: SessionEvent;
  after: SessionSnapshot;
}

export type { Counters };

/**
 * The hub core. Each entry point takes one decoded event and the current time
 * and returns the effects to perform. It holds sessions in memory only as a
 * cache of their socket attachments, so a fresh instance built from the
 * attachments after hibernation behaves exactly like the one it replaces.
 *
 * The work is split by job: the frame pipeline (pipeline.ts), machine
 * actions as effects (machine-effects.ts), identity routing (identities.ts),
 * the one alarm (schedule.ts) and the counters (totals.ts). This class owns
 * the sessions and the five entry points, and finishes every turn.
 */
export class HubCore implements HubOps, PipelineHub {
  private readonly sessions = new Map<string, Session>();
  private readonly identities = new IdentityIndex(this.sessions);
  private readonly totals: Totals;
  private readonly schedule: AlarmSchedule;
  readonly handlers: HandlerTable;
  /** Sessions restored open, when fewer than the counters say are open (sockets lost); null once handled. */
  private lostSockets: number | null = null;
  /**
   * Sees every session-machine step, for the harness's transition coverage and
   * replay inspector. Unset in the Durable Object, where it costs one read.
   */
  onTransition: ((step: MachineStep) => void) | undefined = undefined;
  /**
   * Set by the runtime when it has a hook for application messages: types
   * outside `hub:` from a connected session then become an `app` effect
   * instead of an unknown_type error (docs/PROTOCOL.md, "Application messages").
   */
  appMessages = false;
  /**
   * Whether a refusal that needs no turn takes the refusal lane
   * (refusal-lane.ts). Always on in the hub; test/unit/refusal-lane.test.ts
   * turns it off to compare the lane with the full path.
   */
  refusalLane = true;
  /** Frames the refusal lane answered (for that test: a comparison in which the lane never ran would prove nothing). */
  laneRefusals = 0;

  private readonly host: HubHost;
  /** Request ids already answered, written in batches (dedup.ts). */
  readonly seen: SeenSet;
  /** Each topic's recent publications (topic-history.ts). */
  readonly history: TopicHistory;
  /** A pending ask's answer, sent in a later turn, becomes its recorded answer. */
  private readonly settleSeen: ReplyTap;
  /**
   * Sessions with soft changes not yet in their attachment (counters, bucket,
   * liveness; docs/PROTOCOL.md §11), and when they must be written: the
   * first such change sets the deadline SESSION_FLUSH_MS ahead, which joins
   * the one alarm. Any write of the session (a durable change) clears it.
   */
  private readonly unflushed = new Set<Session>();
  private sessionFlushDue: number | null = null;

  constructor(
    readonly config: HubConfig,
    durable: HubHost,
    restored: Iterable<{ connId: string; attachment: unknown }> = [],
    extraHandlers: HandlerTable = {},
  ) {
    // Registry and subscriptions are read from memory, written through to the
    // durable stores; the copies live and die with this core (see registry-cache.ts).
    const host = { ...durable, registry: new RegistryCache(durable.registry), kv: new CachedKvStore(durable.kv, SUBSCRIPTION_NAMESPACES) };
    this.host = host;
    this.handlers = { ...lifecycleHandlers, ...registryHandlers, ...messagingHandlers, ...extraHandlers };
    this.totals = new Totals(host, this.sessions);
    this.seen = new SeenSet(host.kv, config);
    this.history = new TopicHistory(host.kv, config, () => host.ids.id());
    this.settleSeen = (conn, requestId, frame, retryable, now) => this.seen.settle(conn, requestId, frame, retryable, now);
    this.schedule = new AlarmSchedule(host, this.sessions, () => earlier(this.seen.flushDue, this.sessionFlushDue));
    for (const { connId, attachment } of restored) {
      const session = fromAttachment(attachment);
      if (session && session.connId === connId && stateOf(session) !== 'closed') {
        this.sessions.set(connId, session);
        const identity = session.snapshot.context.identity;
        if (identity !== null && isLive(session)) this.identities.claim(identity, session);
      }
    }
    // Suspended sessions have no socket; their records are in storage (resume.ts).
    for (const session of loadSuspended(host.kv)) {
      this.sessions.set(session.connId, session);
      const identity = session.snapshot.context.identity;
      if (identity !== null) this.identities.claim(identity, session);
    }
    this.lostSockets = lostSockets(this.totals.base, this.sessions.values());
  }

  /** Restored sockets whose attachment could not be read; the shell closes them. */
  static unreadable(restored: Iterable<{ connId: string; attachment: unknown }>): string[] {
    const bad: string[] = [];
    for (const { connId, attachment } of restored) if (!fromAttachment(attachment)) bad.push(connId);
    return bad;
  }

  session(connId: string): Session | undefined {
    return this.sessions.get(connId);
  }

  allSessions(): IterableIterator<Session> {
    return this.sessions.values();
  }

  /**
   * Connections whose deadline has passed at `now`: the only ones whose last
   * auto-ping `tick` reads. Asking the runtime for every socket's on every
   * alarm cost one native call per session per alarm, and a large queued
   * fan-out runs several alarms (issue 11).
   */
  *dueConnections(now: number): IterableIterator<string> {
    for (const session of this.sessions.values()) {
      const due = deadlineOf(session);
      if (due !== null && due <= now) yield session.connId;
    }
  }

  liveSessionCount(): number {
    let n = 0;
    for (const s of this.sessions.values()) if (isLive(s)) n++;
    return n;
  }

  // ---------------------------------------------------------------- entry points

  open(connId: string, now: number): Effect[] {
    const turn = this.turn(now);
    const sessionId = this.host.ids.id();
    const session: Session = {
      connId,
      snapshot: newSnapshot(sessionId, now, this.config),
      bucket: fullBucket({ perSecond: this.config.rateLimitPerSecond, burst: this.config.rateLimitBurst }, now),
      abuse: freshAbuseWindow(now),
      token: null,
      tokenExpiresAt: null,
      flow: emptyFlow(),
      authExpiresAt: null,
      permissions: null,
      stats: emptyStats(),
      resumeHash: null,
      mailbox: emptyMailbox(),
    };
    this.sessions.set(connId, session);
    this.totals.opened();
    noteOpened(this.host.kv, connId);
    turn.dirty.add(session);
    turn.log.log('debug', 'session.opened', { sessionId });
    return this.finish(turn);
  }

  /**
   * The runtime now holds `count` frames of this session unhandled
   * (src/runtime/fair-queue.ts). They are the session's queued work as much
   * as its queued fan-out, so they count towards the advisory hub:pause /
   * hub:resume. Reported on every change, so most calls cross no threshold
   * and cost neither a turn nor an effect list (null).
   */
  held(connId: string, count: number, now: number): Effect[] | null {
    const session = this.sessions.get(connId);
    if (session === undefined) return null;
    session.held = count;
    if (!this.owesFlowNotice(session)) return null;
    const turn = this.turn(now);
    backpressure(turn, session);
    return this.finish(turn);
  }

  /**
   * Sends hub:pause / hub:resume to every live session whose stored pause
   * state its queued work no longer matches, or returns null if none. The
   * runtime calls it once a core is built from the attachments: a session
   * the hub paused for frames a crash then forgot has been told to wait for
   * a hub:resume, and nothing else would send it one.
   */
  settleBackpressure(now: number): Effect[] | null {
    let turn: Turn | null = null;
    for (const session of this.sessions.values()) {
      if (!this.owesFlowNotice(session)) continue;
      turn ??= this.turn(now);
      backpressure(turn, session);
    }
    return turn === null ? null : this.finish(turn);
  }

  /** Whether a live session's queued work crossed a threshold its hub:pause / hub:resume state has not caught up with. */
  private owesFlowNotice(session: Session): boolean {
    return isLive(session) && backpressureDue(this.config, session);
  }

  /** `auth` is the shell's verdict on a JWT the frame carries (auth on, connect and refresh only). */
  frame(connId: string, raw: string | ArrayBuffer, now: number, auth?: AuthInput): Effect[] {
    const lane = auth === undefined && typeof raw === 'string' ? this.sessions.get(connId) : undefined;
    if (lane !== undefined && this.laneOpen(lane)) {
      const frame = laneRefusal(this.config, this.host.ids, lane, raw as string, now);
      if (frame !== null) {
        this.laneRefusals++;
        return [{ kind: 'send', conn: connId, frame }];
      }
    }
    const turn = this.turn(now);
    turn.auth = auth;
    const session = this.sessions.get(connId);
    // A suspended session's old socket may still deliver a frame while it closes: it speaks for nobody now.
    if (!session || !countsTraffic(session) || isSuspended(session)) return this.finish(turn);
    turn.origin = session;
    session.stats.received++;
    turn.soft.add(session);
    try {
      handleFrame(this, turn, session, raw);
    } catch (err) {
      // A handler bug must not leave the socket without an answer or the
      // session in a half-updated state: reply, log, keep the connection.
      internalError(turn, session, err, raw);
    }
    return this.finish(turn);
  }

  closed(connId: string, code: number, now: number): Effect[] {
    const turn = this.turn(now);
    const session = this.sessions.get(connId);
    if (session) this.drive(turn, session, { type: 'SOCKET_CLOSED', now, code });
    return this.finish(turn);
  }

  /**
   * The alarm. Safe to call at any time and any number of times: it only acts
   * on deadlines that have passed, then re-arms at the next one. `pings` is
   * the runtime's last auto-answered ping per connection whose deadline has
   * passed (sockets that never pinged are absent; see dueConnections): data
   * like `now`, since the runtime answers pings
   * without waking the hub.
   */
  tick(now: number, pings: ReadonlyMap<string, number> = NO_PINGS): Effect[] {
    const turn = this.turn(now);
    this.schedule.forget();
    for (const session of [...this.sessions.values()]) {
      const due = deadlineOf(session);
      if (session.authExpiresAt !== null && session.authExpiresAt <= now && isLive(session)) {
        turn.log.log('info', 'session.token_expired', { sessionId: session.snapshot.context.sessionId });
        this.drive(turn, session, { type: 'TOKEN_EXPIRED', now });
      } else if (due !== null && due <= now) {
        // A ping since the last frame is folded in here, where it decides the heartbeat check.
        this.drive(turn, session, { type: 'TICK', now, pingAt: pings.get(session.connId) ?? null });
      }
    }
    // Any alarm flushes, early or not: the writes are owed anyway, and sooner only narrows the exposure.
    this.flushAll(turn);
    const removed = this.host.registry.deleteExpired(now);
    if (removed > 0) turn.log.log('debug', 'registry.cleanup', { removed });
    runJobBatches(turn, this);
    return this.finish(turn);
  }

  /**
   * Writes everything held in memory for a batched write: the seen-set and
   * the sessions' soft state. What the alarm does at the flush deadline, done
   * now: before an operator snapshot, and by tests before they force a
   * hibernation (the runtime hibernates only after seconds of idleness, by
   * when that alarm has run).
   */
  flush(now: number): Effect[] {
    const turn = this.turn(now);
    this.flushAll(turn);
    return this.finish(turn);
  }

  /** Server shutdown: every session is told and closed (1001). */
  shutdown(now: number): Effect[] {
    const turn = this.turn(now);
    for (const session of [...this.sessions.values()]) this.drive(turn, session, { type: 'SHUTDOWN', now });
    return this.finish(turn);
  }

  // ---------------------------------------------------------------- machine

  drive(turn: Turn, session: Session, event: SessionEvent): void {
    const before = session.snapshot;
    const [next, actions] = stepMachine(before, event);
    session.snapshot = next;
    this.onTransition?.({ connId: session.connId, before, event, after: next });
    // A step that only moved soft context fields (liveness, a later refill) waits for the flush.
    if (actions !== CONTEXT_ONLY) turn.dirty.add(session);
    else if (next !== before) turn.soft.add(session);
    performActions(turn, session, actions, this.identities);
    const ctx = next.context;
    if (event.type === 'CONNECT_ACCEPTED' && ctx.identity !== null && isLive(session)) this.identities.claim(ctx.identity, session);
    if (!isEnding(before) && isEnding(next)) {
      noteEnding(this.host.kv, session.connId);
      this.totals.ending(session, ctx.closeReason, event.now);
      this.sessionEnded(session, event.now);
    }
    if (next.status === 'done') {
      this.sessions.delete(session.connId);
      turn.dirty.delete(session);
      // Record the final state so a socket that lingers after a wake is not revived.
      turn.effects.push({ kind: 'persist', conn: session.connId, attachment: toAttachment(session) });
      turn.log.log('info', 'session.closed', { sessionId: ctx.sessionId, code: ctx.closeCode ?? undefined });
    }
  }

  /**
   * What the seen-set keeps of an ending session is written now, not at the
   * next flush: a session scope is dropped (no request can name that session
   * again), an identity scope stays for the rest of its window.
   */
  private sessionEnded(session: Session, now: number): void {
    if (!this.seen.enabled) return;
    const scope = dedupScope(this.config, session);
    if (scope.startsWith('s:')) this.seen.drop(scope, now);
    this.seen.flush(now);
  }

  // ---------------------------------------------------------------- routing

  resolve(address: string, now: number): Session | null {
    const row = this.host.registry.get(address);
    if (row && row.expiresAt > now) {
      const holder = this.sessions.get(row.connId);
      if (holder && isReachable(holder)) return holder;
    }
    return this.identities.resolve(address);
  }

  resumable(token: string | undefined, identity: string, now: number): Session | null {
    return findResumable(this.sessions.values(), token, identity, now);
  }

  /**
   * A resume: the suspended session moves onto the connecting one's socket
   * and takes its place. The connecting placeholder never became a session
   * of its own, so it counts as a connection that closed (reason `resumed`);
   * the session keeps its own stats.
   */
  adopt(turn: Turn, placeholder: Session, suspended: Session, takenOver = false): Session {
    const connId = placeholder.connId;
    this.sessions.delete(suspended.connId);
    const old = moveToConnection(turn, suspended, connId);
    if (this.seen.enabled) this.seen.moveConn(old, connId, turn.now);
    // A taken-over socket may linger (closing) and outlive a wake: its attachment must not revive the session there.
    if (takenOver) turn.effects.push({ kind: 'persist', conn: old, attachment: closedAttachment(suspended, old) });
    noteEnding(this.host.kv, old);
    this.sessions.set(connId, suspended);
    this.identities.moved(suspended, old);
    this.totals.ending(placeholder, 'resumed', turn.now);
    turn.dirty.delete(placeholder);
    turn.dirty.add(suspended);
    if (turn.origin === placeholder) turn.origin = suspended;
    return suspended;
  }

  resolveIdentity(identity: string): Session | null {
    return this.identities.resolve(identity);
  }

  checkBackpressure(turn: Turn, sender: Session): void {
    backpressure(turn, sender);
  }

  // ---------------------------------------------------------------- counters

  processingRate(now: number): number {
    return this.totals.processingRate(now);
  }

  /** Hub-wide totals: the stored base plus what every open session did so far. */
  get counters(): Counters {
    return this.totals.counters;
  }

  /** A client sees the totals here, so every count in them is made durable in this turn (at its finish). */
  metrics(turn: Turn): Metrics {
    turn.flushSessions = true;
    return this.totals.metrics(turn);
  }

  // ---------------------------------------------------------------- bookkeeping

  private turn(now: number): Turn {
    const turn = new Turn(now, this.config, this.host);
    if (this.seen.enabled && this.seen.awaiting) turn.tap = this.settleSeen;
    if (this.lostSockets !== null) {
      recoverLostSockets(turn, this, this.totals.base, new Set(this.sessions.keys()), this.lostSockets, () => this.counters);
      this.lostSockets = null;
      this.totals.markDirty();
    }
    return turn;
  }

  /**
   * Whether a turn for a refusal of `session` would do nothing but the
   * refusal (refusal-lane.ts): no one watches transitions, no ask waits for
   * an answer this frame could settle (the turn's tap), and the session's
   * soft state is already held for the flush (so the flush deadline is
   * armed too). The last three checks hold whenever the first ones do, by
   * rules kept elsewhere (the first turn after a wake recovers lost sockets
   * and arms the alarm; every turn writes the stored totals it changed); they
   * are checked anyway, since a change to one of those rules would
   * otherwise make the lane skip work silently.
   */
  private laneOpen(session: Session): boolean {
    return (
      this.refusalLane &&
      this.onTransition === undefined &&
      !(this.seen.enabled && this.seen.awaiting) &&
      this.unflushed.has(session) &&
      this.lostSockets === null &&
      this.schedule.covers(this.seen.flushDue) &&
      !this.totals.unwritten
    );
  }

  /** Everything held for a batched write goes out in this turn: the seen-set now, every session's soft state at its finish. */
  private flushAll(turn: Turn): void {
    if (this.seen.flushDue !== null) this.seen.flush(turn.now);
    turn.flushSessions = true;
  }

  /**
   * Counters, one persist per session whose durable state changed, the soft
   * changes held for the next flush (or written at once when
   * SESSION_FLUSH_MS is 0), and the alarm if a deadline moved earlier.
   */
  private finish(turn: Turn): Effect[] {
    this.totals.attribute(turn);
    let lowest: number | null = null;
    if (turn.flushSessions) {
      for (const session of this.unflushed) turn.dirty.add(session);
      for (const session of turn.soft) turn.dirty.add(session);
    } else if (turn.soft.size > 0) {
      const flushMs = this.config.sessionFlushMs;
      for (const session of turn.soft) {
        // By identity: a resume's placeholder shares its connId with the session it adopted.
        if (turn.dirty.has(session) || this.sessions.get(session.connId) !== session) continue;
        if (flushMs === 0) {
          turn.dirty.add(session);
          continue;
        }
        this.unflushed.add(session);
        if (this.sessionFlushDue === null) lowest = this.sessionFlushDue = turn.now + flushMs;
      }
    }
    if (this.unflushed.size > 0) for (const session of turn.dirty) this.unflushed.delete(session);
    if (this.unflushed.size === 0) this.sessionFlushDue = null;
    for (const session of turn.dirty) {
      if (this.sessions.get(session.connId) !== session) continue;
      // A suspended session has no socket to hold its attachment: its record goes to storage.
      if (isSuspended(session)) storeSuspended(this.host.kv, session);
      else turn.effects.push({ kind: 'persist', conn: session.connId, attachment: toAttachment(session) });
      lowest = earlier(lowest, deadlineOf(session));
    }
    if (turn.jobsAdded) lowest = turn.now;
    if (turn.registryTouched) lowest = earlier(lowest, this.host.registry.nextExpiry());
    lowest = earlier(lowest, this.seen.flushDue);
    this.schedule.arm(turn, lowest);
    this.totals.flush();
    return turn.effects;
  }
}

export { HUB_ADDRESS };
