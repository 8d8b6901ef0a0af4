import { createActor, type Actor } from 'xstate';
import { buildRequest } from '../protocol/build';
import { envelopeSchema, PROTOCOL_VERSION, type Envelope } from '../protocol/envelope';
import type { Requests, RequestType } from '../protocol/messages';
import { PING_FRAME } from '../protocol/ping';
import {
  connectionMachine,
  type BackoffPolicy,
  type ClosedReason,
  type ConnectionState,
  type TerminalReason,
} from './connection-machine';
import { Emitter } from './emitter';
import { ERROR_REPLY_TYPES, HubError } from './errors';
import { frameText, globalWebSocket, SOCKET_OPEN, type SocketLike, type WebSocketConstructor } from './socket';
import {
  REPLY_TYPES,
  type ActorList,
  type BroadcastAck,
  type ConnectedPayload,
  type RegisteredPayload,
  type ReplyPayloads,
  type DeliveryAck,
  type Discovered,
  type HubMessage,
  type Metrics,
  type Paused,
  type Published,
  type QueueStats,
  type Renewed,
  type Replies,
  type Resumed,
  type Subscribed,
  type TokenRefreshed,
  type Unregistered,
  type Unsubscribed,
} from './types';

export interface HubClientOptions {
  /** The hub's WebSocket URL, e.g. `ws://127.0.0.1:8787/ws/lobby`. */
  url: string;
  /**
   * The envelope `from` of hub:connect, which becomes the session identity
   * while auth is off. With auth on, the hub takes the identity from the
   * token and {@link HubClient.identity} follows it. Default: a random
   * `@(client/…)` address.
   */
  identity?: string;
  /** The WebSocket class: `ws`'s WebSocket in Node; defaults to globalThis.WebSocket (browsers). */
  WebSocket?: WebSocketConstructor;
  /**
   * JWT for hub:connect (auth on). A function is called before every
   * connect, so it can hand out a fresh token after a reconnect.
   */
  token?: string | (() => string | Promise<string>);
  /** metadata.capabilities of hub:connect. */
  capabilities?: string[];
  protocolVersion?: string;
  /** Default time a request waits for its reply, counted from the call. Default 10 000 ms. */
  requestTimeoutMs?: number;
  /** Time from opening a socket to hub:connected before the attempt is abandoned. Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** false turns reconnecting off; an object adjusts the backoff (default 100 ms doubling to 30 s, ±25 %). */
  reconnect?: boolean | Partial<BackoffPolicy>;
  /** Random source in [0, 1) for the backoff jitter; inject a seeded one in tests. */
  random?: () => number;
  /** Requests held while reconnecting, paused or rate limited; beyond it the oldest is refused. Default 1000. */
  queueLimit?: number;
  /** How often one request is sent again after hub:rate_limited before it fails. Default 10. */
  maxRateLimitRetries?: number;
  /**
   * Pace requests by the rate limit the hub advertises in hub:connected (a
   * token bucket like the hub's), so that a burst is spread out instead of
   * refused. Default true. Refusals are retried either way.
   */
  pace?: boolean;
  /** Send `{"type":"ping"}` at the advertised heartbeat interval. Default true. */
  keepAlive?: boolean;
  /**
   * Silence (no frame, not even a pong) after which the socket is presumed
   * dead and replaced. Default: 3 × the heartbeat interval + 5 s.
   */
  livenessTimeoutMs?: number;
  /** Renew registrations before they expire. Default true. */
  autoRenew?: boolean;
  /** Message ids; default crypto.randomUUID. */
  generateId?: () => string;
}

export interface RequestOptions {
  /** Envelope `from`: the identity (default) or an address this client registered. */
  from?: string;
  metadata?: Record<string, unknown>;
  /** Envelope ttl in ms. */
  ttl?: number | null;
  timeoutMs?: number;
}

export interface RegisterOptions extends RequestOptions {
  capabilities?: string[];
  /** Registration metadata (payload.metadata), visible in discover and list results. */
  actorMetadata?: Record<string, unknown>;
  ttlSeconds?: number;
  renewOnHeartbeat?: boolean;
}

export interface BroadcastOptions extends RequestOptions {
  excludeSelf?: boolean;
  targetCapability?: string;
}

/** What subscribe() resolves with. */
export interface Subscription {
  readonly topic: string;
  /** Address the subscription belongs to. */
  readonly from: string;
  /** The hub's id of the subscription; it changes when the client re-subscribes after a reconnect. */
  readonly subscriptionId: string;
  /** Stops this handle; the hub subscription ends when the topic's last handle stops. */
  unsubscribe(): Promise<void>;
}

export interface StateChange {
  state: ConnectionState;
  previous: ConnectionState;
  /** Why the client closed, when `state` is `closed`. */
  closedReason: ClosedReason | null;
}

export interface HubClientEvents extends Record<string, unknown> {
  /** Every change of the connection state. */
  state: StateChange;
  /** Each successful hub:connect, the first and every reconnect. */
  connected: { info: ConnectedPayload; identity: string; reconnect: boolean };
  /** The socket was lost or closed. */
  disconnected: { code: number; reason: string; willReconnect: boolean };
  /** Registrations and subscriptions were restored after a reconnect. */
  restored: { registrations: number; subscriptions: number; failed: number };
  /** A message another actor sent (send, broadcast or publication). */
  message: HubMessage;
  /** Errors nobody awaits: refused tells, failed restores, unreadable frames, uncorrelated hub errors. */
  error: HubError;
  /** The hub asked this client to slow down (paused: true) or let it go on. */
  flow: { paused: boolean; reason: string | null; queueDepth: number | null };
  /** A request was refused with hub:rate_limited and will be sent again after retryAfter. */
  rateLimited: { requestType: string; requestId: string; retryAfter: number; attempt: number };
}

