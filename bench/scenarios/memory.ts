/**
 * Scenario `memory`: RSS of both workerd processes before and after N idle
 * sessions join.
 */
import { rssMiB } from '../processes';
import { collect, type Runs, type Side } from '../report';
import { sleep, type Room, type Scenario, type Target } from '../targets';
import type { Options } from '../options';
import { closeRoom, openRoom } from './rooms';

/**
 * RSS of both workerd processes before and after N idle sessions join. Run
 * first, on fresh processes: memory freed by earlier work is reused by the
 * allocator and would hide the growth. The room is returned open so that a
 * fan-out of the same size can use it instead of connecting N more sessions.
 */
const memoryRun = async (t: Target, o: Options): Promise<{ runs: Runs; room: Room }> => {
  let before = { runtime: 0, proxy: 0 };
  const measured = await openRoom(t, o, 'memory', o.idle, async () => {
    // The sender made the object exist; what grows from here is per session.
    await sleep(1_000);
    before = { runtime: rssMiB(t.procs.runtime), proxy: rssMiB(t.procs.proxy) };
  });
  await sleep(2_000);
  const after = { runtime: rssMiB(t.procs.runtime), proxy: rssMiB(t.procs.proxy) };
  const per = 1000 / o.idle;
  return {
    runs: {
      runtimeMiBPer1000: (after.runtime - before.runtime) * per,
      proxyMiBPer1000: (after.proxy - before.proxy) * per,
      runtimeRssMiB: after.runtime,
    },
    room: measured,
  };
};

export const memory: Scenario = async ({ name, targets, o, report, kept }) => {
  // Heavy: one run each.
  const runs: Record<Side, Runs[]> = { hub: [], baseline: [] };
  for (const t of targets) {
    const { runs: r, room: idleRoom } = await memoryRun(t, o);
    runs[t.side].push(r);
    // Kept only while a fan-out of the same size follows; otherwise closed now.
    const willReuse = o.fanout.includes(o.idle) && (o.only.includes('broadcast') || o.only.includes('publish'));
    if (willReuse) kept.set(t.side, idleRoom);
    else await closeRoom(idleRoom);
  }
  report.metrics.push(
    ...collect(name, `memory, ${o.idle} idle sessions`, [
      { key: 'runtimeMiBPer1000', metric: 'runtime RSS MiB per 1000', unit: 'MiB', better: 'lower' },
      { key: 'proxyMiBPer1000', metric: 'proxy RSS MiB per 1000', unit: 'MiB', better: 'lower' },
      { key: 'runtimeRssMiB', metric: 'runtime RSS MiB after', unit: 'MiB', better: 'lower' },
    ], runs),
  );
};
