import { runDurableObjectAlarm } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { flatStringifyCount } from '../../src/core/flat';
import { HUB_ADDRESS } from '../../src/protocol/envelope';
import { WorkerdClient, MODES, expectError, freshHub, hibernate, sleep, stubFor } from '../workerd/hub-client';
import { appFrames, expectDeliveryAck, fence, received, register, registerAll } from '../workerd/delivery-support';

/**
 * Delivery rules that need small limits (project `workerd-limits`, see
 * vitest.config.ts): MAX_BROADCAST_RECIPIENTS 10, BROADCAST_SYNC_THRESHOLD 4,
 * PAUSE_BUFFER_LIMIT 3, QUEUE_PAUSE_THRESHOLD 12 / QUEUE_RESUME_THRESHOLD 4,
 * and a rate limit high enough for long ordered streams.
 */

const range = (n: number, prefix: string): string[] => Array.from({ length: n }, (_, i) => `${prefix}/${i})`);

/**
 * Runs alarms (each in a fresh instance when `evict` is set) until `done`
 * holds. Alarms armed for "now" may also fire by themselves; either way
 * every batch is exercised.
 */
const drain = async (hub: string, done: () => boolean, evict: boolean): Promise<void> => {
  const stub = stubFor(hub);
  for (let round = 0; round < 40 && !done(); round++) {
    // An object that is already idle cannot be evicted; that is the state we want anyway.
    if (evict) await hibernate(hub).catch((err: Error) => expect(err.message).toContain('not currently running'));
    await runDurableObjectAlarm(stub);
    await sleep(20);
  }
  expect(done()).toBe(true);
};

describe.each(MODES)('broadcast limits and batching, $mode', ({ mode, between }) => {
  const evict = mode === 'across hibernation';

  it('refuses a broadcast to more than MAX_BROADCAST_RECIPIENTS with broadcast_limit_exceeded and sends nothing', async () => {
    const hub = freshHub('bl');
    const s = await WorkerdClient.connected(hub, '@(bl/s)');
    const r = await WorkerdClient.connected(hub, '@(bl/r)');
    await register(s, '@(bl/s)');
    await registerAll(r, range(5, '@(bl/r/few'), ['few']);
    await registerAll(r, range(5, '@(bl/r/many'));
    await between(hub);
    const id = s.request('hub:broadcast', { type: 'big', data: 1 });
    const p = expectError(await s.reply(id), 'hub:error', 'broadcast_limit_exceeded', id);
    expect(p.details).toEqual({ recipients: 11, limit: 10 });
    // Not even the first batch went out, and no alarm sends the rest later.
    await sleep(200);
    await runDurableObjectAlarm(stubFor(hub));
    await fence(s, r);
    expect(received(s, 'big')).toEqual([]);
    expect(received(r, 'big')).toEqual([]);
    expect((await s.ask('hub:metrics', null)).payload.queuedDeliveries).toBe(0);
  });

  it('counts recipients after the capability and excludeSelf filters, and sends the rest from alarms exactly once', async () => {
    const hub = freshHub('bl-ok');
    const s = await WorkerdClient.connected(hub, '@(bo/s)');
    const r = await WorkerdClient.connected(hub, '@(bo/r)');
    await register(s, '@(bo/s)');
    const few = range(5, '@(bo/r/few');
    const many = range(5, '@(bo/r/many');
    await registerAll(r, few, ['few']);
    await registerAll(r, many);
    await between(hub);

    const narrowed = s.request('hub:broadcast', { type: 'narrow', data: 1 }, { metadata: { targetCapability: 'few' } });
    expect((await s.reply(narrowed)).payload).toEqual({ messageId: narrowed, deliveredCount: 4, failedCount: 0, queuedCount: 1 });
    // Until the queued recipient is served, a further broadcast would queue behind it in full.
    await drain(hub, () => received(r, 'narrow').length >= 5, evict);
    await between(hub);
    const before = flatStringifyCount();
    const all = s.request('hub:broadcast', { type: 'all', data: 2, excludeSelf: true });
    expect((await s.reply(all)).payload).toEqual({ messageId: all, deliveredCount: 4, failedCount: 0, queuedCount: 6 });

    await drain(hub, () => received(r, 'all').length >= 10, evict);
    await sleep(100);
    await runDurableObjectAlarm(stubFor(hub));
    await fence(s, r);
    expect(received(r, 'narrow').map((f) => f.to).sort()).toEqual([...few].sort());
    expect(received(r, 'all').map((f) => f.to).sort()).toEqual([...few, ...many].sort());
    expect(received(s, 'all')).toEqual([]);
    for (const f of received(r, 'all')) {
      expect(f).toMatchObject({ from: '@(bo/s)', payload: 2, correlationId: null, metadata: { broadcast: true, originalMessageId: all } });
    }
    // One body for ten recipients, including the six sent from alarms.
    expect(flatStringifyCount() - before).toBe(1);
  });

  it('keeps a sender’s later messages behind its queued broadcasts, and tells it to pause and resume', async () => {
    const hub = freshHub('behind');
    const s = await WorkerdClient.connected(hub, '@(bh/s)');
    const r = await WorkerdClient.connected(hub, '@(bh/r)');
    const addrs = range(10, '@(bh/r/a');
    await registerAll(r, addrs);
    await between(hub);
    // Three waves queue 6 + 10 + 10 recipients behind each other: above the pause threshold of 12.
    const waves = [1, 2, 3].map((n) => s.request('hub:broadcast', { type: 'wave', data: n }));
    const direct = s.request('hub:send', { to: addrs[9]!, type: 'wave', data: 'direct' });
    const acks = await Promise.all(waves.map((id) => s.reply(id)));
    expect(acks[0]!.payload).toMatchObject({ deliveredCount: 4, queuedCount: 6, failedCount: 0 });
    for (const a of acks) expect(a.payload.deliveredCount + a.payload.queuedCount).toBe(10);

    const pause = await s.next((f) => f.type === 'hub:pause');
    expect(pause).toMatchObject({ from: HUB_ADDRESS, to: '@(bh/s)', correlationId: null });
    expect(typeof pause.payload.reason).toBe('string');
    expect(pause.payload.reason.length).toBeGreaterThan(0);

    await drain(hub, () => received(r, 'wave').length >= 31, evict);
    expectDeliveryAck(await s.reply(direct), direct);
    const resume = await s.next((f) => f.type === 'hub:resume');
    expect(resume).toMatchObject({ from: HUB_ADDRESS, correlationId: null });
    // Pause came before resume on the sender's socket.
    const types = s.events.flatMap((e) => (e.kind === 'frame' && (e.frame.type === 'hub:pause' || e.frame.type === 'hub:resume') ? [e.frame.type] : []));
    expect(types).toEqual(['hub:pause', 'hub:resume']);

    await fence(s, r);
    for (const a of addrs) {
      const got = received(r, 'wave').filter((f) => f.to === a).map((f) => f.payload);
      expect(got, a).toEqual(a === addrs[9] ? [1, 2, 3, 'direct'] : [1, 2, 3]);
    }
    const stats = await s.ask('hub:queue_stats', null);
    expect(stats.payload).toMatchObject({ queueDepth: 0, paused: false, pauseThreshold: 12, resumeThreshold: 4 });
  });
});

