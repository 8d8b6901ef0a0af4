import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/config';
import { FakeHubObject, configWith } from '../../harness/fake-object';
import { RecentIds } from '../../src/client/recent-ids';
import { PROTOCOL_VERSION, Scenario, bothWays, expectError, type Msg, type Peer } from './core-harness';
import { appFrames, authConnector, reconnect, tokenOf } from './resume-support';

/**
 * Session resume (issue 14, docs/PROTOCOL.md "Session resume"), through the
 * fake Durable Object. Every scenario runs awake and with an eviction before
 * each step (bothWays), so the suspended record and the mailbox are read
 * back from storage at every turn, as after a real hibernation.
 */

const GRACE = DEFAULT_CONFIG.resumeGraceMs;
const DROP = 1006;

describe('session resume: drop, suspend, resume', () => {
  bothWays('a dropped session keeps its registration and subscription, gets its mailbox in order after hub:connected, and asks are acked only then', (sc) => {
    const bob = sc.connect('@(bob)');
    const reg = bob.ask('hub:register', { actorAddress: '@(bob/inbox)', capabilities: [] });
    expect(reg.type).toBe('hub:registered');
    expect(bob.ask('hub:subscribe', { topic: 'news' }).type).toBe('hub:subscribed');
    const token = tokenOf(bob);
    const sessionId = bob.connected!.payload.sessionId;
    expect(bob.connected!.payload.resumed).toBe(false);

    const alice = sc.connect('@(alice)');
    sc.clientClose(bob, DROP);
    expect(sc.state(bob)).toBe('suspended');

    // Sent while bob is away: a tell, an ask, a publication, and an ask to its identity.
    alice.request('hub:send', { to: '@(bob/inbox)', type: 'chat', data: 1 }, { pattern: 'tell' });
    const askId = alice.request('hub:send', { to: '@(bob/inbox)', type: 'chat', data: 2 }, { pattern: 'ask' });
    alice.ask('hub:publish', { topic: 'news', type: 'headline', data: 3 });
    const askId2 = alice.request('hub:send', { to: '@(bob)', type: 'chat', data: 4 }, { pattern: 'ask' });
    // No ack while the target has no socket.
    expect(alice.inbox().filter((m) => m.type === 'hub:delivery_ack')).toEqual([]);

    // The four wait in the mailbox, which hub:metrics counts among queued deliveries.
    expect(alice.ask('hub:metrics', null).payload.queuedDeliveries).toBe(4);
    sc.advance(GRACE - 1);
    const [bob2, connected] = reconnect(sc, '@(bob)', token);
    expect(connected.payload).toMatchObject({ sessionId, resumed: true });
    expect(connected.payload.resumeToken).not.toBe(token);

    // hub:connected first, then the mailbox in arrival order, each once.
    const frames = bob2.all();
    expect(frames[0]!.type).toBe('hub:connected');
    expect(appFrames(frames)).toEqual(['chat:1', 'chat:2', 'headline:3', 'chat:4']);

    // The asks are acknowledged now that their frames reached a socket.
    const acks = alice.inbox().filter((m) => m.type === 'hub:delivery_ack');
    expect(acks.map((a) => [a.correlationId, a.payload.status])).toEqual([
      [askId, 'delivered'],
      [askId2, 'delivered'],
    ]);

    // Registration unchanged (same version), on the new connection; the subscription still delivers.
    const rows = sc.fake.registry.all();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ address: '@(bob/inbox)', version: reg.payload.version, connId: bob2.connId, sessionId });
    alice.ask('hub:publish', { topic: 'news', type: 'headline', data: 5 });
    alice.request('hub:send', { to: '@(bob/inbox)', type: 'chat', data: 6 }, { pattern: 'tell' });
    expect(appFrames(bob2.inbox())).toEqual(['headline:5', 'chat:6']);
    expect(sc.state(bob2)).toBe('registered');
    bob2.heartbeatOk();
    // Nothing is left in storage for the session once it resumed.
    expect(sc.fake.kv.count('mbox', '')).toBe(0);
    expect(sc.fake.kv.count('susp', '')).toBe(0);
  });

  bothWays('a heartbeat timeout suspends too, and the session resumes', (sc) => {
    const bob = sc.connect('@(bob)');
    bob.ask('hub:register', { actorAddress: '@(bob)', capabilities: [] });
    const token = tokenOf(bob);
    sc.advance(DEFAULT_CONFIG.heartbeatTimeoutMs + 1);
    expect(bob.socket.closed).toMatchObject({ code: 4408 });
    expect(sc.state(bob)).toBe('suspended');
    const alice = sc.connect('@(alice)');
    alice.request('hub:send', { to: '@(bob)', type: 'ping', data: 'x' }, { pattern: 'tell' });
    const [bob2, connected] = reconnect(sc, '@(bob)', token);
    expect(connected.payload.resumed).toBe(true);
    expect(appFrames(bob2.all())).toEqual(['ping:"x"']);
  });

  bothWays('a paused session that drops gets its pause buffer first, then what arrived while suspended', (sc) => {
    const bob = sc.connect('@(bob)');
    bob.ask('hub:register', { actorAddress: '@(bob)', capabilities: [] });
    const token = tokenOf(bob);
    bob.ask('hub:pause', null);
    const alice = sc.connect('@(alice)');
    alice.request('hub:send', { to: '@(bob)', type: 'm', data: 1 }, { pattern: 'tell' });
    sc.clientClose(bob, DROP);
    alice.request('hub:send', { to: '@(bob)', type: 'm', data: 2 }, { pattern: 'tell' });
    const [bob2] = reconnect(sc, '@(bob)', token);
    expect(appFrames(bob2.all())).toEqual(['m:1', 'm:2']);
    // The resumed session is not paused: new messages arrive at once.
    alice.request('hub:send', { to: '@(bob)', type: 'm', data: 3 }, { pattern: 'tell' });
    expect(appFrames(bob2.inbox())).toEqual(['m:3']);
  });
});

