import { runDurableObjectAlarm } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { HUB_ADDRESS } from '../../src/protocol/envelope';
import { WorkerdClient, MODES, eventually, expectError, freshHub, hibernate, sleep, stubFor, type Frame } from './hub-client';
import { appFrames, expectDeliveryAck, fence, poll, populate, received, register } from './delivery-support';

/**
 * Contract §6 (delivery) and §10 (metrics, token refresh) against the real
 * Durable Object in workerd with default limits: rate limit 10/s burst 20,
 * BROADCAST_SYNC_THRESHOLD 100, PAUSE_BUFFER_LIMIT 1000. Rules that need
 * small limits or a high rate live in test/workerd-limits.
 */

describe.each(MODES)('hub:send, $mode (§6)', ({ between }) => {
  it('forwards a flat message: type, data, verified from, target, tell, no correlation, metadata, same ttl', async () => {
    const hub = freshHub('flat');
    const a = await WorkerdClient.connected(hub, '@(flat/a)');
    const b = await WorkerdClient.connected(hub, '@(flat/b)');
    await register(b, '@(flat/b/inbox)');
    await between(hub);
    const timestamp = Date.now();
    const id = a.request(
      'hub:send',
      { to: '@(flat/b/inbox)', type: 'chat.message', data: { text: 'hi', n: [1, 2, 3] } },
      { metadata: { traceId: 'trace-flat', app: { nested: true } }, ttl: 120_000, timestamp },
    );
    const got = await b.next((f) => f.type === 'chat.message');
    expect(got).toEqual({
      id: got.id,
      from: '@(flat/a)',
      to: '@(flat/b/inbox)',
      type: 'chat.message',
      payload: { text: 'hi', n: [1, 2, 3] },
      pattern: 'tell',
      correlationId: null,
      // The sender's timestamp travels with its ttl, so the message goes stale when the sender meant it to.
      timestamp,
      metadata: { traceId: 'trace-flat', app: { nested: true }, forwarded: true, via: HUB_ADDRESS, originalMessageId: id },
      ttl: 120_000,
      signature: null,
    });
    expect(typeof got.id).toBe('string');
    expect(got.id).not.toBe(id);
    expectDeliveryAck(await a.reply(id), id);
  });

  it('takes payload.to when the envelope is addressed to the hub or to the same target', async () => {
    const hub = freshHub('target');
    const a = await WorkerdClient.connected(hub, '@(tg/a)');
    const b = await WorkerdClient.connected(hub, '@(tg/b)');
    await register(b, '@(tg/b/x)');
    await between(hub);
    const viaHub = a.request('hub:send', { to: '@(tg/b/x)', type: 'm', data: 1 });
    expectDeliveryAck(await a.reply(viaHub), viaHub);
    const same = a.request('hub:send', { to: '@(tg/b/x)', type: 'm', data: 2 }, { to: '@(tg/b/x)' });
    expectDeliveryAck(await a.reply(same), same);
    // Without payload.to the envelope names the target.
    const envOnly = a.request('hub:send', { type: 'm', data: 3 }, { to: '@(tg/b/x)' });
    expectDeliveryAck(await a.reply(envOnly), envOnly);
    await fence(a, b);
    expect(received(b, 'm').map((f) => [f.to, f.payload])).toEqual([
      ['@(tg/b/x)', 1],
      ['@(tg/b/x)', 2],
      ['@(tg/b/x)', 3],
    ]);
  });

  it('refuses two different targets with ambiguous_target and delivers to neither', async () => {
    const hub = freshHub('ambiguous');
    const a = await WorkerdClient.connected(hub, '@(amb/a)');
    const b = await WorkerdClient.connected(hub, '@(amb/b)');
    const c = await WorkerdClient.connected(hub, '@(amb/c)');
    await between(hub);
    const id = a.request('hub:send', { to: '@(amb/b)', type: 'm', data: 1 }, { to: '@(amb/c)' });
    expectError(await a.reply(id), 'hub:error', 'ambiguous_target', id);
    await fence(a, b, c);
    expect(appFrames(b)).toEqual([]);
    expect(appFrames(c)).toEqual([]);
  });

  it('reaches a connected but unregistered session by its identity, and sends from a registered address', async () => {
    const hub = freshHub('identity');
    const a = await WorkerdClient.connected(hub, '@(id/a)');
    const b = await WorkerdClient.connected(hub, '@(id/b)');
    await register(a, '@(id/a/bot)');
    await between(hub);
    const id = a.request('hub:send', { to: '@(id/b)', type: 'm', data: 'x' }, { from: '@(id/a/bot)' });
    expectDeliveryAck(await a.reply(id), id);
    const got = await b.next((f) => f.type === 'm');
    expect(got).toMatchObject({ from: '@(id/a/bot)', to: '@(id/b)', payload: 'x' });
  });

  it('answers an ask to an unknown address with unknown_actor and drops a tell silently', async () => {
    const hub = freshHub('unknown');
    const a = await WorkerdClient.connected(hub, '@(unk/a)');
    await between(hub);
    const id = a.request('hub:send', { to: '@(unk/nobody)', type: 'm', data: 1 });
    const reply = await a.reply(id);
    const p = expectError(reply, 'hub:unknown_actor', 'unknown_actor', id);
    expect(p.message).toContain('not registered');
    expect(p.actorAddress).toBe('@(unk/nobody)');
    const tell = a.request('hub:send', { to: '@(unk/nobody)', type: 'm', data: 2 }, { pattern: 'tell' });
    await fence(a);
    expect(a.events.some((e) => e.kind === 'frame' && e.frame.correlationId === tell)).toBe(false);
  });

  it('treats an expired registration as unknown even while its session is still connected', async () => {
    const hub = freshHub('expired-target');
    const a = await WorkerdClient.connected(hub, '@(exp/a)');
    const b = await WorkerdClient.connected(hub, '@(exp/b)');
    await register(b, '@(exp/b/short)', [], { ttlSeconds: 0.3 });
    await between(hub);
    await sleep(450);
    const id = a.request('hub:send', { to: '@(exp/b/short)', type: 'm', data: 1 });
    const p = expectError(await a.reply(id), 'hub:unknown_actor', 'unknown_actor', id);
    expect(p.actorAddress).toBe('@(exp/b/short)');
    a.request('hub:send', { to: '@(exp/b/short)', type: 'm', data: 2 }, { pattern: 'tell' });
    await fence(a, b);
    expect(appFrames(b)).toEqual([]);
  });

  it('answers an ask to a target whose session closed with unknown_actor', async () => {
    const hub = freshHub('gone');
    const a = await WorkerdClient.connected(hub, '@(gone/a)');
    const b = await WorkerdClient.connected(hub, '@(gone/b)');
    await register(b, '@(gone/b/x)');
    b.close();
    await b.waitClosed();
    await between(hub);
    // The close is processed asynchronously; until then the ask may still find the old session.
    await poll(async () => {
      const id = a.request('hub:send', { to: '@(gone/b/x)', type: 'm', data: 1 });
      return (await a.reply(id)).type === 'hub:unknown_actor';
    }, 'unknown_actor for a closed target');
  });

  it('does not process a stale message: message_expired for an ask, nothing for a tell', async () => {
    const hub = freshHub('stale');
    const a = await WorkerdClient.connected(hub, '@(stale/a)');
    const b = await WorkerdClient.connected(hub, '@(stale/b)');
    await between(hub);
    const old = Date.now() - 60_000;
    const id = a.request('hub:send', { to: '@(stale/b)', type: 'm', data: 1 }, { timestamp: old, ttl: 1_000 });
    expectError(await a.reply(id), 'hub:error', 'message_expired', id);
    const tell = a.request('hub:send', { to: '@(stale/b)', type: 'm', data: 2 }, { timestamp: old, ttl: 1_000, pattern: 'tell' });
    await fence(a, b);
    expect(a.events.some((e) => e.kind === 'frame' && e.frame.correlationId === tell)).toBe(false);
    expect(appFrames(b)).toEqual([]);
  });

  it('refuses a spoofed from with identity_mismatch and delivers nothing to anyone', async () => {
    const hub = freshHub('spoof');
    const mallory = await WorkerdClient.connected(hub, '@(spoof/mallory)');
    const victim = await WorkerdClient.connected(hub, '@(spoof/victim)');
    const bystander = await WorkerdClient.connected(hub, '@(spoof/bystander)');
    await register(victim, '@(spoof/victim/inbox)');
    await between(hub);
    const cases = [
      // posing as the victim's identity, towards the victim and towards someone else
      { from: '@(spoof/victim)', to: '@(spoof/victim/inbox)' },
      { from: '@(spoof/victim)', to: '@(spoof/bystander)' },
      // posing as an address the victim registered
      { from: '@(spoof/victim/inbox)', to: '@(spoof/victim)' },
    ];
    for (const c of cases) {
      const id = mallory.request('hub:send', { to: c.to, type: 'evil', data: 1 }, { from: c.from });
      const p = expectError(await mallory.reply(id), 'hub:unauthorized', 'unauthorized', id);
      expect(p.reason).toBe('identity_mismatch');
    }
    await fence(mallory, victim, bystander);
    expect(appFrames(victim)).toEqual([]);
    expect(appFrames(bystander)).toEqual([]);
  });

  it('delivers one sender’s messages to one target in send order', async () => {
    const hub = freshHub('order');
    const a = await WorkerdClient.connected(hub, '@(ord/a)');
    const b = await WorkerdClient.connected(hub, '@(ord/b)');
    await register(b, '@(ord/b/in)');
    await between(hub);
    // 18 sends stay inside the burst of 20 (one token went to nothing else on this session).
    for (let i = 0; i < 9; i++) a.request('hub:send', { to: '@(ord/b/in)', type: 'seq', data: i }, { pattern: i % 3 ? 'tell' : 'ask' });
    // Evict only once the first half was handled (an idle object cannot be evicted).
    await fence(a);
    await between(hub);
    for (let i = 9; i < 18; i++) a.request('hub:send', { to: '@(ord/b/in)', type: 'seq', data: i }, { pattern: i % 3 ? 'tell' : 'ask' });
    await fence(a, b);
    expect(received(b, 'seq').map((f) => f.payload)).toEqual(Array.from({ length: 18 }, (_, i) => i));
  });
});