describe.each(MODES)('pause buffer limit, $mode', ({ between }) => {
  it('keeps the newest PAUSE_BUFFER_LIMIT frames, drops the oldest, and answers dropped asks', async () => {
    const hub = freshHub('overflow');
    const a = await WorkerdClient.connected(hub, '@(ov/a)');
    const b = await WorkerdClient.connected(hub, '@(ov/b)');
    const paused = await b.ask('hub:pause', null);
    expect(paused).toMatchObject({ type: 'hub:paused', payload: { paused: true } });
    await between(hub);
    const ids = [0, 1, 2, 3, 4].map((n) => a.request('hub:send', { to: '@(ov/b)', type: 'm', data: n }));
    // The two oldest fell out of the buffer of 3; their senders hear it at once.
    expectDeliveryAck(await a.reply(ids[0]!), ids[0]!, 'dropped');
    expectDeliveryAck(await a.reply(ids[1]!), ids[1]!, 'dropped');
    await fence(a, b);
    expect(a.events.filter((e) => e.kind === 'frame' && ids.slice(2).includes(e.frame.correlationId))).toEqual([]);
    expect(appFrames(b)).toEqual([]);
    const stats = await b.ask('hub:queue_stats', null);
    expect(stats.payload).toMatchObject({ queueDepth: 3, paused: true });
    await between(hub);

    const resumed = await b.ask('hub:resume', null);
    expect(resumed).toMatchObject({ type: 'hub:resumed', payload: { flushed: 3, dropped: 2 } });
    expect(received(b, 'm').map((f) => f.payload)).toEqual([2, 3, 4]);
    for (const id of ids.slice(2)) expectDeliveryAck(await a.reply(id), id);
    // The drop count is per pause: a second pause/resume starts from zero.
    await b.ask('hub:pause', null);
    expect((await b.ask('hub:resume', null)).payload).toMatchObject({ flushed: 0, dropped: 0 });
  });
});

describe.each(MODES)('ordering of long streams, $mode', ({ between }) => {
  it('delivers 200 messages from one sender to one target in send order, asks and tells mixed', async () => {
    const hub = freshHub('order200');
    const a = await WorkerdClient.connected(hub, '@(o2/a)');
    const b = await WorkerdClient.connected(hub, '@(o2/b)');
    await register(b, '@(o2/b/in)');
    await between(hub);
    const asks: string[] = [];
    for (let i = 0; i < 200; i++) {
      const id = a.request('hub:send', { to: '@(o2/b/in)', type: 'seq', data: i }, { pattern: i % 7 === 0 ? 'ask' : 'tell' });
      if (i % 7 === 0) asks.push(id);
      if (i === 99) {
        await fence(a);
        await between(hub);
      }
    }
    for (const id of asks) expectDeliveryAck(await a.reply(id), id);
    await fence(a, b);
    expect(received(b, 'seq').map((f) => f.payload)).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it('keeps each sender’s order when two senders interleave towards one target', async () => {
    const hub = freshHub('order-2x');
    const a = await WorkerdClient.connected(hub, '@(o3/a)');
    const c = await WorkerdClient.connected(hub, '@(o3/c)');
    const b = await WorkerdClient.connected(hub, '@(o3/b)');
    await between(hub);
    for (let i = 0; i < 100; i++) {
      a.request('hub:send', { to: '@(o3/b)', type: 'seq', data: `a${i}` }, { pattern: 'tell' });
      c.request('hub:send', { to: '@(o3/b)', type: 'seq', data: `c${i}` }, { pattern: 'tell' });
    }
    await fence(a, c, b);
    const got = received(b, 'seq').map((f) => f.payload as string);
    expect(got).toHaveLength(200);
    expect(got.filter((x) => x.startsWith('a'))).toEqual(Array.from({ length: 100 }, (_, i) => `a${i}`));
    expect(got.filter((x) => x.startsWith('c'))).toEqual(Array.from({ length: 100 }, (_, i) => `c${i}`));
  });
});
