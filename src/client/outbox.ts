import { buildRequest } from '../protocol/build';
import type { Envelope } from '../protocol/envelope';
import type { Requests, RequestType } from '../protocol/messages';
import { ERROR_REPLY_TYPES, REPLY_TYPES } from '../protocol/replies';
import type { Emitter } from './emitter';
import { HubError } from './errors';
import type { Pacer } from './pacing';
import type { HubClientEvents, RequestOptions } from './types';

/** Requests that deliver to other actors: held while the hub asks this client to pause. */
const DELIVERY_TYPES: ReadonlySet<string> = new Set(['hub:send', 'hub:broadcast', 'hub:publish']);
/** Requests the session restore repeats after a rebuilt session (session-state.ts). */
const RESTORED_TYPES: ReadonlySet<string> = new Set(['hub:register', 'hub:subscribe']);
/** How long a sent tell is remembered, so that a late hub:rate_limited or error for it can be matched. */
const TELL_MEMORY_MS = 30_000;

type Timer = ReturnType<typeof setTimeout>;

export interface Sent {
  payload: unknown;
  frame: Envelope;
}

/** One request from the call until its reply (or, for a tell, until it is written). */
interface Outgoing {
  seq: number;
  /** Restores after a reconnect go before anything the application queued. */
  priority: boolean;
  type: RequestType;
  payload: unknown;
  from: string | undefined;
  pattern: 'ask' | 'tell';
  metadata: Record<string, unknown> | undefined;
  ttl: number | null | undefined;
  /** Id of the latest attempt; a retry after hub:rate_limited gets a new one, a resend after a drop keeps it. */
  id: string | null;
  /** Resent after a drop: it keeps its id from then on (rate-limit retries too), so that the hub can recognise it. */
  keepId: boolean;
  writtenAt: number;
  rateRetries: number;
  timer: Timer | null;
  settled: boolean;
  resolve: (value: Sent) => void;
  reject: (error: HubError) => void;
}

export interface OutboxDeps {
  events: Emitter<HubClientEvents>;
  pacer: Pacer;
  /** Whether a frame may be written now: connected, with an open socket. */
  canWrite(): boolean;
  send(text: string): void;
  nextId(): string;
  /** The envelope `from` when a request names none. */
  identity(): string;
  /** Why no request can be accepted now (not connected yet, closed), or null when one can. */
  refusal(): HubError | null;
  requestTimeoutMs: number;
  queueLimit: number;
  maxRateLimitRetries: number;
}

/**
 * The requests of one client: queued in order until they may be written
 * (connected, paced, not held by backpressure), then correlated with their
 * replies, retried after hub:rate_limited and timed out.
 */
export class Outbox {
  private seq = 0;
  /** Waiting to be written, ordered: restores first, then by call order. */
  private queue: Outgoing[] = [];
  /** Written and waiting for a reply (asks), or remembered for a while (tells), by frame id. */
  private readonly inflight = new Map<string, Outgoing>();
  /** One timer for every kind of wait before the next write (retryAfter, pacing). */
  private flushTimer: Timer | null = null;
  private flushAt = 0;
  /** The hub sent hub:pause (backpressure) and no hub:resume yet. */
  private hubPaused = false;
  /** Set while a batch is queued, so that none of it is written before all of it is queued. */
  private holdWrites = false;
  /**
   * Written before an unexpected drop and not known to have reached the hub:
   * asks without their answer, and tells still remembered. Kept with their
   * ids until the next session says whether the hub will recognise a resend
   * (docs/PROTOCOL.md "Idempotent requests"), oldest first.
   */
  private held: Outgoing[] = [];

  constructor(private readonly deps: OutboxDeps) {}

  /** Requests waiting to be written. */
  get size(): number {
    return this.queue.length;
  }

  enqueue(
    type: RequestType,
    payload: unknown,
    options: RequestOptions,
    pattern: 'ask' | 'tell',
    priority = false,
  ): Promise<Sent> {
    const refusal = this.deps.refusal();
    if (refusal) return Promise.reject(refusal);
    return new Promise((resolve, reject) => {
      const entry: Outgoing = {
        seq: ++this.seq,
        priority,
        type,
        payload,
        from: options.from,
        pattern,
        metadata: options.metadata,
        ttl: options.ttl,
        id: null,
        keepId: false,
        writtenAt: 0,
        rateRetries: 0,
        timer: null,
        settled: false,
        resolve,
        reject,
      };
      if (pattern === 'ask') {
        const timeoutMs = options.timeoutMs ?? this.deps.requestTimeoutMs;
        entry.timer = setTimeout(() => {
          this.remove(entry);
          this.fail(entry, HubError.client('timeout', `No reply to ${type} within ${timeoutMs} ms.`, entry.id));
        }, timeoutMs);
      }
      this.insert(entry);
      this.flush();
    });
  }

