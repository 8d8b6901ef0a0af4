/**
 * `npm run bench`: the hub next to a raw baseline worker, both under
 * `wrangler dev` on 127.0.0.1, driven by `ws` clients from this process.
 * See bench/README.md for what each scenario measures and how to read it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { startDevServer, type DevServer, type DevServerOptions } from '../test/e2e/support/dev-server';
import { WsTestClient, type Frame } from '../test/e2e/support/ws-client';
import { buildRequest } from '../src/protocol/build';
import { HUB_ADDRESS } from '../src/protocol/envelope';
import { ASKERS, ASK_EVERY_MS, ASK_TIMEOUT_MS, fairnessRun } from './fairness';
import { refusalRuns } from './refusal';

const ROOT = resolve(import.meta.dirname, '..');
const BASELINE_CONFIG = 'bench/baseline/wrangler.toml';

/**
 * The only [vars] the bench changes. With the shipped 10 frames/s per session
 * a single sender could not produce a measurable stream; everything else
 * (batch size, queue thresholds, timeouts) keeps its shipped value.
 */
export const RAISED_LIMITS = { RATE_LIMIT_PER_SECOND: 1_000_000, RATE_LIMIT_BURST: 1_000_000 } as const;

/** In run order: memory on fresh processes, then fan-out, which can reuse the memory room while it is young. */
export const SCENARIOS = ['memory', 'broadcast', 'publish', 'connect', 'tell', 'ask', 'fairness', 'refusal', 'framecost'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface Options {
  smoke: boolean;
  json: boolean;
  save: boolean;
  repeat: number;
  sessions: number;
  concurrency: number;
  pairs: number;
  messages: number;
  asks: number;
  fanout: number[];
  idle: number;
  frames: number;
  floodSeconds: number;
  only: ScenarioName[];
  hubVars: Record<string, string>;
  maxSeconds: number;
}

const DEFAULTS: Options = {
  smoke: false,
  json: false,
  save: false,
  repeat: 3,
  sessions: 200,
  concurrency: 25,
  pairs: 10,
  messages: 100,
  asks: 200,
  fanout: [100, 1000],
  idle: 1000,
  frames: 400,
  floodSeconds: 5,
  only: [...SCENARIOS],
  hubVars: {},
  maxSeconds: 600,
};

/** Tiny sizes: every code path of the bench in well under a minute. */
const SMOKE: Partial<Options> = {
  repeat: 1,
  sessions: 4,
  concurrency: 4,
  pairs: 2,
  messages: 20,
  asks: 20,
  fanout: [10],
  idle: 10,
  frames: 20,
  floodSeconds: 1,
  maxSeconds: 120,
};

const USAGE = `usage: tsx bench/run.ts [options]
  --smoke               tiny sizes, one run each (the test suite runs this)
  --json                print only the JSON line on stdout (the table goes to stderr)
  --save                also write bench/results/<date>.json
  --repeat R            runs per scenario, medians reported (default 3; memory always 1)
  --sessions N          connect+register: sessions per run (default 200)
  --concurrency C       connect+register: handshakes in flight (default 25)
  --pairs P             tell: sender/receiver pairs (default 10)
  --messages M          tell: messages per pair (default 100)
  --asks K              ask: sequential round trips per run (default 200)
  --fanout A,B,...      broadcast and publish recipient counts (default 100,1000; add 5000 if you like)
  --idle N              memory: idle sessions opened (default 1000; reported per 1000)
  --frames F            framecost: frames per probe (default 400)
  --flood-seconds S     fairness: how long the flood runs while the askers ask (default 5)
  --only a,b,...        scenarios to run: ${SCENARIOS.join(', ')}
  --hub-var KEY=VALUE   extra [vars] override for the hub (repeatable), e.g. BROADCAST_SYNC_THRESHOLD=1000
  --max-seconds S       hard cap on the whole run (default 600); everything is stopped when it passes`;

const positiveInt = (flag: string, value: string | undefined): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive integer, got ${value}`);
  return n;
};

export const parseArgs = (argv: string[]): Options => {
  const smoke = argv.includes('--smoke');
  const opts: Options = { ...DEFAULTS, ...(smoke ? SMOKE : {}), smoke, hubVars: {} };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--smoke':
        break;
      case '--json':
        opts.json = true;
        break;
      case '--save':
        opts.save = true;
        break;
      case '--repeat':
        opts.repeat = positiveInt(flag, value());
        break;
      case '--sessions':
        opts.sessions = positiveInt(flag, value());
        break;
      case '--concurrency':
        opts.concurrency = positiveInt(flag, value());
        break;
      case '--pairs':
        opts.pairs = positiveInt(flag, value());
        break;
      case '--messages':
        opts.messages = positiveInt(flag, value());
        break;
      case '--asks':
        opts.asks = positiveInt(flag, value());
        break;
      case '--fanout':
        opts.fanout = value()
          .split(',')
          .map((s) => positiveInt(flag, s.trim()));
        break;
      case '--idle':
        opts.idle = positiveInt(flag, value());
        break;
      case '--frames':
        opts.frames = positiveInt(flag, value());
        break;
      case '--flood-seconds':
        opts.floodSeconds = positiveInt(flag, value());
        break;
      case '--max-seconds':
        opts.maxSeconds = positiveInt(flag, value());
        break;
      case '--only': {
        const names = value().split(',').map((s) => s.trim());
        for (const n of names) if (!(SCENARIOS as readonly string[]).includes(n)) throw new Error(`unknown scenario ${n}`);
        opts.only = names as ScenarioName[];
        break;
      }
      case '--hub-var': {
        const v = value();
        const eq = v.indexOf('=');
        if (eq < 1) throw new Error(`--hub-var needs KEY=VALUE, got ${v}`);
        opts.hubVars[v.slice(0, eq)] = v.slice(eq + 1);
        break;
      }
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${flag}\n${USAGE}`);
    }
  }
  return opts;
};