describe('hub:send with large data (§6)', () => {
  it('forwards a frame with 900 KiB of data intact', async () => {
    const hub = freshHub('large');
    const a = await WorkerdClient.connected(hub, '@(big/a)');
    const b = await WorkerdClient.connected(hub, '@(big/b)');
    // Varied content, so a truncated or re-chunked copy cannot compare equal by accident.
    const unit = 'abcdefghijklmnopqrstuvwxyz0123456789-_';
    let blob = '';
    for (let i = 0; blob.length < 900 * 1024; i++) blob += `${i}:${unit}|`;
    blob = blob.slice(0, 900 * 1024);
    const id = a.request('hub:send', { to: '@(big/b)', type: 'blob', data: { blob, end: 'END' } });
    expectDeliveryAck(await a.reply(id, 10_000), id);
    const got = await b.next((f) => f.type === 'blob', 10_000);
    expect(got.payload.end).toBe('END');
    expect(got.payload.blob.length).toBe(900 * 1024);
    expect(got.payload.blob === blob).toBe(true);
  });
});

describe.each(MODES)('delivery_ack and pause buffer, $mode (§6)', ({ between }) => {
  it('acks an ask only once the frame reached the target: a paused target holds the ack until resume', async () => {
    const hub = freshHub('ack-after');
    const a = await WorkerdClient.connected(hub, '@(aa/a)');
    const b = await WorkerdClient.connected(hub, '@(aa/b)');
    const paused = await b.ask('hub:pause', null);
    expect(paused.type).toBe('hub:paused');
    await between(hub);
    const id = a.request('hub:send', { to: '@(aa/b)', type: 'm', data: 'held' });
    await fence(a, b);
    expect(a.events.some((e) => e.kind === 'frame' && e.frame.correlationId === id)).toBe(false);
    expect(appFrames(b)).toEqual([]);
    await between(hub);
    const beforeResume = Date.now();
    const resumed = await b.ask('hub:resume', null);
    expect(resumed).toMatchObject({ type: 'hub:resumed', payload: { flushed: 1, dropped: 0 } });
    expect(received(b, 'm').map((f) => f.payload)).toEqual(['held']);
    const ack = await a.reply(id);
    expectDeliveryAck(ack, id);
    expect(ack.payload.deliveredAt).toBeGreaterThanOrEqual(beforeResume);
  });

  it('buffers sends, publications and broadcasts to a paused session in order and flushes them on resume', async () => {
    const hub = freshHub('pause');
    const a = await WorkerdClient.connected(hub, '@(pz/a)');
    const b = await WorkerdClient.connected(hub, '@(pz/b)');
    await register(b, '@(pz/b/in)');
    expect((await b.ask('hub:subscribe', { topic: 'pz.news' })).type).toBe('hub:subscribed');
    expect((await b.ask('hub:pause', null)).type).toBe('hub:paused');
    await between(hub);
    const ask1 = a.request('hub:send', { to: '@(pz/b/in)', type: 'p', data: 1 });
    a.request('hub:publish', { topic: 'pz.news', type: 'p', data: 2 });
    await fence(a);
    await between(hub);
    a.request('hub:broadcast', { type: 'p', data: 3 });
    a.request('hub:send', { to: '@(pz/b)', type: 'p', data: 4 }, { pattern: 'tell' });
    await fence(a, b);
    expect(appFrames(b)).toEqual([]);
    const stats = await b.ask('hub:queue_stats', null);
    expect(stats.payload).toMatchObject({ queueDepth: 4, paused: true });
    await between(hub);
    const resumed = await b.ask('hub:resume', null);
    expect(resumed.payload).toMatchObject({ flushed: 4, dropped: 0 });
    expect(received(b, 'p').map((f) => f.payload)).toEqual([1, 2, 3, 4]);
    expectDeliveryAck(await a.reply(ask1), ask1);
    // After resume deliveries go straight through again.
    await between(hub);
    a.request('hub:send', { to: '@(pz/b)', type: 'p', data: 5 }, { pattern: 'tell' });
    await b.next((f) => f.type === 'p' && f.payload === 5);
    const after = await b.ask('hub:queue_stats', null);
    expect(after.payload).toMatchObject({ queueDepth: 0, paused: false });
  });

  it('tells senders of buffered asks that the target is gone when a paused session closes', async () => {
    const hub = freshHub('pause-close');
    const a = await WorkerdClient.connected(hub, '@(pc/a)');
    const b = await WorkerdClient.connected(hub, '@(pc/b)');
    await b.ask('hub:pause', null);
    const id = a.request('hub:send', { to: '@(pc/b)', type: 'm', data: 1 });
    await fence(a);
    await between(hub);
    b.close();
    await b.waitClosed();
    const p = expectError(await a.reply(id), 'hub:unknown_actor', 'unknown_actor', id);
    expect(p.actorAddress).toBe('@(pc/b)');
  });

  it('reports queue_stats with real numbers', async () => {
    const hub = freshHub('qstats');
    const a = await WorkerdClient.connected(hub, '@(qs/a)');
    await between(hub);
    const id = a.request('hub:queue_stats', null);
    const r = await a.reply(id);
    expect(r).toMatchObject({ type: 'hub:queue_stats_response', from: HUB_ADDRESS, correlationId: id });
    const p = r.payload;
    for (const k of ['queueDepth', 'processingRate', 'pauseThreshold', 'resumeThreshold']) {
      expect(Number.isFinite(p[k]), k).toBe(true);
    }
    expect(p).toMatchObject({ queueDepth: 0, pauseThreshold: 1000, resumeThreshold: 250, paused: false });
    expect(p.processingRate).toBeGreaterThanOrEqual(0);
    await a.ask('hub:pause', null);
    await between(hub);
    expect((await a.ask('hub:queue_stats', null)).payload.paused).toBe(true);
  });
});