describe('session resume: the grace period ends', () => {
  bothWays('after the grace period the session is released, waiting asks fail resume_expired, and a late resume is a new session', (sc) => {
    const bob = sc.connect('@(bob)');
    bob.ask('hub:register', { actorAddress: '@(bob)', capabilities: [] });
    bob.ask('hub:subscribe', { topic: 'news' });
    const token = tokenOf(bob);
    const sessionId = bob.connected!.payload.sessionId;
    const alice = sc.connect('@(alice)');
    sc.clientClose(bob, DROP);
    alice.request('hub:send', { to: '@(bob)', type: 'chat', data: 'lost tell' }, { pattern: 'tell' });
    const askId = alice.request('hub:send', { to: '@(bob)', type: 'chat', data: 'lost ask' }, { pattern: 'ask' });
    alice.inbox();

    sc.advance(GRACE);
    const failed = alice.replyTo(askId);
    expectError(failed, 'resume_expired');
    expect(failed.payload.details).toMatchObject({ actorAddress: '@(bob)' });
    expect(sc.fake.registry.all()).toEqual([]);
    expect(sc.fake.kv.count('mbox', '')).toBe(0);
    // Released exactly as a close: the next send finds nobody.
    const after = alice.ask('hub:send', { to: '@(bob)', type: 'chat', data: 'x' });
    expect(after.type).toBe('hub:unknown_actor');
    expect(alice.ask('hub:publish', { topic: 'news', type: 'h', data: 1 }).payload.subscriberCount).toBe(0);

    const [bob2, connected] = reconnect(sc, '@(bob)', token);
    expect(connected.payload.resumed).toBe(false);
    expect(connected.payload.sessionId).not.toBe(sessionId);
    expect(appFrames(bob2.all())).toEqual([]);
  });
});

