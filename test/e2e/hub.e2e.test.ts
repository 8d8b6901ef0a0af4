import { beforeAll, describe, expect, it } from 'vitest';
import { HUB_ADDRESS, PROTOCOL_VERSION, SERVER_VERSION, SUPPORTED_VERSIONS } from '../../src/protocol/envelope';
import { startDevServer, type DevServer } from '../../harness/net/dev-server';
import { WsTestClient, type Frame } from '../../harness/net/ws-client';
import { tidyDevServerTests } from './support/tidy-dev-server';

/**
 * The hub as a deployed client sees it: `wrangler dev --local` on a loopback
 * port, real WebSocket clients over TCP. One server for the whole file; each
 * test uses a hub name of its own so registries never overlap.
 */

let server: DevServer;
const open: WsTestClient[] = [];
let hubCounter = 0;

const freshHub = (label: string): string => `${label}-${process.pid}-${++hubCounter}`;
const hubUrl = (hub: string): string => `${server.wsUrl}/ws/${hub}`;

const track = (client: WsTestClient): WsTestClient => {
  open.push(client);
  return client;
};
const connect = async (url: string, identity: string, metadata: Record<string, unknown> = {}) => {
  const result = await WsTestClient.connected(url, identity, metadata);
  track(result.client);
  return result;
};

beforeAll(async () => {
  server = await startDevServer();
});

tidyDevServerTests(open, () => server);

const expectErrorShape = (frame: Frame, type: string, code: string): void => {
  expect(frame.type).toBe(type);
  expect(frame.from).toBe(HUB_ADDRESS);
  expect(frame.pattern).toBe('tell');
  expect(frame.metadata).toBeTypeOf('object');
  expect(frame.payload.code).toBe(code);
  expect(frame.payload.message).toBeTypeOf('string');
  expect(frame.payload.message.length).toBeGreaterThan(0);
  expect(frame.payload.resolution).toBeTypeOf('string');
  expect(frame.payload.resolution.length).toBeGreaterThan(0);
  expect(frame.payload.retryable).toBeTypeOf('boolean');
};

describe('HTTP surface', () => {
  it('GET /health answers JSON status ok with service and version', async () => {
    const res = await fetch(`${server.baseUrl}/health`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 'ok', service: 'signal-hub', version: SERVER_VERSION });
  });

  it.each(['/nope', '/ws/a/b', '/health/extra', '/wsx'])('GET %s is 404', async (path) => {
    const res = await fetch(`${server.baseUrl}${path}`);
    await res.arrayBuffer();
    expect(res.status).toBe(404);
  });

  it.each(['/', '/ws', '/ws/some-hub'])('GET %s without an upgrade is 426', async (path) => {
    const res = await fetch(`${server.baseUrl}${path}`);
    await res.arrayBuffer();
    expect(res.status).toBe(426);
  });

  it('a WebSocket upgrade to an unknown path is refused', async () => {
    await expect(WsTestClient.open(`${server.wsUrl}/nope`, '@(e2e/x)')).rejects.toThrow(/404/);
  });
});

