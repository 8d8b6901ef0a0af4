import { describe, expect, it } from 'vitest';
import { createActor, initialTransition, transition, type SnapshotFrom } from 'xstate';
import { toDirectedGraph, type DirectedGraphNode } from 'xstate/graph';
import {
  CLOSE_CODES,
  CLOSE_GRACE_MS,
  sessionMachine,
  type SessionContext,
  type SessionEvent,
} from '../../machines/session';

/**
 * The session machine is driven only through xstate's pure functions, the
 * same way the hub core drives it, so what these tests see is exactly what
 * the core turns into wire effects.
 */

type Snap = SnapshotFrom<typeof sessionMachine>;
type StateName = 'connecting' | 'registered' | 'paused' | 'rate-limited' | 'suspended' | 'closing' | 'closed';
interface EffectAction {
  type: string;
  params?: unknown;
}

const T0 = 1_000_000;
const CONNECT_TIMEOUT = 10_000;
const HB_TIMEOUT = 60_000;
const IDENTITY = '@(alice)';

/** The only actions that may leave the machine: assigns are applied inside transition(). */
const EFFECT_TYPES = new Set([
  'sendDisconnectNotice',
  'sendDisconnectAck',
  'closeSocket',
  'releaseResources',
  'suspendSession',
  'deliverMailbox',
]);

const step = (snap: Snap, event: SessionEvent) => transition(sessionMachine, snap, event);

const effectsOf = (actions: ReadonlyArray<{ type: string; params?: unknown }>): EffectAction[] =>
  actions.map((a) => (a.params === undefined ? { type: a.type } : { type: a.type, params: a.params }));

/** Which (state, event, branch) the machine actually selected for this event, or null if none. */
const takenBranch = (snap: Snap, event: SessionEvent): string | null => {
  const defs = sessionMachine.getTransitionData(snap, event);
  if (defs.length === 0) return null;
  expect(defs).toHaveLength(1);
  const def = defs[0]!;
  const siblings = def.source.transitions.get(def.eventType) ?? [];
  return `${def.source.key}:${def.eventType}:${siblings.indexOf(def)}`;
};

// ---------------------------------------------------------------- fixtures
// Each builder walks the machine from its initial state with real events,
// so the fixtures can only reach states the machine itself can reach.

const connecting = (): Snap =>
  initialTransition(sessionMachine, {
    sessionId: 'sess-1',
    now: T0,
    connectTimeoutMs: CONNECT_TIMEOUT,
    heartbeatTimeoutMs: HB_TIMEOUT,
  })[0];

const CONNECTED_AT = T0 + 100;
const registered = (): Snap =>
  step(connecting(), { type: 'CONNECT_ACCEPTED', now: CONNECTED_AT, identity: IDENTITY, capabilities: ['chat'] })[0];

const PAUSED_AT = T0 + 200;
const paused = (): Snap => step(registered(), { type: 'PAUSE', now: PAUSED_AT })[0];

const LIMITED_AT = T0 + 300;
const RETRY_AT = T0 + 400;
/** Rate-limited while registered: last liveness is the connect. */
const rateLimited = (): Snap =>
  step(registered(), { type: 'RATE_LIMIT_EXHAUSTED', now: LIMITED_AT, retryAt: RETRY_AT })[0];
/** Rate-limited while paused: last liveness is the pause. */
const rateLimitedFromPaused = (): Snap =>
  step(paused(), { type: 'RATE_LIMIT_EXHAUSTED', now: LIMITED_AT, retryAt: RETRY_AT })[0];

const CLOSING_AT = T0 + 500;
const closing = (): Snap =>
  step(registered(), { type: 'DISCONNECT_REQUESTED', now: CLOSING_AT, requestId: 'req-close' })[0];

const lastSeenOf = (snap: Snap) => snap.context.lastSeen;

/**
 * Session resume (issue 14) is on when the session was opened with a grace
 * period; the fixtures above have none (RESUME_GRACE_MS 0), so each is also
 * built with one. The same walk, only the configured grace differs.
 */
