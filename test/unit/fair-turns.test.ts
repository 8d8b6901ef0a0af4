import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, type HubConfig } from '../../src/config';
import { buildRequest } from '../../src/protocol/build';
import { PROTOCOL_VERSION } from '../../src/protocol/envelope';
import { FakeHubObject, type FakeSocket } from '../../harness/fake-object';

/**
 * The fair queue inside the runtime adapter, with the real hub core behind
 * it: one session floods tells while another asks. "Turns" of the runtime
 * are a list the test runs by hand, as the Durable Object's zero-delay timer
 * would. Rate limits are raised so every flood frame is a routed tell.
 */
const RAISED: HubConfig = { ...DEFAULT_CONFIG, rateLimitPerSecond: 1_000_000, rateLimitBurst: 1_000_000 };
const LIMITS = { streak: 8, slice: 32, maxChars: 1 << 20 };

const setup = (config: HubConfig = RAISED) => {
  const turns: (() => void)[] = [];
  const fake = new FakeHubObject(config, { fairness: { later: (run) => turns.push(run), limits: LIMITS } });
  let seq = 0;
  const runTurns = () => {
    while (turns.length > 0) turns.shift()!();
  };
  /** A handshake, after which the runtime is idle: it runs the turn that ends the burst. */
  const connect = (address: string): FakeSocket => {
    const socket = fake.open();
    fake.send(socket, JSON.stringify(buildRequest('hub:connect', null, { from: address, id: `c-${address}`, metadata: { protocolVersion: PROTOCOL_VERSION } })));
    expect(fake.messages(socket).map((m) => m.type)).toContain('hub:connected');
    runTurns();
    return socket;
  };
  const tell = (socket: FakeSocket, from: string, to: string, n: number) =>
    fake.send(socket, JSON.stringify(buildRequest('hub:send', { to, type: 'flood', data: { n } }, { from, id: `t-${seq++}`, pattern: 'tell' })));
  const ask = (socket: FakeSocket, from: string, to: string, id: string) =>
    fake.send(socket, JSON.stringify(buildRequest('hub:send', { to, type: 'q', data: {} }, { from, id, pattern: 'ask' })));
  /** The `n` of every flood message the sink got, in order. */
  const flood = (sink: FakeSocket) => fake.messages(sink).filter((m) => m.type === 'flood').map((m) => m.payload.n as number);
  return { fake, turns, connect, tell, ask, flood, runTurns };
};

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('fair turns in the runtime adapter', () => {
  it('answers an ask from another session on the next turn, ahead of a flood it arrived behind; the flood is delivered whole and in order after', () => {
    const { fake, turns, connect, tell, ask, flood, runTurns } = setup();
    const sink = connect('@(sink)');
    const flooder = connect('@(flooder)');
    const asker = connect('@(asker)');
    for (const n of range(200)) tell(flooder, '@(flooder)', '@(sink)', n);
    // The first 8 were handled as they came; the other 192 wait for the runtime's next turn.
    expect(flood(sink)).toEqual(range(8));
    expect(turns).toHaveLength(1);
    ask(asker, '@(asker)', '@(sink)', 'ask-1');
    const acks = () => fake.messages(asker).filter((m) => m.correlationId === 'ask-1').map((m) => m.type);
    expect(acks()).toEqual([]); // it came in the same burst: it waits for the turn too
    turns.shift()!();
    expect(acks()).toEqual(['hub:delivery_ack']);
    // Delivered after the flooder's first held tell, in the first turn: the sockets with frames held give one each in turn.
    const order = fake
      .messages(sink)
      .filter((m) => m.type === 'flood' || m.type === 'q')
      .map((m) => (m.type === 'flood' ? m.payload.n : m.metadata.originalMessageId));
    expect(order.slice(0, 10)).toEqual([...range(9), 'ask-1']);
    expect(flood(sink)).toEqual(range(8 + 31)); // 32 frames per turn
    runTurns();
    expect(flood(sink)).toEqual(range(200));
  });

  it('a lone frame after the runtime has had its turn is handled at once', () => {
    const { fake, connect, ask, runTurns, turns } = setup();
    const sink = connect('@(sink)');
    const asker = connect('@(asker)');
    for (const i of range(3)) {
      ask(asker, '@(asker)', '@(sink)', `lone-${i}`);
      expect(fake.messages(asker).filter((m) => m.correlationId === `lone-${i}`).map((m) => m.type)).toEqual(['hub:delivery_ack']);
      expect(turns).toHaveLength(1); // the turn that ends the burst, with nothing held
      runTurns();
    }
    expect(fake.messages(sink).filter((m) => m.type === 'q')).toHaveLength(3);
  });

  it('a close, an alarm or a new socket first handles every frame held before it', () => {
    const { fake, connect, tell, flood } = setup();
    const flooder = connect('@(flooder)');
    const sink = connect('@(sink)'); // connected second, so the flood's run starts at its first tell
    for (const n of range(20)) tell(flooder, '@(flooder)', '@(sink)', n);
    expect(flood(sink)).toEqual(range(8));
    fake.fireAlarm();
    expect(flood(sink)).toEqual(range(20));
    for (const n of range(20)) tell(flooder, '@(flooder)', '@(sink)', 20 + n);
    fake.open();
    expect(flood(sink)).toEqual(range(40));
    for (const n of range(20)) tell(flooder, '@(flooder)', '@(sink)', 40 + n);
    fake.clientClose(flooder);
    // All 60 were routed while the flooder was still registered, then it left.
    expect(flood(sink)).toEqual(range(60));
  });

  it('hibernation handles the held frames first (flush); a crash loses them, none having been answered', () => {
    const { fake, connect, tell, flood, runTurns, turns } = setup();
    const flooder = connect('@(flooder)');
    const sink = connect('@(sink)');
    for (const n of range(20)) tell(flooder, '@(flooder)', '@(sink)', n);
    fake.hibernate();
    expect(flood(sink)).toEqual(range(20));
    for (const n of range(20)) tell(flooder, '@(flooder)', '@(sink)', 20 + n);
    expect(turns.length).toBeGreaterThan(0);
    fake.crash();
    runTurns(); // the timer of the crashed instance finds nothing to do
    expect(flood(sink)).toEqual(range(28));
    tell(flooder, '@(flooder)', '@(sink)', 40);
    expect(flood(sink)).toEqual([...range(28), 40]);
  });

  it('held frames are their sender\'s queued work: hub:pause once they reach the threshold, hub:resume once they drain below the other', () => {
    const { fake, connect, tell, flood, turns } = setup({ ...RAISED, queuePauseThreshold: 50, queueResumeThreshold: 10 });
    const flooder = connect('@(flooder)');
    const sink = connect('@(sink)'); // connected second, so the flood's run starts at its first tell
    const notices = () =>
      fake
        .messages(flooder)
        .filter((m) => m.type === 'hub:pause' || m.type === 'hub:resume')
        .map((m) => [m.type, m.payload.reason, m.payload.queueDepth, m.correlationId]);
    for (const n of range(8 + 49)) tell(flooder, '@(flooder)', '@(sink)', n);
    expect(notices()).toEqual([]); // 49 held: one short of the threshold
    tell(flooder, '@(flooder)', '@(sink)', 57);
    expect(notices()).toEqual([['hub:pause', 'queue_depth', 50, null]]);
    for (const n of range(100)) tell(flooder, '@(flooder)', '@(sink)', 58 + n);
    expect(notices()).toHaveLength(1); // paused already: no repeat while the backlog grows
    // queue_stats, held behind the flood, is answered with the frames still held behind it.
    fake.send(flooder, JSON.stringify(buildRequest('hub:queue_stats', null, { from: '@(flooder)', id: 'stats' })));
    // 151 held (150 tells and queue_stats): each turn hands on 32, so four turns leave 23, still above the resume threshold.
    for (const _ of range(4)) turns.shift()!();
    expect(notices()).toHaveLength(1);
    expect(flood(sink)).toEqual(range(8 + 4 * 32));
    // The fifth turn takes the count to 10: hub:resume, before the frames after it are handed on.
    turns.shift()!();
    expect(notices()).toEqual([
      ['hub:pause', 'queue_depth', 50, null],
      ['hub:resume', 'queue_drained', 10, null],
    ]);
    const stats = fake.messages(flooder).find((m) => m.correlationId === 'stats');
    expect(stats?.type).toBe('hub:queue_stats_response');
    expect(stats?.payload).toMatchObject({ queueDepth: 0, paused: false });
    expect(flood(sink)).toEqual(range(8 + 150));
    expect(turns).toHaveLength(0); // nothing left held, so no further turn
  });

  it('a held frame of queue_stats counts the frames still held behind it', () => {
    const { fake, connect, tell, turns } = setup({ ...RAISED, queuePauseThreshold: 1000, queueResumeThreshold: 250 });
    const flooder = connect('@(flooder)');
    connect('@(sink)');
    for (const n of range(8)) tell(flooder, '@(flooder)', '@(sink)', n);
    fake.send(flooder, JSON.stringify(buildRequest('hub:queue_stats', null, { from: '@(flooder)', id: 'stats' })));
    for (const n of range(40)) tell(flooder, '@(flooder)', '@(sink)', 8 + n);
    turns.shift()!(); // hands on 32: queue_stats first, 40 tells behind it
    const stats = fake.messages(flooder).find((m) => m.correlationId === 'stats');
    expect(stats?.payload).toMatchObject({ queueDepth: 40, paused: false, pauseThreshold: 1000 });
  });

  it('a crash that forgets the frames a sender was paused for tells it hub:resume on the next event', () => {
    const { fake, connect, tell, flood, turns } = setup({ ...RAISED, queuePauseThreshold: 50, queueResumeThreshold: 10 });
    const flooder = connect('@(flooder)');
    const sink = connect('@(sink)');
    const notices = () => fake.messages(flooder).filter((m) => m.type === 'hub:pause' || m.type === 'hub:resume').map((m) => [m.type, m.payload.queueDepth]);
    for (const n of range(8 + 60)) tell(flooder, '@(flooder)', '@(sink)', n);
    expect(notices()).toEqual([['hub:pause', 50]]);
    fake.crash();
    turns.splice(0).forEach((run) => run()); // the crashed instance's timer finds nothing to do
    expect(notices()).toEqual([['hub:pause', 50]]);
    // Any event builds the core again: here the sink's heartbeat, not the paused sender's.
    fake.send(sink, JSON.stringify(buildRequest('hub:heartbeat', { timestamp: 1 }, { from: '@(sink)', id: 'hb' })));
    expect(notices()).toEqual([
      ['hub:pause', 50],
      ['hub:resume', 0],
    ]);
    expect(flood(sink)).toEqual(range(8));
    // Once told, it is not told again on the next wake.
    fake.crash();
    fake.send(sink, JSON.stringify(buildRequest('hub:heartbeat', { timestamp: 2 }, { from: '@(sink)', id: 'hb2' })));
    expect(notices()).toHaveLength(2);
  });
});
