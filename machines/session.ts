import { assign, setup } from 'xstate';

/**
 * One WebSocket session of the hub, as a pure state machine.
 *
 * The machine never owns a timer: every event carries `now`, deadlines live in
 * context, and the Durable Object's single alarm delivers `TICK` at the
 * earliest one. That keeps the machine correct across hibernation, where any
 * in-process timer would be lost, and lets the harness replay it on a
 * simulated clock.
 *
 * Actions that touch the outside world (`sendDisconnectNotice`,
 * `sendDisconnectAck`, `closeSocket`, `releaseResources`) have no
 * implementation here: the hub core steps the machine purely (`machine.transition`
 * on one inert scope, src/core/machine-step.ts) and turns each returned action
 * into an effect, in order. The
 * order of a transition's action list is therefore the wire order, which is
 * how acknowledge-before-close is guaranteed.
 *
 * State names are fixed by the design: `registered` means *connected* (a
 * session that completed hub:connect), whether or not it has registered any
 * actor address; registrations are registry rows, not machine states.
 */

export type DisconnectReason =
  | 'duplicate_connection'
  | 'heartbeat_timeout'
  | 'connect_timeout'
  | 'rate_limit_abuse'
  | 'token_expired'
  | 'server_shutdown'
  | 'session_resumed';

export const CLOSE_CODES = {
  normal: 1000,
  serverShutdown: 1001,
  policy: 1008,
  versionMismatch: 4400,
  unauthorized: 4401,
  timeout: 4408,
  duplicate: 4409,
  /** The session moved to a newer connection that presented its resume token (docs/PROTOCOL.md "Session resume"). */
  sessionResumed: 4410,
} as const;

export interface SessionContext {
  sessionId: string;
  /** Verified identity once connected (`@(...)`), null while connecting. */
  identity: string | null;
  capabilities: string[];
  openedAt: number;
  /** Last time the client showed it is alive (any frame, heartbeat or auto-answered ping). */
  lastSeen: number;
  connectDeadline: number | null;
  connectTimeoutMs: number;
  heartbeatTimeoutMs: number;
  /** When the rate-limit bucket holds a token again; set only in `rate-limited`. */
  rateLimitedUntil: number | null;
  /** Where `rate-limited` returns to: the client may have paused before or during it. */
  resumeTo: 'registered' | 'paused';
  /** A closing session that never sees the peer's close is released at this time. */
  closeDeadline: number | null;
  closeCode: number | null;
  closeReason: string | null;
  /** How long a session whose socket dropped stays `suspended` (RESUME_GRACE_MS); 0: resume is off. */
  resumeGraceMs: number;
  /** A suspended session is released at this time unless a hub:connect resumes it first; set only in `suspended`. */
  graceUntil: number | null;
}

export interface SessionInput {
  sessionId: string;
  now: number;
  connectTimeoutMs: number;
  heartbeatTimeoutMs: number;
  /** Absent: resume off (older callers). */
  resumeGraceMs?: number;
}

export type SessionEvent =
  | { type: 'CONNECT_ACCEPTED'; now: number; identity: string; capabilities: string[]; /** false: a client without resume (protocol 0.1); its session is released on any close. */ resumable?: boolean }
  | { type: 'CONNECT_REFUSED'; now: number; code: number; reason: string }
  /**
   * Any inbound frame. `request` and `id` name it for inspection only (the
   * machine ignores them): the frame's `type` and `id` as sent, never its payload.
   */
  | { type: 'FRAME'; now: number; request?: string; id?: string }
  | { type: 'HEARTBEAT'; now: number }
  | { type: 'TICK'; now: number; pingAt: number | null }
  | { type: 'DUPLICATE_DETECTED'; now: number }
  | { type: 'RATE_LIMIT_EXHAUSTED'; now: number; retryAt: number }
  | { type: 'RATE_LIMIT_REFILLED'; now: number }
  | { type: 'RATE_LIMIT_ABUSE'; now: number }
  | { type: 'PAUSE'; now: number }
  | { type: 'RESUME'; now: number }
  | { type: 'DISCONNECT_REQUESTED'; now: number; requestId: string }
  | { type: 'TOKEN_EXPIRED'; now: number }
  | { type: 'SHUTDOWN'; now: number }
  | { type: 'SOCKET_CLOSED'; now: number; code: number }
  /** A new connection presented this suspended session's resume token in time; it takes the session over. */
  | { type: 'RESUMED'; now: number }
  /**
   * A new connection presented this live session's resume token: the hub had
   * not yet noticed that the old socket is gone. The session lets go of the
   * old socket (told, then closed) and waits, suspended, for the RESUMED that
   * the same turn sends it on the new connection.
   */
  | { type: 'TAKEN_OVER'; now: number };

