import fc from 'fast-check';
import { serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { MAX_PERMISSION_CHARS, MAX_SESSION_CAPABILITIES, MAX_SESSION_CAPABILITY_CHARS } from '../../src/protocol/limits';
import { ATTACHMENT_LIMIT, SESSION_BUDGET, serializedSize } from '../../src/core/session-budget';
import { PROTOCOL_VERSION, Scenario, expectError, type Mode } from './core-harness';

/**
 * Issue 12, defect 2: a session bigger than its 16 KiB attachment was
 * acknowledged and then lost at the next hibernation. The limits on what a
 * session carries are derived so the largest admissible session fits with
 * margin; node:v8's serialize is the same structured serialisation that
 * workerd's serializeAttachment performs, so it measures the real size.
 */

/** Characters above U+00FF make V8 store the whole string in UTF-16: the expensive case. */
const wide = (n: number, ch = '☃'): string => ch.repeat(n);
const maxCaps = (): string[] => Array.from({ length: MAX_SESSION_CAPABILITIES }, () => wide(MAX_SESSION_CAPABILITY_CHARS / MAX_SESSION_CAPABILITIES));

describe('the largest admissible session fits its attachment (issue 12 §2)', () => {
  it('worst case: widest identity, capabilities and permissions, every number at full size', () => {
    const sc = new Scenario('awake');
    const peer = sc.connect('@(budget/w)', { capabilities: maxCaps() });
    const a = structuredClone(peer.socket.attachment) as Record<string, any>;
    const perList = MAX_PERMISSION_CHARS / 3 / 64;
    const globs = () => Array.from({ length: 64 }, () => wide(Math.floor(perList)));
    a.permissions = { send: globs(), publish: globs(), subscribe: globs(), broadcast: false };
    const ctx = a.machine.context;
    ctx.identity = `@(${wide(256)})`;
    ctx.closeReason = 'x'.repeat(64);
    a.machine.value = 'rate-limited';
    const big = -1.2345678901234567e300;
    const fill = (o: Record<string, any>): void => {
      for (const k of Object.keys(o)) {
        if (typeof o[k] === 'number' || o[k] === null) {
          if (k !== 'closeReason') o[k] = big;
        } else if (o[k] && typeof o[k] === 'object' && !Array.isArray(o[k])) fill(o[k]);
      }
    };
    fill(a.bucket);
    fill(a.abuse);
    fill(a.flow);
    fill(a.stats);
    for (const k of ['openedAt', 'lastSeen', 'connectDeadline', 'connectTimeoutMs', 'heartbeatTimeoutMs', 'rateLimitedUntil', 'closeDeadline', 'closeCode']) ctx[k] = big;
    a.tokenExpiresAt = big;
    a.authExpiresAt = big;
    const real = serialize(a).byteLength;
    expect(serializedSize(a)).toBeGreaterThanOrEqual(real);
    expect(serializedSize(a)).toBeLessThanOrEqual(SESSION_BUDGET);
    expect(SESSION_BUDGET).toBeLessThan(ATTACHMENT_LIMIT);
  });

  it('the estimate is an upper bound of the real serialised size for any JSON-like value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4, stringUnit: 'binary' }), (value) => {
        expect(serializedSize(value)).toBeGreaterThanOrEqual(serialize(value).byteLength);
      }),
      { numRuns: 300, seed: 0x0012_0201 },
    );
  });
});

describe.each<Mode>(['awake', 'hibernating'])('connect at the exact capability boundaries, %s', (mode) => {
  const connect = (sc: Scenario, capabilities: string[]) => {
    const peer = sc.open('@(budget/p)');
    return { peer, reply: peer.ask('hub:connect', null, { metadata: { protocolVersion: PROTOCOL_VERSION, capabilities } }) };
  };

  it('the largest capability set is accepted and survives hibernation', () => {
    const sc = new Scenario(mode);
    const { peer, reply } = connect(sc, maxCaps());
    expect(reply.type).toBe('hub:connected');
    peer.heartbeatOk();
    expect(peer.ask('hub:register', { actorAddress: '@(budget/p)', capabilities: [] }).type).toBe('hub:registered');
  });

  it.each([
    ['one capability too many', [...maxCaps().slice(1).map(() => 'c'), 'c', 'c']],
    ['one capability one character too long', ['x'.repeat(129)]],
    ['one character too many in total', [...Array.from({ length: 16 }, () => 'x'.repeat(128)), 'y']],
    ['the report: 64 capabilities of 256 characters', Array.from({ length: 64 }, (_, i) => `${i}`.padEnd(256, 'c'))],
  ])('%s is refused, never acknowledged, and the socket can still connect', (_label, capabilities) => {
    const sc = new Scenario(mode);
    const { peer, reply } = connect(sc, capabilities);
    expectError(reply, 'invalid_message');
    expect(reply.payload.details.issues[0].path).toMatch(/^metadata\.capabilities/);
    expect(sc.state(peer)).toBe('connecting');
    expect(peer.ask('hub:connect', null, { metadata: { protocolVersion: PROTOCOL_VERSION } }).type).toBe('hub:connected');
    peer.heartbeatOk();
  });
});
