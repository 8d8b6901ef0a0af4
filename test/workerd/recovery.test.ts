import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/config';
import { NS } from '../../src/core/namespaces';
import { WorkerdClient, eventually, freshHub, hibernate, sleep, stubFor, type Frame } from './hub-client';

/**
 * Issue 14 B in the real Durable Object: topic recovery and idempotent
 * resends across a forced hibernation (evictDurableObject with the sockets
 * kept), with SQLite storage and the runtime's own alarm.
 */

const rowsIn = (hub: string, ns: string): Promise<number> =>
  runInDurableObject(stubFor(hub), (_instance, state) =>
    Number(state.storage.sql.exec('SELECT COUNT(*) AS n FROM kv WHERE ns = ?', ns).one().n),
  );

const received = (client: WorkerdClient, type: string): Frame[] =>
  client.events.flatMap((e) => (e.kind === 'frame' && e.frame.type === type ? [e.frame] : []));

describe('topic recovery in workerd', () => {
  it('a subscriber rebuilt after a hibernation recovers every missed publication in order, then gets new ones', async () => {
    const hub = freshHub('recover');
    const pub = await WorkerdClient.connected(hub, '@(r/pub)');
    const away = await WorkerdClient.connected(hub, '@(r/sub)');
    const first = await away.ask('hub:subscribe', { topic: 'news' });
    expect(first.payload).toMatchObject({ topic: 'news', offset: 0 });
    const epoch = first.payload.epoch as string;
    expect(typeof epoch).toBe('string');
    away.close();
    await away.waitClosed();

    for (let n = 1; n <= 3; n++) {
      const ack = await pub.ask('hub:publish', { topic: 'news', type: 'r.item', data: { n } });
      expect(ack.payload).toMatchObject({ offset: n, epoch, subscriberCount: n === 1 ? expect.any(Number) : 0 });
    }
    await hibernate(hub);

    const back = await WorkerdClient.connected(hub, '@(r/sub)');
    const reply = await back.ask('hub:subscribe', { topic: 'news', since: { offset: 0, epoch } });
    expect(reply.payload).toMatchObject({ topic: 'news', recovered: true, offset: 3, epoch });
    const items = [await back.next((f) => f.type === 'r.item'), await back.next((f) => f.type === 'r.item'), await back.next((f) => f.type === 'r.item')];
    expect(items.map((f) => [f.payload.n, f.metadata.offset, f.metadata.epoch, f.to])).toEqual([
      [1, 1, epoch, '@(r/sub)'],
      [2, 2, epoch, '@(r/sub)'],
      [3, 3, epoch, '@(r/sub)'],
    ]);
    // The reply came first, the recovered ones right after it.
    const order = back.events.flatMap((e) => (e.kind === 'frame' ? [e.frame.type] : []));
    expect(order.slice(order.indexOf('hub:subscribed'))).toEqual(['hub:subscribed', 'r.item', 'r.item', 'r.item']);

    await pub.ask('hub:publish', { topic: 'news', type: 'r.item', data: { n: 4 } });
    expect((await back.next((f) => f.type === 'r.item')).metadata.offset).toBe(4);

    // An epoch the topic never had: nothing is replayed.
    const other = await WorkerdClient.connected(hub, '@(r/other)');
    const lost = await other.ask('hub:subscribe', { topic: 'news', since: { offset: 0, epoch: 'not-this-one' } });
    expect(lost.payload).toMatchObject({ recovered: false, offset: 4, epoch });
    await other.expectAlive();
    expect(received(other, 'r.item')).toEqual([]);
  });
});

describe('idempotent requests in workerd', () => {
  it('arms the alarm for the flush, writes the ids in it, and recognises a resend after a forced hibernation', async () => {
    const hub = freshHub('dedup');
    const a = await WorkerdClient.connected(hub, '@(d/a)');
    const b = await WorkerdClient.connected(hub, '@(d/b)');
    await b.ask('hub:register', { actorAddress: '@(d/b/inbox)', capabilities: [] });
    // Let the registration's flush happen first, so the next alarm is the send's own.
    await eventually(async () => (await rowsIn(hub, NS.dedup)) === 1, 5_000, 'the register id stored');

    const id = a.request('hub:send', { to: '@(d/b/inbox)', type: 'd.note', data: 1 }, { pattern: 'ask' });
    const ack = await a.reply(id);
    const answeredBy = Date.now();
    expect(ack.type).toBe('hub:delivery_ack');
    // The id is not written with the frame, only by the flush the alarm runs (DEDUP_FLUSH_MS later at most).
    const alarm = await runInDurableObject(stubFor(hub), (_i, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeLessThanOrEqual(answeredBy + DEFAULT_CONFIG.dedupFlushMs);
    await eventually(async () => (await rowsIn(hub, NS.dedup)) === 2, 5_000, 'the send id stored by the alarm');

    await hibernate(hub);
    a.request('hub:send', { to: '@(d/b/inbox)', type: 'd.note', data: 1 }, { pattern: 'ask', id });
    const again = await a.reply(id);
    expect(again).toEqual(ack);
    // A fence: a later frame from the same sender arrives after any duplicate would have.
    const fence = await a.ask('hub:send', { to: '@(d/b/inbox)', type: 'd.fence' });
    expect(fence.type).toBe('hub:delivery_ack');
    await b.next((f) => f.type === 'd.fence');
    expect(received(b, 'd.note')).toHaveLength(1);
  });

  it('a publish resent after a hibernation is published once and answered with its original reply', async () => {
    const hub = freshHub('dedup-pub');
    const pub = await WorkerdClient.connected(hub, '@(d/pub)');
    const sub = await WorkerdClient.connected(hub, '@(d/sub)');
    await sub.ask('hub:subscribe', { topic: 'once' });
    const id = pub.request('hub:publish', { topic: 'once', type: 'd.item' }, { pattern: 'tell' });
    const published = await pub.reply(id);
    await runDurableObjectAlarm(stubFor(hub));
    await hibernate(hub);
    pub.request('hub:publish', { topic: 'once', type: 'd.item' }, { pattern: 'tell', id });
    expect(await pub.reply(id)).toEqual(published);
    await pub.ask('hub:publish', { topic: 'once', type: 'd.fence' });
    await sub.next((f) => f.type === 'd.fence');
    expect(received(sub, 'd.item')).toHaveLength(1);
    await sleep(0);
  });
});
