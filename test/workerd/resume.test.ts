import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../src/protocol/envelope';
import { NS } from '../../src/core/namespaces';
import { SqlKvStore } from '../../src/storage/sql-kv-store';
import { SqlRegistryStore } from '../../src/storage/sql-registry-store';
import { WorkerdClient, eventually, freshHub, hibernate, persistedStates, sleep, stubFor, type Frame } from './hub-client';

/**
 * Session resume (issue 14) in the real Durable Object: a client's socket
 * goes away without hub:disconnect, others keep sending to it, the object
 * is evicted while the session has no socket at all (its record and mailbox
 * exist only in SQLite), and the client resumes on a new socket.
 */

const storedRows = (hub: string, ns: string): Promise<number> =>
  runInDurableObject(stubFor(hub), (_instance, state) => new SqlKvStore(state.storage.sql).count(ns, ''));

const appFrames = (client: WorkerdClient): Frame[] => client.events.flatMap((e) => (e.kind === 'frame' && !String(e.frame.type).startsWith('hub:') ? [e.frame] : []));

describe('session resume across a forced hibernation', () => {
  it('everything sent during the gap arrives once, in order, after hub:connected; asks are acknowledged then', async () => {
    const hub = freshHub('resume');
    const bob = await WorkerdClient.open(hub, '@(rw/bob)');
    const connected = await bob.connect();
    const { resumeToken, sessionId } = connected.payload as { resumeToken: string; sessionId: string; resumed: boolean };
    expect(connected.payload.resumed).toBe(false);
    expect(resumeToken.length).toBeGreaterThanOrEqual(22); // 24 random bytes, base64url
    const registered = await bob.ask('hub:register', { actorAddress: '@(rw/bob)', capabilities: ['chat'] });
    await bob.ask('hub:subscribe', { topic: 'rw-news' });
    const alice = await WorkerdClient.connected(hub, '@(rw/alice)');

    // A close the client did not mean as the end (not 1000/1001): the session is suspended, not released.
    bob.close(4000);
    await eventually(async () => (await storedRows(hub, NS.suspended)) === 1, 5_000, 'the suspended record');

    alice.request('hub:send', { to: '@(rw/bob)', type: 'm', data: 1 }, { pattern: 'tell' });
    const ask2 = alice.request('hub:send', { to: '@(rw/bob)', type: 'm', data: 2 }, { pattern: 'ask' });
    expect((await alice.ask('hub:publish', { topic: 'rw-news', type: 'm', data: 3 })).payload.subscriberCount).toBe(1);
    await hibernate(hub);
    expect((await alice.ask('hub:broadcast', { type: 'm', data: 4 })).type).toBe('hub:broadcast_ack');
    await hibernate(hub);
    const ask5 = alice.request('hub:send', { to: '@(rw/bob)', type: 'm', data: 5 }, { pattern: 'ask' });
    await eventually(async () => (await storedRows(hub, NS.mailbox)) === 5, 5_000, 'five letters in the mailbox');
    // Nothing acknowledged while the target has no socket.
    expect(alice.frames.filter((f) => f.type === 'hub:delivery_ack')).toEqual([]);
    await hibernate(hub);

    const bob2 = await WorkerdClient.open(hub, '@(rw/bob)');
    const resumed = await bob2.ask('hub:connect', { resumeToken }, { metadata: { protocolVersion: PROTOCOL_VERSION } });
    expect(resumed.type).toBe('hub:connected');
    expect(resumed.payload).toMatchObject({ sessionId, resumed: true });
    expect(resumed.payload.resumeToken).not.toBe(resumeToken);

    await eventually(async () => appFrames(bob2).length >= 5, 5_000, 'the mailbox on the new socket');
    // hub:connected came first; the mailbox followed in arrival order.
    const firstFrame = bob2.events.find((e) => e.kind === 'frame');
    expect(firstFrame && firstFrame.kind === 'frame' && firstFrame.frame.type).toBe('hub:connected');
    const ack2 = await alice.reply(ask2);
    const ack5 = await alice.reply(ask5);
    expect([ack2.payload.status, ack5.payload.status]).toEqual(['delivered', 'delivered']);

    // Something new goes after the mailbox, and nothing arrives twice.
    alice.request('hub:send', { to: '@(rw/bob)', type: 'm', data: 6 }, { pattern: 'tell' });
    await eventually(async () => appFrames(bob2).length >= 6, 5_000, 'the message sent after the resume');
    await sleep(100);
    expect(appFrames(bob2).map((f) => f.payload)).toEqual([1, 2, 3, 4, 5, 6]);

    // The registration is the same one (version), and the session holds it on its new socket.
    const found = await alice.ask('hub:discover', { pattern: 'rw/bob' });
    expect(found.payload.actors.map((a: { address: string }) => a.address)).toEqual(['@(rw/bob)']);
    const row = await runInDurableObject(stubFor(hub), (_instance, state) => new SqlRegistryStore(state.storage.sql).get('@(rw/bob)'));
    expect(row).toMatchObject({ version: registered.payload.version, sessionId });
    expect(await storedRows(hub, NS.mailbox)).toBe(0);
    expect(await storedRows(hub, NS.suspended)).toBe(0);
    await bob2.expectAlive();
  });

  it('a normal close (1000) releases at once: the address is unknown and the token resumes nothing', async () => {
    const hub = freshHub('resume-clean');
    const bob = await WorkerdClient.open(hub, '@(rw/bob)');
    const { resumeToken } = (await bob.connect()).payload as { resumeToken: string };
    await bob.ask('hub:register', { actorAddress: '@(rw/bob)', capabilities: [] });
    const alice = await WorkerdClient.connected(hub, '@(rw/alice)');
    bob.close(1000);
    await bob.waitClosed();
    await eventually(async () => (await alice.ask('hub:send', { to: '@(rw/bob)', type: 'm', data: 1 })).type === 'hub:unknown_actor', 5_000, 'release');
    await hibernate(hub);
    const bob2 = await WorkerdClient.open(hub, '@(rw/bob)');
    const again = await bob2.ask('hub:connect', { resumeToken }, { metadata: { protocolVersion: PROTOCOL_VERSION } });
    expect(again.payload.resumed).toBe(false);
  });
});