describe('connection lifecycle', () => {
  it('hub:connect answers hub:connected with the advertised limits', async () => {
    const client = track(await WsTestClient.open(hubUrl(freshHub('connect')), '@(e2e/conn)'));
    const id = client.request('hub:connect', null, {
      metadata: { protocolVersion: PROTOCOL_VERSION, capabilities: ['chat'] },
    });
    const reply = await client.next((f) => f.correlationId === id);

    expect(reply).toMatchObject({
      type: 'hub:connected',
      from: HUB_ADDRESS,
      to: '@(e2e/conn)',
      pattern: 'tell',
      correlationId: id,
      metadata: { actorIdentity: '@(e2e/conn)' },
    });
    expect(reply.id).toBeTypeOf('string');
    expect(reply.id).not.toBe(id);
    expect(reply.timestamp).toBeTypeOf('number');
    const p = reply.payload;
    expect(p.sessionId).toBeTypeOf('string');
    expect(p.sessionId.length).toBeGreaterThan(0);
    expect(p.serverVersion).toBe(SERVER_VERSION);
    // The wrangler.toml defaults, since the dev server overrides none of them.
    expect(p.maxMessageSize).toBe(1_048_576);
    expect(p.heartbeatInterval).toBe(20_000);
    expect(p.capabilities).toEqual({
      maxActorsPerInstance: 50_000,
      supportsBackpressure: true,
      supportedContentTypes: ['application/json'],
      // Added by issue 14 B: the client learns whether resending an in-flight request is safe.
      idempotency: { windowMs: 60_000, limit: 1000, scope: 'session' },
    });
    expect(p.rateLimit).toEqual({ perSecond: 10, burst: 20 });
    expect(p.token).toBeTypeOf('string');
    expect(p.token.length).toBeGreaterThan(0);
    expect(p.tokenExpiresAt).toBeGreaterThan(Date.now());
  });

  it('two connections get distinct session ids', async () => {
    const hub = freshHub('sessions');
    const a = await connect(hubUrl(hub), '@(e2e/s1)');
    const b = await connect(hubUrl(hub), '@(e2e/s2)');
    expect(a.connected.payload.sessionId).not.toBe(b.connected.payload.sessionId);
  });

  it('a request before hub:connect gets not_connected and the socket stays usable', async () => {
    const client = track(await WsTestClient.open(hubUrl(freshHub('early')), '@(e2e/early)'));
    const early = await client.ask('hub:list_actors', {});
    expectErrorShape(early, 'hub:error', 'not_connected');
    const connected = await client.ask('hub:connect', null, { metadata: { protocolVersion: PROTOCOL_VERSION } });
    expect(connected.type).toBe('hub:connected');
  });

  it('a different major protocol version gets hub:version_mismatch, then close 4400', async () => {
    const client = track(await WsTestClient.open(hubUrl(freshHub('version')), '@(e2e/old)'));
    const reply = await client.ask('hub:connect', null, { metadata: { protocolVersion: '9.0.0' } });
    expectErrorShape(reply, 'hub:version_mismatch', 'version_mismatch');
    expect(reply.payload).toMatchObject({
      clientVersion: '9.0.0',
      serverVersion: SERVER_VERSION,
      supportedVersions: SUPPORTED_VERSIONS,
    });
    const closed = await client.waitClosed();
    expect(closed.code).toBe(4400);
    const replyAt = client.events.findIndex((e) => e.kind === 'frame' && e.frame.id === reply.id);
    const closeAt = client.events.findIndex((e) => e.kind === 'close');
    expect(replyAt).toBeGreaterThanOrEqual(0);
    expect(replyAt).toBeLessThan(closeAt);
  });

  it('client hub:disconnect: the correlated ack arrives before a 1000 close', async () => {
    const { client } = await connect(hubUrl(freshHub('bye')), '@(e2e/bye)');
    const id = client.request('hub:disconnect', { reason: 'done' });
    const closed = await client.waitClosed();
    expect(closed.code).toBe(1000);

    const ackAt = client.events.findIndex((e) => e.kind === 'frame' && e.frame.correlationId === id);
    const closeAt = client.events.findIndex((e) => e.kind === 'close');
    expect(ackAt).toBeGreaterThanOrEqual(0);
    expect(ackAt).toBeLessThan(closeAt);
    const ack = (client.events[ackAt] as { kind: 'frame'; frame: Frame }).frame;
    expect(ack).toMatchObject({
      type: 'hub:disconnect',
      from: HUB_ADDRESS,
      to: '@(e2e/bye)',
      pattern: 'tell',
      correlationId: id,
      payload: { acknowledged: true },
    });
  });

  it('disconnecting releases the registrations of the session', async () => {
    const hub = freshHub('release');
    const { client: leaver } = await connect(hubUrl(hub), '@(e2e/leaver)');
    expect((await leaver.ask('hub:register', { actorAddress: '@(e2e/leaver)', capabilities: [] })).type).toBe(
      'hub:registered',
    );
    leaver.request('hub:disconnect', null);
    await leaver.waitClosed();

    const { client: observer } = await connect(hubUrl(hub), '@(e2e/observer)');
    const list = await observer.ask('hub:list_actors', {});
    expect(list.payload.actors.map((a: Frame) => a.actorAddress)).not.toContain('@(e2e/leaver)');
    expect(list.payload.total).toBe(0);
  });

  it('the runtime answers {"type":"ping"} with {"type":"pong"}', async () => {
    const { client } = await connect(hubUrl(freshHub('ping')), '@(e2e/pinger)');
    client.sendRaw('{"type":"ping"}');
    const pong = await client.next();
    expect(pong).toEqual({ type: 'pong' });
    // Also before hub:connect: keep-alives never depend on session state.
    const raw = track(await WsTestClient.open(hubUrl(freshHub('ping-raw')), '@(e2e/raw)'));
    raw.sendRaw('{"type":"ping"}');
    expect(await raw.next()).toEqual({ type: 'pong' });
  });

  it('hub:heartbeat is acknowledged with the client timestamp and the server time', async () => {
    const { client } = await connect(hubUrl(freshHub('hb')), '@(e2e/hb)');
    const before = Date.now();
    const ack = await client.ask('hub:heartbeat', { timestamp: 12345 });
    expect(ack.type).toBe('hub:heartbeat_ack');
    expect(ack.payload.timestamp).toBe(12345);
    // Same machine, so the hub's clock can be compared loosely with ours.
    expect(ack.payload.serverTime).toBeGreaterThanOrEqual(before - 1_000);
    expect(ack.payload.serverTime).toBeLessThanOrEqual(Date.now() + 1_000);
  });
});