const GRACE = 30_000;
const resumable = (from: () => Snap) => (): Snap => {
  const s = from();
  return sessionMachine.resolveState({ value: s.value, context: { ...s.context, resumeGraceMs: GRACE } });
};
const DROPPED_AT = T0 + 600;
const suspended = (): Snap => step(resumable(registered)(), { type: 'SOCKET_CLOSED', now: DROPPED_AT, code: 1006 })[0];

// ---------------------------------------------------------------- the table

interface Case {
  /** `${state}:${event}:${branch}` — branch is the index among that event's transitions in that state. */
  key: string;
  from: () => Snap;
  event: SessionEvent;
  target: StateName;
  actions: EffectAction[];
  context?: Partial<SessionContext>;
  status?: 'active' | 'done';
}

const notice = (reason: string) => ({
  type: 'sendDisconnectNotice',
  params: { reason, message: expect.stringMatching(/\S/) },
});
const close = (code: number, reason: string) => ({ type: 'closeSocket', params: { code, reason } });
const release = { type: 'releaseResources' };

/** The context a transition into `closing` at `now` must leave behind. */
const closingContext = (now: number, code: number, reason: string): Partial<SessionContext> => ({
  closeCode: code,
  closeReason: reason,
  closeDeadline: now + CLOSE_GRACE_MS,
  connectDeadline: null,
  rateLimitedUntil: null,
});

const cases: Case[] = [];

// connecting ------------------------------------------------------------
cases.push(
  {
    key: 'connecting:CONNECT_ACCEPTED:0',
    from: connecting,
    event: { type: 'CONNECT_ACCEPTED', now: T0 + 50, identity: IDENTITY, capabilities: ['chat', 'files'] },
    target: 'registered',
    actions: [],
    context: { identity: IDENTITY, capabilities: ['chat', 'files'], connectDeadline: null, lastSeen: T0 + 50 },
  },
  {
    key: 'connecting:CONNECT_REFUSED:0',
    from: connecting,
    event: { type: 'CONNECT_REFUSED', now: T0 + 50, code: CLOSE_CODES.versionMismatch, reason: 'version_mismatch' },
    target: 'closing',
    // The refusal reply itself is sent by the connect handler before this event.
    actions: [close(4400, 'version_mismatch'), release],
    context: { ...closingContext(T0 + 50, 4400, 'version_mismatch'), identity: null },
  },
  {
    key: 'connecting:FRAME:0',
    from: connecting,
    event: { type: 'FRAME', now: T0 + 70 },
    target: 'connecting',
    actions: [],
    // A frame proves liveness but must not extend the connect deadline.
    context: { lastSeen: T0 + 70, connectDeadline: T0 + CONNECT_TIMEOUT },
  },
  {
    key: 'connecting:TICK:0',
    from: connecting,
    event: { type: 'TICK', now: T0 + CONNECT_TIMEOUT, pingAt: null },
    target: 'closing',
    actions: [notice('connect_timeout'), close(4408, 'connect_timeout'), release],
    context: closingContext(T0 + CONNECT_TIMEOUT, 4408, 'connect_timeout'),
  },
  {
    key: 'connecting:SHUTDOWN:0',
    from: connecting,
    event: { type: 'SHUTDOWN', now: T0 + 80 },
    target: 'closing',
    actions: [notice('server_shutdown'), close(1001, 'server_shutdown'), release],
    context: closingContext(T0 + 80, 1001, 'server_shutdown'),
  },
  {
    key: 'connecting:SOCKET_CLOSED:0',
    from: connecting,
    event: { type: 'SOCKET_CLOSED', now: T0 + 90, code: 1006 },
    target: 'closed',
    actions: [release],
    context: { closeCode: 1006, closeDeadline: null, connectDeadline: null },
    status: 'done',
  },
);