/** Requests that deliver to other actors: held while the hub asks this client to pause. */
const DELIVERY_TYPES: ReadonlySet<string> = new Set(['hub:send', 'hub:broadcast', 'hub:publish']);
/** How long a sent tell is remembered, so that a late hub:rate_limited or error for it can be matched. */
const TELL_MEMORY_MS = 30_000;
const DISCONNECT_GRACE_MS = 2_000;
/**
 * Pacing runs a little under the advertised rate: frames written exactly one
 * token apart can reach the hub closer together than that when the network
 * delays one of them, and the hub counts arrival times.
 */
const PACE_MARGIN = 0.95;

type Timer = ReturnType<typeof setTimeout>;

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
  /** Id of the latest attempt; a retry gets a new one. */
  id: string | null;
  writtenAt: number;
  rateRetries: number;
  timer: Timer | null;
  settled: boolean;
  resolve: (value: { payload: unknown; frame: Envelope }) => void;
  reject: (error: HubError) => void;
}

interface RegistrationRecord {
  address: string;
  options: RegisterOptions;
  registered: RegisteredPayload;
  renewTimer: Timer | null;
}

interface SubscriptionHandle {
  handler: ((message: HubMessage) => void) | undefined;
}

interface SubscriptionRecord {
  topic: string;
  from: string;
  subscriptionId: string;
  handles: Set<SubscriptionHandle>;
}