describe.each(MODES)('hub:broadcast, $mode (§6)', ({ between }) => {
  it('reaches every live registered actor once per address, not unregistered or expired ones', async () => {
    const hub = freshHub('bcast');
    const s = await WorkerdClient.connected(hub, '@(bc/s)');
    const a = await WorkerdClient.connected(hub, '@(bc/a)');
    const b = await WorkerdClient.connected(hub, '@(bc/b)');
    const loner = await WorkerdClient.connected(hub, '@(bc/unregistered)');
    const gone = await WorkerdClient.connected(hub, '@(bc/gone)');
    await register(s, '@(bc/s)');
    await register(a, '@(bc/a)', ['chat']);
    await register(b, '@(bc/b/1)', ['chat', 'admin']);
    await register(b, '@(bc/b/2)');
    await register(a, '@(bc/a/short)', [], { ttlSeconds: 0.3 });
    await register(gone, '@(bc/gone)');
    gone.close();
    await gone.waitClosed();
    await between(hub);
    await sleep(450);
    const id = s.request('hub:broadcast', { type: 'bc', data: { hello: 1 } }, { metadata: { traceId: 't-bc' } });
    const ack = await s.reply(id);
    expect(ack).toMatchObject({
      type: 'hub:broadcast_ack',
      from: HUB_ADDRESS,
      correlationId: id,
      payload: { messageId: id, deliveredCount: 4, failedCount: 0, queuedCount: 0 },
    });
    await fence(s, a, b, loner);
    const to = (c: WorkerdClient) => received(c, 'bc').map((f) => f.to).sort();
    expect(to(s)).toEqual(['@(bc/s)']);
    expect(to(a)).toEqual(['@(bc/a)']);
    expect(to(b)).toEqual(['@(bc/b/1)', '@(bc/b/2)']);
    expect(appFrames(loner)).toEqual([]);
    const one = received(a, 'bc')[0]!;
    expect(one).toMatchObject({
      from: '@(bc/s)',
      type: 'bc',
      payload: { hello: 1 },
      pattern: 'tell',
      correlationId: null,
      metadata: { traceId: 't-bc', broadcast: true, forwarded: true, via: HUB_ADDRESS, originalMessageId: id },
    });
  });

  it('excludeSelf leaves out every address of the sending session; targetCapability narrows', async () => {
    const hub = freshHub('bcast-filter');
    const s = await WorkerdClient.connected(hub, '@(bf/s)');
    const a = await WorkerdClient.connected(hub, '@(bf/a)');
    const b = await WorkerdClient.connected(hub, '@(bf/b)');
    await register(s, '@(bf/s/1)', ['admin']);
    await register(s, '@(bf/s/2)', ['admin']);
    await register(a, '@(bf/a)', ['chat']);
    await register(b, '@(bf/b)', ['chat', 'admin']);
    await between(hub);
    const ex = s.request('hub:broadcast', { type: 'ex', data: 1, excludeSelf: true });
    expect((await s.reply(ex)).payload).toMatchObject({ deliveredCount: 2, failedCount: 0, queuedCount: 0 });
    await between(hub);
    const cap = s.request('hub:broadcast', { type: 'cap', data: 2 }, { metadata: { targetCapability: 'admin' } });
    expect((await s.reply(cap)).payload).toMatchObject({ deliveredCount: 3, failedCount: 0, queuedCount: 0 });
    const both = s.request('hub:broadcast', { type: 'both', data: 3, excludeSelf: true }, { metadata: { targetCapability: 'admin' } });
    expect((await s.reply(both)).payload).toMatchObject({ deliveredCount: 1, failedCount: 0, queuedCount: 0 });
    await fence(s, a, b);
    expect(received(s, 'ex')).toEqual([]);
    expect(received(a, 'ex').map((f) => f.to)).toEqual(['@(bf/a)']);
    expect(received(b, 'ex').map((f) => f.to)).toEqual(['@(bf/b)']);
    expect(received(s, 'cap').map((f) => f.to).sort()).toEqual(['@(bf/s/1)', '@(bf/s/2)']);
    expect(received(a, 'cap')).toEqual([]);
    expect(received(b, 'cap').map((f) => f.to)).toEqual(['@(bf/b)']);
    expect(received(b, 'cap')[0]!.metadata).toMatchObject({ targetCapability: 'admin', broadcast: true });
    expect(received(s, 'both')).toEqual([]);
    expect(received(a, 'both')).toEqual([]);
    expect(received(b, 'both').map((f) => f.to)).toEqual(['@(bf/b)']);
  });
});

