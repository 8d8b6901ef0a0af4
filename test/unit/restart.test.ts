import { describe, expect, it } from 'vitest';
import { Scenario, type Msg, type Peer } from './core-harness';

/**
 * Issue 12, defect 5: after a runtime restart (storage kept, sockets gone)
 * registrations of dead sessions stayed discoverable, queuedDeliveries and
 * topics counted orphaned rows, the metrics totals went backwards, and asks
 * waiting in a dead session's pause buffer never got a reply. Simulated
 * here by dropping the core and sockets without any close event.
 */

/** What a restart does: the in-memory core and the listed sockets are gone, storage stays. */
const loseSockets = (sc: Scenario, ...peers: Peer[]): void => {
  sc.fake.hibernate();
  for (const p of peers) sc.fake.sockets.delete(p.connId);
};

const metrics = (peer: Peer): Record<string, number> => peer.ask('hub:metrics', null).payload as Record<string, number>;
const COUNTERS = ['messagesReceived', 'messagesSent', 'messagesDelivered', 'errors', 'connectionsOpened', 'connectionsClosed'];

describe('restart honesty (issue 12 §5)', () => {
  it('releases the vanished sessions, answers the asks waiting on them, and keeps the totals monotonic', () => {
    const sc = new Scenario('awake');
    const ghost = sc.connect('@(r/ghost)');
    ghost.ask('hub:register', { actorAddress: '@(r/ghost)', capabilities: ['x'] });
    ghost.ask('hub:subscribe', { topic: 'news' });
    ghost.ask('hub:pause', null);
    const sender = sc.connect('@(r/sender)');
    sender.ask('hub:register', { actorAddress: '@(r/sender)', capabilities: [] });
    const waiting = sender.request('hub:send', { to: '@(r/ghost)', type: 'm', data: 1 }, { pattern: 'ask' });
    for (let i = 0; i < 5; i++) ghost.heartbeatOk(); // traffic the lost session's stats hold
    const before = metrics(sender);
    expect(before).toMatchObject({ registeredActors: 2, topics: 1, queuedDeliveries: 1, currentSessions: 2 });

    loseSockets(sc, ghost);
    sender.heartbeatOk();

    const unknown = sender.all().filter((m: Msg) => m.correlationId === waiting);
    expect(unknown.map((m) => [m.type, m.payload.actorAddress])).toEqual([['hub:unknown_actor', '@(r/ghost)']]);
    const after = metrics(sender);
    expect(after).toMatchObject({ registeredActors: 1, topics: 0, queuedDeliveries: 0, currentSessions: 1 });
    for (const k of COUNTERS) expect(after[k], k).toBeGreaterThanOrEqual(before[k]!);
    expect(after.connectionsClosed).toBe(before.connectionsClosed! + 1);
    expect(sender.ask('hub:discover', { pattern: 'r/*' }).payload.actors.map((a: Msg) => a.address)).toEqual(['@(r/sender)']);
    expect(sc.fake.kv.scan('pask', '')).toEqual([]);

    // The address is free again, as after a close: a new holder starts at version 1, with no takeover.
    const next = sc.connect('@(r/next)');
    expect(next.ask('hub:register', { actorAddress: '@(r/ghost)', capabilities: [] }).payload.version).toBe(1);
    sender.heartbeatOk();
  });

  it('after a restart that lost every socket, the first new connection finds a clean hub and totals that did not go back', () => {
    const sc = new Scenario('awake');
    const a = sc.connect('@(r/a)');
    const b = sc.connect('@(r/b)');
    a.ask('hub:register', { actorAddress: '@(r/a)', capabilities: [] });
    b.ask('hub:subscribe', { topic: 't' });
    for (let i = 0; i < 10; i++) a.heartbeatOk();
    const before = metrics(b);

    loseSockets(sc, a, b);
    const c = sc.connect('@(r/c)');
    const after = metrics(c);
    expect(after).toMatchObject({ registeredActors: 0, topics: 0, queuedDeliveries: 0, currentSessions: 1 });
    for (const k of COUNTERS) expect(after[k], k).toBeGreaterThanOrEqual(before[k]!);
    expect(after.connectionsOpened! - after.connectionsClosed!).toBe(1);
    expect(sc.fake.kv.scan('conn', '').map(([k]) => k)).toEqual([c.connId]);
  });

  it('a plain hibernation (every socket kept) releases nothing', () => {
    const sc = new Scenario('hibernating');
    const a = sc.connect('@(r/a)');
    a.ask('hub:register', { actorAddress: '@(r/a)', capabilities: [] });
    a.ask('hub:subscribe', { topic: 't' });
    for (let i = 0; i < 3; i++) a.heartbeatOk();
    expect(metrics(a)).toMatchObject({ registeredActors: 1, topics: 1, currentSessions: 1, connectionsClosed: 0 });
    expect(sc.fake.logs.filter((l) => l.event === 'hub.sockets_lost')).toEqual([]);
  });
});
