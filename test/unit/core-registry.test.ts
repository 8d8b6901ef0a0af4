import { describe, expect } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/config';
import { configWith } from '../../harness/fake-object';
import { bothWays, expectError, type Msg, type Peer, type Scenario } from './core-harness';

/** The registry rules of §5, driven through the core. */

const addressesOf = (reply: Msg, key: 'address' | 'actorAddress'): string[] => reply.payload.actors.map((a: Msg) => a[key]);

const register = (peer: Peer, actorAddress: string, capabilities: string[] = [], extra: { ttlSeconds?: number; metadata?: Record<string, unknown> } = {}) => {
  const reply = peer.ask('hub:register', { actorAddress, capabilities, ...extra });
  expect(reply.type, JSON.stringify(reply.payload)).toBe('hub:registered');
  return reply;
};

/** Registry checks never spend more tokens than the default burst allows within one simulated second. */
const breathe = (sc: Scenario) => sc.advance(2_000);

describe('register (§5)', () => {
  bothWays('hub:registered carries address, expiry (default TTL 300 s), renewal token and version', (sc) => {
    const a = sc.connect('@(a)');
    const id = a.request('hub:register', { actorAddress: '@(a)', capabilities: ['chat'], metadata: { role: 'x' } });
    const reply = a.replyTo(id);
    expect(reply).toMatchObject({ type: 'hub:registered', correlationId: id, to: '@(a)' });
    expect(reply.payload).toEqual({
      actorAddress: '@(a)',
      expiresAt: sc.now() + 300_000,
      renewalToken: expect.stringMatching(/\S/),
      version: 1,
    });
    const row = sc.fake.registry.get('@(a)')!;
    expect(row).toMatchObject({ capabilities: ['chat'], metadata: { role: 'x' }, connId: a.connId });
  });

  bothWays('ttlSeconds sets the expiry and is clamped to MAX_ACTOR_TTL', (sc) => {
    const a = sc.connect('@(a)');
    expect(register(a, '@(a/short)', [], { ttlSeconds: 10 }).payload.expiresAt).toBe(sc.now() + 10_000);
    expect(register(a, '@(a/long)', [], { ttlSeconds: 999_999 }).payload.expiresAt).toBe(sc.now() + 3_600_000);
    expect(register(a, '@(a/max)', [], { ttlSeconds: 3600 }).payload.expiresAt).toBe(sc.now() + 3_600_000);
  });

  bothWays(
    'configured DEFAULT_ACTOR_TTL and MAX_ACTOR_TTL are used',
    (sc) => {
      const a = sc.connect('@(a)');
      expect(register(a, '@(a/1)').payload.expiresAt).toBe(sc.now() + 30_000);
      expect(register(a, '@(a/2)', [], { ttlSeconds: 500 }).payload.expiresAt).toBe(sc.now() + 60_000);
    },
    configWith({ defaultActorTtlSeconds: 30, maxActorTtlSeconds: 60 }),
  );

  bothWays('every registration gets its own renewal token; re-registering bumps the version', (sc) => {
    const a = sc.connect('@(a)');
    const one = register(a, '@(a/1)');
    const two = register(a, '@(a/2)');
    expect(one.payload.renewalToken).not.toBe(two.payload.renewalToken);
    const again = register(a, '@(a/1)', ['new']);
    expect(again.payload.version).toBe(2);
    expect(again.payload.renewalToken).not.toBe(one.payload.renewalToken);
    expect(sc.fake.registry.get('@(a/1)')!.capabilities).toEqual(['new']);
  });
});

