/** Scenario `connect`: N sessions connect and register, C handshakes in flight. */
import { performance } from 'node:perf_hooks';
import { collect, type Runs } from '../report';
import { alternate, leave, pool, room, type Scenario, type Target } from '../targets';
import type { Options } from '../options';

/** connect+register N sessions: rate and failures. */
const connectRun = async (t: Target, o: Options): Promise<Runs> => {
  const r = room('connect');
  const t0 = performance.now();
  const { results, failures } = await pool(o.sessions, o.concurrency, (i) => t.join(r, `s${i}`));
  const elapsed = (performance.now() - t0) / 1000;
  await leave(results);
  return { rate: results.length / elapsed, failures: failures.length };
};


export const connect: Scenario = async ({ name, targets, o, report }) => {
  const runs = await alternate(targets, o, (t) => connectRun(t, o));
  report.metrics.push(
    ...collect(name, `connect+register (N=${o.sessions}, ${o.concurrency} in flight)`, [
      { key: 'rate', metric: 'sessions/s', unit: '1/s', better: 'higher' },
      { key: 'failures', metric: 'failures', unit: 'count', better: 'lower' },
    ], runs),
  );
};