/**
 * Close codes of a close handshake the peer started on purpose (normal,
 * going away, no status given): such a close ends the session like
 * hub:disconnect. Anything else (1006 abnormal closure above all) is a drop
 * the client did not ask for, and suspends a resumable session.
 */
export const INTENTIONAL_CLOSE_CODES: readonly number[] = [1000, 1001, 1005];

/** How long a closing socket may take to confirm the close before it is released anyway. */
export const CLOSE_GRACE_MS = 5_000;

export interface NoticeParams {
  reason: DisconnectReason;
  message: string;
}
export interface CloseParams {
  code: number;
  reason: string;
}

const livenessOf = (context: SessionContext, event: SessionEvent): number => {
  const at = event.type === 'TICK' && event.pingAt !== null ? Math.max(event.pingAt, context.lastSeen) : context.lastSeen;
  return at;
};

/**
 * What the `touch` action makes of liveness. Exported because the hub's step
 * function (src/core/machine-step.ts) applies it directly for transitions
 * that consist of context-only actions, instead of running a full xstate step.
 */
export const touchedLastSeen = (context: SessionContext, now: number): number => Math.max(context.lastSeen, now);

/** What `armRateLimit` sets `rateLimitedUntil` to; exported for the same reason as `touchedLastSeen`. */
export const armedUntil = (event: SessionEvent): number | null => (event.type === 'RATE_LIMIT_EXHAUSTED' ? event.retryAt : null);

/**
 * Effect actions only describe what must happen; `params` carry the data.
 * The implementations are deliberately empty: the hub core interprets them.
 */
const effect = <P>() => (_: unknown, _params: P) => {};

/**
 * Transitions every live state (registered, paused, rate-limited) shares.
 * They are attached below rather than on a parent state so that the state
 * value stays a flat, readable name ("registered", not {live: "registered"}).
 */
const heartbeatClosingActions = [
  { type: 'markClosing', params: { code: CLOSE_CODES.timeout, reason: 'heartbeat_timeout' } },
  {
    type: 'sendDisconnectNotice',
    params: { reason: 'heartbeat_timeout', message: 'No frame or ping arrived within the heartbeat timeout.' },
  },
  { type: 'closeSocket', params: { code: CLOSE_CODES.timeout, reason: 'heartbeat_timeout' } },
] as const;

/**
 * A silent client is treated like a dropped one when resume is on: it is
 * told and its socket closed as before, but the session is kept for the
 * grace period (the issue counts a heartbeat timeout as network loss).
 */
const heartbeatSuspendActions = [
  { type: 'markSuspended', params: { code: CLOSE_CODES.timeout, reason: 'heartbeat_timeout' } },
  {
    type: 'sendDisconnectNotice',
    params: { reason: 'heartbeat_timeout', message: 'No frame or ping arrived within the heartbeat timeout.' },
  },
  { type: 'closeSocket', params: { code: CLOSE_CODES.timeout, reason: 'heartbeat_timeout' } },
  'suspendSession',
] as const;

/** A live state's TICK: heartbeat timeout (suspend when resumable, else close), else fold the runtime's ping. */
const heartbeatTick = [
  { guard: 'heartbeatTimedOutResumable', target: 'suspended', actions: heartbeatSuspendActions },
  { guard: 'heartbeatTimedOut', target: 'closing', actions: heartbeatClosingActions },
] as const;

/**
 * A live session taken over by a resume: the old socket is told and closed,
 * and the session goes through `suspended` exactly as if the drop had been
 * noticed, so what the old socket may not have read (replay.ts) and what
 * waited in its pause buffer reach the new connection first. The close of
 * the old socket comes back later for a connection the session no longer
 * has, so it cannot suspend or end the session.
 */
