import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock } from 'xstate';
import {
  backoffDelay,
  connectionMachine,
  DEFAULT_BACKOFF,
  terminalReasonOfClose,
  type ConnectionInput,
  type ConnectionState,
} from '../../src/client/connection-machine';

/** Small deterministic PRNG (mulberry32): the same seed gives the same jitter every run. */
const seeded = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

const baseOf = (attempt: number): number => Math.min(30_000, 100 * 2 ** (attempt - 1));

/** Runs the machine on a simulated clock and records the effects it asks for. */
const harness = (input: ConnectionInput = {}) => {
  const clock = new SimulatedClock();
  const effects: string[] = [];
  const machine = connectionMachine.provide({
    actions: {
      openSocket: () => effects.push('open'),
      dropSocket: () => effects.push('drop'),
      closeSocket: () => effects.push('close'),
      sendPing: () => effects.push('ping'),
    },
  });
  const actor = createActor(machine, { input, clock });
  const states: ConnectionState[] = [];
  actor.subscribe((s) => {
    const value = s.value as ConnectionState;
    if (states[states.length - 1] !== value) states.push(value);
  });
  actor.start();
  const state = () => actor.getSnapshot().value as ConnectionState;
  const context = () => actor.getSnapshot().context;
  const count = (effect: string) => effects.filter((e) => e === effect).length;
  return { clock, actor, effects, states, state, context, count };
};

describe('backoffDelay', () => {
  it('doubles from 100 ms to the 30 s cap and stays within ±25 % of that base', () => {
    const random = seeded(42);
    for (let attempt = 1; attempt <= 30; attempt++) {
      for (let i = 0; i < 200; i++) {
        const delay = backoffDelay(attempt, DEFAULT_BACKOFF, random);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(baseOf(attempt) * 0.75));
        expect(delay).toBeLessThanOrEqual(Math.ceil(baseOf(attempt) * 1.25));
      }
    }
    expect(baseOf(9)).toBe(25_600);
    expect(baseOf(10)).toBe(30_000);
  });

  it('maps the random source onto the whole jitter range', () => {
    expect(backoffDelay(1, DEFAULT_BACKOFF, () => 0)).toBe(75);
    expect(backoffDelay(1, DEFAULT_BACKOFF, () => 0.5)).toBe(100);
    expect(backoffDelay(1, DEFAULT_BACKOFF, () => 0.999_999)).toBe(125);
    expect(backoffDelay(4, DEFAULT_BACKOFF, () => 0.5)).toBe(800);
    expect(backoffDelay(50, DEFAULT_BACKOFF, () => 0)).toBe(22_500);
    expect(backoffDelay(50, DEFAULT_BACKOFF, () => 0.999_999)).toBe(37_500);
  });

  it('spreads delays of one attempt across the range with a seeded source, and reproduces them from the seed', () => {
    const sample = (seed: number) => {
      const random = seeded(seed);
      return Array.from({ length: 500 }, () => backoffDelay(5, DEFAULT_BACKOFF, random));
    };
    const a = sample(7);
    expect(sample(7)).toEqual(a);
    expect(sample(8)).not.toEqual(a);
    // Base 1600 ms: the sample must reach both ends of [1200, 2000].
    expect(Math.min(...a)).toBeLessThan(1250);
    expect(Math.max(...a)).toBeGreaterThan(1950);
    expect(new Set(a).size).toBeGreaterThan(200);
  });

  it('honours a custom policy', () => {
    const policy = { ...DEFAULT_BACKOFF, initialDelayMs: 10, maxDelayMs: 50, multiplier: 3, jitter: 0 };
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, policy, Math.random))).toEqual([10, 30, 50, 50]);
  });
});

describe('terminalReasonOfClose', () => {
  it('stops on the hub close codes that reconnecting cannot fix', () => {
    expect(terminalReasonOfClose(4409, 'duplicate_connection')).toBe('duplicate_connection');
    expect(terminalReasonOfClose(4400, 'version_mismatch')).toBe('version_mismatch');
    expect(terminalReasonOfClose(4401, 'unauthorized')).toBe('unauthorized');
    expect(terminalReasonOfClose(4401, 'token_expired')).toBe('token_expired');
    for (const code of [1000, 1001, 1006, 1008, 1011, 4408]) expect(terminalReasonOfClose(code, '')).toBeNull();
  });
});

