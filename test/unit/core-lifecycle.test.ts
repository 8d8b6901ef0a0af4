import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/config';
import { HUB_ADDRESS } from '../../src/protocol/envelope';
import { configWith } from '../../harness/fake-object';
import { CLOSE_GRACE_MS } from '../../machines/session';
import { PROTOCOL_VERSION, Scenario, bothWays, expectError, type Msg, type Peer } from './core-harness';

/** Index of the first effect matching `pred` in the raw effect log, for wire-order assertions. */
const effectIndex = (sc: Scenario, pred: (e: any) => boolean): number => sc.fake.effects.findIndex(pred);
const sendIndex = (sc: Scenario, peer: Peer, type: string): number =>
  effectIndex(sc, (e) => e.kind === 'send' && e.conn === peer.connId && JSON.parse(e.frame).type === type);
const closeIndex = (sc: Scenario, peer: Peer): number => effectIndex(sc, (e) => e.kind === 'close' && e.conn === peer.connId);

const HB_TIMEOUT = DEFAULT_CONFIG.heartbeatTimeoutMs;

describe('connect handshake (§4)', () => {
  bothWays('hub:connected carries every field the contract lists', (sc) => {
    const peer = sc.open('@(alice)');
    const id = peer.request('hub:connect', null, {
      metadata: { protocolVersion: PROTOCOL_VERSION, capabilities: ['chat', 'files'] },
    });
    const reply = peer.replyTo(id);
    const now = sc.now();
    expect(reply).toMatchObject({
      type: 'hub:connected',
      from: HUB_ADDRESS,
      to: '@(alice)',
      pattern: 'tell',
      correlationId: id,
      metadata: { actorIdentity: '@(alice)' },
    });
    const p = reply.payload;
    expect(p.sessionId).toBe(sc.fake.hub().session(peer.connId)!.snapshot.context.sessionId);
    expect(p.sessionId).toMatch(/\S/);
    expect(p.serverVersion).toBe('0.1.0');
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
    expect(typeof p.token).toBe('string');
    expect(p.token.length).toBeGreaterThan(0);
    expect(p.tokenExpiresAt).toBeGreaterThan(now);
    expect(sc.state(peer)).toBe('registered');
    expect(sc.fake.hub().session(peer.connId)!.snapshot.context.capabilities).toEqual(['chat', 'files']);
  });

  bothWays(
    'the handshake reports the configured limits, not the defaults',
    (sc) => {
      const peer = sc.connect('@(alice)');
      expect(peer.connected!.payload).toMatchObject({
        maxMessageSize: 4096,
        heartbeatInterval: 5_000,
        capabilities: { maxActorsPerInstance: 7 },
        rateLimit: { perSecond: 3, burst: 4 },
      });
    },
    configWith({ maxMessageSize: 4096, heartbeatIntervalMs: 5_000, heartbeatTimeoutMs: 15_000, registryLimit: 7, rateLimitPerSecond: 3, rateLimitBurst: 4 }),
  );

  bothWays('two sessions get different session ids and tokens', (sc) => {
    const a = sc.connect('@(a)');
    const b = sc.connect('@(b)');
    expect(a.connected!.payload.sessionId).not.toBe(b.connected!.payload.sessionId);
    expect(a.connected!.payload.token).not.toBe(b.connected!.payload.token);
  });

  for (const version of ['0.1.0', '0.9.3', 'v0.2']) {
    bothWays(`protocol ${version} has the server's major version and is accepted`, (sc) => {
      const peer = sc.open('@(alice)');
      const reply = peer.ask('hub:connect', null, { metadata: { protocolVersion: version } });
      expect(reply.type).toBe('hub:connected');
    });
  }

  bothWays('a different major version is answered with hub:version_mismatch, then closed 4400', (sc) => {
    const peer = sc.open('@(old)');
    const reply = peer.ask('hub:connect', null, { metadata: { protocolVersion: '1.0.0' } });
    expectError(reply, 'version_mismatch');
    expect(reply.payload).toMatchObject({
      retryable: false,
      clientVersion: '1.0.0',
      serverVersion: '0.1.0',
      supportedVersions: expect.arrayContaining(['0.1.0']),
    });
    expect(peer.socket.closed).toMatchObject({ code: 4400, by: 'hub' });
    // The reply reaches the client before the close.
    expect(sendIndex(sc, peer, 'hub:version_mismatch')).toBeLessThan(closeIndex(sc, peer));
    expect(sc.state(peer)).toBe('closing');
    sc.completeCloses();
    expect(sc.state(peer)).toBeUndefined();
  });

  bothWays('a refused session that never confirms the close is released after the close grace', (sc) => {
    const peer = sc.open('@(old)');
    peer.ask('hub:connect', null, { metadata: { protocolVersion: '2.0.0' } });
    expect(sc.state(peer)).toBe('closing');
    sc.advance(CLOSE_GRACE_MS - 1);
    expect(sc.state(peer)).toBe('closing');
    sc.advance(1);
    expect(sc.state(peer)).toBeUndefined();
  });

  bothWays('messages before hub:connect get not_connected and the session can still connect', (sc) => {
    const peer = sc.open('@(early)');
    for (const reply of [
      peer.ask('hub:register', { actorAddress: '@(early)', capabilities: [] }),
      peer.ask('hub:heartbeat', { timestamp: 1 }),
      peer.ask('hub:discover', { pattern: '*' }),
    ]) {
      expectError(reply, 'not_connected');
      expect(reply.payload.retryable).toBe(true);
    }
    expect(sc.fake.registry.all()).toEqual([]);
    expect(sc.state(peer)).toBe('connecting');
    const ok = peer.ask('hub:connect', null, { metadata: { protocolVersion: PROTOCOL_VERSION } });
    expect(ok.type).toBe('hub:connected');
  });

  bothWays('hub:connect without metadata.protocolVersion is invalid_message; the session stays usable', (sc) => {
    const peer = sc.open('@(nov)');
    const reply = peer.ask('hub:connect', null, { metadata: { capabilities: ['x'] } });
    expectError(reply, 'invalid_message');
    expect(reply.payload.details.issues).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: 'metadata.protocolVersion' })]),
    );
    expect(peer.socket.closed).toBeNull();
    expect(sc.state(peer)).toBe('connecting');
    const bad = peer.ask('hub:connect', null, { metadata: { protocolVersion: 7 } });
    expectError(bad, 'invalid_message');
    const ok = peer.ask('hub:connect', null, { metadata: { protocolVersion: PROTOCOL_VERSION } });
    expect(ok.type).toBe('hub:connected');
  });

  bothWays('a second hub:connect on a live session is invalid_message and changes nothing', (sc) => {
    const peer = sc.connect('@(alice)');
    const again = peer.ask('hub:connect', null, { metadata: { protocolVersion: PROTOCOL_VERSION, capabilities: ['z'] } });
    expectError(again, 'invalid_message');
    expect(sc.state(peer)).toBe('registered');
    expect(sc.fake.hub().session(peer.connId)!.snapshot.context.identity).toBe('@(alice)');
    peer.heartbeatOk();
  });

  bothWays('no hub:connect within CONNECT_TIMEOUT_MS closes the socket with 4408 via the alarm', (sc) => {
    const peer = sc.open('@(slow)');
    expect(sc.fake.alarmAt).not.toBeNull();
    sc.advance(5_000);
    // Refused frames are not a connect and do not extend the deadline.
    expectError(peer.ask('hub:discover', { pattern: '*' }), 'not_connected');
    sc.advance(DEFAULT_CONFIG.connectTimeoutMs - 5_000 - 1);
    expect(peer.socket.closed).toBeNull();
    sc.advance(1);
    expect(peer.socket.closed).toMatchObject({ code: 4408, by: 'hub' });
    const notices = peer.inbox().filter((m) => m.type === 'hub:disconnect');
    for (const n of notices) expect(n.correlationId).toBeNull();
    sc.completeCloses();
    expect(sc.state(peer)).toBeUndefined();
  });

  bothWays(
    'the connect timeout follows CONNECT_TIMEOUT_MS',
    (sc) => {
      const peer = sc.open('@(slow)');
      sc.advance(1_499);
      expect(peer.socket.closed).toBeNull();
      sc.advance(1);
      expect(peer.socket.closed?.code).toBe(4408);
    },
    configWith({ connectTimeoutMs: 1_500 }),
  );
});