describe('malformed and oversized frames', () => {
  it('bad JSON gets invalid_message with issues, and the connection survives', async () => {
    const { client } = await connect(hubUrl(freshHub('badjson')), '@(e2e/bad)');
    client.sendRaw('{"id": "x1", "type": ');
    const err = await client.next((f) => f.type === 'hub:error');
    expectErrorShape(err, 'hub:error', 'invalid_message');
    expect(Array.isArray(err.payload.details.issues)).toBe(true);
    expect(err.payload.details.issues.length).toBeGreaterThan(0);
    expect(err.payload.details.issues[0].path).toBeTypeOf('string');

    const ack = await client.ask('hub:heartbeat', null);
    expect(ack.type).toBe('hub:heartbeat_ack');
    expect(client.closed).toBeNull();
  });

  it('an invalid envelope lists each bad field and correlates by the readable id', async () => {
    const { client } = await connect(hubUrl(freshHub('badenv')), '@(e2e/bad)');
    client.sendRaw(JSON.stringify({ id: 'env-1', from: 'not-an-address', to: HUB_ADDRESS, type: 'hub:heartbeat' }));
    const err = await client.next((f) => f.correlationId === 'env-1');
    expectErrorShape(err, 'hub:error', 'invalid_message');
    const paths = err.payload.details.issues.map((i: Frame) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['from', 'pattern', 'timestamp']));
    expect((await client.ask('hub:heartbeat', null)).type).toBe('hub:heartbeat_ack');
  });

  it('a 2 MB frame gets hub:message_too_large with its size, and the connection stays usable', async () => {
    const { client, connected } = await connect(hubUrl(freshHub('big')), '@(e2e/big)');
    const maxSize = connected.payload.maxMessageSize as number;
    const body = JSON.stringify({
      id: 'big-1',
      from: '@(e2e/big)',
      to: HUB_ADDRESS,
      type: 'hub:heartbeat',
      pattern: 'ask',
      timestamp: Date.now(),
      payload: { blob: 'x'.repeat(2 * 1024 * 1024) },
    });
    client.sendRaw(body);
    const err = await client.next((f) => f.type === 'hub:message_too_large', 15_000);
    expectErrorShape(err, 'hub:message_too_large', 'message_too_large');
    expect(err.payload.messageSize).toBe(Buffer.byteLength(body, 'utf8'));
    expect(err.payload.maxSize).toBe(maxSize);
    expect(err.payload.messageSize).toBeGreaterThan(err.payload.maxSize);

    const ack = await client.ask('hub:heartbeat', null);
    expect(ack.type).toBe('hub:heartbeat_ack');
    const reg = await client.ask('hub:register', { actorAddress: '@(e2e/big)', capabilities: [] });
    expect(reg.type).toBe('hub:registered');
    expect(client.closed).toBeNull();
  });
});

