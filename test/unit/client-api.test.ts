import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HubClient, type HubClientOptions } from '../../src/client/client';
import { HubError } from '../../src/client/errors';
import { HUB_ADDRESS, PROTOCOL_VERSION } from '../../src/protocol/envelope';
import { requestSchemas, type RequestType } from '../../src/protocol/messages';
import { FakeSocket, hubFrame, type Frame } from './client-fake-socket';

const URL = 'ws://hub.test/ws/unit';
const ME = '@(unit/me)';

const tick = () => vi.advanceTimersByTimeAsync(0);

const make = (options: Partial<HubClientOptions> = {}): HubClient =>
  new HubClient({ url: URL, identity: ME, WebSocket: FakeSocket, random: () => 0.5, ...options });

/** Opens the client's current socket and completes hub:connect. */
const accept = async (client: HubClient, overrides: Parameters<FakeSocket['accept']>[0] = {}) => {
  const socket = FakeSocket.last;
  socket.open();
  await tick();
  socket.accept(overrides);
  await tick();
  expect(client.state).toBe('connected');
  return socket;
};

const connected = async (options: Partial<HubClientOptions> = {}) => {
  const client = make(options);
  const ready = client.connect();
  const socket = await accept(client);
  await ready;
  return { client, socket };
};

/** Captures a promise's rejection as a value so a test can assert on it after advancing timers. */
const settle = <T>(p: Promise<T>) => p.then((value) => ({ value }), (error: unknown) => ({ error }));

