import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HubClient, type HubClientOptions } from '../../src/client/client';
import type { ConnectionState } from '../../src/client/connection-machine';
import { HubError } from '../../src/client/errors';
import type { HubClientEvents, HubMessage } from '../../src/client/types';
import { startDevServer, type DevServer } from '../../harness/net/dev-server';
import { PING_FRAME } from '../../src/protocol/ping';

/**
 * The client library against a real hub: `wrangler dev --local` and the `ws`
 * package's WebSocket, as a Node application would use it.
 */


/**
 * A `ws` WebSocket class whose pings can be swallowed, so that the hub's
 * heartbeat timeout closes the session: a server-side drop the client must
 * recover from. Everything else goes through untouched.
 */
const silenceableWebSocket = () => {
  const control = { silent: false, swallowed: 0 };
  class SilenceableWebSocket extends WebSocket {
    override send(data: any, ...rest: any[]): void {
      if (control.silent && data === PING_FRAME) {
        control.swallowed++;
        return;
      }
      (super.send as (...args: any[]) => void)(data, ...rest);
    }
  }
  return { control, WebSocketClass: SilenceableWebSocket };
};

const waitFor = async (probe: () => boolean, timeoutMs: number, what: string): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let hubCounter = 0;
const freshHub = (label: string): string => `${label}-${process.pid}-${++hubCounter}`;

const clients: HubClient[] = [];

/** A client whose state changes and messages are recorded for the assertions. */
const makeClient = (server: DevServer, hub: string, identity: string, extra: Partial<HubClientOptions> = {}) => {
  const client = new HubClient({ url: `${server.wsUrl}/ws/${hub}`, identity, WebSocket, ...extra });
  clients.push(client);
  const states: ConnectionState[] = [];
  const messages: HubMessage[] = [];
  const errors: HubError[] = [];
  client.on('state', (s) => states.push(s.state));
  client.on('message', (m) => messages.push(m));
  client.on('error', (e) => errors.push(e));
  return { client, states, messages, errors };
};

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.disconnect().catch(() => undefined)));
});

