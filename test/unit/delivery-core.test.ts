import { describe, expect, it } from 'vitest';
import { FakeHubObject, configWith, type FakeSocket } from '../../harness/fake-object';
import { buildRequest } from '../../src/protocol/build';
import type { Requests, RequestType } from '../../src/protocol/messages';
import { flatStringifyCount } from '../../src/core/flat';

const connect = (hub: FakeHubObject, identity: string): FakeSocket => {
  const s = hub.open();
  hub.send(s, JSON.stringify(buildRequest('hub:connect', null, { from: identity, metadata: { protocolVersion: '0.1.0' } })));
  return s;
};

const ask = <K extends RequestType>(
  hub: FakeHubObject,
  s: FakeSocket,
  from: string,
  type: K,
  payload: Requests[K],
  extra: { pattern?: 'ask' | 'tell'; metadata?: Record<string, unknown>; to?: string } = {},
) => {
  const msg = buildRequest(type, payload, { from, timestamp: hub.clock.now(), ...extra });
  hub.send(s, JSON.stringify(msg));
  return msg.id;
};

const frames = (hub: FakeHubObject, s: FakeSocket, type: string) => hub.messages(s).filter((m) => m.type === type);
const replyTo = (hub: FakeHubObject, s: FakeSocket, id: string) => hub.messages(s).find((m) => m.correlationId === id);

