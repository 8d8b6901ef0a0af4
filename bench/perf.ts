/**
 * `npx tsx bench/perf.ts`: where the runtime's CPU goes, natively, for the
 * hub and the raw object side by side. Runs the tell scenario's stream
 * (one unmeasured run first) against each, with `perf record` on that
 * side's workerd runtime process for the measured run, then sorts the
 * samples of `perf report` into areas: the kernel, JavaScript (JIT code and
 * V8 builtins), the rest of V8 (JSON, strings, GC, compiling), zlib,
 * kj/workerd, malloc. The V8 CPU profile (bench/profile.ts) only sees the
 * isolate's main thread; this sees every thread of the process, which is
 * what the bench's runtime CPU figure counts. Needs `perf` (Debian
 * `linux-perf`) and the right to attach to the process.
 *
 *   npx tsx bench/perf.ts [--messages M]   # 10 pairs x M tells per side (default 2000)
 *   npx tsx bench/perf.ts --keep /tmp/p    # keep hub.data and raw.data there, for `perf report -i`
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS, RAISED_LIMITS } from './options';
import { findWorkerd, portOf, startServers } from './processes';
import { tellRun } from './scenarios/tell';
import { baselineTarget, hubTarget } from './targets';

/** Areas by symbol, first match wins; the order matters (JsonParser is JSON, not compiling). */
const AREAS: [string, RegExp][] = [
  ['kernel', /\[kernel/],
  ['zlib', /longest_match|deflate|build_tree|Cr_z_|fill_window|inflate|compress_block|send_tree|pqdownheap|adler32|crc32/],
  ['JavaScript (JIT code, V8 builtins)', /\[JIT\]|Builtins_/],
  ['V8: JSON', /v8::.*Json/],
  ['V8: strings', /v8::.*(StringTable|StringHasher|String::|Internaliz)/],
  ['V8: GC', /v8::.*(Scaveng|Heap::|MarkCompact|Sweeper|Marking|Evacuat|MemoryAllocator|GCTracer|MinorMS|WriteBarrier)/],
  ['V8: compiling, instantiating', /v8::.*(Compil|Bytecode|SharedFunctionInfo|InstantiateFunction|maglev|compiler::)/],
  ['V8: other', /v8::/],
  ['malloc', /tcmalloc|TCMalloc/],
  ['kj, capnp, workerd', /kj::|capnp::|workerd::/],
];

const areaOf = (symbol: string): string => AREAS.find(([, re]) => re.test(symbol))?.[0] ?? 'other';

/** Samples per area from `perf report` of one recording. */
const areas = (data: string): Map<string, number> => {
  const text = execFileSync('perf', ['report', '-i', data, '--no-children', '--sort', 'dso,sym', '--stdio', '-g', 'none', '-n'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^\s*[\d.]+%\s+(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const area = areaOf(m[2]!);
    out.set(area, (out.get(area) ?? 0) + Number(m[1]));
  }
  return out;
};

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};

const main = async (): Promise<void> => {
  const o = { ...DEFAULTS, messages: arg('--messages', 2000) };
  const keep = process.argv.indexOf('--keep');
  const dir = keep >= 0 && process.argv[keep + 1] ? process.argv[keep + 1]! : mkdtempSync(join(tmpdir(), 'signal-hub-perf-'));
  const started: { stop(): Promise<void> }[] = [];
  try {
    const { hub, baseline } = await startServers({ ...RAISED_LIMITS }, null, (s) => started.push(s));
    const sides = [
      { name: 'hub', target: hubTarget(hub, findWorkerd(hub.pid, portOf(hub))) },
      { name: 'raw', target: baselineTarget(baseline, findWorkerd(baseline.pid, portOf(baseline))) },
    ];
    const result = new Map<string, Map<string, number>>();
    for (const { name, target } of sides) {
      await tellRun(target, o);
      const data = join(dir, `${name}.data`);
      const perf = spawn('perf', ['record', '-F', '999', '-g', '-p', String(target.procs.runtime), '-o', data], { stdio: 'ignore' });
      // perf needs a moment to attach; the stream must not start before it.
      await new Promise((done) => setTimeout(done, 500));
      const run = await tellRun(target, o);
      perf.kill('SIGINT');
      await new Promise((done) => perf.once('exit', done));
      console.log(`${name}: ${o.pairs} pairs x ${o.messages} tells, ${(run.throughput ?? 0).toFixed(0)} msgs/s, runtime CPU ${(run.cpuUsPerMsg ?? 0).toFixed(0)} us/msg (perf attached)`);
      result.set(name, areas(data));
    }
    const [h, r] = [result.get('hub')!, result.get('raw')!];
    const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    const names = [...new Set([...h.keys(), ...r.keys()])].sort((a, b) => (h.get(b) ?? 0) - (r.get(b) ?? 0) - ((h.get(a) ?? 0) - (r.get(a) ?? 0)));
    console.log(`\nsamples at 999 Hz over the same number of tells    hub    raw   hub - raw`);
    for (const n of names) console.log(`${n.padEnd(48)} ${String(h.get(n) ?? 0).padStart(6)} ${String(r.get(n) ?? 0).padStart(6)} ${String((h.get(n) ?? 0) - (r.get(n) ?? 0)).padStart(10)}`);
    console.log(`${'total'.padEnd(48)} ${String(total(h)).padStart(6)} ${String(total(r)).padStart(6)} ${String(total(h) - total(r)).padStart(10)}`);
  } finally {
    for (const s of started) await s.stop().catch(() => undefined);
    if (keep < 0) rmSync(dir, { recursive: true, force: true });
  }
};

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
