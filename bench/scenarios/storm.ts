/**
 * Scenario `storm` (issue 12): N sessions arrive at once, as after a
 * deploy or a network blip, and each connects, registers and subscribes
 * with nothing held back. Reported: the time until the last of them has its
 * `hub:subscribed`, how many failed, and the runtime's CPU per request
 * (three per session; the WebSocket upgrade is billed to them too).
 *
 * Baseline: N sockets open at once and each does three echo round trips of
 * hub-sized bodies, the same number of frames with no protocol.
 */
import { performance } from 'node:perf_hooks';
import { HUB_ADDRESS } from '../../src/protocol/envelope';
import { cpuMs } from '../processes';
import { collect, type Runs } from '../report';
import { addressOf, alternate, baselineBody, leave, pool, room, type Peer, type Scenario, type Target } from '../targets';
import type { Options } from '../options';

const REQUESTS_PER_SESSION = 3;

/** The third request: hub, a subscription; baseline, one more echo round trip. */
const third = async (t: Target, peer: Peer, r: string): Promise<void> => {
  if (t.side === 'hub') return t.subscribe(peer);
  peer.client.sendRaw(`echo:${baselineBody('bench.subscribe', addressOf(r, peer.address), HUB_ADDRESS, null)}`);
  await peer.client.next((f) => f.type === 'hub:send');
};

const stormRun = async (t: Target, o: Options): Promise<Runs> => {
  const r = room('storm');
  const cpu0 = cpuMs(t.procs.runtime);
  const t0 = performance.now();
  const { results, failures } = await pool(o.storm, o.storm, async (i) => {
    const peer = await t.join(r, `s${i}`);
    try {
      await third(t, peer, r);
    } catch (err) {
      peer.client.terminate();
      throw err;
    }
    return peer;
  });
  const elapsed = performance.now() - t0;
  const cpu = cpuMs(t.procs.runtime) - cpu0;
  await leave(results);
  return {
    allAckedMs: elapsed,
    failures: failures.length,
    cpuUsPerRequest: (cpu * 1000) / Math.max(1, results.length * REQUESTS_PER_SESSION),
  };
};

export const storm: Scenario = async ({ name, targets, o, report }) => {
  const runs = await alternate(targets, o, (t) => stormRun(t, o));
  report.metrics.push(
    ...collect(name, `storm, ${o.storm} sessions connect+register+subscribe at once`, [
      { key: 'allAckedMs', metric: 'ms until all acked', unit: 'ms', better: 'lower' },
      { key: 'failures', metric: 'failures', unit: 'count', better: 'lower' },
      { key: 'cpuUsPerRequest', metric: 'runtime CPU us per request', unit: 'us', better: 'lower' },
    ], runs),
  );
};
