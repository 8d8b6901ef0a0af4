import { describe, expect } from 'vitest';
import { bothWays, expectError, type Scenario } from './core-harness';

/**
 * The frames 0.1.0 clients send that a strict reading of the envelope rules
 * would refuse (contract §4, "0.1.0 client compatibility"; docs/PROTOCOL.md).
 * Each case is the exact shape those clients put on the wire.
 */

const HUB = '@(cloudflare/signal-hub)';
/** The Node client's fixed sender for connect, heartbeat and disconnect. */
const FIXED = '@(local/signal-hub-client)';

/** A 0.1.0 session: throw-away identity, then a register sent from the registered address. */
const legacyActor = (sc: Scenario, n: number, address: string, capabilities: string[] = []) => {
  const peer = sc.connect(`@(local/client-${n})`, {
    authToken: 'ignored-with-auth-off',
    capabilities: ['send', 'broadcast', 'register'],
    clientMetadata: { userAgent: 'SignalHubClient/0.1.0', platform: 'node' },
  });
  const reg = peer.ask('hub:register', { actorAddress: address, capabilities, metadata: {}, ttlSeconds: 300 }, { from: address, ttl: 5000 });
  expect(reg.type, JSON.stringify(reg.payload)).toBe('hub:registered');
  return { peer, reg };
};

describe('0.1.0 register and replies', () => {
  bothWays('hub:registered carries its fields in the payload and, for 0.1.0 clients, in metadata too', (sc) => {
    const { reg } = legacyActor(sc, 1, '@(local/test-seag)', ['compute']);
    expect(reg.to).toBe('@(local/test-seag)');
    expect(reg.payload).toMatchObject({ actorAddress: '@(local/test-seag)', version: 1 });
    expect(reg.metadata).toEqual({
      actorAddress: '@(local/test-seag)',
      expiresAt: reg.payload.expiresAt,
      renewalToken: reg.payload.renewalToken,
      version: 1,
    });
  });

  bothWays('a session registers several addresses, each from itself, and sends as any of them', (sc) => {
    const { peer: a } = legacyActor(sc, 1, '@(local/a1)');
    const second = a.ask('hub:register', { actorAddress: '@(local/a2)', capabilities: [] }, { from: '@(local/a2)' });
    expect(second.type).toBe('hub:registered');
    const { peer: b } = legacyActor(sc, 2, '@(local/b)');
    for (const from of ['@(local/a1)', '@(local/a2)']) {
      const ack = a.ask('hub:send', { to: '@(local/b)', type: 'app.x', data: from }, { from, to: HUB });
      expect(ack.type).toBe('hub:delivery_ack');
    }
    expect(b.inbox().filter((m) => m.type === 'app.x').map((m) => m.from)).toEqual(['@(local/a1)', '@(local/a2)']);
  });
});