describe('hub:broadcast beyond the sync threshold (§6, §8)', () => {
  it('delivers a broadcast to 1 000 actors exactly once each although the object is evicted between batches', async () => {
    const hub = freshHub('bcast-1k');
    const stub = stubFor(hub);
    // 50 sessions x 20 addresses: each session spends exactly its burst of 20 tokens.
    const pop = await populate(hub, 'k', 1000, 20);
    const sender = await WorkerdClient.connected(hub, '@(k/sender)');
    const id = sender.request('hub:broadcast', { type: 'k.news', data: { n: 1 } });
    const ack = await sender.reply(id);
    expect(ack.payload).toEqual({ messageId: id, deliveredCount: 100, failedCount: 0, queuedCount: 900 });
    await hibernate(hub);

    const total = () => pop.clients.reduce((n, c) => n + received(c, 'k.news').length, 0);
    // Alarms may also fire on their own; either way every batch runs in a fresh instance.
    for (let round = 0; round < 40 && total() < 1000; round++) {
      await runDurableObjectAlarm(stub);
      await hibernate(hub);
      await sleep(20);
    }
    await eventually(async () => total() >= 1000, 10_000, 'all 1000 deliveries');
    // Give a duplicate every chance to show up before counting.
    await runDurableObjectAlarm(stub);
    await sleep(300);
    await fence(...pop.clients);

    const perAddress = new Map<string, number>();
    for (const c of pop.clients) {
      for (const f of received(c, 'k.news')) {
        // Each frame reached the session that registered the address it names.
        expect(pop.owner.get(f.to)).toBe(c);
        expect(f.metadata.originalMessageId).toBe(id);
        perAddress.set(f.to, (perAddress.get(f.to) ?? 0) + 1);
      }
    }
    expect(perAddress.size).toBe(1000);
    expect([...perAddress.values()].every((n) => n === 1)).toBe(true);
    expect(received(sender, 'k.news')).toEqual([]);
    const stats = await sender.ask('hub:queue_stats', null);
    expect(stats.payload.queueDepth).toBe(0);
    const metrics = await sender.ask('hub:metrics', null);
    expect(metrics.payload.queuedDeliveries).toBe(0);
    // 1 000 registrations dominate (about 10 ms per frame in local workerd); allow for a loaded machine.
  }, 60_000);
});

