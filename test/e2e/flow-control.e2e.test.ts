import { beforeAll, describe, expect, it } from 'vitest';
import { startDevServer, type DevServer } from '../../harness/net/dev-server';
import { WsTestClient, type Frame } from '../../harness/net/ws-client';
import { tidyDevServerTests } from './support/tidy-dev-server';

/**
 * Hub-initiated flow control (contract §6) for a sender whose own frames pile
 * up: `wrangler dev --local`, `ws` clients over TCP. A flood written in one go
 * is read by the runtime faster than the hub hands it on, so most of it is
 * held (src/runtime/fair-queue.ts), and held frames count as the sender's
 * queued work. Low thresholds keep the test well clear of how many frames a
 * loaded machine happens to hold; the rate limit is raised so that every
 * flood frame is a routed tell.
 */

let server: DevServer;
const open: WsTestClient[] = [];
const PAUSE_AT = 20;
const RESUME_AT = 5;

const connect = async (hub: string, identity: string): Promise<WsTestClient> => {
  const { client } = await WsTestClient.connected(`${server.wsUrl}/ws/${hub}`, identity);
  open.push(client);
  return client;
};

const frames = (client: WsTestClient, keep: (f: Frame) => boolean): Frame[] =>
  client.events.flatMap((e) => (e.kind === 'frame' && keep(e.frame) ? [e.frame] : []));

beforeAll(async () => {
  server = await startDevServer({
    vars: { RATE_LIMIT_PER_SECOND: 100_000, RATE_LIMIT_BURST: 100_000, QUEUE_PAUSE_THRESHOLD: PAUSE_AT, QUEUE_RESUME_THRESHOLD: RESUME_AT },
  });
});

tidyDevServerTests(open, () => server);

describe('flow control for a flooding sender over TCP (§6)', () => {
  it('a flood the hub holds is told hub:pause past the threshold and hub:resume once drained, and is delivered whole and in order', async () => {
    const hub = `flood-${process.pid}`;
    const a = await connect(hub, '@(flood/a)');
    const b = await connect(hub, '@(flood/b)');
    expect((await b.ask('hub:register', { actorAddress: '@(flood/b/in)', capabilities: [] })).type).toBe('hub:registered');
    const total = 6000;
    for (let i = 0; i < total; i++) a.request('hub:send', { to: '@(flood/b/in)', type: 'flood', data: i }, { pattern: 'tell' });
    const delivered = () => frames(b, (f) => f.type === 'flood');
    const deadline = Date.now() + 60_000;
    while (delivered().length < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(delivered().map((f) => f.payload)).toEqual(Array.from({ length: total }, (_, i) => i));
    // The flooder's own frames are handled in order, so its answer comes after every notice its flood caused.
    const stats = await a.ask('hub:queue_stats', null);
    expect(stats.payload).toMatchObject({ queueDepth: 0, paused: false, pauseThreshold: PAUSE_AT, resumeThreshold: RESUME_AT });
    const flow = frames(a, (f) => f.type === 'hub:pause' || f.type === 'hub:resume');
    expect(flow.length).toBeGreaterThanOrEqual(2);
    // Alternating, starting with a pause and ending resumed; each crossing its threshold, none correlated.
    flow.forEach((f, i) => {
      const p = f.payload as { reason: string; queueDepth: number };
      expect(f.correlationId).toBeNull();
      if (i % 2 === 0) {
        expect(f.type).toBe('hub:pause');
        expect(p.reason).toBe('queue_depth');
        expect(p.queueDepth).toBe(PAUSE_AT);
      } else {
        expect(f.type).toBe('hub:resume');
        expect(p.reason).toBe('queue_drained');
        expect(p.queueDepth).toBe(RESUME_AT);
      }
    });
    expect(flow.at(-1)!.type).toBe('hub:resume');
    // The receiver was never the one paused.
    expect(frames(b, (f) => f.type === 'hub:pause' || f.type === 'hub:resume')).toEqual([]);
  });
});