describe('session resume: tokens that do not resume', () => {
  bothWays('a wrong, foreign-identity or reused token is an ordinary new session, never an error', (sc) => {
    const bob = sc.connect('@(bob)');
    bob.ask('hub:register', { actorAddress: '@(bob)', capabilities: [] });
    const token = tokenOf(bob);
    sc.clientClose(bob, DROP);

    const [, wrong] = reconnect(sc, '@(bob)', token + 'x');
    expect(wrong.payload.resumed).toBe(false);
    // The same token from another identity does not take bob's session.
    const [, foreign] = reconnect(sc, '@(mallory)', token);
    expect(foreign.payload.resumed).toBe(false);
    // A malformed payload is no refusal either.
    const odd = sc.open('@(carol)');
    const oddReply = odd.ask('hub:connect', { resumeToken: 42 } as never, { metadata: { protocolVersion: PROTOCOL_VERSION } });
    expect(oddReply.type).toBe('hub:connected');
    expect(oddReply.payload.resumed).toBe(false);
  });

  bothWays('a token resumes at most once', (sc) => {
    const bob = sc.connect('@(bob)');
    const token = tokenOf(bob);
    sc.clientClose(bob, DROP);
    const [bob2, first] = reconnect(sc, '@(bob)', token);
    expect(first.payload.resumed).toBe(true);
    sc.clientClose(bob2, DROP);
    const [, again] = reconnect(sc, '@(bob)', token);
    expect(again.payload.resumed).toBe(false);
  });

  bothWays('a clean close (1000) releases at once, as before', (sc) => {
    const bob = sc.connect('@(bob)');
    bob.ask('hub:register', { actorAddress: '@(bob)', capabilities: [] });
    const token = tokenOf(bob);
    sc.clientClose(bob, 1000);
    expect(sc.fake.registry.all()).toEqual([]);
    const [, reply] = reconnect(sc, '@(bob)', token);
    expect(reply.payload.resumed).toBe(false);
  });

  bothWays('a protocol 0.1 client (every deployed one) keeps the contract: no token, and a drop or a heartbeat timeout releases at once', (sc) => {
    const bob = sc.connect('@(bob)', { protocolVersion: '0.1.0' });
    expect(bob.connected!.payload).not.toHaveProperty('resumeToken');
    expect(bob.connected!.payload).not.toHaveProperty('resumed');
    bob.ask('hub:register', { actorAddress: '@(bob)', capabilities: [] });
    const alice = sc.connect('@(alice)');
    sc.clientClose(bob, DROP);
    expect(sc.fake.registry.all().map((r) => r.address)).not.toContain('@(bob)');
    expect(sc.state(bob)).toBeUndefined();
    // Contract §6: an ask to an address no live session holds gets hub:unknown_actor at once, not a mailbox.
    expect(alice.ask('hub:send', { to: '@(bob)', type: 'm', data: 1 }).type).toBe('hub:unknown_actor');

    const carol = sc.connect('@(carol)', { protocolVersion: '0.1.0' });
    carol.ask('hub:register', { actorAddress: '@(carol)', capabilities: [] });
    sc.advance(DEFAULT_CONFIG.heartbeatTimeoutMs + 1_000);
    expect(sc.fake.registry.all().map((r) => r.address)).not.toContain('@(carol)');
    // Told and closing (4408), as the contract says; never suspended.
    expect(sc.state(carol)).not.toBe('suspended');
  });

  bothWays(
    'RESUME_GRACE_MS 0 turns resume off: no token, a drop releases at once',
    (sc) => {
      const bob = sc.connect('@(bob)');
      expect(bob.connected!.payload).not.toHaveProperty('resumeToken');
      expect(bob.connected!.payload).not.toHaveProperty('resumed');
      bob.ask('hub:register', { actorAddress: '@(bob)', capabilities: [] });
      sc.clientClose(bob, DROP);
      expect(sc.fake.registry.all()).toEqual([]);
      expect(sc.state(bob)).toBeUndefined();
    },
    configWith({ resumeGraceMs: 0 }),
  );
});