describe('connection machine', () => {
  it('connects: idle → connecting (opens a socket) → connected', () => {
    const h = harness();
    expect(h.state()).toBe('idle');
    expect(h.effects).toEqual([]);
    h.actor.send({ type: 'CONNECT' });
    expect(h.state()).toBe('connecting');
    expect(h.effects).toEqual(['open']);
    h.actor.send({ type: 'CONNECTED', heartbeatInterval: 20_000 });
    expect(h.state()).toBe('connected');
    expect(h.context()).toMatchObject({ attempt: 0, connects: 1, heartbeatInterval: 20_000 });
  });

  it('pings at the advertised heartbeat interval while connected, and stops when it leaves', () => {
    const h = harness();
    h.actor.send({ type: 'CONNECT' });
    h.actor.send({ type: 'CONNECTED', heartbeatInterval: 1_000 });
    h.clock.increment(999);
    expect(h.count('ping')).toBe(0);
    h.clock.increment(1);
    expect(h.count('ping')).toBe(1);
    h.clock.increment(1_000);
    h.clock.increment(1_000);
    expect(h.count('ping')).toBe(3);
    expect(h.state()).toBe('connected');
    h.actor.send({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
    h.clock.increment(10_000);
    expect(h.count('ping')).toBe(3);
  });

  it('reconnects after a lost socket with a jittered delay inside the bounds, and again after each failure', () => {
    const random = seeded(1234);
    const h = harness({ random });
    h.actor.send({ type: 'CONNECT' });
    h.actor.send({ type: 'CONNECTED', heartbeatInterval: 60_000 });
    h.actor.send({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
    expect(h.state()).toBe('reconnecting');
    expect(h.effects).toEqual(['open', 'drop']);

    for (let attempt = 1; attempt <= 12; attempt++) {
      expect(h.context().attempt).toBe(attempt);
      const delay = h.context().delay!;
      expect(delay).toBeGreaterThanOrEqual(Math.floor(baseOf(attempt) * 0.75));
      expect(delay).toBeLessThanOrEqual(Math.ceil(baseOf(attempt) * 1.25));
      const opens = h.count('open');
      h.clock.increment(delay - 1);
      expect(h.state()).toBe('reconnecting');
      expect(h.count('open')).toBe(opens);
      h.clock.increment(1);
      expect(h.state()).toBe('connecting');
      expect(h.count('open')).toBe(opens + 1);
      // The hub is still away: the attempt fails.
      h.actor.send({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
      expect(h.state()).toBe('reconnecting');
    }
    // A successful connect resets the backoff.
    h.clock.increment(h.context().delay!);
    h.actor.send({ type: 'CONNECTED', heartbeatInterval: 60_000 });
    expect(h.context()).toMatchObject({ attempt: 0, connects: 2 });
    h.actor.send({ type: 'SOCKET_CLOSED', code: 4408, reason: 'heartbeat_timeout' });
    expect(h.context().attempt).toBe(1);
    expect(h.context().delay).toBeLessThanOrEqual(125);
    expect(h.context().lastClose).toEqual({ code: 4408, reason: 'heartbeat_timeout' });
  });

  it('reproduces the same delay sequence from the same seed', () => {
    const delays = (seed: number) => {
      const h = harness({ random: seeded(seed) });
      h.actor.send({ type: 'CONNECT' });
      const out: number[] = [];
      for (let i = 0; i < 8; i++) {
        h.actor.send({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
        out.push(h.context().delay!);
        h.clock.increment(h.context().delay!);
      }
      return out;
    };
    expect(delays(99)).toEqual(delays(99));
    expect(delays(99)).not.toEqual(delays(100));
  });

  it.each([
    [4409, 'duplicate_connection', 'duplicate_connection'],
    [4400, 'version_mismatch', 'version_mismatch'],
    [4401, 'unauthorized', 'unauthorized'],
    [4401, 'token_expired', 'token_expired'],
  ] as const)('does not reconnect after close %i %s', (code, reason, closedReason) => {
    for (const from of ['connecting', 'connected'] as const) {
      const h = harness();
      h.actor.send({ type: 'CONNECT' });
      if (from === 'connected') h.actor.send({ type: 'CONNECTED', heartbeatInterval: 1_000 });
      h.actor.send({ type: 'SOCKET_CLOSED', code, reason });
      expect(h.state()).toBe('closed');
      expect(h.context().closedReason).toBe(closedReason);
      h.clock.increment(10 * 60_000);
      expect(h.state()).toBe('closed');
      expect(h.count('open')).toBe(1);
    }
  });

  it('ends at once on a terminal hub notice (FATAL), dropping the socket', () => {
    const h = harness();
    h.actor.send({ type: 'CONNECT' });
    h.actor.send({ type: 'CONNECTED', heartbeatInterval: 1_000 });
    h.actor.send({ type: 'FATAL', reason: 'duplicate_connection' });
    expect(h.state()).toBe('closed');
    expect(h.context().closedReason).toBe('duplicate_connection');
    expect(h.effects).toEqual(['open', 'drop']);
    // A close that arrives afterwards changes nothing.
    h.actor.send({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
    h.clock.increment(60_000);
    expect(h.state()).toBe('closed');
    expect(h.count('open')).toBe(1);
  });

  it('a deliberate disconnect closes from every state and never reconnects', () => {
    const setups: Record<string, (h: ReturnType<typeof harness>) => void> = {
      idle: () => undefined,
      connecting: (h) => h.actor.send({ type: 'CONNECT' }),
      connected: (h) => {
        h.actor.send({ type: 'CONNECT' });
        h.actor.send({ type: 'CONNECTED', heartbeatInterval: 1_000 });
      },
      reconnecting: (h) => {
        h.actor.send({ type: 'CONNECT' });
        h.actor.send({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
      },
    };
    for (const [from, prepare] of Object.entries(setups)) {
      const h = harness();
      prepare(h);
      expect(h.state()).toBe(from);
      const opens = h.count('open');
      h.actor.send({ type: 'DISCONNECT' });
      expect(h.state(), from).toBe('closed');
      expect(h.context().closedReason).toBe('client');
      // Only a live socket is closed; a reconnect wait or idle client has none.
      expect(h.count('close'), from).toBe(from === 'connecting' || from === 'connected' ? 1 : 0);
      h.actor.send({ type: 'SOCKET_CLOSED', code: 1000, reason: 'client_disconnect' });
      h.clock.increment(10 * 60_000);
      expect(h.state()).toBe('closed');
      expect(h.count('open')).toBe(opens);
    }
  });

  it('abandons a connect attempt that takes longer than connectTimeoutMs', () => {
    const h = harness({ connectTimeoutMs: 5_000, random: () => 0.5 });
    h.actor.send({ type: 'CONNECT' });
    h.clock.increment(4_999);
    expect(h.state()).toBe('connecting');
    h.clock.increment(1);
    expect(h.state()).toBe('reconnecting');
    expect(h.effects).toEqual(['open', 'drop']);
    h.clock.increment(100);
    expect(h.state()).toBe('connecting');
    expect(h.count('open')).toBe(2);
  });

  it('replaces a connection whose liveness was lost', () => {
    const h = harness({ random: () => 0.5 });
    h.actor.send({ type: 'CONNECT' });
    h.actor.send({ type: 'CONNECTED', heartbeatInterval: 1_000 });
    h.actor.send({ type: 'LIVENESS_LOST' });
    expect(h.state()).toBe('reconnecting');
    expect(h.effects).toEqual(['open', 'drop']);
    h.clock.increment(100);
    expect(h.count('open')).toBe(2);
  });

  it('with reconnect off, a lost socket ends in closed (connection_lost)', () => {
    const h = harness({ reconnect: false });
    h.actor.send({ type: 'CONNECT' });
    h.actor.send({ type: 'CONNECTED', heartbeatInterval: 1_000 });
    h.actor.send({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
    expect(h.state()).toBe('closed');
    expect(h.context().closedReason).toBe('connection_lost');
  });

  it('gives up after maxAttempts failed reconnects (retries_exhausted)', () => {
    const h = harness({ backoff: { maxAttempts: 3 }, random: () => 0.5 });
    h.actor.send({ type: 'CONNECT' });
    for (let i = 0; i < 3; i++) {
      h.actor.send({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
      expect(h.state()).toBe('reconnecting');
      h.clock.increment(h.context().delay!);
      expect(h.state()).toBe('connecting');
    }
    h.actor.send({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
    expect(h.state()).toBe('closed');
    expect(h.context().closedReason).toBe('retries_exhausted');
    expect(h.count('open')).toBe(4);
  });

  it('CONNECT while reconnecting skips the wait; CONNECT after closed starts over', () => {
    const h = harness({ random: () => 0.5 });
    h.actor.send({ type: 'CONNECT' });
    h.actor.send({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
    h.actor.send({ type: 'SOCKET_CLOSED', code: 1006, reason: '' }); // ignored while waiting
    expect(h.context().attempt).toBe(1);
    h.actor.send({ type: 'CONNECT' });
    expect(h.state()).toBe('connecting');
    expect(h.count('open')).toBe(2);

    h.actor.send({ type: 'SOCKET_CLOSED', code: 4409, reason: 'duplicate_connection' });
    expect(h.state()).toBe('closed');
    h.actor.send({ type: 'CONNECT' });
    expect(h.state()).toBe('connecting');
    expect(h.context()).toMatchObject({ attempt: 0, closedReason: null, lastClose: null });
    expect(h.states).toEqual(['idle', 'connecting', 'reconnecting', 'connecting', 'closed', 'connecting']);
  });

  it('ignores events that do not apply to the current state', () => {
    const h = harness();
    h.actor.send({ type: 'CONNECTED', heartbeatInterval: 1_000 });
    h.actor.send({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
    h.actor.send({ type: 'LIVENESS_LOST' });
    expect(h.state()).toBe('idle');
    h.actor.send({ type: 'CONNECT' });
    h.actor.send({ type: 'LIVENESS_LOST' });
    h.actor.send({ type: 'CONNECT' });
    expect(h.state()).toBe('connecting');
    expect(h.count('open')).toBe(1);
  });
});
