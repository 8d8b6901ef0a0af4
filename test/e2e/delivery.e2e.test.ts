import { beforeAll, describe, expect, it } from 'vitest';
import { HUB_ADDRESS } from '../../src/protocol/envelope';
import { startDevServer, type DevServer } from '../../harness/net/dev-server';
import { WsTestClient, type Frame } from '../../harness/net/ws-client';
import { tidyDevServerTests } from './support/tidy-dev-server';

/**
 * Delivery (contract §6) as real clients see it: `wrangler dev --local`, `ws`
 * clients over TCP. The server runs with a rate limit high enough for the
 * long streams below; everything else keeps its default, so broadcasts are
 * sent 100 at once and the rest from alarms.
 */

let server: DevServer;
const open: WsTestClient[] = [];
let hubCounter = 0;

const freshHub = (label: string): string => `${label}-${process.pid}-${++hubCounter}`;
const hubUrl = (hub: string): string => `${server.wsUrl}/ws/${hub}`;

const connect = async (hub: string, identity: string): Promise<WsTestClient> => {
  const { client } = await WsTestClient.connected(hubUrl(hub), identity);
  open.push(client);
  return client;
};

const register = async (client: WsTestClient, actorAddress: string, capabilities: string[] = []): Promise<void> => {
  const reply = await client.ask('hub:register', { actorAddress, capabilities });
  expect(reply.type, JSON.stringify(reply.payload)).toBe('hub:registered');
};

/** Every frame of `type` the client received so far, consumed or not. */
const received = (client: WsTestClient, type: string): Frame[] =>
  client.events.flatMap((e) => (e.kind === 'frame' && e.frame.type === type ? [e.frame] : []));

/**
 * Heartbeat round trips in order: the hub handles a socket's frames in order
 * and writes each socket's frames in order, so once the last client's
 * heartbeat is answered, whatever earlier frames produced has arrived.
 */
const fence = async (...clients: WsTestClient[]): Promise<void> => {
  for (const c of clients) expect((await c.ask('hub:heartbeat', null)).type).toBe('hub:heartbeat_ack');
};

const waitFor = async (probe: () => boolean, timeoutMs: number, what: string): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

beforeAll(async () => {
  server = await startDevServer({ vars: { RATE_LIMIT_PER_SECOND: 100_000, RATE_LIMIT_BURST: 100_000 } });
});

tidyDevServerTests(open, () => server);