// transitions every live state shares -----------------------------------
const liveStates: { name: 'registered' | 'paused' | 'rate-limited'; from: () => Snap }[] = [
  { name: 'registered', from: registered },
  { name: 'paused', from: paused },
  { name: 'rate-limited', from: rateLimited },
];
const AT = T0 + 1_000;
for (const { name, from } of liveStates) {
  cases.push(
    {
      key: `${name}:FRAME:0`,
      from,
      event: { type: 'FRAME', now: AT },
      target: name,
      actions: [],
      context: { lastSeen: AT },
    },
    {
      key: `${name}:HEARTBEAT:0`,
      from,
      event: { type: 'HEARTBEAT', now: AT },
      target: name,
      actions: [],
      context: { lastSeen: AT },
    },
    {
      key: `${name}:DUPLICATE_DETECTED:0`,
      from,
      event: { type: 'DUPLICATE_DETECTED', now: AT },
      target: 'closing',
      // The old connection is told why before its socket is closed.
      actions: [notice('duplicate_connection'), close(4409, 'duplicate_connection'), release],
      context: closingContext(AT, 4409, 'duplicate_connection'),
    },
    {
      key: `${name}:RATE_LIMIT_ABUSE:0`,
      from,
      event: { type: 'RATE_LIMIT_ABUSE', now: AT },
      target: 'closing',
      actions: [notice('rate_limit_abuse'), close(1008, 'rate_limit_abuse'), release],
      context: closingContext(AT, 1008, 'rate_limit_abuse'),
    },
    {
      key: `${name}:TOKEN_EXPIRED:0`,
      from,
      event: { type: 'TOKEN_EXPIRED', now: AT },
      target: 'closing',
      actions: [notice('token_expired'), close(4401, 'token_expired'), release],
      context: closingContext(AT, 4401, 'token_expired'),
    },
    {
      key: `${name}:DISCONNECT_REQUESTED:0`,
      from,
      event: { type: 'DISCONNECT_REQUESTED', now: AT, requestId: `bye-${name}` },
      target: 'closing',
      // Acknowledge before close: the ack is the first effect, the close after it.
      actions: [{ type: 'sendDisconnectAck', params: { requestId: `bye-${name}` } }, close(1000, 'client_disconnect'), release],
      context: closingContext(AT, 1000, 'client_disconnect'),
    },
    {
      key: `${name}:SHUTDOWN:0`,
      from,
      event: { type: 'SHUTDOWN', now: AT },
      target: 'closing',
      actions: [notice('server_shutdown'), close(1001, 'server_shutdown'), release],
      context: closingContext(AT, 1001, 'server_shutdown'),
    },
    {
      // A newer connection presented the resume token while this socket still looked open: the old socket
      // is told, then closed, and the session is suspended (for the RESUMED of the same turn), never released.
      key: `${name}:TAKEN_OVER:0`,
      from: resumable(from),
      event: { type: 'TAKEN_OVER', now: AT },
      target: 'suspended',
      actions: [notice('session_resumed'), close(4410, 'session_resumed'), { type: 'suspendSession' }],
      context: { closeCode: 4410, closeReason: 'session_resumed', graceUntil: AT + GRACE, closeDeadline: null, rateLimitedUntil: null, resumeTo: 'registered' },
    },
    {
      // A drop the client did not ask for suspends a resumable session: nothing is released.
      key: `${name}:SOCKET_CLOSED:0`,
      from: resumable(from),
      event: { type: 'SOCKET_CLOSED', now: AT, code: 1006 },
      target: 'suspended',
      actions: [{ type: 'suspendSession' }],
      context: { closeCode: 1006, closeReason: 'connection_lost', graceUntil: AT + GRACE, rateLimitedUntil: null, resumeTo: 'registered' },
    },
    {
      // Resume off (the fixture's grace is 0), or a close the peer started on purpose: released as before.
      key: `${name}:SOCKET_CLOSED:1`,
      from,
      event: { type: 'SOCKET_CLOSED', now: AT, code: 1001 },
      target: 'closed',
      actions: [release],
      context: { closeCode: 1001, closeDeadline: null, rateLimitedUntil: null },
      status: 'done',
    },
  );
}

// A clean close (1000, 1001, 1005) of a resumable session still releases it: the client meant to leave.
for (const code of [1000, 1001, 1005]) {
  it(`a resumable session closed by its peer with ${code} is released, not suspended`, () => {
    const [after, actions] = step(resumable(registered)(), { type: 'SOCKET_CLOSED', now: AT, code });
    expect(after.value).toBe('closed');
    expect(effectsOf(actions)).toEqual([release]);
  });
}