/**
 * Session takeover (issue 14 follow-up): the client's network died silently,
 * so its old socket still looks open to the hub, which would only notice at
 * its heartbeat timeout. The client reconnects presenting its resume token
 * and takes the session over at once. Here the old socket simply stays open
 * and the client stops reading it; the object is evicted in between.
 */
describe('session takeover across a forced hibernation', () => {
  it('the new socket resumes the session while the old one is still open; the old one is told and closed with 4410', async () => {
    const hub = freshHub('takeover');
    const bob = await WorkerdClient.open(hub, '@(tw/bob)');
    const connected = await bob.connect();
    const { resumeToken, sessionId } = connected.payload as { resumeToken: string; sessionId: string };
    const registered = await bob.ask('hub:register', { actorAddress: '@(tw/bob)', capabilities: [] });
    const alice = await WorkerdClient.connected(hub, '@(tw/alice)');
    alice.request('hub:send', { to: '@(tw/bob)', type: 'm', data: 1 }, { pattern: 'tell' });
    await eventually(async () => appFrames(bob).length === 1, 5_000, 'the first message on the old socket');
    // From here on bob's client reads nothing more from its old socket: what it holds is what it read.
    const read = [...appFrames(bob)];

    await hibernate(hub);
    alice.request('hub:send', { to: '@(tw/bob)', type: 'm', data: 2 }, { pattern: 'tell' });
    const ask3 = alice.request('hub:send', { to: '@(tw/bob)', type: 'm', data: 3 }, { pattern: 'ask' });
    // The hub still counts the old socket as live: the ask is acknowledged as delivered to it, once.
    expect((await alice.reply(ask3)).payload.status).toBe('delivered');
    expect(await persistedStates(hub)).toContain('registered');

    const bob2 = await WorkerdClient.open(hub, '@(tw/bob)');
    const resumed = await bob2.ask('hub:connect', { resumeToken }, { metadata: { protocolVersion: PROTOCOL_VERSION } });
    expect(resumed.type).toBe('hub:connected');
    expect(resumed.payload).toMatchObject({ sessionId, resumed: true });
    expect(resumed.payload.resumeToken).not.toBe(resumeToken);

    // The old socket: the notice, then the close with 4410 (the socket is still open on the client's side here).
    const notice = await bob.next((f) => f.type === 'hub:disconnect');
    expect(notice.payload).toMatchObject({ reason: 'session_resumed' });
    expect(await bob.waitClosed()).toMatchObject({ code: 4410 });

    await hibernate(hub);
    alice.request('hub:send', { to: '@(tw/bob)', type: 'm', data: 4 }, { pattern: 'tell' });
    await eventually(async () => appFrames(bob2).some((f) => f.payload === 4), 5_000, 'the message sent after the takeover');
    await sleep(100);
    // hub:connected first; what the old socket got after its last read went again; the client keeps each once, in order.
    const first = bob2.events.find((e) => e.kind === 'frame');
    expect(first && first.kind === 'frame' && first.frame.type).toBe('hub:connected');
    const seen = new Set<string>();
    const kept = [...read, ...appFrames(bob2)].filter((f) => (seen.has(f.id) ? false : (seen.add(f.id), true)));
    expect(kept.map((f) => f.payload)).toEqual([1, 2, 3, 4]);
    expect(appFrames(bob2).slice(-3).map((f) => f.payload)).toEqual([2, 3, 4]);
    // The ask was acknowledged exactly once (when it reached the old socket), not again on the replay.
    expect(alice.events.filter((e) => e.kind === 'frame' && e.frame.type === 'hub:delivery_ack' && e.frame.correlationId === ask3)).toHaveLength(1);

    // One session, on the new socket; nothing suspended or waiting; the old socket's close suspended nothing.
    const row = await runInDurableObject(stubFor(hub), (_instance, state) => new SqlRegistryStore(state.storage.sql).get('@(tw/bob)'));
    expect(row).toMatchObject({ version: registered.payload.version, sessionId });
    expect((await persistedStates(hub)).filter((s) => s === 'registered')).toHaveLength(2); // bob2 and alice
    expect(await storedRows(hub, NS.suspended)).toBe(0);
    expect(await storedRows(hub, NS.mailbox)).toBe(0);
    await bob2.expectAlive();
    await alice.expectAlive();
  });
});