describe('registry', () => {
  it('register answers hub:registered with expiry, token and version 1', async () => {
    const { client } = await connect(hubUrl(freshHub('reg')), '@(e2e/reg)');
    const before = Date.now();
    const reply = await client.ask('hub:register', {
      actorAddress: '@(e2e/reg)',
      capabilities: ['chat'],
      ttlSeconds: 120,
    });
    expect(reply).toMatchObject({ type: 'hub:registered', from: HUB_ADDRESS, to: '@(e2e/reg)' });
    expect(reply.payload.actorAddress).toBe('@(e2e/reg)');
    expect(reply.payload.version).toBe(1);
    expect(reply.payload.renewalToken).toBeTypeOf('string');
    expect(reply.payload.renewalToken.length).toBeGreaterThan(0);
    expect(reply.payload.expiresAt).toBeGreaterThanOrEqual(before + 119_000);
    expect(reply.payload.expiresAt).toBeLessThanOrEqual(Date.now() + 121_000);
  });

  it('discover matches globs (with or without the @() wrapper) and filters by capability', async () => {
    const hub = freshHub('discover');
    const { client: a } = await connect(hubUrl(hub), '@(team/alpha)');
    const { client: b } = await connect(hubUrl(hub), '@(team/beta)');
    const { client: c } = await connect(hubUrl(hub), '@(other/gamma)');
    await a.ask('hub:register', { actorAddress: '@(team/alpha)', capabilities: ['chat', 'files'], metadata: { n: 1 } });
    await b.ask('hub:register', { actorAddress: '@(team/beta)', capabilities: ['files'] });
    await c.ask('hub:register', { actorAddress: '@(other/gamma)', capabilities: ['chat'] });

    const addresses = (f: Frame): string[] => f.payload.actors.map((x: Frame) => x.address).sort();

    const team = await c.ask('hub:discover', { pattern: 'team/*' });
    expect(team.type).toBe('hub:discovered');
    expect(addresses(team)).toEqual(['@(team/alpha)', '@(team/beta)']);
    expect(team.payload.hasMore).toBe(false);

    const wrapped = await c.ask('hub:discover', { pattern: '@(team/*)' });
    expect(addresses(wrapped)).toEqual(['@(team/alpha)', '@(team/beta)']);

    const chat = await c.ask('hub:discover', { pattern: '*', capability: 'chat' });
    expect(addresses(chat)).toEqual(['@(other/gamma)', '@(team/alpha)']);

    const teamChat = await c.ask('hub:discover', { pattern: 'team/*', capability: 'chat' });
    expect(teamChat.payload.actors).toEqual([
      { address: '@(team/alpha)', capabilities: ['chat', 'files'], metadata: { n: 1 } },
    ]);

    const limited = await c.ask('hub:discover', { pattern: '*', limit: 2 });
    expect(limited.payload.actors).toHaveLength(2);
    expect(limited.payload.hasMore).toBe(true);

    const none = await c.ask('hub:discover', { pattern: 'nobody/*' });
    expect(none.payload).toEqual({ actors: [], hasMore: false });
  });

  it('list_actors pages through actors sorted by address without revealing tokens', async () => {
    const hub = freshHub('list');
    const { client } = await connect(hubUrl(hub), '@(list/owner)');
    const names = ['@(list/c)', '@(list/a)', '@(list/b)'];
    const tokens: string[] = [];
    for (const actorAddress of names) {
      const reg = await client.ask('hub:register', { actorAddress, capabilities: ['x'] });
      expect(reg.type).toBe('hub:registered');
      tokens.push(reg.payload.renewalToken);
    }

    const first = await client.ask('hub:list_actors', { offset: 0, limit: 2 });
    expect(first.type).toBe('hub:actor_list');
    expect(first.payload).toMatchObject({ total: 3, offset: 0, limit: 2, hasMore: true });
    expect(first.payload.actors.map((a: Frame) => a.actorAddress)).toEqual(['@(list/a)', '@(list/b)']);

    const rest = await client.ask('hub:list_actors', { offset: 2, limit: 2 });
    expect(rest.payload).toMatchObject({ total: 3, offset: 2, hasMore: false });
    expect(rest.payload.actors.map((a: Frame) => a.actorAddress)).toEqual(['@(list/c)']);

    const actor = first.payload.actors[0];
    expect(Object.keys(actor).sort()).toEqual(
      ['actorAddress', 'capabilities', 'expiresAt', 'metadata', 'registeredAt', 'version'].sort(),
    );
    expect(actor).toMatchObject({ capabilities: ['x'], metadata: {}, version: 1 });
    const text = JSON.stringify([first, rest]);
    for (const token of tokens) expect(text).not.toContain(token);
  });

  it('duplicate registration: the older session is told, closed with 4409, and the version goes up by one', async () => {
    const hub = freshHub('dup');
    const { client: first } = await connect(hubUrl(hub), '@(dup/first)');
    const old = await first.ask('hub:register', { actorAddress: '@(dup/shared)', capabilities: ['a'] });
    expect(old.type).toBe('hub:registered');
    const extra = await first.ask('hub:register', { actorAddress: '@(dup/first)', capabilities: [] });
    expect(extra.type).toBe('hub:registered');

    const { client: second } = await connect(hubUrl(hub), '@(dup/second)');
    const fresh = await second.ask('hub:register', { actorAddress: '@(dup/shared)', capabilities: ['b'] });
    expect(fresh.type).toBe('hub:registered');
    expect(fresh.payload.version).toBe(old.payload.version + 1);

    const notice = await first.next((f) => f.type === 'hub:disconnect');
    expect(notice.from).toBe(HUB_ADDRESS);
    expect(notice.payload.reason).toBe('duplicate_connection');
    expect(notice.payload.message).toBeTypeOf('string');
    const closed = await first.waitClosed();
    expect(closed.code).toBe(4409);
    const noticeAt = first.events.findIndex((e) => e.kind === 'frame' && e.frame.type === 'hub:disconnect');
    const closeAt = first.events.findIndex((e) => e.kind === 'close');
    expect(noticeAt).toBeLessThan(closeAt);

    // Everything the evicted session held is gone; the newcomer holds the shared address.
    const list = await second.ask('hub:list_actors', {});
    expect(list.payload.actors.map((a: Frame) => [a.actorAddress, a.capabilities, a.version])).toEqual([
      ['@(dup/shared)', ['b'], old.payload.version + 1],
    ]);
    expect(second.closed).toBeNull();
  });

  it('re-registering on the same connection keeps it open and bumps the version', async () => {
    const { client } = await connect(hubUrl(freshHub('rereg')), '@(e2e/same)');
    const one = await client.ask('hub:register', { actorAddress: '@(e2e/same)', capabilities: ['a'] });
    const two = await client.ask('hub:register', { actorAddress: '@(e2e/same)', capabilities: ['a', 'b'] });
    expect(two.type).toBe('hub:registered');
    expect(two.payload.version).toBe(one.payload.version + 1);
    expect(client.pending.some((f) => f.type === 'hub:disconnect')).toBe(false);
    expect(client.closed).toBeNull();
  });
});