describe('heartbeat and liveness (§4)', () => {
  bothWays('hub:heartbeat {timestamp} is acknowledged with {timestamp, serverTime}', (sc) => {
    const peer = sc.connect('@(alice)');
    sc.advance(1_234);
    const id = peer.request('hub:heartbeat', { timestamp: 987 });
    const ack = peer.replyTo(id);
    expect(ack).toMatchObject({ type: 'hub:heartbeat_ack', correlationId: id, to: '@(alice)' });
    expect(ack.payload).toEqual({ timestamp: 987, serverTime: sc.now() });
  });

  bothWays('a null or missing heartbeat payload is valid', (sc) => {
    const peer = sc.connect('@(alice)');
    const id = peer.request('hub:heartbeat', null);
    const ack = peer.replyTo(id);
    expect(ack.type).toBe('hub:heartbeat_ack');
    expect(ack.payload.serverTime).toBe(sc.now());
    expect(typeof ack.payload.timestamp).toBe('number');
    const empty = peer.ask('hub:heartbeat', undefined);
    expect(empty.type).toBe('hub:heartbeat_ack');
    const noTimestamp = peer.ask('hub:heartbeat', {});
    expect(noTimestamp.type).toBe('hub:heartbeat_ack');
  });

  bothWays('a silent session gets hub:disconnect heartbeat_timeout, then close 4408', (sc) => {
    const peer = sc.connect('@(quiet)');
    peer.ask('hub:register', { actorAddress: '@(quiet)', capabilities: [] });
    peer.inbox();
    sc.advance(HB_TIMEOUT - 1);
    expect(peer.socket.closed).toBeNull();
    sc.advance(2);
    const notice = peer.inbox();
    expect(notice).toHaveLength(1);
    expect(notice[0]).toMatchObject({
      type: 'hub:disconnect',
      from: HUB_ADDRESS,
      to: '@(quiet)',
      correlationId: null,
      payload: { reason: 'heartbeat_timeout', message: expect.stringMatching(/\S/) },
    });
    expect(peer.socket.closed).toMatchObject({ code: 4408, by: 'hub' });
    expect(sendIndex(sc, peer, 'hub:disconnect')).toBeLessThan(closeIndex(sc, peer));
    // Resume on (the default): a timeout counts as a lost connection, so the
    // session is suspended and holds its registrations for the grace period,
    // then holds none.
    expect(sc.state(peer)).toBe('suspended');
    expect(sc.fake.registry.all().map((r) => r.address)).toEqual(['@(quiet)']);
    sc.advance(DEFAULT_CONFIG.resumeGraceMs);
    expect(sc.fake.registry.all()).toEqual([]);
  });

  bothWays('every frame counts as liveness, not only heartbeats', (sc) => {
    const peer = sc.connect('@(chatty)');
    for (let i = 0; i < 4; i++) {
      sc.advance(HB_TIMEOUT - 10_000);
      // An error reply still proves the client is there.
      peer.ask('hub:unregister', { actorAddress: '@(chatty)' });
    }
    sc.advance(HB_TIMEOUT - 10_000);
    expect(peer.socket.closed).toBeNull();
    sc.advance(10_000);
    expect(peer.socket.closed?.code).toBe(4408);
  });

  bothWays('an auto-answered ping counts as liveness without reaching the hub', (sc) => {
    const peer = sc.connect('@(pinger)');
    const framesBefore = peer.socket.received.length;
    sc.advance(50_000);
    peer.raw('{"type":"ping"}');
    // The runtime answers; an evicted hub is not woken for it.
    if (sc.mode === 'hibernating') expect(sc.fake.awake).toBe(false);
    expect(peer.socket.received.slice(framesBefore)).toEqual(['{"type":"pong"}']);
    sc.advance(50_000); // 100 s after connect, 50 s after the ping
    expect(peer.socket.closed).toBeNull();
    expect(sc.state(peer)).toBe('registered');
    sc.advance(HB_TIMEOUT - 50_000);
    expect(peer.socket.closed).toMatchObject({ code: 4408 });
  });

  bothWays('an alarm reads the ping time only of sessions whose deadline has passed', (sc) => {
    const early = sc.connect('@(early)');
    sc.advance(HB_TIMEOUT / 2);
    const late = sc.connect('@(late)');
    early.raw('{"type":"ping"}');
    late.raw('{"type":"ping"}');
    const connections = sc.fake.runtime.io.connections;
    const asked: string[] = [];
    const pingAt = connections.pingAt.bind(connections);
    connections.pingAt = (socket) => {
      asked.push(socket.connId);
      return pingAt(socket);
    };
    // The early session's heartbeat deadline comes first; the late one's is half a timeout away.
    sc.advance(HB_TIMEOUT / 2);
    expect(asked).toEqual([early.connId]);
    expect(early.socket.closed).toBeNull();
    expect(late.socket.closed).toBeNull();
  });

  bothWays('pings alone keep a session alive indefinitely', (sc) => {
    const peer = sc.connect('@(pinger)');
    for (let i = 0; i < 10; i++) {
      sc.advance(HB_TIMEOUT - 1_000);
      peer.raw('{"type":"ping"}');
    }
    expect(peer.socket.closed).toBeNull();
    peer.heartbeatOk();
  });
});