  /** Queues everything `queueAll` enqueues before any of it is written. */
  batch(queueAll: () => void): void {
    this.holdWrites = true;
    try {
      queueAll();
    } finally {
      this.holdWrites = false;
    }
  }

  /** Backpressure from the hub: deliveries wait while it is on; flush() after hub:resume lets them go. */
  setHubPaused(paused: boolean): void {
    this.hubPaused = paused;
  }

  /**
   * Writes whatever may go now: connected, past any retryAfter, within the
   * pace, and not a delivery while the hub asked this client to pause.
   */
  flush(): void {
    if (this.holdWrites || !this.deps.canWrite()) return;
    const kept: Outgoing[] = [];
    let waitMs = 0;
    for (const entry of this.queue) {
      if (waitMs > 0 || (this.hubPaused && DELIVERY_TYPES.has(entry.type))) {
        kept.push(entry);
        continue;
      }
      waitMs = this.deps.pacer.wait(Date.now());
      if (waitMs > 0) kept.push(entry);
      else this.write(entry);
    }
    this.queue = kept;
    if (waitMs > 0) this.flushLater(waitMs);
    else if (kept.length === 0) this.deps.pacer.drained();
  }

  /** Settles the request a frame answers; false when the frame answers none of them. */
  settle(frame: Envelope): boolean {
    const entry = frame.correlationId === null ? undefined : this.inflight.get(frame.correlationId);
    if (!entry) return false;
    this.inflight.delete(frame.correlationId!);
    if (frame.type === 'hub:rate_limited') {
      this.retryAfterRateLimit(entry, frame);
    } else if (ERROR_REPLY_TYPES.has(frame.type)) {
      this.fail(entry, HubError.fromReply(frame.type, frame.payload, frame.correlationId));
    } else if (entry.pattern === 'ask') {
      // Tells that succeed get no reply; anything else correlated with one is not for us to resolve.
      const expected = REPLY_TYPES[entry.type];
      if (frame.type === expected) this.succeed(entry, frame.payload, frame);
      else {
        this.fail(
          entry,
          HubError.client('invalid_reply', `Expected ${expected} for ${entry.type}, got ${frame.type}.`, frame.correlationId),
        );
      }
    }
    return true;
  }

  /**
   * The session is gone, and the hub's backpressure and pacing with it. After
   * an unexpected drop (`connection_lost`) the requests in flight are held
   * for `resendHeld` or `failHeld`; when this client closed, they fail.
   */
  endSession(code: 'connection_lost' | 'client_closed'): void {
    const inflight = [...this.inflight.values()];
    this.inflight.clear();
    if (code === 'connection_lost') {
      this.held = [...this.held, ...inflight.filter((e) => !(e.pattern === 'ask' && e.settled))].sort((a, b) => a.seq - b.seq);
    } else {
      this.failHeld(code);
      for (const entry of inflight) this.lost(entry, code);
    }
    this.hubPaused = false;
    this.deps.pacer.reset();
    this.stopFlushTimer();
  }

  /**
   * The new session will recognise the held requests (it resumed the old
   * one, or dedups by identity): they are written again with their original
   * ids, in their original order, ahead of anything queued since, and after
   * what the session restore queued just before (registrations first). An
   * ask still waits for its own timeout; the hub answers a repeat with the
   * original reply, or acts on it if the first never arrived. At most
   * `limit` of them, the newest: the hub remembers no more per scope.
   */
  resendHeld(limit: number): void {
    const held = this.held.splice(0);
    const dropped = held.length - limit;
    held.forEach((entry, i) => {
      if (i < dropped) return this.lost(entry, 'connection_lost');
      entry.priority = true;
      // A register or subscribe keeps its old place, ahead of the restore's own: on a rebuilt
      // session its repeated (stale) answer then comes first and the restore's fresh one wins.
      if (!RESTORED_TYPES.has(entry.type)) entry.seq = ++this.seq;
      entry.keepId = true;
      this.insert(entry);
    });
  }

  /** The new session would take a resend as a new request: held asks fail as the connection's loss, held tells are forgotten. */
  failHeld(code: 'connection_lost' | 'client_closed' = 'connection_lost'): void {
    for (const entry of this.held.splice(0)) this.lost(entry, code);
  }

  /** Held requests waiting for the next session. */
  get heldCount(): number {
    return this.held.length;
  }

