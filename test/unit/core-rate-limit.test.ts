import { describe, expect } from 'vitest';
import { configWith } from '../../harness/fake-object';
import { bothWays, expectError, type Peer, type Scenario } from './core-harness';

/** Token bucket and abuse detection (§7), driven through the core on the simulated clock. */

const drain = (peer: Peer, n: number): void => {
  for (let i = 0; i < n; i++) expect(peer.ask('hub:list_actors', {}).type).toBe('hub:actor_list');
};

const limited = (peer: Peer) => {
  const id = peer.request('hub:list_actors', {});
  const reply = peer.replyTo(id);
  expectError(reply, 'rate_limited');
  expect(reply.correlationId).toBe(id);
  expect(Number.isInteger(reply.payload.retryAfter)).toBe(true);
  expect(reply.payload.retryAfter).toBeGreaterThan(0);
  expect(reply.payload.retryable).toBe(true);
  return reply.payload.retryAfter as number;
};

describe('token bucket (§7)', () => {
  bothWays('a burst of RATE_LIMIT_BURST requests passes, the next is hub:rate_limited', (sc) => {
    const a = sc.connect('@(a)');
    drain(a, 20);
    const retryAfter = limited(a);
    // 10 per second: one token every 100 ms.
    expect(retryAfter).toBeLessThanOrEqual(100);
    expect(sc.state(a)).toBe('rate-limited');
    // The refused request was not processed.
    a.ask('hub:register', { actorAddress: '@(a)', capabilities: [] });
    expect(sc.fake.registry.all()).toEqual([]);
  });

  bothWays('tokens refill with time and the session returns to registered', (sc) => {
    const a = sc.connect('@(a)');
    drain(a, 20);
    const retryAfter = limited(a);
    sc.advance(retryAfter);
    expect(sc.state(a)).toBe('registered');
    drain(a, 1);
    limited(a);
    // A full second refills ten tokens, not more.
    sc.advance(1_000);
    drain(a, 10);
    limited(a);
    // Long idle refills up to the burst and no further.
    sc.advance(50_000);
    drain(a, 20);
    limited(a);
  });

  bothWays('retryAfter is the time until one token is free', (sc) => {
    const a = sc.connect('@(a)');
    drain(a, 20);
    sc.advance(30);
    const retryAfter = limited(a);
    expect(retryAfter).toBe(70);
    sc.advance(retryAfter - 1);
    limited(a);
    sc.advance(1);
    drain(a, 1);
  });

  bothWays('connect, heartbeat and disconnect are exempt, even while rate-limited', (sc) => {
    const a = sc.connect('@(a)');
    drain(a, 20);
    limited(a);
    expect(sc.state(a)).toBe('rate-limited');
    for (let i = 0; i < 30; i++) a.heartbeatOk();
    limited(a);
    const ack = a.ask('hub:disconnect', null);
    expect(ack.payload).toEqual({ acknowledged: true });
    expect(a.socket.closed?.code).toBe(1000);
  });

  bothWays('a rate-limited session still times out without heartbeats', (sc) => {
    const a = sc.connect('@(a)');
    drain(a, 20);
    limited(a);
    sc.advance(60_000);
    expect(a.socket.closed?.code).toBe(4408);
  });

  bothWays('each session has its own bucket', (sc) => {
    const a = sc.connect('@(a)');
    const b = sc.connect('@(b)');
    drain(a, 20);
    limited(a);
    drain(b, 20);
    expect(sc.state(b)).toBe('registered');
  });

  bothWays(
    'RATE_LIMIT_PER_SECOND and RATE_LIMIT_BURST are configurable',
    (sc) => {
      const a = sc.connect('@(a)');
      drain(a, 3);
      expect(limited(a)).toBeLessThanOrEqual(500);
      sc.advance(500);
      drain(a, 1);
      limited(a);
    },
    configWith({ rateLimitPerSecond: 2, rateLimitBurst: 3 }),
  );

  bothWays('oversized and malformed frames spend tokens too', (sc) => {
    const a = sc.connect('@(a)');
    for (let i = 0; i < 10; i++) {
      a.raw('{nope');
      expectError(a.inbox()[0]!, 'invalid_message');
    }
    drain(a, 10);
    limited(a);
  });
});

describe('the bucket survives hibernation (§8)', () => {
  bothWays('tokens spent before an eviction stay spent after it', (sc) => {
    const a = sc.connect('@(a)');
    drain(a, 15);
    sc.fake.hibernate();
    drain(a, 5);
    sc.fake.hibernate();
    limited(a);
    sc.fake.hibernate();
    expect(sc.state(a)).toBe('rate-limited');
  });
});

describe('abuse (§7)', () => {
  // Limit 2/s: abuse is more than 20 frames per second, sustained for 10 s.
  const config = configWith({ rateLimitPerSecond: 2, rateLimitBurst: 2 });

  /** Sends `perSecond` non-exempt frames spread evenly over each of `seconds` seconds. */
  const flood = (sc: Scenario, peer: Peer, perSecond: number, seconds: number): void => {
    const gap = Math.floor(1000 / perSecond);
    for (let s = 0; s < seconds && !peer.socket.closed; s++) {
      for (let i = 0; i < perSecond && !peer.socket.closed; i++) {
        peer.request('hub:list_actors', {});
        sc.advance(gap);
      }
      sc.advance(1000 - gap * perSecond);
      if (!peer.socket.closed) peer.heartbeatOk();
    }
  };

  bothWays(
    'more than 10x the limit for 10 s closes with hub:disconnect rate_limit_abuse then 1008',
    (sc) => {
      const a = sc.connect('@(a)');
      a.ask('hub:register', { actorAddress: '@(a)', capabilities: [] });
      a.inbox();
      const start = sc.now();
      flood(sc, a, 25, 15);
      expect(a.socket.closed).toMatchObject({ code: 1008, by: 'hub' });
      const elapsed = sc.now() - start;
      expect(elapsed).toBeGreaterThanOrEqual(10_000);
      expect(elapsed).toBeLessThanOrEqual(12_000);
      const notices = a.all().filter((m) => m.type === 'hub:disconnect');
      expect(notices).toHaveLength(1);
      expect(notices[0]!.payload).toMatchObject({ reason: 'rate_limit_abuse', message: expect.stringMatching(/\S/) });
      const frames = a.socket.received;
      expect(JSON.parse(frames.at(-1)!).type).toBe('hub:disconnect');
      expect(sc.fake.registry.all()).toEqual([]);
    },
    config,
  );

  bothWays(
    'exactly 10x the limit is rate-limited but not abuse',
    (sc) => {
      const a = sc.connect('@(a)');
      flood(sc, a, 20, 15);
      expect(a.socket.closed).toBeNull();
      expect(a.all().some((m) => m.type === 'hub:rate_limited')).toBe(true);
    },
    config,
  );

  bothWays(
    'a burst above 10x that stops before 10 s is not abuse',
    (sc) => {
      const a = sc.connect('@(a)');
      flood(sc, a, 40, 8);
      sc.advance(3_000);
      flood(sc, a, 40, 8);
      expect(a.socket.closed).toBeNull();
      a.heartbeatOk();
    },
    config,
  );
});