describe('disconnect and close (§4)', () => {
  bothWays('client hub:disconnect is acknowledged (correlated) before the socket closes with 1000', (sc) => {
    const peer = sc.connect('@(leaver)');
    peer.ask('hub:register', { actorAddress: '@(leaver/svc)', capabilities: [] });
    const id = peer.request('hub:disconnect', { reason: 'done' });
    const ack = peer.replyTo(id);
    expect(ack).toMatchObject({ type: 'hub:disconnect', correlationId: id, to: '@(leaver)', payload: { acknowledged: true } });
    expect(peer.socket.closed).toMatchObject({ code: 1000, by: 'hub' });
    expect(sendIndex(sc, peer, 'hub:disconnect')).toBeLessThan(closeIndex(sc, peer));
    expect(sc.fake.registry.all()).toEqual([]);
    sc.completeCloses();
    expect(sc.state(peer)).toBeUndefined();
  });

  bothWays('a disconnect with a null payload is acknowledged too', (sc) => {
    const peer = sc.connect('@(leaver)');
    const ack = peer.ask('hub:disconnect', null);
    expect(ack.payload).toEqual({ acknowledged: true });
    expect(peer.socket.closed?.code).toBe(1000);
  });

  bothWays('a client-initiated close releases the session and its registrations at once', (sc) => {
    const peer = sc.connect('@(gone)');
    peer.ask('hub:register', { actorAddress: '@(gone)', capabilities: [] });
    peer.ask('hub:register', { actorAddress: '@(gone/2)', capabilities: [] });
    const other = sc.connect('@(other)');
    other.ask('hub:register', { actorAddress: '@(other)', capabilities: [] });
    const received = peer.socket.received.length;
    sc.clientClose(peer, 1001);
    expect(sc.state(peer)).toBeUndefined();
    expect(sc.fake.registry.all().map((r) => r.address)).toEqual(['@(other)']);
    expect(peer.socket.received.length).toBe(received);
    const list = other.ask('hub:list_actors', {});
    expect(list.payload.total).toBe(1);
    // The address is free again for anyone, with no eviction involved.
    const next = sc.connect('@(gone)');
    expect(next.ask('hub:register', { actorAddress: '@(gone)', capabilities: [] }).type).toBe('hub:registered');
    expect(other.socket.closed).toBeNull();
  });

  bothWays('server shutdown tells every session and closes it with 1001', (sc) => {
    const a = sc.connect('@(a)');
    const b = sc.connect('@(b)');
    const pending = sc.open('@(c)');
    a.inbox();
    b.inbox();
    sc.shutdown();
    for (const peer of [a, b, pending]) {
      const notices = peer.inbox().filter((m) => m.type === 'hub:disconnect');
      expect(notices).toHaveLength(1);
      expect(notices[0]!.payload.reason).toBe('server_shutdown');
      expect(peer.socket.closed).toMatchObject({ code: 1001, by: 'hub' });
      expect(sendIndex(sc, peer, 'hub:disconnect')).toBeLessThan(closeIndex(sc, peer));
    }
  });
});

