import { describe, expect, it } from 'vitest';
import { FakeHubObject, configWith, type FakeSocket } from '../../harness/fake-object';
import { DEFAULT_CONFIG } from '../../src/config';
import type { Effect } from '../../src/core/effects';
import { buildRequest } from '../../src/protocol/build';
import type { Requests, RequestType } from '../../src/protocol/messages';

/**
 * Attachment writes per message (issue 11). The counters of what a frame
 * caused are kept with its sender, so a delivery never makes the target due
 * for a write; and a session whose only changes are soft (counters, bucket,
 * abuse window, liveness) is written by the flush SESSION_FLUSH_MS after the
 * first of them, not per frame (docs/PROTOCOL.md §11). The hub-wide totals
 * must be the same either way, after a hibernation and after closes; a
 * crash may lose only soft state.
 */

class CountingFake extends FakeHubObject {
  persisted: string[] = [];
  override perform(effects: Effect[]): void {
    for (const e of effects) if (e.kind === 'persist') this.persisted.push(e.conn);
    super.perform(effects);
  }
}

const send = <K extends RequestType>(hub: FakeHubObject, s: FakeSocket, from: string, type: K, payload: Requests[K], pattern: 'ask' | 'tell' = 'ask') => {
  const msg = buildRequest(type, payload, { from, timestamp: hub.clock.now(), pattern });
  hub.send(s, JSON.stringify(msg));
  return msg.id;
};

const connect = (hub: FakeHubObject, identity: string): FakeSocket => {
  const s = hub.open();
  hub.send(s, JSON.stringify(buildRequest('hub:connect', null, { from: identity, metadata: { protocolVersion: '0.1.0' } })));
  return s;
};

const metrics = (hub: FakeHubObject, s: FakeSocket, from: string) => {
  const id = send(hub, s, from, 'hub:metrics', null);
  return hub.messages(s).find((m) => m.correlationId === id)!.payload as Record<string, number>;
};