/** A heartbeat timeout of a resumable session: told and closed as before, but suspended instead of released. */
const heartbeatSuspend = (): Case['actions'] => [notice('heartbeat_timeout'), close(4408, 'heartbeat_timeout'), { type: 'suspendSession' }];
cases.push(
  {
    key: 'registered:TICK:0',
    from: resumable(registered),
    event: { type: 'TICK', now: CONNECTED_AT + HB_TIMEOUT, pingAt: null },
    target: 'suspended',
    actions: heartbeatSuspend(),
    context: { graceUntil: CONNECTED_AT + HB_TIMEOUT + GRACE, closeCode: 4408, closeReason: 'heartbeat_timeout', closeDeadline: null },
  },
  {
    key: 'paused:TICK:0',
    from: resumable(paused),
    event: { type: 'TICK', now: PAUSED_AT + HB_TIMEOUT, pingAt: null },
    target: 'suspended',
    actions: heartbeatSuspend(),
    // A pause does not survive the drop: the resumed socket starts unpaused.
    context: { graceUntil: PAUSED_AT + HB_TIMEOUT + GRACE, resumeTo: 'registered' },
  },
  {
    key: 'rate-limited:TICK:0',
    from: resumable(rateLimited),
    event: { type: 'TICK', now: CONNECTED_AT + HB_TIMEOUT, pingAt: null },
    target: 'suspended',
    actions: heartbeatSuspend(),
    context: { graceUntil: CONNECTED_AT + HB_TIMEOUT + GRACE, rateLimitedUntil: null },
  },
);

// suspended ---------------------------------------------------------------
cases.push(
  {
    key: 'suspended:RESUMED:0',
    from: suspended,
    event: { type: 'RESUMED', now: DROPPED_AT + GRACE - 1 },
    target: 'registered',
    // The hub sends hub:connected first, then the mailbox (src/core/lifecycle.ts).
    actions: [{ type: 'deliverMailbox' }],
    context: { graceUntil: null, closeCode: null, closeReason: null, lastSeen: DROPPED_AT + GRACE - 1 },
  },
  {
    key: 'suspended:TICK:0',
    from: suspended,
    event: { type: 'TICK', now: DROPPED_AT + GRACE, pingAt: null },
    target: 'closed',
    actions: [release],
    context: { graceUntil: null, closeReason: 'resume_expired', closeCode: 1006 },
    status: 'done',
  },
  {
    key: 'suspended:DUPLICATE_DETECTED:0',
    from: suspended,
    event: { type: 'DUPLICATE_DETECTED', now: DROPPED_AT + 5 },
    target: 'closed',
    actions: [release],
    context: { closeReason: 'duplicate_connection', closeDeadline: null },
    status: 'done',
  },
);

// registered --------------------------------------------------------------
cases.push(
  {
    key: 'registered:TICK:1',
    from: registered,
    event: { type: 'TICK', now: CONNECTED_AT + HB_TIMEOUT, pingAt: null },
    target: 'closing',
    actions: [notice('heartbeat_timeout'), close(4408, 'heartbeat_timeout'), release],
    context: closingContext(CONNECTED_AT + HB_TIMEOUT, 4408, 'heartbeat_timeout'),
  },
  {
    // Silent past the timeout except for an auto-answered ping: the ping is
    // folded into liveness and the session survives.
    key: 'registered:TICK:2',
    from: registered,
    event: { type: 'TICK', now: CONNECTED_AT + HB_TIMEOUT, pingAt: CONNECTED_AT + 30_000 },
    target: 'registered',
    actions: [],
    context: { lastSeen: CONNECTED_AT + 30_000, closeCode: null },
  },
  {
    key: 'registered:PAUSE:0',
    from: registered,
    event: { type: 'PAUSE', now: AT },
    target: 'paused',
    actions: [],
    context: { lastSeen: AT },
  },
  {
    key: 'registered:RATE_LIMIT_EXHAUSTED:0',
    from: registered,
    event: { type: 'RATE_LIMIT_EXHAUSTED', now: AT, retryAt: AT + 100 },
    target: 'rate-limited',
    actions: [],
    context: { rateLimitedUntil: AT + 100, resumeTo: 'registered' },
  },
);

