import { describe, expect, it } from 'vitest';
import { configWith } from '../../harness/fake-object';
import { NS } from '../../src/core/namespaces';
import { checkWire, Scenario, type Peer } from './core-harness';

/**
 * Idempotent requests through the whole core and the fake runtime
 * (docs/PROTOCOL.md "Idempotent requests"): a request resent with the same id
 * is acted on once and its repeat gets the original frames, byte for byte.
 */

const CONFIG = configWith({ rateLimitBurst: 1000, rateLimitPerSecond: 1000, heartbeatTimeoutMs: 600_000 });

/** Raw frames a peer received since `from`, for byte-for-byte comparison. */
const rawSince = (peer: Peer, from: number): string[] => peer.socket.received.slice(from);

const setup = (config = CONFIG) => {
  const sc = new Scenario('awake', config);
  const a = sc.connect('@(a)');
  const b = sc.connect('@(b)');
  b.ask('hub:register', { actorAddress: '@(b/inbox)', capabilities: [] });
  a.inbox();
  b.inbox();
  return { sc, a, b };
};

const deliveries = (peer: Peer, type: string) => peer.inbox().filter((m) => m.type === type);

describe('idempotent requests (core)', () => {
  it('a send ask resent within the window is delivered once; the repeat gets the original ack, byte for byte', () => {
    const { sc, a, b } = setup();
    const id = a.request('hub:send', { to: '@(b/inbox)', type: 'note', data: 1 }, { pattern: 'ask' });
    const first = rawSince(a, 0).filter((f) => f.includes(`"correlationId":"${id}"`));
    expect(first).toHaveLength(1);
    sc.advance(30_000);
    const mark = a.socket.received.length;
    a.request('hub:send', { to: '@(b/inbox)', type: 'note', data: 1 }, { pattern: 'ask', id });
    expect(rawSince(a, mark)).toEqual(first);
    expect(deliveries(b, 'note')).toHaveLength(1);
    checkWire(sc);
  });

  it('a tell resent is delivered once and its repeat answered with nothing; after the window it is new again', () => {
    const { sc, a, b } = setup();
    const id = a.request('hub:send', { to: '@(b/inbox)', type: 'note' }, { pattern: 'tell' });
    const mark = a.socket.received.length;
    a.request('hub:send', { to: '@(b/inbox)', type: 'note' }, { id, pattern: 'tell' });
    expect(rawSince(a, mark)).toEqual([]);
    expect(deliveries(b, 'note')).toHaveLength(1);
    sc.advance(60_000);
    a.request('hub:send', { to: '@(b/inbox)', type: 'note' }, { id, pattern: 'tell', timestamp: sc.now() });
    expect(deliveries(b, 'note')).toHaveLength(1);
  });

  it('register, subscribe, publish and broadcast repeats change nothing and repeat the original reply', () => {
    const { sc, a, b } = setup();
    const reg = a.ask('hub:register', { actorAddress: '@(a/box)', capabilities: [] });
    const regAgain = a.ask('hub:register', { actorAddress: '@(a/box)', capabilities: [] }, { id: reg.correlationId });
    expect(regAgain).toEqual(reg);
    // Not registered twice: the version and the stored row are the first ones.
    expect(sc.fake.registry.get('@(a/box)')!.version).toBe(1);
    expect(sc.fake.registry.get('@(a/box)')!.renewalToken).toBe(reg.payload.renewalToken);

    const sub = b.ask('hub:subscribe', { topic: 'room' });
    expect(b.ask('hub:subscribe', { topic: 'room' }, { id: sub.correlationId })).toEqual(sub);

    const pub = a.ask('hub:publish', { topic: 'room', type: 'say', data: 'x' });
    expect(a.ask('hub:publish', { topic: 'room', type: 'say', data: 'x' }, { id: pub.correlationId })).toEqual(pub);
    expect(deliveries(b, 'say')).toHaveLength(1);

    const cast = a.ask('hub:broadcast', { type: 'all', data: 1 });
    expect(a.ask('hub:broadcast', { type: 'all', data: 1 }, { id: cast.correlationId })).toEqual(cast);
    expect(deliveries(b, 'all')).toHaveLength(1);
    checkWire(sc);
  });

  it('a retryable refusal is not remembered: the resend is handled afresh', () => {
    const { sc, a, b } = setup();
    const first = a.ask('hub:send', { to: '@(b/later)', type: 'note' });
    expect(first.type).toBe('hub:unknown_actor');
    b.ask('hub:register', { actorAddress: '@(b/later)', capabilities: [] });
    const again = a.ask('hub:send', { to: '@(b/later)', type: 'note' }, { id: first.correlationId });
    expect(again.type).toBe('hub:delivery_ack');
    expect(deliveries(b, 'note')).toHaveLength(1);
    checkWire(sc);
  });

  it('an ask answered later (paused target) is not delivered twice, and its later ack becomes its recorded answer', () => {
    const { sc, a, b } = setup();
    b.ask('hub:pause', null);
    const id = a.request('hub:send', { to: '@(b/inbox)', type: 'note' }, { pattern: 'ask' });
    expect(a.inbox()).toEqual([]);
    a.request('hub:send', { to: '@(b/inbox)', type: 'note' }, { pattern: 'ask', id });
    expect(a.inbox()).toEqual([]);
    b.ask('hub:resume', null);
    expect(b.all().filter((m) => m.type === 'note')).toHaveLength(1);
    const ack = rawSince(a, 0).filter((f) => f.includes(`"correlationId":"${id}"`));
    expect(ack).toHaveLength(1);
    const mark = a.socket.received.length;
    a.request('hub:send', { to: '@(b/inbox)', type: 'note' }, { pattern: 'ask', id });
    expect(rawSince(a, mark)).toEqual(ack);
    expect(b.all().filter((m) => m.type === 'note')).toHaveLength(1);
  });

  it('costs no storage write per request: the ids are written as one row at the flush deadline', () => {
    const { sc, a } = setup();
    sc.advance(CONFIG.dedupFlushMs);
    let writes = 0;
    const put = sc.fake.kv.put.bind(sc.fake.kv);
    sc.fake.kv.put = (ns, key, value) => {
      if (ns === NS.dedup) writes++;
      put(ns, key, value);
    };
    for (let i = 0; i < 20; i++) a.request('hub:send', { to: '@(b/inbox)', type: 'note', data: i }, { pattern: 'tell' });
    expect(writes).toBe(0);
    expect(sc.fake.alarmAt).toBe(sc.now() + CONFIG.dedupFlushMs);
    sc.advance(CONFIG.dedupFlushMs);
    // One row holds the scope's batch of 20 ids.
    expect(writes).toBe(1);
    expect(sc.fake.kv.scan(NS.dedup, `s:${a.connected!.payload.sessionId}`)).toHaveLength(1);
  });

  it('survives an eviction after the flush; an abrupt one (a crash) before it forgets only the unflushed ids', () => {
    const { sc, a, b } = setup();
    const early = a.request('hub:send', { to: '@(b/inbox)', type: 'note', data: 'early' });
    sc.advance(CONFIG.dedupFlushMs);
    const late = a.request('hub:send', { to: '@(b/inbox)', type: 'note', data: 'late' });
    sc.fake.crash();
    a.request('hub:send', { to: '@(b/inbox)', type: 'note', data: 'early' }, { id: early });
    a.request('hub:send', { to: '@(b/inbox)', type: 'note', data: 'late' }, { id: late });
    expect(deliveries(b, 'note').map((m) => m.payload)).toEqual(['early', 'late', 'late']);
  });

  it('hibernation (which only follows idle time) never forgets: the fake runs the flush the idle time would have run', () => {
    const { sc, a, b } = setup();
    const id = a.request('hub:send', { to: '@(b/inbox)', type: 'note' }, { pattern: 'tell' });
    sc.fake.hibernate();
    a.request('hub:send', { to: '@(b/inbox)', type: 'note' }, { id, pattern: 'tell' });
    expect(deliveries(b, 'note')).toHaveLength(1);
  });

  it('an ended session drops its ids from storage (a session scope can never be named again)', () => {
    const { sc, a } = setup();
    a.request('hub:send', { to: '@(b/inbox)', type: 'note' });
    sc.advance(CONFIG.dedupFlushMs);
    expect(sc.fake.kv.scan(NS.dedup, '').length).toBeGreaterThan(0);
    const scope = `s:${a.connected!.payload.sessionId}`;
    expect(sc.fake.kv.scan(NS.dedup, scope).length).toBeGreaterThan(0);
    a.ask('hub:disconnect', null);
    sc.completeCloses();
    expect(sc.fake.kv.scan(NS.dedup, scope)).toEqual([]);
    expect(sc.fake.kv.get(NS.dedupScope, scope)).toBeNull();
    // Other sessions keep theirs.
    expect(sc.fake.kv.scan(NS.dedup, '').length).toBeGreaterThan(0);
  });

  it('DEDUP_WINDOW_MS 0 turns it off: a resend is handled again', () => {
    const { a, b } = setup(configWith({ ...CONFIG, dedupWindowMs: 0 }));
    const id = a.request('hub:send', { to: '@(b/inbox)', type: 'note' }, { pattern: 'tell' });
    a.request('hub:send', { to: '@(b/inbox)', type: 'note' }, { id, pattern: 'tell' });
    expect(deliveries(b, 'note')).toHaveLength(2);
    expect(a.connected!.payload.capabilities.idempotency).toBeUndefined();
  });
});

