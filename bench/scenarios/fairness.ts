/**
 * The fairness scenario of `npm run bench` (issue 11): one session floods its
 * object as fast as its socket takes frames, while five other sessions each
 * ask once every 150 ms. Local workerd reads a socket's next frame only after
 * the previous one was handled, so what the askers see is decided by how
 * long each flood frame holds the object. Reported: the askers' p50 and p99
 * round trip and how many of their asks were answered within ASK_TIMEOUT_MS.
 *
 * Hub: the flooder streams hub:send tells to a sink session; an ask is a
 * hub:send ask to the sink, answered by hub:delivery_ack. With the shipped
 * limits the flooder's frames are refused (hub:rate_limited), so the figure
 * is the cost of a refusal. Baseline: the same flood as `to:<sink>:` frames,
 * an ask is an `echo:` round trip.
 */
import { performance } from 'node:perf_hooks';
import { WsTestClient } from '../../harness/net/ws-client';
import type { DevServer } from '../../harness/net/dev-server';
import { buildRequest } from '../../src/protocol/build';
import { HUB_ADDRESS } from '../../src/protocol/envelope';
import { collect, percentile, type MetricSpec, type Runs, type Side } from '../report';
import { inTurn, joinHub, leave, quiesce, room, sleep, type Peer, type Scenario } from '../targets';

export const ASKERS = 5;
export const ASK_EVERY_MS = 150;
export const ASK_TIMEOUT_MS = 2_000;
/** How long after the flood its last frames may take to be delivered or refused. */
const FLOOD_SETTLE_MS = 5_000;
/** Keep this much unsent in the flooder's socket: enough that the server never waits for it. */
const FLOOD_BUFFER_BYTES = 256 * 1024;

export type FairSide = Side;

export const textOf = (data: unknown): string => (Buffer.isBuffer(data) ? data.toString('utf8') : String(data));

/** A session of either side; also used by the refusal scenario (refusal.ts). */
export const join = async (side: FairSide, server: DevServer, room: string, name: string): Promise<Peer> => {
  if (side === 'baseline') {
    return { client: await WsTestClient.open(`${server.wsUrl}/ws/${room}?id=${name}`, name), address: name };
  }
  return joinHub(server, room, name);
};

/** Frame `n` of the flood, built from one template (the id varies, as a real client's would). */
const floodFrames = (side: FairSide, from: Peer, sink: Peer, rawPrefix: string): ((n: number) => string) => {
  const body = JSON.stringify(
    buildRequest('hub:send', { to: sink.address, type: 'bench.flood', data: { n: 0 } }, { from: from.address, pattern: 'tell', id: 'ID' }),
  );
  const [before, after] = body.split('"ID"') as [string, string];
  if (side === 'hub') return (n) => `${before}"flood-${n}"${after}`;
  return (n) => `${rawPrefix}to:${sink.address}:${before}"flood-${n}"${after}`;
};

export interface FairRun {
  p50: number | null;
  p99: number | null;
  served: number;
  asked: number;
  /** Asks sent and not answered within ASK_TIMEOUT_MS. */
  unanswered: number;
  /** Flood frames the client got into its socket per second. */
  floodRate: number;
  /** Flood frames neither delivered to the sink nor refused (hub:rate_limited) within FLOOD_SETTLE_MS of the flood's end: 0 unless something is lost. */
  lost: number;
}

/** One run: connect, flood for `seconds`, ask on schedule meanwhile, report. */
/**
 * `rawPrefix` goes before each of the raw object's flood frames: `work:<k>:<n>:`
 * makes them as dear as a hub frame, with or without yielding (bench/baseline).
 */
