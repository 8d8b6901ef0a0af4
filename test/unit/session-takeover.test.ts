import { describe, expect, it } from 'vitest';
import { FakeHubObject, configWith } from '../../harness/fake-object';
import { DEFAULT_CONFIG } from '../../src/config';
import { RecentIds } from '../../src/client/recent-ids';
import { PROTOCOL_VERSION, Scenario, bothWays, type Msg, type Peer } from './core-harness';
import { appFrames, authConnector, reconnect, tokenOf } from './resume-support';

/**
 * Session takeover (issue 14 follow-up, docs/PROTOCOL.md "Session resume"):
 * a hub:connect presenting the resume token of a session that is still live
 * on another socket, because the hub has not yet noticed that socket is
 * gone. Scenarios run awake and with an eviction before every step
 * (bothWays), like the resume tests.
 */

const SESSION_RESUMED = 4410;

/** The old socket was told it was taken over, then closed with 4410, and got nothing after the notice. */
const expectTakenOver = (old: Peer): void => {
  const frames = old.inbox();
  const last = frames[frames.length - 1];
  expect(last?.type).toBe('hub:disconnect');
  expect(last?.payload).toMatchObject({ reason: 'session_resumed' });
  expect(last?.correlationId ?? null).toBeNull();
  expect(old.socket.closed).toMatchObject({ code: SESSION_RESUMED, reason: 'session_resumed' });
};

/** Brings a connected peer into the live state named. */
const enter = (sc: Scenario, peer: Peer, state: 'registered' | 'paused' | 'rate-limited'): void => {
  if (state === 'paused') expect(peer.ask('hub:pause', null).type).not.toBe('hub:error');
  if (state === 'rate-limited') {
    for (let i = 0; i < DEFAULT_CONFIG.rateLimitBurst + 1; i++) peer.request('hub:list_actors', {});
  }
  expect(sc.state(peer)).toBe(state);
  peer.inbox();
};

describe('session takeover: the hub still holds the old socket', () => {
  for (const state of ['registered', 'paused', 'rate-limited'] as const) {
    bothWays(`from ${state}: the new connection resumes the session, the old socket is told and closed, and its close changes nothing`, (sc) => {
      const bob = sc.connect('@(bob)');
      const reg = bob.ask('hub:register', { actorAddress: '@(bob/inbox)', capabilities: [] });
      expect(reg.type).toBe('hub:registered');
      expect(bob.ask('hub:subscribe', { topic: 'news' }).type).toBe('hub:subscribed');
      const token = tokenOf(bob);
      const sessionId = bob.connected!.payload.sessionId;
      const alice = sc.connect('@(alice)');
      enter(sc, bob, state);
      // Held for a paused bob (its buffer is durable). Frames a live bob's old socket got are replayed only
      // awake (the window is in memory, see the last describe), so here only the paused run sends before.
      const askId = state === 'paused' ? alice.request('hub:send', { to: '@(bob/inbox)', type: 'chat', data: 1 }, { pattern: 'ask' }) : null;

      const [bob2, connected] = reconnect(sc, '@(bob)', token);
      expect(connected.payload).toMatchObject({ sessionId, resumed: true });
      expect(connected.payload.resumeToken).not.toBe(token);
      expectTakenOver(bob);
      expect(sc.state(bob)).toBeUndefined();
      expect(sc.state(bob2)).toBe('registered');

      const frames = bob2.all();
      expect(frames[0]!.type).toBe('hub:connected');
      // The pause buffer reaches the new socket after hub:connected; the ask is acknowledged then, once.
      expect(appFrames(frames)).toEqual(askId !== null ? ['chat:1'] : []);
      const acks = alice.inbox().filter((m) => m.type === 'hub:delivery_ack');
      expect(acks.map((a) => [a.correlationId, a.payload.status])).toEqual(askId !== null ? [[askId, 'delivered']] : []);

      // Registration unchanged but for the connection; the subscription delivers to the new socket.
      const rows = sc.fake.registry.all();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ address: '@(bob/inbox)', version: reg.payload.version, connId: bob2.connId, sessionId });
      alice.ask('hub:publish', { topic: 'news', type: 'headline', data: 2 });
      alice.request('hub:send', { to: '@(bob)', type: 'chat', data: 3 }, { pattern: 'tell' });
      expect(appFrames(bob2.inbox())).toEqual(['headline:2', 'chat:3']);

      // The old socket's close comes back (as the client's abnormal drop): no suspension, nothing released.
      sc.clientClose(bob, 1006);
      expect(sc.state(bob2)).toBe('registered');
      expect(sc.fake.registry.all()[0]).toMatchObject({ connId: bob2.connId });
      expect(bob.inbox()).toEqual([]);
      bob2.heartbeatOk();
      expect(sc.fake.kv.count('susp', '')).toBe(0);
      expect(sc.fake.kv.count('mbox', '')).toBe(0);
    });
  }

  bothWays('a takeover after the hub closed the old socket but before the close completed still leaves one session', (sc) => {
    const bob = sc.connect('@(bob)');
    bob.ask('hub:register', { actorAddress: '@(bob)', capabilities: [] });
    const [bob2] = reconnect(sc, '@(bob)', tokenOf(bob));
    expectTakenOver(bob);
    // The hub's close frame is confirmed by the old client only now.
    sc.completeCloses();
    expect(sc.state(bob2)).toBe('registered');
    const alice = sc.connect('@(alice)');
    alice.request('hub:send', { to: '@(bob)', type: 'm', data: 1 }, { pattern: 'tell' });
    expect(appFrames(bob2.inbox())).toEqual(['m:1']);
    expect(bob.inbox()).toEqual([]);
  });
});

