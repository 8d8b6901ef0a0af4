import { describe, expect, it } from 'vitest';
import { HUB_ADDRESS } from '../../src/protocol/envelope';
import { WorkerdClient, MODES, connectionIds, expectError, freshHub, type Frame } from './hub-client';

const DEFAULT_TTL_MS = 300_000;
const MAX_TTL_MS = 3_600_000;

const addressesOf = (frame: Frame): string[] =>
  frame.payload.actors.map((a: { address?: string; actorAddress?: string }) => a.address ?? a.actorAddress);

/** Registers `count` addresses spread over several sessions so no session runs out of rate-limit tokens. */
const populate = async (hub: string, prefix: string, count: number): Promise<WorkerdClient[]> => {
  const perSession = 15;
  const clients: WorkerdClient[] = [];
  for (let start = 0; start < count; start += perSession) {
    const client = await WorkerdClient.connected(hub, `@(${prefix}/owner-${start})`);
    clients.push(client);
    const ids: string[] = [];
    for (let i = start; i < Math.min(count, start + perSession); i++) {
      ids.push(
        client.request('hub:register', {
          actorAddress: `@(${prefix}/${String(i).padStart(4, '0')})`,
          capabilities: i % 2 === 0 ? ['even'] : ['odd'],
        }),
      );
    }
    for (const id of ids) expect((await client.reply(id)).type).toBe('hub:registered');
  }
  return clients;
};