// ------------------------------------------------------------------ report types

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

interface Machine {
  nproc: number;
  cpu: string;
  memoryMiB: number;
  node: string;
  wrangler: string;
  loadAverage1m: number;
  /** Load at the end: other work on the machine skews every figure, so both ends are recorded. */
  loadAverage1mAtEnd?: number;
}

// ------------------------------------------------------------------ small helpers

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};

const machineInfo = (): Machine => {
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

const sourceInfo = (): Report['source'] => {
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

// ------------------------------------------------------------------ workerd processes

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
}

const readProc = (pid: number): ProcInfo | null => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    return { pid, ppid: Number(fields[1]), comm };
  } catch {
    return null;
  }
};

/**
 * The two workerd processes wrangler starts: `runtime` runs the worker and
 * its Durable Objects; `proxy` is wrangler's proxy worker, which owns the
 * public port and forwards every request and frame to the runtime.
 */
interface Workerd {
  runtime: number;
  proxy: number | null;
}

export const findWorkerd = (leader: number, publicPort: number): Workerd => {
  const all = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map((d) => readProc(Number(d)))
    .filter((p): p is ProcInfo => p !== null);
  const descendants = new Set<number>([leader]);
  // The tree is shallow (wrangler shim, wrangler, workerd); a few passes find every level.
  for (let pass = 0; pass < 6; pass++) for (const p of all) if (descendants.has(p.ppid)) descendants.add(p.pid);
  const workerds = all.filter((p) => descendants.has(p.pid) && p.comm === 'workerd').map((p) => p.pid);
  let runtime: number | null = null;
  let proxy: number | null = null;
  for (const pid of workerds) {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (cmdline.includes(`=127.0.0.1:${publicPort}`)) proxy = pid;
    else runtime = pid;
  }
  if (runtime === null) throw new Error(`no workerd runtime process found under pid ${leader}`);
  return { runtime, proxy };
};

/** User plus system CPU time of a process (all threads), in ms. */
const readProcFile = (pid: number, file: string): string => {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    throw new Error(`workerd process ${pid} is gone (crashed or restarted by wrangler)`);
  }
};

export const cpuMs = (pid: number | null): number => {
  if (pid === null) return 0;
  const stat = readProcFile(pid, 'stat');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
};

/**
 * wrangler's proxy holds about six file descriptors per open WebSocket
 * (measured with wrangler 4.86), so its open-files limit, not the hub,
 * caps how many sessions one `wrangler dev` can carry: about 3 300 under a
 * limit of 20 000. Past it the proxy stops accepting connections.
 */
const PROXY_FDS_PER_SOCKET = 6;

/** How many more WebSockets the proxy can take before it runs out of file descriptors; null if unknown. */
const socketHeadroom = (procs: Workerd): number | null => {
  if (procs.proxy === null) return null;
  try {
    const limit = /Max open files\s+(\d+)/.exec(readProcFile(procs.proxy, 'limits'))?.[1];
    if (!limit) return null;
    const used = readdirSync(`/proc/${procs.proxy}/fd`).length;
    return Math.floor((Number(limit) - used - 100) / PROXY_FDS_PER_SOCKET);
  } catch {
    return null;
  }
};

const rssMiB = (pid: number | null): number => {
  if (pid === null) return 0;
  const line = readProcFile(pid, 'status')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return line ? Number(line.replace(/\D+/g, '')) / 1024 : 0;
};

