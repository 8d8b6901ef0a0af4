import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const HOST = '127.0.0.1';
const ROOT = resolve(import.meta.dirname, '../..');
const WRANGLER = join(ROOT, 'node_modules/.bin/wrangler');
const STARTUP_CAP_MS = 60_000;
const STOP_GRACE_MS = 5_000;
const OUTPUT_KEEP = 20_000;

export interface DevServer {
  /** http://127.0.0.1:<port> */
  readonly baseUrl: string;
  /** ws://127.0.0.1:<port> */
  readonly wsUrl: string;
  /** Port of wrangler's DevTools inspector for the worker (bench/profile.ts records CPU profiles through it). */
  readonly inspectorPort: number;
  /** Process id of wrangler, the leader of the group that also holds workerd. */
  readonly pid: number;
  /** What wrangler and workerd printed so far (tail only), for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  /** Extra [vars] overrides, passed as `--var KEY:value`. */
  vars?: Record<string, string | number | boolean>;
  /** Wrangler config to run instead of the root wrangler.toml, relative to the repository root. */
  config?: string;
  /** The checkout to snapshot; the repository this file lives in by default. */
  root?: string;
  /**
   * The GET /health status that means the server is up. 200 by default; a
   * test of a broken configuration waits for the status the Worker answers
   * then (503 since the operations endpoints).
   */
  readyStatus?: number;
}

/**
 * Asks the kernel for distinct free ports on the loopback address. All
 * listeners stay open until every port is known, so the same port cannot be
 * handed out twice within one call.
 */