describe('unregister (§5)', () => {
  bothWays('the owner unregisters; an ask is answered with hub:unregistered', (sc) => {
    const a = sc.connect('@(a)');
    register(a, '@(a/svc)');
    const id = a.request('hub:unregister', { actorAddress: '@(a/svc)' });
    expect(a.replyTo(id)).toMatchObject({ type: 'hub:unregistered', correlationId: id, payload: { actorAddress: '@(a/svc)' } });
    expect(sc.fake.registry.all()).toEqual([]);
    expect(a.ask('hub:discover', { pattern: '*' }).payload.actors).toEqual([]);
  });

  bothWays('a tell unregister removes the entry without a reply', (sc) => {
    const a = sc.connect('@(a)');
    register(a, '@(a/svc)');
    a.request('hub:unregister', { actorAddress: '@(a/svc)' }, { pattern: 'tell' });
    expect(a.inbox()).toEqual([]);
    expect(sc.fake.registry.all()).toEqual([]);
  });

  bothWays("another session's address is refused with hub:unauthorized and stays registered", (sc) => {
    const a = sc.connect('@(a)');
    const b = sc.connect('@(b)');
    register(a, '@(a/svc)');
    const reply = b.ask('hub:unregister', { actorAddress: '@(a/svc)' });
    expectError(reply, 'unauthorized');
    expect(typeof reply.payload.action).toBe('string');
    expect(typeof reply.payload.reason).toBe('string');
    expect(sc.fake.registry.get('@(a/svc)')?.connId).toBe(a.connId);
    expect(a.socket.closed).toBeNull();
  });

  bothWays('unregistering an address nobody holds succeeds idempotently', (sc) => {
    const a = sc.connect('@(a)');
    expect(a.ask('hub:unregister', { actorAddress: '@(nobody)' }).type).toBe('hub:unregistered');
    register(a, '@(a/x)');
    a.ask('hub:unregister', { actorAddress: '@(a/x)' });
    expect(a.ask('hub:unregister', { actorAddress: '@(a/x)' }).type).toBe('hub:unregistered');
  });
});

describe('renew (§5)', () => {
  bothWays('renew extends the expiry by the TTL and rotates the token; the old token stops working', (sc) => {
    const a = sc.connect('@(a)');
    const reg = register(a, '@(a/svc)', [], { ttlSeconds: 100 });
    sc.advance(40_000);
    a.heartbeatOk();
    const id = a.request('hub:renew', { renewalToken: reg.payload.renewalToken });
    const renewed = a.replyTo(id);
    expect(renewed).toMatchObject({ type: 'hub:renewed', correlationId: id });
    expect(renewed.payload).toEqual({
      actorAddress: '@(a/svc)',
      expiresAt: sc.now() + 100_000,
      renewalToken: expect.stringMatching(/\S/),
    });
    expect(renewed.payload.renewalToken).not.toBe(reg.payload.renewalToken);
    const stale = a.ask('hub:renew', { renewalToken: reg.payload.renewalToken });
    expectError(stale, 'unauthorized');
    const fresh = a.ask('hub:renew', { renewalToken: renewed.payload.renewalToken });
    expect(fresh.type).toBe('hub:renewed');
    // The renewal really keeps the actor past its original expiry.
    sc.advance(35_000);
    a.heartbeatOk();
    sc.advance(35_000);
    a.heartbeatOk();
    expect(addressesOf(a.ask('hub:discover', { pattern: 'a/*' }), 'address')).toEqual(['@(a/svc)']);
  });

  bothWays('an unknown token and a token of another session are refused', (sc) => {
    const a = sc.connect('@(a)');
    const b = sc.connect('@(b)');
    const reg = register(a, '@(a/svc)');
    expectError(b.ask('hub:renew', { renewalToken: 'no-such-token' }), 'unauthorized');
    expectError(b.ask('hub:renew', { renewalToken: reg.payload.renewalToken }), 'unauthorized');
    // The owner's token was not consumed by the refused attempts.
    expect(a.ask('hub:renew', { renewalToken: reg.payload.renewalToken }).type).toBe('hub:renewed');
  });

  bothWays('a token of an expired registration is refused', (sc) => {
    const a = sc.connect('@(a)');
    const reg = register(a, '@(a/svc)', [], { ttlSeconds: 5 });
    sc.advance(5_000);
    expectError(a.ask('hub:renew', { renewalToken: reg.payload.renewalToken }), 'unauthorized');
  });
});

