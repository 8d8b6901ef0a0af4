import { exports } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { WorkerdClient, freshHub, stubFor } from './hub-client';

/** INSPECT_ENABLED is false here (wrangler.toml's default). */
describe('/inspect when inspection is off', () => {
  it.each(['/inspect', '/inspect/', '/inspect/some-hub'])('answers 404 for %s, upgrade or not', async (path) => {
    for (const headers of [{ Upgrade: 'websocket' }, {}] as Record<string, string>[]) {
      const res = await exports.default.fetch(`http://hub.test${path}`, { headers });
      expect(res.status).toBe(404);
      expect(res.webSocket).toBeNull();
    }
  });

  it('the hub object refuses an inspector too, should a request reach it directly', async () => {
    const res = await stubFor(freshHub('inspect-off-direct')).fetch('http://hub.test/inspect', { headers: { Upgrade: 'websocket' } });
    expect(res.status).toBe(404);
    expect(res.webSocket).toBeNull();
  });

  it('costs nothing: the core never gets a transition hook, through a whole session', async () => {
    const hub = freshHub('inspect-off');
    const a = await WorkerdClient.connected(hub, '@(off/a)');
    await a.ask('hub:register', { actorAddress: '@(off/a)', capabilities: [] });
    await a.expectAlive();
    const hook = await runInDurableObject(stubFor(hub), (instance) => {
      const core = instance['core'];
      return core === null ? 'no core' : core.onTransition === undefined ? 'unset' : 'set';
    });
    expect(hook).toBe('unset');
    a.close();
  });
});
