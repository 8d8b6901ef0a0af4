/**
 * `npx tsx bench/profile.ts`: a V8 CPU profile of the hub's Durable Object
 * while it routes tells (or refuses a flood), taken through wrangler's
 * DevTools inspector port with `Profiler.start` / `Profiler.stop`. Writes the
 * `.cpuprofile` (open it in Chrome DevTools → Performance, or speedscope) and
 * prints self time by function and by area. See bench/README.md, "Profiling".
 *
 *   npx tsx bench/profile.ts                      # 10 pairs x 2000 tells, limits raised
 *   npx tsx bench/profile.ts --refusals           # one session floods with the shipped limits
 *   npx tsx bench/profile.ts --out /tmp/x.cpuprofile --pairs 5 --messages 4000
 *   npx tsx bench/profile.ts --baseline          # the raw object under the same tell stream (`to:` frames)
 *   npx tsx bench/profile.ts --broadcast 1000     # 20 broadcasts to 1000 sessions, one after another (with --baseline: `fan:`)
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { startDevServer } from '../harness/net/dev-server';
import { WsTestClient } from '../harness/net/ws-client';
import { buildRequest } from '../src/protocol/build';
import { RAISED_LIMITS } from './options';
import { baselineBody } from './targets';
import { cpuMs, findWorkerd } from './processes';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
const refusals = process.argv.includes('--refusals');
/** Recipients of each broadcast (0: the tell stream). */
const broadcast = Number(arg('--broadcast', '0'));
/** The raw object instead of the hub, so that a function's share can be read beside the runtime's floor. */
const baseline = process.argv.includes('--baseline');
const pairs = broadcast > 0 ? 1 : Number(arg('--pairs', refusals ? '1' : '10'));
const messages = Number(arg('--messages', refusals ? '20000' : broadcast > 0 ? '20' : '2000'));
const what = refusals ? 'refusals' : broadcast > 0 ? `broadcast-${broadcast}` : 'tell';
const out = arg('--out', `/tmp/signal-hub-${baseline ? 'baseline-' : ''}${what}.cpuprofile`);

/** Profiler.setSamplingInterval, in microseconds. */
const SAMPLING_US = 100;

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** A tiny DevTools protocol client over the inspector's WebSocket. */
const devtools = async (port: number) => {
  const list = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as { webSocketDebuggerUrl: string; title?: string }[];
  const target = list.find((t) => t.webSocketDebuggerUrl) ?? list[0];
  if (!target) throw new Error(`no inspector target on port ${port}`);
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((done, fail) => ws.once('open', done).once('error', fail));
  let next = 0;
  const waiting = new Map<number, (r: unknown) => void>();
  const scripts: { scriptId: string; url: string }[] = [];
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: unknown; method?: string; params?: any };
    if (msg.method === 'Debugger.scriptParsed') scripts.push({ scriptId: msg.params.scriptId, url: msg.params.url });
    if (msg.id !== undefined) waiting.get(msg.id)?.(msg.error ? Promise.reject(new Error(JSON.stringify(msg.error))) : msg.result);
  });
  const call = <T>(method: string, params: Record<string, unknown> = {}): Promise<T> =>
    new Promise<T>((done) => {
      const id = ++next;
      waiting.set(id, done as (r: unknown) => void);
      ws.send(JSON.stringify({ id, method, params }));
    });
  return { call, scripts, close: () => ws.close() };
};

/**
 * wrangler bundles the worker into one script; esbuild marks where each
 * source module starts with a `// path` comment line. Returns a function from
 * a 0-based line of the bundle to the module it belongs to.
 */
const moduleMap = (source: string): ((line: number) => string) => {
  const starts: [number, string][] = [];
  source.split('\n').forEach((text, i) => {
    const m = /^\/\/ (?:[^ ]*?\/)?((?:node_modules|src|machines|bench)\/[^ ]+\.[cm]?[jt]s)$/.exec(text);
    if (m) starts.push([i, m[1]!]);
  });
  return (line) => {
    let lo = 0;
    let hi = starts.length - 1;
    let found = '(bundle)';
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]![0] <= line) {
        found = starts[mid]![1];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
};

/** Self time per function and per area (what the README's budget table is made of). */
const summarise = (p: Profile, moduleOf: (line: number) => string) => {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  // Each sample stands for one sampling interval. Weighting by timeDeltas instead would bill a
  // gap in sampling (the isolate left alone between events) to whichever function came next:
  // that is how `alarm` and `shellCounters` once showed up with 6 % and 29 % of a flood.
  p.samples.forEach((id) => self.set(id, (self.get(id) ?? 0) + SAMPLING_US));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fns = new Map<string, number>();
  const areas = new Map<string, number>();
  const areaOf = (n: Node): string => {
    const { url, functionName } = n.callFrame;
    if (functionName === '(idle)' || functionName === '(program)' || functionName === '(garbage collector)') return functionName;
    if (url === '') return `native ${functionName || '(anonymous)'} <- ${callerOf(n)}`;
    const mod = moduleOf(n.callFrame.lineNumber);
    const pkg = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(mod);
    return pkg ? pkg[1]! : mod;
  };
  const parent = new Map<number, Node>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n);
  const callerOf = (n: Node): string => {
    const up = parent.get(n.id);
    return up ? `${up.callFrame.functionName || '(anonymous)'} (${up.callFrame.url ? moduleOf(up.callFrame.lineNumber) : 'native'})` : '?';
  };
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const name = n.callFrame.url === '' ? `${n.callFrame.functionName} (native) <- ${callerOf(n)}` : `${n.callFrame.functionName || '(anonymous)'} ${moduleOf(n.callFrame.lineNumber)}:${n.callFrame.lineNumber + 1}`;
    fns.set(name, (fns.get(name) ?? 0) + us);
    const area = areaOf(n);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const busy = total - (areas.get('(idle)') ?? 0);
  const pct = (us: number) => `${((us / busy) * 100).toFixed(1)} %`;
  console.log(`\nsampled ${(total / 1000).toFixed(0)} ms, of which ${(busy / 1000).toFixed(0)} ms not idle\n\nby area (share of non-idle time):`);
  for (const [a, us] of [...areas].filter(([a]) => a !== '(idle)').sort((x, y) => y[1] - x[1]).slice(0, 25)) console.log(`  ${pct(us).padStart(7)}  ${a}`);
  console.log('\ntop functions by self time:');
  for (const [f, us] of [...fns].sort((x, y) => y[1] - x[1]).slice(0, 30)) if (!f.startsWith('(idle)')) console.log(`  ${pct(us).padStart(7)}  ${f}`);
};