describe('discover (§5)', () => {
  const populate = (a: Peer) => {
    register(a, '@(svc/eu/db)', ['sql', 'read'], { metadata: { zone: 'eu' } });
    register(a, '@(svc/us/db)', ['sql']);
    register(a, '@(svc/us/cache)', ['kv']);
    register(a, '@(tools/svc)', ['sql']);
    register(a, '@(svcx)', []);
  };

  bothWays('`*` matches any run including `/`; the @( ) wrapper is optional', (sc) => {
    const a = sc.connect('@(a)');
    populate(a);
    const find = (pattern: string, capability?: string) =>
      addressesOf(a.ask('hub:discover', capability ? { pattern, capability } : { pattern }), 'address');
    expect(find('svc/*')).toEqual(['@(svc/eu/db)', '@(svc/us/cache)', '@(svc/us/db)']);
    expect(find('@(svc/*)')).toEqual(['@(svc/eu/db)', '@(svc/us/cache)', '@(svc/us/db)']);
    expect(find('svc/*/db')).toEqual(['@(svc/eu/db)', '@(svc/us/db)']);
    expect(find('*db')).toEqual(['@(svc/eu/db)', '@(svc/us/db)']);
    expect(find('*svc*')).toEqual(['@(svc/eu/db)', '@(svc/us/cache)', '@(svc/us/db)', '@(svcx)', '@(tools/svc)']);
    expect(find('svc')).toEqual([]);
    expect(find('svcx')).toEqual(['@(svcx)']);
    expect(find('@(svcx)')).toEqual(['@(svcx)']);
    breathe(sc);
    expect(find('*', 'sql')).toEqual(['@(svc/eu/db)', '@(svc/us/db)', '@(tools/svc)']);
    expect(find('svc/*', 'read')).toEqual(['@(svc/eu/db)']);
    expect(find('*', 'none')).toEqual([]);
  });

  bothWays('discovered actors carry address, capabilities and metadata only', (sc) => {
    const a = sc.connect('@(a)');
    const reg = register(a, '@(svc/eu/db)', ['sql'], { metadata: { zone: 'eu' } });
    const id = a.request('hub:discover', { pattern: 'svc/*' });
    const reply = a.replyTo(id);
    expect(reply).toMatchObject({ type: 'hub:discovered', correlationId: id });
    expect(reply.payload).toEqual({
      actors: [{ address: '@(svc/eu/db)', capabilities: ['sql'], metadata: { zone: 'eu' } }],
      hasMore: false,
    });
    const raw = a.socket.received.at(-1)!;
    expect(raw).not.toContain(`"${reg.payload.renewalToken}"`);
    expect(raw).not.toContain(`"${a.connId}"`);
    expect(raw).not.toMatch(/renewalToken|connId|sessionId/);
  });

  bothWays(
    'limit caps the answer at 100 and hasMore says whether more matched',
    (sc) => {
      const a = sc.connect('@(a)');
      for (let i = 0; i < 105; i++) register(a, `@(n/${String(i).padStart(3, '0')})`);
      const all = a.ask('hub:discover', { pattern: 'n/*', limit: 500 });
      expect(all.payload.actors).toHaveLength(100);
      expect(all.payload.hasMore).toBe(true);
      const dflt = a.ask('hub:discover', { pattern: 'n/*' });
      expect(dflt.payload.actors.length).toBeLessThanOrEqual(100);
      expect(dflt.payload.hasMore).toBe(true);
      const five = a.ask('hub:discover', { pattern: 'n/*', limit: 5 });
      expect(addressesOf(five, 'address')).toEqual(['@(n/000)', '@(n/001)', '@(n/002)', '@(n/003)', '@(n/004)']);
      expect(five.payload.hasMore).toBe(true);
      const exact = a.ask('hub:discover', { pattern: 'n/10*', limit: 5 });
      expect(exact.payload.actors).toHaveLength(5);
      expect(exact.payload.hasMore).toBe(false);
      const enough = a.ask('hub:discover', { pattern: 'n/10*', limit: 6 });
      expect(enough.payload.hasMore).toBe(false);
    },
    configWith({ rateLimitBurst: 1000, rateLimitPerSecond: 1000 }),
  );

  bothWays('expired actors are invisible to discover at once', (sc) => {
    const a = sc.connect('@(a)');
    register(a, '@(t/short)', [], { ttlSeconds: 1 });
    register(a, '@(t/long)');
    // Skip the clock without the alarm: visibility must not depend on cleanup having run.
    sc.skip(1_000);
    expect(sc.fake.registry.all().map((r) => r.address)).toContain('@(t/short)');
    expect(addressesOf(a.ask('hub:discover', { pattern: 't/*' }), 'address')).toEqual(['@(t/long)']);
  });
});