// paused ------------------------------------------------------------------
cases.push(
  {
    key: 'paused:TICK:1',
    from: paused,
    event: { type: 'TICK', now: PAUSED_AT + HB_TIMEOUT + 5, pingAt: null },
    target: 'closing',
    actions: [notice('heartbeat_timeout'), close(4408, 'heartbeat_timeout'), release],
    context: closingContext(PAUSED_AT + HB_TIMEOUT + 5, 4408, 'heartbeat_timeout'),
  },
  {
    key: 'paused:TICK:2',
    from: paused,
    event: { type: 'TICK', now: PAUSED_AT + HB_TIMEOUT, pingAt: PAUSED_AT + 1 },
    target: 'paused',
    actions: [],
    context: { lastSeen: PAUSED_AT + 1 },
  },
  {
    key: 'paused:RESUME:0',
    from: paused,
    event: { type: 'RESUME', now: AT },
    target: 'registered',
    actions: [],
    context: { lastSeen: AT },
  },
  {
    key: 'paused:RATE_LIMIT_EXHAUSTED:0',
    from: paused,
    event: { type: 'RATE_LIMIT_EXHAUSTED', now: AT, retryAt: AT + 250 },
    target: 'rate-limited',
    actions: [],
    context: { rateLimitedUntil: AT + 250, resumeTo: 'paused' },
  },
);

// rate-limited ------------------------------------------------------------
cases.push(
  {
    key: 'rate-limited:TICK:1',
    from: rateLimited,
    event: { type: 'TICK', now: CONNECTED_AT + HB_TIMEOUT, pingAt: null },
    target: 'closing',
    actions: [notice('heartbeat_timeout'), close(4408, 'heartbeat_timeout'), release],
    context: closingContext(CONNECTED_AT + HB_TIMEOUT, 4408, 'heartbeat_timeout'),
  },
  {
    key: 'rate-limited:TICK:2',
    from: rateLimitedFromPaused,
    event: { type: 'TICK', now: RETRY_AT, pingAt: null },
    target: 'paused',
    actions: [],
    context: { rateLimitedUntil: null },
  },
  {
    key: 'rate-limited:TICK:3',
    from: rateLimited,
    event: { type: 'TICK', now: RETRY_AT, pingAt: RETRY_AT - 10 },
    target: 'registered',
    actions: [],
    context: { rateLimitedUntil: null, lastSeen: RETRY_AT - 10 },
  },
  {
    key: 'rate-limited:TICK:4',
    from: rateLimited,
    event: { type: 'TICK', now: RETRY_AT - 1, pingAt: RETRY_AT - 2 },
    target: 'rate-limited',
    actions: [],
    context: { rateLimitedUntil: RETRY_AT, lastSeen: RETRY_AT - 2 },
  },
  {
    key: 'rate-limited:RATE_LIMIT_EXHAUSTED:0',
    from: rateLimited,
    event: { type: 'RATE_LIMIT_EXHAUSTED', now: RETRY_AT + 5, retryAt: RETRY_AT + 900 },
    target: 'rate-limited',
    actions: [],
    context: { rateLimitedUntil: RETRY_AT + 900, resumeTo: 'registered' },
  },
  {
    key: 'rate-limited:RATE_LIMIT_REFILLED:0',
    from: rateLimitedFromPaused,
    event: { type: 'RATE_LIMIT_REFILLED', now: RETRY_AT },
    target: 'paused',
    actions: [],
    context: { rateLimitedUntil: null },
  },
  {
    key: 'rate-limited:RATE_LIMIT_REFILLED:1',
    from: rateLimited,
    event: { type: 'RATE_LIMIT_REFILLED', now: RETRY_AT },
    target: 'registered',
    actions: [],
    context: { rateLimitedUntil: null },
  },
  {
    key: 'rate-limited:PAUSE:0',
    from: rateLimited,
    event: { type: 'PAUSE', now: LIMITED_AT + 10 },
    target: 'rate-limited',
    actions: [],
    context: { resumeTo: 'paused', lastSeen: LIMITED_AT + 10, rateLimitedUntil: RETRY_AT },
  },
  {
    key: 'rate-limited:RESUME:0',
    from: rateLimitedFromPaused,
    event: { type: 'RESUME', now: LIMITED_AT + 10 },
    target: 'rate-limited',
    actions: [],
    context: { resumeTo: 'registered', lastSeen: LIMITED_AT + 10, rateLimitedUntil: RETRY_AT },
  },
);