// ------------------------------------------------------------------ targets

/** One connected client of either target, with its address on that target. */
interface Peer {
  client: WsTestClient;
  /** Hub: the registered address; baseline: the socket tag. */
  address: string;
}

/**
 * A body shaped and sized like the hub's own frames, so the baseline moves
 * the same bytes as the hub; only the protocol work differs.
 */
const baselineBody = (type: string, from: string, to: string, data: unknown): string =>
  JSON.stringify(
    buildRequest('hub:send', { to, type, data }, { from, pattern: 'tell', metadata: {} }),
  );

interface Target {
  readonly side: Side;
  readonly server: DevServer;
  readonly procs: Workerd;
  /** A session ready to use: hub = connected and registered; baseline = open plus two echo round trips. */
  join(room: string, name: string): Promise<Peer>;
  /** One-way message from `from` to `to`. */
  tell(from: Peer, to: Peer, type: string, data: unknown, ask?: boolean): void;
  /** Hub: subscribe to the bench topic; baseline: nothing to do. */
  subscribe(peer: Peer): Promise<void>;
  /** Sender reaches every other session of the room. */
  fan(from: Peer, kind: 'broadcast' | 'publish', type: string, data: unknown): void;
}

const TOPIC = 'bench/topic';
/** The hub's runtime answers exactly this text itself; the baseline ignores it. */
const PING = '{"type":"ping"}';

const addressOf = (room: string, name: string) => `@(bench/${room}/${name})`;

const hubTarget = (server: DevServer, procs: Workerd): Target => ({
  side: 'hub',
  server,
  procs,
  async join(room, name) {
    const address = addressOf(room, name);
    const { client } = await WsTestClient.connected(`${server.wsUrl}/ws/${room}`, address);
    const reply = await client.ask('hub:register', { actorAddress: address, capabilities: [] });
    if (reply.type !== 'hub:registered') throw new Error(`hub:register failed: ${JSON.stringify(reply).slice(0, 300)}`);
    return { client, address };
  },
  tell(from, to, type, data, ask = false) {
    from.client.request('hub:send', { to: to.address, type, data }, { pattern: ask ? 'ask' : 'tell' });
  },
  async subscribe(peer) {
    const reply = await peer.client.ask('hub:subscribe', { topic: TOPIC });
    if (reply.type !== 'hub:subscribed') throw new Error(`hub:subscribe failed: ${JSON.stringify(reply).slice(0, 300)}`);
  },
  fan(from, kind, type, data) {
    if (kind === 'broadcast') from.client.request('hub:broadcast', { type, data, excludeSelf: true }, { pattern: 'tell' });
    else from.client.request('hub:publish', { topic: TOPIC, type, data }, { pattern: 'tell' });
  },
});

const baselineTarget = (server: DevServer, procs: Workerd): Target => ({
  side: 'baseline',
  server,
  procs,
  async join(room, name) {
    const client = await WsTestClient.open(`${server.wsUrl}/ws/${room}?id=${encodeURIComponent(name)}`, name);
    // Two round trips, as the hub's connect and register.
    for (const step of ['connect', 'register']) {
      client.sendRaw(`echo:${baselineBody(`bench.${step}`, addressOf(room, name), HUB_ADDRESS, null)}`);
      await client.next((f) => f.type === 'hub:send');
    }
    return { client, address: name };
  },
  tell(from, to, type, data) {
    from.client.sendRaw(`to:${to.address}:${baselineBody(type, from.address, to.address, data)}`);
  },
  async subscribe() {
    // Every socket of a baseline room receives fan-out; there is nothing to subscribe to.
  },
  fan(from, _kind, type, data) {
    from.client.sendRaw(`fan:${baselineBody(type, from.address, HUB_ADDRESS, data)}`);
  },
});

/** Forgets what WsTestClient queued, so long streams do not pile up in memory. */
const drop = (peer: Peer) => {
  peer.client.pending.length = 0;
  peer.client.events.length = 0;
};

