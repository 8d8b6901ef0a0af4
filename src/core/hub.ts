import type { CloseParams, NoticeParams, SessionEvent } from '../../machines/session';
import type { HubConfig } from '../config';
import { HUB_ADDRESS, envelopeSchema, issuesOf, type Envelope } from '../protocol/envelope';
import { FORWARDING_TYPES, isRequestType, requestSchemas, type RequestType } from '../protocol/messages';
import { fastEnvelope, fastPayloads } from '../protocol/fast-parse';
import type { Metrics } from '../protocol/replies';
import { byteLength, echoable, illFormedError, illFormedIssue, sniffId } from '../protocol/strings';
import type { AuthInput } from './auth';
import type { Effect } from './effects';
import {
  addStats,
  emptyCounters,
  emptyRate,
  emptyStats,
  lastSecondRate,
  mergeRate,
  type Counters,
  type RateWindow,
} from './stats';
import { countClose, countError, countRequest, observeAck } from './ops-stats';
import { hasJobs, queuedDeliveries, releaseBuffer, runJobBatch } from './delivery';
import { connectHandler, lifecycleHandlers } from './lifecycle';
import { backpressure, messagingHandlers } from './messaging';
import { releaseSubscriptions, SUBSCRIPTION_NAMESPACES, topicCount } from './topics';
import { RegistryCache } from './registry-cache';
import { CachedKvStore } from './kv-cache';
import { freshAbuseWindow, fullBucket } from './rate-limit';
import { refuseEarly, spendToken } from './rate-gate';
import { registryHandlers } from './registry';
import { refuseReservedSender } from './reserved';
import { noteEnding, noteOpened, noteReported, lostSockets, recoverLostSockets } from './restart';
import { internalError } from './internal-error';
import { Request, type Handler, type HandlerTable, type HubOps } from './request';
import {
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
import { NS } from './namespaces';
import { drainMailbox, expireMailbox } from './mailbox';
import { findResumable, forgetSuspended, loadSuspended, moveToConnection, storeSuspended, suspend } from './resume';
import { Turn, type HubHost } from './turn';

const UNKNOWN_ADDRESS = '@(unknown)';
const decoder = new TextDecoder();

/** One step of a session's machine: the snapshot before, the event, the snapshot after. */
export interface MachineStep {
  connId: string;
  before: SessionSnapshot;
  event: SessionEvent;
  after: SessionSnapshot;
}

export type { Counters };

/** Counters of ended sessions and opened connections; the open sessions carry their own. */
const COUNTERS_KEY = 'counters';
const RATE_KEY = 'rate';

/**
 * The hub core. Each entry point takes one decoded event and the current time
 * and returns the effects to perform. It holds sessions in memory only as a
 * cache of their socket attachments, so a fresh instance built from the
 * attachments after hibernation behaves exactly like the one it replaces.
 */
export class HubCore implements HubOps {
  private readonly sessions = new Map<string, Session>();
  /** identity -> connection, for sends to a connected but unregistered actor. */
  private readonly identities = new Map<string, string>();
  /** Stored totals of what ended sessions did, plus connections opened. */
  private readonly base: Counters;
  private baseDirty = false;
  /** Recent deliveries to sessions that ended, for processingRate. */
  private readonly baseRate: RateWindow;
  private readonly handlers: HandlerTable;
  /** Sessions restored open, when fewer than the counters say are open (sockets lost); null once handled. */
  private lostSockets: number | null = null;
  /** The alarm we last asked for; undefined after a wake, when it is unknown. */
  private armedAt: number | null | undefined = undefined;
  /**
   * Sees every session-machine step, for the harness's transition coverage and
   * replay inspector. Unset in the Durable Object, where it costs one read.
   */
  onTransition: ((step: MachineStep) => void) | undefined = undefined;

  private readonly host: HubHost;

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
    this.base = host.kv.get<Counters>(NS.meta, COUNTERS_KEY) ?? emptyCounters();
    this.baseRate = host.kv.get<RateWindow>(NS.meta, RATE_KEY) ?? emptyRate();
    for (const { connId, attachment } of restored) {
      const session = fromAttachment(attachment);
      if (session && session.connId === connId && stateOf(session) !== 'closed') {
        this.sessions.set(connId, session);
        const identity = session.snapshot.context.identity;
        if (identity !== null && isLive(session)) this.claimIdentity(identity, session);
      }
    }
    // Suspended sessions have no socket; their records are in storage (resume.ts).
    for (const session of loadSuspended(host.kv)) {
      this.sessions.set(session.connId, session);
      const identity = session.snapshot.context.identity;
      if (identity !== null) this.claimIdentity(identity, session);
    }
    this.lostSockets = lostSockets(this.base, this.sessions.values());
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
    this.base.connectionsOpened++;
    noteOpened(this.host.kv, connId);
    this.baseDirty = true;
    turn.dirty.add(session);
    turn.log.log('debug', 'session.opened', { sessionId });
    return this.finish(turn);
  }

  /** `auth` is the shell's verdict on a JWT the frame carries (auth on, connect and refresh only). */
  frame(connId: string, raw: string | ArrayBuffer, now: number, auth?: AuthInput): Effect[] {
    const turn = this.turn(now);
    turn.auth = auth;
    const session = this.sessions.get(connId);
    // A suspended session's old socket may still deliver a frame while it closes: it speaks for nobody now.
    if (!session || !counts(session) || isSuspended(session)) return this.finish(turn);
    turn.origin = session;
    session.stats.received++;
    try {
      this.handleFrame(turn, session, raw);
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
   * on deadlines that have passed, then re-arms at the next one.
   */
  tick(now: number): Effect[] {
    const turn = this.turn(now);
    this.armedAt = undefined;
    for (const session of [...this.sessions.values()]) {
      const due = deadlineOf(session);
      const pingAt = this.host.pingAt(session.connId);
      const pingExtends = pingAt !== null && pingAt > session.snapshot.context.lastSeen;
      if (session.authExpiresAt !== null && session.authExpiresAt <= now && isLive(session)) {
        turn.log.log('info', 'session.token_expired', { sessionId: session.snapshot.context.sessionId });
        this.drive(turn, session, { type: 'TOKEN_EXPIRED', now });
      } else if ((due !== null && due <= now) || pingExtends) {
        this.drive(turn, session, { type: 'TICK', now, pingAt });
      }
    }
    const removed = this.host.registry.deleteExpired(now);
    if (removed > 0) turn.log.log('debug', 'registry.cleanup', { removed });
    runJobBatch(turn, this);
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
    turn.dirty.add(session);
    const ctx = next.context;
    for (const action of actions) {
      switch (action.type) {
        case 'sendDisconnectNotice': {
          const p = action.params as NoticeParams;
          turn.reply(session.connId, ctx.identity ?? UNKNOWN_ADDRESS, null, 'hub:disconnect', {
            reason: p.reason,
            message: p.message,
          });
          break;
        }
        case 'sendDisconnectAck': {
          const p = action.params as { requestId: string };
          turn.reply(session.connId, ctx.identity ?? UNKNOWN_ADDRESS, p.requestId, 'hub:disconnect', {
            acknowledged: true,
          });
          break;
        }
        case 'closeSocket': {
          const p = action.params as CloseParams;
          turn.close(session.connId, p.code, p.reason);
          turn.log.log('info', 'session.closing', { sessionId: ctx.sessionId, code: p.code, reason: p.reason });
          break;
        }
        case 'releaseResources': {
          const released = turn.host.registry.deleteByConn(session.connId);
          if (released.length > 0) turn.registryTouched = true;
          releaseSubscriptions(turn, session.connId);
          releaseBuffer(turn, session);
          // Released from `suspended`: waiting asks fail with resume_expired, the record goes.
          expireMailbox(turn, session);
          if (before.value === 'suspended') forgetSuspended(turn.host.kv, session.connId);
          if (ctx.identity !== null && this.identities.get(ctx.identity) === session.connId) {
            this.identities.delete(ctx.identity);
            // With auth off several sessions may share an identity: hand it to another live one.
            for (const other of this.sessions.values()) {
              if (other !== session && isReachable(other) && other.snapshot.context.identity === ctx.identity) {
                this.claimIdentity(ctx.identity, other);
              }
            }
          }
          break;
        }
        case 'suspendSession':
          suspend(turn, session);
          break;
        case 'deliverMailbox':
          drainMailbox(turn, session);
          break;
        default:
          break; // assign actions were applied by the step itself
      }
    }
    if (event.type === 'CONNECT_ACCEPTED' && ctx.identity !== null && isLive(session)) {
      this.claimIdentity(ctx.identity, session);
    }
    // Counted when the close starts: a closing socket is not restored after a
    // wake, so a close the peer never confirms might otherwise never count.
    // Its traffic moves into the stored totals at the same moment, so the
    // totals read the same whether or not the closing socket is seen again.
    if (!isEnding(before.value) && isEnding(next.value)) {
      this.base.connectionsClosed++;
      noteEnding(this.host.kv, session.connId);
      countClose((this.base.ops ??= {}), next.context.closeReason);
      addStats(this.base, session.stats);
      mergeRate(this.baseRate, session.stats, event.now);
      this.host.kv.put(NS.meta, RATE_KEY, this.baseRate);
      session.stats = emptyStats();
      this.baseDirty = true;
    }
    if (next.status === 'done') {
      this.sessions.delete(session.connId);
      turn.dirty.delete(session);
      // Record the final state so a socket that lingers after a wake is not revived.
      turn.effects.push({ kind: 'persist', conn: session.connId, attachment: toAttachment(session) });
      turn.log.log('info', 'session.closed', { sessionId: ctx.sessionId, code: ctx.closeCode ?? undefined });
    }
  }

  // ---------------------------------------------------------------- pipeline

  private handleFrame(turn: Turn, session: Session, raw: string | ArrayBuffer): void {
    const sessionId = session.snapshot.context.sessionId;
    const replyTo = session.snapshot.context.identity ?? UNKNOWN_ADDRESS;
    const text = typeof raw === 'string' ? raw : decoder.decode(raw);
    const size = byteLength(text, this.config.maxMessageSize);

    // Raw size guard before any parse: a huge frame is never handed to JSON.parse.
    if (size > this.config.maxMessageSize) {
      this.drive(turn, session, { type: 'FRAME', now: turn.now });
      if (isLive(session) && !spendToken(this, turn, session, null, replyTo, null)) return;
      turn.error(
        session.connId,
        replyTo,
        sniffId(text),
        {
          code: 'message_too_large',
          message: `The frame is ${size} bytes; the limit is ${this.config.maxMessageSize}.`,
          extra: { messageSize: size, maxSize: this.config.maxMessageSize },
        },
        sessionId,
      );
      return;
    }

    // An empty bucket is answered before any parsing (rate-gate.ts).
    if (isLive(session) && refuseEarly(this, turn, session, text, replyTo)) return;

    let json: unknown;
    let parseError: string | null = null;
    try {
      json = JSON.parse(text);
    } catch (err) {
      parseError = err instanceof Error ? err.message : String(err);
    }
    const obj = json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : null;
    const rawId = typeof obj?.id === 'string' ? echoable(obj.id) : obj === null ? sniffId(text) : null;
    const rawType = typeof obj?.type === 'string' ? obj.type : null;

    this.drive(turn, session, frameEvent(turn.now, rawType, rawId));
    if (isLive(session) && !spendToken(this, turn, session, rawType, replyTo, rawId)) return;

    if (parseError !== null || obj === null) {
      turn.error(
        session.connId,
        replyTo,
        rawId,
        {
          code: 'invalid_message',
          message: parseError !== null ? 'The frame is not valid JSON.' : 'The frame must be a JSON object.',
          details: {
            issues: [{ path: '(root)', message: parseError ?? `expected an object, got ${Array.isArray(json) ? 'array' : typeof json}` }],
          },
        },
        sessionId,
      );
      return;
    }

    // Refused once, up front: a lone surrogate anywhere (payload data and metadata included) would be stored or echoed.
    const illFormed = illFormedIssue(text, obj);
    if (illFormed) return turn.error(session.connId, replyTo, rawId, illFormedError(illFormed), sessionId);

    // Every string is well-formed from here, which the hand-written check relies on; it answers for
    // valid frames of the usual shape, zod decides the rest (fast-parse.ts).
    const fast = fastEnvelope(obj);
    const parsed = fast !== undefined ? { success: true as const, data: fast } : envelopeSchema.safeParse(obj);
    if (!parsed.success) {
      const from = typeof obj.from === 'string' && /^@\([^)]+\)$/.test(obj.from) ? obj.from : replyTo;
      turn.error(
        session.connId,
        session.snapshot.context.identity ?? from,
        rawId,
        { code: 'invalid_message', message: 'The frame is not a valid envelope.', details: { issues: issuesOf(parsed.error) } },
        sessionId,
      );
      return;
    }
    const envelope = parsed.data;
    countRequest((session.stats.ops ??= {}), isRequestType(envelope.type) ? envelope.type : 'other');
    const req = new Request(turn, this, session, envelope);

    if (envelope.ttl !== null && envelope.timestamp + envelope.ttl < turn.now) {
      if (envelope.pattern === 'ask') {
        req.fail({ code: 'message_expired', message: `The message expired ${turn.now - envelope.timestamp - envelope.ttl} ms ago.` });
      }
      turn.log.log('debug', 'message.expired', { sessionId, traceId: req.traceId });
      return;
    }

    if (stateOf(session) === 'connecting') {
      if (envelope.type === 'hub:connect') connectHandler(req);
      else req.fail({ code: 'not_connected', message: `${envelope.type} was sent before a successful hub:connect.` });
      return;
    }

    // Other actors see the sender only on forwarded frames; there it must be
    // an address this session holds. Elsewhere `from` only addresses the reply.
    if (FORWARDING_TYPES.has(envelope.type) && !req.holds(envelope.from)) {
      req.fail({
        code: 'unauthorized',
        message: `This session may not send as ${envelope.from}.`,
        resolution: 'Send as the identity from hub:connected or an address this session registered.',
        extra: { action: envelope.type, reason: 'identity_mismatch' },
      });
      return;
    }

    this.dispatch(req, envelope);
  }

  private dispatch(req: Request, envelope: Envelope): void {
    const type = envelope.type;
    if (!isRequestType(type) || !this.handlers[type]) {
      req.fail({
        code: 'unknown_type',
        message: type.startsWith('hub:')
          ? `The hub does not know the message type ${type}.`
          : `${type} is not a hub message; wrap application messages in hub:send.`,
      });
      return;
    }
    if (refuseReservedSender(req)) return;
    const fast = fastPayloads[type]?.(envelope.payload);
    const payload = fast !== undefined ? { success: true as const, data: fast } : requestSchemas[type].safeParse(envelope.payload);
    if (!payload.success) {
      req.fail({
        code: 'invalid_message',
        message: `The payload of ${type} is invalid.`,
        details: { issues: issuesOf(payload.error, 'payload') },
      });
      return;
    }
    const handler = this.handlers[type] as Handler<RequestType>;
    handler(req, payload.data as never);
  }

  resolve(address: string, now: number): Session | null {
    const row = this.host.registry.get(address);
    if (row && row.expiresAt > now) {
      const holder = this.sessions.get(row.connId);
      if (holder && isReachable(holder)) return holder;
    }
    return this.resolveIdentity(address);
  }

  resumable(token: string | undefined, identity: string, now: number): Session | null {
    return findResumable(this.sessions.values(), token, identity, now);
  }

  /**
   * A resume: the suspended session moves onto the connecting one's socket
   * and takes its place. The connecting placeholder never became a session
   * of its own, so it counts as a connection that closed (reason `resumed`)
   * and its few counts join the stored totals; the session keeps its stats.
   */
  adopt(turn: Turn, placeholder: Session, suspended: Session): Session {
    const connId = placeholder.connId;
    this.sessions.delete(suspended.connId);
    const old = moveToConnection(turn, suspended, connId);
    noteEnding(this.host.kv, old);
    this.sessions.set(connId, suspended);
    const identity = suspended.snapshot.context.identity;
    if (identity !== null && this.identities.get(identity) === old) this.identities.set(identity, connId);
    this.base.connectionsClosed++;
    countClose((this.base.ops ??= {}), 'resumed');
    addStats(this.base, placeholder.stats);
    mergeRate(this.baseRate, placeholder.stats, turn.now);
    placeholder.stats = emptyStats();
    this.baseDirty = true;
    turn.dirty.delete(placeholder);
    turn.dirty.add(suspended);
    if (turn.origin === placeholder) turn.origin = suspended;
    return suspended;
  }

  /**
   * Sessions sharing an identity (auth off): sends reach the most recently
   * opened one. Decided from durable data only, so a hub rebuilt after a wake
   * (which meets the sessions in socket order) picks the same one.
   */
  private claimIdentity(identity: string, session: Session): void {
    const holder = this.resolveIdentity(identity);
    if (!holder || holder === session || isNewer(session, holder)) this.identities.set(identity, session.connId);
  }

  resolveIdentity(identity: string): Session | null {
    const connId = this.identities.get(identity);
    const session = connId !== undefined ? this.sessions.get(connId) : undefined;
    return session && isReachable(session) ? session : null;
  }

  checkBackpressure(turn: Turn, sender: Session): void {
    backpressure(turn, sender);
  }

  processingRate(now: number): number {
    let rate = lastSecondRate(this.baseRate, now);
    for (const session of this.sessions.values()) if (counts(session)) rate += lastSecondRate(session.stats, now);
    return rate;
  }

  /** Hub-wide totals: the stored base plus what every open session did so far. */
  get counters(): Counters {
    const total = { ...this.base };
    for (const session of this.sessions.values()) if (counts(session)) addStats(total, session.stats);
    return total;
  }

  metrics(turn: Turn): Metrics {
    // The per-label counts are for the Prometheus endpoint; hub:metrics keeps its flat numbers.
    const { ops: _ops, ...totals } = this.counters;
    noteReported(turn.host.kv, totals);
    return {
      ...totals,
      currentSessions: this.liveSessionCount(),
      registeredActors: turn.host.registry.countLive(turn.now),
      topics: topicCount(turn),
      queuedDeliveries: queuedDeliveries(turn.host.kv),
    };
  }

  // ---------------------------------------------------------------- bookkeeping

  /** Frames sent and errors go to the turn's origin (see Turn.origin), else the receiving session, or the base once it is ending. */
  private attribute(turn: Turn): void {
    for (const e of turn.effects) {
      if (e.kind !== 'send') continue;
      const session = this.countedBy(turn, e.conn);
      if (session) session.stats.sent++;
      else this.base.messagesSent++;
    }
    turn.errorConns.forEach((conn, i) => {
      const session = this.countedBy(turn, conn);
      if (session) session.stats.errors++;
      else this.base.errors++;
      countError(((session?.stats ?? this.base).ops ??= {}), turn.errorCodes[i] ?? 'other');
    });
    for (const { conn, ms } of turn.ackLatencies) observeAck(((this.countedBy(turn, conn)?.stats ?? this.base).ops ??= {}), ms);
  }

  /** The session whose stats count a frame sent to `conn` this turn, or null for the base (marked dirty). A method, not a closure per turn. */
  private countedBy(turn: Turn, conn: string): Session | null {
    const session = turn.origin && counts(turn.origin) ? turn.origin : this.sessions.get(conn);
    if (session && counts(session)) {
      turn.dirty.add(session);
      return session;
    }
    this.baseDirty = true;
    return null;
  }

  private turn(now: number): Turn {
    const turn = new Turn(now, this.config, this.host);
    if (this.lostSockets !== null) {
      recoverLostSockets(turn, this, this.base, new Set(this.sessions.keys()), this.lostSockets, () => this.counters);
      [this.lostSockets, this.baseDirty] = [null, true];
    }
    return turn;
  }

  /** Earliest deadline over every session and the registry's next expiry. */
  earliestDeadline(now: number): number | null {
    let earliest = this.host.registry.nextExpiry();
    if (hasJobs(this.host.kv)) earliest = earliest === null ? now : Math.min(earliest, now);
    for (const session of this.sessions.values()) {
      const due = deadlineOf(session);
      if (due !== null && (earliest === null || due < earliest)) earliest = due;
    }
    return earliest;
  }

  private finish(turn: Turn): Effect[] {
    this.attribute(turn);
    let lowest: number | null = null;
    for (const session of turn.dirty) {
      if (!this.sessions.has(session.connId)) continue;
      // A suspended session has no socket to hold its attachment: its record goes to storage.
      if (isSuspended(session)) storeSuspended(this.host.kv, session);
      else turn.effects.push({ kind: 'persist', conn: session.connId, attachment: toAttachment(session) });
      const due = deadlineOf(session);
      if (due !== null && (lowest === null || due < lowest)) lowest = due;
    }
    if (turn.jobsAdded) lowest = turn.now;
    if (turn.registryTouched) {
      const expiry = this.host.registry.nextExpiry();
      if (expiry !== null && (lowest === null || expiry < lowest)) lowest = expiry;
    }
    // Deadlines only ever need the alarm earlier; a later one is found when
    // the current alarm fires early and recomputes. After a wake the armed
    // time is unknown, so the first event recomputes it in full.
    if (this.armedAt === undefined) {
      const next = this.earliestDeadline(turn.now);
      this.armedAt = next;
      turn.effects.push({ kind: 'alarm', at: next });
    } else if (lowest !== null && (this.armedAt === null || lowest < this.armedAt)) {
      this.armedAt = lowest;
      turn.effects.push({ kind: 'alarm', at: lowest });
    }
    if (this.baseDirty) {
      this.host.kv.put(NS.meta, COUNTERS_KEY, this.base);
      this.baseDirty = false;
    }
    return turn.effects;
  }
}

/** Longest request type or id an inspection event carries; both are client-chosen strings. */
const NAME_LIMIT = 128;
const clip = (s: string): string => (s.length > NAME_LIMIT ? `${s.slice(0, NAME_LIMIT)}…` : s);

/** The FRAME event, naming the request so an inspector can tell a register from a publish. */
const frameEvent = (now: number, request: string | null, id: string | null): SessionEvent => {
  const event: { type: 'FRAME'; now: number; request?: string; id?: string } = { type: 'FRAME', now };
  if (request !== null) event.request = clip(request);
  if (id !== null) event.id = clip(id);
  return event;
};

const isEnding = (state: unknown): boolean => state === 'closing' || state === 'closed';
/** A session that has not started closing: it takes frames, and its own stats are part of the totals. */
const counts = (session: Session): boolean => !isEnding(session.snapshot.value);

const isNewer = (a: Session, b: Session): boolean => {
  const x = a.snapshot.context;
  const y = b.snapshot.context;
  return x.openedAt !== y.openedAt ? x.openedAt > y.openedAt : x.sessionId > y.sessionId;
};

export { HUB_ADDRESS };
