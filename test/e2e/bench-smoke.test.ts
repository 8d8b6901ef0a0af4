import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RAISED_LIMITS, SCENARIOS } from '../../bench/options';
import type { Report } from '../../bench/report';
import { groupAlive } from '../../harness/net/dev-server';

/**
 * Keeps `npm run bench` from rotting: its smoke mode runs every scenario at
 * tiny sizes against real `wrangler dev` servers, and the JSON line it prints
 * must hold a figure for each of them, for the hub and for the baseline.
 * Nothing here judges speed; the figures only have to be real measurements.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const RUN_CAP_MS = 150_000;

const runSmoke = (): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((done, fail) => {
    const child = spawn(resolve(ROOT, 'node_modules/.bin/tsx'), ['bench/cli.ts', '--smoke', '--json'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    // SIGINT lets the bench stop its servers before it exits.
    const timer = setTimeout(() => child.kill('SIGINT'), RUN_CAP_MS);
    child.once('error', fail);
    child.once('exit', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });

describe('bench smoke mode', () => {
  it('measures every scenario for the hub and the baseline, loses nothing, and stops its servers', { timeout: RUN_CAP_MS + 30_000 }, async () => {
    const { code, stdout, stderr } = await runSmoke();
    expect(code, stderr.slice(-4_000)).toBe(0);

    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const report = JSON.parse(lines[0]!) as Report;
    expect(report.mode).toBe('smoke');
    expect(report.errors).toEqual([]);
    expect(report.hubVars).toMatchObject(RAISED_LIMITS);
    // The table went to stderr and names the raised limits.
    expect(stderr).toContain('rate limits raised');

    for (const scenario of SCENARIOS.filter((s) => s !== 'framecost')) {
      const rows = report.metrics.filter((m) => m.scenario === scenario);
      expect(rows.length, `figures for ${scenario}`).toBeGreaterThan(0);
    }

    for (const m of report.metrics) {
      const where = `${m.label} / ${m.metric}`;
      expect(m.runs.hub.length, where).toBeGreaterThan(0);
      expect(m.runs.baseline.length, where).toBeGreaterThan(0);
      if (m.scenario === 'fairness') {
        // What a flood leaves the askers is the finding, not a fault of the bench: a starved
        // side serves 0 asks and has no latency to report. Whatever is reported is a real figure.
        for (const v of [m.hub, m.baseline]) if (v !== null) expect(v, where).toBeGreaterThanOrEqual(0);
        // A flood frame is delivered or refused, never dropped, however the askers fare.
        if (m.key === 'lost') for (const v of [m.hub, m.baseline]) expect(v, where).toBe(0);
        continue;
      }
      for (const v of [m.hub, m.baseline]) {
        expect(typeof v, where).toBe('number');
        expect(Number.isFinite(v), where).toBe(true);
      }
      if (m.key === 'lossPct' || m.key === 'failures') {
        expect(m.hub, where).toBe(0);
        expect(m.baseline, where).toBe(0);
      } else if (m.key === 'cpuMs' || m.key === 'cpuUsPerMsg' || m.key === 'queueCpuUsPerMsg' || m.key === 'cpuUsPerFrame' || m.key === 'cpuUsPerRequest') {
        // CPU time comes in 10 ms ticks, so a tiny run may round down to zero.
        expect(m.hub!, where).toBeGreaterThanOrEqual(0);
        expect(m.baseline!, where).toBeGreaterThanOrEqual(0);
      } else if (m.key === 'runtimeMiBPer1000' || m.key === 'proxyMiBPer1000') {
        // A delta over ten sessions is within allocator noise and may be negative; it only has to be measured.
      } else {
        expect(m.hub!, where).toBeGreaterThan(0);
        expect(m.baseline!, where).toBeGreaterThan(0);
        expect(m.ratio!, where).toBeGreaterThan(0);
      }
    }

    const keys = (scenario: string) => report.metrics.filter((m) => m.scenario === scenario).map((m) => m.key);
    expect(keys('connect')).toEqual(['rate', 'failures']);
    expect(keys('storm')).toEqual(['allAckedMs', 'failures', 'cpuUsPerRequest']);
    expect(keys('tell')).toEqual(['throughput', 'lossPct', 'cpuUsPerMsg']);
    expect(keys('ask')).toEqual(['p50', 'p95', 'p99']);
    expect(keys('broadcast')).toEqual(['lastMs', 'cpuMs', 'lossPct']);
    expect(keys('publish')).toEqual(['lastMs', 'cpuMs', 'lossPct']);
    expect(keys('memory')).toContain('runtimeRssMiB');

    expect(report.frameCost.filter((f) => f.side === 'hub')).toHaveLength(3);
    expect(report.frameCost.filter((f) => f.side === 'baseline')).toHaveLength(3);
    for (const f of report.frameCost) {
      expect(f.wallUsPerFrame, f.probe).toBeGreaterThan(0);
      expect(f.rttP50Us, f.probe).toBeGreaterThan(0);
    }

    expect(keys('fairness')).toEqual(['p50', 'p99', 'served', 'unanswered', 'floodRate', 'lost', 'p50', 'p99', 'served', 'unanswered', 'floodRate', 'lost']);
    expect(keys('refusal')).toEqual(['cpuUsPerFrame', 'answered']);
    // Resume: N queued as tells, then as asks (the raw object's column is the same N delivered live),
    // then the normal path with resume on, with resume off, and the two side by side.
    const resumeRows = report.metrics.filter((m) => m.scenario === 'resume');
    expect(resumeRows.map((m) => m.key)).toEqual([
      'connectedMs', 'drainedMs', 'failures', 'queueCpuUsPerMsg', 'cpuUsPerMsg',
      'connectedMs', 'drainedMs', 'ackedMs', 'failures', 'queueCpuUsPerMsg', 'cpuUsPerMsg',
      'throughput', 'cpuUsPerMsg', 'lossPct',
      'throughput', 'cpuUsPerMsg', 'lossPct',
      'throughput', 'cpuUsPerMsg',
    ]);
    expect(resumeRows.filter((m) => m.label.includes('resume off')).length).toBeGreaterThan(0);
    // The hub, the baseline, the hub with its shipped limits for the fairness and refusal scenarios,
    // and the hub with resume off (RESUME_GRACE_MS=0) for the resume scenario's normal path.
    expect(report.processGroups).toHaveLength(4);
    for (const pgid of report.processGroups) expect(groupAlive(pgid), `process group ${pgid}`).toBe(false);
  });
});