/** Runs `jobs` with at most `limit` in flight; collects failures instead of throwing. */
const pool = async <T>(count: number, limit: number, job: (i: number) => Promise<T>) => {
  const results: T[] = [];
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      try {
        results.push(await job(i));
      } catch (err) {
        failures.push(err instanceof Error ? err.message : String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return { results, failures };
};

/** Closes peers politely and waits (bounded) until the servers have seen the closes. */
const leave = async (peers: Peer[], timeoutMs = 15_000) => {
  for (const p of peers) p.client.close(1000, 'bench done');
  const deadline = Date.now() + timeoutMs;
  await Promise.all(
    peers.map((p) => p.client.waitClosed(Math.max(1, deadline - Date.now())).catch(() => p.client.terminate())),
  );
};

/** Counts frames whose text contains `marker` on each peer; remembers when the last one came. */
const counter = (peers: Peer[], marker: string) => {
  const state = { count: 0, last: 0 };
  const listener = (data: unknown) => {
    const text = Buffer.isBuffer(data) ? data.toString('utf8') : String(data);
    if (text.includes(marker)) {
      state.count++;
      state.last = performance.now();
    }
  };
  for (const p of peers) p.client.ws.on('message', listener);
  return {
    state,
    stop: () => {
      for (const p of peers) p.client.ws.off('message', listener);
    },
  };
};

const waitUntil = async (probe: () => boolean, timeoutMs: number): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) return false;
    await sleep(2);
  }
  return true;
};

/** Sessions that are only set up, not measured, connect with more in flight. */
const setupConcurrency = (o: Options) => Math.max(o.concurrency, 50);

/**
 * Waits (bounded) until the runtime is idle: closes and releases of the
 * previous run are still being processed after the client saw its close, and
 * they would be billed to the next measurement otherwise.
 */
const quiesce = async (t: Target, capMs = 10_000) => {
  const deadline = Date.now() + capMs;
  let last = cpuMs(t.procs.runtime);
  while (Date.now() < deadline) {
    await sleep(250);
    const now = cpuMs(t.procs.runtime);
    if (now - last <= 10) return;
    last = now;
  }
};

let roomCounter = 0;
const room = (scenario: string) => `bench-${scenario}-${process.pid}-${++roomCounter}`;

// ------------------------------------------------------------------ scenarios

type Runs = Record<string, number>;

/** connect+register N sessions: rate and failures. */
const connectRun = async (t: Target, o: Options): Promise<Runs> => {
  const r = room('connect');
  const t0 = performance.now();
  const { results, failures } = await pool(o.sessions, o.concurrency, (i) => t.join(r, `s${i}`));
  const elapsed = (performance.now() - t0) / 1000;
  await leave(results);
  return { rate: results.length / elapsed, failures: failures.length };
};

/** P pairs; each sender streams M tells to its receiver at once. */
const tellRun = async (t: Target, o: Options): Promise<Runs> => {
  const r = room('tell');
  const { results: peers, failures } = await pool(o.pairs * 2, setupConcurrency(o), (i) => t.join(r, `p${i}`));
  if (failures.length > 0) {
    await leave(peers);
    throw new Error(`tell setup: ${failures.length} sessions failed to connect: ${failures[0]}`);
  }
  const senders = peers.slice(0, o.pairs);
  const receivers = peers.slice(o.pairs);
  const seen = counter(receivers, 'bench.tell');
  const total = o.pairs * o.messages;
  const cpu0 = cpuMs(t.procs.runtime);
  const t0 = performance.now();
  for (let m = 0; m < o.messages; m++) {
    for (let p = 0; p < o.pairs; p++) t.tell(senders[p]!, receivers[p]!, 'bench.tell', { m });
  }
  // Generous: the cap only bounds a run whose deliveries stopped.
  await waitUntil(() => seen.state.count >= total, 20_000 + total * 20);
  const elapsed = ((seen.state.last || performance.now()) - t0) / 1000;
  const cpu = cpuMs(t.procs.runtime) - cpu0;
  seen.stop();
  const delivered = seen.state.count;
  peers.forEach(drop);
  await leave(peers);
  return {
    throughput: delivered / elapsed,
    lossPct: ((total - Math.min(delivered, total)) / total) * 100,
    cpuUsPerMsg: (cpu * 1000) / Math.max(1, delivered),
  };
};

/**
 * The application message inside a frame: the hub forwards it as its own
 * envelope, the baseline hands over the sender's hub:send-shaped body as is.
 */
const appMessage = (side: Side, f: Frame): { type: unknown; data: any } =>
  side === 'hub' ? { type: f.type, data: f.payload } : { type: f.payload?.type, data: f.payload?.data };