const randomId = (): string => {
  const c = crypto;
  if (typeof c.randomUUID === 'function') return c.randomUUID();
  // randomUUID exists only in secure contexts; a page served over plain http elsewhere than localhost lacks it.
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

const subscriptionKey = (from: string, topic: string): string => `${from}\n${topic}`;

/**
 * A Signal Hub client for browsers and Node. See README "Client" for the
 * reconnect policy. Every request method returns a promise that resolves
 * with the hub's reply payload or rejects with a {@link HubError}.
 */
export class HubClient {
  readonly events = new Emitter<HubClientEvents>();
  /** Shorthand for `events.on`. */
  readonly on: Emitter<HubClientEvents>['on'];

  private readonly url: string;
  private readonly WebSocketImpl: WebSocketConstructor;
  private readonly requestTimeoutMs: number;
  private readonly queueLimit: number;
  private readonly maxRateLimitRetries: number;
  private readonly keepAlive: boolean;
  private readonly pace: boolean;
  private readonly livenessTimeoutMs: number | undefined;
  private readonly autoRenew: boolean;
  private readonly nextId: () => string;
  private readonly actor: Actor<typeof connectionMachine>;

  private currentIdentity: string;
  private socket: SocketLike | null = null;
  private connectRequestId: string | null = null;
  private info: ConnectedPayload | null = null;
  private sessionToken: string | null = null;
  private authToken: string | (() => string | Promise<string>) | undefined;
  private lastState: ConnectionState = 'idle';
  private lastReceived = 0;
  /** A notice or refusal that rules out reconnecting, seen before the socket closed. */
  private pendingTerminal: { reason: TerminalReason; error: HubError } | null = null;
  private connectError: HubError | null = null;
  private connectWaiters: { resolve: (info: ConnectedPayload) => void; reject: (err: HubError) => void }[] = [];
  private closeWaiters: (() => void)[] = [];

  private seq = 0;
  /** Waiting to be written, ordered: restores first, then by call order. */
  private outbox: Outgoing[] = [];
  /** Written and waiting for a reply (asks), or remembered for a while (tells), by frame id. */
  private inflight = new Map<string, Outgoing>();
  /** Nothing is written before this time: the hub said retryAfter. */
  private gateUntil = 0;
  /** One timer for every kind of wait before the next write (retryAfter, pacing). */
  private flushTimer: Timer | null = null;
  private flushAt = 0;
  /** Mirror of the hub's token bucket for this session, from the advertised rate limit. */
  private bucket: { tokens: number; capacity: number; perMs: number; at: number } | null = null;
  /**
   * After a refusal, writes are spaced at least this far apart (the largest
   * retryAfter seen) until the backlog is gone, so that the refused requests
   * do not all come back at once and get refused again.
   */
  private spacingMs = 0;
  private lastWriteAt = 0;
  /** The hub sent hub:pause (backpressure) and no hub:resume yet. */
  private hubPaused = false;
  /** The application paused deliveries to itself; restored after a reconnect. */
  private selfPaused = false;
  /** Set while restore() queues its requests, so that none of them is written before all are queued. */
  private holdWrites = false;

  private readonly registrations = new Map<string, RegistrationRecord>();
  private readonly subscriptions = new Map<string, SubscriptionRecord>();

  constructor(options: HubClientOptions) {
    const parsed = new URL(options.url);
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
      throw new TypeError(`url must be a ws: or wss: URL, got ${options.url}`);
    }
    const WebSocketImpl = options.WebSocket ?? globalWebSocket();
    if (!WebSocketImpl) {
      throw new TypeError('No WebSocket implementation: pass options.WebSocket (in Node: the `ws` package).');
    }
    this.url = options.url;
    this.WebSocketImpl = WebSocketImpl;
    this.nextId = options.generateId ?? randomId;
    this.currentIdentity = options.identity ?? `@(client/${this.nextId()})`;
    this.authToken = options.token;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.queueLimit = options.queueLimit ?? 1000;
    this.maxRateLimitRetries = options.maxRateLimitRetries ?? 10;
    this.keepAlive = options.keepAlive ?? true;
    this.pace = options.pace ?? true;
    this.livenessTimeoutMs = options.livenessTimeoutMs;
    this.autoRenew = options.autoRenew ?? true;
    this.on = this.events.on.bind(this.events);

    const capabilities = options.capabilities;
    const protocolVersion = options.protocolVersion ?? PROTOCOL_VERSION;
    const machine = connectionMachine.provide({
      actions: {
        openSocket: () => this.openSocket(protocolVersion, capabilities),
        dropSocket: () => this.dropSocket(),
        closeSocket: () => this.closeSocketDeliberately(),
        sendPing: () => this.ping(),
      },
    });
    const reconnect = options.reconnect ?? true;
    this.actor = createActor(machine, {
      input: {
        reconnect: reconnect !== false,
        ...(typeof reconnect === 'object' ? { backoff: reconnect } : {}),
        ...(options.random ? { random: options.random } : {}),
        ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
      },
    });
    this.actor.subscribe((snapshot) => this.onStateChange(snapshot.value as ConnectionState));
    this.actor.start();
  }

  // ---- Connection ----

  get state(): ConnectionState {
    return this.actor.getSnapshot().value as ConnectionState;
  }

  /** The session identity: the configured one, or the one the hub assigned from the token. */
  get identity(): string {
    return this.currentIdentity;
  }

  /** Why the client is closed, or null while it is not. */
  get closedReason(): ClosedReason | null {
    return this.actor.getSnapshot().context.closedReason;
  }

  /** The latest hub:connected payload. */
  get connection(): ConnectedPayload | null {
    return this.info;
  }

  /** Failed reconnect attempts since the last successful connect. */
  get reconnectAttempt(): number {
    return this.actor.getSnapshot().context.attempt;
  }

  /** Requests waiting to be written. */
  get queued(): number {
    return this.outbox.length;
  }

  /**
   * Opens the connection and resolves once hub:connected arrived. While the
   * hub is unreachable the client keeps retrying (see the reconnect policy);
   * the promise rejects only when the client ends up closed.
   */
  connect(): Promise<ConnectedPayload> {
    if (this.state === 'connected' && this.info) return Promise.resolve(this.info);
    return new Promise<ConnectedPayload>((resolve, reject) => {
      this.connectWaiters.push({ resolve, reject });
      if (this.state === 'idle' || this.state === 'closed' || this.state === 'reconnecting') {
        this.connectError = null;
        this.actor.send({ type: 'CONNECT' });
      }
    });
  }

  /**
   * Ends the session on purpose: sends hub:disconnect, waits for the hub to
   * close the socket (at most 2 s), and never reconnects. Pending and queued
   * requests are rejected with `client_closed`.
   */
  disconnect(): Promise<void> {
    if (this.state === 'closed' || this.state === 'idle') {
      if (this.state === 'idle') this.actor.send({ type: 'DISCONNECT' });
      return Promise.resolve();
    }
    const closed = new Promise<void>((resolve) => this.closeWaiters.push(resolve));
    this.actor.send({ type: 'DISCONNECT' });
    return closed;
  }

  // ---- Registry ----

  /** Registers `address` for this session; it is registered again after every reconnect. */
  async register(address: string, options: RegisterOptions = {}): Promise<RegisteredPayload> {
    const { reply } = await this.registerOnce(address, options, false);
    return reply;
  }

  /** Unregisters `address`; it is no longer restored after a reconnect. */
  async unregister(address: string, options: RequestOptions = {}): Promise<Unregistered> {
    const record = this.registrations.get(address);
    if (record) this.forgetRegistration(record);
    if (this.state !== 'connected') return { actorAddress: address };
    return this.request('hub:unregister', { actorAddress: address }, options);
  }

  /** Extends the registration of `address` (renewed automatically unless autoRenew is off). */
  async renew(address: string, options: RequestOptions = {}): Promise<Renewed> {
    const record = this.registrations.get(address);
    if (!record) throw HubError.client('not_connected', `${address} is not registered by this client.`);
    const reply = await this.request('hub:renew', { renewalToken: record.registered.renewalToken }, {
      from: address,
      ...options,
    });
    if (this.registrations.get(address) === record) {
      record.registered = { ...record.registered, expiresAt: reply.expiresAt, renewalToken: reply.renewalToken };
    }
    return reply;
  }

  discover(
    pattern: string,
    options: RequestOptions & { capability?: string; limit?: number } = {},
  ): Promise<Discovered> {
    const { capability, limit, ...rest } = options;
    return this.request(
      'hub:discover',
      { pattern, ...(capability !== undefined ? { capability } : {}), ...(limit !== undefined ? { limit } : {}) },
      rest,
    );
  }

  listActors(options: RequestOptions & { offset?: number; limit?: number } = {}): Promise<ActorList> {
    const { offset, limit, ...rest } = options;
    return this.request(
      'hub:list_actors',
      { ...(offset !== undefined ? { offset } : {}), ...(limit !== undefined ? { limit } : {}) },
      rest,
    );
  }

  // ---- Delivery ----

  /**
   * Sends a message without an acknowledgement (tell). Resolves once the
   * frame is written to the socket; a later refusal is emitted as `error`.
   */
  async send(to: string, type: string, data?: unknown, options: RequestOptions = {}): Promise<void> {
    await this.enqueue('hub:send', { to, type, data: data ?? null }, options, 'tell');
  }

  /**
   * Sends a message and resolves with its hub:delivery_ack once the hub has
   * handed it to the target (status "delivered", or "dropped" when a paused
   * target's buffer overflowed). Rejects with `unknown_actor` and other hub
   * errors, or `timeout`.
   */
  ask(to: string, type: string, data?: unknown, options: RequestOptions = {}): Promise<DeliveryAck> {
    return this.request('hub:send', { to, type, data: data ?? null }, options);
  }

  /** Same as {@link ask}. */
  sendWithAck(to: string, type: string, data?: unknown, options: RequestOptions = {}): Promise<DeliveryAck> {
    return this.ask(to, type, data, options);
  }

  broadcast(type: string, data?: unknown, options: BroadcastOptions = {}): Promise<BroadcastAck> {
    const { excludeSelf, targetCapability, metadata, ...rest } = options;
    return this.request(
      'hub:broadcast',
      { type, data: data ?? null, ...(excludeSelf !== undefined ? { excludeSelf } : {}) },
      {
        ...rest,
        metadata: { ...metadata, ...(targetCapability !== undefined ? { targetCapability } : {}) },
      },
    );
  }

  /**
   * Subscribes to `topic` (from `options.from`, default the identity).
   * `handler` receives the topic's publications; every publication is also
   * emitted as `message`. The subscription is renewed after every reconnect
   * until the returned handle's unsubscribe().
   */
  async subscribe(
    topic: string,
    handler?: (message: HubMessage) => void,
    options: RequestOptions = {},
  ): Promise<Subscription> {
    const reply = await this.request('hub:subscribe', { topic }, options);
    const from = options.from ?? this.currentIdentity;
    const key = subscriptionKey(from, topic);
    let record = this.subscriptions.get(key);
    if (!record) {
      record = { topic, from, subscriptionId: reply.subscriptionId, handles: new Set() };
      this.subscriptions.set(key, record);
    }
    record.subscriptionId = reply.subscriptionId;
    const handle: SubscriptionHandle = { handler };
    record.handles.add(handle);
    const current = record;
    let active = true;
    return {
      topic,
      from,
      get subscriptionId() {
        return current.subscriptionId;
      },
      unsubscribe: async () => {
        if (!active) return;
        active = false;
        current.handles.delete(handle);
        if (current.handles.size > 0 || this.subscriptions.get(key) !== current) return;
        this.subscriptions.delete(key);
        // A lost connection took the hub's subscription with it; nothing to tell the hub then.
        if (this.state !== 'connected') return;
        try {
          await this.request('hub:unsubscribe', { subscriptionId: current.subscriptionId }, { from });
        } catch (err) {
          // Same as above: if the connection ended meanwhile, the subscription ended with it.
          if (!(err instanceof HubError) || (err.code !== 'connection_lost' && err.code !== 'client_closed')) throw err;
        }
      },
    };
  }

  publish(topic: string, type: string, data?: unknown, options: RequestOptions = {}): Promise<Published> {
    return this.request('hub:publish', { topic, type, data: data ?? null }, options);
  }

  // ---- Flow control and session ----

  /** Asks the hub to hold deliveries to this client (kept across reconnects until resume()). */
  async pause(reason?: string, options: RequestOptions = {}): Promise<Paused> {
    const reply = await this.request('hub:pause', reason === undefined ? null : { reason }, options);
    this.selfPaused = true;
    return reply;
  }

  /** Ends a pause; the hub sends what it held. */
  async resume(reason?: string, options: RequestOptions = {}): Promise<Resumed> {
    const reply = await this.request('hub:resume', reason === undefined ? null : { reason }, options);
    this.selfPaused = false;
    return reply;
  }

  /**
   * Exchanges a token for a new one (valid one hour). Default: the current
   * session token. With auth on, the new JWT is also used for reconnects
   * (unless `options.token` is a function).
   */
  async refreshToken(token?: string, options: RequestOptions = {}): Promise<TokenRefreshed> {
    const current = token ?? this.sessionToken;
    if (!current) throw HubError.client('not_connected', 'No session token yet: connect first.');
    const reply = await this.request('hub:refresh_token', { token: current }, options);
    this.sessionToken = reply.token;
    if (typeof this.authToken === 'string') this.authToken = reply.token;
    return reply;
  }

  queueStats(options: RequestOptions = {}): Promise<QueueStats> {
    return this.request('hub:queue_stats', null, options);
  }

  metrics(options: RequestOptions = {}): Promise<Metrics> {
    return this.request('hub:metrics', null, options);
  }

  /**
   * Sends any request as an ask and resolves with its reply payload; the
   * typed methods above are built on it.
   */
  async request<K extends Exclude<RequestType, 'hub:connect' | 'hub:disconnect'>>(
    type: K,
    payload: Requests[K],
    options: RequestOptions = {},
  ): Promise<ReplyPayloads[Replies[K]]> {
    const { payload: reply } = await this.enqueue(type, payload, options, 'ask');
    return reply as ReplyPayloads[Replies[K]];
  }

  // ---- Requests: queue, write, correlate ----

  private enqueue(
    type: RequestType,
    payload: unknown,
    options: RequestOptions,
    pattern: 'ask' | 'tell',
    priority = false,
  ): Promise<{ payload: unknown; frame: Envelope }> {
    const state = this.state;
    if (state === 'idle') return Promise.reject(HubError.client('not_connected', 'Call connect() first.'));
    if (state === 'closed') return Promise.reject(this.closedError());
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
        writtenAt: 0,
        rateRetries: 0,
        timer: null,
        settled: false,
        resolve,
        reject,
      };
      if (pattern === 'ask') {
        const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
        entry.timer = setTimeout(() => {
          this.removeEntry(entry);
          this.fail(entry, HubError.client('timeout', `No reply to ${type} within ${timeoutMs} ms.`, entry.id));
        }, timeoutMs);
      }
      this.insert(entry);
      this.flush();
    });
  }

  /** Keeps the outbox ordered (restores first, then call order) and bounded. */
  private insert(entry: Outgoing): void {
    const rank = (e: Outgoing) => (e.priority ? 0 : 1);
    let at = this.outbox.length;
    while (
      at > 0 &&
      (rank(this.outbox[at - 1]!) > rank(entry) ||
        (rank(this.outbox[at - 1]!) === rank(entry) && this.outbox[at - 1]!.seq > entry.seq))
    ) {
      at--;
    }
    this.outbox.splice(at, 0, entry);
    let plain = this.outbox.filter((e) => !e.priority).length;
    while (plain > this.queueLimit) {
      const oldest = this.outbox.findIndex((e) => !e.priority);
      const [dropped] = this.outbox.splice(oldest, 1);
      plain--;
      this.fail(
        dropped!,
        HubError.client('queue_overflow', `The send queue is full (${this.queueLimit}); ${dropped!.type} was refused.`),
      );
    }
  }

  private removeEntry(entry: Outgoing): void {
    const at = this.outbox.indexOf(entry);
    if (at >= 0) this.outbox.splice(at, 1);
    if (entry.id !== null && this.inflight.get(entry.id) === entry) this.inflight.delete(entry.id);
  }

  /**
   * Writes whatever may go now: connected, past any retryAfter, within the
   * pace, and not a delivery while the hub asked this client to pause.
   */
  private flush(): void {
    if (this.holdWrites) return;
    if (this.state !== 'connected' || !this.socket || this.socket.readyState !== SOCKET_OPEN) return;
    const kept: Outgoing[] = [];
    let waitMs = 0;
    for (const entry of this.outbox) {
      if (waitMs > 0 || (this.hubPaused && DELIVERY_TYPES.has(entry.type))) {
        kept.push(entry);
        continue;
      }
      waitMs = this.writeWait(Date.now());
      if (waitMs > 0) kept.push(entry);
      else this.write(entry);
    }
    this.outbox = kept;
    if (waitMs > 0) this.flushLater(waitMs);
    else if (kept.length === 0) this.spacingMs = 0;
  }

  /** How long the next write has to wait; 0 when it may go now. */
  private writeWait(now: number): number {
    let wait = this.gateUntil - now;
    if (this.spacingMs > 0) wait = Math.max(wait, this.lastWriteAt + this.spacingMs - now);
    const bucket = this.bucket;
    if (bucket) {
      bucket.tokens = Math.min(bucket.capacity, bucket.tokens + Math.max(0, now - bucket.at) * bucket.perMs);
      bucket.at = now;
      // The epsilon absorbs float error, which would otherwise turn "exactly one token" into a 1 ms wait.
      if (bucket.tokens < 1 - 1e-9) wait = Math.max(wait, Math.ceil((1 - bucket.tokens) / bucket.perMs));
    }
    return Math.max(0, wait);
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
    const id = this.nextId();
    entry.id = id;
    entry.writtenAt = Date.now();
    const frame = buildRequest(entry.type, entry.payload as Requests[typeof entry.type], {
      id,
      from: entry.from ?? this.currentIdentity,
      pattern: entry.pattern,
      timestamp: entry.writtenAt,
      ...(entry.metadata !== undefined ? { metadata: entry.metadata } : {}),
      ...(entry.ttl !== undefined ? { ttl: entry.ttl } : {}),
    });
    this.socket!.send(JSON.stringify(frame));
    this.lastWriteAt = entry.writtenAt;
    if (this.bucket) this.bucket.tokens -= 1;
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
      this.events.emit('error', error);
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

  private forgetOldTells(now: number): void {
    for (const [id, entry] of this.inflight) {
      if (entry.pattern === 'tell' && now - entry.writtenAt > TELL_MEMORY_MS) this.inflight.delete(id);
    }
  }

  /** The hub refused for the rate limit: wait retryAfter, then send it again in its original place. */
  private retryAfterRateLimit(entry: Outgoing, frame: Envelope): void {
    const payload = frame.payload as { retryAfter?: unknown } | null;
    const retryAfter =
      typeof payload?.retryAfter === 'number' && Number.isFinite(payload.retryAfter) ? Math.max(1, payload.retryAfter) : 100;
    entry.rateRetries++;
    this.events.emit('rateLimited', {
      requestType: entry.type,
      requestId: entry.id ?? '',
      retryAfter,
      attempt: entry.rateRetries,
    });
    if (entry.rateRetries > this.maxRateLimitRetries) {
      this.fail(entry, HubError.fromReply(frame.type, frame.payload, entry.id));
      return;
    }
    const now = Date.now();
    this.insert(entry);
    this.gateUntil = Math.max(this.gateUntil, now + retryAfter);
    this.spacingMs = Math.max(this.spacingMs, retryAfter);
    if (this.bucket) {
      // The hub knows its bucket: it holds one token again after retryAfter, so ours is set to match.
      this.bucket.tokens = 1 - retryAfter * this.bucket.perMs;
      this.bucket.at = now;
    }
    this.stopFlushTimer();
    this.flushLater(this.gateUntil - now);
  }

  // ---- Socket ----

  private openSocket(protocolVersion: string, capabilities: string[] | undefined): void {
    this.pendingTerminal = null;
    let socket: SocketLike;
    try {
      socket = new this.WebSocketImpl(this.url);
    } catch (err) {
      // Refused synchronously (bad URL for this runtime, blocked port): treat it like a failed attempt.
      queueMicrotask(() =>
        this.actor.send({ type: 'SOCKET_CLOSED', code: 1006, reason: err instanceof Error ? err.message : String(err) }),
      );
      return;
    }
    this.socket = socket;
    this.lastReceived = Date.now();
    socket.onopen = () => {
      if (this.socket !== socket) return;
      void this.handshake(socket, protocolVersion, capabilities);
    };
    socket.onmessage = (event: { data: unknown }) => {
      if (this.socket !== socket) return;
      this.lastReceived = Date.now();
      const text = frameText(event.data);
      if (text !== null) this.onText(text);
    };
    socket.onclose = (event: { code?: number; reason?: string }) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.onSocketLost(event.code ?? 1006, event.reason ?? '');
    };
    // A close event always follows an error event; the close decides what happens.
    socket.onerror = () => undefined;
  }

  private async handshake(socket: SocketLike, protocolVersion: string, capabilities: string[] | undefined) {
    let token: string | undefined;
    try {
      token = typeof this.authToken === 'function' ? await this.authToken() : this.authToken;
    } catch (err) {
      this.events.emit(
        'error',
        new HubError({
          code: 'unauthorized',
          message: `The token provider failed: ${err instanceof Error ? err.message : String(err)}`,
          resolution: 'Fix the token option.',
          retryable: true,
        }),
      );
      token = undefined;
    }
    if (this.socket !== socket || socket.readyState !== SOCKET_OPEN) return;
    const id = this.nextId();
    this.connectRequestId = id;
    const metadata: Record<string, unknown> = { protocolVersion };
    if (capabilities) metadata.capabilities = capabilities;
    if (token !== undefined) metadata.authToken = token;
    socket.send(JSON.stringify(buildRequest('hub:connect', null, { id, from: this.currentIdentity, metadata })));
  }

  private onSocketLost(code: number, reason: string): void {
    const terminal = this.pendingTerminal;
    if (terminal) {
      if (!this.connectError) this.connectError = terminal.error;
      this.actor.send({ type: 'FATAL', reason: terminal.reason });
    } else {
      this.actor.send({ type: 'SOCKET_CLOSED', code, reason });
    }
    this.events.emit('disconnected', { code, reason, willReconnect: this.state === 'reconnecting' });
  }

  /** Forgets the current socket at once; its late events are ignored. */
  private dropSocket(): void {
    const socket = this.socket;
    this.socket = null;
    if (!socket) return;
    socket.onopen = () => undefined;
    socket.onmessage = () => undefined;
    socket.onclose = () => undefined;
    socket.onerror = () => undefined;
    try {
      socket.close(1000, 'client reconnecting');
    } catch {
      // Already closing or never opened; nothing more to do.
    }
  }

  private closeSocketDeliberately(): void {
    const socket = this.socket;
    this.socket = null;
    const done = () => {
      for (const waiter of this.closeWaiters.splice(0)) waiter();
    };
    if (!socket) {
      done();
      return;
    }
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(grace);
      socket.onclose = () => undefined;
      done();
    };
    socket.onopen = () => undefined;
    socket.onmessage = () => undefined;
    socket.onerror = () => undefined;
    socket.onclose = finish;
    const grace = setTimeout(() => {
      try {
        socket.close(1000, 'client_disconnect');
      } catch {
        // Ignored: the socket is being torn down anyway.
      }
      finish();
    }, DISCONNECT_GRACE_MS);
    if (socket.readyState === SOCKET_OPEN && this.connectRequestId !== null && this.info) {
      // The hub acknowledges and closes with 1000; the close event ends the wait.
      const bye = buildRequest('hub:disconnect', { reason: 'client_disconnect' }, {
        id: this.nextId(),
        from: this.currentIdentity,
        pattern: 'tell',
      });
      try {
        socket.send(JSON.stringify(bye));
        return;
      } catch {
        // Fall through to a plain close.
      }
    }
    try {
      socket.close(1000, 'client_disconnect');
    } catch {
      finish();
    }
  }

  private ping(): void {
    const now = Date.now();
    this.forgetOldTells(now);
    if (!this.keepAlive || !this.socket || this.socket.readyState !== SOCKET_OPEN) return;
    const interval = this.actor.getSnapshot().context.heartbeatInterval;
    const limit = this.livenessTimeoutMs ?? 3 * interval + 5_000;
    if (now - this.lastReceived > limit) {
      queueMicrotask(() => {
        this.actor.send({ type: 'LIVENESS_LOST' });
        this.events.emit('disconnected', {
          code: 1006,
          reason: 'liveness_lost',
          willReconnect: this.state === 'reconnecting',
        });
      });
      return;
    }
    this.socket.send(PING_FRAME);
  }

  // ---- Inbound frames ----

  private onText(text: string): void {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      this.events.emit('error', HubError.client('invalid_reply', `The hub sent a frame that is not JSON: ${text.slice(0, 200)}`));
      return;
    }
    if (raw && typeof raw === 'object' && (raw as { type?: unknown }).type === 'pong') return;
    const parsed = envelopeSchema.safeParse(raw);
    if (!parsed.success) {
      this.events.emit('error', HubError.client('invalid_reply', `The hub sent a frame that is not an envelope: ${text.slice(0, 200)}`));
      return;
    }
    const frame = parsed.data;
    if (frame.correlationId !== null && frame.correlationId === this.connectRequestId && !this.info) {
      this.onConnectReply(frame);
      return;
    }
    if (frame.correlationId !== null) {
      const entry = this.inflight.get(frame.correlationId);
      if (entry) {
        this.onReply(entry, frame);
        return;
      }
    }
    if (frame.type.startsWith('hub:')) this.onNotice(frame);
    else this.onMessage(frame);
  }

  private onConnectReply(frame: Envelope): void {
    if (frame.type === 'hub:connected') {
      const info = frame.payload as ConnectedPayload;
      const identity = frame.metadata.actorIdentity;
      if (typeof identity === 'string') this.currentIdentity = identity;
      this.info = info;
      this.sessionToken = info.token;
      const rate = info.rateLimit;
      // The hub's bucket starts full when the socket opens and hub:connect costs nothing, so ours starts full too.
      this.bucket =
        this.pace && rate && rate.perSecond > 0 && rate.burst > 0
          ? { tokens: rate.burst, capacity: rate.burst, perMs: (rate.perSecond * PACE_MARGIN) / 1000, at: Date.now() }
          : null;
      this.actor.send({ type: 'CONNECTED', heartbeatInterval: info.heartbeatInterval });
      return;
    }
    const error = HubError.fromReply(frame.type, frame.payload, frame.correlationId);
    this.connectError = error;
    if (frame.type === 'hub:version_mismatch') {
      this.pendingTerminal = { reason: 'version_mismatch', error };
    } else if (frame.type === 'hub:unauthorized') {
      this.pendingTerminal = { reason: 'unauthorized', error };
    } else {
      // The hub keeps the socket open after other refusals (for example invalid metadata); retrying the same
      // hub:connect would be refused again, so the client stops here.
      this.actor.send({ type: 'FATAL', reason: 'connect_refused' });
    }
  }

  private onReply(entry: Outgoing, frame: Envelope): void {
    this.inflight.delete(frame.correlationId!);
    if (frame.type === 'hub:rate_limited') {
      this.retryAfterRateLimit(entry, frame);
      return;
    }
    if (ERROR_REPLY_TYPES.has(frame.type)) {
      this.fail(entry, HubError.fromReply(frame.type, frame.payload, frame.correlationId));
      return;
    }
    if (entry.pattern === 'tell') {
      // Tells that succeed get no reply; anything else correlated with one is not for us to resolve.
      return;
    }
    const expected = REPLY_TYPES[entry.type];
    if (frame.type !== expected) {
      this.fail(
        entry,
        HubError.client('invalid_reply', `Expected ${expected} for ${entry.type}, got ${frame.type}.`, frame.correlationId),
      );
      return;
    }
    this.succeed(entry, frame.payload, frame);
  }

  private onNotice(frame: Envelope): void {
    const payload = (frame.payload ?? {}) as Record<string, unknown>;
    switch (frame.type) {
      case 'hub:pause':
        this.hubPaused = true;
        this.events.emit('flow', {
          paused: true,
          reason: typeof payload.reason === 'string' ? payload.reason : null,
          queueDepth: typeof payload.queueDepth === 'number' ? payload.queueDepth : null,
        });
        return;
      case 'hub:resume':
        this.hubPaused = false;
        this.events.emit('flow', {
          paused: false,
          reason: typeof payload.reason === 'string' ? payload.reason : null,
          queueDepth: typeof payload.queueDepth === 'number' ? payload.queueDepth : null,
        });
        this.flush();
        return;
      case 'hub:disconnect': {
        const reason = typeof payload.reason === 'string' ? payload.reason : '';
        if (reason === 'duplicate_connection' || reason === 'token_expired') {
          this.pendingTerminal = {
            reason,
            error: new HubError({
              code: reason,
              message: typeof payload.message === 'string' ? payload.message : `The hub closed the session: ${reason}.`,
              resolution:
                reason === 'duplicate_connection'
                  ? 'Another connection took over this address; only one connection may hold it.'
                  : 'Connect again with a fresh token, or refresh the token before it expires.',
              retryable: false,
              replyType: frame.type,
            }),
          };
        }
        return;
      }
      default:
        if (ERROR_REPLY_TYPES.has(frame.type)) {
          this.events.emit('error', HubError.fromReply(frame.type, frame.payload, frame.correlationId));
        }
    }
  }

  private onMessage(message: HubMessage): void {
    const topic = message.metadata.topic;
    if (message.metadata.publication === true && typeof topic === 'string') {
      const record = this.subscriptions.get(subscriptionKey(message.to, topic));
      if (record) {
        for (const handle of [...record.handles]) {
          try {
            handle.handler?.(message);
          } catch (err) {
            queueMicrotask(() => {
              throw err;
            });
          }
        }
      }
    }
    this.events.emit('message', message);
  }

  // ---- State changes ----

  private onStateChange(state: ConnectionState): void {
    const previous = this.lastState;
    if (state === previous) return;
    this.lastState = state;
    if ((previous === 'connected' || previous === 'connecting') && state !== 'connected') {
      this.endSession(state === 'closed' && this.closedReason === 'client' ? 'client_closed' : 'connection_lost');
    }

    if (state === 'connected') {
      const info = this.info!;
      const reconnect = this.actor.getSnapshot().context.connects > 1;
      if (reconnect) this.restore();
      this.flush();
      for (const waiter of this.connectWaiters.splice(0)) waiter.resolve(info);
      this.events.emit('connected', { info, identity: this.currentIdentity, reconnect });
    }
    if (state === 'closed') {
      const error = this.closedError();
      for (const entry of this.outbox.splice(0)) this.fail(entry, error);
      for (const waiter of this.connectWaiters.splice(0)) waiter.reject(this.connectError ?? error);
      this.stopFlushTimer();
    }
    this.events.emit('state', { state, previous, closedReason: state === 'closed' ? this.closedReason : null });
  }

  /** The session is gone: in-flight requests are lost with it, and so is everything the hub kept for it. */
  private endSession(code: 'connection_lost' | 'client_closed'): void {
    for (const [id, entry] of this.inflight) {
      this.inflight.delete(id);
      if (entry.pattern === 'ask') {
        this.fail(entry, HubError.client(code, `The connection ended before ${entry.type} was answered.`, id));
      }
    }
    for (const record of this.registrations.values()) {
      if (record.renewTimer) clearTimeout(record.renewTimer);
      record.renewTimer = null;
    }
    this.info = null;
    this.connectRequestId = null;
    this.hubPaused = false;
    this.gateUntil = 0;
    this.spacingMs = 0;
    this.bucket = null;
    this.stopFlushTimer();
  }

  private closedError(): HubError {
    const reason = this.closedReason ?? 'client';
    return new HubError({
      code: 'client_closed',
      message: `The client is closed (${reason}).`,
      resolution: reason === 'client' ? 'Call connect() again to reuse the client.' : 'See details.closedReason.',
      retryable: false,
      details: { closedReason: reason },
    });
  }

  /** After a reconnect: the new session holds nothing yet, so register, subscribe and pause again. */
  private restore(): void {
    const registrations = [...this.registrations.values()];
    const subscriptions = [...this.subscriptions.values()];
    const work: Promise<unknown>[] = [];
    this.holdWrites = true;
    for (const record of registrations) {
      work.push(this.registerOnce(record.address, record.options, true));
    }
    for (const record of subscriptions) {
      work.push(
        this.enqueue('hub:subscribe', { topic: record.topic }, { from: record.from }, 'ask', true).then(({ payload }) => {
          record.subscriptionId = (payload as Subscribed).subscriptionId;
        }),
      );
    }
    if (this.selfPaused) work.push(this.enqueue('hub:pause', { reason: 'restored' }, {}, 'ask', true));
    this.holdWrites = false;
    void Promise.allSettled(work).then((results) => {
      const failed = results.filter((r) => r.status === 'rejected');
      for (const r of failed) this.events.emit('error', (r as PromiseRejectedResult).reason as HubError);
      this.events.emit('restored', {
        registrations: registrations.length,
        subscriptions: subscriptions.length,
        failed: failed.length,
      });
    });
  }

  private async registerOnce(
    address: string,
    options: RegisterOptions,
    priority: boolean,
  ): Promise<{ reply: RegisteredPayload }> {
    const { capabilities, actorMetadata, ttlSeconds, renewOnHeartbeat, metadata, ...rest } = options;
    const { payload, frame } = await this.enqueue(
      'hub:register',
      {
        actorAddress: address,
        capabilities: capabilities ?? [],
        ...(actorMetadata !== undefined ? { metadata: actorMetadata } : {}),
        ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
      },
      { ...rest, metadata: { ...metadata, ...(renewOnHeartbeat ? { renewOnHeartbeat: true } : {}) } },
      'ask',
      priority,
    );
    const reply = payload as RegisteredPayload;
    const previous = this.registrations.get(address);
    if (previous?.renewTimer) clearTimeout(previous.renewTimer);
    const record: RegistrationRecord = { address, options, registered: reply, renewTimer: null };
    this.registrations.set(address, record);
    this.scheduleRenew(record, reply.expiresAt - frame.timestamp);
    return { reply };
  }

  private forgetRegistration(record: RegistrationRecord): void {
    if (record.renewTimer) clearTimeout(record.renewTimer);
    record.renewTimer = null;
    this.registrations.delete(record.address);
  }

  /** Renews at two thirds of the registration's lifetime, measured on the hub's clock. */
  private scheduleRenew(record: RegistrationRecord, lifetimeMs: number): void {
    if (!this.autoRenew || !Number.isFinite(lifetimeMs)) return;
    const delay = Math.min(2_147_483_647, Math.max(250, Math.floor((lifetimeMs * 2) / 3)));
    record.renewTimer = setTimeout(() => {
      record.renewTimer = null;
      if (this.registrations.get(record.address) !== record || this.state !== 'connected') return;
      this.request('hub:renew', { renewalToken: record.registered.renewalToken }, { from: record.address }).then(
        (reply) => {
          if (this.registrations.get(record.address) !== record) return;
          record.registered = { ...record.registered, expiresAt: reply.expiresAt, renewalToken: reply.renewalToken };
          this.scheduleRenew(record, reply.expiresAt - Date.now());
        },
        (error: HubError) => {
          if (this.registrations.get(record.address) !== record) return;
          if (error.code === 'unauthorized') {
            // The registration is gone on the hub (expired, or the token rotated elsewhere): take it again.
            this.registerOnce(record.address, record.options, true).catch((err: HubError) =>
              this.events.emit('error', err),
            );
          } else if (error.code !== 'connection_lost' && error.code !== 'client_closed') {
            this.events.emit('error', error);
          }
        },
      );
    }, delay);
  }
}
