/**
 * The bench's report: its JSON shape, the medians and ratios of the runs,
 * the machine and source it was measured on, the printed table and the
 * saved file under bench/results/.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fanRepeat, type Options, type ScenarioName } from './options';

const ROOT = resolve(import.meta.dirname, '..');

export type Side = 'hub' | 'baseline';

/** One row of the table: a figure for the hub and the baseline, each the median of its runs. */
export interface Metric {
  scenario: ScenarioName;
  label: string;
  /** Stable name of the figure for machines, e.g. `rate`, `lossPct`, `p99`. */
  key: string;
  metric: string;
  unit: string;
  /** Which direction is good, so a reader knows how to read the ratio. */
  better: 'higher' | 'lower';
  hub: number | null;
  baseline: number | null;
  ratio: number | null;
  runs: { hub: number[]; baseline: number[] };
}

/** A row of the per-frame cost probe: one kind of frame on one socket, pipelined. */
export interface FrameCost {
  side: Side;
  probe: string;
  frames: number;
  wallUsPerFrame: number;
  runtimeCpuUsPerFrame: number;
  proxyCpuUsPerFrame: number;
  clientCpuUsPerFrame: number;
  /** Median of sequential round trips (send one, wait for its reply), in microseconds. */
  rttP50Us: number;
}

export interface Report {
  bench: 'signal-hub';
  date: string;
  mode: 'smoke' | 'default' | 'custom';
  machine: Machine;
  /** The hub source that was measured: the checkout is snapshotted when the server starts. */
  source: { commit: string; uncommitted: string[] };
  hubVars: Record<string, string | number>;
  options: Omit<Options, 'json' | 'save' | 'smoke' | 'hubVars'>;
  metrics: Metric[];
  frameCost: FrameCost[];
  errors: { scenario: string; error: string }[];
  /** Process groups of the two wrangler dev servers; all are gone when the report is returned. */
  processGroups: number[];
  durationMs: number;
}

export interface Machine {
  nproc: number;
  cpu: string;
  memoryMiB: number;
  node: string;
  wrangler: string;
  loadAverage1m: number;
  /** Load at the end: other work on the machine skews every figure, so both ends are recorded. */
  loadAverage1mAtEnd?: number;
}

/** One run's figures, by key. */
export type Runs = Record<string, number>;

export const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Nearest-rank percentile; null for no samples. */
export const percentile = (xs: number[], p: number): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};

export const machineInfo = (): Machine => {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) cpu = line.split(':')[1]!.trim();
  } catch {
    // Not Linux: os.cpus() is all there is.
  }
  let wrangler = 'unknown';
  try {
    wrangler = (JSON.parse(readFileSync(join(ROOT, 'node_modules/wrangler/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // Left unknown.
  }
  return {
    nproc: os.availableParallelism(),
    cpu,
    memoryMiB: Math.round(os.totalmem() / 2 ** 20),
    node: process.version,
    wrangler,
    loadAverage1m: Number(os.loadavg()[0]!.toFixed(2)),
  };
};

export const sourceInfo = (): Report['source'] => {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trimEnd();
  try {
    const uncommitted = git('status', '--porcelain', '--', 'src', 'machines', 'wrangler.toml', 'bench/baseline')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.slice(3));
    return { commit: git('rev-parse', '--short', 'HEAD'), uncommitted };
  } catch {
    return { commit: 'unknown', uncommitted: [] };
  }
};

export interface MetricSpec {
  key: string;
  metric: string;
  unit: string;
  better: 'higher' | 'lower';
}

export const collect = (
  scenario: ScenarioName,
  label: string,
  specs: MetricSpec[],
  runs: Record<Side, Runs[]>,
): Metric[] =>
  specs.map((s) => {
    const hubRuns = runs.hub.map((r) => r[s.key]!).filter((v) => v !== undefined);
    const baseRuns = runs.baseline.map((r) => r[s.key]!).filter((v) => v !== undefined);
    const hub = median(hubRuns);
    const baseline = median(baseRuns);
    return {
      scenario,
      label,
      key: s.key,
      metric: s.metric,
      unit: s.unit,
      better: s.better,
      hub,
      baseline,
      ratio: hub !== null && baseline !== null && baseline !== 0 ? hub / baseline : null,
      runs: { hub: hubRuns, baseline: baseRuns },
    };
  });


const fmt = (v: number | null): string => {
  if (v === null || !Number.isFinite(v)) return '-';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
};

const pad = (s: string, n: number, right = false) => (right ? s.padStart(n) : s.padEnd(n));

export const renderTable = (report: Report): string => {
  const lines: string[] = [];
  const vars = Object.entries(report.hubVars)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  lines.push(`Signal Hub bench, ${report.date}, mode ${report.mode}, medians of ${report.options.repeat} run(s) (memory: 1, fan-out: ${fanRepeat({ repeat: report.options.repeat, smoke: report.mode === 'smoke' })})`);
  lines.push(
    `machine: ${report.machine.nproc} cores, ${report.machine.cpu}, ${report.machine.memoryMiB} MiB, node ${report.machine.node}, wrangler ${report.machine.wrangler}, load average ${report.machine.loadAverage1m} at start, ${report.machine.loadAverage1mAtEnd ?? '?'} at end`,
  );
  lines.push(`hub vars changed for the bench (rate limits raised): ${vars}`);
  const dirty = report.source.uncommitted.length > 0 ? ` with uncommitted changes in ${report.source.uncommitted.join(', ')}` : '';
  lines.push(`source: commit ${report.source.commit}${dirty}`);
  lines.push('');
  const head = ['scenario', 'metric', 'hub', 'baseline', 'hub/baseline'];
  const rows = report.metrics.map((m) => [m.label, `${m.metric} (${m.better} is better)`, fmt(m.hub), fmt(m.baseline), fmt(m.ratio)]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => pad(c, widths[i]!, i >= 2)).join('  ');
  lines.push(line(head));
  lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) lines.push(line(r));
  if (report.frameCost.length > 0) {
    lines.push('');
    lines.push('Per-frame cost: frames pipelined on one socket (CPU from /proc/<pid>/stat, 10 ms ticks), then sent one at a time:');
    const fhead = ['side', 'probe', 'wall us/frame', 'runtime CPU us', 'proxy CPU us', 'client CPU us', 'seq. RTT p50 us'];
    const frows = report.frameCost.map((f) => [
      f.side,
      f.probe,
      fmt(f.wallUsPerFrame),
      fmt(f.runtimeCpuUsPerFrame),
      fmt(f.proxyCpuUsPerFrame),
      fmt(f.clientCpuUsPerFrame),
      fmt(f.rttP50Us),
    ]);
    const fw = fhead.map((h, i) => Math.max(h.length, ...frows.map((r) => r[i]!.length)));
    const fline = (cells: string[]) => cells.map((c, i) => pad(c, fw[i]!, i >= 2)).join('  ');
    lines.push(fline(fhead));
    lines.push(fw.map((w) => '-'.repeat(w)).join('  '));
    for (const r of frows) lines.push(fline(r));
  }
  if (report.errors.length > 0) {
    lines.push('');
    for (const e of report.errors) lines.push(`ERROR in ${e.scenario}: ${e.error}`);
  }
  lines.push(`total ${(report.durationMs / 1000).toFixed(1)} s`);
  return lines.join('\n');
};

export const saveReport = (report: Report): string => {
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const day = report.date.slice(0, 10);
  let file = join(dir, `${day}.json`);
  for (let n = 2; existsSync(file); n++) file = join(dir, `${day}-${n}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
};
