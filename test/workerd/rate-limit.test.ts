import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../src/protocol/envelope';
import { WorkerdClient, MODES, expectError, freshHub, persistedStates, type Frame } from './hub-client';

const BURST = 20;
const PER_SECOND = 10;

/**
 * Sends `count` non-exempt requests back to back and sorts the replies.
 * `elapsed` is the hub-clock span from `since` to the last reply, which
 * bounds how many tokens the bucket can have refilled in between.
 */
const burst = async (client: WorkerdClient, count: number) => {
  const ids = Array.from({ length: count }, () => client.request('hub:list_actors', { limit: 1 }));
  const replies: Frame[] = [];
  for (const id of ids) replies.push(await client.reply(id));
  const ok = replies.filter((r) => r.type === 'hub:actor_list');
  const limited = replies.filter((r) => r.type === 'hub:rate_limited');
  expect(ok.length + limited.length).toBe(count);
  return { replies, ok, limited, lastAt: Math.max(...replies.map((r) => r.timestamp as number)) };
};

/** Most tokens a bucket could regain between two hub-clock instants (plus one for a partial token). */
const refillBound = (fromMs: number, toMs: number) => Math.floor(((toMs - fromMs) * PER_SECOND) / 1000) + 1;

describe('rate limiting (contract §7)', () => {
  it('allows a burst of 20, then answers hub:rate_limited with an integer retryAfter > 0', async () => {
    const hub = freshHub('burst');
    const a = await WorkerdClient.connected(hub, '@(rl/a)');
    const { ok, limited, replies } = await burst(a, BURST * 4);
    const span = replies.at(-1)!.timestamp - replies[0]!.timestamp;
    expect(ok.length).toBeGreaterThanOrEqual(BURST);
    expect(ok.length).toBeLessThanOrEqual(BURST + refillBound(0, span));
    expect(limited.length).toBeGreaterThan(0);
    // Everything before the first refusal succeeded: the burst is spent in order.
    expect(replies.slice(0, BURST).every((r) => r.type === 'hub:actor_list')).toBe(true);

    for (const reply of limited) {
      const p = expectError(reply, 'hub:rate_limited', 'rate_limited', reply.correlationId);
      expect(Number.isInteger(p.retryAfter)).toBe(true);
      expect(p.retryAfter).toBeGreaterThan(0);
      expect(p.retryAfter).toBeLessThanOrEqual(1000 / PER_SECOND);
      expect(p.retryable).toBe(true);
    }
    // Each refusal is correlated with the request it refused.
    const ids = new Set(replies.map((r) => r.correlationId));
    expect(ids.size).toBe(BURST * 4);
  });

  it('serves requests again once retryAfter has passed', async () => {
    const hub = freshHub('recover');
    const a = await WorkerdClient.connected(hub, '@(rl/recover)');
    const { limited, replies } = await burst(a, BURST * 4);
    expect(limited.length).toBeGreaterThan(0);
    // The wait that applies is the one of the last refusal after which no token was spent. A
    // token can refill during a slow burst (see refillBound) and be spent by a later request,
    // so a burst that ends with a served request is followed up until a refusal comes back.
    let last = replies.at(-1)!;
    for (let i = 0; i < 5 && last.type !== 'hub:rate_limited'; i++) last = await a.ask('hub:list_actors', { limit: 1 });
    expect(last.type).toBe('hub:rate_limited');
    const wait = last.payload.retryAfter as number;
    await new Promise((r) => setTimeout(r, wait + 20));
    expect((await a.ask('hub:list_actors', {})).type).toBe('hub:actor_list');
    // A served request means the session is out of rate-limited, in what a woken hub would read back.
    expect(await persistedStates(hub)).toEqual(['registered']);
  });

  it('exempts hub:heartbeat and hub:disconnect (and the runtime ping) from an empty bucket', async () => {
    const hub = freshHub('exempt');
    const a = await WorkerdClient.connected(hub, '@(rl/exempt)');
    const { limited } = await burst(a, BURST * 4);
    expect(limited.length).toBeGreaterThan(0);

    for (let i = 0; i < 5; i++) expect((await a.ask('hub:heartbeat', { timestamp: i })).type).toBe('hub:heartbeat_ack');
    a.sendRaw('{"type":"ping"}');
    expect(await a.next((f) => f.type === 'pong')).toEqual({ type: 'pong' });

    const id = a.request('hub:disconnect', null);
    const ack = await a.reply(id);
    expect(ack).toMatchObject({ type: 'hub:disconnect', payload: { acknowledged: true } });
    expect((await a.waitClosed()).code).toBe(1000);
  });

  it('exempts hub:connect: on an empty bucket a repeated connect is judged, not rate-limited', async () => {
    const hub = freshHub('exemptconnect');
    const a = await WorkerdClient.connected(hub, '@(rl/connect)');
    expect((await burst(a, BURST * 4)).limited.length).toBeGreaterThan(0);
    const id = a.request('hub:connect', null, { metadata: { protocolVersion: PROTOCOL_VERSION } });
    expectError(await a.reply(id), 'hub:error', 'invalid_message', id);
  });

  it('keeps sessions independent: one exhausted bucket does not limit another session', async () => {
    const hub = freshHub('independent');
    const a = await WorkerdClient.connected(hub, '@(rl/one)');
    const b = await WorkerdClient.connected(hub, '@(rl/two)');
    expect((await burst(a, BURST * 4)).limited.length).toBeGreaterThan(0);
    const forB = await burst(b, BURST);
    expect(forB.limited).toEqual([]);
  });
});

describe.each(MODES)('the bucket is session state, $mode (contract §7, §8)', ({ between }) => {
  it('keeps an empty bucket empty, allowing only elapsed-time refill', async () => {
    const hub = freshHub('emptybucket');
    const a = await WorkerdClient.connected(hub, '@(rl/empty)');
    // Far more than the burst, so the bucket runs dry even if a loaded machine is slow to process them.
    const first = await burst(a, BURST * 4);
    expect(first.limited.length).toBeGreaterThan(0);
    // At the first refusal the bucket held less than one token.
    const emptyAt = first.limited[0]!.timestamp as number;
    await between(hub);

    const second = await burst(a, BURST);
    expect(second.ok.length).toBeLessThanOrEqual(refillBound(emptyAt, second.lastAt));
  });

  it('keeps a partly spent bucket at what was left, plus elapsed-time refill', async () => {
    const hub = freshHub('partbucket');
    const a = await WorkerdClient.connected(hub, '@(rl/part)');
    const spent = 15;
    const first = await burst(a, spent);
    expect(first.limited).toEqual([]);
    const startedAt = first.replies[0]!.timestamp as number;
    await between(hub);

    const second = await burst(a, BURST);
    const left = BURST - spent;
    // Never fewer than what was left, never a fresh full bucket.
    expect(second.ok.length).toBeGreaterThanOrEqual(left);
    expect(second.ok.length).toBeLessThanOrEqual(left + refillBound(startedAt, second.lastAt));
  });
});
