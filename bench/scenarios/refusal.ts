/**
 * The refusal scenario of `npm run bench` (issue 11: "a refused frame costs
 * ≤ 10 µs of runtime CPU"). One session of the hub with the shipped limits
 * (10/s, burst 20) floods for a few seconds, keeping at most
 * FLOOD_BUFFER_BYTES unsent in its socket; nearly every frame meets an empty
 * bucket and is answered `hub:rate_limited` on the early path
 * (src/core/rate-gate.ts). Reported: the runtime's CPU time (user + system
 * of the workerd process running the object, from /proc/<pid>/stat) over
 * the flood, divided by the frames answered. Tokens that refill during the
 * flood let a few frames through; they are not counted as refusals but
 * their cost is, so the figure errs high.
 *
 * Baseline: the same frames, each `echo:`ed back by the raw object, so its
 * figure is the runtime's floor for taking one frame and sending one back.
 *
 * The flood stays well under the abuse detector's 10 s, so the session is
 * refused throughout rather than closed.
 */
import { performance } from 'node:perf_hooks';
import type { DevServer } from '../../harness/net/dev-server';
import { buildRequest } from '../../src/protocol/build';
import { cpuMs, findWorkerd, portOf } from '../processes';
import { collect, type Runs, type Side } from '../report';
import { inTurn, leave, room, sleep, type Scenario } from '../targets';
import type { Options } from '../options';
import { join, textOf, type FairSide } from './fairness';

const FLOOD_BUFFER_BYTES = 256 * 1024;
const SETTLE_MS = 250;

export interface RefusalRun {
  /** Runtime CPU µs per frame answered (hub: refused; baseline: echoed). */
  cpuUsPerFrame: number;
  /** Frames answered during the run. */
  answered: number;
  /** Frames the client wrote. */
  sent: number;
}

/** Waits (bounded) until the runtime's CPU time stops moving, so earlier work is not billed here. */
const settle = async (cpu: () => number, capMs = 10_000): Promise<void> => {
  const deadline = Date.now() + capMs;
  let last = cpu();
  while (Date.now() < deadline) {
    await sleep(SETTLE_MS);
    const now = cpu();
    if (now - last <= 10) return;
    last = now;
  }
};

export const refusalRun = async (side: FairSide, server: DevServer, cpu: () => number, room: string, seconds: number): Promise<RefusalRun> => {
  const flooder = await join(side, server, room, 'flooder');
  const ws = flooder.client.ws;
  ws.removeAllListeners('message');
  let answered = 0;
  ws.on('message', (data) => {
    if (side === 'baseline' || textOf(data).includes('hub:rate_limited')) answered++;
  });
  const body = JSON.stringify(
    buildRequest('hub:send', { to: flooder.address, type: 'bench.refusal', data: { n: 0 } }, { from: flooder.address, pattern: 'tell', id: 'ID' }),
  );
  const [before, after] = body.split('"ID"') as [string, string];
  const prefix = side === 'baseline' ? 'echo:' : '';
  await settle(cpu);

  const cpu0 = cpu();
  const end = performance.now() + seconds * 1000;
  let sent = 0;
  while (performance.now() < end && !flooder.client.closed) {
    while (ws.bufferedAmount < FLOOD_BUFFER_BYTES) flooder.client.sendRaw(`${prefix}${before}"refuse-${sent++}"${after}`);
    await new Promise<void>((done) => setImmediate(done));
  }
  // Every frame written is answered (or let through); wait, bounded, until the answers stop coming.
  let seen = -1;
  const deadline = Date.now() + 10_000;
  while (answered !== seen && Date.now() < deadline) {
    seen = answered;
    await sleep(SETTLE_MS);
  }
  const spentMs = cpu() - cpu0;
  await leave([flooder], 10_000);
  await sleep(300);
  return { cpuUsPerFrame: answered > 0 ? (spentMs * 1000) / answered : Number.NaN, answered, sent };
};

/** `repeat` runs of each side in turn, after an unmeasured one each (inTurn). */
export const refusalRuns = async (
  sides: Record<FairSide, { server: DevServer; cpu: () => number }>,
  o: Pick<Options, 'repeat' | 'smoke'>,
  seconds: number,
  room: () => string,
): Promise<Record<FairSide, RefusalRun[]>> => {
  const order = ['hub', 'baseline'] as const;
  const [hub, baseline] = await inTurn(order, o, (side) => refusalRun(side, sides[side].server, sides[side].cpu, room(), seconds));
  return { hub: hub!, baseline: baseline! };
};

/** The hub with its shipped limits (refusing) against the baseline echoing the same flood. */
export const refusal: Scenario = async ({ name, targets, o, report, shipped }) => {
  if (!shipped) return;
  const base = targets.find((t) => t.side === 'baseline')!;
  const hubCpu = findWorkerd(shipped.pid, portOf(shipped)).runtime;
  const seconds = Math.min(3, o.floodSeconds);
  const sides = { hub: { server: shipped, cpu: () => cpuMs(hubCpu) }, baseline: { server: base.server, cpu: () => cpuMs(base.procs.runtime) } };
  const runs = (await refusalRuns(sides, o, seconds, () => room('refuse'))) as unknown as Record<Side, Runs[]>;
  report.metrics.push(
    ...collect(name, `refusal, one session floods an empty bucket for ${seconds} s (baseline: echoes)`, [
      { key: 'cpuUsPerFrame', metric: 'runtime CPU us per refused frame', unit: 'us', better: 'lower' },
      { key: 'answered', metric: 'frames answered', unit: 'count', better: 'higher' },
    ], runs),
  );
};