describe('duplicate connection: last one wins (§4)', () => {
  bothWays('registering an address another session holds evicts the older session', (sc) => {
    const a = sc.connect('@(a)');
    const first = a.ask('hub:register', { actorAddress: '@(shared)', capabilities: ['x'] });
    expect(first.payload.version).toBe(1);
    a.ask('hub:register', { actorAddress: '@(a/extra)', capabilities: [] });
    a.inbox();
    const b = sc.connect('@(b)');
    const second = b.ask('hub:register', { actorAddress: '@(shared)', capabilities: ['y'] });
    expect(second.type).toBe('hub:registered');
    expect(second.payload.version).toBe(first.payload.version + 1);

    const notices = a.inbox();
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({
      type: 'hub:disconnect',
      correlationId: null,
      to: '@(a)',
      payload: { reason: 'duplicate_connection', message: expect.stringMatching(/\S/) },
    });
    expect(a.socket.closed).toMatchObject({ code: 4409, by: 'hub' });
    expect(sendIndex(sc, a, 'hub:disconnect')).toBeLessThan(closeIndex(sc, a));
    // Every registration of the evicted session is gone, not only the contested one.
    const rows = sc.fake.registry.all();
    expect(rows.filter((r) => r.connId === a.connId)).toEqual([]);
    expect(rows.map((r) => [r.address, r.connId])).toEqual([['@(shared)', b.connId]]);
    expect(b.socket.closed).toBeNull();
    // The winner may now send as the contested address.
    b.address = '@(shared)';
    b.heartbeatOk();
    sc.completeCloses();
    expect(sc.state(a)).toBeUndefined();
    expect(sc.state(b)).toBe('registered');
  });

  bothWays('re-registering an address on the same connection keeps the connection', (sc) => {
    const a = sc.connect('@(a)');
    a.ask('hub:register', { actorAddress: '@(a)', capabilities: [] });
    const again = a.ask('hub:register', { actorAddress: '@(a)', capabilities: ['more'] });
    expect(again.payload.version).toBe(2);
    expect(a.socket.closed).toBeNull();
    expect(a.inbox().filter((m) => m.type === 'hub:disconnect')).toEqual([]);
  });
});