describe('named hubs', () => {
  it('/ws/a and /ws/b keep separate registries', async () => {
    const suffix = `${process.pid}-${++hubCounter}`;
    const hubA = `iso-a-${suffix}`;
    const hubB = `iso-b-${suffix}`;
    const { client: a } = await connect(hubUrl(hubA), '@(iso/one)');
    const { client: b } = await connect(hubUrl(hubB), '@(iso/one)');
    const regA = await a.ask('hub:register', { actorAddress: '@(iso/one)', capabilities: ['a'] });
    const regB = await b.ask('hub:register', { actorAddress: '@(iso/one)', capabilities: ['b'] });

    // The same address in two hubs is no duplicate: neither session is evicted.
    expect(regA.payload.version).toBe(1);
    expect(regB.payload.version).toBe(1);
    const { client: onlyA } = await connect(hubUrl(hubA), '@(iso/two)');
    await onlyA.ask('hub:register', { actorAddress: '@(iso/two)', capabilities: [] });

    const listA = await a.ask('hub:list_actors', {});
    const listB = await b.ask('hub:list_actors', {});
    expect(listA.payload.actors.map((x: Frame) => [x.actorAddress, x.capabilities])).toEqual([
      ['@(iso/one)', ['a']],
      ['@(iso/two)', []],
    ]);
    expect(listB.payload.actors.map((x: Frame) => [x.actorAddress, x.capabilities])).toEqual([['@(iso/one)', ['b']]]);
    expect(a.closed).toBeNull();
    expect(b.closed).toBeNull();
    expect(a.pending.some((f) => f.type === 'hub:disconnect')).toBe(false);
    expect(b.pending.some((f) => f.type === 'hub:disconnect')).toBe(false);
  });

  it('/ and /ws reach the same default hub', async () => {
    const address = `@(default/${process.pid}-${++hubCounter})`;
    const { client: viaRoot } = await connect(`${server.wsUrl}/`, address);
    await viaRoot.ask('hub:register', { actorAddress: address, capabilities: [] });
    const { client: viaWs } = await connect(`${server.wsUrl}/ws`, '@(default/observer)');
    const found = await viaWs.ask('hub:discover', { pattern: address });
    expect(found.payload.actors.map((x: Frame) => x.address)).toEqual([address]);
    const { client: named } = await connect(hubUrl(freshHub('not-default')), '@(default/observer)');
    const missing = await named.ask('hub:discover', { pattern: address });
    expect(missing.payload.actors).toEqual([]);
  });
});