describe('session takeover: tokens that must not take over', () => {
  bothWays('another identity presenting a live session\'s token gets a new session; the live one is untouched', (sc) => {
    const bob = sc.connect('@(bob)');
    bob.ask('hub:register', { actorAddress: '@(bob)', capabilities: [] });
    const token = tokenOf(bob);
    const [mallory, connected] = reconnect(sc, '@(mallory)', token);
    expect(connected.payload.resumed).toBe(false);
    expect(connected.payload.sessionId).not.toBe(bob.connected!.payload.sessionId);
    expect(bob.inbox()).toEqual([]);
    expect(bob.socket.closed).toBeNull();
    expect(sc.state(bob)).toBe('registered');
    bob.heartbeatOk();
    expect(sc.fake.registry.all()[0]).toMatchObject({ address: '@(bob)', connId: bob.connId });
    // The token still belongs to bob, who can take his own session over with it.
    mallory.heartbeatOk();
    const [bob2, again] = reconnect(sc, '@(bob)', token);
    expect(again.payload).toMatchObject({ resumed: true, sessionId: bob.connected!.payload.sessionId });
    expectTakenOver(bob);
    bob2.heartbeatOk();
  });

  bothWays('a foreign token, and a token already used for a takeover, give new sessions and touch no live session', (sc) => {
    const bob = sc.connect('@(bob)');
    bob.ask('hub:register', { actorAddress: '@(bob)', capabilities: [] });
    const first = tokenOf(bob);
    const [, foreign] = reconnect(sc, '@(bob/other)', 'not-a-token-of-this-hub');
    expect(foreign.payload.resumed).toBe(false);
    expect(bob.socket.closed).toBeNull();
    const [bob2] = reconnect(sc, '@(bob)', first);
    expectTakenOver(bob);
    // The used token resumes nothing: a new session of the same identity (auth off: no eviction).
    const [bob3, reused] = reconnect(sc, '@(bob)', first);
    expect(reused.payload.resumed).toBe(false);
    expect(reused.payload.sessionId).not.toBe(bob2.connected!.payload.sessionId);
    expect(bob2.socket.closed).toBeNull();
    expect(sc.state(bob2)).toBe('registered');
    expect(sc.fake.registry.all()[0]).toMatchObject({ address: '@(bob)', connId: bob2.connId });
    bob3.heartbeatOk();
    bob2.heartbeatOk();
  });
});