/** A asks B and B answers; K sequential round trips after a short warm-up. */
const askRun = async (t: Target, o: Options): Promise<Runs> => {
  const r = room('ask');
  const a = await t.join(r, 'a');
  const b = await t.join(r, 'b');
  const warmup = Math.min(10, o.asks);
  const samples: number[] = [];
  let answering = true;
  // B answers every question it gets until the measure is over.
  const answerer = (async () => {
    while (answering) {
      let q: Frame;
      try {
        q = await b.client.next((f) => appMessage(t.side, f).type === 'bench.ask', 500);
      } catch {
        continue;
      }
      t.tell(b, a, 'bench.answer', appMessage(t.side, q).data);
    }
  })();
  try {
    for (let k = 0; k < warmup + o.asks; k++) {
      const t0 = performance.now();
      t.tell(a, b, 'bench.ask', { k }, true);
      await a.client.next((f) => {
        const m = appMessage(t.side, f);
        return m.type === 'bench.answer' && m.data?.k === k;
      }, 10_000);
      if (k >= warmup) samples.push(performance.now() - t0);
      // Delivery acks and anything else A got are not part of the measure.
      a.client.pending.length = 0;
      a.client.events.length = 0;
    }
  } finally {
    answering = false;
    await answerer;
    await leave([a, b]);
  }
  return { p50: percentile(samples, 50), p95: percentile(samples, 95), p99: percentile(samples, 99) };
};

/** A set of connected sessions in one hub (or baseline object): recipients plus one sender. */
interface Room {
  sender: Peer;
  recipients: Peer[];
}

/**
 * Connects `size` recipients and a sender. The sender joins first, so the
 * object already exists when the recipients are counted.
 */
const openRoom = async (t: Target, o: Options, label: string, size: number, beforeRecipients?: () => Promise<void>): Promise<Room> => {
  const headroom = socketHeadroom(t.procs);
  if (headroom !== null && size + 1 > headroom) {
    throw new Error(
      `${t.side} ${label}: ${size} sessions would exhaust wrangler's proxy (about ${PROXY_FDS_PER_SOCKET} file descriptors per WebSocket, room for about ${headroom} more); raise the open-files limit (ulimit -n) or use a smaller size`,
    );
  }
  const r = room(label);
  const sender = await t.join(r, 'sender');
  await beforeRecipients?.();
  const joined: Peer[] = [sender];
  // Connecting thousands of sessions can outlast the hub's heartbeat timeout
  // (60 s); runtime-answered pings keep the early ones alive meanwhile.
  const keepAlive = setInterval(() => {
    for (const p of joined) if (!p.client.closed) p.client.sendRaw(PING);
  }, 15_000);
  let outcome: Awaited<ReturnType<typeof pool<Peer>>>;
  try {
    outcome = await pool(size, setupConcurrency(o), async (i) => {
      const peer = await t.join(r, `r${i}`);
      joined.push(peer);
      return peer;
    });
  } finally {
    clearInterval(keepAlive);
  }
  const { results, failures } = outcome;
  drop(sender);
  results.forEach(drop);
  if (failures.length > 0) {
    await leave([sender, ...results], 30_000);
    throw new Error(`${t.side} ${label}: ${failures.length} of ${size} sessions failed to connect: ${failures[0]}`);
  }
  return { sender, recipients: results };
};

const closeRoom = (room: Room) => leave([room.sender, ...room.recipients], 30_000);

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
  const out: Record<'broadcast' | 'publish', Runs[]> = { broadcast: [], publish: [] };
  for (const kind of kinds) {
    for (let i = 0; i < o.repeat; i++) {
      await quiesce(t);
      const marker = `bench.${kind}.${i}`;
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
      out[kind].push({ lastMs: seen.state.last - t0, cpuMs: cpu, lossPct: ((size - seen.state.count) / size) * 100 });
    }
  }
  return out;
};

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

interface Probe {
  name: string;
  frame: (peer: Peer, i: number) => string;
}

const HUB_PROBES: Probe[] = [
  { name: 'ping (runtime auto-response, no hub code)', frame: () => PING },
  {
    name: 'hub:heartbeat (ask)',
    frame: (peer) => JSON.stringify(buildRequest('hub:heartbeat', null, { from: peer.address })),
  },
  {
    name: 'hub:discover (ask, read-only, no match)',
    frame: (peer) => JSON.stringify(buildRequest('hub:discover', { pattern: 'nobody/*' }, { from: peer.address })),
  },
];

const BASELINE_PROBES: Probe[] = [
  { name: 'echo', frame: (peer) => `echo:${baselineBody('bench.probe', peer.address, HUB_ADDRESS, null)}` },
  { name: 'echo + 1 SQLite row write', frame: (peer) => `store:${baselineBody('bench.probe', peer.address, HUB_ADDRESS, null)}` },
  { name: 'echo + serializeAttachment', frame: (peer) => `attach:${baselineBody('bench.probe', peer.address, HUB_ADDRESS, null)}` },
];

/** Median round trip of `count` frames sent one at a time, each after the previous reply, in ms. */
const sequentialRtt = async (peer: Peer, probe: Probe, count: number): Promise<number> => {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const replied = new Promise<void>((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`no reply to ${probe.name} within 10 s`)), 10_000);
      peer.client.ws.once('message', () => {
        clearTimeout(timer);
        done();
      });
    });
    const t0 = performance.now();
    peer.client.sendRaw(probe.frame(peer, i));
    await replied;
    samples.push(performance.now() - t0);
  }
  drop(peer);
  return median(samples) ?? 0;
};