describe('session resume: the mailbox bound', () => {
  bothWays(
    'beyond MAILBOX_LIMIT the newest message is refused: an ask gets mailbox_full at once, a tell is dropped and counted',
    (sc) => {
      const bob = sc.connect('@(bob)');
      bob.ask('hub:register', { actorAddress: '@(bob)', capabilities: [] });
      const token = tokenOf(bob);
      const alice = sc.connect('@(alice)');
      sc.clientClose(bob, DROP);
      alice.request('hub:send', { to: '@(bob)', type: 'm', data: 1 }, { pattern: 'tell' });
      const kept = alice.request('hub:send', { to: '@(bob)', type: 'm', data: 2 }, { pattern: 'ask' });
      alice.request('hub:send', { to: '@(bob)', type: 'm', data: 3 }, { pattern: 'tell' });
      const refused = alice.ask('hub:send', { to: '@(bob)', type: 'm', data: 4 });
      expectError(refused, 'mailbox_full');
      expect(refused.payload.details).toMatchObject({ actorAddress: '@(bob)', limit: 2 });

      const [bob2] = reconnect(sc, '@(bob)', token);
      // A gap-free prefix of what was sent.
      expect(appFrames(bob2.all())).toEqual(['m:1', 'm:2']);
      expect(alice.inbox().filter((m) => m.type === 'hub:delivery_ack').map((m) => m.correlationId)).toEqual([kept]);
      const ops = sc.fake.hub().counters.ops?.mailbox;
      expect(ops).toMatchObject({ queued: 2, delivered: 2, dropped_overflow: 2 });
    },
    configWith({ mailboxLimit: 2 }),
  );

  bothWays(
    'MAILBOX_MAX_BYTES bounds the bytes held as well',
    (sc) => {
      const bob = sc.connect('@(bob)');
      bob.ask('hub:register', { actorAddress: '@(bob)', capabilities: [] });
      const token = tokenOf(bob);
      const alice = sc.connect('@(alice)');
      sc.clientClose(bob, DROP);
      const big = 'x'.repeat(700);
      alice.request('hub:send', { to: '@(bob)', type: 'm', data: big }, { pattern: 'tell' });
      const refused = alice.ask('hub:send', { to: '@(bob)', type: 'm', data: big });
      expectError(refused, 'mailbox_full');
      const [bob2] = reconnect(sc, '@(bob)', token);
      expect(appFrames(bob2.all())).toHaveLength(1);
    },
    configWith({ mailboxMaxBytes: 1024 }),
  );
});

describe('session resume with auth on', () => {
  const SECRET = 'resume-secret';

  it('the token is bound to the identity of the JWT: another identity presenting it gets a new session', async () => {
    const fake = new FakeHubObject(configWith({ authEnabled: true }));
    const connect = authConnector(fake, SECRET);
    const bob = await connect('bob');
    fake.clientClose(bob.socket, DROP);
    const mallory = await connect('mallory', bob.payload.resumeToken);
    expect(mallory.payload.resumed).toBe(false);
    expect(mallory.payload.sessionId).not.toBe(bob.payload.sessionId);
    const bob2 = await connect('bob', bob.payload.resumeToken);
    expect(bob2.payload).toMatchObject({ resumed: true, sessionId: bob.payload.sessionId });
  });
});

describe('session resume: frames the dropped socket may not have read', () => {
  // Awake only: the replay window is in memory by design (src/core/replay.ts), so an eviction between the sends and the drop loses it.
  it('the last frames sent before the drop are sent again after hub:connected, before the mailbox; the client drops the copies it had', () => {
    const sc = new Scenario('awake');
    const bob = sc.connect('@(bob)');
    bob.ask('hub:register', { actorAddress: '@(bob)', capabilities: [] });
    const token = tokenOf(bob);
    const alice = sc.connect('@(alice)');
    for (const n of [1, 2, 3]) alice.request('hub:send', { to: '@(bob)', type: 'm', data: n }, { pattern: 'tell' });
    const before = bob.inbox().filter((m) => m.type === 'm');
    expect(before.map((m) => m.payload)).toEqual([1, 2, 3]);
    sc.clientClose(bob, DROP);
    alice.request('hub:send', { to: '@(bob)', type: 'm', data: 4 }, { pattern: 'tell' });
    const [bob2] = reconnect(sc, '@(bob)', token);
    const after = bob2.all().filter((m) => m.type === 'm');
    expect(after.map((m) => m.payload)).toEqual([1, 2, 3, 4]);
    // The copies carry the same id and to as the originals, which is what the client library drops them by.
    const recent = new RecentIds();
    const kept = [...before, ...after].filter((m) => !recent.repeat(m.id, m.to));
    expect(kept.map((m) => m.payload)).toEqual([1, 2, 3, 4]);
  });

  it('the client drops a repeat of id and to, keeps the same id to another address, and forgets beyond its window', () => {
    const recent = new RecentIds(2);
    expect(recent.repeat('a', '@(x)')).toBe(false);
    expect(recent.repeat('a', '@(x)')).toBe(true);
    expect(recent.repeat('a', '@(y)')).toBe(false);
    expect(recent.repeat('b', '@(x)')).toBe(false);
    expect(recent.repeat('a', '@(x)')).toBe(false);
  });
});