const takenOverActions = [
  { type: 'markSuspended', params: { code: CLOSE_CODES.sessionResumed, reason: 'session_resumed' } },
  {
    type: 'sendDisconnectNotice',
    params: { reason: 'session_resumed', message: 'A newer connection resumed this session; this connection is closed.' },
  },
  { type: 'closeSocket', params: { code: CLOSE_CODES.sessionResumed, reason: 'session_resumed' } },
  'suspendSession',
] as const;

const liveTransitions = {
  FRAME: { actions: 'touch' },
  TAKEN_OVER: { guard: 'resumeOn', target: 'suspended', actions: takenOverActions },
  HEARTBEAT: { actions: 'touch' },
  DUPLICATE_DETECTED: {
    target: 'closing',
    actions: [
      { type: 'markClosing', params: { code: CLOSE_CODES.duplicate, reason: 'duplicate_connection' } },
      {
        type: 'sendDisconnectNotice',
        params: {
          reason: 'duplicate_connection',
          message: 'Another connection registered this actor; the newest connection wins.',
        },
      },
      { type: 'closeSocket', params: { code: CLOSE_CODES.duplicate, reason: 'duplicate_connection' } },
    ],
  },
  RATE_LIMIT_ABUSE: {
    target: 'closing',
    actions: [
      { type: 'markClosing', params: { code: CLOSE_CODES.policy, reason: 'rate_limit_abuse' } },
      {
        type: 'sendDisconnectNotice',
        params: { reason: 'rate_limit_abuse', message: 'Sustained sending far above the rate limit.' },
      },
      { type: 'closeSocket', params: { code: CLOSE_CODES.policy, reason: 'rate_limit_abuse' } },
    ],
  },
  TOKEN_EXPIRED: {
    target: 'closing',
    actions: [
      { type: 'markClosing', params: { code: CLOSE_CODES.unauthorized, reason: 'token_expired' } },
      { type: 'sendDisconnectNotice', params: { reason: 'token_expired', message: 'The session token expired.' } },
      { type: 'closeSocket', params: { code: CLOSE_CODES.unauthorized, reason: 'token_expired' } },
    ],
  },
  DISCONNECT_REQUESTED: {
    target: 'closing',
    actions: [
      { type: 'markClosing', params: { code: CLOSE_CODES.normal, reason: 'client_disconnect' } },
      { type: 'sendDisconnectAck', params: ({ event }: { event: SessionEvent }) => ({
          requestId: event.type === 'DISCONNECT_REQUESTED' ? event.requestId : '',
        }), },
      { type: 'closeSocket', params: { code: CLOSE_CODES.normal, reason: 'client_disconnect' } },
    ],
  },
  SHUTDOWN: {
    target: 'closing',
    actions: [
      { type: 'markClosing', params: { code: CLOSE_CODES.serverShutdown, reason: 'server_shutdown' } },
      { type: 'sendDisconnectNotice', params: { reason: 'server_shutdown', message: 'The hub is shutting down.' } },
      { type: 'closeSocket', params: { code: CLOSE_CODES.serverShutdown, reason: 'server_shutdown' } },
    ],
  },
  SOCKET_CLOSED: [
    {
      guard: 'droppedResumable',
      target: 'suspended',
      actions: [
        { type: 'markSuspended', params: ({ event }: { event: SessionEvent }) => ({
            code: event.type === 'SOCKET_CLOSED' ? event.code : 1006,
            reason: 'connection_lost',
          }), },
        'suspendSession',
      ],
    },
    { target: 'closed', actions: ['markClosed', 'releaseResources'] },
  ],
} as const;

/**
 * The context of a new session. It must never throw: xstate evaluates the
 * factory whenever an actor is constructed, including inert ones built with
 * no input (xstate's own `transition()` does that on every call). A factory
 * that read `input.sessionId` from undefined threw, and had its stack
 * captured, on every frame the hub handled. A missing input yields an empty
 * placeholder context that no real session ever carries (sessionId '').
 */
const initialContext = (input: SessionInput | undefined): SessionContext => {
  const now = input?.now ?? 0;
  const connectTimeoutMs = input?.connectTimeoutMs ?? 0;
  return {
    sessionId: input?.sessionId ?? '',
    identity: null,
    capabilities: [],
    openedAt: now,
    lastSeen: now,
    connectDeadline: now + connectTimeoutMs,
    connectTimeoutMs,
    heartbeatTimeoutMs: input?.heartbeatTimeoutMs ?? 0,
    rateLimitedUntil: null,
    resumeTo: 'registered',
    closeDeadline: null,
    closeCode: null,
    closeReason: null,
    resumeGraceMs: input?.resumeGraceMs ?? 0,
    graceUntil: null,
  };
};