// closing -----------------------------------------------------------------
cases.push(
  {
    key: 'closing:SOCKET_CLOSED:0',
    from: closing,
    event: { type: 'SOCKET_CLOSED', now: CLOSING_AT + 20, code: 1000 },
    target: 'closed',
    // Resources were released on entering closing; they are not released twice.
    actions: [],
    context: { closeCode: 1000, closeDeadline: null },
    status: 'done',
  },
  {
    key: 'closing:TICK:0',
    from: closing,
    event: { type: 'TICK', now: CLOSING_AT + CLOSE_GRACE_MS, pingAt: null },
    target: 'closed',
    actions: [],
    context: { closeCode: 1000, closeReason: 'client_disconnect', closeDeadline: null },
    status: 'done',
  },
);

// ---------------------------------------------------------------- enumeration

/** Every transition the machine defines, as `${state}:${event}:${branch}`, read from xstate's graph. */
const enumerateTransitions = (): string[] => {
  const keys = new Set<string>();
  const visit = (node: DirectedGraphNode): void => {
    for (const edge of node.edges) {
      const t = edge.transition;
      const siblings = t.source.transitions.get(t.eventType) ?? [];
      keys.add(`${t.source.key}:${t.eventType}:${siblings.indexOf(t)}`);
    }
    node.children.forEach(visit);
  };
  visit(toDirectedGraph(sessionMachine));
  return [...keys].sort();
};

// ---------------------------------------------------------------- tests

describe('session machine: every transition', () => {
  it('has exactly one test case per (state, event, branch) the machine defines', () => {
    const defined = enumerateTransitions();
    const tested = cases.map((c) => c.key);
    expect(new Set(tested).size).toBe(tested.length); // no key tested twice by mistake
    expect([...tested].sort()).toEqual(defined);
  });

  it('enumeration sees the states the contract names', () => {
    const states = new Set(enumerateTransitions().map((k) => k.split(':')[0]));
    expect([...states].sort()).toEqual(['closing', 'connecting', 'paused', 'rate-limited', 'registered', 'suspended']);
    expect(Object.keys(sessionMachine.root.states).sort()).toEqual(
      ['closed', 'closing', 'connecting', 'paused', 'rate-limited', 'registered', 'suspended'].sort(),
    );
  });

  for (const c of cases) {
    it(c.key, () => {
      const before = c.from();
      // The fixture must be in the state the key names, and the machine must
      // select exactly the branch the key names.
      expect(before.value).toBe(c.key.split(':')[0]);
      expect(takenBranch(before, c.event)).toBe(c.key);

      const [after, actions] = step(before, c.event);
      expect(after.value).toBe(c.target);
      const effects = effectsOf(actions);
      for (const e of effects) expect(EFFECT_TYPES.has(e.type)).toBe(true);
      expect(effects).toEqual(c.actions);
      if (c.context) expect(after.context).toMatchObject(c.context);
      expect(after.status).toBe(c.status ?? 'active');
      // The session id survives every transition; the identity changes only on connect.
      expect(after.context.sessionId).toBe('sess-1');
      if (c.event.type !== 'CONNECT_ACCEPTED') expect(after.context.identity).toBe(before.context.identity);
    });
  }
});

