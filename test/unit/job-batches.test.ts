import { describe, expect, it } from 'vitest';
import { FakeHubObject, configWith, type FakeSocket } from '../../harness/fake-object';
import { key, seqKey, SEP } from '../../src/core/kv-store';
import { NS } from '../../src/core/namespaces';
import { buildRequest } from '../../src/protocol/build';

/**
 * A queued fan-out stores its remaining recipients one row per batch. Jobs
 * queued by an older deploy (one row per recipient) must still drain in
 * batches of the threshold, each recipient once.
 */

const connect = (hub: FakeHubObject, identity: string): FakeSocket => {
  const s = hub.open();
  hub.send(s, JSON.stringify(buildRequest('hub:connect', null, { from: identity, metadata: { protocolVersion: '0.1.0' } })));
  hub.send(s, JSON.stringify(buildRequest('hub:register', { actorAddress: identity, capabilities: [] }, { from: identity, timestamp: hub.clock.now() })));
  return s;
};

const room = (size: number, broadcastAlarmLimit = 1) => {
  const hub = new FakeHubObject(configWith({ broadcastSyncThreshold: 100, broadcastAlarmLimit, rateLimitBurst: 1000, rateLimitPerSecond: 1000 }));
  const sockets = Array.from({ length: size }, (_, i) => connect(hub, `@(n/${i})`));
  return { hub, sockets };
};

const broadcast = (hub: FakeHubObject, from: FakeSocket) =>
  hub.send(from, JSON.stringify(buildRequest('hub:broadcast', { type: 'news', data: 1 }, { from: '@(n/0)', timestamp: hub.clock.now() })));

const queued = (hub: FakeHubObject) => {
  const s = hub.open();
  hub.send(s, JSON.stringify(buildRequest('hub:connect', null, { from: '@(probe)', metadata: { protocolVersion: '0.1.0' } })));
  hub.send(s, JSON.stringify(buildRequest('hub:metrics', null, { from: '@(probe)', timestamp: hub.clock.now() })));
  return hub.messages(s).find((m) => m.type === 'hub:metrics_response')!.payload.queuedDeliveries as number;
};

const drain = (hub: FakeHubObject, sockets: FakeSocket[]) => {
  const perAlarm: number[] = [];
  // One alarm at a time (advance() would fire every due one at once).
  for (let step = 0; step < 20 && hub.alarmAt !== null && hub.alarmAt <= hub.clock.now(); step++) {
    const before = sockets.reduce((n, s) => n + hub.messages(s).filter((m) => m.type === 'news').length, 0);
    hub.fireAlarm();
    perAlarm.push(sockets.reduce((n, s) => n + hub.messages(s).filter((m) => m.type === 'news').length, 0) - before);
  }
  return perAlarm;
};

// Each test connects hundreds of sessions (a thousand in one) through the fake object: 0.5-2.3 s on a
// loaded CI machine, close enough to the 5 s default to give them room.
describe('queued fan-out batches', { timeout: 20_000 }, () => {
  it('stores one row per batch and, with BROADCAST_ALARM_LIMIT 1, delivers each batch from one alarm', () => {
    const { hub, sockets } = room(250);
    broadcast(hub, sockets[0]!);
    const rows = hub.kv.scan(NS.jobRecipient, '');
    expect(rows.map(([, v]) => (v as unknown[]).length)).toEqual([100, 50]);
    expect(queued(hub)).toBe(150);
    expect(drain(hub, sockets)).toEqual([100, 50]);
    expect(sockets.every((s) => hub.messages(s).filter((m) => m.type === 'news').length === 1)).toBe(true);
    expect(hub.kv.scan(NS.jobRecipient, '')).toEqual([]);
  });

  it('sends batches from one alarm run until BROADCAST_ALARM_LIMIT recipients were handled', () => {
    // 450 queued in batches of 100; a run starts another batch while it has sent fewer than 250.
    const { hub, sockets } = room(550, 250);
    broadcast(hub, sockets[0]!);
    expect(queued(hub)).toBe(450);
    expect(drain(hub, sockets)).toEqual([300, 150]);
    expect(sockets.every((s) => hub.messages(s).filter((m) => m.type === 'news').length === 1)).toBe(true);
    expect(hub.kv.scan(NS.jobRecipient, '')).toEqual([]);
    expect(hub.kv.scan(NS.job, '')).toEqual([]);
  });

  it('with the shipped limit, a broadcast to 1000 is sent by one alarm run after the first 100', () => {
    const hub = new FakeHubObject(configWith({ rateLimitBurst: 1000, rateLimitPerSecond: 1000 }));
    const sockets = Array.from({ length: 1000 }, (_, i) => connect(hub, `@(n/${i})`));
    broadcast(hub, sockets[0]!);
    expect(queued(hub)).toBe(900);
    expect(drain(hub, sockets)).toEqual([900]);
    expect(sockets.every((s) => hub.messages(s).filter((m) => m.type === 'news').length === 1)).toBe(true);
  });

  it('an eviction after a multi-batch run neither loses nor repeats a recipient', () => {
    const { hub, sockets } = room(550, 250);
    broadcast(hub, sockets[0]!);
    hub.fireAlarm();
    hub.hibernate();
    expect(queued(hub)).toBe(150);
    expect(drain(hub, sockets)).toEqual([150]);
    expect(sockets.every((s) => hub.messages(s).filter((m) => m.type === 'news').length === 1)).toBe(true);
  });

  it('drains a job stored one row per recipient (queued before) in batches of the threshold', () => {
    const { hub, sockets } = room(250);
    broadcast(hub, sockets[0]!);
    // Rewrite the stored job the way the previous format kept it.
    const [jobKey] = hub.kv.scan(NS.job, '', 1)[0]!;
    const recipients = hub.kv.scan<unknown[]>(NS.jobRecipient, jobKey + SEP).flatMap(([, batch]) => batch);
    hub.kv.deletePrefix(NS.jobRecipient, jobKey + SEP);
    recipients.forEach((r, i) => hub.kv.put(NS.jobRecipient, key(jobKey, seqKey(i)), r));
    hub.hibernate();
    expect(queued(hub)).toBe(150);
    expect(drain(hub, sockets)).toEqual([100, 50]);
    expect(sockets.every((s) => hub.messages(s).filter((m) => m.type === 'news').length === 1)).toBe(true);
    expect(hub.kv.scan(NS.jobRecipient, '')).toEqual([]);
  });
});
