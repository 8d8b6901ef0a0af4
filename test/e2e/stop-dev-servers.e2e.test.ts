import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { groupAlive, runningDevServers, startDevServer, stopAllDevServers } from '../../harness/net/dev-server';

/** Names of the processes in a process group, from /proc (field 5 of stat is the group). */
const groupMembers = (pgid: number): string[] => {
  const names: string[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      if (Number(fields[2]) === pgid) names.push(stat.slice(stat.indexOf('(') + 1, close));
    } catch {
      // The process ended while being read.
    }
  }
  return names;
};

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

describe('servers a test file could not stop', () => {
  it('stopAllDevServers ends a server that is still starting, workerd included', async () => {
    expect(runningDevServers()).toEqual([]);
    // What a beforeAll that timed out leaves behind: a start nobody awaits any more.
    const starting = startDevServer();
    const failed = starting.then(
      () => null,
      (err: Error) => err,
    );
    let pgid: number | undefined;
    for (let i = 0; i < 300 && pgid === undefined; i++) {
      await sleep(100);
      const [group] = runningDevServers();
      if (group !== undefined && groupMembers(group).includes('workerd')) pgid = group;
    }
    expect(pgid, 'workerd did not start within 30 s').toBeDefined();

    expect(await stopAllDevServers()).toBe(1);
    expect(groupAlive(pgid!)).toBe(false);
    expect(groupMembers(pgid!)).toEqual([]);
    expect(runningDevServers()).toEqual([]);
    // A start that had not finished reports the stop (one that had finished is stopped all the same, above).
    const outcome = await failed;
    if (outcome !== null) expect(outcome.message).toMatch(/exited early|not 200/);
    expect(await stopAllDevServers()).toBe(0);
  }, 60_000);
});
