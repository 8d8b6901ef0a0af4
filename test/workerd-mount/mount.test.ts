import { env, exports } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { HUB_ADDRESS } from '../../src/protocol/envelope';
import { WorkerdClient, eventually, expectError, freshHub, hibernate, type Frame } from '../workerd/hub-client';
import { BANNED } from './worker';

/**
 * SignalHub mounted in a Worker of its own (worker.ts): that Worker's /api
 * routes answer beside the hub's, and the subclass's hooks run in real
 * workerd over real WebSockets.
 */

const stub = (hub: string) => env.SIGNAL_HUB.get(env.SIGNAL_HUB.idFromName(hub));

/** An application message (a type outside hub:), as a client of the embedding app would send it. */
const appMessage = (client: WorkerdClient, type: string, payload: unknown, pattern: 'ask' | 'tell' = 'ask') => {
  const base = client.build('hub:heartbeat', null, { pattern });
  return { ...base, type, to: '@(mount/app)', payload };
};

const closesSeen = (hub: string): Promise<{ identity: string | null; code: number }[]> =>
  runInDurableObject(stub(hub), (_instance, state) => {
    const table = state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'mount_closes'").one().n;
    if (Number(table) === 0) return [];
    return state.storage.sql.exec<{ identity: string | null; code: number }>('SELECT identity, code FROM mount_closes').toArray();
  });

describe('SignalHub mounted in another Worker', () => {
  it("the Worker's own routes answer; paths that are neither its nor the hub's fall through to it", async () => {
    const api = await exports.default.fetch('http://hub.test/api/hello');
    expect(api.status).toBe(200);
    expect(await api.json()).toEqual({ app: 'mine', path: '/api/hello' });
    const other = await exports.default.fetch('http://hub.test/elsewhere');
    expect(other.status).toBe(404);
    expect(await other.text()).toBe('not the hub, not the app');
    const health = await exports.default.fetch('http://hub.test/health');
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', service: 'signal-hub' });
  });

  it('the hub connects, registers and delivers as in the stand-alone Worker', async () => {
    const hub = freshHub('mount-hub');
    const a = await WorkerdClient.connected(hub, '@(mount/a)');
    const b = await WorkerdClient.connected(hub, '@(mount/b)');
    expect((await b.ask('hub:register', { actorAddress: '@(mount/b)', capabilities: ['chat'] })).type).toBe('hub:registered');
    const sent = await a.ask('hub:send', { to: '@(mount/b)', type: 'chat.line', data: { text: 'hi' } });
    expect(sent.type).toBe('hub:delivery_ack');
    const got = await b.next((f) => f.type === 'chat.line');
    expect(got).toMatchObject({ from: '@(mount/a)', payload: { text: 'hi' } });
    a.close();
    b.close();
  });

  it('onMessage sees an application message and replies to it; without a reply nothing comes back but the session lives on', async () => {
    const hub = freshHub('mount-app');
    const a = await WorkerdClient.connected(hub, '@(mount/app-user)');
    const echo = appMessage(a, 'app:echo', { n: 7 });
    a.sendJson(echo);
    const reply: Frame = await a.reply(echo.id);
    expect(reply).toMatchObject({
      type: 'app:echoed',
      from: '@(mount/app)',
      to: '@(mount/app-user)',
      correlationId: echo.id,
      payload: { echo: { n: 7 }, identity: '@(mount/app-user)' },
      metadata: { forwarded: true, via: HUB_ADDRESS, originalMessageId: echo.id },
    });
    // A type the hook does not answer: no error, no reply, and the connection still works.
    a.sendJson(appMessage(a, 'app:ignored', null, 'tell'));
    const count = appMessage(a, 'app:count', null);
    a.sendJson(count);
    expect((await a.reply(count.id)).payload.seen).toBeGreaterThanOrEqual(3);
    expect(a.frames.filter((f) => f.correlationId !== null && f.type === 'hub:error')).toEqual([]);
    // The hub's own types are still the hub's: a hub:* type it does not know stays unknown_type.
    const bogus = { ...a.build('hub:heartbeat', null), type: 'hub:nonsense' };
    a.sendJson(bogus);
    expectError(await a.reply(bogus.id), 'hub:error', 'unknown_type', bogus.id);
    a.close();
  });

  it('application messages reach the hook after a hibernation too', async () => {
    const hub = freshHub('mount-wake');
    const a = await WorkerdClient.connected(hub, '@(mount/sleeper)');
    await hibernate(hub);
    const echo = appMessage(a, 'app:echo', 'after wake');
    a.sendJson(echo);
    expect((await a.reply(echo.id)).payload).toEqual({ echo: 'after wake', identity: '@(mount/sleeper)' });
    a.close();
  });

  it("authorize's refusal reaches the client as the contract's unauthorized error, then the socket closes 4401", async () => {
    const hub = freshHub('mount-auth');
    const banned = await WorkerdClient.open(hub, BANNED);
    const id = banned.request('hub:connect', null, { metadata: { protocolVersion: '0.1.0' } });
    const refused = expectError(await banned.reply(id), 'hub:unauthorized', 'unauthorized', id);
    expect(refused).toMatchObject({ action: 'connect', reason: 'banned', retryable: false });
    expect(refused.message).toContain(BANNED);
    await banned.waitClosed();
    expect(banned.closed?.code).toBe(4401);
    // Anyone else is admitted on the same hub.
    const fine = await WorkerdClient.connected(hub, '@(mount/welcome)');
    fine.close();
  });

  it('onClose fires with the identity and the close code', async () => {
    const hub = freshHub('mount-close');
    const a = await WorkerdClient.connected(hub, '@(mount/leaver)');
    await a.expectAlive();
    a.close(4000);
    await eventually(async () => (await closesSeen(hub)).some((c) => c.identity === '@(mount/leaver)'), 5_000, 'onClose');
    expect(await closesSeen(hub)).toEqual([{ identity: '@(mount/leaver)', code: 4000 }]);
  });
});
