import { PROTOCOL_VERSION, type Envelope } from '../protocol/envelope';
import type { Requests, RequestType } from '../protocol/messages';
import {
  ERROR_REPLY_TYPES,
  type ActorList,
  type BroadcastAck,
  type ConnectedPayload,
  type DeliveryAck,
  type Discovered,
  type Metrics,
  type Paused,
  type Published,
  type QueueStats,
  type RegisteredPayload,
  type Renewed,
  type Replies,
  type ReplyPayloads,
  type Resumed,
  type TokenRefreshed,
  type Unregistered,
} from '../protocol/replies';
import type { ClosedReason, ConnectionState } from './connection-machine';
import { closedError, ConnectWaiters } from './connect-waiters';
import { onNotice } from './notices';
import { Emitter } from './emitter';
import { HubError } from './errors';
import { randomId } from './ids';
import { Outbox } from './outbox';
import { Pacer } from './pacing';
import { SessionState } from './session-state';
import { RecentIds } from './recent-ids';
import { globalWebSocket } from './socket';
import { Transport } from './transport';
import type {
  BroadcastOptions,
  ConnectOptions,
  HubClientEvents,
  HubClientOptions,
  HubMessage,
  RegisterOptions,
  RequestOptions,
  Subscription,
} from './types';

export type { HubClientOptions } from './types';

/**
 * A Signal Hub client for browsers and Node. See README "Client" for the
 * reconnect policy. Every request method returns a promise that resolves
 * with the hub's reply payload or rejects with a {@link HubError}.
 *
 * This class is the API façade; the work is done by its parts, after
 * socket.io-client's manager/socket split: `Transport` (the socket, the
 * handshake, keep-alive and the reconnect machine), `Outbox` with `Pacer`
 * (queueing, pacing, correlation, rate-limit retries) and `SessionState`
 * (registrations, subscriptions and pause, restored after a reconnect).
 */
export class HubClient {
  readonly events = new Emitter<HubClientEvents>();
  /** Shorthand for `events.on`. */
  readonly on: Emitter<HubClientEvents>['on'];

  private readonly transport: Transport;
  private readonly outbox: Outbox;
  private readonly session: SessionState;
  /** Messages received lately, so a copy resent after a resume is dropped. */
  private readonly recent = new RecentIds();
  private sessionToken: string | null = null;
  private lastState: ConnectionState = 'idle';
  private readonly connectWaiters: ConnectWaiters;