describe('server-enforced from (§4)', () => {
  bothWays('a forwarded message from an address the session does not hold is refused with identity_mismatch', (sc) => {
    const a = sc.connect('@(a)');
    const b = sc.connect('@(b)');
    b.ask('hub:register', { actorAddress: '@(b/svc)', capabilities: [] });
    b.ask('hub:subscribe', { topic: 't' });
    b.inbox();
    for (const forged of ['@(b)', '@(b/svc)', '@(nobody)']) {
      const sends = [
        a.ask('hub:send', { to: '@(b/svc)', type: 'app.x', data: 1 }, { from: forged }),
        a.ask('hub:broadcast', { type: 'app.x', data: 2 }, { from: forged }),
        a.ask('hub:publish', { topic: 't', type: 'app.x', data: 3 }, { from: forged }),
      ];
      for (const [i, reply] of sends.entries()) {
        expectError(reply, 'unauthorized');
        expect(reply.payload).toMatchObject({
          action: ['hub:send', 'hub:broadcast', 'hub:publish'][i],
          reason: 'identity_mismatch',
          retryable: false,
        });
        expect(reply.to).toBe(forged);
      }
    }
    // Nothing was delivered to anyone.
    expect(b.inbox()).toEqual([]);
    a.heartbeatOk();
  });

  bothWays('requests answered only to the requester are never refused for their from (0.1.0 clients)', (sc) => {
    const a = sc.connect('@(local/client-1)');
    const b = sc.connect('@(b)');
    b.ask('hub:register', { actorAddress: '@(b/svc)', capabilities: [] });
    // Register from the address being registered.
    const reg = a.ask('hub:register', { actorAddress: '@(local/test-seag)', capabilities: ['x'] }, { from: '@(local/test-seag)' });
    expect(reg.type).toBe('hub:registered');
    expect(reg.to).toBe('@(local/test-seag)');
    // Heartbeat from a fixed address nobody holds, with a null payload, as a tell: a harmless ack, no error.
    a.request('hub:heartbeat', null, { from: '@(local/signal-hub-client)' });
    expect(a.inbox().map((m) => [m.type, m.to])).toEqual([['hub:heartbeat_ack', '@(local/signal-hub-client)']]);
    // Every other hub-only request with a from held by another session or by nobody.
    for (const from of ['@(b/svc)', '@(local/signal-hub-client)']) {
      const replies = [
        a.ask('hub:heartbeat', null, { from }),
        a.ask('hub:discover', { pattern: '*' }, { from }),
        a.ask('hub:list_actors', {}, { from }),
        a.ask('hub:subscribe', { topic: 'room' }, { from }),
        a.ask('hub:unsubscribe', { topic: 'room' }, { from }),
        a.ask('hub:pause', null, { from }),
        a.ask('hub:resume', null, { from }),
        a.ask('hub:queue_stats', null, { from }),
        a.ask('hub:metrics', null, { from }),
      ];
      expect(replies.map((r) => r.type)).toEqual([
        'hub:heartbeat_ack',
        'hub:discovered',
        'hub:actor_list',
        'hub:subscribed',
        'hub:unsubscribed',
        'hub:paused',
        'hub:resumed',
        'hub:queue_stats_response',
        'hub:metrics_response',
      ]);
      for (const r of replies) expect(r.to).toBe(from);
    }
    // The registered address, never the spoofed one, is what the hub holds.
    expect(sc.fake.registry.all().map((r) => r.address).sort()).toEqual(['@(b/svc)', '@(local/test-seag)']);
    const ack = a.ask('hub:disconnect', null, { from: '@(local/signal-hub-client)' });
    expect(ack.payload).toEqual({ acknowledged: true });
  });

  bothWays('a subscription made with a from the session does not hold delivers to its identity and leaves others alone', (sc) => {
    const a = sc.connect('@(a)');
    const b = sc.connect('@(b)');
    b.ask('hub:subscribe', { topic: 't' });
    // a claims b's address on a hub-only request: it must not take over or drop b's subscription.
    a.ask('hub:subscribe', { topic: 't' }, { from: '@(b)' });
    a.ask('hub:unsubscribe', { topic: 't' }, { from: '@(b)' });
    a.ask('hub:subscribe', { topic: 't' }, { from: '@(b)' });
    b.inbox();
    a.inbox();
    b.request('hub:publish', { topic: 't', type: 'app.news', data: 1 }, { pattern: 'ask' });
    const atB = b.inbox();
    expect(atB.find((m) => m.type === 'hub:published')?.payload.subscriberCount).toBe(2);
    const toB = atB.filter((m) => m.type === 'app.news');
    const toA = a.inbox().filter((m) => m.type === 'app.news');
    expect(toB.map((m) => m.to)).toEqual(['@(b)']);
    expect(toA.map((m) => m.to)).toEqual(['@(a)']);
  });

  bothWays('a session may send as its identity and as addresses it registered, only while it holds them', (sc) => {
    const a = sc.connect('@(a)');
    const b = sc.connect('@(b)');
    a.ask('hub:register', { actorAddress: '@(a/worker)', capabilities: [] });
    const asWorker = a.ask('hub:send', { to: '@(b)', type: 'app.x', data: 1 }, { from: '@(a/worker)' });
    expect(asWorker.type).toBe('hub:delivery_ack');
    expect(b.inbox().filter((m) => m.type === 'app.x').map((m) => m.from)).toEqual(['@(a/worker)']);
    a.ask('hub:unregister', { actorAddress: '@(a/worker)' });
    const after = a.ask('hub:send', { to: '@(b)', type: 'app.x', data: 2 }, { from: '@(a/worker)' });
    expectError(after, 'unauthorized');
    expect(after.payload.reason).toBe('identity_mismatch');
    expect(b.inbox()).toEqual([]);
  });

  bothWays('an expired registration no longer authorises its address as sender', (sc) => {
    const a = sc.connect('@(a)');
    a.ask('hub:register', { actorAddress: '@(a/tmp)', capabilities: [], ttlSeconds: 2 });
    sc.advance(2_000);
    const reply = a.ask('hub:broadcast', { type: 'app.x', data: 3 }, { from: '@(a/tmp)' });
    expectError(reply, 'unauthorized');
    expect(reply.payload.reason).toBe('identity_mismatch');
  });
});

