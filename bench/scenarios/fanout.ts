/**
 * Scenarios `broadcast` and `publish`: one sender, R recipients (registered,
 * and subscribed to one topic), time until the last recipient has the
 * message and the runtime's CPU in that window. They share their rooms, and
 * the two sides' runs are taken in turn.
 */
import { performance } from 'node:perf_hooks';
import { cpuMs } from '../processes';
import { collect, type Runs, type Side } from '../report';
import { counter, drop, inTurn, pool, quiesce, setupConcurrency, waitUntil, type Room, type Scenario, type Target } from '../targets';
import { fanRepeat, type Options } from '../options';
import { closeRoom, openRoom } from './rooms';

/** Every side quiet, not only the one measured next: both runtimes share the machine's two cores. */
const allQuiet = (targets: Target[]) => async () => {
  for (const t of targets) await quiesce(t);
};

/** One broadcast or publication from the room's sender, timed until the last recipient has it. */
const fanOnce = async (t: Target, kind: 'broadcast' | 'publish', marker: string, i: number, { sender, recipients }: Room): Promise<Runs> => {
  const size = recipients.length;
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

/**
 * Broadcasts and publications of every side, in turn (inTurn: one
 * unmeasured run of each first, then rounds that start with another side
 * each), so that drift in the machine's load hits hub and raw object alike.
 * Recipients subscribe to the bench topic first.
 */
const fanRuns = async (
  targets: Target[],
  rooms: Map<Side, Room>,
  o: Options,
  kinds: ('broadcast' | 'publish')[],
): Promise<Record<'broadcast' | 'publish', Record<Side, Runs[]>>> => {
  const roomOf = (t: Target) => rooms.get(t.side)!;
  if (kinds.includes('publish')) {
    for (const t of targets) {
      const { recipients } = roomOf(t);
      const { failures } = await pool(recipients.length, setupConcurrency(o), (i) => t.subscribe(recipients[i]!));
      if (failures.length > 0) throw new Error(`${t.side}: ${failures.length} of ${recipients.length} subscriptions failed: ${failures[0]}`);
      recipients.forEach(drop);
    }
  }
  const out = { broadcast: { hub: [], baseline: [] }, publish: { hub: [], baseline: [] } } as Record<'broadcast' | 'publish', Record<Side, Runs[]>>;
  const repeat = fanRepeat(o);
  for (const kind of kinds) {
    // Each run's marker is new, so a late delivery of an earlier run is never counted.
    const count = new Map<Side, number>();
    const runs = await inTurn(
      targets,
      { repeat, smoke: o.smoke },
      (t) => {
        const i = (count.get(t.side) ?? -1) + 1;
        count.set(t.side, i);
        return fanOnce(t, kind, `bench.${kind}.${i}`, i, roomOf(t));
      },
      allQuiet(targets),
    );
    // inTurn's unmeasured first run of each side took marker 0; the measured ones follow it.
    targets.forEach((t, j) => out[kind][t.side].push(...runs[j]!));
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
    // Every side's room is open at once, so their runs can be taken in turn.
    const rooms = new Map<Side, Room>();
    try {
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
        rooms.set(t.side, reused ?? (await openRoom(t, o, `fanout${size}`, size)));
      }
      const runs = await fanRuns(targets, rooms, o, [...kinds]);
      for (const k of kinds) {
        report.metrics.push(
          ...collect(k, `${k} fan-out to ${size}`, [
            { key: 'lastMs', metric: 'ms to last delivery', unit: 'ms', better: 'lower' },
            { key: 'cpuMs', metric: 'runtime CPU ms', unit: 'ms', better: 'lower' },
            { key: 'lossPct', metric: 'loss %', unit: '%', better: 'lower' },
          ], runs[k]),
        );
      }
    } finally {
      for (const r of rooms.values()) await closeRoom(r);
    }
  }
};