describe('client against wrangler dev (short heartbeat)', () => {
  let server: DevServer;

  beforeAll(async () => {
    // A 1 s heartbeat interval and 3 s timeout: the client's pings keep it alive, and a
    // client whose pings are swallowed is dropped by the hub within a few seconds.
    server = await startDevServer({ vars: { HB_INTERVAL_SECONDS: 1, HEARTBEAT_TIMEOUT_MS: 3_000 } });
  });
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') console.error(`--- wrangler output (tail) ---\n${server.output().slice(-6_000)}`);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('round trip: connect, register, discover, list, ask, tell, subscribe/publish, unsubscribe, broadcast, pause/resume, refreshToken', async () => {
    const hub = freshHub('api');
    const alice = makeClient(server, hub, '@(e2e/alice)');
    const bob = makeClient(server, hub, '@(e2e/bob)');
    const [infoA] = await Promise.all([alice.client.connect(), bob.client.connect()]);
    expect(infoA.heartbeatInterval).toBe(1_000);
    expect(alice.client.state).toBe('connected');
    expect(alice.client.identity).toBe('@(e2e/alice)');

    const reg = await alice.client.register('@(e2e/alice)', { capabilities: ['chat'], actorMetadata: { room: 'r1' } });
    expect(reg).toMatchObject({ actorAddress: '@(e2e/alice)', version: 1 });
    await bob.client.register('@(e2e/bob)', { capabilities: ['chat'] });

    const found = await alice.client.discover('e2e/*', { capability: 'chat' });
    expect(found.actors.map((a) => a.address)).toEqual(['@(e2e/alice)', '@(e2e/bob)']);
    expect(found.actors[0]!.metadata).toEqual({ room: 'r1' });
    const list = await bob.client.listActors({ limit: 10 });
    expect(list.total).toBe(2);

    const ack = await alice.client.ask('@(e2e/bob)', 'greet', { text: 'hello bob' });
    expect(ack.status).toBe('delivered');
    expect(typeof ack.deliveredAt).toBe('number');
    await waitFor(() => bob.messages.length === 1, 5_000, 'bob receives the ask');
    expect(bob.messages[0]).toMatchObject({
      from: '@(e2e/alice)',
      to: '@(e2e/bob)',
      type: 'greet',
      payload: { text: 'hello bob' },
      metadata: { forwarded: true, originalMessageId: ack.messageId },
    });

    await bob.client.send('@(e2e/alice)', 'reply', 'hi alice');
    await waitFor(() => alice.messages.some((m) => m.type === 'reply'), 5_000, 'alice receives the tell');

    const unknown = await alice.client.ask('@(e2e/nobody)', 'greet').catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(HubError);
    expect(unknown).toMatchObject({ code: 'unknown_actor', retryable: true, extra: { actorAddress: '@(e2e/nobody)' } });

    const seen: unknown[] = [];
    const sub = await bob.client.subscribe('rooms/lobby', (m) => seen.push(m.payload));
    expect(sub.subscriptionId).toEqual(expect.any(String));
    const published = await alice.client.publish('rooms/lobby', 'said', { text: 'one' });
    // offset and epoch: the topic's history position (issue 14 B).
    expect(published).toEqual({ topic: 'rooms/lobby', subscriberCount: 1, offset: expect.any(Number), epoch: expect.any(String) });
    await waitFor(() => seen.length === 1, 5_000, 'bob receives the publication');
    expect(seen).toEqual([{ text: 'one' }]);

    await sub.unsubscribe();
    const after = await alice.client.publish('rooms/lobby', 'said', { text: 'two' });
    expect(after.subscriberCount).toBe(0);

    const broadcast = await alice.client.broadcast('notice', 'all', { excludeSelf: true, targetCapability: 'chat' });
    expect(broadcast).toMatchObject({ deliveredCount: 1, failedCount: 0, queuedCount: 0 });
    await waitFor(() => bob.messages.some((m) => m.type === 'notice'), 5_000, 'bob receives the broadcast');
    expect(seen).toEqual([{ text: 'one' }]);

    // pause(): the hub holds deliveries to bob, so the ask's delivery_ack waits for resume().
    expect(await bob.client.pause('busy')).toMatchObject({ paused: true });
    let acked = false;
    const held = alice.client.ask('@(e2e/bob)', 'while-paused', 1).then((a) => {
      acked = true;
      return a;
    });
    await sleep(500);
    expect(acked).toBe(false);
    expect(bob.messages.some((m) => m.type === 'while-paused')).toBe(false);
    expect(await bob.client.resume()).toMatchObject({ paused: false, flushed: 1, dropped: 0 });
    expect((await held).status).toBe('delivered');
    await waitFor(() => bob.messages.some((m) => m.type === 'while-paused'), 5_000, 'the held message');

    // refreshToken(): the session token is exchanged, and the new one can be exchanged again.
    const refreshed = await alice.client.refreshToken();
    expect(refreshed.token).not.toBe(infoA.token);
    const again = await alice.client.refreshToken();
    expect(again.token).not.toBe(refreshed.token);
    await expect(alice.client.refreshToken(infoA.token)).rejects.toMatchObject({ code: 'invalid_token' });

    expect(alice.client.state).toBe('connected');
    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);

    await alice.client.disconnect();
    expect(alice.client.state).toBe('closed');
    expect(alice.client.closedReason).toBe('client');
    await sleep(1_000);
    expect(alice.states.filter((s) => s === 'connecting')).toHaveLength(1);
  });

  it('stays connected on pings alone for longer than the heartbeat timeout', async () => {
    const hub = freshHub('idle');
    const idle = makeClient(server, hub, '@(e2e/idle)');
    await idle.client.connect();
    await sleep(5_000);
    expect(idle.client.state).toBe('connected');
    expect(idle.states).toEqual(['connecting', 'connected']);
    expect((await idle.client.discover('*')).actors).toEqual([]);
  });

  it('resumes after the hub drops the socket (heartbeat timeout): keeps its registration and subscription, and flushes sends queued meanwhile in order', async () => {
    const hub = freshHub('drop');
    const { control, WebSocketClass } = silenceableWebSocket();
    const carol = makeClient(server, hub, '@(e2e/carol)', { WebSocket: WebSocketClass });
    const dave = makeClient(server, hub, '@(e2e/dave)');
    await Promise.all([carol.client.connect(), dave.client.connect()]);
    await carol.client.register('@(e2e/carol/inbox)', { capabilities: ['chat'] });
    await dave.client.register('@(e2e/dave)');
    const news: unknown[] = [];
    await carol.client.subscribe('news', (m) => news.push(m.payload), { from: '@(e2e/carol/inbox)' });

    const disconnects: HubClientEvents['disconnected'][] = [];
    carol.client.on('disconnected', (d) => {
      disconnects.push(d);
      control.silent = false;
    });
    // Sends made while reconnecting are queued and go out after the restore.
    carol.client.on('state', (s) => {
      if (s.state !== 'reconnecting') return;
      for (const n of [1, 2, 3]) void carol.client.send('@(e2e/dave)', 'queued', n, { from: '@(e2e/carol/inbox)' });
    });
    const restored = new Promise<unknown>((resolve) => carol.client.on('restored', resolve));

    control.silent = true;
    await waitFor(() => disconnects.length > 0, 15_000, 'the hub closing the silent session');
    expect(control.swallowed).toBeGreaterThan(0);
    expect(disconnects[0]).toEqual({
      code: 4408,
      reason: 'heartbeat_timeout',
      willReconnect: true,
      cause: { kind: 'closed', code: 4408, reason: 'heartbeat_timeout', message: 'the connection closed with code 4408 (heartbeat_timeout)' },
    });
    // A heartbeat timeout suspends the session (session resume): the client resumes it instead of rebuilding it.
    expect(await restored).toEqual({ resumed: true, registrations: 1, subscriptions: 1, failed: 0, lostTopics: [] });
    expect(carol.client.state).toBe('connected');
    expect(carol.states).toEqual(['connecting', 'connected', 'reconnecting', 'connecting', 'connected']);

    await waitFor(() => dave.messages.filter((m) => m.type === 'queued').length === 3, 5_000, 'queued sends');
    const queued = dave.messages.filter((m) => m.type === 'queued');
    expect(queued.map((m) => m.payload)).toEqual([1, 2, 3]);
    expect(queued.every((m) => m.from === '@(e2e/carol/inbox)')).toBe(true);

    // The kept subscription receives publications again, and the kept address is reachable.
    const published = await dave.client.publish('news', 'headline', 'after the drop');
    expect(published.subscriberCount).toBe(1);
    await waitFor(() => news.length === 1, 5_000, 'publication after the reconnect');
    expect(news).toEqual(['after the drop']);
    const ack = await dave.client.ask('@(e2e/carol/inbox)', 'ping-me', null);
    expect(ack.status).toBe('delivered');
    const discovered = await dave.client.discover('e2e/carol/*');
    expect(discovered.actors.map((a) => a.address)).toEqual(['@(e2e/carol/inbox)']);
  });

  it('duplicate eviction ends the evicted client for good; the newer client keeps the address', async () => {
    const hub = freshHub('dup');
    const first = makeClient(server, hub, '@(e2e/erin-1)');
    const second = makeClient(server, hub, '@(e2e/erin-2)');
    const sender = makeClient(server, hub, '@(e2e/frank)');
    await Promise.all([first.client.connect(), second.client.connect(), sender.client.connect()]);
    await first.client.register('@(e2e/erin)');
    const subscription = await first.client.subscribe('dup-topic');
    expect(subscription.topic).toBe('dup-topic');

    const reg = await second.client.register('@(e2e/erin)');
    expect(reg.version).toBe(2);
    await waitFor(() => first.client.state === 'closed', 5_000, 'the evicted client closing');
    expect(first.client.closedReason).toBe('duplicate_connection');
    await expect(first.client.discover('*')).rejects.toMatchObject({ code: 'client_closed' });

    // Well past several backoff periods: no attempt to come back and take the address again.
    await sleep(2_000);
    expect(first.states).toEqual(['connecting', 'connected', 'closed']);
    const ack = await sender.client.ask('@(e2e/erin)', 'who', null);
    expect(ack.status).toBe('delivered');
    await waitFor(() => second.messages.some((m) => m.type === 'who'), 5_000, 'the newer client receiving');
    expect(first.messages).toEqual([]);
    expect((await sender.client.publish('dup-topic', 't', null)).subscriberCount).toBe(0);
  });
});