describe('delivery over TCP (§6)', () => {
  it('hub:send: ask is forwarded flat and acknowledged, tell is forwarded without a reply, unknown target is reported', async () => {
    const hub = freshHub('send');
    const a = await connect(hub, '@(e2e/a)');
    const b = await connect(hub, '@(e2e/b)');
    await register(b, '@(e2e/b/inbox)');

    const askId = a.request('hub:send', { to: '@(e2e/b/inbox)', type: 'greet', data: { text: 'hello' } }, { metadata: { traceId: 'e2e-1' } });
    const ack = await a.next((f) => f.correlationId === askId);
    expect(ack).toMatchObject({
      type: 'hub:delivery_ack',
      from: HUB_ADDRESS,
      to: '@(e2e/a)',
      payload: { messageId: askId, status: 'delivered' },
    });
    expect(typeof ack.payload.deliveredAt).toBe('number');
    const got = await b.next((f) => f.type === 'greet');
    expect(got).toMatchObject({
      from: '@(e2e/a)',
      to: '@(e2e/b/inbox)',
      payload: { text: 'hello' },
      pattern: 'tell',
      correlationId: null,
      metadata: { traceId: 'e2e-1', forwarded: true, via: HUB_ADDRESS, originalMessageId: askId },
    });

    const tellId = a.request('hub:send', { to: '@(e2e/b/inbox)', type: 'greet', data: { text: 'again' } }, { pattern: 'tell' });
    expect((await b.next((f) => f.type === 'greet')).payload).toEqual({ text: 'again' });
    await fence(a);
    expect(a.events.some((e) => e.kind === 'frame' && e.frame.correlationId === tellId)).toBe(false);

    const lost = await a.ask('hub:send', { to: '@(e2e/nobody)', type: 'greet', data: null });
    expect(lost.type).toBe('hub:unknown_actor');
    expect(lost.payload.message).toContain('not registered');
    expect(lost.payload.actorAddress).toBe('@(e2e/nobody)');
  });

  it('broadcast to 250 clients: the ack counts them and each receives it exactly once', async () => {
    const hub = freshHub('fanout');
    const clients: WsTestClient[] = [];
    // Connect in small waves so the dev server is never hit by 250 handshakes at once.
    for (let wave = 0; wave < 10; wave++) {
      const batch = await Promise.all(
        Array.from({ length: 25 }, async (_, i) => {
          const n = wave * 25 + i;
          const c = await connect(hub, `@(fan/c/${n})`);
          await register(c, `@(fan/c/${n})`);
          return c;
        }),
      );
      clients.push(...batch);
    }
    const sender = await connect(hub, '@(fan/sender)');
    const id = sender.request('hub:broadcast', { type: 'fan', data: { wave: 'all' } });
    const ack = await sender.next((f) => f.correlationId === id, 10_000);
    expect(ack).toMatchObject({ type: 'hub:broadcast_ack', payload: { messageId: id, failedCount: 0 } });
    // The first BROADCAST_SYNC_THRESHOLD (100) go out at once, the rest from alarms.
    expect(ack.payload.deliveredCount).toBe(100);
    expect(ack.payload.queuedCount).toBe(150);

    await waitFor(() => clients.every((c) => received(c, 'fan').length >= 1), 30_000, 'every client received the broadcast');
    // Late duplicates would arrive within this window and behind the fences.
    await new Promise((r) => setTimeout(r, 500));
    await fence(sender, ...clients.slice(0, 5), ...clients.slice(-5));
    clients.forEach((c, n) => {
      const frames = received(c, 'fan');
      expect(frames.map((f) => f.to), `client ${n}`).toEqual([`@(fan/c/${n})`]);
      expect(frames[0]).toMatchObject({ from: '@(fan/sender)', correlationId: null, metadata: { broadcast: true, originalMessageId: id } });
    });
    expect(received(sender, 'fan')).toEqual([]);
  });

  it('publishes to several topics: each subscriber receives exactly its topics, counts match', async () => {
    const hub = freshHub('topics');
    const pub = await connect(hub, '@(tp/pub)');
    const one = await connect(hub, '@(tp/one)');
    const two = await connect(hub, '@(tp/two)');
    for (const t of ['t.1', 't.2']) expect((await one.ask('hub:subscribe', { topic: t })).type).toBe('hub:subscribed');
    for (const t of ['t.2', 't.3']) expect((await two.ask('hub:subscribe', { topic: t })).type).toBe('hub:subscribed');

    const counts: Record<string, number> = {};
    for (const topic of ['t.1', 't.2', 't.3', 't.4']) {
      const r = await pub.ask('hub:publish', { topic, type: 'news', data: topic });
      expect(r.type).toBe('hub:published');
      expect(r.payload.topic).toBe(topic);
      counts[topic] = r.payload.subscriberCount;
    }
    expect(counts).toEqual({ 't.1': 1, 't.2': 2, 't.3': 1, 't.4': 0 });
    await fence(pub, one, two);
    expect(received(one, 'news').map((f) => f.payload)).toEqual(['t.1', 't.2']);
    expect(received(two, 'news').map((f) => f.payload)).toEqual(['t.2', 't.3']);
    for (const f of [...received(one, 'news'), ...received(two, 'news')]) {
      expect(f.metadata).toMatchObject({ topic: f.payload, publication: true, forwarded: true });
      expect(f.correlationId).toBeNull();
    }
  });

  it('unsubscribing from topic A keeps the subscription to topic B', async () => {
    const hub = freshHub('unsub');
    const pub = await connect(hub, '@(us/pub)');
    const sub = await connect(hub, '@(us/sub)');
    const a = await sub.ask('hub:subscribe', { topic: 'topic-a' });
    const b = await sub.ask('hub:subscribe', { topic: 'topic-b' });
    const un = await sub.ask('hub:unsubscribe', { topic: 'topic-a' });
    expect(un).toMatchObject({ type: 'hub:unsubscribed', payload: { topic: 'topic-a', subscriptionId: a.payload.subscriptionId } });
    expect((await pub.ask('hub:publish', { topic: 'topic-a', type: 'u', data: 'a' })).payload.subscriberCount).toBe(0);
    expect((await pub.ask('hub:publish', { topic: 'topic-b', type: 'u', data: 'b' })).payload.subscriberCount).toBe(1);
    await fence(pub, sub);
    expect(received(sub, 'u').map((f) => f.payload)).toEqual(['b']);
    // The kept subscription is still the one created first.
    const again = await sub.ask('hub:subscribe', { topic: 'topic-b' });
    expect(again.payload.subscriptionId).toBe(b.payload.subscriptionId);
  });

  it('delivers 500 messages between two clients in send order', async () => {
    const hub = freshHub('order');
    const a = await connect(hub, '@(ord/a)');
    const b = await connect(hub, '@(ord/b)');
    await register(b, '@(ord/b/in)');
    const asks: string[] = [];
    for (let i = 0; i < 500; i++) {
      const isAsk = i % 50 === 49;
      const id = a.request('hub:send', { to: '@(ord/b/in)', type: 'seq', data: i }, { pattern: isAsk ? 'ask' : 'tell' });
      if (isAsk) asks.push(id);
    }
    for (const id of asks) {
      const ack = await a.next((f) => f.correlationId === id, 20_000);
      expect(ack.type, JSON.stringify(ack.payload)).toBe('hub:delivery_ack');
    }
    await fence(a, b);
    expect(received(b, 'seq').map((f) => f.payload)).toEqual(Array.from({ length: 500 }, (_, i) => i));
  });

  // Issue 12 §1: ws validates UTF-8 and fails the connection with 1007 on a bad text frame, as browsers do.
  it('lone surrogates never reach the wire: refused as invalid_message; non-BMP text round-trips intact', async () => {
    const hub = freshHub('utf8');
    const a = await connect(hub, '@(utf8/alice)');
    const b = await connect(hub, '@(utf8/😀)');
    await register(b, '@(utf8/😀)');
    // JSON.stringify writes the lone surrogate as the escape "\ud800", which parses back to one.
    const reg = await a.ask('hub:register', { actorAddress: '@(utf8/x\ud800)', capabilities: [] });
    expect(reg.payload).toMatchObject({ code: 'invalid_message', details: { issues: [{ path: 'payload.actorAddress' }] } });
    const bad = await a.ask('hub:send', { to: '@(utf8/😀)', type: 'm', data: { text: 'a\udc00' } });
    expect(bad.payload).toMatchObject({ code: 'invalid_message', details: { issues: [{ path: 'payload.data.text' }] } });
    const ok = await a.ask('hub:send', { to: '@(utf8/😀)', type: 'm', data: { text: '𝄞 ☃ 😀' } });
    expect(ok.type).toBe('hub:delivery_ack');
    await fence(a, b);
    expect(received(b, 'm').map((f) => [f.to, f.payload])).toEqual([['@(utf8/😀)', { text: '𝄞 ☃ 😀' }]]);
    expect(a.closed).toBeNull();
    expect(b.closed).toBeNull();
  });
});
