import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HubClient, type HubClientOptions } from '../../src/client/client';
import { FakeSocket, hubFrame } from './client-fake-socket';

/**
 * Issue 14 B in the client: requests in flight at an unexpected drop are
 * resent with their original ids when the next session will recognise them,
 * and subscriptions ask to recover from their last offset.
 */

const URL = 'ws://hub.test/ws/unit';
const ME = '@(unit/me)';
const BY_IDENTITY = { windowMs: 60_000, limit: 1000, scope: 'identity' as const };
const BY_SESSION = { windowMs: 60_000, limit: 1000, scope: 'session' as const };

const tick = () => vi.advanceTimersByTimeAsync(0);
const settle = <T>(p: Promise<T>) => p.then((value) => ({ value }), (error: unknown) => ({ error }));

const accept = async (client: HubClient, overrides: Parameters<FakeSocket['accept']>[0] = {}) => {
  const socket = FakeSocket.last;
  socket.open();
  await tick();
  socket.accept(overrides);
  await tick();
  expect(client.state).toBe('connected');
  return socket;
};

const connected = async (overrides: Parameters<FakeSocket['accept']>[0] = {}, options: Partial<HubClientOptions> = {}) => {
  const client = new HubClient({ url: URL, identity: ME, WebSocket: FakeSocket, random: () => 0.5, ...options });
  const ready = client.connect();
  const socket = await accept(client, overrides);
  await ready;
  return { client, socket };
};

/** Drops the connection and lets the client reconnect to a hub that says `overrides`. */
const reconnect = async (client: HubClient, socket: FakeSocket, overrides: Parameters<FakeSocket['accept']>[0]) => {
  socket.drop(1006);
  expect(client.state).toBe('reconnecting');
  await vi.advanceTimersByTimeAsync(100);
  return accept(client, overrides);
};

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('client resend after a drop', () => {
  it('resends asks and tells in flight with their original ids, in order, before new requests, when the hub dedups by identity', async () => {
    const { client, socket } = await connected({ idempotency: BY_IDENTITY });
    void client.send('@(unit/x)', 'tell', 1);
    const ask = client.ask('@(unit/x)', 'ask', 2);
    await tick();
    const written = socket.requests.filter((r) => r.type === 'hub:send');
    expect(written.map((r) => r.payload.data)).toEqual([1, 2]);

    socket.drop(1006);
    const later = client.send('@(unit/x)', 'new', 3);
    await vi.advanceTimersByTimeAsync(100);
    const next = await accept(client, { idempotency: BY_IDENTITY });
    const sends = next.requests.filter((r) => r.type === 'hub:send');
    expect(sends.map((r) => [r.id, r.payload.data])).toEqual([
      [written[0]!.id, 1],
      [written[1]!.id, 2],
      [expect.any(String), 3],
    ]);
    expect(sends[2]!.id).not.toBe(written[0]!.id);
    await later;
    // The hub answers the repeat with the original ack; the ask resolves with it.
    next.reply(sends[1]!, 'hub:delivery_ack', { messageId: sends[1]!.id, deliveredAt: 1, status: 'delivered' });
    await expect(ask).resolves.toMatchObject({ status: 'delivered' });
  });

  it('resends after a resumed session (same session, so a session-scoped hub recognises the ids)', async () => {
    const { client, socket } = await connected({ idempotency: BY_SESSION });
    const ask = settle(client.ask('@(unit/x)', 'ask', 1));
    await tick();
    const first = socket.request('hub:send');
    socket.drop(1006);
    await vi.advanceTimersByTimeAsync(100);
    const next = FakeSocket.last;
    next.open();
    await tick();
    const connect = next.request('hub:connect');
    next.reply(connect, 'hub:connected', {
      sessionId: 's-0',
      serverVersion: '0.1.0',
      maxMessageSize: 1_048_576,
      heartbeatInterval: 20_000,
      capabilities: { maxActorsPerInstance: 1, supportsBackpressure: true, supportedContentTypes: ['application/json'], idempotency: BY_SESSION },
      rateLimit: { perSecond: 10, burst: 20 },
      token: 't',
      tokenExpiresAt: Date.now() + 3_600_000,
      // Part A's field: the hub kept the session.
      resumed: true,
    }, { actorIdentity: ME });
    await tick();
    expect(next.request('hub:send').id).toBe(first.id);
    next.reply(first, 'hub:delivery_ack', { messageId: first.id, deliveredAt: 1, status: 'delivered' });
    expect(await ask).toMatchObject({ value: { status: 'delivered' } });
  });

  it('a rebuilt session scoped by session would take a resend as new: in-flight asks fail as connection_lost, nothing is resent', async () => {
    const { client, socket } = await connected({ idempotency: BY_SESSION });
    const ask = settle(client.ask('@(unit/x)', 'ask', 1));
    await tick();
    const next = await reconnect(client, socket, { idempotency: BY_SESSION });
    expect(await ask).toMatchObject({ error: { code: 'connection_lost' } });
    expect(next.requests.filter((r) => r.type === 'hub:send')).toEqual([]);
  });

  it('a held ask still times out on its own deadline', async () => {
    const { client, socket } = await connected({ idempotency: BY_IDENTITY }, { requestTimeoutMs: 1000, reconnect: true });
    const ask = settle(client.ask('@(unit/x)', 'ask', 1));
    await tick();
    socket.drop(1006);
    await vi.advanceTimersByTimeAsync(1000);
    expect(await ask).toMatchObject({ error: { code: 'timeout' } });
  });

  it('resends at most the limit the hub remembers, the newest ones; older asks fail as connection_lost', async () => {
    const { client, socket } = await connected({ idempotency: { ...BY_IDENTITY, limit: 1 } });
    const old = settle(client.ask('@(unit/x)', 'ask', 1));
    const young = settle(client.ask('@(unit/x)', 'ask', 2));
    await tick();
    const next = await reconnect(client, socket, { idempotency: { ...BY_IDENTITY, limit: 1 } });
    expect(await old).toMatchObject({ error: { code: 'connection_lost' } });
    const resent = next.requests.filter((r) => r.type === 'hub:send');
    expect(resent.map((r) => r.payload.data)).toEqual([2]);
    next.reply(resent[0]!, 'hub:delivery_ack', { messageId: resent[0]!.id, deliveredAt: 1, status: 'delivered' });
    expect(await young).toMatchObject({ value: { status: 'delivered' } });
  });
});