describe('attachment writes', () => {
  it('routed tells and asks write no attachment; the flush alarm writes the sender once, SESSION_FLUSH_MS after the first', () => {
    const hub = new CountingFake(configWith({ rateLimitBurst: 1000, rateLimitPerSecond: 1000 }));
    const a = connect(hub, '@(a)');
    const b = connect(hub, '@(b)');
    send(hub, b, '@(b)', 'hub:register', { actorAddress: '@(b/inbox)', capabilities: [] });
    hub.advance(DEFAULT_CONFIG.sessionFlushMs);
    hub.persisted = [];
    const first = hub.clock.now();
    for (let i = 0; i < 20; i++) {
      send(hub, a, '@(a)', 'hub:send', { to: '@(b/inbox)', type: 'x', data: i }, 'tell');
      send(hub, a, '@(a)', 'hub:send', { to: '@(b)', type: 'x', data: i }, 'ask');
      hub.clock.set(hub.clock.now() + 1);
    }
    expect(hub.persisted).toEqual([]);
    expect(hub.messages(b).filter((m) => m.type === 'x')).toHaveLength(40);
    expect(hub.alarmAt).toBe(first + DEFAULT_CONFIG.sessionFlushMs);
    hub.fireAlarm();
    expect(hub.persisted).toEqual([a.connId]);
    // What the flush wrote is what memory holds: a crash now loses nothing.
    const before = metrics(hub, b, '@(b)');
    hub.crash();
    expect(metrics(hub, b, '@(b)').messagesReceived).toBe(before.messagesReceived! + 1);
  });

  it('a durable change is written in its own event, counters and all', () => {
    const hub = new CountingFake(configWith({ rateLimitBurst: 1000, rateLimitPerSecond: 1000 }));
    const a = connect(hub, '@(a)');
    expect(hub.persisted).toContain(a.connId);
    hub.persisted = [];
    send(hub, a, '@(a)', 'hub:send', { to: '@(a)', type: 'x', data: 1 }, 'tell');
    expect(hub.persisted).toEqual([]);
    // A pause is durable (the machine's state): written at once, with the counters of the tell before it.
    send(hub, a, '@(a)', 'hub:pause', null, 'tell');
    expect(hub.persisted).toEqual([a.connId]);
    hub.crash();
    const restored = hub.hub().session(a.connId)!;
    expect(restored.snapshot.value).toBe('paused');
    expect(restored.stats.received).toBe(3);
  });

  it('a crash loses at most the soft state since the last write: counts lag, state and registrations stay', () => {
    const hub = new CountingFake(configWith({ rateLimitBurst: 1000, rateLimitPerSecond: 1000 }));
    const a = connect(hub, '@(a)');
    const b = connect(hub, '@(b)');
    send(hub, b, '@(b)', 'hub:register', { actorAddress: '@(b/inbox)', capabilities: ['c'] });
    const shown = metrics(hub, b, '@(b)');
    for (let i = 0; i < 5; i++) send(hub, a, '@(a)', 'hub:send', { to: '@(b/inbox)', type: 'x', data: i }, 'tell');
    hub.crash();
    const after = metrics(hub, b, '@(b)');
    // The five tells were never written; what hub:metrics showed was (the reply made it durable).
    expect(after.messagesReceived).toBe(shown.messagesReceived! + 1);
    expect(after.messagesDelivered).toBe(shown.messagesDelivered);
    const discovered = send(hub, a, '@(a)', 'hub:discover', { pattern: '*', capability: 'c' });
    const reply = hub.messages(a).find((m) => m.correlationId === discovered)!;
    expect((reply.payload as { actors: { address: string }[] }).actors.map((x) => x.address)).toEqual(['@(b/inbox)']);
    send(hub, a, '@(a)', 'hub:send', { to: '@(b/inbox)', type: 'y', data: 0 }, 'tell');
    expect(hub.messages(b).filter((m) => m.type === 'y')).toHaveLength(1);
  });

  it('with SESSION_FLUSH_MS 0 every event writes its sender, as before batching', () => {
    const hub = new CountingFake(configWith({ rateLimitBurst: 1000, rateLimitPerSecond: 1000, sessionFlushMs: 0 }));
    const a = connect(hub, '@(a)');
    const b = connect(hub, '@(b)');
    hub.persisted = [];
    send(hub, a, '@(a)', 'hub:send', { to: '@(b)', type: 'x', data: 1 }, 'tell');
    send(hub, a, '@(a)', 'hub:send', { to: '@(b)', type: 'x', data: 2 }, 'ask');
    expect(hub.persisted).toEqual([a.connId, a.connId]);
    hub.crash();
    expect(metrics(hub, b, '@(b)').messagesDelivered).toBe(2);
  });

  it('the totals are the same whichever session keeps the counts, across a wake and after closes', () => {
    const hub = new CountingFake(configWith({ rateLimitBurst: 1000, rateLimitPerSecond: 1000 }));
    const a = connect(hub, '@(a)');
    const b = connect(hub, '@(b)');
    const c = connect(hub, '@(c)');
    for (let i = 0; i < 5; i++) send(hub, a, '@(a)', 'hub:send', { to: '@(b)', type: 'x', data: i }, 'tell');
    send(hub, a, '@(a)', 'hub:send', { to: '@(nobody)', type: 'x', data: 0 }, 'ask');
    const before = metrics(hub, c, '@(c)');
    // 3 connects, 5 tells, 1 ask, 1 metrics = 10 frames; 3 connected + 5 deliveries + 1 unknown_actor + 1 metrics reply sent.
    expect(before).toMatchObject({ messagesReceived: 10, messagesDelivered: 5, messagesSent: 9, errors: 1 });
    hub.hibernate();
    const woken = metrics(hub, c, '@(c)');
    expect(woken).toMatchObject({ messagesReceived: 11, messagesDelivered: 5, messagesSent: 10, errors: 1 });
    hub.clientClose(a);
    hub.clientClose(b);
    const closed = metrics(hub, c, '@(c)');
    expect(closed).toMatchObject({ messagesReceived: 12, messagesDelivered: 5, messagesSent: 11, errors: 1, connectionsClosed: 2 });
  });

  it('a queued fan-out batch rewrites its sender, not each recipient, and the totals stay the same', () => {
    // One batch per alarm run, so each batch's writes can be told apart.
    const hub = new CountingFake(configWith({ broadcastSyncThreshold: 2, broadcastAlarmLimit: 1, rateLimitBurst: 1000, rateLimitPerSecond: 1000 }));
    const sender = connect(hub, '@(s)');
    const recipients = Array.from({ length: 6 }, (_, i) => connect(hub, `@(r${i})`));
    const watcher = connect(hub, '@(w)');
    recipients.forEach((r, i) => send(hub, r, `@(r${i})`, 'hub:register', { actorAddress: `@(r${i}/inbox)`, capabilities: [] }));
    send(hub, watcher, '@(w)', 'hub:register', { actorAddress: '@(w/inbox)', capabilities: [] });
    send(hub, sender, '@(s)', 'hub:broadcast', { type: 'x', data: 1, excludeSelf: true }, 'tell');
    const before = metrics(hub, watcher, '@(w)');
    hub.persisted = [];
    // One alarm per batch of 2 (7 recipients, the watcher too, 2 of them synchronously); queued work arms the alarm for now.
    let alarms = 0;
    for (; alarms < 10 && hub.alarmAt !== null && hub.alarmAt <= hub.clock.now(); alarms++) hub.fireAlarm();
    expect(alarms).toBe(3);
    expect([...recipients, watcher].every((r) => hub.messages(r).some((m) => m.type === 'x'))).toBe(true);
    expect(hub.persisted).toEqual([sender.connId, sender.connId, sender.connId]);
    const after = metrics(hub, watcher, '@(w)');
    // The 5 queued deliveries, plus the second hub:metrics request and its reply.
    const [delivered0, sent0, delivered1, sent1] = [before.messagesDelivered!, before.messagesSent!, after.messagesDelivered!, after.messagesSent!];
    expect(delivered1 - delivered0).toBe(5);
    expect(sent1 - sent0).toBe(6);
    hub.hibernate();
    expect(metrics(hub, watcher, '@(w)')).toMatchObject({ messagesDelivered: delivered1, messagesSent: sent1 + 1 });
  });
});