describe.each(MODES)('registry, $mode (contract §5)', ({ between }) => {
  it('registers with the default TTL and answers a correlated hub:registered', async () => {
    const hub = freshHub('reg');
    const a = await WorkerdClient.connected(hub, '@(reg/a)');
    await between(hub);
    const before = Date.now();
    const id = a.request('hub:register', { actorAddress: '@(reg/a)', capabilities: ['chat'], metadata: { zone: 'eu' } });
    const reply = await a.reply(id);
    const after = Date.now();
    expect(reply).toMatchObject({
      type: 'hub:registered',
      from: HUB_ADDRESS,
      to: '@(reg/a)',
      correlationId: id,
      payload: { actorAddress: '@(reg/a)', version: 1 },
    });
    expect(reply.payload.expiresAt).toBeGreaterThanOrEqual(before + DEFAULT_TTL_MS);
    expect(reply.payload.expiresAt).toBeLessThanOrEqual(after + DEFAULT_TTL_MS);
    expect(typeof reply.payload.renewalToken).toBe('string');
    expect(reply.payload.renewalToken.length).toBeGreaterThan(0);

    await between(hub);
    const list = await a.ask('hub:list_actors', {});
    expect(list.payload.actors).toEqual([
      {
        actorAddress: '@(reg/a)',
        capabilities: ['chat'],
        metadata: { zone: 'eu' },
        registeredAt: expect.any(Number),
        expiresAt: reply.payload.expiresAt,
        version: 1,
      },
    ]);
    expect(list.payload.actors[0].registeredAt).toBeGreaterThanOrEqual(before);
    expect(list.payload.actors[0].registeredAt).toBeLessThanOrEqual(after);
  });

  it('honours ttlSeconds and clamps it to MAX_ACTOR_TTL', async () => {
    const hub = freshHub('ttl');
    const a = await WorkerdClient.connected(hub, '@(ttl/a)');
    await between(hub);
    const cases: [string, number, number][] = [
      ['@(ttl/short)', 10, 10_000],
      ['@(ttl/max)', 3600, MAX_TTL_MS],
      ['@(ttl/huge)', 999_999, MAX_TTL_MS],
    ];
    for (const [actorAddress, ttlSeconds, expectedMs] of cases) {
      const before = Date.now();
      const reply = await a.ask('hub:register', { actorAddress, capabilities: [], ttlSeconds });
      const after = Date.now();
      expect(reply.payload.expiresAt).toBeGreaterThanOrEqual(before + expectedMs);
      expect(reply.payload.expiresAt).toBeLessThanOrEqual(after + expectedMs);
    }
    await between(hub);
    const list = await a.ask('hub:list_actors', {});
    const huge = list.payload.actors.find((x: { actorAddress: string }) => x.actorAddress === '@(ttl/huge)');
    expect(huge.expiresAt - huge.registeredAt).toBe(MAX_TTL_MS);
  });

  it('re-registers on the same connection with a higher version and new details', async () => {
    const hub = freshHub('rereg');
    const a = await WorkerdClient.connected(hub, '@(rr/a)');
    const first = await a.ask('hub:register', { actorAddress: '@(rr/a)', capabilities: ['v1'] });
    await between(hub);
    const second = await a.ask('hub:register', { actorAddress: '@(rr/a)', capabilities: ['v2'], metadata: { n: 2 } });
    expect(second.payload.version).toBe(first.payload.version + 1);
    expect(second.payload.renewalToken).not.toBe(first.payload.renewalToken);
    await between(hub);
    const list = await a.ask('hub:list_actors', {});
    expect(list.payload.total).toBe(1);
    expect(list.payload.actors[0]).toMatchObject({ capabilities: ['v2'], metadata: { n: 2 }, version: 2 });
    expect(a.closed).toBeNull();
  });

  it('lets only the owner unregister; a tell unregisters silently; unknown addresses succeed', async () => {
    const hub = freshHub('unreg');
    const owner = await WorkerdClient.connected(hub, '@(ur/owner)');
    const other = await WorkerdClient.connected(hub, '@(ur/other)');
    await owner.ask('hub:register', { actorAddress: '@(ur/one)', capabilities: [] });
    await owner.ask('hub:register', { actorAddress: '@(ur/two)', capabilities: [] });
    await between(hub);

    const stealId = other.request('hub:unregister', { actorAddress: '@(ur/one)' });
    expectError(await other.reply(stealId), 'hub:unauthorized', 'unauthorized', stealId);
    expect(addressesOf(await other.ask('hub:list_actors', {}))).toEqual(['@(ur/one)', '@(ur/two)']);

    await between(hub);
    const done = await owner.ask('hub:unregister', { actorAddress: '@(ur/one)' });
    expect(done).toMatchObject({ type: 'hub:unregistered', payload: { actorAddress: '@(ur/one)' } });

    const tellId = owner.request('hub:unregister', { actorAddress: '@(ur/two)' }, { pattern: 'tell' });
    await owner.expectAlive();
    expect(owner.frames.filter((f) => f.correlationId === tellId)).toEqual([]);

    const nobody = await owner.ask('hub:unregister', { actorAddress: '@(ur/never)' });
    expect(nobody.type).toBe('hub:unregistered');

    await between(hub);
    expect((await other.ask('hub:list_actors', {})).payload.total).toBe(0);
  });

  it('renews with a rotating token; the old, unknown or foreign token is refused', async () => {
    const hub = freshHub('renew');
    const a = await WorkerdClient.connected(hub, '@(rn/a)');
    const b = await WorkerdClient.connected(hub, '@(rn/b)');
    const reg = await a.ask('hub:register', { actorAddress: '@(rn/a)', capabilities: [], ttlSeconds: 60 });
    await between(hub);

    const before = Date.now();
    const id = a.request('hub:renew', { renewalToken: reg.payload.renewalToken });
    const renewed = await a.reply(id);
    expect(renewed).toMatchObject({ type: 'hub:renewed', correlationId: id, payload: { actorAddress: '@(rn/a)' } });
    expect(renewed.payload.renewalToken).not.toBe(reg.payload.renewalToken);
    expect(renewed.payload.expiresAt).toBeGreaterThanOrEqual(Math.max(reg.payload.expiresAt, before + 60_000));
    expect(renewed.payload.expiresAt).toBeLessThanOrEqual(Date.now() + 60_000);

    await between(hub);
    for (const [client, token] of [
      [a, reg.payload.renewalToken],
      [a, 'no-such-token'],
      [b, renewed.payload.renewalToken],
    ] as const) {
      const rid = client.request('hub:renew', { renewalToken: token });
      expectError(await client.reply(rid), 'hub:unauthorized', 'unauthorized', rid);
    }

    const again = await a.ask('hub:renew', { renewalToken: renewed.payload.renewalToken });
    expect(again.type).toBe('hub:renewed');
    const list = await a.ask('hub:list_actors', {});
    expect(list.payload.actors[0].expiresAt).toBe(again.payload.expiresAt);
  });

  it('discovers by glob over the path, with or without the @( ) wrapper, and by capability', async () => {
    const hub = freshHub('discover');
    const a = await WorkerdClient.connected(hub, '@(disc/a)');
    const regs: [string, string[]][] = [
      ['@(svc/chat/eu/1)', ['chat', 'eu']],
      ['@(svc/chat/us/1)', ['chat']],
      ['@(svc/store/eu/1)', ['store', 'eu']],
      ['@(other/chat)', ['chat']],
    ];
    for (const [actorAddress, capabilities] of regs) {
      await a.ask('hub:register', { actorAddress, capabilities, metadata: { name: actorAddress } });
    }
    await between(hub);

    const discover = async (pattern: string, capability?: string) => {
      const reply = await a.ask('hub:discover', capability === undefined ? { pattern } : { pattern, capability });
      expect(reply.type).toBe('hub:discovered');
      return addressesOf(reply).sort();
    };
    expect(await discover('svc/*')).toEqual(['@(svc/chat/eu/1)', '@(svc/chat/us/1)', '@(svc/store/eu/1)']);
    expect(await discover('@(svc/*)')).toEqual(await discover('svc/*'));
    // `*` crosses `/`.
    expect(await discover('*/eu/*')).toEqual(['@(svc/chat/eu/1)', '@(svc/store/eu/1)']);
    expect(await discover('*chat*')).toEqual(['@(other/chat)', '@(svc/chat/eu/1)', '@(svc/chat/us/1)']);
    expect(await discover('svc/chat/us/1')).toEqual(['@(svc/chat/us/1)']);
    expect(await discover('svc/chat')).toEqual([]);
    expect(await discover('*', 'eu')).toEqual(['@(svc/chat/eu/1)', '@(svc/store/eu/1)']);
    expect(await discover('svc/*', 'nothing')).toEqual([]);

    const one = await a.ask('hub:discover', { pattern: 'svc/store/*' });
    expect(one.payload).toEqual({
      actors: [{ address: '@(svc/store/eu/1)', capabilities: ['store', 'eu'], metadata: { name: '@(svc/store/eu/1)' } }],
      hasMore: false,
    });
  });

  it('caps discover at its limit and never above 100', async () => {
    const hub = freshHub('disclimit');
    const clients = await populate(hub, 'many', 105);
    const a = clients[0]!;
    await between(hub);

    const small = await a.ask('hub:discover', { pattern: 'many/*', limit: 3 });
    expect(small.payload.actors).toHaveLength(3);
    expect(small.payload.hasMore).toBe(true);

    const capped = await a.ask('hub:discover', { pattern: 'many/*', limit: 500 });
    expect(capped.payload.actors).toHaveLength(100);
    expect(capped.payload.hasMore).toBe(true);

    const byCapability = await a.ask('hub:discover', { pattern: 'many/00*', capability: 'odd' });
    expect(addressesOf(byCapability)).toEqual(
      Array.from({ length: 50 }, (_, i) => `@(many/${String(2 * i + 1).padStart(4, '0')})`),
    );
    expect(byCapability.payload.hasMore).toBe(false);
  });

  it('lists actors sorted by address with total, offset, limit and hasMore', async () => {
    const hub = freshHub('list');
    const a = await WorkerdClient.connected(hub, '@(list/a)');
    for (const name of ['delta', 'alpha', 'echo', 'charlie', 'bravo']) {
      await a.ask('hub:register', { actorAddress: `@(list/${name})`, capabilities: [] });
    }
    await between(hub);
    const all = await a.ask('hub:list_actors', {});
    expect(addressesOf(all)).toEqual(['alpha', 'bravo', 'charlie', 'delta', 'echo'].map((n) => `@(list/${n})`));
    expect(all.payload).toMatchObject({ total: 5, offset: 0, hasMore: false });

    const page = await a.ask('hub:list_actors', { offset: 1, limit: 2 });
    expect(addressesOf(page)).toEqual(['@(list/bravo)', '@(list/charlie)']);
    expect(page.payload).toMatchObject({ total: 5, offset: 1, limit: 2, hasMore: true });

    const last = await a.ask('hub:list_actors', { offset: 4, limit: 2 });
    expect(addressesOf(last)).toEqual(['@(list/echo)']);
    expect(last.payload.hasMore).toBe(false);

    const beyond = await a.ask('hub:list_actors', { offset: 10 });
    expect(beyond.payload).toMatchObject({ actors: [], total: 5, hasMore: false });

    const nullPayload = await a.ask('hub:list_actors', null);
    expect(nullPayload.payload.total).toBe(5);
  });

  it('never reveals renewal tokens, session ids or connection ids in list_actors or discover', async () => {
    const hub = freshHub('noleak');
    const owner = await WorkerdClient.open(hub, '@(leak/owner)');
    const connected = await owner.connect();
    const reg = await owner.ask('hub:register', { actorAddress: '@(leak/owner)', capabilities: ['x'] });
    const reader = await WorkerdClient.connected(hub, '@(leak/reader)');
    await between(hub);
    const secrets = [
      reg.payload.renewalToken as string,
      connected.payload.sessionId as string,
      connected.payload.token as string,
      ...(await connectionIds(hub)),
    ];
    expect(secrets.length).toBeGreaterThanOrEqual(5);

    const list = await reader.ask('hub:list_actors', {});
    const found = await reader.ask('hub:discover', { pattern: '*' });
    for (const actor of list.payload.actors) {
      expect(Object.keys(actor).sort()).toEqual(
        ['actorAddress', 'capabilities', 'expiresAt', 'metadata', 'registeredAt', 'version'].sort(),
      );
    }
    for (const actor of found.payload.actors) {
      expect(Object.keys(actor).sort()).toEqual(['address', 'capabilities', 'metadata']);
    }
    for (const frame of [list, found]) {
      const text = JSON.stringify(frame);
      for (const secret of secrets) expect(text).not.toContain(secret);
    }
    // The owner's own view is no different.
    const ownList = JSON.stringify(await owner.ask('hub:list_actors', {}));
    expect(ownList).not.toContain(reg.payload.renewalToken);
  });

  it('releases every registration of a session evicted by a duplicate, including the ones not contested', async () => {
    const hub = freshHub('dupreg');
    const old = await WorkerdClient.connected(hub, '@(dr/old)');
    const v1 = await old.ask('hub:register', { actorAddress: '@(dr/contested)', capabilities: [] });
    await old.ask('hub:register', { actorAddress: '@(dr/old/side)', capabilities: [] });
    await between(hub);
    const newer = await WorkerdClient.connected(hub, '@(dr/new)');
    const v2 = await newer.ask('hub:register', { actorAddress: '@(dr/contested)', capabilities: [] });
    expect(v2.payload.version).toBe(v1.payload.version + 1);
    expect((await old.waitClosed()).code).toBe(4409);
    await between(hub);
    expect(addressesOf(await newer.ask('hub:list_actors', {}))).toEqual(['@(dr/contested)']);
    // The old renewal token died with the old session.
    const rid = newer.request('hub:renew', { renewalToken: v1.payload.renewalToken });
    expectError(await newer.reply(rid), 'hub:unauthorized', 'unauthorized', rid);
  });
});