describe('client topic recovery after a rebuilt session', () => {
  it('resubscribes with since = the last publication seen, and reports topics it could not recover', async () => {
    const { client, socket } = await connected();
    const seen: unknown[] = [];
    const sub = client.subscribe('rooms/a', (m) => seen.push(m.payload));
    const other = client.subscribe('rooms/b');
    await tick();
    const [subA, subB] = socket.requests.filter((r) => r.type === 'hub:subscribe');
    socket.reply(subA!, 'hub:subscribed', { topic: 'rooms/a', subscriptionId: 'a1', offset: 4, epoch: 'E' });
    socket.reply(subB!, 'hub:subscribed', { topic: 'rooms/b', subscriptionId: 'b1', offset: 0, epoch: 'F' });
    await sub;
    await other;
    socket.receive(hubFrame('said', 'five', { to: ME, from: '@(unit/p)', metadata: { topic: 'rooms/a', publication: true, offset: 5, epoch: 'E' } }));
    expect(seen).toEqual(['five']);

    const restored = new Promise((resolve) => client.on('restored', resolve));
    const next = await reconnect(client, socket, {});
    const again = next.requests.filter((r) => r.type === 'hub:subscribe');
    expect(again.map((r) => r.payload)).toEqual([
      { topic: 'rooms/a', since: { offset: 5, epoch: 'E' } },
      { topic: 'rooms/b', since: { offset: 0, epoch: 'F' } },
    ]);
    next.reply(again[0]!, 'hub:subscribed', { topic: 'rooms/a', subscriptionId: 'a2', offset: 6, epoch: 'E', recovered: true });
    next.receive(hubFrame('said', 'six', { to: ME, from: '@(unit/p)', metadata: { topic: 'rooms/a', publication: true, offset: 6, epoch: 'E' } }));
    next.reply(again[1]!, 'hub:subscribed', { topic: 'rooms/b', subscriptionId: 'b2', offset: 9, epoch: 'G', recovered: false });
    expect(await restored).toEqual({ resumed: false, registrations: 0, subscriptions: 2, failed: 0, lostTopics: ['rooms/b'] });
    expect(seen).toEqual(['five', 'six']);
  });
});

describe('client resend and the session restore', () => {
  it('a register in flight at the drop goes before the restore (its stale answer first), a send after it', async () => {
    const { client, socket } = await connected({ idempotency: BY_IDENTITY });
    const first = client.register('@(unit/me/box)');
    await tick();
    socket.reply(socket.request('hub:register'), 'hub:registered', { actorAddress: '@(unit/me/box)', expiresAt: Date.now() + 300_000, renewalToken: 'r1', version: 1 });
    await first;
    const again = settle(client.register('@(unit/me/box)'));
    void client.send('@(unit/x)', 'note', 1, { from: '@(unit/me/box)' });
    await tick();
    const heldRegister = socket.requests.filter((r) => r.type === 'hub:register')[1]!;
    const next = await reconnect(client, socket, { idempotency: BY_IDENTITY });
    const order = next.requests.filter((r) => r.type !== 'hub:connect').map((r) => [r.type, r.id === heldRegister.id]);
    expect(order).toEqual([
      ['hub:register', true],
      ['hub:register', false],
      ['hub:send', false],
    ]);
    const [held, fresh] = next.requests.filter((r) => r.type === 'hub:register');
    next.reply(held!, 'hub:registered', { actorAddress: '@(unit/me/box)', expiresAt: Date.now() + 300_000, renewalToken: 'stale', version: 2 });
    next.reply(fresh!, 'hub:registered', { actorAddress: '@(unit/me/box)', expiresAt: Date.now() + 300_000, renewalToken: 'fresh', version: 1 });
    // The application's call gets the repeated answer; the restore's, sent after it, is the one kept.
    expect(await again).toMatchObject({ value: { renewalToken: 'stale' } });
  });
});
