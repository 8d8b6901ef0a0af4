import { describe, expect, it } from 'vitest';
import { FakeHubObject, configWith, type FakeSocket } from '../../harness/fake-object';
import type { Effect } from '../../src/core/effects';
import { buildRequest } from '../../src/protocol/build';
import type { Requests, RequestType } from '../../src/protocol/messages';

/**
 * Attachment writes per message (issue 11): a routed message rewrites only the
 * sender's attachment, whose state changed anyway (liveness, bucket, abuse
 * window). The target's only change was its traffic counters, which are now
 * kept with the sender for that turn; the hub-wide totals must be the same.
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
  it('a routed tell or ask rewrites the sender only', () => {
    const hub = new CountingFake(configWith({ rateLimitBurst: 1000, rateLimitPerSecond: 1000 }));
    const a = connect(hub, '@(a)');
    const b = connect(hub, '@(b)');
    send(hub, b, '@(b)', 'hub:register', { actorAddress: '@(b/inbox)', capabilities: [] });
    hub.persisted = [];
    send(hub, a, '@(a)', 'hub:send', { to: '@(b/inbox)', type: 'x', data: 1 }, 'tell');
    send(hub, a, '@(a)', 'hub:send', { to: '@(b)', type: 'x', data: 2 }, 'ask');
    expect(hub.persisted).toEqual([a.connId, a.connId]);
    expect(hub.messages(b).filter((m) => m.type === 'x')).toHaveLength(2);
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
});
