import { describe, expect, it } from 'vitest';
import { runInDurableObject } from 'cloudflare:test';
import {
  WorkerdClient,
  MODES,
  eventually,
  expectError,
  freshHub,
  sleep,
  storedActorCount,
  stubFor,
} from '../workerd/hub-client';

// Values from the workerd-timeouts project in vitest.config.ts.
const DEFAULT_TTL_MS = 2_000;
const CLEANUP_INTERVAL_MS = 1_000;
const REGISTRY_LIMIT = 5;
const SLACK_MS = 2_500;

const listed = async (client: WorkerdClient): Promise<string[]> =>
  (await client.ask('hub:list_actors', {})).payload.actors.map((a: { actorAddress: string }) => a.actorAddress);

const discovered = async (client: WorkerdClient, pattern: string): Promise<string[]> =>
  (await client.ask('hub:discover', { pattern })).payload.actors.map((a: { address: string }) => a.address);

describe.concurrent.each(MODES)('registration expiry, $mode (contract §5)', ({ between }) => {
  it('applies DEFAULT_ACTOR_TTL when ttlSeconds is left out', async () => {
    const hub = freshHub('default-ttl');
    const client = await WorkerdClient.connected(hub, '@(exp/default)');
    await between(hub);
    const before = Date.now();
    const reg = await client.ask('hub:register', { actorAddress: '@(exp/default)', capabilities: [] });
    expect(reg.payload.expiresAt).toBeGreaterThanOrEqual(before + DEFAULT_TTL_MS);
    expect(reg.payload.expiresAt).toBeLessThanOrEqual(Date.now() + DEFAULT_TTL_MS);
  });

  it('hides an expired registration at once, even before any cleanup ran', async () => {
    const hub = freshHub('invisible');
    const client = await WorkerdClient.connected(hub, '@(exp/owner)');
    await client.ask('hub:register', { actorAddress: '@(exp/short)', capabilities: ['x'], ttlSeconds: 1 });
    const kept = await client.ask('hub:register', { actorAddress: '@(exp/long)', capabilities: ['x'], ttlSeconds: 60 });
    // Cancel the cleanup alarm so what follows shows visibility alone, not removal.
    await runInDurableObject(stubFor(hub), (_instance, state) => state.storage.deleteAlarm());
    await between(hub);
    await sleep(1_100);

    expect(await storedActorCount(hub)).toBe(2);
    expect(await listed(client)).toEqual(['@(exp/long)']);
    expect((await client.ask('hub:list_actors', {})).payload.total).toBe(1);
    expect(await discovered(client, 'exp/*')).toEqual(['@(exp/long)']);
    // An expired address is no longer this session's to send as.
    const id = client.request('hub:send', { to: '@(exp/long)', type: 'app.x', data: 1 }, { from: '@(exp/short)' });
    expect(expectError(await client.reply(id), 'hub:unauthorized', 'unauthorized', id).reason).toBe('identity_mismatch');
    expect(kept.type).toBe('hub:registered');
  });

  it('physically removes an expired registration by alarm within CLEANUP_INTERVAL_MS', async () => {
    const hub = freshHub('cleanup');
    const client = await WorkerdClient.connected(hub, '@(exp/cleaner)');
    const reg = await client.ask('hub:register', { actorAddress: '@(exp/gone)', capabilities: [], ttlSeconds: 1 });
    await between(hub);
    // Keep the session itself alive; the registration must go regardless.
    const expiresAt = reg.payload.expiresAt as number;
    await eventually(
      async () => {
        await client.ask('hub:heartbeat', null);
        return (await storedActorCount(hub)) === 0;
      },
      expiresAt - Date.now() + CLEANUP_INTERVAL_MS + SLACK_MS,
      'expired row removed',
    );
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
    expect(await listed(client)).toEqual([]);
    expect(client.closed).toBeNull();
  });

  it('renews registrations flagged renewOnHeartbeat on every heartbeat, and only those', async () => {
    const hub = freshHub('renew-hb');
    const client = await WorkerdClient.connected(hub, '@(exp/hb)');
    await client.ask(
      'hub:register',
      { actorAddress: '@(exp/hb/renewed)', capabilities: [], ttlSeconds: 1 },
      { metadata: { renewOnHeartbeat: true } },
    );
    await client.ask('hub:register', { actorAddress: '@(exp/hb/plain)', capabilities: [], ttlSeconds: 1 });
    for (let i = 0; i < 5; i++) {
      await sleep(400);
      await between(hub);
      await client.ask('hub:heartbeat', null);
    }
    // Two seconds after registering with a one-second TTL, only the heartbeat-renewed one is alive.
    expect(await listed(client)).toEqual(['@(exp/hb/renewed)']);
  });
});

describe.concurrent.each(MODES)('registry capacity, $mode (contract §5)', ({ between }) => {
  it('advertises the limit and refuses new addresses beyond it with registry_full', async () => {
    const hub = freshHub('full');
    const client = await WorkerdClient.open(hub, '@(cap/a)');
    const connected = await client.connect();
    expect(connected.payload.capabilities.maxActorsPerInstance).toBe(REGISTRY_LIMIT);
    for (let i = 0; i < REGISTRY_LIMIT; i++) {
      expect((await client.ask('hub:register', { actorAddress: `@(cap/${i})`, capabilities: [], ttlSeconds: 60 })).type).toBe(
        'hub:registered',
      );
    }
    await between(hub);

    const id = client.request('hub:register', { actorAddress: '@(cap/one-too-many)', capabilities: [], ttlSeconds: 60 });
    const p = expectError(await client.reply(id), 'hub:error', 'registry_full', id);
    expect(p.details).toMatchObject({ limit: REGISTRY_LIMIT });
    expect(p.retryable).toBe(true);

    // Another session is refused too: the limit is per hub, not per session.
    const other = await WorkerdClient.connected(hub, '@(cap/other)');
    const otherId = other.request('hub:register', { actorAddress: '@(cap/other)', capabilities: [] });
    expectError(await other.reply(otherId), 'hub:error', 'registry_full', otherId);

    await between(hub);
    // Re-registering an existing address is always allowed.
    const again = await client.ask('hub:register', { actorAddress: '@(cap/0)', capabilities: ['again'], ttlSeconds: 60 });
    expect(again).toMatchObject({ type: 'hub:registered', payload: { version: 2 } });

    // Freeing a slot makes room for a new address.
    await client.ask('hub:unregister', { actorAddress: '@(cap/4)' });
    await between(hub);
    expect((await other.ask('hub:register', { actorAddress: '@(cap/other)', capabilities: [] })).type).toBe('hub:registered');
    expect((await other.ask('hub:list_actors', {})).payload.total).toBe(REGISTRY_LIMIT);
  });

  it('does not count expired registrations against the limit', async () => {
    const hub = freshHub('full-expiry');
    const client = await WorkerdClient.connected(hub, '@(cap/exp)');
    for (let i = 0; i < REGISTRY_LIMIT; i++) {
      await client.ask('hub:register', { actorAddress: `@(cap/exp/${i})`, capabilities: [], ttlSeconds: i === 0 ? 1 : 60 });
    }
    const id = client.request('hub:register', { actorAddress: '@(cap/exp/new)', capabilities: [] });
    expectError(await client.reply(id), 'hub:error', 'registry_full', id);
    await between(hub);
    await sleep(1_100);
    expect((await client.ask('hub:register', { actorAddress: '@(cap/exp/new)', capabilities: [] })).type).toBe(
      'hub:registered',
    );
  });
});
