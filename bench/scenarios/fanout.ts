/**
 * Scenarios `broadcast` and `publish`: one sender, R recipients (registered,
 * and subscribed to one topic), time until the last recipient has the
 * message and the runtime's CPU in that window. They share their rooms.
 */
import { performance } from 'node:perf_hooks';
import { cpuMs } from '../processes';
import { collect, type Runs, type Side } from '../report';
import { counter, drop, pool, quiesce, setupConcurrency, waitUntil, type Room, type Scenario, type Target } from '../targets';
import type { Options } from '../options';
import { closeRoom, openRoom } from './rooms';

/**
 * Broadcasts and publications from the room's sender, each timed until the
 * last recipient has it. Recipients subscribe to the bench topic first.
 */
const fanRuns = async (
  t: Target,
  o: Options,
  kinds: ('broadcast' | 'publish')[],
  { sender, recipients }: Room,
): Promise<Record<'broadcast' | 'publish', Runs[]>> => {
  const size = recipients.length;
  if (kinds.includes('publish')) {
    const { failures } = await pool(size, setupConcurrency(o), (i) => t.subscribe(recipients[i]!));
    if (failures.length > 0) throw new Error(`${failures.length} of ${size} subscriptions failed: ${failures[0]}`);
    recipients.forEach(drop);
  }
  const fan = async (kind: 'broadcast' | 'publish', marker: string, i: number): Promise<Runs> => {
    await quiesce(t);
    const seen = counter(recipients, marker);
    const cpu0 = cpuMs(t.procs.runtime);
    const t0 = performance.now();
    t.fan(sender, kind, marker, { i });
    const complete = await waitUntil(() => seen.state.count >= size, 30_000 + size * 20);
    const cpu = cpuMs(t.procs.runtime) - cpu0;
    seen.stop();
    recipients.forEach(drop);
    drop(sender);
    if (!complete) throw new Error(`${kind} to ${size}: ${seen.state.count} of ${size} delivered before the cap`);
    return { lastMs: seen.state.last - t0, cpuMs: cpu, lossPct: ((size - seen.state.count) / size) * 100 };
  };
  const out: Record<'broadcast' | 'publish', Runs[]> = { broadcast: [], publish: [] };
  for (const kind of kinds) {
    // Unmeasured first, as inTurn does for the other scenarios: the first fan-out also compiles its code path.
    if (!o.smoke) await fan(kind, `bench.${kind}.warmup`, -1);
    for (let i = 0; i < o.repeat; i++) out[kind].push(await fan(kind, `bench.${kind}.${i}`, i));
  }
  return out;
};

export const fanout: Scenario = async ({ name, targets, o, report, kept }) => {
  // Both share their rooms: connecting the recipients is the expensive part.
  const kinds = (['broadcast', 'publish'] as const).filter((k) => o.only.includes(k));
  if (name !== kinds[0]) return;
  // The size that can reuse the memory room goes first, while its sessions are well within the heartbeat timeout.
  const sizes = [...o.fanout].sort((a, b) => Number(b === o.idle) - Number(a === o.idle));
  for (const size of sizes) {
    const runs = { broadcast: { hub: [], baseline: [] }, publish: { hub: [], baseline: [] } } as Record<
      'broadcast' | 'publish',
      Record<Side, Runs[]>
    >;
    for (const t of targets) {
      let reused = size === o.idle ? kept.get(t.side) : undefined;
      if (reused) {
        kept.delete(t.side);
        if ([reused.sender, ...reused.recipients].some((p) => p.client.closed)) {
          await closeRoom(reused);
          reused = undefined;
        }
      }
      await quiesce(t);
      const fanRoom = reused ?? (await openRoom(t, o, `fanout${size}`, size));
      try {
        const got = await fanRuns(t, o, [...kinds], fanRoom);
        for (const k of kinds) runs[k][t.side] = got[k];
      } finally {
        await closeRoom(fanRoom);
      }
    }
    for (const k of kinds) {
      report.metrics.push(
        ...collect(k, `${k} fan-out to ${size}`, [
          { key: 'lastMs', metric: 'ms to last delivery', unit: 'ms', better: 'lower' },
          { key: 'cpuMs', metric: 'runtime CPU ms', unit: 'ms', better: 'lower' },
          { key: 'lossPct', metric: 'loss %', unit: '%', better: 'lower' },
        ], runs[k]),
      );
    }
  }
};