  constructor(options: HubClientOptions) {
    const parsed = new URL(options.url);
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
      throw new TypeError(`url must be a ws: or wss: URL, got ${options.url}`);
    }
    const WebSocketImpl = options.WebSocket ?? globalWebSocket();
    if (!WebSocketImpl) {
      throw new TypeError('No WebSocket implementation: pass options.WebSocket (in Node: the `ws` package).');
    }
    const nextId = options.generateId ?? randomId;
    this.on = this.events.on.bind(this.events);
    const pacer = new Pacer(options.pace ?? true);
    this.outbox = new Outbox({
      events: this.events,
      pacer,
      canWrite: () => this.transport.writable,
      send: (text) => this.transport.send(text),
      nextId,
      identity: () => this.transport.identity,
      refusal: () => {
        if (this.state === 'idle') return HubError.client('not_connected', 'Call connect() first.');
        return this.state === 'closed' ? this.closedError() : null;
      },
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      queueLimit: options.queueLimit ?? 1000,
      maxRateLimitRetries: options.maxRateLimitRetries ?? 10,
    });
    this.session = new SessionState(this.outbox, this.events, () => this.state === 'connected', options.autoRenew ?? true);
    this.transport = new Transport(
      {
        url: options.url,
        WebSocket: WebSocketImpl,
        nextId,
        identity: options.identity ?? `@(client/${nextId()})`,
        token: options.token,
        capabilities: options.capabilities,
        protocolVersion: options.protocolVersion ?? PROTOCOL_VERSION,
        keepAlive: options.keepAlive ?? true,
        livenessTimeoutMs: options.livenessTimeoutMs,
        reconnect: options.reconnect ?? true,
        random: options.random,
        connectTimeoutMs: options.connectTimeoutMs,
      },
      this.events,
      {
        state: (state) => this.onStateChange(state),
        connected: (info, at) => {
          this.sessionToken = info.token;
          pacer.start(info.rateLimit, at);
        },
        frame: (frame) => this.onFrame(frame),
        tick: (now) => this.outbox.forgetOldTells(now),
      },
    );
    this.connectWaiters = new ConnectWaiters(
      options.url,
      () => this.transport.lastFailure,
      () => void this.disconnect(),
    );
    this.transport.start();
  }

  // ---- Connection ----

  get state(): ConnectionState {
    return this.transport.state;
  }

  /** The session identity: the configured one, or the one the hub assigned from the token. */
  get identity(): string {
    return this.transport.identity;
  }

  /** Why the client is closed, or null while it is not. */
  get closedReason(): ClosedReason | null {
    return this.transport.closedReason;
  }

  /** The latest hub:connected payload. */
  get connection(): ConnectedPayload | null {
    return this.transport.info;
  }

  /** Failed reconnect attempts since the last successful connect. */
  get reconnectAttempt(): number {
    return this.transport.attempt;
  }

  /** Requests waiting to be written. */
  get queued(): number {
    return this.outbox.size;
  }

  /**
   * Opens the connection and resolves once hub:connected arrived. While the
   * hub is unreachable the client keeps retrying (see the reconnect policy).
   * The promise rejects with a HubError naming the cause (`error.cause`)
   * when the client closes: a refusal retrying cannot fix (wrong path,
   * invalid hub configuration, refused token), `reconnect.maxAttempts`
   * failed attempts, or `timeoutMs` elapsed.
   */
  connect(options: ConnectOptions = {}): Promise<ConnectedPayload> {
    const info = this.transport.info;
    if (this.state === 'connected' && info) return Promise.resolve(info);
    return new Promise<ConnectedPayload>((resolve, reject) => {
      this.connectWaiters.add(resolve, reject, options.timeoutMs);
      if (this.state === 'idle' || this.state === 'closed' || this.state === 'reconnecting') this.transport.connect();
    });
  }

  /**
   * Ends the session on purpose: sends hub:disconnect, waits for the hub to
   * close the socket (at most 2 s), and never reconnects. Pending and queued
   * requests are rejected with `client_closed`.
   */
  disconnect(): Promise<void> {
    if (this.state === 'closed' || this.state === 'idle') {
      if (this.state === 'idle') this.transport.abandon();
      return Promise.resolve();
    }
    return this.transport.disconnect();
  }

  // ---- Registry ----

  /** Registers `address` for this session; it is registered again after every reconnect. */
  register(address: string, options: RegisterOptions = {}): Promise<RegisteredPayload> {
    return this.session.register(address, options, false);
  }

  /** Unregisters `address`; it is no longer restored after a reconnect. */
  async unregister(address: string, options: RequestOptions = {}): Promise<Unregistered> {
    this.session.forget(address);
    if (this.state !== 'connected') return { actorAddress: address };
    return this.request('hub:unregister', { actorAddress: address }, options);
  }

  /** Extends the registration of `address` (renewed automatically unless autoRenew is off). */
  renew(address: string, options: RequestOptions = {}): Promise<Renewed> {
    return this.session.renew(address, (renewalToken) =>
      this.request('hub:renew', { renewalToken }, { from: address, ...options }),
    );
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
    await this.outbox.enqueue('hub:send', { to, type, data: data ?? null }, options, 'tell');
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
    return this.session.subscribed(options.from ?? this.identity, topic, reply, handler);
  }

  publish(topic: string, type: string, data?: unknown, options: RequestOptions = {}): Promise<Published> {
    return this.request('hub:publish', { topic, type, data: data ?? null }, options);
  }

  // ---- Flow control and session ----

  /** Asks the hub to hold deliveries to this client (kept across reconnects until resume()). */
  async pause(reason?: string, options: RequestOptions = {}): Promise<Paused> {
    const reply = await this.request('hub:pause', reason === undefined ? null : { reason }, options);
    this.session.setSelfPaused(true);
    return reply;
  }

  /** Ends a pause; the hub sends what it held. */
  async resume(reason?: string, options: RequestOptions = {}): Promise<Resumed> {
    const reply = await this.request('hub:resume', reason === undefined ? null : { reason }, options);
    this.session.setSelfPaused(false);
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
    if (typeof this.transport.token === 'string') this.transport.token = reply.token;
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
    const { payload: reply } = await this.outbox.enqueue(type, payload, options, 'ask');
    return reply as ReplyPayloads[Replies[K]];
  }

  // ---- Inbound frames ----

  private onFrame(frame: Envelope): void {
    if (this.outbox.settle(frame)) return;
    if (frame.type.startsWith('hub:')) {
      onNotice(frame, this.events, this.outbox, this.transport);
    } else if (this.recent.repeat(frame.id, frame.to)) {
      // A copy the hub resent after a resume, of a message this client had already received.
      return;
    } else {
      this.session.dispatch(frame);
      this.events.emit('message', frame);
    }
  }

  // ---- State changes ----

  private onStateChange(state: ConnectionState): void {
    const previous = this.lastState;
    if (state === previous) return;
    this.lastState = state;
    if ((previous === 'connected' || previous === 'connecting') && state !== 'connected') {
      // The session is gone: in-flight requests are lost with it, and so is everything the hub kept for it.
      this.outbox.endSession(state === 'closed' && this.closedReason === 'client' ? 'client_closed' : 'connection_lost');
      // Held for a resend only while a next session may come; closed for good, they are lost now.
      if (state !== 'reconnecting') this.outbox.failHeld();
      this.session.stopRenewals();
      this.transport.sessionEnded();
    }

    if (state === 'connected') {
      const info = this.transport.info!;
      const reconnect = this.transport.connects > 1;
      // A resumed session kept everything on the hub; only a new one is rebuilt.
      if (reconnect && info.resumed === true) this.session.resumed(Date.now());
      else if (reconnect) this.session.restore();
      // Requests in flight at the drop: resent with their ids where the hub will recognise them, else lost with the session.
      if (reconnect) {
        const resend = resendLimit(info);
        if (resend > 0) this.outbox.resendHeld(resend);
        else this.outbox.failHeld();
      }
      this.outbox.flush();
      this.connectWaiters.resolveAll(info);
      this.events.emit('connected', { info, identity: this.identity, reconnect });
    }
    if (state === 'closed') {
      const error = this.closedError();
      this.outbox.refuseAll(error);
      this.connectWaiters.rejectAll(this.transport.connectError ?? this.transport.lastFailure ?? error);
    }
    this.events.emit('state', { state, previous, closedReason: state === 'closed' ? this.closedReason : null });
  }

  private closedError(): HubError {
    return closedError(this.closedReason ?? 'client');
  }
}

/**
 * How many requests held at a drop the new session may be sent again
 * (docs/PROTOCOL.md "Idempotent requests"): the hub recognises a resend when
 * it resumed the old session (same sessionId) or dedups by identity; 0 when
 * it would take a resend as a new request.
 */
const resendLimit = (info: ConnectedPayload): number => {
  const idempotency = info.capabilities.idempotency;
  if (!idempotency || idempotency.windowMs === 0) return 0;
  return info.resumed === true || idempotency.scope === 'identity' ? idempotency.limit : 0;
};