describe('envelope rules (§2)', () => {
  bothWays('replies are full envelopes from the hub, correlated, with a metadata object', (sc) => {
    const a = sc.connect('@(a)');
    const id = a.request('hub:list_actors', {});
    const reply: Msg = a.replyTo(id);
    expect(Object.keys(reply).sort()).toEqual(
      ['correlationId', 'from', 'id', 'metadata', 'pattern', 'payload', 'signature', 'timestamp', 'to', 'ttl', 'type'].sort(),
    );
    expect(reply).toMatchObject({ from: HUB_ADDRESS, to: '@(a)', pattern: 'tell', correlationId: id, metadata: {} });
    expect(reply.id).not.toBe(id);
    expect(reply.timestamp).toBe(sc.now());
  });

  bothWays('an expired ask gets message_expired; an expired tell is dropped; a fresh one is processed', (sc) => {
    const a = sc.connect('@(a)');
    sc.advance(10_000);
    const stale = sc.now() - 5_000;
    const expired = a.ask('hub:register', { actorAddress: '@(a)', capabilities: [] }, { timestamp: stale, ttl: 1_000 });
    expectError(expired, 'message_expired');
    a.request('hub:register', { actorAddress: '@(a)', capabilities: [] }, { timestamp: stale, ttl: 1_000, pattern: 'tell' });
    expect(a.inbox()).toEqual([]);
    expect(sc.fake.registry.all()).toEqual([]);
    const fresh = a.ask('hub:register', { actorAddress: '@(a)', capabilities: [] }, { timestamp: stale, ttl: 5_000 });
    expect(fresh.type).toBe('hub:registered');
  });

  bothWays('unknown hub:* types and bare application types get unknown_type', (sc) => {
    const a = sc.connect('@(a)');
    for (const type of ['hub:frobnicate', 'chat.message']) {
      const envelope = { ...a.build('hub:heartbeat', null), type };
      a.raw(JSON.stringify(envelope));
      const reply = a.replyTo(envelope.id);
      expectError(reply, 'unknown_type');
    }
    a.heartbeatOk();
  });
});

describe('hibernation keeps sessions intact (§8)', () => {
  it('a session restored from its attachment keeps identity, state and heartbeat clock', () => {
    const sc = new Scenario('awake');
    const a = sc.connect('@(a)');
    sc.advance(30_000);
    a.heartbeatOk();
    const before = sc.fake.hub().session(a.connId)!.snapshot.context;
    sc.fake.hibernate();
    const after = sc.fake.hub().session(a.connId)!.snapshot.context;
    expect(after).toEqual(before);
    expect(sc.state(a)).toBe('registered');
    // The restored heartbeat clock still fires at the same time.
    sc.advance(HB_TIMEOUT - 1);
    expect(a.socket.closed).toBeNull();
    sc.advance(1);
    expect(a.socket.closed?.code).toBe(4408);
  });
});