describe('list_actors (§5)', () => {
  bothWays('lists sorted by address with total, offset, limit and hasMore', (sc) => {
    const a = sc.connect('@(a)');
    const b = sc.connect('@(b)');
    register(b, '@(m)', ['x'], { metadata: { k: 1 } });
    register(a, '@(z)');
    register(a, '@(c)');
    register(b, '@(a/1)');
    const id = a.request('hub:list_actors', {});
    const page = a.replyTo(id);
    expect(page).toMatchObject({ type: 'hub:actor_list', correlationId: id });
    expect(addressesOf(page, 'actorAddress')).toEqual(['@(a/1)', '@(c)', '@(m)', '@(z)']);
    expect(page.payload).toMatchObject({ total: 4, offset: 0, hasMore: false });
    expect(page.payload.limit).toBeGreaterThanOrEqual(4);
    const m = page.payload.actors[2];
    expect(m).toEqual({
      actorAddress: '@(m)',
      capabilities: ['x'],
      metadata: { k: 1 },
      registeredAt: expect.any(Number),
      expiresAt: expect.any(Number),
      version: 1,
    });

    const first = a.ask('hub:list_actors', { offset: 0, limit: 2 });
    expect(addressesOf(first, 'actorAddress')).toEqual(['@(a/1)', '@(c)']);
    expect(first.payload).toMatchObject({ total: 4, offset: 0, limit: 2, hasMore: true });
    const second = a.ask('hub:list_actors', { offset: 2, limit: 2 });
    expect(addressesOf(second, 'actorAddress')).toEqual(['@(m)', '@(z)']);
    expect(second.payload).toMatchObject({ total: 4, offset: 2, limit: 2, hasMore: false });
    const beyond = a.ask('hub:list_actors', { offset: 10 });
    expect(beyond.payload).toMatchObject({ actors: [], total: 4, offset: 10, hasMore: false });
    expect(a.ask('hub:list_actors', null).payload.total).toBe(4);
  });

  bothWays('renewal tokens, connection ids and session ids never appear in the frame', (sc) => {
    const a = sc.connect('@(a)');
    const b = sc.connect('@(b)');
    const tokens = [register(a, '@(a)').payload.renewalToken, register(b, '@(b)').payload.renewalToken];
    const sessionIds = [a.connected!.payload.sessionId, b.connected!.payload.sessionId];
    a.ask('hub:list_actors', {});
    const raw = a.socket.received.at(-1)!;
    expect(JSON.parse(raw).type).toBe('hub:actor_list');
    for (const secret of [...tokens, ...sessionIds, a.connId, b.connId]) expect(raw).not.toContain(`"${secret}"`);
    expect(raw).not.toMatch(/renewalToken|connId|sessionId/);
  });

  bothWays('expired actors are invisible to list_actors at once and removed by the alarm', (sc) => {
    const a = sc.connect('@(a)');
    register(a, '@(x/short)', [], { ttlSeconds: 2 });
    register(a, '@(x/long)', [], { ttlSeconds: 600 });
    sc.skip(2_000);
    const list = a.ask('hub:list_actors', {});
    expect(list.payload.total).toBe(1);
    expect(addressesOf(list, 'actorAddress')).toEqual(['@(x/long)']);
    expect(sc.fake.registry.all().map((r) => r.address).sort()).toEqual(['@(x/long)', '@(x/short)']);
    // The alarm removes it no later than CLEANUP_INTERVAL_MS after expiry.
    for (let t = 0; t < DEFAULT_CONFIG.cleanupIntervalMs; t += 30_000) {
      sc.advance(30_000);
      a.heartbeatOk();
    }
    expect(sc.fake.registry.all().map((r) => r.address)).toEqual(['@(x/long)']);
  });
});

describe('alarm-driven cleanup (§5)', () => {
  // A long heartbeat timeout keeps the owner connected, so only cleanup can remove the row.
  const patient = configWith({ heartbeatIntervalMs: 600_000, heartbeatTimeoutMs: 1_800_000 });

  bothWays(
    'an expired row is physically removed by the alarm even with no traffic',
    (sc) => {
      const a = sc.connect('@(a)');
      register(a, '@(gone/soon)', [], { ttlSeconds: 3 });
      register(a, '@(stays)', [], { ttlSeconds: 3600 });
      expect(sc.fake.alarmAt).not.toBeNull();
      expect(sc.fake.alarmAt!).toBeLessThanOrEqual(sc.now() + 3_000 + DEFAULT_CONFIG.cleanupIntervalMs);
      sc.advance(3_000 + DEFAULT_CONFIG.cleanupIntervalMs);
      expect(a.socket.closed).toBeNull();
      expect(sc.fake.registry.all().map((r) => r.address)).toEqual(['@(stays)']);
    },
    patient,
  );

  bothWays(
    'cleanup follows CLEANUP_INTERVAL_MS even when the first alarm is missed',
    (sc) => {
      const a = sc.connect('@(a)');
      register(a, '@(gone/soon)', [], { ttlSeconds: 3 });
      // The alarm fires late (runtime delay); the next one must still come.
      sc.skip(3_500);
      sc.advance(30_000);
      expect(sc.fake.registry.all()).toEqual([]);
      expect(a.socket.closed).toBeNull();
    },
    configWith({ heartbeatIntervalMs: 600_000, heartbeatTimeoutMs: 1_800_000, cleanupIntervalMs: 30_000 }),
  );
});