describe.each([false, true])('delivery core (hibernate between steps: %s)', (sleepy) => {
  const nap = (hub: FakeHubObject) => {
    if (sleepy) hub.hibernate();
  };

  it('send ask delivers a flat message and acks after delivery', () => {
    const hub = new FakeHubObject(configWith({ rateLimitBurst: 1000, rateLimitPerSecond: 1000 }));
    const a = connect(hub, '@(a)');
    const b = connect(hub, '@(b)');
    ask(hub, b, '@(b)', 'hub:register', { actorAddress: '@(b/inbox)', capabilities: [] });
    nap(hub);
    const id = ask(hub, a, '@(a)', 'hub:send', { to: '@(b/inbox)', type: 'chat', data: { text: 'hi' } }, { metadata: { traceId: 't1' } });
    const got = frames(hub, b, 'chat');
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({
      from: '@(a)',
      to: '@(b/inbox)',
      payload: { text: 'hi' },
      pattern: 'tell',
      correlationId: null,
      metadata: { traceId: 't1', forwarded: true, via: '@(cloudflare/signal-hub)', originalMessageId: id },
    });
    expect(replyTo(hub, a, id)).toMatchObject({ type: 'hub:delivery_ack', payload: { messageId: id, status: 'delivered' } });
  });

  it('ask to unknown target gets unknown_actor; tell is dropped silently', () => {
    const hub = new FakeHubObject();
    const a = connect(hub, '@(a)');
    const id = ask(hub, a, '@(a)', 'hub:send', { to: '@(nobody)', type: 'x', data: 1 });
    const reply = replyTo(hub, a, id)!;
    expect(reply.type).toBe('hub:unknown_actor');
    expect(reply.payload.message).toContain('not registered');
    expect(reply.payload.actorAddress).toBe('@(nobody)');
    const before = a.received.length;
    ask(hub, a, '@(a)', 'hub:send', { to: '@(nobody)', type: 'x', data: 1 }, { pattern: 'tell' });
    expect(a.received.length).toBe(before);
  });

  it('ambiguous target and spoofed from are refused', () => {
    const hub = new FakeHubObject();
    const a = connect(hub, '@(a)');
    const b = connect(hub, '@(b)');
    const id = ask(hub, a, '@(a)', 'hub:send', { to: '@(b)', type: 'x' }, { to: '@(c)' });
    expect(replyTo(hub, a, id)?.payload.code).toBe('ambiguous_target');
    const id2 = ask(hub, a, '@(b)', 'hub:send', { to: '@(b)', type: 'x' });
    expect(replyTo(hub, a, id2)).toMatchObject({ type: 'hub:unauthorized', payload: { reason: 'identity_mismatch' } });
    expect(frames(hub, b, 'x')).toHaveLength(0);
  });

  it('broadcast to 350 actors: first batch now, rest by alarm, exactly once, body serialised once', () => {
    const hub = new FakeHubObject(configWith({ broadcastSyncThreshold: 100 }));
    const sockets: FakeSocket[] = [];
    for (let i = 0; i < 350; i++) {
      const s = connect(hub, `@(n/${i})`);
      ask(hub, s, `@(n/${i})`, 'hub:register', { actorAddress: `@(n/${i})`, capabilities: i % 2 ? ['odd'] : [] });
      sockets.push(s);
    }
    const sender = sockets[0]!;
    nap(hub);
    const before = flatStringifyCount();
    const id = ask(hub, sender, '@(n/0)', 'hub:broadcast', { type: 'news', data: 7, excludeSelf: true });
    expect(flatStringifyCount() - before).toBe(1);
    const ack = replyTo(hub, sender, id)!;
    expect(ack.type).toBe('hub:broadcast_ack');
    expect(ack.payload).toMatchObject({ messageId: id, deliveredCount: 100, failedCount: 0, queuedCount: 249 });
    nap(hub);
    hub.advance(0);
    for (let step = 0; step < 10 && hub.alarmAt !== null && hub.alarmAt <= hub.clock.now(); step++) {
      hub.fireAlarm();
      nap(hub);
    }
    const counts = sockets.map((s) => frames(hub, s, 'news').length);
    expect(counts[0]).toBe(0);
    expect(counts.slice(1).every((c) => c === 1)).toBe(true);
    expect(frames(hub, sockets[5]!, 'news')[0]!.metadata.broadcast).toBe(true);
  });

  it('pub/sub: subscribe idempotent, publish counts, unsubscribe by id keeps the other', () => {
    const hub = new FakeHubObject();
    const a = connect(hub, '@(a)');
    const b = connect(hub, '@(b)');
    const s1 = replyTo(hub, a, ask(hub, a, '@(a)', 'hub:subscribe', { topic: 'news/a' }))!;
    const s2 = replyTo(hub, a, ask(hub, a, '@(a)', 'hub:subscribe', { topic: 'news/a' }))!;
    expect(s2.payload.subscriptionId).toBe(s1.payload.subscriptionId);
    ask(hub, a, '@(a)', 'hub:subscribe', { topic: 'news/b' });
    nap(hub);
    const pub = replyTo(hub, b, ask(hub, b, '@(b)', 'hub:publish', { topic: 'news/a', type: 'n', data: 1 }))!;
    expect(pub).toMatchObject({ type: 'hub:published', payload: { topic: 'news/a', subscriberCount: 1 } });
    expect(frames(hub, a, 'n')[0]!.metadata).toMatchObject({ topic: 'news/a', publication: true });
    const un = replyTo(hub, a, ask(hub, a, '@(a)', 'hub:unsubscribe', { subscriptionId: s1.payload.subscriptionId }))!;
    expect(un).toMatchObject({ type: 'hub:unsubscribed', payload: { topic: 'news/a', subscriptionId: s1.payload.subscriptionId } });
    nap(hub);
    ask(hub, b, '@(b)', 'hub:publish', { topic: 'news/a', type: 'n', data: 2 });
    ask(hub, b, '@(b)', 'hub:publish', { topic: 'news/b', type: 'n', data: 3 });
    expect(frames(hub, a, 'n').map((m) => m.payload)).toEqual([1, 3]);
    const bad = replyTo(hub, b, ask(hub, b, '@(b)', 'hub:subscribe', { topic: 'bad topic!' }))!;
    expect(bad.payload.code).toBe('invalid_message');
  });

  it('pause buffers in order, resume flushes, acks wait for the flush', () => {
    const hub = new FakeHubObject(configWith({ pauseBufferLimit: 3, rateLimitBurst: 100 }));
    const a = connect(hub, '@(a)');
    const b = connect(hub, '@(b)');
    ask(hub, b, '@(b)', 'hub:pause', null);
    expect(hub.hub().session(b.connId)!.snapshot.value).toBe('paused');
    nap(hub);
    const ids = [1, 2, 3, 4].map((n) => ask(hub, a, '@(a)', 'hub:send', { to: '@(b)', type: 'm', data: n }));
    expect(frames(hub, b, 'm')).toHaveLength(0);
    // The oldest was dropped beyond the limit of 3: its ask is answered as dropped.
    expect(replyTo(hub, a, ids[0]!)?.payload.status).toBe('dropped');
    expect(replyTo(hub, a, ids[1]!)).toBeUndefined();
    nap(hub);
    const r = replyTo(hub, b, ask(hub, b, '@(b)', 'hub:resume', null))!;
    expect(r.payload).toMatchObject({ flushed: 3, dropped: 1 });
    expect(frames(hub, b, 'm').map((m) => m.payload)).toEqual([2, 3, 4]);
    expect(replyTo(hub, a, ids[3]!)?.payload.status).toBe('delivered');
  });
});