/** F frames of one kind pipelined on one socket: wall and CPU cost per frame, then a sequential round trip. */
const frameCost = async (t: Target, o: Options): Promise<FrameCost[]> => {
  const r = room('framecost');
  const peer = await t.join(r, 'probe');
  const out: FrameCost[] = [];
  try {
    for (const probe of t.side === 'hub' ? HUB_PROBES : BASELINE_PROBES) {
      for (const [count, measured] of [
        [Math.min(50, o.frames), false],
        [o.frames, true],
      ] as const) {
        let got = 0;
        const listener = () => void got++;
        peer.client.ws.on('message', listener);
        const frames = Array.from({ length: count }, (_, i) => probe.frame(peer, i));
        const cpu0 = { runtime: cpuMs(t.procs.runtime), proxy: cpuMs(t.procs.proxy), client: process.cpuUsage() };
        const t0 = performance.now();
        for (const f of frames) peer.client.sendRaw(f);
        const ok = await waitUntil(() => got >= count, 20_000 + count * 50);
        const wall = performance.now() - t0;
        const client = process.cpuUsage(cpu0.client);
        const runtime = cpuMs(t.procs.runtime) - cpu0.runtime;
        const proxy = cpuMs(t.procs.proxy) - cpu0.proxy;
        peer.client.ws.off('message', listener);
        drop(peer);
        if (!ok) throw new Error(`framecost ${probe.name}: ${got} of ${count} replies`);
        if (measured) {
          out.push({
            side: t.side,
            probe: probe.name,
            frames: count,
            wallUsPerFrame: (wall * 1000) / count,
            runtimeCpuUsPerFrame: (runtime * 1000) / count,
            proxyCpuUsPerFrame: (proxy * 1000) / count,
            clientCpuUsPerFrame: (client.user + client.system) / count,
            rttP50Us: (await sequentialRtt(peer, probe, Math.min(100, count))) * 1000,
          });
        }
      }
    }
  } finally {
    await leave([peer]);
  }
  return out;
};

// ------------------------------------------------------------------ orchestration

interface MetricSpec {
  key: string;
  metric: string;
  unit: string;
  better: 'higher' | 'lower';
}

