import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { key, seqKey } from '../../src/core/kv-store';
import type { Counters } from '../../src/core/stats';
import { SqlKvStore } from '../../src/storage/sql-kv-store';
import { SqlRegistryStore } from '../../src/storage/sql-registry-store';
import { WorkerdClient, connectionIds, freshHub, hibernate, stubFor, type Frame } from './hub-client';

/**
 * Issue 12, defect 5, in the real Durable Object: what a runtime restart
 * leaves behind is storage rows of a session whose socket is gone. They are
 * written here through the hub's own SQLite stores for a connection that has
 * no socket, the object is evicted, and the next event must release them,
 * answer the ask that waited on them and keep the totals monotonic.
 */
describe('restart honesty (issue 12 §5)', () => {
  it('the first wake releases a vanished session and answers the ask waiting on it', async () => {
    const hub = freshHub('restart');
    const sender = await WorkerdClient.connected(hub, '@(rs/sender)');
    await sender.ask('hub:register', { actorAddress: '@(rs/sender)', capabilities: [] });
    const before = (await sender.ask('hub:metrics', null)).payload as Record<string, number>;
    const [senderConn] = await connectionIds(hub);
    const ghost = 'ghost-conn';
    const now = Date.now();

    await runInDurableObject(stubFor(hub), (_instance, state) => {
      const kv = new SqlKvStore(state.storage.sql);
      new SqlRegistryStore(state.storage.sql).put({
        address: '@(rs/ghost)', connId: ghost, sessionId: 'ghost-session', capabilities: [], metadata: {},
        registeredAt: now, expiresAt: now + 3_600_000, ttlMs: 3_600_000, renewalToken: 'ghost-renewal', version: 1, renewOnHeartbeat: false,
      });
      const sub = { subscriptionId: 'ghost-sub', topic: 'news', address: '@(rs/ghost)', connId: ghost };
      kv.put('sub', key(sub.topic, sub.address), sub);
      kv.put('subid', sub.subscriptionId, sub);
      kv.put('subconn', key(ghost, sub.topic, sub.address), sub.subscriptionId);
      const ack = { conn: senderConn, to: '@(rs/sender)', requestId: 'waits-1', messageId: 'waits-1', target: '@(rs/ghost)' };
      kv.put('buf', key(ghost, seqKey(1)), { frame: '{}', ack });
      kv.put('conn', ghost, 1);
      // The ghost was opened and never closed; the traffic it counted since its last attachment write is lost with it.
      const counters = kv.get<Counters>('meta', 'counters')!;
      kv.put('meta', 'counters', { ...counters, connectionsOpened: counters.connectionsOpened + 1 });
      kv.put('meta', 'reported', { ...counters, messagesReceived: before.messagesReceived! + 100 });
    });
    await hibernate(hub);

    // Any event wakes the object; the recovery runs first, so the answer comes before the heartbeat's.
    await sender.expectAlive();
    const unknown = await sender.reply('waits-1');
    expect(unknown).toMatchObject({ type: 'hub:unknown_actor', payload: { code: 'unknown_actor', actorAddress: '@(rs/ghost)' } });
    const after = (await sender.ask('hub:metrics', null)).payload as Record<string, number>;
    expect(after).toMatchObject({ registeredActors: 1, topics: 0, queuedDeliveries: 0, currentSessions: 1 });
    expect(after.messagesReceived).toBeGreaterThanOrEqual(before.messagesReceived! + 100);
    expect(after.connectionsOpened! - after.connectionsClosed!).toBe(1);
    const found = await sender.ask('hub:discover', { pattern: 'rs/*' });
    expect(found.payload.actors.map((a: Frame) => a.address)).toEqual(['@(rs/sender)']);

    // A plain hibernation afterwards finds nothing lost and changes nothing.
    await hibernate(hub);
    const again = (await sender.ask('hub:metrics', null)).payload as Record<string, number>;
    expect(again.connectionsClosed).toBe(after.connectionsClosed);
    expect(again.registeredActors).toBe(1);
    await sender.expectAlive();
  });
});
