import { env, exports } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import worker from '../../src/index';
import type { Env } from '../../src/hub-object';
import { mintToken } from '../../src/auth/jwt';
import { INSPECT_FRAME_VERSION, INSPECT_SUBPROTOCOL, JOIN_EVENT } from '../../src/core/inspection';
import { WorkerdClient, eventually, freshHub, hibernate, sleep, stubFor, type Frame } from '../workerd/hub-client';

/** An inspector is a plain socket on /inspect/<hub>; WorkerdClient's frame queue serves it as well. */
const inspector = (hub: string): Promise<WorkerdClient> => WorkerdClient.open(hub, '@(inspector)', `/inspect/${hub}`);

const received = (i: WorkerdClient): Frame[] => i.events.flatMap((e) => (e.kind === 'frame' ? [e.frame] : []));

/** Same readable walk as the unit test: actor, machine event, snapshot with the state it reached. */
const walk = (frames: Frame[]): string[] =>
  frames.map((f) =>
    f.type === '@xstate.actor'
      ? `actor ${f.snapshot.value}`
      : f.type === '@xstate.event'
        ? `event ${f.event.type}`
        : `snapshot ${f.event.type} -> ${f.snapshot.value}/${f.snapshot.status}`,
  );

const ofSession = (frames: Frame[], sessionId: string) => frames.filter((f) => f.sessionId === sessionId);

/** Whether the hub's in-memory core (if awake) has a transition hook installed. */
const hookInstalled = (hub: string): Promise<boolean | null> =>
  runInDurableObject(stubFor(hub), (instance) => {
    const core = instance['core'];
    return core === null ? null : core.onTransition !== undefined;
  });