describe('session takeover: asks pending both ways', () => {
  bothWays('an ask the taken-over session made to a paused target is acknowledged on the new connection', (sc) => {
    const carol = sc.connect('@(carol)');
    carol.ask('hub:register', { actorAddress: '@(carol)', capabilities: [] });
    carol.ask('hub:pause', null);
    const bob = sc.connect('@(bob)');
    const askId = bob.request('hub:send', { to: '@(carol)', type: 'q', data: 1 }, { pattern: 'ask' });
    expect(bob.inbox().filter((m) => m.type === 'hub:delivery_ack')).toEqual([]);
    const [bob2] = reconnect(sc, '@(bob)', tokenOf(bob));
    expectTakenOver(bob);
    carol.inbox();
    carol.ask('hub:resume', null);
    expect(appFrames(carol.all())).toEqual(['q:1']);
    const acks = bob2.inbox().filter((m) => m.type === 'hub:delivery_ack');
    expect(acks.map((a) => [a.correlationId, a.payload.status])).toEqual([[askId, 'delivered']]);
    expect(bob.inbox()).toEqual([]);
  });

  bothWays('an ask the taken-over session made to a suspended target is acknowledged on the new connection when the target resumes', (sc) => {
    const carol = sc.connect('@(carol)');
    carol.ask('hub:register', { actorAddress: '@(carol)', capabilities: [] });
    const carolToken = tokenOf(carol);
    sc.clientClose(carol, 1006);
    expect(sc.state(carol)).toBe('suspended');
    const bob = sc.connect('@(bob)');
    const askId = bob.request('hub:send', { to: '@(carol)', type: 'q', data: 1 }, { pattern: 'ask' });
    const [bob2] = reconnect(sc, '@(bob)', tokenOf(bob));
    expectTakenOver(bob);
    const [carol2] = reconnect(sc, '@(carol)', carolToken);
    expect(appFrames(carol2.all())).toEqual(['q:1']);
    const acks = bob2.inbox().filter((m) => m.type === 'hub:delivery_ack');
    expect(acks.map((a) => [a.correlationId, a.payload.status])).toEqual([[askId, 'delivered']]);
    expect(bob.inbox()).toEqual([]);
    // The pending-ask rows moved with the session: none is left under the old connection, none is left over.
    expect(sc.fake.kv.count('pending', bob.connId)).toBe(0);
  });

  bothWays('asks to and from the session, both pending at the takeover, are each answered once', (sc) => {
    const carol = sc.connect('@(carol)');
    carol.ask('hub:register', { actorAddress: '@(carol)', capabilities: [] });
    carol.ask('hub:pause', null);
    const bob = sc.connect('@(bob)');
    bob.ask('hub:register', { actorAddress: '@(bob)', capabilities: [] });
    bob.ask('hub:pause', null);
    const toCarol = bob.request('hub:send', { to: '@(carol)', type: 'q', data: 'b→c' }, { pattern: 'ask' });
    const toBob = carol.request('hub:send', { to: '@(bob)', type: 'q', data: 'c→b' }, { pattern: 'ask' });
    bob.inbox();
    carol.inbox();
    const [bob2] = reconnect(sc, '@(bob)', tokenOf(bob));
    expectTakenOver(bob);
    // carol's ask reached bob's new socket: acknowledged to carol now.
    expect(appFrames(bob2.all())).toEqual(['q:"c→b"']);
    expect(carol.inbox().filter((m) => m.type === 'hub:delivery_ack').map((a) => a.correlationId)).toEqual([toBob]);
    // bob's ask waits for carol; its ack goes to the new connection.
    carol.ask('hub:resume', null);
    expect(bob2.inbox().filter((m) => m.type === 'hub:delivery_ack').map((a) => a.correlationId)).toEqual([toCarol]);
    expect(bob.inbox()).toEqual([]);
  });
});