  /** The client closed for good: nothing queued will be written. */
  refuseAll(error: HubError): void {
    for (const entry of this.held.splice(0)) if (entry.pattern === 'ask') this.fail(entry, error);
    for (const entry of this.queue.splice(0)) this.fail(entry, error);
    this.stopFlushTimer();
  }

  forgetOldTells(now: number): void {
    for (const [id, entry] of this.inflight) {
      if (entry.pattern === 'tell' && now - entry.writtenAt > TELL_MEMORY_MS) this.inflight.delete(id);
    }
  }

  /** Keeps the queue ordered (restores first, then call order) and bounded. */
  private insert(entry: Outgoing): void {
    const rank = (e: Outgoing) => (e.priority ? 0 : 1);
    const queue = this.queue;
    let at = queue.length;
    while (
      at > 0 &&
      (rank(queue[at - 1]!) > rank(entry) || (rank(queue[at - 1]!) === rank(entry) && queue[at - 1]!.seq > entry.seq))
    ) {
      at--;
    }
    queue.splice(at, 0, entry);
    let plain = queue.filter((e) => !e.priority).length;
    while (plain > this.deps.queueLimit) {
      const oldest = queue.findIndex((e) => !e.priority);
      const [dropped] = queue.splice(oldest, 1);
      plain--;
      this.fail(
        dropped!,
        HubError.client('queue_overflow', `The send queue is full (${this.deps.queueLimit}); ${dropped!.type} was refused.`),
      );
    }
  }

  private lost(entry: Outgoing, code: 'connection_lost' | 'client_closed'): void {
    if (entry.pattern === 'ask') this.fail(entry, HubError.client(code, `The connection ended before ${entry.type} was answered.`, entry.id));
  }

  private remove(entry: Outgoing): void {
    const at = this.queue.indexOf(entry);
    if (at >= 0) this.queue.splice(at, 1);
    const h = this.held.indexOf(entry);
    if (h >= 0) this.held.splice(h, 1);
    if (entry.id !== null && this.inflight.get(entry.id) === entry) this.inflight.delete(entry.id);
  }

  private flushLater(waitMs: number): void {
    const at = Date.now() + waitMs;
    if (this.flushTimer && this.flushAt <= at) return;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushAt = at;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.flush();
    }, waitMs);
  }

  private stopFlushTimer(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
  }

  private write(entry: Outgoing): void {
    const id = entry.keepId && entry.id !== null ? entry.id : this.deps.nextId();
    entry.id = id;
    entry.writtenAt = Date.now();
    const frame = buildRequest(entry.type, entry.payload as Requests[typeof entry.type], {
      id,
      from: entry.from ?? this.deps.identity(),
      pattern: entry.pattern,
      timestamp: entry.writtenAt,
      ...(entry.metadata !== undefined ? { metadata: entry.metadata } : {}),
      ...(entry.ttl !== undefined ? { ttl: entry.ttl } : {}),
    });
    this.deps.send(JSON.stringify(frame));
    this.deps.pacer.wrote(entry.writtenAt);
    this.inflight.set(id, entry);
    if (entry.pattern === 'tell' && !entry.settled) {
      // A tell is done once written; it stays in `inflight` only to match a late refusal.
      entry.settled = true;
      entry.resolve({ payload: null, frame: frame as Envelope });
    }
  }

  private fail(entry: Outgoing, error: HubError): void {
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = null;
    if (entry.settled) {
      this.deps.events.emit('error', error);
      return;
    }
    entry.settled = true;
    entry.reject(error);
  }

  private succeed(entry: Outgoing, payload: unknown, frame: Envelope): void {
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = null;
    if (entry.settled) return;
    entry.settled = true;
    entry.resolve({ payload, frame });
  }

  /** The hub refused for the rate limit: wait retryAfter, then send it again in its original place. */
  private retryAfterRateLimit(entry: Outgoing, frame: Envelope): void {
    const payload = frame.payload as { retryAfter?: unknown } | null;
    const retryAfter =
      typeof payload?.retryAfter === 'number' && Number.isFinite(payload.retryAfter) ? Math.max(1, payload.retryAfter) : 100;
    entry.rateRetries++;
    this.deps.events.emit('rateLimited', {
      requestType: entry.type,
      requestId: entry.id ?? '',
      retryAfter,
      attempt: entry.rateRetries,
    });
    if (entry.rateRetries > this.deps.maxRateLimitRetries) {
      this.fail(entry, HubError.fromReply(frame.type, frame.payload, entry.id));
      return;
    }
    this.insert(entry);
    const waitMs = this.deps.pacer.refused(retryAfter, Date.now());
    this.stopFlushTimer();
    this.flushLater(waitMs);
  }
}