describe.each(MODES)('pub/sub, $mode (§6)', ({ between }) => {
  it('subscribing twice returns the same id and delivers a publication once', async () => {
    const hub = freshHub('sub-idem');
    const a = await WorkerdClient.connected(hub, '@(si/a)');
    const p = await WorkerdClient.connected(hub, '@(si/p)');
    const first = await a.ask('hub:subscribe', { topic: 'si/topic' });
    expect(first).toMatchObject({ type: 'hub:subscribed', payload: { topic: 'si/topic' } });
    expect(typeof first.payload.subscriptionId).toBe('string');
    await between(hub);
    const second = await a.ask('hub:subscribe', { topic: 'si/topic' });
    expect(second.payload).toEqual(first.payload);
    const pub = await p.ask('hub:publish', { topic: 'si/topic', type: 'ev', data: 1 });
    expect(pub).toMatchObject({ type: 'hub:published', payload: { topic: 'si/topic', subscriberCount: 1 } });
    await fence(p, a);
    expect(received(a, 'ev')).toHaveLength(1);
  });

  it('publishes a flat message with topic metadata to each live subscriber and counts them', async () => {
    const hub = freshHub('publish');
    const pub = await WorkerdClient.connected(hub, '@(pb/pub)');
    const a = await WorkerdClient.connected(hub, '@(pb/a)');
    const b = await WorkerdClient.connected(hub, '@(pb/b)');
    const c = await WorkerdClient.connected(hub, '@(pb/c)');
    await register(b, '@(pb/b/worker)');
    await a.ask('hub:subscribe', { topic: 'orders:eu' });
    await b.ask('hub:subscribe', { topic: 'orders:eu' }, { from: '@(pb/b/worker)' });
    await c.ask('hub:subscribe', { topic: 'orders:us' });
    await between(hub);
    const id = pub.request('hub:publish', { topic: 'orders:eu', type: 'order.created', data: { id: 7 } }, { metadata: { traceId: 'tp' } });
    const reply = await pub.reply(id);
    expect(reply).toMatchObject({
      type: 'hub:published',
      from: HUB_ADDRESS,
      correlationId: id,
      payload: { topic: 'orders:eu', subscriberCount: 2 },
    });
    await fence(pub, a, b, c);
    const fa = received(a, 'order.created');
    const fb = received(b, 'order.created');
    expect(fa).toHaveLength(1);
    expect(fb).toHaveLength(1);
    expect(received(c, 'order.created')).toEqual([]);
    expect(fa[0]).toMatchObject({
      from: '@(pb/pub)',
      to: '@(pb/a)',
      payload: { id: 7 },
      pattern: 'tell',
      correlationId: null,
      metadata: { traceId: 'tp', topic: 'orders:eu', publication: true, forwarded: true, via: HUB_ADDRESS, originalMessageId: id },
    });
    // A subscription made from a registered address is delivered to that address.
    expect(fb[0]!.to).toBe('@(pb/b/worker)');
  });

  it('gives a publisher subscribed to its own topic its own publication, and nothing published before a subscription', async () => {
    const hub = freshHub('self-pub');
    const a = await WorkerdClient.connected(hub, '@(sp/a)');
    const b = await WorkerdClient.connected(hub, '@(sp/b)');
    const early = await a.ask('hub:publish', { topic: 'sp', type: 'early', data: 0 });
    // offset and epoch: the topic's history position (issue 14 B), the first publication of a new topic.
    expect(early.payload).toEqual({ topic: 'sp', subscriberCount: 0, offset: 1, epoch: expect.any(String) });
    await a.ask('hub:subscribe', { topic: 'sp' });
    await b.ask('hub:subscribe', { topic: 'sp' });
    await between(hub);
    const r = await a.ask('hub:publish', { topic: 'sp', type: 'late', data: 1 });
    expect(r.payload.subscriberCount).toBe(2);
    await fence(a, b);
    expect(received(a, 'late').map((f) => [f.from, f.to])).toEqual([['@(sp/a)', '@(sp/a)']]);
    expect(received(b, 'late')).toHaveLength(1);
    expect(received(a, 'early')).toEqual([]);
    expect(received(b, 'early')).toEqual([]);
  });

  it('unsubscribes by topic and by subscriptionId, removing exactly that one', async () => {
    const hub = freshHub('unsub');
    const a = await WorkerdClient.connected(hub, '@(us/a)');
    const other = await WorkerdClient.connected(hub, '@(us/other)');
    const p = await WorkerdClient.connected(hub, '@(us/p)');
    const s1 = (await a.ask('hub:subscribe', { topic: 'us.one' })).payload.subscriptionId as string;
    const s2 = (await a.ask('hub:subscribe', { topic: 'us.two' })).payload.subscriptionId as string;
    const s3 = (await a.ask('hub:subscribe', { topic: 'us.three' })).payload.subscriptionId as string;
    await other.ask('hub:subscribe', { topic: 'us.one' });
    expect(new Set([s1, s2, s3]).size).toBe(3);
    await between(hub);

    const byId = await a.ask('hub:unsubscribe', { subscriptionId: s1 });
    expect(byId).toMatchObject({ type: 'hub:unsubscribed', payload: { topic: 'us.one', subscriptionId: s1 } });
    await between(hub);
    const byTopic = await a.ask('hub:unsubscribe', { topic: 'us.two' });
    expect(byTopic).toMatchObject({ type: 'hub:unsubscribed', payload: { topic: 'us.two', subscriptionId: s2 } });

    const counts: Record<string, number> = {};
    for (const topic of ['us.one', 'us.two', 'us.three']) {
      counts[topic] = (await p.ask('hub:publish', { topic, type: 'u', data: topic })).payload.subscriberCount;
    }
    // `other` keeps its us.one subscription; `a` keeps only us.three.
    expect(counts).toEqual({ 'us.one': 1, 'us.two': 0, 'us.three': 1 });
    await fence(p, a, other);
    expect(received(a, 'u').map((f) => f.payload)).toEqual(['us.three']);
    expect(received(other, 'u').map((f) => f.payload)).toEqual(['us.one']);
  });

  it('takes a subscriptionId that names a subscribed topic as that topic (older clients)', async () => {
    const hub = freshHub('legacy');
    const a = await WorkerdClient.connected(hub, '@(lg/a)');
    const p = await WorkerdClient.connected(hub, '@(lg/p)');
    const sid = (await a.ask('hub:subscribe', { topic: 'lg.alerts' })).payload.subscriptionId as string;
    await a.ask('hub:subscribe', { topic: 'lg.other' });
    await between(hub);
    const r = await a.ask('hub:unsubscribe', { subscriptionId: 'lg.alerts' });
    expect(r).toMatchObject({ type: 'hub:unsubscribed', payload: { topic: 'lg.alerts', subscriptionId: sid } });
    expect((await p.ask('hub:publish', { topic: 'lg.alerts', type: 'x', data: 1 })).payload.subscriberCount).toBe(0);
    expect((await p.ask('hub:publish', { topic: 'lg.other', type: 'x', data: 2 })).payload.subscriberCount).toBe(1);
  });

  it('answers an unsubscribe of nothing with subscriptionId null and removes nothing', async () => {
    const hub = freshHub('unsub-none');
    const a = await WorkerdClient.connected(hub, '@(un/a)');
    const p = await WorkerdClient.connected(hub, '@(un/p)');
    await a.ask('hub:subscribe', { topic: 'un.kept' });
    await between(hub);
    const r = await a.ask('hub:unsubscribe', { topic: 'un.never' });
    expect(r).toMatchObject({ type: 'hub:unsubscribed', payload: { topic: 'un.never', subscriptionId: null } });
    // Someone else's subscription id is not this session's to remove.
    const foreign = (await p.ask('hub:subscribe', { topic: 'un.theirs' })).payload.subscriptionId as string;
    const r2 = await a.ask('hub:unsubscribe', { subscriptionId: foreign });
    expect(r2.payload.subscriptionId).toBeNull();
    expect((await p.ask('hub:publish', { topic: 'un.theirs', type: 'x', data: 1 })).payload.subscriberCount).toBe(1);
    expect((await p.ask('hub:publish', { topic: 'un.kept', type: 'x', data: 2 })).payload.subscriberCount).toBe(1);
  });

  it('keeps subscriptions when an address is re-registered on the same connection, drops them on close', async () => {
    const hub = freshHub('rereg');
    const a = await WorkerdClient.connected(hub, '@(rr/a)');
    const p = await WorkerdClient.connected(hub, '@(rr/p)');
    await register(a, '@(rr/a/svc)');
    await a.ask('hub:subscribe', { topic: 'rr' }, { from: '@(rr/a/svc)' });
    await between(hub);
    await register(a, '@(rr/a/svc)');
    expect((await p.ask('hub:publish', { topic: 'rr', type: 'x', data: 1 })).payload.subscriberCount).toBe(1);
    await a.next((f) => f.type === 'x' && f.to === '@(rr/a/svc)');
    a.close();
    await a.waitClosed();
    await between(hub);
    await poll(
      async () => (await p.ask('hub:publish', { topic: 'rr', type: 'x', data: 2 })).payload.subscriberCount === 0,
      'subscription released on close',
    );
  });
});