describe('client against wrangler dev (low rate limit)', () => {
  let server: DevServer;

  beforeAll(async () => {
    server = await startDevServer({ vars: { RATE_LIMIT_PER_SECOND: 5, RATE_LIMIT_BURST: 3 } });
  });
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') console.error(`--- wrangler output (tail) ---\n${server.output().slice(-6_000)}`);
  });
  afterAll(async () => {
    await server?.stop();
  });

  const burst = async (label: string, pace: boolean) => {
    const hub = freshHub(label);
    const sender = makeClient(server, hub, '@(e2e/burst/sender)', { pace, requestTimeoutMs: 30_000 });
    const receiver = makeClient(server, hub, '@(e2e/burst/receiver)');
    await Promise.all([sender.client.connect(), receiver.client.connect()]);
    const info = sender.client.connection!;
    expect(info.rateLimit).toEqual({ perSecond: 5, burst: 3 });
    let refusals = 0;
    sender.client.on('rateLimited', () => refusals++);

    const count = 15;
    const acks = await Promise.all(
      Array.from({ length: count }, (_, i) => sender.client.ask('@(e2e/burst/receiver)', 'n', i)),
    );
    expect(acks.every((a) => a.status === 'delivered')).toBe(true);
    await waitFor(() => receiver.messages.length === count, 5_000, 'every message arriving');
    const received = receiver.messages.map((m) => m.payload as number);
    expect([...received].sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, i) => i));
    expect(sender.errors).toEqual([]);
    expect(sender.client.state).toBe('connected');
    return { refusals, received };
  };

  it('without pacing: a burst of asks is refused by the hub, retried after retryAfter, and all succeed', async () => {
    const { refusals } = await burst('rate-raw', false);
    expect(refusals).toBeGreaterThan(0);
  });

  it('with pacing (the default): the burst is spread over the advertised rate and arrives in order', async () => {
    const { refusals, received } = await burst('rate-paced', true);
    // A few refusals can happen when frames bunch up on the way; most must be avoided.
    expect(refusals).toBeLessThan(5);
    if (refusals === 0) expect(received).toEqual(Array.from({ length: 15 }, (_, i) => i));
  });
});