describe('0.1.0 unregister and renew (payload null)', () => {
  bothWays('hub:unregister with a null payload unregisters the address in from', (sc) => {
    const { peer: a } = legacyActor(sc, 1, '@(local/gone)');
    a.request('hub:unregister', null, { from: '@(local/gone)', pattern: 'tell' });
    expect(a.inbox()).toEqual([]);
    expect(sc.fake.registry.all()).toEqual([]);
    // As an ask it is answered like the payload form.
    legacyActor(sc, 2, '@(local/gone2)');
    const c = sc.connect('@(local/client-3)');
    c.ask('hub:register', { actorAddress: '@(local/c)', capabilities: [] }, { from: '@(local/c)' });
    const reply = c.ask('hub:unregister', null, { from: '@(local/c)' });
    expect(reply).toMatchObject({ type: 'hub:unregistered', payload: { actorAddress: '@(local/c)' } });
  });

  bothWays('hub:unregister with a null payload cannot remove another session\'s address', (sc) => {
    legacyActor(sc, 1, '@(local/owned)');
    const mallory = sc.connect('@(local/client-2)');
    const reply = mallory.ask('hub:unregister', null, { from: '@(local/owned)' });
    expectError(reply, 'unauthorized');
    expect(reply.payload.reason).toBe('not_owner');
    expect(sc.fake.registry.all().map((r) => r.address)).toEqual(['@(local/owned)']);
  });

  bothWays('the 0.1.0 renew (null payload, token in metadata, tell on every heartbeat) keeps renewing', (sc) => {
    const { peer: a, reg } = legacyActor(sc, 1, '@(local/renewed)');
    const firstToken = reg.metadata.renewalToken as string;
    let expiresAt = reg.payload.expiresAt as number;
    // The client keeps sending the token of its first registration; the hub rotates it each time.
    for (let beat = 0; beat < 3; beat++) {
      sc.advance(20_000);
      a.request('hub:renew', null, { from: '@(local/renewed)', pattern: 'tell', metadata: { renewalToken: firstToken } });
      expect(a.inbox()).toEqual([]);
      const row = sc.fake.registry.all().find((r) => r.address === '@(local/renewed)');
      expect(row?.expiresAt).toBe(sc.now() + 300_000);
      expect(row!.expiresAt).toBeGreaterThan(expiresAt);
      expiresAt = row!.expiresAt;
    }
    // Without any token (the client read none), the address in from decides.
    sc.advance(20_000);
    const asked = a.ask('hub:renew', null, { from: '@(local/renewed)' });
    expect(asked).toMatchObject({ type: 'hub:renewed', payload: { actorAddress: '@(local/renewed)', expiresAt: sc.now() + 300_000 } });
  });

  bothWays('the 0.1.0 renew cannot renew an address this session does not hold', (sc) => {
    legacyActor(sc, 1, '@(local/theirs)');
    const mallory = sc.connect('@(local/client-2)');
    const reply = mallory.ask('hub:renew', null, { from: '@(local/theirs)', metadata: { renewalToken: 'guess' } });
    expectError(reply, 'unauthorized');
    expect(reply.payload.reason).toBe('invalid_renewal_token');
  });

  bothWays('the payload form of renew stays strict: a rotated-away token is refused', (sc) => {
    const { peer: a, reg } = legacyActor(sc, 1, '@(local/strict)');
    const renewed = a.ask('hub:renew', { renewalToken: reg.payload.renewalToken }, { from: '@(local/strict)' });
    expect(renewed.type).toBe('hub:renewed');
    const stale = a.ask('hub:renew', { renewalToken: reg.payload.renewalToken }, { from: '@(local/strict)' });
    expectError(stale, 'unauthorized');
  });
});

describe('0.1.0 sends and heartbeats', () => {
  bothWays('an ask to a non-canonical address is answered hub:unknown_actor naming the address format', (sc) => {
    const { peer: a } = legacyActor(sc, 1, '@(local/asker)');
    for (const to of ['runtime:fake/actor-999', 'local/no-wrapper', '@(unclosed', '@()']) {
      const reply = a.ask('hub:send', { to, type: 'app.x', data: 1 }, { from: '@(local/asker)', ttl: 10_000 });
      expectError(reply, 'unknown_actor');
      expect(reply.payload.actorAddress).toBe(to);
      expect(reply.payload.message).toContain('not registered');
      expect(reply.payload.resolution).toContain('@(path)');
    }
    // A tell to one is dropped without a reply, like a tell to an unknown actor.
    a.request('hub:send', { to: 'runtime:fake/actor-999', type: 'app.x', data: 1 }, { from: '@(local/asker)', pattern: 'tell' });
    expect(a.inbox()).toEqual([]);
  });

  bothWays('heartbeats from the fixed client address keep a session alive past the heartbeat timeout', (sc) => {
    const { peer: a } = legacyActor(sc, 1, '@(local/beating)');
    const timeout = sc.config.heartbeatTimeoutMs;
    for (let t = 0; t < 3 * timeout; t += sc.config.heartbeatIntervalMs) {
      sc.advance(sc.config.heartbeatIntervalMs);
      a.request('hub:heartbeat', null, { from: FIXED, pattern: 'tell' });
      const replies = a.inbox();
      expect(replies.map((m) => m.type)).toEqual(['hub:heartbeat_ack']);
    }
    expect(sc.state(a)).toBe('registered');
    expect(a.socket.closed).toBeNull();
  });

  bothWays('hub:disconnect from the fixed address is acknowledged, then the socket closes 1000', (sc) => {
    const { peer: a } = legacyActor(sc, 1, '@(local/leaving)');
    a.request('hub:disconnect', null, { from: FIXED, pattern: 'tell' });
    const replies = a.inbox();
    // The acknowledgement comes from the session machine, addressed to the session identity.
    expect(replies.map((m) => [m.type, m.to, m.payload])).toEqual([['hub:disconnect', '@(local/client-1)', { acknowledged: true }]]);
    sc.completeCloses();
    expect(a.socket.closed?.code).toBe(1000);
    expect(sc.fake.registry.all()).toEqual([]);
  });
});