describe('session machine: events without a transition change nothing', () => {
  const noOp = (snap: Snap, event: SessionEvent) => {
    expect(takenBranch(snap, event)).toBeNull();
    const [after, actions] = step(snap, event);
    expect(actions).toEqual([]);
    expect(after.value).toBe(snap.value);
    expect(after.context).toEqual(snap.context);
  };

  it('connect TICK before the deadline does nothing', () => {
    noOp(connecting(), { type: 'TICK', now: T0 + CONNECT_TIMEOUT - 1, pingAt: null });
  });

  it('closing TICK before the close grace does nothing', () => {
    noOp(closing(), { type: 'TICK', now: CLOSING_AT + CLOSE_GRACE_MS - 1, pingAt: null });
  });

  it('a connecting session ignores session-level events', () => {
    const s = connecting();
    noOp(s, { type: 'HEARTBEAT', now: T0 + 1 });
    noOp(s, { type: 'PAUSE', now: T0 + 1 });
    noOp(s, { type: 'DUPLICATE_DETECTED', now: T0 + 1 });
    noOp(s, { type: 'DISCONNECT_REQUESTED', now: T0 + 1, requestId: 'r' });
    noOp(s, { type: 'RATE_LIMIT_EXHAUSTED', now: T0 + 1, retryAt: T0 + 5 });
  });

  it('a live session cannot connect again', () => {
    noOp(registered(), { type: 'CONNECT_ACCEPTED', now: AT, identity: '@(mallory)', capabilities: [] });
    noOp(registered(), { type: 'CONNECT_REFUSED', now: AT, code: 4400, reason: 'x' });
  });

  it('a closing session ignores everything but its close', () => {
    const s = closing();
    noOp(s, { type: 'FRAME', now: CLOSING_AT + 1 });
    noOp(s, { type: 'HEARTBEAT', now: CLOSING_AT + 1 });
    noOp(s, { type: 'DUPLICATE_DETECTED', now: CLOSING_AT + 1 });
    noOp(s, { type: 'DISCONNECT_REQUESTED', now: CLOSING_AT + 1, requestId: 'again' });
    noOp(s, { type: 'SHUTDOWN', now: CLOSING_AT + 1 });
  });

  it('a suspended session ignores everything but its resume, its grace deadline and a duplicate', () => {
    const s = suspended();
    noOp(s, { type: 'FRAME', now: DROPPED_AT + 1 });
    noOp(s, { type: 'HEARTBEAT', now: DROPPED_AT + 1 });
    // The old socket's close may still arrive after a heartbeat-timeout suspension.
    noOp(s, { type: 'SOCKET_CLOSED', now: DROPPED_AT + 1, code: 4408 });
    // Its record is durable, so a graceful shutdown leaves it resumable after the restart.
    noOp(s, { type: 'SHUTDOWN', now: DROPPED_AT + 1 });
    noOp(s, { type: 'TICK', now: DROPPED_AT + GRACE - 1, pingAt: null });
    noOp(s, { type: 'DISCONNECT_REQUESTED', now: DROPPED_AT + 1, requestId: 'r' });
  });

  it('a live session ignores RESUMED', () => {
    noOp(registered(), { type: 'RESUMED', now: AT });
  });

  it('TAKEN_OVER changes nothing with resume off, nor in a session that is not live', () => {
    noOp(registered(), { type: 'TAKEN_OVER', now: AT });
    noOp(paused(), { type: 'TAKEN_OVER', now: AT });
    noOp(connecting(), { type: 'TAKEN_OVER', now: T0 + 1 });
    noOp(suspended(), { type: 'TAKEN_OVER', now: DROPPED_AT + 1 });
    noOp(closing(), { type: 'TAKEN_OVER', now: CLOSING_AT + 1 });
  });

  it('closed is final', () => {
    const [s] = step(closing(), { type: 'SOCKET_CLOSED', now: CLOSING_AT + 1, code: 1000 });
    expect(s.status).toBe('done');
    noOp(s, { type: 'TICK', now: CLOSING_AT + 100_000, pingAt: null });
    noOp(s, { type: 'SOCKET_CLOSED', now: CLOSING_AT + 2, code: 1006 });
    noOp(s, { type: 'SHUTDOWN', now: CLOSING_AT + 2 });
  });
});

