import { describe, expect, it } from 'vitest';
import { WorkerdClient, MODES, expectError, freshHub, type Frame } from '../workerd/hub-client';
import { expectDeliveryAck, fence } from '../workerd/delivery-support';

/**
 * Issue 12, defect 4: one session could hold 10 000 registrations or
 * subscriptions (making every other session's requests wait), and one
 * list_actors returned a 44.8 MiB frame. This project runs with
 * MAX_REGISTRATIONS_PER_SESSION 12, MAX_SUBSCRIPTIONS_PER_SESSION 3 and
 * MAX_PENDING_ASKS_PER_SESSION 4 (vitest.config.ts).
 */

const range = (n: number, prefix: string): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i})`);

const expectCap = (frame: Frame, code: string, limit: number): void => {
  const p = expectError(frame, 'hub:error', code, frame.correlationId);
  expect(p.retryable).toBe(true);
  expect(p.details).toEqual({ limit });
};

describe.each(MODES)('fair shares per session, $mode (issue 12 §4)', ({ between }) => {
  it('registrations: the 13th new address is refused; re-registering, and other sessions, are not', async () => {
    const hub = freshHub('capreg');
    const a = await WorkerdClient.connected(hub, '@(cap/a)');
    const mine = range(12, '@(cap/a/x');
    for (const address of mine) expect((await a.ask('hub:register', { actorAddress: address, capabilities: [] })).type).toBe('hub:registered');
    await between(hub);
    expectCap(await a.ask('hub:register', { actorAddress: '@(cap/a/one-more)', capabilities: [] }), 'too_many_registrations', 12);
    expect((await a.ask('hub:register', { actorAddress: mine[0]!, capabilities: ['again'] })).payload.version).toBe(2);
    const b = await WorkerdClient.connected(hub, '@(cap/b)');
    expect((await b.ask('hub:register', { actorAddress: '@(cap/b)', capabilities: [] })).type).toBe('hub:registered');
    await a.ask('hub:unregister', { actorAddress: mine[1]! });
    await between(hub);
    expect((await a.ask('hub:register', { actorAddress: '@(cap/a/one-more)', capabilities: [] })).type).toBe('hub:registered');
    const found = await b.ask('hub:discover', { pattern: 'cap/a/*' });
    expect(found.payload.actors).toHaveLength(12);
  });

  it('subscriptions: the 4th topic is refused; subscribing again is not', async () => {
    const hub = freshHub('capsub');
    const a = await WorkerdClient.connected(hub, '@(cap/s)');
    const ids = [];
    for (const topic of ['t1', 't2', 't3']) ids.push((await a.ask('hub:subscribe', { topic })).payload.subscriptionId);
    await between(hub);
    expectCap(await a.ask('hub:subscribe', { topic: 't4' }), 'too_many_subscriptions', 3);
    expect((await a.ask('hub:subscribe', { topic: 't1' })).payload.subscriptionId).toBe(ids[0]);
    await a.ask('hub:unsubscribe', { topic: 't2' });
    await between(hub);
    expect((await a.ask('hub:subscribe', { topic: 't4' })).type).toBe('hub:subscribed');
    const pub = await a.ask('hub:publish', { topic: 't4', type: 'm', data: null });
    expect(pub.payload.subscriberCount).toBe(1);
  });

  it('pending asks: the 5th ask that would wait is refused; tells and asks answered at once are not', async () => {
    const hub = freshHub('capask');
    const a = await WorkerdClient.connected(hub, '@(cap/q)');
    const b = await WorkerdClient.connected(hub, '@(cap/pb)');
    const c = await WorkerdClient.connected(hub, '@(cap/pc)');
    const d = await WorkerdClient.connected(hub, '@(cap/d)');
    await b.ask('hub:pause', null);
    await c.ask('hub:pause', null);
    await between(hub);
    const waiting = ['@(cap/pb)', '@(cap/pb)', '@(cap/pc)', '@(cap/pc)'].map((to, i) => a.request('hub:send', { to, type: 'm', data: i }));
    await fence(a);
    await between(hub);
    expectCap(await a.ask('hub:send', { to: '@(cap/pc)', type: 'm', data: 'over' }), 'too_many_pending_asks', 4);
    a.request('hub:send', { to: '@(cap/d)', type: 'm', data: 'tell' }, { pattern: 'tell' });
    const direct = a.request('hub:send', { to: '@(cap/d)', type: 'm', data: 'now' });
    expectDeliveryAck(await a.reply(direct), direct);
    expect((await b.ask('hub:resume', null)).payload.flushed).toBe(2);
    for (const id of waiting.slice(0, 2)) expectDeliveryAck(await a.reply(id), id);
    await between(hub);
    const later = a.request('hub:send', { to: '@(cap/pc)', type: 'm', data: 'later' });
    expect((await c.ask('hub:resume', null)).payload.flushed).toBe(3);
    for (const id of [...waiting.slice(2), later]) expectDeliveryAck(await a.reply(id), id);
    expect(c.frames.filter((f) => f.type === 'm').map((f) => f.payload)).toEqual([2, 3, 'later']);
    expect(d.frames.filter((f) => f.type === 'm').map((f) => f.payload)).toEqual(['tell', 'now']);
    await d.expectAlive();
  });
});

describe('reply sizes are bounded by MAX_MESSAGE_SIZE (issue 12 §4)', () => {
  it('list_actors and discover page by bytes as well as count, with hasMore', async () => {
    const hub = freshHub('capbytes');
    const blob = 'm'.repeat(400 * 1024);
    for (const name of ['a', 'b', 'c']) {
      const s = await WorkerdClient.connected(hub, `@(big/${name})`);
      const reg = await s.ask('hub:register', { actorAddress: `@(big/${name})`, capabilities: [], metadata: { blob } });
      expect(reg.type).toBe('hub:registered');
    }
    const reader = await WorkerdClient.connected(hub, '@(reader)');
    const first = await reader.ask('hub:list_actors', { limit: 100 });
    expect(first.payload).toMatchObject({ total: 3, offset: 0, limit: 100, hasMore: true });
    expect(first.payload.actors.map((x: Frame) => x.actorAddress)).toEqual(['@(big/a)', '@(big/b)']);
    expect(new TextEncoder().encode(JSON.stringify(first)).byteLength).toBeLessThanOrEqual(1_048_576);
    const rest = await reader.ask('hub:list_actors', { offset: 2, limit: 100 });
    expect(rest.payload).toMatchObject({ total: 3, offset: 2, hasMore: false });
    expect(rest.payload.actors.map((x: Frame) => x.actorAddress)).toEqual(['@(big/c)']);
    expect(rest.payload.actors[0].metadata.blob).toBe(blob);

    const found = await reader.ask('hub:discover', { pattern: 'big/*' });
    expect(found.payload.hasMore).toBe(true);
    expect(found.payload.actors.map((x: Frame) => x.address)).toEqual(['@(big/a)', '@(big/b)']);
    const tail = await reader.ask('hub:discover', { pattern: 'big/c' });
    expect(tail.payload).toMatchObject({ hasMore: false, actors: [{ address: '@(big/c)' }] });
  });
});