describe('/inspect streams the session machines (INSPECT_ENABLED)', () => {
  it('a scripted session shows as actor, then each event and snapshot, ending done', async () => {
    const hub = freshHub('inspect-live');
    const watcher = await inspector(hub);
    const a = await WorkerdClient.open(hub, '@(inspect/a)');
    const connected = await a.connect();
    const sessionId = connected.payload.sessionId as string;
    expect((await a.ask('hub:register', { actorAddress: '@(inspect/a)', capabilities: ['x'] })).type).toBe('hub:registered');
    await a.expectAlive();
    expect((await a.ask('hub:disconnect', null)).payload).toMatchObject({ acknowledged: true });
    await a.waitClosed();
    await watcher.next((f) => f.type === '@xstate.snapshot' && f.snapshot.status === 'done');

    const frames = received(watcher);
    expect(frames.every((f) => f.sessionId === sessionId && f.rootId === sessionId && f._version === INSPECT_FRAME_VERSION)).toBe(
      true,
    );
    expect(walk(frames)).toEqual([
      'actor connecting',
      'snapshot xstate.init -> connecting/active',
      'event FRAME',
      'snapshot FRAME -> connecting/active',
      'event CONNECT_ACCEPTED',
      'snapshot CONNECT_ACCEPTED -> registered/active',
      'event FRAME',
      'snapshot FRAME -> registered/active',
      'event FRAME',
      'snapshot FRAME -> registered/active',
      'event HEARTBEAT',
      'snapshot HEARTBEAT -> registered/active',
      'event FRAME',
      'snapshot FRAME -> registered/active',
      'event DISCONNECT_REQUESTED',
      'snapshot DISCONNECT_REQUESTED -> closing/active',
      'event SOCKET_CLOSED',
      'snapshot SOCKET_CLOSED -> closed/done',
    ]);
    const actor = frames[0]!;
    expect(actor).toMatchObject({ type: '@xstate.actor', name: 'session', id: null });
    expect(JSON.parse(actor.definition as string)).toMatchObject({ id: 'session', initial: 'connecting' });
    expect(frames.find((f) => f.event?.type === 'CONNECT_ACCEPTED' && f.type === '@xstate.snapshot')!.snapshot.context).toMatchObject({
      sessionId,
      identity: '@(inspect/a)',
    });
    expect(watcher.closed).toBeNull();
    watcher.close();
  });

  it('on join, sends a synthetic actor and snapshot for every session, restored ones included', async () => {
    const hub = freshHub('inspect-join');
    const a = await WorkerdClient.connected(hub, '@(join/a)');
    const b = await WorkerdClient.open(hub, '@(join/b)'); // opened, not yet connected
    await a.ask('hub:register', { actorAddress: '@(join/a)', capabilities: [] });
    await hibernate(hub);

    const watcher = await inspector(hub);
    await watcher.next((f) => f.type === '@xstate.snapshot');
    await watcher.next((f) => f.type === '@xstate.snapshot');
    const joined = received(watcher);
    expect(joined.map((f) => f.type)).toEqual(['@xstate.actor', '@xstate.snapshot', '@xstate.actor', '@xstate.snapshot']);
    const byState = new Map(joined.filter((f) => f.type === '@xstate.actor').map((f) => [f.snapshot.value as string, f]));
    expect([...byState.keys()].sort()).toEqual(['connecting', 'registered']);
    const registered = byState.get('registered')!;
    expect(registered.snapshot.context.identity).toBe('@(join/a)');
    for (const f of joined.filter((x) => x.type === '@xstate.snapshot')) expect(f.event).toEqual(JOIN_EVENT);
    // Each actor frame is followed by the snapshot of the same session.
    expect(joined[1]!.sessionId).toBe(joined[0]!.sessionId);
    expect(joined[3]!.sessionId).toBe(joined[2]!.sessionId);

    // Live steps after the join continue on the ids the join announced, across another wake.
    await hibernate(hub);
    await a.expectAlive();
    const connecting = byState.get('connecting')!.sessionId as string;
    const reply = await b.connect();
    expect(reply.payload.sessionId).toBe(connecting);
    await watcher.next((f) => f.type === '@xstate.snapshot' && f.event.type === 'CONNECT_ACCEPTED');
    const live = received(watcher).slice(4);
    expect(walk(ofSession(live, registered.sessionId))).toEqual([
      'event FRAME',
      'snapshot FRAME -> registered/active',
      'event HEARTBEAT',
      'snapshot HEARTBEAT -> registered/active',
    ]);
    expect(walk(ofSession(live, connecting))).toEqual([
      'event FRAME',
      'snapshot FRAME -> connecting/active',
      'event CONNECT_ACCEPTED',
      'snapshot CONNECT_ACCEPTED -> registered/active',
    ]);
    a.close();
    b.close();
    watcher.close();
  });

  it('frames an inspector sends are ignored and it is never taken for a session, even after a wake', async () => {
    const hub = freshHub('inspect-quiet');
    const a = await WorkerdClient.connected(hub, '@(quiet/a)');
    const watcher = await inspector(hub);
    await watcher.next((f) => f.type === '@xstate.snapshot');
    const before = (await a.ask('hub:metrics', {})).payload;

    watcher.sendRaw('not json');
    watcher.sendJson(a.build('hub:connect', null, { metadata: { protocolVersion: '0.1.0' } }));
    watcher.sendRaw(new TextEncoder().encode('{"type":"hub:disconnect"}').buffer as ArrayBuffer);
    await sleep(200);
    await hibernate(hub);

    const after = (await a.ask('hub:metrics', {})).payload;
    expect(after.currentSessions).toBe(before.currentSessions);
    expect(after.connectionsOpened).toBe(before.connectionsOpened);
    expect(after.currentSessions).toBe(1);
    // Nothing came back to the inspector but inspection frames: no hub error replies, no close.
    expect(received(watcher).every((f) => typeof f.type === 'string' && f.type.startsWith('@xstate.'))).toBe(true);
    expect(watcher.closed).toBeNull();
    // The woken hub still streams to it.
    await watcher.next((f) => f.type === '@xstate.event' && f.event.type === 'FRAME');
    await a.expectAlive();
    await watcher.next((f) => f.type === '@xstate.event' && f.event.type === 'HEARTBEAT');
    a.close();
    watcher.close();
  });

  it('installs the transition hook only while an inspector is connected', async () => {
    const hub = freshHub('inspect-hook');
    const a = await WorkerdClient.connected(hub, '@(hook/a)');
    expect(await hookInstalled(hub)).toBe(false);
    const watcher = await inspector(hub);
    await watcher.next((f) => f.type === '@xstate.snapshot');
    expect(await hookInstalled(hub)).toBe(true);
    await hibernate(hub);
    await a.expectAlive(); // wakes the hub, which finds the inspector by its tag
    expect(await hookInstalled(hub)).toBe(true);
    watcher.close();
    await eventually(async () => (await hookInstalled(hub)) === false, 5_000, 'hook removed after the inspector left');
    await a.expectAlive();
    a.close();
  });

  it('a session opened while an inspector watches is announced before its first event', async () => {
    const hub = freshHub('inspect-order');
    const watcher = await inspector(hub);
    const a = await WorkerdClient.connected(hub, '@(order/a)');
    const b = await WorkerdClient.connected(hub, '@(order/b)');
    await watcher.next((f) => f.type === '@xstate.snapshot' && f.event.type === 'CONNECT_ACCEPTED' && f.snapshot.context.identity === '@(order/b)');
    const frames = received(watcher);
    const sessions = new Set(frames.map((f) => f.sessionId as string));
    expect(sessions.size).toBe(2);
    for (const id of sessions) expect(ofSession(frames, id)[0]!.type).toBe('@xstate.actor');
    a.close();
    b.close();
    watcher.close();
  });
});