describe('session takeover: a resent ask (idempotent requests)', () => {
  bothWays('an ask resent with its id on the new connection is not handled twice, and its one answer reaches the new connection', (sc) => {
    expect(sc.config.dedupWindowMs).toBeGreaterThan(0);
    const carol = sc.connect('@(carol)');
    carol.ask('hub:register', { actorAddress: '@(carol)', capabilities: [] });
    carol.ask('hub:pause', null);
    const bob = sc.connect('@(bob)');
    const ask = bob.build('hub:send', { to: '@(carol)', type: 'q', data: 1 }, { pattern: 'ask' });
    bob.raw(JSON.stringify(ask));
    const [bob2] = reconnect(sc, '@(bob)', tokenOf(bob));
    bob2.inbox();
    // The client library resends what was unanswered when its socket was replaced: same id.
    bob2.raw(JSON.stringify(ask));
    expect(bob2.inbox().filter((m) => m.correlationId === ask.id)).toEqual([]);
    carol.inbox();
    carol.ask('hub:resume', null);
    // Delivered once, acknowledged once, on the new connection.
    expect(appFrames(carol.all())).toEqual(['q:1']);
    const acks = bob2.inbox().filter((m) => m.correlationId === ask.id);
    expect(acks.map((a) => [a.type, a.payload.status])).toEqual([['hub:delivery_ack', 'delivered']]);
    // A later resend gets the original answer again, and still nothing reaches carol twice.
    bob2.raw(JSON.stringify(ask));
    const again = bob2.inbox().filter((m) => m.correlationId === ask.id);
    expect(again.map((a) => a.payload)).toEqual([acks[0]!.payload]);
    expect(appFrames(carol.inbox())).toEqual([]);
  });
});

describe('session takeover: frames the old socket may not have read', () => {
  // Awake only: the replay window is in memory by design (src/core/replay.ts).
  it('what was sent to the old socket goes again after hub:connected, before anything new; the client keeps each message once, in order', () => {
    const sc = new Scenario('awake');
    const bob = sc.connect('@(bob)');
    bob.ask('hub:register', { actorAddress: '@(bob)', capabilities: [] });
    const alice = sc.connect('@(alice)');
    for (const n of [1, 2, 3]) alice.request('hub:send', { to: '@(bob)', type: 'm', data: n }, { pattern: 'tell' });
    const before = bob.inbox().filter((m) => m.type === 'm');
    expect(before.map((m) => m.payload)).toEqual([1, 2, 3]);
    const [bob2] = reconnect(sc, '@(bob)', tokenOf(bob));
    alice.request('hub:send', { to: '@(bob)', type: 'm', data: 4 }, { pattern: 'tell' });
    const frames = bob2.all();
    expect(frames[0]!.type).toBe('hub:connected');
    const after = frames.filter((m) => m.type === 'm');
    expect(after.map((m) => m.payload)).toEqual([1, 2, 3, 4]);
    // The old socket got no copy of what came after its notice.
    expect(bob.inbox().map((m) => m.type)).toEqual(['hub:disconnect']);
    const recent = new RecentIds();
    const kept = [...before, ...after].filter((m) => !recent.repeat(m.id, m.to));
    expect(kept.map((m) => m.payload)).toEqual([1, 2, 3, 4]);
  });
});

describe('session takeover with auth on', () => {
  const SECRET = 'takeover-secret';

  it('the same identity presenting the token takes over (session_resumed, not a duplicate eviction); another identity does not', async () => {
    const fake = new FakeHubObject(configWith({ authEnabled: true }));
    const connect = authConnector(fake, SECRET);
    const bob = await connect('bob');
    const mallory = await connect('mallory', bob.payload.resumeToken);
    expect(mallory.payload.resumed).toBe(false);
    expect(bob.socket.closed).toBeNull();
    const bob2 = await connect('bob', bob.payload.resumeToken);
    expect(bob2.payload).toMatchObject({ resumed: true, sessionId: bob.payload.sessionId });
    const notices = fake.messages(bob.socket).filter((m) => m.type === 'hub:disconnect');
    expect(notices.map((m) => m.payload.reason)).toEqual(['session_resumed']);
    expect(bob.socket.closed).toMatchObject({ code: SESSION_RESUMED });
    expect(String(fake.hub().session(bob2.socket.connId)?.snapshot.value)).toBe('registered');
    expect(bob2.socket.closed).toBeNull();
    expect(mallory.socket.closed).toBeNull();
  });
});
