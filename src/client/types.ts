import type { Envelope } from '../protocol/envelope';
import type { ConnectedPayload } from '../protocol/replies';
import type { ConnectionCause } from './causes';
import type { BackoffPolicy, ClosedReason, ConnectionState } from './connection-machine';
import type { HubError } from './errors';
import type { WebSocketConstructor } from './socket';

/**
 * Reply payloads the client resolves with. They are inferred from the hub's
 * own reply schemas in src/protocol/replies.ts, which the hub's reply calls
 * are typed against and its tests parse every frame with.
 */
export type {
  ActorList,
  BroadcastAck,
  ConnectedPayload,
  DeliveryAck,
  Discovered,
  DiscoveredActor,
  ListedActor,
  Metrics,
  Paused,
  Published,
  QueueStats,
  RegisteredPayload,
  Renewed,
  Replies,
  ReplyPayloads,
  Resumed,
  Subscribed,
  TokenRefreshed,
  Unregistered,
  Unsubscribed,
} from '../protocol/replies';
export { REPLY_TYPES } from '../protocol/replies';

/**
 * A message another actor sent through the hub (a forwarded `hub:send`,
 * broadcast or publication): `type` is the application type, `payload` its
 * data, and `metadata` says how it came (`broadcast`, `topic`/`publication`).
 */
export type HubMessage = Envelope;

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

export interface ConnectOptions {
  /**
   * Give up connecting after this long: the promise rejects with the last
   * attempt's error (or `connect_timeout`) and the client stops trying, as
   * after disconnect(). Default: no limit; the promise then settles when
   * the client connects or closes (a refusal retrying cannot fix, or
   * `reconnect.maxAttempts` failed attempts).
   */
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
  /**
   * The socket was lost or closed, or a connect attempt failed: `cause` says
   * why (connection refused, DNS, the HTTP answer to a refused upgrade, the
   * close code, a timeout), as far as the platform tells.
   */
  disconnected: { code: number; reason: string; willReconnect: boolean; cause: ConnectionCause };
  /**
   * The session is back after a reconnect. `resumed: true`: the hub kept it
   * (same sessionId; registrations and subscriptions were never lost, and
   * what was sent meanwhile arrives first). `resumed: false`: a new session,
   * on which the client registered and subscribed again (`failed` of those
   * did not succeed). `lostTopics`: topics whose publications during the gap
   * may be missing (always empty when resumed).
   */
  restored: { resumed: boolean; registrations: number; subscriptions: number; failed: number; lostTopics: string[] };
  /** A message another actor sent (send, broadcast or publication). */
  message: HubMessage;
  /**
   * Errors nobody awaits: refused tells, failed restores, unreadable frames, uncorrelated hub errors, and
   * failed connect attempts (with `error.cause`; one event per new cause, not one per retry).
   */
  error: HubError;
  /** The hub asked this client to slow down (paused: true) or let it go on. */
  flow: { paused: boolean; reason: string | null; queueDepth: number | null };
  /** A request was refused with hub:rate_limited and will be sent again after retryAfter. */
  rateLimited: { requestType: string; requestId: string; retryAfter: number; attempt: number };
}