describe('topic recovery (core)', () => {
  it('publications carry offset and epoch; subscribe since gets the missed ones in order after its reply, across hibernation', () => {
    const { sc, a, b } = setup();
    const sub = b.ask('hub:subscribe', { topic: 'room' });
    expect(sub.payload).toMatchObject({ offset: 0 });
    const epoch = sub.payload.epoch as string;
    a.ask('hub:publish', { topic: 'room', type: 'say', data: 1 });
    const got = deliveries(b, 'say');
    expect(got[0]!.metadata).toMatchObject({ topic: 'room', publication: true, offset: 1, epoch });
    // b goes away; three more are published while it is gone.
    b.ask('hub:disconnect', null);
    sc.completeCloses();
    for (let n = 2; n <= 4; n++) expect(a.ask('hub:publish', { topic: 'room', type: 'say', data: n }).payload).toMatchObject({ offset: n, epoch });
    sc.fake.hibernate();
    const c = sc.connect('@(b)');
    const reply = c.ask('hub:subscribe', { topic: 'room', since: { offset: 1, epoch } });
    expect(reply.payload).toMatchObject({ topic: 'room', recovered: true, offset: 4, epoch });
    const after = c.all();
    const at = after.findIndex((m) => m.correlationId === reply.correlationId);
    expect(after.slice(at + 1).map((m) => [m.payload, m.metadata.offset, m.to])).toEqual([
      [2, 2, '@(b)'],
      [3, 3, '@(b)'],
      [4, 4, '@(b)'],
    ]);
    // Anything new follows them.
    a.ask('hub:publish', { topic: 'room', type: 'say', data: 5 });
    expect(c.all().at(-1)!.payload).toBe(5);
    checkWire(sc);
  });

  it('recovered: false for another epoch or an offset older than the history; nothing is replayed then', () => {
    const { sc, a, b } = setup(configWith({ ...CONFIG, topicHistorySize: 2 }));
    const epoch = b.ask('hub:subscribe', { topic: 'room' }).payload.epoch as string;
    b.ask('hub:unsubscribe', { topic: 'room' });
    for (let n = 1; n <= 3; n++) a.ask('hub:publish', { topic: 'room', type: 'say', data: n });
    b.inbox();
    expect(b.ask('hub:subscribe', { topic: 'room', since: { offset: 0, epoch } }).payload).toMatchObject({ recovered: false, offset: 3 });
    b.ask('hub:unsubscribe', { topic: 'room' });
    expect(b.ask('hub:subscribe', { topic: 'room', since: { offset: 2, epoch: 'elsewhere' } }).payload).toMatchObject({ recovered: false });
    expect(deliveries(b, 'say')).toHaveLength(0);
    checkWire(sc);
  });

  it('history off (TOPIC_HISTORY_SIZE 0): deliveries and replies carry no position, since says recovered: false', () => {
    const { a, b } = setup(configWith({ ...CONFIG, topicHistorySize: 0 }));
    const sub = b.ask('hub:subscribe', { topic: 'room' });
    expect(sub.payload).toEqual({ topic: 'room', subscriptionId: sub.payload.subscriptionId });
    expect(a.ask('hub:publish', { topic: 'room', type: 'say' }).payload).toEqual({ topic: 'room', subscriberCount: 1 });
    expect(deliveries(b, 'say')[0]!.metadata).not.toHaveProperty('offset');
    b.ask('hub:unsubscribe', { topic: 'room' });
    expect(b.ask('hub:subscribe', { topic: 'room', since: { offset: 0, epoch: 'x' } }).payload.recovered).toBe(false);
  });
});
