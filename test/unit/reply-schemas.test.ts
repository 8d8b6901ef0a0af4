import { describe, expect } from 'vitest';
import { configWith } from '../../harness/fake-object';
import { PONG_FRAME } from '../../src/protocol/ping';
import { hubPayloadSchemas } from '../../src/protocol/replies';
import { bothWays, expectError, type Scenario } from './core-harness';

/**
 * One session of every kind of traffic, so that the hub sends each message
 * type src/protocol/replies.ts defines at least once. `bothWays` parses every
 * frame with its schema (checkWire); this test adds that no schema is left
 * without a frame, so a reply type cannot silently go unchecked.
 */

const config = configWith({
  // Small limits so backpressure, a dropped delivery and the size guard are reachable with a few actors.
  broadcastSyncThreshold: 1,
  queuePauseThreshold: 2,
  queueResumeThreshold: 0,
  pauseBufferLimit: 1,
  maxMessageSize: 4096,
});

const typesSent = (sc: Scenario): Set<string> => {
  const types = new Set<string>();
  for (const socket of sc.fake.sockets.values()) {
    for (const frame of socket.received) {
      if (frame === PONG_FRAME) continue;
      const msg = JSON.parse(frame) as { type: string; metadata: { forwarded?: boolean } };
      if (msg.metadata.forwarded !== true) types.add(msg.type);
    }
  }
  return types;
};

describe('reply schemas', () => {
  bothWays(
    'the hub sends every message type of src/protocol/replies.ts, each matching its schema',
    (sc) => {
      const a = sc.connect('@(a)');
      const b = sc.connect('@(b)');
      const c = sc.connect('@(c)');

      expect(a.ask('hub:heartbeat', { timestamp: 1 }).type).toBe('hub:heartbeat_ack');
      const registered = b.ask('hub:register', { actorAddress: '@(b/inbox)', capabilities: ['chat'] });
      expect(registered.type).toBe('hub:registered');
      for (const address of ['@(c/1)', '@(c/2)', '@(c/3)', '@(c/4)']) {
        expect(c.ask('hub:register', { actorAddress: address, capabilities: [] }).type).toBe('hub:registered');
      }
      expect(b.ask('hub:renew', { renewalToken: registered.payload.renewalToken }).type).toBe('hub:renewed');
      expect(c.ask('hub:unregister', { actorAddress: '@(c/3)' }).type).toBe('hub:unregistered');
      expect(a.ask('hub:discover', { pattern: '@(*)' }).type).toBe('hub:discovered');
      expect(a.ask('hub:list_actors', null).type).toBe('hub:actor_list');
      expect(a.ask('hub:refresh_token', { token: a.connected!.payload.token }).type).toBe('hub:token_refreshed');
      expect(a.ask('hub:metrics', null).type).toBe('hub:metrics_response');
      expect(a.ask('hub:queue_stats', null).type).toBe('hub:queue_stats_response');

      expect(b.ask('hub:subscribe', { topic: 'room' }).type).toBe('hub:subscribed');
      expect(a.ask('hub:publish', { topic: 'room', type: 'say', data: 1 }).type).toBe('hub:published');
      expect(b.ask('hub:unsubscribe', { topic: 'room' }).type).toBe('hub:unsubscribed');

      // A paused target with a one-frame buffer: the first ask is dropped, the second delivered on resume.
      expect(b.ask('hub:pause', null).type).toBe('hub:paused');
      const first = a.request('hub:send', { to: '@(b/inbox)', type: 'note' });
      const second = a.request('hub:send', { to: '@(b/inbox)', type: 'note' });
      expect(a.replyTo(first).payload).toMatchObject({ status: 'dropped', deliveredAt: null });
      expect(b.ask('hub:resume', null).type).toBe('hub:resumed');
      expect(a.replyTo(second).payload).toMatchObject({ status: 'delivered' });

      // Four recipients, one sent at once: three queued crosses the pause threshold; the alarm drains them.
      a.request('hub:broadcast', { type: 'all' });
      expect(a.inbox().map((m) => m.type)).toEqual(['hub:pause', 'hub:broadcast_ack']);
      sc.advance(1_000);
      expect(a.inbox().map((m) => m.type)).toContain('hub:resume');

      expectError(a.ask('hub:send', { to: '@(nobody)', type: 'note' }), 'unknown_actor');
      expectError(a.ask('hub:send', { to: '@(b/inbox)', type: 'note' }, { from: '@(c/1)' }), 'unauthorized');
      const unknown = a.build('hub:metrics', null);
      a.raw(JSON.stringify({ ...unknown, type: 'hub:nonsense' }));
      expectError(a.replyTo(unknown.id), 'unknown_type');
      a.raw(JSON.stringify({ ...a.build('hub:metrics', null), metadata: { pad: 'x'.repeat(5_000) } }));
      expectError(a.inbox().at(-1)!, 'message_too_large');

      const old = sc.open('@(old)');
      expectError(old.ask('hub:connect', null, { metadata: { protocolVersion: '9.0.0' } }), 'version_mismatch');

      // Last one wins: registering an address another session holds ends that session with a notice.
      const thief = sc.connect('@(thief)');
      thief.ask('hub:register', { actorAddress: '@(b/inbox)', capabilities: [] });
      expect(b.inbox().map((m) => [m.type, m.payload?.reason])).toContainEqual(['hub:disconnect', 'duplicate_connection']);
      expect(c.ask('hub:disconnect', null).payload).toEqual({ acknowledged: true });

      const hasty = sc.connect('@(hasty)');
      for (let i = 0; i <= config.rateLimitBurst; i++) hasty.request('hub:list_actors', null);
      expect(hasty.inbox().map((m) => m.type)).toContain('hub:rate_limited');

      expect([...typesSent(sc)].sort()).toEqual(Object.keys(hubPayloadSchemas).sort());
    },
    config,
  );

});