describe('session machine: liveness and deadlines', () => {
  it('heartbeat timeout fires at lastSeen + timeout and not one millisecond earlier', () => {
    const s = registered();
    const [early] = step(s, { type: 'TICK', now: CONNECTED_AT + HB_TIMEOUT - 1, pingAt: null });
    expect(early.value).toBe('registered');
    const [late] = step(s, { type: 'TICK', now: CONNECTED_AT + HB_TIMEOUT, pingAt: null });
    expect(late.value).toBe('closing');
  });

  it('a frame pushes the heartbeat deadline out', () => {
    const [s] = step(registered(), { type: 'FRAME', now: CONNECTED_AT + 50_000 });
    const [after] = step(s, { type: 'TICK', now: CONNECTED_AT + HB_TIMEOUT + 10, pingAt: null });
    expect(after.value).toBe('registered');
  });

  it('an auto-answered ping keeps a silent session alive, and its absence lets it time out', () => {
    let s = registered();
    // Pings every 40 s for several minutes: the hub never hears a frame.
    for (let k = 1; k <= 6; k++) {
      const pingAt = CONNECTED_AT + k * 40_000;
      [s] = step(s, { type: 'TICK', now: pingAt + 30_000, pingAt });
      expect(s.value).toBe('registered');
      expect(lastSeenOf(s)).toBe(pingAt);
    }
    const lastPing = CONNECTED_AT + 6 * 40_000;
    const [dead, actions] = step(s, { type: 'TICK', now: lastPing + HB_TIMEOUT, pingAt: lastPing });
    expect(dead.value).toBe('closing');
    expect(effectsOf(actions).map((a) => a.type)).toEqual(['sendDisconnectNotice', 'closeSocket', 'releaseResources']);
  });

  it('a ping older than the last frame never moves liveness backwards', () => {
    const [s] = step(registered(), { type: 'FRAME', now: CONNECTED_AT + 20_000 });
    const [after] = step(s, { type: 'TICK', now: CONNECTED_AT + 21_000, pingAt: CONNECTED_AT + 5_000 });
    expect(after.context.lastSeen).toBe(CONNECTED_AT + 20_000);
  });

  it('pausing during rate limiting makes the refill return to paused, resuming to registered', () => {
    const [p] = step(rateLimited(), { type: 'PAUSE', now: LIMITED_AT + 1 });
    expect(step(p, { type: 'RATE_LIMIT_REFILLED', now: RETRY_AT })[0].value).toBe('paused');
    expect(step(p, { type: 'TICK', now: RETRY_AT, pingAt: null })[0].value).toBe('paused');
    const [r] = step(p, { type: 'RESUME', now: LIMITED_AT + 2 });
    expect(step(r, { type: 'RATE_LIMIT_REFILLED', now: RETRY_AT })[0].value).toBe('registered');
    expect(step(r, { type: 'TICK', now: RETRY_AT, pingAt: null })[0].value).toBe('registered');
  });

  it('the heartbeat timeout wins over a due rate-limit refill', () => {
    const [after] = step(rateLimited(), { type: 'TICK', now: CONNECTED_AT + HB_TIMEOUT + RETRY_AT, pingAt: null });
    expect(after.value).toBe('closing');
    expect(after.context.closeReason).toBe('heartbeat_timeout');
  });

  it('the close code of a finished session is the one the socket reported', () => {
    const [c] = step(registered(), { type: 'DUPLICATE_DETECTED', now: AT });
    const [done] = step(c, { type: 'SOCKET_CLOSED', now: AT + 3, code: 4409 });
    expect(done.context.closeCode).toBe(4409);
    expect(done.context.closeReason).toBe('duplicate_connection');
  });
});

describe('context factory', () => {
  // xstate builds an actor, and so runs the factory, with no input whenever
  // transition() is called; a factory that throws there costs a caught
  // TypeError with a captured stack on every step (issue 11).
  it('never throws, even without input', () => {
    // Deliberately no input, as xstate itself does inside transition().
    const actor = createActor(sessionMachine as unknown as Parameters<typeof createActor>[0]);
    const snap = actor.getSnapshot() as Snap;
    expect(snap.status).toBe('active');
    expect(snap.value).toBe('connecting');
    expect(snap.context.sessionId).toBe('');
  });
});