export const sessionMachine = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionEvent,
    input: {} as SessionInput,
  },
  actions: {
    sendDisconnectNotice: effect<NoticeParams>(),
    sendDisconnectAck: effect<{ requestId: string }>(),
    closeSocket: effect<CloseParams>(),
    releaseResources: effect<undefined>(),
    /** Keep the session without a socket: store its record durably, move its pause buffer into the mailbox. */
    suspendSession: effect<undefined>(),
    /** The session's new socket gets the mailbox, in arrival order, before anything new. */
    deliverMailbox: effect<undefined>(),
    markSuspended: assign(({ event, context }, params: CloseParams) => ({
      closeCode: params.code,
      closeReason: params.reason,
      graceUntil: event.now + context.resumeGraceMs,
      closeDeadline: null,
      connectDeadline: null,
      rateLimitedUntil: null,
      resumeTo: 'registered' as const,
    })),
    markResumed: assign(({ event }) => ({
      graceUntil: null,
      closeCode: null,
      closeReason: null,
      lastSeen: event.now,
    })),
    markGraceOver: assign({ graceUntil: null, closeReason: 'resume_expired' }),
    acceptIdentity: assign(({ event }) => {
      if (event.type !== 'CONNECT_ACCEPTED') return {};
      return {
        identity: event.identity,
        capabilities: event.capabilities,
        connectDeadline: null,
        lastSeen: event.now,
        ...(event.resumable === false ? { resumeGraceMs: 0 } : {}),
      };
    }),
    touch: assign(({ context, event }) => ({ lastSeen: touchedLastSeen(context, event.now) })),
    /** An auto-answered ping happened without waking us; fold its time into liveness. */
    foldPing: assign(({ context, event }) => ({ lastSeen: livenessOf(context, event) })),
    armRateLimit: assign(({ event }) => ({ rateLimitedUntil: armedUntil(event) })),
    rememberRegistered: assign({ resumeTo: 'registered' as const }),
    rememberPaused: assign({ resumeTo: 'paused' as const }),
    clearRateLimit: assign({ rateLimitedUntil: null }),
    markClosing: assign(({ event }, params: CloseParams) => ({
      closeCode: params.code,
      closeReason: params.reason,
      closeDeadline: event.now + CLOSE_GRACE_MS,
      connectDeadline: null,
      rateLimitedUntil: null,
    })),
    markClosed: assign(({ context, event }) => ({
      // A close the peer never confirmed keeps the code the hub closed with.
      closeCode: event.type === 'SOCKET_CLOSED' ? event.code : context.closeCode,
      closeDeadline: null,
      connectDeadline: null,
      rateLimitedUntil: null,
    })),
  },
  guards: {
    connectTimedOut: ({ context, event }) =>
      context.connectDeadline !== null && event.now >= context.connectDeadline,
    heartbeatTimedOut: ({ context, event }) =>
      event.now >= livenessOf(context, event) + context.heartbeatTimeoutMs,
    rateLimitOver: ({ context, event }) =>
      context.rateLimitedUntil !== null && event.now >= context.rateLimitedUntil,
    rateLimitOverWhilePaused: ({ context, event }) =>
      context.rateLimitedUntil !== null && event.now >= context.rateLimitedUntil && context.resumeTo === 'paused',
    returnsToPaused: ({ context }) => context.resumeTo === 'paused',
    heartbeatTimedOutResumable: ({ context, event }) =>
      context.resumeGraceMs > 0 && event.now >= livenessOf(context, event) + context.heartbeatTimeoutMs,
    droppedResumable: ({ context, event }) =>
      context.resumeGraceMs > 0 && event.type === 'SOCKET_CLOSED' && !INTENTIONAL_CLOSE_CODES.includes(event.code),
    resumeOn: ({ context }) => context.resumeGraceMs > 0,
    resumeGraceOver: ({ context, event }) => context.graceUntil !== null && event.now >= context.graceUntil,
    closeGraceOver: ({ context, event }) =>
      context.closeDeadline !== null && event.now >= context.closeDeadline,
  },
}).createMachine({
  id: 'session',
  initial: 'connecting',
  context: ({ input }) => initialContext(input),
  states: {
    connecting: {
      on: {
        CONNECT_ACCEPTED: { target: 'registered', actions: 'acceptIdentity' },
        CONNECT_REFUSED: {
          target: 'closing',
          actions: [
            { type: 'markClosing', params: ({ event }) => ({ code: event.code, reason: event.reason }) },
            { type: 'closeSocket', params: ({ event }) => ({ code: event.code, reason: event.reason }) },
          ],
        },
        FRAME: { actions: 'touch' },
        TICK: {
          guard: 'connectTimedOut',
          target: 'closing',
          actions: [
            { type: 'markClosing', params: { code: CLOSE_CODES.timeout, reason: 'connect_timeout' } },
            {
              type: 'sendDisconnectNotice',
              params: { reason: 'connect_timeout', message: 'No hub:connect arrived within the connect timeout.' },
            },
            { type: 'closeSocket', params: { code: CLOSE_CODES.timeout, reason: 'connect_timeout' } },
          ],
        },
        SHUTDOWN: {
          target: 'closing',
          actions: [
            { type: 'markClosing', params: { code: CLOSE_CODES.serverShutdown, reason: 'server_shutdown' } },
            { type: 'sendDisconnectNotice', params: { reason: 'server_shutdown', message: 'The hub is shutting down.' } },
            { type: 'closeSocket', params: { code: CLOSE_CODES.serverShutdown, reason: 'server_shutdown' } },
          ],
        },
        SOCKET_CLOSED: { target: 'closed', actions: ['markClosed', 'releaseResources'] },
      },
    },
    registered: {
      on: {
        ...liveTransitions,
        TICK: [...heartbeatTick, { actions: 'foldPing' }],
        PAUSE: { target: 'paused', actions: 'touch' },
        RATE_LIMIT_EXHAUSTED: { target: 'rate-limited', actions: ['rememberRegistered', 'armRateLimit'] },
      },
    },
    paused: {
      on: {
        ...liveTransitions,
        TICK: [...heartbeatTick, { actions: 'foldPing' }],
        RESUME: { target: 'registered', actions: 'touch' },
        RATE_LIMIT_EXHAUSTED: { target: 'rate-limited', actions: ['rememberPaused', 'armRateLimit'] },
      },
    },
    'rate-limited': {
      on: {
        ...liveTransitions,
        TICK: [
          ...heartbeatTick,
          { guard: 'rateLimitOverWhilePaused', target: 'paused', actions: ['foldPing', 'clearRateLimit'] },
          { guard: 'rateLimitOver', target: 'registered', actions: ['foldPing', 'clearRateLimit'] },
          { actions: 'foldPing' },
        ],
        RATE_LIMIT_EXHAUSTED: { actions: 'armRateLimit' },
        RATE_LIMIT_REFILLED: [
          { guard: 'returnsToPaused', target: 'paused', actions: 'clearRateLimit' },
          { target: 'registered', actions: 'clearRateLimit' },
        ],
        PAUSE: { actions: ['touch', 'rememberPaused'] },
        RESUME: { actions: ['touch', 'rememberRegistered'] },
      },
    },
    /**
     * The socket dropped without hub:disconnect: no socket, but registrations,
     * subscriptions and identity stay reserved and what is addressed to the
     * session waits in its mailbox. A resume takes it back to `registered`
     * (a pause does not survive the drop: the new socket starts unpaused);
     * the grace deadline releases it exactly as a close would.
     */
    suspended: {
      on: {
        RESUMED: { target: 'registered', actions: ['markResumed', 'deliverMailbox'] },
        TICK: { guard: 'resumeGraceOver', target: 'closed', actions: ['markGraceOver', 'markClosed', 'releaseResources'] },
        // With auth on, a fresh session of the same identity wins, as it would over a live one.
        DUPLICATE_DETECTED: {
          target: 'closed',
          actions: [{ type: 'markClosing', params: { code: CLOSE_CODES.duplicate, reason: 'duplicate_connection' } }, 'markClosed', 'releaseResources'],
        },
      },
    },
    closing: {
      entry: 'releaseResources',
      on: {
        SOCKET_CLOSED: { target: 'closed', actions: 'markClosed' },
        TICK: { guard: 'closeGraceOver', target: 'closed', actions: 'markClosed' },
      },
    },
    closed: { type: 'final' },
  },
});

