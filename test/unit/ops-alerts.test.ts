import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { describe, expect, it } from 'vitest';
import { renderMetrics } from '../../src/ops/metrics-text';
import type { HubSnapshot } from '../../src/ops/snapshot';

/**
 * ops/alerts.yml checked by Prometheus's own tool: `promtool check rules`
 * (syntax, PromQL, templates) and `promtool test rules` (ops/alerts.test.yml
 * says which alerts fire on which series). promtool comes from Debian's
 * prometheus package, which .ci/run installs.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const RULES = resolve(ROOT, 'ops/alerts.yml');
const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const hasPromtool = promtool.status === 0;
if (!hasPromtool) {
  console.warn(
    'ops-alerts: promtool not found, so the alert rules are not checked. ' +
      "Install Debian's prometheus package (apt-get install prometheus); .ci/run does so.",
  );
}

const run = (...args: string[]) => {
  const r = spawnSync('promtool', args, { cwd: resolve(ROOT, 'ops'), encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
};

const snapshot: HubSnapshot = {
  counters: {
    messagesReceived: 1,
    messagesSent: 1,
    messagesDelivered: 1,
    errors: 1,
    connectionsOpened: 1,
    connectionsClosed: 1,
    ops: { requests: { 'hub:send': 1 }, errors: { internal_error: 1 }, closes: { server_shutdown: 1 }, ackBuckets: [1], ackSumMs: 1 },
  },
  sessions: { registered: 1 },
  pausedSessions: 0,
  actors: 1,
  topics: 1,
  queuedDeliveries: 0,
  maxAttachmentBytes: 900,
  shell: { wakes: 0, alarmRuns: 0, unreadableAttachments: 0, internalErrors: 0 },
};

describe('ops/alerts.yml', () => {
  it.skipIf(!hasPromtool)('passes promtool check rules', () => {
    const r = run('check', 'rules', 'alerts.yml');
    expect(r.status, r.output).toBe(0);
    expect(r.output).toMatch(/SUCCESS: \d+ rules found/);
  });

  it.skipIf(!hasPromtool)('fires as ops/alerts.test.yml expects (promtool test rules)', () => {
    const r = run('test', 'rules', 'alerts.test.yml');
    expect(r.status, r.output).toBe(0);
  });

  it('only uses series that GET /metrics exposes', () => {
    const exposed = new Set<string>();
    for (const family of parsePrometheusTextFormat(renderMetrics([{ hub: 'a', snapshot }])) as { name: string; type: string }[]) {
      exposed.add(family.name);
      if (family.type === 'HISTOGRAM') for (const s of ['_bucket', '_sum', '_count']) exposed.add(family.name + s);
    }
    const used = new Set(readFileSync(RULES, 'utf8').match(/\bsignalhub_[a-z_]+\b/g) ?? []);
    expect(used.size).toBeGreaterThan(10);
    for (const name of used) expect(exposed, name).toContain(name);
  });
});