export const freePorts = async (count: number): Promise<number[]> => {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((done, fail) => {
          const server = createServer();
          server.once('error', fail);
          server.listen(0, HOST, () => done(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((done) => s.close(() => done()))));
  return ports;
};

/** Repository entries that are not part of the worker's source and are large or machine-local. */
const NOT_COPIED = new Set(['.git', '.wrangler', 'node_modules', 'test-artifacts']);

/**
 * A developer's local vars and secrets (`.dev.vars`, `.env`, and their
 * per-environment variants). Wrangler reads them from the config's folder, so
 * leaving them out of the snapshot keeps a test run on the vars the test asks
 * for, whatever the checkout holds.
 */
export const isLocalConfig = (entry: string): boolean => /^\.dev\.vars(\..+)?$|^\.env(\..+)?$/.test(entry);

/**
 * Copies the repository's sources into a fresh directory with node_modules
 * linked in. `wrangler dev` always watches and rebuilds on source changes,
 * which drops every open WebSocket; running from a snapshot keeps a test run
 * on one version of the code even while the checkout is being edited.
 */
export const snapshotRepo = (root: string = ROOT, { keepLocalConfig = false } = {}): string => {
  const dir = mkdtempSync(join(tmpdir(), 'signal-hub-e2e-src-'));
  for (const entry of readdirSync(root)) {
    if (NOT_COPIED.has(entry) || (!keepLocalConfig && isLocalConfig(entry))) continue;
    cpSync(join(root, entry), join(dir, entry), { recursive: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
};

/** Removes a snapshot; the node_modules link goes first so the removal can never reach the real one. */
export const removeSnapshot = (dir: string): void => {
  unlinkSync(join(dir, 'node_modules'));
  rmSync(dir, { recursive: true, force: true });
};

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** True while any process of the group still exists (signal 0 probes without killing). */
export const groupAlive = (pgid: number): boolean => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * The stop of every server this process started and has not stopped yet,
 * including servers still starting. A test file whose beforeAll timed out
 * while its servers were starting never got their handles, so its afterAll
 * stops nothing, and their workerd processes kept running (at ~22 % CPU
 * each) through the rest of a CI run, slowing later files past their
 * timeouts. stopAllDevServers() stops whatever is left; the e2e project
 * calls it after each file (test/e2e/support/stop-dev-servers.ts).
 */
const running = new Map<number, () => Promise<void>>();

/** Process groups of the servers this process started and has not stopped (those still starting too). */
export const runningDevServers = (): number[] => [...running.keys()];

/** Stops every server of this process that is still running or starting; how many there were. */
export const stopAllDevServers = async (): Promise<number> => {
  const stops = [...running.values()];
  await Promise.all(stops.map((stop) => stop().catch(() => undefined)));
  return stops.length;
};

const signalGroup = (pgid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(-pgid, signal);
  } catch {
    // The group is already gone.
  }
};

/**
 * Starts `wrangler dev --local` on a free loopback port with empty storage of
 * its own, and resolves once GET /health answers 200 (or `healthStatus`). Wrangler runs as the
 * leader of a new process group, so stopping it also reaches workerd and
 * esbuild, which it spawns into the same group.
 */
export const startDevServer = async (options: DevServerOptions = {}): Promise<DevServer> => {
  const [port, inspectorPort] = (await freePorts(2)) as [number, number];
  const workDir = snapshotRepo(options.root ?? ROOT);
  const persistDir = mkdtempSync(join(tmpdir(), 'signal-hub-e2e-state-'));
  const logDir = mkdtempSync(join(tmpdir(), 'signal-hub-e2e-logs-'));
  const vars = { LOG_LEVEL: 'warn', ...options.vars };
  const args = [
    'dev',
    '--ip', HOST,
    '--port', String(port),
    '--inspector-ip', HOST,
    '--inspector-port', String(inspectorPort),
    '--local',
    '--persist-to', persistDir,
    '--show-interactive-dev-session=false',
    '--log-level', 'warn',
    ...(options.config ? ['--config', options.config] : []),
    ...Object.entries(vars).flatMap(([k, v]) => ['--var', `${k}:${String(v)}`]),
  ];

  const child: ChildProcess = spawn(WRANGLER, args, {
    cwd: workDir,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      // Nothing outside this machine is contacted, and wrangler's debug logs stay out of $HOME.
      WRANGLER_SEND_METRICS: 'false',
      WRANGLER_LOG_PATH: logDir,
      // Vars come from wrangler.toml and --var only: no .env files, and nothing from this process's env.
      CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV: 'false',
      CLOUDFLARE_INCLUDE_PROCESS_ENV: 'false',
      // The hub never reads request.cf; without this, an offline start prints a DNS stack trace.
      CLOUDFLARE_CF_FETCH_ENABLED: 'false',
      NO_COLOR: '1',
      FORCE_COLOR: '0',
    },
  });
  const pgid = child.pid;
  if (pgid === undefined) throw new Error('wrangler dev did not start (no pid)');

  let out = '';
  const keep = (chunk: Buffer) => {
    out = (out + chunk.toString('utf8')).slice(-OUTPUT_KEEP);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  child.once('exit', (code, signal) => {
    exited = { code, signal };
  });

  // If the test process dies without running afterAll, take the server down with it.
  const onExit = () => signalGroup(pgid, 'SIGKILL');
  process.once('exit', onExit);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    signalGroup(pgid, 'SIGTERM');
    const deadline = Date.now() + STOP_GRACE_MS;
    while (groupAlive(pgid) && Date.now() < deadline) await sleep(100);
    if (groupAlive(pgid)) {
      signalGroup(pgid, 'SIGKILL');
      const hardDeadline = Date.now() + STOP_GRACE_MS;
      while (groupAlive(pgid) && Date.now() < hardDeadline) await sleep(50);
    }
    process.removeListener('exit', onExit);
    running.delete(pgid);
    rmSync(persistDir, { recursive: true, force: true });
    removeSnapshot(workDir);
    rmSync(logDir, { recursive: true, force: true });
    if (groupAlive(pgid)) throw new Error(`wrangler dev process group ${pgid} survived SIGKILL`);
  };

  running.set(pgid, stop);

  const baseUrl = `http://${HOST}:${port}`;
  const deadline = Date.now() + STARTUP_CAP_MS;
  let lastProblem = 'no answer yet';
  try {
    for (;;) {
      if (exited) throw new Error(`wrangler dev exited early (${JSON.stringify(exited)})`);
      try {
        const res = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        if (res.status === (options.readyStatus ?? 200)) break;
        lastProblem = `GET /health answered ${res.status}`;
      } catch (err) {
        lastProblem = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() > deadline) throw new Error(`GET /health not ${options.readyStatus ?? 200} within ${STARTUP_CAP_MS} ms (${lastProblem})`);
      await sleep(250);
    }
  } catch (err) {
    await stop().catch(() => undefined);
    throw new Error(`${(err as Error).message}\n--- wrangler output ---\n${out}`);
  }

  return {
    baseUrl,
    wsUrl: `ws://${HOST}:${port}`,
    inspectorPort,
    pid: pgid,
    output: () => out,
    stop,
  };
};
