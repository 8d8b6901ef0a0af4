/** Scenario `tell`: P senders each stream M `hub:send` tells at their receiver at once. */
import { performance } from 'node:perf_hooks';
import { cpuMs } from '../processes';
import { collect, type Runs } from '../report';
import { alternate, counter, drop, leave, pool, room, setupConcurrency, waitUntil, type Scenario, type Target } from '../targets';
import type { Options } from '../options';

/** P pairs; each sender streams M tells to its receiver at once. The resume scenario reuses it for the normal path. */
export const tellRun = async (t: Target, o: Options): Promise<Runs> => {
  const r = room('tell');
  const { results: peers, failures } = await pool(o.pairs * 2, setupConcurrency(o), (i) => t.join(r, `p${i}`));
  if (failures.length > 0) {
    await leave(peers);
    throw new Error(`tell setup: ${failures.length} sessions failed to connect: ${failures[0]}`);
  }
  const senders = peers.slice(0, o.pairs);
  const receivers = peers.slice(o.pairs);
  const seen = counter(receivers, 'bench.tell');
  const total = o.pairs * o.messages;
  const cpu0 = cpuMs(t.procs.runtime);
  const t0 = performance.now();
  for (let m = 0; m < o.messages; m++) {
    for (let p = 0; p < o.pairs; p++) t.tell(senders[p]!, receivers[p]!, 'bench.tell', { m });
  }
  // Generous: the cap only bounds a run whose deliveries stopped.
  await waitUntil(() => seen.state.count >= total, 20_000 + total * 20);
  const elapsed = ((seen.state.last || performance.now()) - t0) / 1000;
  const cpu = cpuMs(t.procs.runtime) - cpu0;
  seen.stop();
  const delivered = seen.state.count;
  peers.forEach(drop);
  await leave(peers);
  return {
    throughput: delivered / elapsed,
    lossPct: ((total - Math.min(delivered, total)) / total) * 100,
    cpuUsPerMsg: (cpu * 1000) / Math.max(1, delivered),
  };
};

export const tell: Scenario = async ({ name, targets, o, report }) => {
  const runs = await alternate(targets, o, (t) => tellRun(t, o));
  report.metrics.push(
    ...collect(name, `tell, ${o.pairs} pairs x ${o.messages} msgs`, [
      { key: 'throughput', metric: 'delivered msgs/s', unit: '1/s', better: 'higher' },
      { key: 'lossPct', metric: 'loss %', unit: '%', better: 'lower' },
      { key: 'cpuUsPerMsg', metric: 'runtime CPU us/msg', unit: 'us', better: 'lower' },
    ], runs),
  );
};
