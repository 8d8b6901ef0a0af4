import { assign, setup } from 'xstate';

/**
 * The client's view of its connection, as an XState machine.
 *
 *   idle ──CONNECT──▶ connecting ──CONNECTED──▶ connected
 *                        ▲  │                      │
 *            after backoff  │ socket lost          │ socket lost / liveness lost
 *                        │  ▼                      ▼
 *                     reconnecting ◀───────────────┘
 *
 * Any state goes to `closed` on DISCONNECT (deliberate), on a terminal close
 * (duplicate_connection 4409, version_mismatch 4400, unauthorized or
 * token_expired 4401, or the matching hub notice), on a refused upgrade that
 * retrying cannot fix (FATAL upgrade_refused), or when retries run out.
 * `closed` accepts CONNECT again, which starts over with a fresh backoff.
 *
 * Unlike the hub's session machine, this one owns real timers (connect
 * timeout, backoff, ping interval) through xstate's delayed transitions: the
 * client is an ordinary long-lived process, and the actor's clock can be
 * swapped for a simulated one in tests. The socket work itself is done by the
 * named actions `openSocket`, `dropSocket`, `closeSocket` and `sendPing`,
 * which the client supplies with `machine.provide()`.
 */

export interface BackoffPolicy {
  /** Delay before the first reconnect attempt, before jitter. */
  initialDelayMs: number;
  /** Cap of the delay before jitter. */
  maxDelayMs: number;
  /** Growth factor per failed attempt. */
  multiplier: number;
  /** Relative spread: each delay is scaled by a factor drawn from [1 - jitter, 1 + jitter). */
  jitter: number;
  /** Consecutive reconnect attempts before giving up; Infinity keeps trying. */
  maxAttempts: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialDelayMs: 100,
  maxDelayMs: 30_000,
  multiplier: 2,
  jitter: 0.25,
  maxAttempts: Number.POSITIVE_INFINITY,
};

/**
 * The wait before reconnect attempt `attempt` (1-based): the base doubles from
 * `initialDelayMs` up to `maxDelayMs`, then jitter spreads clients that lost
 * the hub at the same moment so that they do not all come back at once.
 * `random` returns values in [0, 1), like Math.random.
 */
export const backoffDelay = (attempt: number, policy: BackoffPolicy, random: () => number): number => {
  const exponent = Math.max(0, attempt - 1);
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** exponent);
  const factor = 1 + policy.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(base * factor));
};

/** Why a client ended up in `closed`. */
export type ClosedReason =
  /** disconnect() was called. */
  | 'client'
  /** Another connection took over one of our addresses (or our identity, with auth on). */
  | 'duplicate_connection'
  /** The hub refused our token at connect. */
  | 'unauthorized'
  /** The hub closed the session because its token expired. */
  | 'token_expired'
  /** The hub speaks another major protocol version. */
  | 'version_mismatch'
  /** The hub refused hub:connect for another reason (for example invalid metadata). */
  | 'connect_refused'
  /** The server refused the WebSocket upgrade in a way retrying cannot fix (HTTP 4xx but 429, invalid_configuration). */
  | 'upgrade_refused'
  /** The connection was lost and reconnecting is turned off. */
  | 'connection_lost'
  /** `maxAttempts` reconnect attempts failed in a row. */
  | 'retries_exhausted';

export type TerminalReason = Exclude<ClosedReason, 'client' | 'connection_lost' | 'retries_exhausted'>;

/** Close codes after which reconnecting cannot help (see the hub's close-code table). */
export const terminalReasonOfClose = (code: number, reason: string): TerminalReason | null => {
  switch (code) {
    case 4400:
      return 'version_mismatch';
    case 4401:
      return reason === 'token_expired' ? 'token_expired' : 'unauthorized';
    case 4409:
      return 'duplicate_connection';
    default:
      return null;
  }
};

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface ConnectionInput {
  backoff?: Partial<BackoffPolicy>;
  /** false: a lost connection ends in `closed` instead of `reconnecting`. */
  reconnect?: boolean;
  random?: () => number;
  /** Time allowed from opening the socket to hub:connected. */
  connectTimeoutMs?: number;
  /** Ping period until the hub advertises its heartbeat interval. */
  heartbeatIntervalMs?: number;
}

export interface ConnectionContext {
  policy: BackoffPolicy;
  reconnect: boolean;
  random: () => number;
  connectTimeoutMs: number;
  /** Failed reconnect attempts since the last successful connect. */
  attempt: number;
  /** The backoff chosen for the current `reconnecting` stay. */
  delay: number | null;
  heartbeatInterval: number;
  /** Successful connects so far; >1 means the current connection is a reconnect. */
  connects: number;
  lastClose: { code: number; reason: string } | null;
  closedReason: ClosedReason | null;
}

export type ConnectionEvent =
  | { type: 'CONNECT' }
  | { type: 'CONNECTED'; heartbeatInterval: number }
  | { type: 'SOCKET_CLOSED'; code: number; reason: string }
  /** A hub notice or refusal that rules out reconnecting arrived before the close. */
  | { type: 'FATAL'; reason: TerminalReason }
  /** Nothing came back from the hub for too long; the socket is presumed dead. */
  | { type: 'LIVENESS_LOST' }
  | { type: 'DISCONNECT' };