const collect = (
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

/** Alternates hub and baseline run by run, so drift in machine load hits both alike. */
const alternate = async (targets: Target[], repeat: number, run: (t: Target) => Promise<Runs>): Promise<Record<Side, Runs[]>> => {
  const out: Record<Side, Runs[]> = { hub: [], baseline: [] };
  for (let i = 0; i < repeat; i++) {
    for (const t of targets) {
      await quiesce(t);
      out[t.side].push(await run(t));
    }
  }
  return out;
};

/**
 * `kept`: rooms a scenario left open for a later one (the memory room, for
 * the fan-out of the same size); whatever is still in it at the end is closed.
 */
const runScenario = async (
  name: ScenarioName,
  targets: Target[],
  o: Options,
  report: Report,
  kept: Map<Side, Room>,
  shipped?: DevServer,
): Promise<void> => {
  switch (name) {
    case 'fairness': {
      // The hub twice, limits raised and shipped, and the baseline under the same flood, alternating.
      const raised: Record<Side, Runs[]> = { hub: [], baseline: [] };
      const limited: Record<Side, Runs[]> = { hub: [], baseline: [] };
      for (let i = 0; i < o.repeat; i++) {
        for (const t of targets) {
          await quiesce(t);
          const run = await fairnessRun(t.side, t.server, room('fair'), o.floodSeconds);
          raised[t.side].push({ ...run } as unknown as Runs);
          if (t.side === 'baseline') limited.baseline.push({ ...run } as unknown as Runs);
        }
        if (shipped) limited.hub.push({ ...(await fairnessRun('hub', shipped, room('fairship'), o.floodSeconds)) } as unknown as Runs);
      }
      const specs: MetricSpec[] = [
        { key: 'p50', metric: 'askers p50 ms', unit: 'ms', better: 'lower' },
        { key: 'p99', metric: 'askers p99 ms', unit: 'ms', better: 'lower' },
        { key: 'served', metric: `asks served (of ~${Math.round((o.floodSeconds * 1000 * ASKERS) / ASK_EVERY_MS)}, ${ASK_TIMEOUT_MS} ms cap)`, unit: 'count', better: 'higher' },
        { key: 'floodRate', metric: 'flood frames/s written by the client', unit: '1/s', better: 'higher' },
      ];
      const label = (what: string) => `fairness, 1 flooder + ${ASKERS} askers every ${ASK_EVERY_MS} ms, ${what}`;
      report.metrics.push(...collect(name, label('limits raised'), specs, raised));
      if (shipped) report.metrics.push(...collect(name, label('hub with shipped limits'), specs, limited));
      return;
    }
    case 'refusal': {
      // The hub with its shipped limits (refusing) against the baseline echoing the same flood; see refusal.ts.
      if (!shipped) return;
      const base = targets.find((t) => t.side === 'baseline')!;
      const hubCpu = findWorkerd(shipped.pid, Number(new URL(shipped.baseUrl).port)).runtime;
      const seconds = Math.min(3, o.floodSeconds);
      const sides = { hub: { server: shipped, cpu: () => cpuMs(hubCpu) }, baseline: { server: base.server, cpu: () => cpuMs(base.procs.runtime) } };
      const runs = (await refusalRuns(sides, o.repeat, seconds, () => room('refuse'))) as unknown as Record<Side, Runs[]>;
      report.metrics.push(
        ...collect(name, `refusal, one session floods an empty bucket for ${seconds} s (baseline: echoes)`, [
          { key: 'cpuUsPerFrame', metric: 'runtime CPU us per refused frame', unit: 'us', better: 'lower' },
          { key: 'answered', metric: 'frames answered', unit: 'count', better: 'higher' },
        ], runs),
      );
      return;
    }
    case 'connect': {
      const runs = await alternate(targets, o.repeat, (t) => connectRun(t, o));
      report.metrics.push(
        ...collect(name, `connect+register (N=${o.sessions}, ${o.concurrency} in flight)`, [
          { key: 'rate', metric: 'sessions/s', unit: '1/s', better: 'higher' },
          { key: 'failures', metric: 'failures', unit: 'count', better: 'lower' },
        ], runs),
      );
      return;
    }
    case 'tell': {
      const runs = await alternate(targets, o.repeat, (t) => tellRun(t, o));
      report.metrics.push(
        ...collect(name, `tell, ${o.pairs} pairs x ${o.messages} msgs`, [
          { key: 'throughput', metric: 'delivered msgs/s', unit: '1/s', better: 'higher' },
          { key: 'lossPct', metric: 'loss %', unit: '%', better: 'lower' },
          { key: 'cpuUsPerMsg', metric: 'runtime CPU us/msg', unit: 'us', better: 'lower' },
        ], runs),
      );
      return;
    }
    case 'ask': {
      const runs = await alternate(targets, o.repeat, (t) => askRun(t, o));
      report.metrics.push(
        ...collect(name, `ask A->B->A, ${o.asks} sequential`, [
          { key: 'p50', metric: 'p50 ms', unit: 'ms', better: 'lower' },
          { key: 'p95', metric: 'p95 ms', unit: 'ms', better: 'lower' },
          { key: 'p99', metric: 'p99 ms', unit: 'ms', better: 'lower' },
        ], runs),
      );
      return;
    }
    case 'broadcast':
    case 'publish': {
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
      return;
    }
    case 'memory': {
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
      return;
    }
    case 'framecost': {
      for (const t of targets) {
        await quiesce(t);
        report.frameCost.push(...(await frameCost(t, o)));
      }
      return;
    }
  }
};

// ------------------------------------------------------------------ output

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
  lines.push(`Signal Hub bench, ${report.date}, mode ${report.mode}, medians of ${report.options.repeat} run(s) (memory: 1)`);
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

const saveReport = (report: Report): string => {
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const day = report.date.slice(0, 10);
  let file = join(dir, `${day}.json`);
  for (let n = 2; existsSync(file); n++) file = join(dir, `${day}-${n}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
};

// ------------------------------------------------------------------ main

/**
 * A free port is only free until someone binds it: other test runs on the
 * machine (and wrangler's own helper ports) can take it between the probe
 * and wrangler's bind. Such a start is simply retried on new ports.
 */
const startWithRetry = async (options: DevServerOptions, attempts = 3): Promise<DevServer> => {
  for (let i = 1; ; i++) {
    try {
      return await startDevServer(options);
    } catch (err) {
      if (i >= attempts || !String((err as Error).message).includes('Address already in use')) throw err;
    }
  }
};

/**
 * Runs the bench and returns its report. Both servers are stopped before it
 * returns or throws; a run that passes `maxSeconds` is stopped as well.
 */
export const runBench = async (o: Options, log: (line: string) => void = (l) => console.error(l)): Promise<Report> => {
  const started = performance.now();
  const hubVars = { ...RAISED_LIMITS, ...o.hubVars };
  const servers: DevServer[] = [];
  const stopAll = () => Promise.allSettled(servers.splice(0).map((s) => s.stop()));
  const onSignal = (signal: NodeJS.Signals) => {
    void stopAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let watchdog: NodeJS.Timeout | undefined;
  const overtime = new Promise<never>((_, fail) => {
    watchdog = setTimeout(() => fail(new Error(`bench passed --max-seconds ${o.maxSeconds}`)), o.maxSeconds * 1000);
  });
  const report: Report = {
    bench: 'signal-hub',
    date: new Date().toISOString(),
    mode: o.smoke ? 'smoke' : isDefault(o) ? 'default' : 'custom',
    machine: machineInfo(),
    source: sourceInfo(),
    hubVars,
    options: {
      repeat: o.repeat,
      sessions: o.sessions,
      concurrency: o.concurrency,
      pairs: o.pairs,
      messages: o.messages,
      asks: o.asks,
      fanout: o.fanout,
      idle: o.idle,
      frames: o.frames,
      floodSeconds: o.floodSeconds,
      only: o.only,
      maxSeconds: o.maxSeconds,
    },
    metrics: [],
    frameCost: [],
    errors: [],
    processGroups: [],
    durationMs: 0,
  };
  const body = async () => {
    log('starting the hub and the baseline under wrangler dev ...');
    // One after the other: the second server's ports are then picked while the
    // first one holds its own, so the two can never be handed the same port.
    try {
      servers.push(await startWithRetry({ vars: hubVars }));
      servers.push(await startWithRetry({ config: BASELINE_CONFIG }));
    } finally {
      report.processGroups = servers.map((s) => s.pid);
    }
    const [hubServer, baseServer] = servers as [DevServer, DevServer];
    // Fairness and refusal also run the hub with its shipped rate limits, where the flood is refused.
    let shippedServer: DevServer | undefined;
    if (o.only.includes('fairness') || o.only.includes('refusal')) {
      shippedServer = await startWithRetry({ vars: { ...o.hubVars } });
      servers.push(shippedServer);
      report.processGroups = servers.map((s) => s.pid);
    }
    const port = (s: DevServer) => Number(new URL(s.baseUrl).port);
    const targets = [
      hubTarget(hubServer, findWorkerd(hubServer.pid, port(hubServer))),
      baselineTarget(baseServer, findWorkerd(baseServer.pid, port(baseServer))),
    ];
    const kept = new Map<Side, Room>();
    for (const name of SCENARIOS) {
      if (!o.only.includes(name)) continue;
      for (const t of targets) {
        // Wrangler restarts workerd if it dies; a restart drops every socket and must not go unnoticed.
        const now = findWorkerd(t.server.pid, port(t.server));
        if (now.runtime !== t.procs.runtime) {
          report.errors.push({ scenario: name, error: `${t.side} workerd runtime restarted (pid ${t.procs.runtime} -> ${now.runtime})` });
          Object.assign(t.procs, now);
        }
      }
      const t0 = performance.now();
      log(`scenario ${name} ...`);
      try {
        await runScenario(name, targets, o, report, kept, shippedServer);
      } catch (err) {
        const tails = servers.map((s, i) => `--- ${i === 0 ? 'hub' : 'baseline'} server output (tail) ---\n${s.output().slice(-1_500)}`);
        report.errors.push({ scenario: name, error: err instanceof Error ? err.message : String(err) });
        log(`scenario ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n${tails.join('\n')}`);
      }
      log(`scenario ${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    for (const leftover of kept.values()) await closeRoom(leftover);
  };
  try {
    await Promise.race([body(), overtime]);
  } finally {
    clearTimeout(watchdog);
    await stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  report.durationMs = performance.now() - started;
  report.machine.loadAverage1mAtEnd = Number(os.loadavg()[0]!.toFixed(2));
  return report;
};

const isDefault = (o: Options): boolean =>
  (Object.keys(DEFAULTS) as (keyof Options)[])
    .filter((k) => k !== 'json' && k !== 'save' && k !== 'hubVars')
    .every((k) => JSON.stringify(o[k]) === JSON.stringify(DEFAULTS[k])) && Object.keys(o.hubVars).length === 0;

const main = async () => {
  let opts: Options;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  const report = await runBench(opts);
  const table = renderTable(report);
  if (opts.json) console.error(table);
  else console.log(table);
  if (opts.save) console.error(`saved ${saveReport(report)}`);
  console.log(JSON.stringify(report));
  // Exit now: a run cut short by --max-seconds may still have bounded waits pending.
  process.exit(report.errors.length > 0 ? 1 : 0);
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  });
}