export const fairnessRun = async (side: FairSide, server: DevServer, room: string, seconds: number, rawPrefix = ''): Promise<FairRun> => {
  const sink = await join(side, server, room, 'sink');
  const flooder = await join(side, server, room, 'flooder');
  const askers = await Promise.all(Array.from({ length: ASKERS }, (_, i) => join(side, server, room, `asker${i}`)));
  const all = [sink, flooder, ...askers];
  // Nobody reads the queued frames of these clients; keep only what the measure needs.
  for (const p of all) p.client.ws.removeAllListeners('message');
  // Every flood frame must end up delivered to the sink or refused: counted by a substring, cheaply.
  let delivered = 0;
  let refused = 0;
  sink.client.ws.on('message', (data) => {
    if (textOf(data).includes('bench.flood')) delivered++;
  });
  flooder.client.ws.on('message', (data) => {
    if (textOf(data).includes('hub:rate_limited')) refused++;
  });
  const samples: number[] = [];
  let asked = 0;
  const outstanding = new Map<string, number>();
  for (const [i, a] of askers.entries()) {
    a.client.ws.on('message', (data) => {
      const text = textOf(data);
      let key: string | null = null;
      if (side === 'hub') {
        if (!text.includes('hub:delivery_ack')) return;
        key = (JSON.parse(text) as { correlationId?: string }).correlationId ?? null;
      } else {
        const m = /"fair-(\d+)-(\d+)"/.exec(text);
        key = m ? `fair-${m[1]}-${m[2]}` : null;
      }
      const t0 = key !== null ? outstanding.get(key) : undefined;
      if (key === null || t0 === undefined) return;
      outstanding.delete(key);
      const rtt = performance.now() - t0;
      if (rtt <= ASK_TIMEOUT_MS) samples.push(rtt);
    });
    void i;
  }

  let flooding = true;
  let sent = 0;
  const frame = floodFrames(side, flooder, sink, rawPrefix);
  const flood = (async () => {
    while (flooding && !flooder.client.closed) {
      while (flooder.client.ws.bufferedAmount < FLOOD_BUFFER_BYTES) flooder.client.sendRaw(frame(sent++));
      await new Promise<void>((done) => setImmediate(done));
    }
  })();
  await sleep(300);

  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const ask = (i: number, k: number) => {
    const a = askers[i]!;
    const id = `fair-${i}-${k}`;
    asked++;
    outstanding.set(id, performance.now());
    if (side === 'hub') {
      a.client.sendRaw(JSON.stringify(buildRequest('hub:send', { to: sink.address, type: 'bench.fair', data: { k } }, { from: a.address, pattern: 'ask', id })));
    } else {
      a.client.sendRaw(`echo:${JSON.stringify(buildRequest('hub:send', { to: HUB_ADDRESS, type: 'bench.fair', data: { k } }, { from: a.address, pattern: 'ask', id }))}`);
    }
  };
  const schedules = askers.map(async (_, i) => {
    await sleep((i * ASK_EVERY_MS) / ASKERS);
    for (let k = 0; performance.now() < end; k++) {
      ask(i, k);
      await sleep(ASK_EVERY_MS);
    }
  });
  await Promise.all(schedules);
  const floodSeconds = (performance.now() - t0) / 1000 + 0.3;
  flooding = false;
  await flood;
  // Late answers count only if they are within the timeout; wait that long at most.
  const deadline = Date.now() + ASK_TIMEOUT_MS;
  while (outstanding.size > 0 && Date.now() < deadline) await sleep(20);
  // A flood the object still works through gets FLOOD_SETTLE_MS more to arrive before what is missing counts as lost.
  const settled = Date.now() + FLOOD_SETTLE_MS;
  while (delivered + refused < sent && Date.now() < settled) await sleep(20);
  // Politely (targets.ts leave): a dropped session would stay suspended and be released 30 s later, in another run.
  await leave(all, 10_000);
  await sleep(500);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), served: samples.length, asked, unanswered: asked - samples.length, floodRate: sent / floodSeconds, lost: sent - delivered - refused };
};

/** The hub twice, limits raised and shipped, and the baseline under the same flood, in turn (inTurn). */
export const fairness: Scenario = async ({ name, targets, o, report, shipped }) => {
  const rawPrefix = o.baselineWork > 0 ? `work:${o.baselineWork}:${o.baselineYield}:` : '';
  const hub = targets.find((t) => t.side === 'hub')!;
  const base = targets.find((t) => t.side === 'baseline')!;
  type Flood = { side: FairSide; server: DevServer; room: string; quiet: () => Promise<void> };
  const sides: Flood[] = [
    { side: 'hub', server: hub.server, room: 'fair', quiet: () => quiesce(hub) },
    { side: 'baseline', server: base.server, room: 'fair', quiet: () => quiesce(base) },
  ];
  if (shipped) sides.push({ side: 'hub', server: shipped, room: 'fairship', quiet: async () => {} });
  const runs = await inTurn(
    sides,
    o,
    async (f) => ({ ...(await fairnessRun(f.side, f.server, room(f.room), o.floodSeconds, f.side === 'baseline' ? rawPrefix : '')) }) as unknown as Runs,
    (f) => f.quiet(),
  );
  const raised: Record<Side, Runs[]> = { hub: runs[0]!, baseline: runs[1]! };
  const limited: Record<Side, Runs[]> = { hub: runs[2] ?? [], baseline: runs[1]! };
  const specs: MetricSpec[] = [
    { key: 'p50', metric: 'askers p50 ms', unit: 'ms', better: 'lower' },
    { key: 'p99', metric: 'askers p99 ms', unit: 'ms', better: 'lower' },
    { key: 'served', metric: `asks served (of ~${Math.round((o.floodSeconds * 1000 * ASKERS) / ASK_EVERY_MS)}, ${ASK_TIMEOUT_MS} ms cap)`, unit: 'count', better: 'higher' },
    { key: 'unanswered', metric: `asks not answered within ${ASK_TIMEOUT_MS} ms`, unit: 'count', better: 'lower' },
    { key: 'floodRate', metric: 'flood frames/s written by the client', unit: '1/s', better: 'higher' },
    { key: 'lost', metric: 'flood frames neither delivered nor refused', unit: 'count', better: 'lower' },
  ];
  const rawWork = rawPrefix ? `, raw flood frames do ${o.baselineWork} parses${o.baselineYield > 0 ? ` and yield every ${o.baselineYield}` : ''}` : '';
  const label = (what: string) => `fairness, 1 flooder + ${ASKERS} askers every ${ASK_EVERY_MS} ms, ${what}${rawWork}`;
  report.metrics.push(...collect(name, label('limits raised'), specs, raised));
  if (shipped) report.metrics.push(...collect(name, label('hub with shipped limits'), specs, limited));
};
