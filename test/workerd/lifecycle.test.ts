import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { HUB_ADDRESS, PROTOCOL_VERSION, SERVER_VERSION, SUPPORTED_VERSIONS } from '../../src/protocol/envelope';
import {
  WorkerdClient,
  MODES,
  eventually,
  expectError,
  freshHub,
  hibernate,
  persistedStates,
  storedActorCount,
  stubFor,
} from './hub-client';

describe('hibernate() helper', () => {
  it('really drops the in-memory hub, so later steps exercise the rebuild from attachments', async () => {
    const hub = freshHub('evict');
    const a = await WorkerdClient.connected(hub, '@(evict/a)');
    // `core` is private; reading it here only checks the test tool, not hub behaviour.
    const coreOf = () => runInDurableObject(stubFor(hub), (instance) => (instance as unknown as { core: unknown }).core);
    expect(await coreOf()).not.toBeNull();
    await hibernate(hub);
    expect(await coreOf()).toBeNull();
    await a.expectAlive();
    expect(await coreOf()).not.toBeNull();
  });
});

describe.each(MODES)('session lifecycle, $mode (contract §4)', ({ between }) => {
  it('answers hub:connect with every handshake field as a correlated full envelope', async () => {
    const hub = freshHub('handshake');
    const a = await WorkerdClient.open(hub, '@(hs/a)');
    await between(hub);
    const id = a.request('hub:connect', null, { metadata: { protocolVersion: PROTOCOL_VERSION, capabilities: ['chat'] } });
    const reply = await a.reply(id);
    expect(reply).toMatchObject({
      type: 'hub:connected',
      from: HUB_ADDRESS,
      to: '@(hs/a)',
      pattern: 'tell',
      correlationId: id,
      metadata: { actorIdentity: '@(hs/a)' },
      ttl: null,
      signature: null,
    });
    expect(typeof reply.id).toBe('string');
    expect(reply.id).not.toBe(id);
    expect(typeof reply.timestamp).toBe('number');
    const p = reply.payload;
    expect(typeof p.sessionId).toBe('string');
    expect(p.sessionId.length).toBeGreaterThan(0);
    expect(p).toMatchObject({
      serverVersion: SERVER_VERSION,
      maxMessageSize: 1_048_576,
      heartbeatInterval: 20_000,
      capabilities: { maxActorsPerInstance: 50_000, supportsBackpressure: true, supportedContentTypes: ['application/json'] },
      rateLimit: { perSecond: 10, burst: 20 },
    });
    expect(typeof p.token).toBe('string');
    expect(p.token.length).toBeGreaterThan(0);
    // Tokens last an hour (§10), counted from connect.
    expect(p.tokenExpiresAt).toBeGreaterThan(reply.timestamp);
    expect(p.tokenExpiresAt).toBeLessThanOrEqual(reply.timestamp + 3_600_000);

    await between(hub);
    // The identity outlives the wake: replies are still addressed to it.
    const ack = await a.ask('hub:heartbeat', null);
    expect(ack.to).toBe('@(hs/a)');
  });

  it('gives every connection its own session id', async () => {
    const hub = freshHub('sessions');
    const a = await WorkerdClient.open(hub, '@(s/a)');
    const b = await WorkerdClient.open(hub, '@(s/b)');
    const ra = await a.connect();
    await between(hub);
    const rb = await b.connect();
    expect(ra.payload.sessionId).not.toBe(rb.payload.sessionId);
  });

  it('refuses a different major version with hub:version_mismatch, then closes 4400', async () => {
    const hub = freshHub('version');
    const a = await WorkerdClient.open(hub, '@(v/a)');
    await between(hub);
    const id = a.request('hub:connect', null, { metadata: { protocolVersion: '1.0.0' } });
    const reply = await a.reply(id);
    const p = expectError(reply, 'hub:version_mismatch', 'version_mismatch', id);
    expect(p).toMatchObject({ clientVersion: '1.0.0', serverVersion: SERVER_VERSION, supportedVersions: SUPPORTED_VERSIONS });
    expect(p.retryable).toBe(false);
    expect((await a.waitClosed()).code).toBe(4400);
    // The refusal travels before the close.
    expect(a.events.map((e) => e.kind)).toEqual(['frame', 'close']);
  });

  it('accepts another minor version of the same major', async () => {
    const hub = freshHub('minor');
    const a = await WorkerdClient.open(hub, '@(v/minor)');
    const id = a.request('hub:connect', null, { metadata: { protocolVersion: '0.9.3' } });
    expect((await a.reply(id)).type).toBe('hub:connected');
  });

  it('refuses hub:connect without metadata.protocolVersion and keeps the socket connecting', async () => {
    const hub = freshHub('noversion');
    const a = await WorkerdClient.open(hub, '@(v/none)');
    const id = a.request('hub:connect', null, { metadata: {} });
    const p = expectError(await a.reply(id), 'hub:error', 'invalid_message', id);
    expect(p.details.issues.some((i: { path: string }) => i.path.includes('protocolVersion'))).toBe(true);
    await between(hub);
    expect((await a.connect()).type).toBe('hub:connected');
  });

  it('answers not_connected before hub:connect, and the connection survives to connect', async () => {
    const hub = freshHub('notconn');
    const a = await WorkerdClient.open(hub, '@(nc/a)');
    await between(hub);
    for (const send of [
      () => a.request('hub:register', { actorAddress: '@(nc/a)', capabilities: [] }),
      () => a.request('hub:list_actors', {}),
      () => a.request('hub:heartbeat', null),
    ]) {
      const id = send();
      expectError(await a.reply(id), 'hub:error', 'not_connected', id);
    }
    await between(hub);
    expect(a.closed).toBeNull();
    const connected = await a.connect();
    expect(connected.type).toBe('hub:connected');
    // The refused register had no effect.
    const list = await a.ask('hub:list_actors', {});
    expect(list.payload.total).toBe(0);
  });

  it('answers a second hub:connect with invalid_message and keeps the session', async () => {
    const hub = freshHub('reconnect');
    const a = await WorkerdClient.connected(hub, '@(rc/a)');
    await between(hub);
    const id = a.request('hub:connect', null, { metadata: { protocolVersion: PROTOCOL_VERSION } });
    expectError(await a.reply(id), 'hub:error', 'invalid_message', id);
    await between(hub);
    await a.expectAlive();
    expect(a.closed).toBeNull();
  });

  it('acknowledges hub:heartbeat with the client timestamp and the server time; a null payload is valid', async () => {
    const hub = freshHub('heartbeat');
    const a = await WorkerdClient.connected(hub, '@(hb/a)');
    await between(hub);
    const before = Date.now();
    const id = a.request('hub:heartbeat', { timestamp: 12345 });
    const ack = await a.reply(id);
    expect(ack).toMatchObject({ type: 'hub:heartbeat_ack', from: HUB_ADDRESS, to: '@(hb/a)', correlationId: id });
    expect(ack.payload.timestamp).toBe(12345);
    expect(ack.payload.serverTime).toBeGreaterThanOrEqual(before);
    expect(ack.payload.serverTime).toBeLessThanOrEqual(Date.now());

    await between(hub);
    const nullId = a.request('hub:heartbeat', null);
    const nullAck = await a.reply(nullId);
    expect(nullAck.type).toBe('hub:heartbeat_ack');
    expect(typeof nullAck.payload.serverTime).toBe('number');
  });

  it('acknowledges hub:disconnect before closing with 1000, and releases the registrations', async () => {
    const hub = freshHub('disconnect');
    const a = await WorkerdClient.connected(hub, '@(dc/a)');
    await a.ask('hub:register', { actorAddress: '@(dc/a)', capabilities: [] });
    await between(hub);
    const id = a.request('hub:disconnect', null);
    const closed = await a.waitClosed();
    expect(closed.code).toBe(1000);
    const frames = a.events.filter((e) => e.kind === 'frame');
    const ackAt = a.events.findIndex((e) => e.kind === 'frame' && e.frame.correlationId === id);
    const closeAt = a.events.findIndex((e) => e.kind === 'close');
    expect(ackAt).toBeGreaterThanOrEqual(0);
    expect(ackAt).toBeLessThan(closeAt);
    expect(frames.at(-1)).toMatchObject({ kind: 'frame', frame: { type: 'hub:disconnect', payload: { acknowledged: true } } });
    await eventually(async () => (await storedActorCount(hub)) === 0, 5_000, 'registration released');
  });

  it('completes a client-initiated close at once and releases the registrations', async () => {
    const hub = freshHub('clientclose');
    const a = await WorkerdClient.connected(hub, '@(cc/a)');
    const observer = await WorkerdClient.connected(hub, '@(cc/observer)');
    await a.ask('hub:register', { actorAddress: '@(cc/a)', capabilities: [] });
    await a.ask('hub:register', { actorAddress: '@(cc/a/extra)', capabilities: [] });
    await between(hub);
    a.close(1000);
    // The hub answers the close frame, so the client's close completes rather than hanging in CLOSING.
    const closed = await a.waitClosed(2_000);
    expect(closed.code).toBe(1000);
    await eventually(
      async () => (await observer.ask('hub:list_actors', {})).payload.total === 0,
      5_000,
      'registrations released',
    );
    expect(await storedActorCount(hub)).toBe(0);
    await observer.expectAlive();
  });

  it('evicts the older session when another session registers its address (last one wins)', async () => {
    const hub = freshHub('duplicate');
    const old = await WorkerdClient.connected(hub, '@(dup/old)');
    const first = await old.ask('hub:register', { actorAddress: '@(dup/shared)', capabilities: ['a'] });
    // Re-registering on the same connection bumps the version and keeps the session.
    const again = await old.ask('hub:register', { actorAddress: '@(dup/shared)', capabilities: ['a'] });
    expect(again.payload.version).toBe(first.payload.version + 1);
    await old.ask('hub:register', { actorAddress: '@(dup/old/private)', capabilities: [] });
    await between(hub);

    const newer = await WorkerdClient.connected(hub, '@(dup/new)');
    await between(hub);
    const reg = await newer.ask('hub:register', { actorAddress: '@(dup/shared)', capabilities: ['b'] });
    expect(reg.type).toBe('hub:registered');
    expect(reg.payload.version).toBe(again.payload.version + 1);

    const notice = await old.next((f) => f.type === 'hub:disconnect');
    expect(notice).toMatchObject({ from: HUB_ADDRESS, to: '@(dup/old)', payload: { reason: 'duplicate_connection' } });
    expect(typeof notice.payload.message).toBe('string');
    expect((await old.waitClosed()).code).toBe(4409);
    const noticeAt = old.events.findIndex((e) => e.kind === 'frame' && e.frame.type === 'hub:disconnect');
    expect(noticeAt).toBeLessThan(old.events.findIndex((e) => e.kind === 'close'));

    await between(hub);
    const list = await newer.ask('hub:list_actors', {});
    expect(list.payload.actors.map((a: { actorAddress: string }) => a.actorAddress)).toEqual(['@(dup/shared)']);
    expect(list.payload.actors[0]).toMatchObject({ capabilities: ['b'], version: reg.payload.version });
    await newer.expectAlive();
  });

  it('refuses to forward a from that is neither the identity nor a registered address, and delivers nothing', async () => {
    const hub = freshHub('identity');
    const a = await WorkerdClient.connected(hub, '@(id/a)');
    const b = await WorkerdClient.connected(hub, '@(id/b)');
    await a.ask('hub:register', { actorAddress: '@(id/a/alias)', capabilities: [] });
    await between(hub);

    // A registered address may be used as the sender.
    const asAlias = await a.ask('hub:send', { to: '@(id/b)', type: 'app.hi', data: 1 }, { from: '@(id/a/alias)' });
    expect(asAlias.type).toBe('hub:delivery_ack');
    expect((await b.next((f) => f.type === 'app.hi')).from).toBe('@(id/a/alias)');

    await between(hub);
    for (const type of ['hub:send', 'hub:broadcast'] as const) {
      const payload = type === 'hub:send' ? { to: '@(id/b)', type: 'app.spoof', data: 2 } : { type: 'app.spoof', data: 2 };
      const id = a.request(type, payload as never, { from: '@(id/stranger)' });
      const p = expectError(await a.reply(id), 'hub:unauthorized', 'unauthorized', id);
      expect(p).toMatchObject({ reason: 'identity_mismatch', action: type });
    }
    await b.expectAlive();
    expect(b.frames.some((f) => f.type === 'app.spoof')).toBe(false);
    await a.expectAlive();
  });

  it('answers hub-only requests whatever their from: a 0.1.0 register from the address being registered', async () => {
    const hub = freshHub('identity010');
    const a = await WorkerdClient.connected(hub, '@(local/client-1)');
    await between(hub);
    const reg = await a.ask('hub:register', { actorAddress: '@(local/test-seag)', capabilities: ['compute'] }, { from: '@(local/test-seag)' });
    expect(reg).toMatchObject({ type: 'hub:registered', to: '@(local/test-seag)', metadata: { renewalToken: reg.payload.renewalToken } });
    await between(hub);
    const beat = await a.ask('hub:heartbeat', null, { from: '@(local/signal-hub-client)' });
    expect(beat).toMatchObject({ type: 'hub:heartbeat_ack', to: '@(local/signal-hub-client)' });
    const list = await a.ask('hub:list_actors', {}, { from: '@(somebody/else)' });
    expect(list.payload.actors.map((x: { actorAddress: string }) => x.actorAddress)).toEqual(['@(local/test-seag)']);
    await a.expectAlive();
  });

  it('stops accepting an unregistered alias as sender', async () => {
    const hub = freshHub('alias');
    const a = await WorkerdClient.connected(hub, '@(al/a)');
    await a.ask('hub:register', { actorAddress: '@(al/a/tmp)', capabilities: [] });
    await between(hub);
    expect((await a.ask('hub:unregister', { actorAddress: '@(al/a/tmp)' })).type).toBe('hub:unregistered');
    await between(hub);
    const id = a.request('hub:send', { to: '@(al/a)', type: 'app.x', data: 1 }, { from: '@(al/a/tmp)' });
    expect(expectError(await a.reply(id), 'hub:unauthorized', 'unauthorized', id).reason).toBe('identity_mismatch');
  });

  it('answers {"type":"ping"} with {"type":"pong"} from the runtime, before and after connect', async () => {
    const hub = freshHub('ping');
    const a = await WorkerdClient.open(hub, '@(ping/a)');
    a.sendRaw('{"type":"ping"}');
    expect(await a.next()).toEqual({ type: 'pong' });
    await a.connect();
    await between(hub);
    a.sendRaw('{"type":"ping"}');
    expect(await a.next()).toEqual({ type: 'pong' });
    // The ping was not treated as a hub message: nothing else arrived and the session is intact.
    await a.expectAlive();
    expect(a.frames).toEqual([]);
    expect(await persistedStates(hub)).toEqual(['registered']);
  });
});