/** Setting a timer longer than this makes Node and browsers fire it at once. */
const MAX_TIMER_MS = 2_147_483_647;

/** What losing the socket leads to, from `connecting` or `connected`. */
const lostTransitions = [
  { guard: 'terminalClose', target: 'closed', actions: ['dropSocket', 'recordClose', 'closeForTerminalCode'] },
  { guard: 'mayRetry', target: 'reconnecting', actions: ['dropSocket', 'recordClose'] },
  { target: 'closed', actions: ['dropSocket', 'recordClose', 'closeWithoutRetry'] },
] as const;

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
  },
  actions: {
    // Socket effects; the client provides the implementations.
    openSocket: () => {},
    /** Forget the current socket without waiting for it (stale, refused or dead). */
    dropSocket: () => {},
    /** Deliberate end: say goodbye to the hub, then close. */
    closeSocket: () => {},
    sendPing: () => {},

    recordClose: assign(({ event }) =>
      event.type === 'SOCKET_CLOSED' ? { lastClose: { code: event.code, reason: event.reason } } : {},
    ),
    closeForTerminalCode: assign(({ event }) =>
      event.type === 'SOCKET_CLOSED' ? { closedReason: terminalReasonOfClose(event.code, event.reason) } : {},
    ),
    closeWithoutRetry: assign(({ context }) => ({
      closedReason: context.reconnect ? ('retries_exhausted' as const) : ('connection_lost' as const),
    })),
    closeFatal: assign(({ event }) => (event.type === 'FATAL' ? { closedReason: event.reason } : {})),
    closeByClient: assign({ closedReason: 'client' as const }),
    acceptConnected: assign(({ context, event }) =>
      event.type === 'CONNECTED'
        ? {
            attempt: 0,
            delay: null,
            connects: context.connects + 1,
            heartbeatInterval: Math.min(MAX_TIMER_MS, Math.max(1, event.heartbeatInterval)),
          }
        : {},
    ),
    planRetry: assign(({ context }) => {
      const attempt = context.attempt + 1;
      return { attempt, delay: Math.min(MAX_TIMER_MS, backoffDelay(attempt, context.policy, context.random)) };
    }),
    startOver: assign({ attempt: 0, delay: null, closedReason: null, lastClose: null }),
  },
  guards: {
    terminalClose: ({ event }) =>
      event.type === 'SOCKET_CLOSED' && terminalReasonOfClose(event.code, event.reason) !== null,
    mayRetry: ({ context }) => context.reconnect && context.attempt < context.policy.maxAttempts,
  },
  delays: {
    connectTimeout: ({ context }) => context.connectTimeoutMs,
    backoff: ({ context }) => context.delay ?? 0,
    heartbeat: ({ context }) => context.heartbeatInterval,
  },
}).createMachine({
  id: 'hubConnection',
  initial: 'idle',
  context: ({ input }) => ({
    policy: { ...DEFAULT_BACKOFF, ...input.backoff },
    reconnect: input.reconnect ?? true,
    random: input.random ?? Math.random,
    connectTimeoutMs: Math.min(MAX_TIMER_MS, input.connectTimeoutMs ?? 10_000),
    attempt: 0,
    delay: null,
    heartbeatInterval: input.heartbeatIntervalMs ?? 20_000,
    connects: 0,
    lastClose: null,
    closedReason: null,
  }),
  states: {
    idle: {
      on: {
        CONNECT: 'connecting',
        DISCONNECT: { target: 'closed', actions: 'closeByClient' },
      },
    },
    connecting: {
      entry: 'openSocket',
      after: { connectTimeout: lostTransitions },
      on: {
        CONNECTED: { target: 'connected', actions: 'acceptConnected' },
        SOCKET_CLOSED: lostTransitions,
        FATAL: { target: 'closed', actions: ['dropSocket', 'closeFatal'] },
        DISCONNECT: { target: 'closed', actions: ['closeSocket', 'closeByClient'] },
      },
    },
    connected: {
      // Re-entering restarts the delayed transition, which makes the ping periodic.
      after: { heartbeat: { target: 'connected', reenter: true, actions: 'sendPing' } },
      on: {
        SOCKET_CLOSED: lostTransitions,
        LIVENESS_LOST: lostTransitions,
        FATAL: { target: 'closed', actions: ['dropSocket', 'closeFatal'] },
        DISCONNECT: { target: 'closed', actions: ['closeSocket', 'closeByClient'] },
      },
    },
    reconnecting: {
      entry: 'planRetry',
      after: { backoff: 'connecting' },
      on: {
        // An explicit connect() skips the rest of the wait.
        CONNECT: 'connecting',
        DISCONNECT: { target: 'closed', actions: 'closeByClient' },
      },
    },
    closed: {
      on: {
        CONNECT: { target: 'connecting', actions: 'startOver' },
      },
    },
  },
});
