import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { SERVER_VERSION, SERVICE_NAME } from '../../src/protocol/envelope';
import { WorkerdClient, freshHub } from './hub-client';

const get = (path: string, headers: Record<string, string> = {}) =>
  exports.default.fetch(`http://hub.test${path}`, { headers });

/** A unique address per test: the default hub is shared by every test that reaches it. */
const uniqueAddress = (label: string) => `@(routing/${label}/${crypto.randomUUID()})`;

describe('routing (contract §1)', () => {
  it('answers /health with JSON status, service and version', async () => {
    const res = await get('/health');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 'ok', service: SERVICE_NAME, version: SERVER_VERSION });
  });

  it.each(['/nope', '/health/extra', '/ws/a/b', '/wss', '/ws/bad%20name'])('answers 404 for %s', async (path) => {
    const res = await get(path, { Upgrade: 'websocket' });
    expect(res.status).toBe(404);
    expect(res.webSocket).toBeNull();
  });

  it.each(['/ws', '/ws/some-hub', '/'])('answers 426 to a plain GET on the WebSocket path %s', async (path) => {
    const res = await get(path);
    expect(res.status).toBe(426);
    expect(res.webSocket).toBeNull();
  });

  it.each(['/ws', '/ws/some-hub', '/'])('upgrades a WebSocket request on %s', async (path) => {
    const res = await get(path, { Upgrade: 'websocket' });
    expect(res.status).toBe(101);
    expect(res.webSocket).not.toBeNull();
    res.webSocket!.accept();
    res.webSocket!.close(1000, 'done');
  });

  it('reaches the same default hub through / and /ws', async () => {
    const address = uniqueAddress('default');
    const viaRoot = await WorkerdClient.connected('default', address, {}, '/');
    const viaWs = await WorkerdClient.connected('default', uniqueAddress('observer'), {}, '/ws');
    expect((await viaRoot.ask('hub:register', { actorAddress: address, capabilities: ['route'] })).type).toBe(
      'hub:registered',
    );

    const found = await viaWs.ask('hub:discover', { pattern: address });
    expect(found.type).toBe('hub:discovered');
    expect(found.payload.actors.map((a: { address: string }) => a.address)).toEqual([address]);
    viaRoot.close();
    viaWs.close();
  });

  it('keeps a named hub independent of the default hub and of other named hubs', async () => {
    const hubA = freshHub('route-a');
    const hubB = freshHub('route-b');
    const address = uniqueAddress('named');
    const inA = await WorkerdClient.connected(hubA, address);
    const inB = await WorkerdClient.connected(hubB, uniqueAddress('b'));
    const inDefault = await WorkerdClient.connected('default', uniqueAddress('d'), {}, '/ws');

    expect((await inA.ask('hub:register', { actorAddress: address, capabilities: [] })).type).toBe('hub:registered');
    const inOwnHub = await inA.ask('hub:discover', { pattern: address });
    expect(inOwnHub.payload.actors).toHaveLength(1);

    for (const other of [inB, inDefault]) {
      const seen = await other.ask('hub:discover', { pattern: address });
      expect(seen.type).toBe('hub:discovered');
      expect(seen.payload.actors).toEqual([]);
    }

    // The same address is free in another hub: registering it there is version 1, not an eviction.
    const inBAsSame = await WorkerdClient.connected(hubB, address);
    const reg = await inBAsSame.ask('hub:register', { actorAddress: address, capabilities: [] });
    expect(reg.payload.version).toBe(1);
    await inA.expectAlive();
    expect(inA.closed).toBeNull();
    for (const c of [inA, inB, inDefault, inBAsSame]) c.close();
  });
});