describe('topic names (§6)', () => {
  it('refuses a bad topic with invalid_message naming payload.topic', async () => {
    const hub = freshHub('topics');
    const a = await WorkerdClient.connected(hub, '@(tp/a)');
    const bad = ['', 'has space', 'emoji-☃', 'semi;colon', 'x'.repeat(257)];
    for (const topic of bad) {
      for (const type of ['hub:subscribe', 'hub:publish'] as const) {
        const id =
          type === 'hub:subscribe'
            ? a.request('hub:subscribe', { topic })
            : a.request('hub:publish', { topic, type: 'x', data: 1 });
        const p = expectError(await a.reply(id), 'hub:error', 'invalid_message', id);
        expect(p.details.issues.map((i: { path: string }) => i.path), `${type} ${JSON.stringify(topic)}`).toContain('payload.topic');
      }
    }
    const un = a.request('hub:unsubscribe', { topic: 'bad topic' });
    expectError(await a.reply(un), 'hub:error', 'invalid_message', un);
    // Every allowed character class, at the maximum length.
    const ok = `Az09_.:/-${'q'.repeat(247)}`;
    expect(ok.length).toBe(256);
    expect((await a.ask('hub:subscribe', { topic: ok })).type).toBe('hub:subscribed');
  });
});

const METRIC_KEYS = [
  'messagesReceived',
  'messagesSent',
  'errors',
  'connectionsOpened',
  'connectionsClosed',
  'currentSessions',
  'registeredActors',
  'topics',
  'queuedDeliveries',
] as const;
type Metrics = Record<(typeof METRIC_KEYS)[number], number>;