describe('/inspect routing', () => {
  it('answers 426 to a plain GET and 404 to a malformed hub name', async () => {
    expect((await exports.default.fetch('http://hub.test/inspect')).status).toBe(426);
    const bad = await exports.default.fetch('http://hub.test/inspect/bad%20name', { headers: { Upgrade: 'websocket' } });
    expect(bad.status).toBe(404);
    expect(bad.webSocket).toBeNull();
  });

  it('/inspect watches the default hub, the one /ws reaches', async () => {
    const res = await exports.default.fetch('http://hub.test/inspect', { headers: { Upgrade: 'websocket' } });
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    const seen: Frame[] = [];
    ws.addEventListener('message', (e) => {
      seen.push(JSON.parse(e.data as string) as Frame);
    });
    ws.accept();
    const a = await WorkerdClient.open('default', '@(inspect/default)', '/ws');
    await a.connect();
    await eventually(async () => seen.some((f) => f.event?.type === 'CONNECT_ACCEPTED' && f.snapshot?.context.identity === '@(inspect/default)'));
    a.close();
    ws.close(1000, 'done');
  });
});

describe('/inspect with auth on', () => {
  const secret = 'inspect-test-secret';
  const authEnv: Env = { ...env, AUTH_ENABLED: 'true', JWT_SECRET: secret };
  const upgrade = (path: string, headers: Record<string, string> = {}) =>
    worker.fetch(new Request(`http://hub.test${path}`, { headers: { Upgrade: 'websocket', ...headers } }), authEnv);

  it('refuses an inspector without a token, or with a bad or expired one (401)', async () => {
    const hub = freshHub('inspect-auth');
    const expired = await mintToken(secret, { actorId: 'ops/1', lifetimeSeconds: 60, now: Date.now() - 3_600_000 });
    const forged = await mintToken('another-secret', { actorId: 'ops/1' });
    for (const [path, headers] of [
      [`/inspect/${hub}`, {}],
      [`/inspect/${hub}?token=${forged}`, {}],
      [`/inspect/${hub}?token=${expired}`, {}],
      [`/inspect/${hub}`, { 'Sec-WebSocket-Protocol': `${INSPECT_SUBPROTOCOL}, ${forged}` }],
    ] as const) {
      const res = await upgrade(path, headers);
      expect(res.status, path).toBe(401);
      expect(res.webSocket).toBeNull();
      expect(((await res.json()) as { error: string }).error).toBe('unauthorized');
    }
  });

  it('accepts a valid token in the query or as a subprotocol, echoing the subprotocol', async () => {
    const hub = freshHub('inspect-auth-ok');
    const token = await mintToken(secret, { actorId: 'ops/1' });
    const viaQuery = await upgrade(`/inspect/${hub}?token=${encodeURIComponent(token)}`);
    expect(viaQuery.status).toBe(101);
    viaQuery.webSocket!.accept();
    const viaProtocol = await upgrade(`/inspect/${hub}`, { 'Sec-WebSocket-Protocol': `${INSPECT_SUBPROTOCOL}, ${token}` });
    expect(viaProtocol.status).toBe(101);
    expect(viaProtocol.headers.get('Sec-WebSocket-Protocol')).toBe(INSPECT_SUBPROTOCOL);
    viaProtocol.webSocket!.accept();
    viaQuery.webSocket!.close(1000, 'done');
    viaProtocol.webSocket!.close(1000, 'done');
  });
});