const main = async () => {
  if (baseline && refusals) throw new Error('--baseline profiles the tell stream and broadcasts only');
  if (refusals && broadcast > 0) throw new Error('--refusals and --broadcast are two different streams');
  const server = await startDevServer(baseline ? { config: 'bench/baseline/wrangler.toml' } : { vars: refusals ? {} : RAISED_LIMITS });
  try {
    const procs = findWorkerd(server.pid, Number(new URL(server.baseUrl).port));
    const room = `profile-${process.pid}`;
    const join = async (name: string) => {
      if (baseline) return { client: await WsTestClient.open(`${server.wsUrl}/ws/${room}?id=${name}`, name), address: name };
      const address = `@(bench/${room}/${name})`;
      const { client } = await WsTestClient.connected(`${server.wsUrl}/ws/${room}`, address);
      await client.ask('hub:register', { actorAddress: address, capabilities: [] });
      return { client, address };
    };
    const senders = await Promise.all(Array.from({ length: pairs }, (_, i) => join(`s${i}`)));
    // 25 connects in flight at a time, as the bench's setup does.
    const receiverCount = Math.max(pairs, broadcast);
    const receivers: Awaited<ReturnType<typeof join>>[] = [];
    for (let i = 0; i < receiverCount; i += 25) {
      receivers.push(...(await Promise.all(Array.from({ length: Math.min(25, receiverCount - i) }, (_, k) => join(`r${i + k}`)))));
    }
    let got = 0;
    const expected = refusals ? messages : broadcast > 0 ? broadcast * messages : pairs * messages;
    for (const peer of refusals ? senders : receivers) peer.client.ws.on('message', () => void got++);
    const inspector = await devtools(server.inspectorPort);
    await inspector.call('Profiler.enable');
    await inspector.call('Profiler.setSamplingInterval', { interval: SAMPLING_US });
    await inspector.call('Profiler.start');
    const cpu0 = cpuMs(procs.runtime);
    const t0 = performance.now();
    for (let m = 0; m < messages && broadcast > 0; m++) {
      const from = senders[0]!.address;
      if (baseline) senders[0]!.client.sendRaw(`fan:${baselineBody('bench.fan', from, '*', { m })}`);
      else senders[0]!.client.sendRaw(JSON.stringify(buildRequest('hub:broadcast', { type: 'bench.fan', data: { m } }, { from, pattern: 'tell' })));
      // One at a time: each broadcast reaches every recipient before the next is sent.
      const until = Date.now() + 30_000;
      while (got < broadcast * (m + 1) && Date.now() < until) await sleep(2);
    }
    for (let m = 0; m < messages && broadcast === 0; m++) {
      for (let p = 0; p < pairs; p++) {
        const to = receivers[p]!.address;
        if (baseline) senders[p]!.client.sendRaw(`to:${to}:${baselineBody('bench.tell', senders[p]!.address, to, { m })}`);
        else senders[p]!.client.sendRaw(JSON.stringify(buildRequest('hub:send', { to, type: 'bench.tell', data: { m } }, { from: senders[p]!.address, pattern: 'tell' })));
      }
      // Leave the client room to read replies; a refusal flood answers every frame.
      if (m % 200 === 199) await sleep(1);
    }
    const deadline = Date.now() + 60_000;
    while (got < expected && Date.now() < deadline) await sleep(20);
    const wall = performance.now() - t0;
    const cpu = cpuMs(procs.runtime) - cpu0;
    const { profile } = await inspector.call<{ profile: Profile }>('Profiler.stop');
    await inspector.call('Debugger.enable');
    await sleep(500);
    const bundle = inspector.scripts.find((sc) => /index\.js$/.test(sc.url)) ?? inspector.scripts.at(-1);
    const source = bundle ? (await inspector.call<{ scriptSource: string }>('Debugger.getScriptSource', { scriptId: bundle.scriptId })).scriptSource : '';
    inspector.close();
    writeFileSync(out, JSON.stringify(profile));
    writeFileSync(out.replace(/\.cpuprofile$/, '') + '.bundle.js', source);
    const stream = refusals ? 'refusal flood' : broadcast > 0 ? `${messages} broadcasts to ${broadcast}` : `${pairs} pairs x ${messages} tells`;
    console.log(`${baseline ? 'raw object, ' : ''}${stream}: ${got} of ${expected} frames back in ${wall.toFixed(0)} ms; runtime CPU ${cpu.toFixed(0)} ms = ${((cpu * 1000) / Math.max(1, got)).toFixed(1)} us per frame (profiler on, so above the bench figure)`);
    console.log(`profile written to ${out}`);
    summarise(profile, moduleMap(source));
    for (const p of [...senders, ...receivers]) p.client.terminate();
  } finally {
    await server.stop();
  }
};

main().catch((err) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