describe('renewOnHeartbeat (§5)', () => {
  bothWays('metadata.renewOnHeartbeat on the request makes heartbeats renew the registration', (sc) => {
    const a = sc.connect('@(a)');
    const reg = a.ask('hub:register', { actorAddress: '@(a/auto)', capabilities: [], ttlSeconds: 10 }, { metadata: { renewOnHeartbeat: true } });
    expect(reg.type).toBe('hub:registered');
    register(a, '@(a/manual)', [], { ttlSeconds: 10 });
    sc.advance(8_000);
    a.heartbeatOk();
    expect(sc.fake.registry.get('@(a/auto)')!.expiresAt).toBe(sc.now() + 10_000);
    sc.advance(8_000);
    a.heartbeatOk();
    const found = addressesOf(a.ask('hub:discover', { pattern: 'a/*' }), 'address');
    expect(found).toEqual(['@(a/auto)']);
  });

  bothWays('a registration without the flag is not renewed by heartbeats', (sc) => {
    const a = sc.connect('@(a)');
    const reg = register(a, '@(a/plain)', [], { ttlSeconds: 10 });
    sc.advance(5_000);
    a.heartbeatOk();
    expect(sc.fake.registry.get('@(a/plain)')!.expiresAt).toBe(reg.payload.expiresAt);
  });
});

describe('registry capacity (§5)', () => {
  bothWays(
    'a new address beyond ACTOR_REGISTRY_LIMIT is registry_full; re-registering is allowed at capacity',
    (sc) => {
      const a = sc.connect('@(a)');
      const b = sc.connect('@(b)');
      register(a, '@(r/1)');
      register(a, '@(r/2)');
      register(b, '@(r/3)');
      const full = a.ask('hub:register', { actorAddress: '@(r/4)', capabilities: [] });
      expectError(full, 'registry_full');
      expect(full.payload.details).toEqual({ limit: 3 });
      expect(full.payload.retryable).toBe(true);
      expect(sc.fake.registry.all()).toHaveLength(3);
      // Re-registering an existing address: by its owner, and by another session (last one wins).
      expect(register(a, '@(r/1)', ['again']).payload.version).toBe(2);
      expect(register(a, '@(r/3)').payload.version).toBe(2);
      expect(b.socket.closed?.code).toBe(4409);
      // Freed capacity is usable again.
      a.ask('hub:unregister', { actorAddress: '@(r/2)' });
      expect(register(a, '@(r/4)').payload.version).toBe(1);
    },
    configWith({ registryLimit: 3 }),
  );

  bothWays(
    'expired registrations do not count against the limit',
    (sc) => {
      const a = sc.connect('@(a)');
      register(a, '@(r/1)', [], { ttlSeconds: 1 });
      register(a, '@(r/2)');
      expectError(a.ask('hub:register', { actorAddress: '@(r/3)', capabilities: [] }), 'registry_full');
      sc.skip(1_000);
      expect(register(a, '@(r/3)').type).toBe('hub:registered');
    },
    configWith({ registryLimit: 2 }),
  );
});

describe('registry survives hibernation (§8)', () => {
  bothWays('registrations made before an eviction are listed and owned after it', (sc) => {
    const a = sc.connect('@(a)');
    register(a, '@(a/1)', ['c1']);
    register(a, '@(a/2)', ['c2']);
    sc.fake.hibernate();
    const list = a.ask('hub:list_actors', {});
    expect(addressesOf(list, 'actorAddress')).toEqual(['@(a/1)', '@(a/2)']);
    sc.fake.hibernate();
    // Ownership is still known: the owner may unregister, a stranger may not.
    const b = sc.connect('@(b)');
    expectError(b.ask('hub:unregister', { actorAddress: '@(a/1)' }), 'unauthorized');
    expect(a.ask('hub:unregister', { actorAddress: '@(a/1)' }).type).toBe('hub:unregistered');
  });
});