describe.each(MODES)('hub:metrics, $mode (§10)', ({ between }) => {
  it('reports counters that are numbers and grow with traffic', async () => {
    const hub = freshHub('metrics');
    const a = await WorkerdClient.connected(hub, '@(mt/a)');
    const b = await WorkerdClient.connected(hub, '@(mt/b)');
    await register(b, '@(mt/b/in)');
    await b.ask('hub:subscribe', { topic: 'mt' });
    await between(hub);
    const first = await a.ask('hub:metrics', null);
    expect(first.type).toBe('hub:metrics_response');
    const m1 = first.payload as Metrics;
    for (const k of METRIC_KEYS) expect(Number.isFinite(m1[k]), k).toBe(true);
    expect(m1).toMatchObject({ connectionsOpened: 2, connectionsClosed: 0, currentSessions: 2, registeredActors: 1, topics: 1, queuedDeliveries: 0 });
    // Five frames so far: two connects, a register, a subscribe, this request.
    expect(m1.messagesReceived).toBeGreaterThanOrEqual(5);
    expect(m1.messagesSent).toBeGreaterThanOrEqual(4);

    const sent = a.request('hub:send', { to: '@(mt/b/in)', type: 'm', data: 1 });
    await a.reply(sent);
    const miss = a.request('hub:send', { to: '@(mt/nobody)', type: 'm', data: 1 });
    await a.reply(miss);
    const c = await WorkerdClient.connected(hub, '@(mt/c)');
    c.close();
    await c.waitClosed();
    await between(hub);
    await poll(async () => (await a.ask('hub:metrics', null)).payload.connectionsClosed === 1, 'close counted');
    const m2 = (await a.ask('hub:metrics', null)).payload as Metrics;
    expect(m2.messagesReceived).toBeGreaterThanOrEqual(m1.messagesReceived + 4);
    expect(m2.messagesSent).toBeGreaterThanOrEqual(m1.messagesSent + 4);
    expect(m2.errors).toBeGreaterThanOrEqual(m1.errors + 1);
    expect(m2).toMatchObject({ connectionsOpened: 3, connectionsClosed: 1, currentSessions: 2, registeredActors: 1, topics: 1 });
  });
});

