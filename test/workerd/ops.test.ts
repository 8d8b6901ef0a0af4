import { env } from 'cloudflare:workers';
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SignalHub, type Env } from '../../src/hub-object';
import { OPS_PREFIX } from '../../src/ops/object-ops';
import type { HubSnapshot } from '../../src/ops/snapshot';
import { WorkerdClient, freshHub, hibernate, stubFor } from './hub-client';

/**
 * The hub object's operator requests in real workerd: the counters behind
 * /metrics survive hibernation and count wakes and alarm runs, and an object
 * with an invalid config reports it (deep health 503, one config.invalid line
 * per wake) instead of throwing from every entry point.
 */

const snapshot = async (hub: string): Promise<HubSnapshot> => {
  const res = await stubFor(hub).fetch(`http://hub.test${OPS_PREFIX}metrics`);
  expect(res.status).toBe(200);
  return (await res.json()) as HubSnapshot;
};

afterEach(() => {
  vi.restoreAllMocks();
});

describe('metrics counters in the hub object', () => {
  it('survive hibernation, and count the wake and the alarm run', async () => {
    const hub = freshHub('ops-wake');
    const a = await WorkerdClient.connected(hub, '@(ops/a)');
    await a.ask('hub:register', { actorAddress: '@(ops/a)', capabilities: [] });
    expect((await a.ask('hub:send', { to: '@(ops/none)', type: 'x' }, { pattern: 'ask' })).payload.code).toBe('unknown_actor');
    const before = await snapshot(hub);
    expect(before.counters.ops?.requests).toMatchObject({ 'hub:register': 1, 'hub:send': 1 });
    expect(before.counters.ops?.errors).toEqual({ unknown_actor: 1 });

    await hibernate(hub);
    await a.expectAlive();
    const woken = await snapshot(hub);
    expect(woken.shell.wakes).toBe(before.shell.wakes + 1);
    expect(woken.counters.ops?.requests?.['hub:register']).toBe(1);
    expect(woken.counters.ops?.errors).toEqual({ unknown_actor: 1 });

    expect(await runDurableObjectAlarm(stubFor(hub))).toBe(true);
    expect((await snapshot(hub)).shell.alarmRuns).toBe(woken.shell.alarmRuns + 1);
    a.close();
  });

  it('hub:metrics keeps its flat numeric shape: the labelled counts stay out of it', async () => {
    const hub = freshHub('ops-flat');
    const a = await WorkerdClient.connected(hub, '@(ops/flat)');
    await a.ask('hub:register', { actorAddress: '@(ops/flat)', capabilities: [] });
    const reply = await a.ask('hub:metrics', null);
    expect(reply.type).toBe('hub:metrics_response');
    for (const [k, v] of Object.entries(reply.payload)) expect(typeof v, k).toBe('number');
    a.close();
  });
});

describe('an object with an invalid config', () => {
  const badEnv: Env = { ...env, RATE_LIMIT_BURST: 'lots', DEFAULT_ACTOR_TTL: 7200 };

  it('answers deep health 503 naming each problem, and its alarm logs config.invalid once instead of throwing', async () => {
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((line: unknown) => void errors.push(String(line)));
    const hub = freshHub('ops-bad-config');
    await runInDurableObject(stubFor(hub), async (_instance, state) => {
      const broken = new SignalHub(state, badEnv);
      // The runtime retries a throwing alarm; here every run returns quietly.
      await broken.alarm();
      await broken.alarm();
      await broken.alarm();
      const res = await broken.fetch(new Request(`http://hub.test${OPS_PREFIX}health`));
      expect(res.status).toBe(503);
      const body = (await res.json()) as { reason: string; checks: { config: { issues: { path: string; message: string }[] } } };
      expect(body.reason).toBe('invalid_configuration');
      expect(body.checks.config.issues.map((i) => i.message)).toEqual([
        'RATE_LIMIT_BURST is "lots"; allowed: a whole number of at least 1 (default 20)',
        'DEFAULT_ACTOR_TTL is 7200; allowed: at most MAX_ACTOR_TTL (3600)',
      ]);
      const upgrade = await broken.fetch(new Request('http://hub.test/ws', { headers: { Upgrade: 'websocket' } }));
      expect(upgrade.status).toBe(500);
    });
    const logged = errors.filter((line) => line.includes('"config.invalid"'));
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0]!)).toMatchObject({ level: 'error', event: 'config.invalid', during: 'alarm' });
    expect(errors.join('\n')).not.toMatch(/\n\s+at /);
  });

  it('a valid hub answers deep health 200 with its session count', async () => {
    const hub = freshHub('ops-good-health');
    const a = await WorkerdClient.connected(hub, '@(ops/health)');
    const res = await stubFor(hub).fetch(`http://hub.test${OPS_PREFIX}health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', sessions: 1, checks: { config: { ok: true }, storage: { ok: true } } });
    a.close();
  });
});