/** The request's payload must pass the same zod schema the hub validates with. */
const checkSchema = (frame: Frame) => {
  const schema = requestSchemas[frame.type as RequestType];
  expect(schema, frame.type).toBeDefined();
  expect(schema.safeParse(frame.payload).success, JSON.stringify(frame)).toBe(true);
};

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('HubClient: connect', () => {
  it('sends hub:connect with the protocol version, capabilities and token, and resolves with hub:connected', async () => {
    const client = make({ capabilities: ['chat'], token: 'jwt-1' });
    const states: string[] = [];
    client.on('state', (s) => states.push(`${s.previous}->${s.state}`));
    const ready = client.connect();
    expect(client.state).toBe('connecting');
    const socket = FakeSocket.last;
    expect(socket.url).toBe(URL);
    socket.open();
    await tick();
    const connect = socket.request('hub:connect');
    expect(connect).toMatchObject({
      from: ME,
      to: HUB_ADDRESS,
      pattern: 'ask',
      metadata: { protocolVersion: PROTOCOL_VERSION, capabilities: ['chat'], authToken: 'jwt-1' },
    });
    socket.accept({ identity: '@(from-token)', heartbeatInterval: 5_000 });
    const info = await ready;
    expect(info.heartbeatInterval).toBe(5_000);
    expect(client.state).toBe('connected');
    // With auth on the hub decides the identity; later requests use it.
    expect(client.identity).toBe('@(from-token)');
    void client.discover('*');
    expect(socket.request('hub:discover').from).toBe('@(from-token)');
    expect(states).toEqual(['idle->connecting', 'connecting->connected']);
  });

  it('calls a token function before every connect', async () => {
    let n = 0;
    const client = make({ token: async () => `jwt-${++n}` });
    void client.connect();
    const first = await accept(client);
    expect(first.request('hub:connect').metadata.authToken).toBe('jwt-1');
    first.drop(1006);
    await vi.advanceTimersByTimeAsync(100);
    const second = await accept(client);
    expect(second.request('hub:connect').metadata.authToken).toBe('jwt-2');
  });

  it('requests before connect() are refused; requests while connecting wait for hub:connected', async () => {
    const client = make();
    await expect(client.discover('*')).rejects.toMatchObject({ code: 'not_connected' });
    void client.connect();
    const pending = client.discover('demo/*');
    const socket = FakeSocket.last;
    socket.open();
    await tick();
    expect(socket.requests.map((r) => r.type)).toEqual(['hub:connect']);
    socket.accept();
    await tick();
    const discover = socket.request('hub:discover');
    socket.reply(discover, 'hub:discovered', { actors: [], hasMore: false });
    await expect(pending).resolves.toEqual({ actors: [], hasMore: false });
  });

  it('a version mismatch rejects connect() with a typed error and never reconnects', async () => {
    const client = make({ protocolVersion: '9.0.0' });
    const ready = settle(client.connect());
    const socket = FakeSocket.last;
    socket.open();
    await tick();
    socket.reply(socket.request('hub:connect'), 'hub:version_mismatch', {
      code: 'version_mismatch',
      message: 'Protocol 9.0.0 is not supported.',
      resolution: 'Use 0.1.0.',
      retryable: false,
      clientVersion: '9.0.0',
      serverVersion: '0.1.0',
      supportedVersions: ['0.1.0'],
    });
    socket.drop(4400, 'version_mismatch');
    const result = await ready;
    expect('error' in result && result.error).toBeInstanceOf(HubError);
    expect((result as { error: HubError }).error).toMatchObject({
      code: 'version_mismatch',
      retryable: false,
      resolution: 'Use 0.1.0.',
      extra: { serverVersion: '0.1.0', supportedVersions: ['0.1.0'] },
    });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(client.state).toBe('closed');
    expect(client.closedReason).toBe('version_mismatch');
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('an unauthorized connect ends without reconnecting', async () => {
    const client = make({ token: 'bad' });
    const ready = settle(client.connect());
    const socket = FakeSocket.last;
    socket.open();
    await tick();
    socket.reply(socket.request('hub:connect'), 'hub:unauthorized', {
      code: 'unauthorized',
      message: 'hub:connect refused: invalid signature.',
      resolution: 'Sign with the right key.',
      retryable: false,
      action: 'connect',
      reason: 'invalid_signature',
    });
    socket.drop(4401, 'unauthorized');
    expect(await ready).toMatchObject({ error: { code: 'unauthorized', extra: { reason: 'invalid_signature' } } });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(client.closedReason).toBe('unauthorized');
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('keeps trying while the hub cannot be reached, and resolves connect() once it answers', async () => {
    const client = make();
    const ready = client.connect();
    FakeSocket.last.drop(1006); // connection refused
    expect(client.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(100);
    FakeSocket.last.drop(1006);
    await vi.advanceTimersByTimeAsync(200);
    expect(FakeSocket.instances).toHaveLength(3);
    await accept(client);
    await expect(ready).resolves.toMatchObject({ serverVersion: '0.1.0' });
  });

  it('abandons a socket that does not connect within connectTimeoutMs', async () => {
    const client = make({ connectTimeoutMs: 3_000 });
    void client.connect();
    const first = FakeSocket.last;
    await vi.advanceTimersByTimeAsync(3_000);
    expect(first.closedByClient).not.toBeNull();
    expect(client.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(100);
    expect(FakeSocket.instances).toHaveLength(2);
  });
});

describe('HubClient: requests', () => {
  it('builds every request with the shared schemas and resolves with the reply payload', async () => {
    const { client, socket } = await connected();
    const cases: { call: () => Promise<unknown>; type: string; payload: unknown; reply: string; answer: unknown }[] = [
      {
        call: () => client.register('@(unit/me/a)', { capabilities: ['chat'], actorMetadata: { room: 'x' }, ttlSeconds: 60 }),
        type: 'hub:register',
        payload: { actorAddress: '@(unit/me/a)', capabilities: ['chat'], metadata: { room: 'x' }, ttlSeconds: 60 },
        reply: 'hub:registered',
        answer: { actorAddress: '@(unit/me/a)', expiresAt: Date.now() + 60_000, renewalToken: 'r1', version: 1 },
      },
      {
        call: () => client.renew('@(unit/me/a)'),
        type: 'hub:renew',
        payload: { renewalToken: 'r1' },
        reply: 'hub:renewed',
        answer: { actorAddress: '@(unit/me/a)', expiresAt: Date.now() + 60_000, renewalToken: 'r2' },
      },
      {
        call: () => client.discover('unit/*', { capability: 'chat', limit: 5 }),
        type: 'hub:discover',
        payload: { pattern: 'unit/*', capability: 'chat', limit: 5 },
        reply: 'hub:discovered',
        answer: { actors: [{ address: '@(unit/me/a)', capabilities: ['chat'], metadata: {} }], hasMore: false },
      },
      {
        call: () => client.listActors({ offset: 2, limit: 3 }),
        type: 'hub:list_actors',
        payload: { offset: 2, limit: 3 },
        reply: 'hub:actor_list',
        answer: { actors: [], total: 2, offset: 2, limit: 3, hasMore: false },
      },
      {
        call: () => client.broadcast('note', { x: 1 }, { excludeSelf: true, targetCapability: 'chat' }),
        type: 'hub:broadcast',
        payload: { type: 'note', data: { x: 1 }, excludeSelf: true },
        reply: 'hub:broadcast_ack',
        answer: { messageId: 'm', deliveredCount: 1, failedCount: 0, queuedCount: 0 },
      },
      {
        call: () => client.publish('rooms/a', 'said', 'hi'),
        type: 'hub:publish',
        payload: { topic: 'rooms/a', type: 'said', data: 'hi' },
        reply: 'hub:published',
        answer: { topic: 'rooms/a', subscriberCount: 0 },
      },
      {
        call: () => client.pause('busy'),
        type: 'hub:pause',
        payload: { reason: 'busy' },
        reply: 'hub:paused',
        answer: { paused: true, bufferLimit: 1000 },
      },
      {
        call: () => client.resume(),
        type: 'hub:resume',
        payload: null,
        reply: 'hub:resumed',
        answer: { paused: false, flushed: 0, dropped: 0 },
      },
      {
        call: () => client.refreshToken(),
        type: 'hub:refresh_token',
        payload: { token: 'session-token-1' },
        reply: 'hub:token_refreshed',
        answer: { token: 'session-token-2', expiresAt: Date.now() + 3_600_000 },
      },
      {
        call: () => client.unregister('@(unit/me/a)'),
        type: 'hub:unregister',
        payload: { actorAddress: '@(unit/me/a)' },
        reply: 'hub:unregistered',
        answer: { actorAddress: '@(unit/me/a)' },
      },
    ];
    for (const c of cases) {
      const pending = c.call();
      const frame = socket.request(c.type);
      expect(frame.payload, c.type).toEqual(c.payload);
      expect(frame.pattern).toBe('ask');
      checkSchema(frame);
      socket.reply(frame, c.reply, c.answer);
      await expect(pending, c.type).resolves.toEqual(c.answer);
    }
    expect(socket.request('hub:broadcast').metadata).toEqual({ targetCapability: 'chat' });
    expect(socket.request('hub:renew').from).toBe('@(unit/me/a)');
    // The refreshed token is the one a second refresh presents.
    void client.refreshToken();
    expect(socket.request('hub:refresh_token').payload).toEqual({ token: 'session-token-2' });
  });

  it('ask resolves on hub:delivery_ack', async () => {
    const { client, socket } = await connected();
    const pending = client.ask('@(unit/other)', 'greet', { text: 'hi' }, { metadata: { traceId: 't1' }, ttl: 5_000 });
    const frame = socket.request('hub:send');
    checkSchema(frame);
    expect(frame).toMatchObject({
      pattern: 'ask',
      to: HUB_ADDRESS,
      from: ME,
      ttl: 5_000,
      metadata: { traceId: 't1' },
      payload: { to: '@(unit/other)', type: 'greet', data: { text: 'hi' } },
    });
    socket.reply(frame, 'hub:delivery_ack', { messageId: frame.id, deliveredAt: 123, status: 'delivered' });
    await expect(pending).resolves.toEqual({ messageId: frame.id, deliveredAt: 123, status: 'delivered' });
  });

  it('sendWithAck rejects with a HubError carrying the hub error fields', async () => {
    const { client, socket } = await connected();
    const pending = settle(client.sendWithAck('@(unit/nobody)', 'greet'));
    const frame = socket.request('hub:send');
    socket.reply(frame, 'hub:unknown_actor', {
      code: 'unknown_actor',
      message: 'Actor @(unit/nobody) is not registered with this hub.',
      resolution: 'Discover a live actor.',
      retryable: true,
      actorAddress: '@(unit/nobody)',
    });
    const { error } = (await pending) as { error: HubError };
    expect(error).toBeInstanceOf(HubError);
    expect(error).toMatchObject({
      code: 'unknown_actor',
      message: 'Actor @(unit/nobody) is not registered with this hub.',
      resolution: 'Discover a live actor.',
      retryable: true,
      replyType: 'hub:unknown_actor',
      requestId: frame.id,
      extra: { actorAddress: '@(unit/nobody)' },
    });
  });

  it('passes details of hub:error through', async () => {
    const { client, socket } = await connected();
    const pending = settle(client.subscribe('rooms/a'));
    socket.reply(socket.request('hub:subscribe'), 'hub:error', {
      code: 'invalid_message',
      message: 'bad',
      resolution: 'fix',
      retryable: false,
      details: { issues: [{ path: 'payload.topic', message: 'x' }] },
    });
    expect(await pending).toMatchObject({
      error: { code: 'invalid_message', retryable: false, details: { issues: [{ path: 'payload.topic' }] } },
    });
  });

  it('rejects with timeout when no reply arrives, and ignores a reply that comes later', async () => {
    const { client, socket } = await connected({ requestTimeoutMs: 2_000 });
    const pending = settle(client.ask('@(unit/slow)', 'x', null, { timeoutMs: 500 }));
    const other = settle(client.discover('*'));
    await vi.advanceTimersByTimeAsync(499);
    const frame = socket.request('hub:send');
    await vi.advanceTimersByTimeAsync(1);
    expect(await pending).toMatchObject({ error: { code: 'timeout', retryable: true } });
    socket.reply(frame, 'hub:delivery_ack', { messageId: frame.id, deliveredAt: 1, status: 'delivered' });
    await vi.advanceTimersByTimeAsync(1_500);
    expect(await other).toMatchObject({ error: { code: 'timeout' } });
  });

  it('send (tell) resolves when written; a later refusal is emitted as an error event', async () => {
    const { client, socket } = await connected();
    const errors: HubError[] = [];
    client.on('error', (e) => errors.push(e));
    await expect(client.send('@(unit/x)', 'note', 1)).resolves.toBeUndefined();
    const frame = socket.request('hub:send');
    expect(frame.pattern).toBe('tell');
    checkSchema(frame);
    socket.reply(frame, 'hub:unauthorized', {
      code: 'unauthorized',
      message: 'no',
      resolution: 'r',
      retryable: false,
      action: 'send',
      reason: 'permission_denied',
    });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'unauthorized', requestId: frame.id, extra: { reason: 'permission_denied' } });
  });

  it('emits forwarded messages and uncorrelated hub errors', async () => {
    const { client, socket } = await connected();
    const messages: Frame[] = [];
    const errors: HubError[] = [];
    client.on('message', (m) => messages.push(m as Frame));
    client.on('error', (e) => errors.push(e));
    socket.receive(hubFrame('chat', { text: 'yo' }, { from: '@(unit/b)', to: ME, metadata: { forwarded: true } }));
    socket.receiveText('not json');
    socket.receive({ type: 'pong' });
    socket.receive(hubFrame('hub:error', { code: 'invalid_message', message: 'm', resolution: 'r', retryable: false }));
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ type: 'chat', from: '@(unit/b)', payload: { text: 'yo' } });
    expect(errors.map((e) => e.code)).toEqual(['invalid_reply', 'invalid_message']);
  });
});

describe('HubClient: subscriptions', () => {
  it('subscribe delivers publications of its topic to the handler; the handle unsubscribes', async () => {
    const { client, socket } = await connected();
    const a: unknown[] = [];
    const b: unknown[] = [];
    const subA = client.subscribe('rooms/a', (m) => a.push(m.payload));
    socket.reply(socket.request('hub:subscribe'), 'hub:subscribed', { topic: 'rooms/a', subscriptionId: 'sub-1' });
    const handleA = await subA;
    expect(handleA).toMatchObject({ topic: 'rooms/a', from: ME, subscriptionId: 'sub-1' });
    const subB = client.subscribe('rooms/a', (m) => b.push(m.payload));
    socket.reply(socket.request('hub:subscribe'), 'hub:subscribed', { topic: 'rooms/a', subscriptionId: 'sub-1' });
    const handleB = await subB;

    const publication = (topic: string, data: unknown) =>
      hubFrame('said', data, { from: '@(unit/b)', to: ME, metadata: { topic, publication: true, forwarded: true } });
    socket.receive(publication('rooms/a', 1));
    socket.receive(publication('rooms/other', 2));
    expect(a).toEqual([1]);
    expect(b).toEqual([1]);

    // One of two handles: the hub subscription stays.
    await handleA.unsubscribe();
    expect(socket.requests.filter((r) => r.type === 'hub:unsubscribe')).toHaveLength(0);
    socket.receive(publication('rooms/a', 3));
    expect(a).toEqual([1]);
    expect(b).toEqual([1, 3]);

    const last = handleB.unsubscribe();
    const unsubscribe = socket.request('hub:unsubscribe');
    expect(unsubscribe.payload).toEqual({ subscriptionId: 'sub-1' });
    checkSchema(unsubscribe);
    socket.reply(unsubscribe, 'hub:unsubscribed', { topic: 'rooms/a', subscriptionId: 'sub-1' });
    await last;
    socket.receive(publication('rooms/a', 4));
    expect(b).toEqual([1, 3]);
    // A second call on a stopped handle does nothing.
    await handleB.unsubscribe();
    expect(socket.requests.filter((r) => r.type === 'hub:unsubscribe')).toHaveLength(1);
  });
});

describe('HubClient: liveness', () => {
  it('pings at the advertised heartbeat interval', async () => {
    // accept() advertises the hub's default interval, 20 s.
    const { socket } = await connected();
    await vi.advanceTimersByTimeAsync(19_999);
    expect(socket.pings).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(socket.pings).toBe(1);
    expect(socket.written[socket.written.length - 1]).toBe('{"type":"ping"}');
    socket.receive({ type: 'pong' });
    await vi.advanceTimersByTimeAsync(40_000);
    expect(socket.pings).toBe(3);
  });

  it('replaces a socket from which nothing arrives for longer than the liveness timeout', async () => {
    const client = make({ livenessTimeoutMs: 2_500 });
    void client.connect();
    const socket = FakeSocket.last;
    socket.open();
    await tick();
    socket.accept({ heartbeatInterval: 1_000 });
    await tick();
    const disconnected: unknown[] = [];
    client.on('disconnected', (d) => disconnected.push(d));
    await vi.advanceTimersByTimeAsync(2_000);
    expect(socket.pings).toBe(2);
    expect(client.state).toBe('connected');
    await vi.advanceTimersByTimeAsync(1_000); // 3 s of silence at the third ping
    expect(client.state).toBe('reconnecting');
    expect(socket.closedByClient).not.toBeNull();
    expect(disconnected).toEqual([
      {
        code: 1006,
        reason: 'liveness_lost',
        willReconnect: true,
        cause: { kind: 'timeout', message: expect.stringContaining('nothing from the hub for more than') },
      },
    ]);
    await vi.advanceTimersByTimeAsync(100);
    expect(FakeSocket.instances).toHaveLength(2);
  });

  it('keepAlive: false sends no pings', async () => {
    const { socket } = await connected({ keepAlive: false });
    await vi.advanceTimersByTimeAsync(100_000);
    expect(socket.pings).toBe(0);
  });
});

describe('HubClient: reconnect', () => {
  it('after a drop: rejects in-flight asks once the new session cannot take a resend, queues new sends, restores registrations, subscriptions and pause, then flushes in order', async () => {
    const { client, socket } = await connected();
    const reg = client.register('@(unit/me/inbox)', { capabilities: ['chat'], renewOnHeartbeat: true });
    socket.reply(socket.request('hub:register'), 'hub:registered', {
      actorAddress: '@(unit/me/inbox)',
      expiresAt: Date.now() + 300_000,
      renewalToken: 'r1',
      version: 1,
    });
    await reg;
    expect(socket.request('hub:register').metadata).toEqual({ renewOnHeartbeat: true });
    const received: unknown[] = [];
    const sub = client.subscribe('rooms/a', (m) => received.push(m.payload), { from: '@(unit/me/inbox)' });
    socket.reply(socket.request('hub:subscribe'), 'hub:subscribed', { topic: 'rooms/a', subscriptionId: 'old' });
    const handle = await sub;
    const paused = client.pause();
    socket.reply(socket.request('hub:pause'), 'hub:paused', { paused: true, bufferLimit: 1000 });
    await paused;

    const inFlight = settle(client.ask('@(unit/x)', 'lost'));
    const states: string[] = [];
    client.on('state', (s) => states.push(s.state));
    const disconnected: unknown[] = [];
    client.on('disconnected', (d) => disconnected.push(d));
    socket.drop(4408, 'heartbeat_timeout');
    expect(client.state).toBe('reconnecting');
    expect(disconnected).toEqual([
      {
        code: 4408,
        reason: 'heartbeat_timeout',
        willReconnect: true,
        cause: { kind: 'closed', code: 4408, reason: 'heartbeat_timeout', message: 'the connection closed with code 4408 (heartbeat_timeout)' },
      },
    ]);
    // Issue 14 B: an ask in flight at the drop is held for a resend; it fails as connection_lost only
    // once the new session turns out not to recognise resent ids (this fake hub advertises no idempotency).

    // Sends made while reconnecting wait in order.
    const q1 = client.send('@(unit/x)', 'm', 1);
    const q2 = client.ask('@(unit/x)', 'm', 2);
    const q3 = client.send('@(unit/x)', 'm', 3, { from: '@(unit/me/inbox)' });
    expect(client.queued).toBe(3);

    const restored = new Promise((resolve) => client.on('restored', resolve));
    await vi.advanceTimersByTimeAsync(99);
    expect(FakeSocket.instances).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1); // random 0.5 → exactly 100 ms
    expect(FakeSocket.instances).toHaveLength(2);
    const next = await accept(client);
    expect(states).toEqual(['reconnecting', 'connecting', 'connected']);
    expect(await inFlight).toMatchObject({ error: { code: 'connection_lost', retryable: true } });

    const types = next.requests.map((r) => `${r.type}:${r.payload?.data ?? ''}`);
    expect(types).toEqual([
      'hub:connect:',
      'hub:register:',
      'hub:subscribe:',
      'hub:pause:',
      'hub:send:1',
      'hub:send:2',
      'hub:send:3',
    ]);
    const reRegister = next.request('hub:register');
    expect(reRegister.payload).toEqual({ actorAddress: '@(unit/me/inbox)', capabilities: ['chat'] });
    expect(reRegister.metadata).toEqual({ renewOnHeartbeat: true });
    expect(next.request('hub:subscribe')).toMatchObject({ from: '@(unit/me/inbox)', payload: { topic: 'rooms/a' } });
    await expect(q1).resolves.toBeUndefined();
    await expect(q3).resolves.toBeUndefined();

    next.reply(reRegister, 'hub:registered', {
      actorAddress: '@(unit/me/inbox)',
      expiresAt: Date.now() + 300_000,
      renewalToken: 'r2',
      version: 1,
    });
    next.reply(next.request('hub:subscribe'), 'hub:subscribed', { topic: 'rooms/a', subscriptionId: 'new' });
    next.reply(next.request('hub:pause'), 'hub:paused', { paused: true, bufferLimit: 1000 });
    // This fake hub sends no resume token, so the session is rebuilt, not resumed; and it keeps no topic
    // history, so the subscription cannot say nothing was missed.
    expect(await restored).toEqual({ resumed: false, registrations: 1, subscriptions: 1, failed: 0, lostTopics: ['rooms/a'] });
    expect(handle.subscriptionId).toBe('new');

    const ask = next.requests.find((r) => r.type === 'hub:send' && r.payload.data === 2)!;
    next.reply(ask, 'hub:delivery_ack', { messageId: ask.id, deliveredAt: 5, status: 'delivered' });
    await expect(q2).resolves.toMatchObject({ status: 'delivered' });

    next.receive(
      hubFrame('said', 'again', {
        to: '@(unit/me/inbox)',
        from: '@(unit/b)',
        metadata: { topic: 'rooms/a', publication: true },
      }),
    );
    expect(received).toEqual(['again']);
  });

  it('the backoff grows while the hub stays away', async () => {
    const client = make({ random: () => 0.5 });
    void client.connect();
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      FakeSocket.last.drop(1006);
      const before = FakeSocket.instances.length;
      let waited = 0;
      while (FakeSocket.instances.length === before) {
        await vi.advanceTimersByTimeAsync(10);
        waited += 10;
      }
      waits.push(waited);
    }
    expect(waits).toEqual([100, 200, 400, 800, 1_600, 3_200]);
    expect(client.reconnectAttempt).toBe(6);
  });

  it('a queue beyond queueLimit refuses the oldest request', async () => {
    const { client, socket } = await connected({ queueLimit: 2 });
    socket.drop(1006);
    const a = settle(client.ask('@(unit/x)', 'a'));
    const b = client.send('@(unit/x)', 'b');
    const c = client.send('@(unit/x)', 'c');
    expect(await a).toMatchObject({ error: { code: 'queue_overflow', retryable: true } });
    expect(client.queued).toBe(2);
    await vi.advanceTimersByTimeAsync(100);
    const next = await accept(client);
    await Promise.all([b, c]);
    expect(next.requests.filter((r) => r.type === 'hub:send').map((r) => r.payload.type)).toEqual(['b', 'c']);
  });

  it('duplicate_connection ends the client without reconnecting; pending work is rejected', async () => {
    const { client, socket } = await connected();
    const pending = settle(client.ask('@(unit/x)', 'a'));
    const closedReasons: unknown[] = [];
    client.on('state', (s) => closedReasons.push(s.closedReason));
    socket.receive(
      hubFrame('hub:disconnect', { reason: 'duplicate_connection', message: 'Another connection registered this actor.' }, { to: ME }),
    );
    socket.drop(4409, 'duplicate_connection');
    expect(client.state).toBe('closed');
    expect(client.closedReason).toBe('duplicate_connection');
    expect(closedReasons).toEqual(['duplicate_connection']);
    expect(await pending).toMatchObject({ error: { code: 'connection_lost' } });
    await expect(client.discover('*')).rejects.toMatchObject({
      code: 'client_closed',
      details: { closedReason: 'duplicate_connection' },
    });
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('the duplicate notice alone is enough, even if the close arrives without its code', async () => {
    const { client, socket } = await connected();
    socket.receive(hubFrame('hub:disconnect', { reason: 'duplicate_connection', message: 'm' }, { to: ME }));
    socket.drop(1006);
    expect(client.closedReason).toBe('duplicate_connection');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('disconnect() says goodbye, closes, and never reconnects', async () => {
    const { client, socket } = await connected();
    const queuedAsk = settle(client.ask('@(unit/x)', 'a'));
    const done = client.disconnect();
    const bye = socket.request('hub:disconnect');
    checkSchema(bye);
    expect(bye.payload).toEqual({ reason: 'client_disconnect' });
    expect(client.state).toBe('closed');
    expect(client.closedReason).toBe('client');
    socket.drop(1000, 'client_disconnect');
    await done;
    expect(await queuedAsk).toMatchObject({ error: { code: 'client_closed' } });
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('disconnect() closes the socket itself when the hub does not', async () => {
    const { client, socket } = await connected();
    const done = client.disconnect();
    await vi.advanceTimersByTimeAsync(2_000);
    await done;
    expect(socket.closedByClient).toEqual({ code: 1000, reason: 'client_disconnect' });
  });

  it('connect() after disconnect() starts a new session', async () => {
    const { client, socket } = await connected();
    const done = client.disconnect();
    socket.drop(1000);
    await done;
    const again = client.connect();
    await accept(client);
    await again;
    expect(FakeSocket.instances).toHaveLength(2);
  });
});

describe('HubClient: flow control', () => {
  it('holds sends while the hub asks to pause, lets other requests through, and flushes on hub:resume', async () => {
    const { client, socket } = await connected();
    const flow: unknown[] = [];
    client.on('flow', (f) => flow.push(f));
    socket.receive(hubFrame('hub:pause', { reason: 'queue_depth', queueDepth: 1000 }, { to: ME }));
    const s1 = client.send('@(unit/x)', 'one');
    const p1 = client.publish('rooms/a', 'two');
    void client.discover('*');
    expect(socket.requests.map((r) => r.type)).toEqual(['hub:connect', 'hub:discover']);
    socket.receive(hubFrame('hub:resume', { reason: 'queue_drained', queueDepth: 200 }, { to: ME }));
    await s1;
    expect(socket.requests.map((r) => r.type)).toEqual(['hub:connect', 'hub:discover', 'hub:send', 'hub:publish']);
    socket.reply(socket.request('hub:publish'), 'hub:published', { topic: 'rooms/a', subscriberCount: 0 });
    await p1;
    expect(flow).toEqual([
      { paused: true, reason: 'queue_depth', queueDepth: 1000 },
      { paused: false, reason: 'queue_drained', queueDepth: 200 },
    ]);
  });

  it('waits retryAfter after hub:rate_limited, then sends the refused requests again in their order', async () => {
    const { client, socket } = await connected();
    const limited: unknown[] = [];
    client.on('rateLimited', (r) => limited.push(r));
    const a = client.ask('@(unit/x)', 'a');
    const b = client.ask('@(unit/x)', 'b');
    const c = client.send('@(unit/x)', 'c');
    const [fa, fb, fc] = socket.requests.filter((r) => r.type === 'hub:send');
    const refusal = { code: 'rate_limited', message: 'slow down', resolution: 'wait', retryable: true, retryAfter: 250 };
    socket.reply(fa!, 'hub:delivery_ack', { messageId: fa!.id, deliveredAt: 1, status: 'delivered' });
    socket.reply(fb!, 'hub:rate_limited', refusal);
    socket.reply(fc!, 'hub:rate_limited', refusal);
    await expect(a).resolves.toMatchObject({ status: 'delivered' });
    expect(limited).toHaveLength(2);
    expect(limited[0]).toMatchObject({ requestType: 'hub:send', retryAfter: 250, attempt: 1 });

    const d = client.send('@(unit/x)', 'd'); // made during the wait: goes after the retries
    const sent = () => socket.requests.filter((r) => r.type === 'hub:send').map((r) => r.payload.type);
    await vi.advanceTimersByTimeAsync(249);
    expect(sent()).toEqual(['a', 'b', 'c']);
    // After the wait the backlog goes out one per retryAfter, so it is not refused all over again.
    await vi.advanceTimersByTimeAsync(1);
    expect(sent()).toEqual(['a', 'b', 'c', 'b']);
    await vi.advanceTimersByTimeAsync(249);
    expect(sent()).toEqual(['a', 'b', 'c', 'b']);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent()).toEqual(['a', 'b', 'c', 'b', 'c']);
    await vi.advanceTimersByTimeAsync(250);
    expect(sent()).toEqual(['a', 'b', 'c', 'b', 'c', 'd']);
    const sends = socket.requests.filter((r) => r.type === 'hub:send');
    const retried = sends[3]!;
    expect(retried.id).not.toBe(fb!.id);
    socket.reply(retried, 'hub:delivery_ack', { messageId: retried.id, deliveredAt: 2, status: 'delivered' });
    await expect(b).resolves.toMatchObject({ messageId: retried.id });
    await c;
    await d;
  });

  it('gives up with the rate_limited error after maxRateLimitRetries', async () => {
    const { client, socket } = await connected({ maxRateLimitRetries: 2 });
    const pending = settle(client.ask('@(unit/x)', 'a', null, { timeoutMs: 60_000 }));
    const refuse = () => {
      const frame = socket.request('hub:send');
      socket.reply(frame, 'hub:rate_limited', {
        code: 'rate_limited',
        message: 'slow',
        resolution: 'wait',
        retryable: true,
        retryAfter: 100,
      });
    };
    refuse();
    await vi.advanceTimersByTimeAsync(100);
    refuse();
    await vi.advanceTimersByTimeAsync(100);
    refuse();
    expect(await pending).toMatchObject({ error: { code: 'rate_limited', extra: { retryAfter: 100 } } });
    expect(socket.requests.filter((r) => r.type === 'hub:send')).toHaveLength(3);
  });
});

describe('HubClient: pacing', () => {
  it('spreads a burst over the rate limit the hub advertised', async () => {
    const client = make();
    void client.connect();
    const socket = FakeSocket.last;
    socket.open();
    await tick();
    socket.reply(socket.request('hub:connect'), 'hub:connected', {
      sessionId: 's',
      serverVersion: '0.1.0',
      maxMessageSize: 1_048_576,
      heartbeatInterval: 60_000,
      capabilities: { maxActorsPerInstance: 10, supportsBackpressure: true, supportedContentTypes: ['application/json'] },
      rateLimit: { perSecond: 5, burst: 3 },
      token: 't',
      tokenExpiresAt: Date.now() + 3_600_000,
    });
    await tick();
    for (let i = 0; i < 6; i++) void client.send('@(unit/x)', 'm', i);
    const sent = () => socket.requests.filter((r) => r.type === 'hub:send').map((r) => r.payload.data);
    expect(sent()).toEqual([0, 1, 2]);
    // 5 per second less the 5 % margin: one token every 1000 / 4.75 ≈ 210.5 ms.
    await vi.advanceTimersByTimeAsync(210);
    expect(sent()).toEqual([0, 1, 2]);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent()).toEqual([0, 1, 2, 3]);
    await vi.advanceTimersByTimeAsync(210);
    expect(sent()).toEqual([0, 1, 2, 3]);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent()).toEqual([0, 1, 2, 3, 4]);
    await vi.advanceTimersByTimeAsync(300);
    expect(sent()).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('pace: false writes a burst at once', async () => {
    const { client, socket } = await connected({ pace: false });
    for (let i = 0; i < 30; i++) void client.send('@(unit/x)', 'm', i);
    expect(socket.requests.filter((r) => r.type === 'hub:send')).toHaveLength(30);
  });
});

describe('HubClient: registrations', () => {
  it('renews a registration at two thirds of its lifetime', async () => {
    const { client, socket } = await connected();
    const reg = client.register('@(unit/me)', { ttlSeconds: 3 });
    socket.reply(socket.request('hub:register'), 'hub:registered', {
      actorAddress: '@(unit/me)',
      expiresAt: Date.now() + 3_000,
      renewalToken: 'r1',
      version: 1,
    });
    await reg;
    await vi.advanceTimersByTimeAsync(1_999);
    expect(socket.requests.filter((r) => r.type === 'hub:renew')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    const renew = socket.request('hub:renew');
    expect(renew.payload).toEqual({ renewalToken: 'r1' });
    socket.reply(renew, 'hub:renewed', { actorAddress: '@(unit/me)', expiresAt: Date.now() + 3_000, renewalToken: 'r2' });
    await vi.advanceTimersByTimeAsync(2_000);
    expect(socket.request('hub:renew').payload).toEqual({ renewalToken: 'r2' });
  });

  it('an unregistered address is not restored after a reconnect', async () => {
    const { client, socket } = await connected();
    const reg = client.register('@(unit/me)');
    socket.reply(socket.request('hub:register'), 'hub:registered', {
      actorAddress: '@(unit/me)',
      expiresAt: Date.now() + 300_000,
      renewalToken: 'r1',
      version: 1,
    });
    await reg;
    const un = client.unregister('@(unit/me)');
    socket.reply(socket.request('hub:unregister'), 'hub:unregistered', { actorAddress: '@(unit/me)' });
    await un;
    socket.drop(1006);
    await vi.advanceTimersByTimeAsync(100);
    const next = await accept(client);
    expect(next.requests.map((r) => r.type)).toEqual(['hub:connect']);
  });
});

describe('HubClient: session resume', () => {
  it('after a drop it presents the resume token; a resumed session is not rebuilt, and a resent copy of a message is dropped', async () => {
    const client = make();
    const ready = client.connect();
    const first = await accept(client, { resumeToken: 'rt-1' });
    await ready;
    expect(first.request('hub:connect').payload).toBeNull();
    const reg = client.register('@(unit/me/inbox)');
    first.reply(first.request('hub:register'), 'hub:registered', {
      actorAddress: '@(unit/me/inbox)',
      expiresAt: Date.now() + 300_000,
      renewalToken: 'r1',
      version: 1,
    });
    await reg;
    const sub = client.subscribe('rooms/a');
    first.reply(first.request('hub:subscribe'), 'hub:subscribed', { topic: 'rooms/a', subscriptionId: 'sub-1' });
    await sub;
    const messages: unknown[] = [];
    client.on('message', (m) => messages.push(m.payload));
    const delivered = { ...hubFrame('chat', 1, { to: ME, from: '@(unit/x)' }), id: 'msg-1', metadata: { forwarded: true } };
    first.receive(delivered);

    const restored = new Promise((resolve) => client.on('restored', resolve));
    first.drop(1006);
    await vi.advanceTimersByTimeAsync(100);
    const second = FakeSocket.last;
    expect(second).not.toBe(first);
    second.open();
    await tick();
    expect(second.request('hub:connect').payload).toEqual({ resumeToken: 'rt-1' });
    second.accept({ resumeToken: 'rt-2', resumed: true });
    await tick();
    expect(client.state).toBe('connected');
    expect(await restored).toEqual({ resumed: true, registrations: 1, subscriptions: 1, failed: 0, lostTopics: [] });
    // Nothing is registered or subscribed again on a resumed session.
    expect(second.requests.map((r) => r.type)).toEqual(['hub:connect']);
    // The hub resends what the old socket may have missed: the copy is dropped, the new one kept.
    second.receive(delivered);
    second.receive({ ...delivered, id: 'msg-2', payload: 2 });
    expect(messages).toEqual([1, 2]);

    // A client that disconnects on purpose does not resume next time.
    await Promise.all([client.disconnect(), tick().then(() => second.drop(1000))]);
    const again = client.connect();
    await vi.advanceTimersByTimeAsync(0);
    const third = FakeSocket.last;
    third.open();
    await tick();
    expect(third.request('hub:connect').payload).toBeNull();
    third.accept();
    await again;
  });
});