describe.each(MODES)('hub:refresh_token without auth, $mode (§10)', ({ between }) => {
  it('exchanges the session token from hub:connected for a new one; anything else is invalid_token', async () => {
    const hub = freshHub('refresh');
    const a = await WorkerdClient.open(hub, '@(rf/a)');
    const connected = await a.connect();
    const b = await WorkerdClient.connected(hub, '@(rf/b)');
    const original = connected.payload.token as string;
    await between(hub);

    const wrong = a.request('hub:refresh_token', { token: 'not-the-token' });
    expectError(await a.reply(wrong), 'hub:error', 'invalid_token', wrong);
    // Another session's token is not this session's.
    const stolen = b.request('hub:refresh_token', { token: original });
    expectError(await b.reply(stolen), 'hub:error', 'invalid_token', stolen);

    const id = a.request('hub:refresh_token', { token: original });
    const r = await a.reply(id);
    expect(r).toMatchObject({ type: 'hub:token_refreshed', from: HUB_ADDRESS, correlationId: id });
    const fresh = r.payload.token as string;
    expect(typeof fresh).toBe('string');
    expect(fresh.length).toBeGreaterThan(0);
    expect(fresh).not.toBe(original);
    expect(r.payload.expiresAt).toBe(r.timestamp + 3_600_000);
    await between(hub);

    const reused = a.request('hub:refresh_token', { token: original });
    expectError(await a.reply(reused), 'hub:error', 'invalid_token', reused);
    const again = await a.ask('hub:refresh_token', { token: fresh });
    expect(again.type).toBe('hub:token_refreshed');
    expect(again.payload.token).not.toBe(fresh);
  });
});

describe('routing after eviction (§8)', () => {
  it('keeps registrations, identities and subscriptions routable across repeated evictions', async () => {
    const hub = freshHub('evict-route');
    const a = await WorkerdClient.connected(hub, '@(er/a)');
    const b = await WorkerdClient.connected(hub, '@(er/b)');
    await register(b, '@(er/b/svc)', ['svc']);
    await b.ask('hub:subscribe', { topic: 'er.t' }, { from: '@(er/b/svc)' });
    const frames: Frame[] = [];
    for (let round = 0; round < 3; round++) {
      await hibernate(hub);
      const send = a.request('hub:send', { to: '@(er/b/svc)', type: 'r', data: `send-${round}` });
      expectDeliveryAck(await a.reply(send), send);
      await hibernate(hub);
      const byIdentity = a.request('hub:send', { to: '@(er/b)', type: 'r', data: `identity-${round}` });
      expectDeliveryAck(await a.reply(byIdentity), byIdentity);
      await hibernate(hub);
      expect((await a.ask('hub:publish', { topic: 'er.t', type: 'r', data: `pub-${round}` })).payload.subscriberCount).toBe(1);
      await hibernate(hub);
      const bc = await a.ask('hub:broadcast', { type: 'r', data: `bc-${round}` }, { metadata: { targetCapability: 'svc' } });
      expect(bc.payload.deliveredCount).toBe(1);
    }
    await fence(a, b);
    frames.push(...received(b, 'r'));
    expect(frames.map((f) => f.payload)).toEqual(
      [0, 1, 2].flatMap((r) => [`send-${r}`, `identity-${r}`, `pub-${r}`, `bc-${r}`]),
    );
    expect(frames.map((f) => f.to)).toEqual([0, 1, 2].flatMap(() => ['@(er/b/svc)', '@(er/b)', '@(er/b/svc)', '@(er/b/svc)']));
  });
});
