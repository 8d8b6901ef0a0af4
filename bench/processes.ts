/**
 * The bench's servers and their processes: the hub (limits raised), the raw
 * baseline object in bench/baseline/, and the hub with its shipped limits,
 * each under its own `wrangler dev`; the two workerd processes of each, and
 * their CPU time, memory and file descriptors from /proc.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { startDevServer, type DevServer, type DevServerOptions } from '../harness/net/dev-server';

const BASELINE_CONFIG = 'bench/baseline/wrangler.toml';

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
export interface Workerd {
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
export const PROXY_FDS_PER_SOCKET = 6;

/** How many more WebSockets the proxy can take before it runs out of file descriptors; null if unknown. */
export const socketHeadroom = (procs: Workerd): number | null => {
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

export const rssMiB = (pid: number | null): number => {
  if (pid === null) return 0;
  const line = readProcFile(pid, 'status')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return line ? Number(line.replace(/\D+/g, '')) / 1024 : 0;
};

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

export const portOf = (s: DevServer): number => Number(new URL(s.baseUrl).port);

/**
 * Starts the hub with `hubVars`, then the baseline, then, if asked, the hub
 * with its shipped limits plus `shippedVars`, then, if asked, the hub with
 * `hubVars` plus `resumeOffVars` (resume turned off, for the resume
 * scenario's normal-path comparison). One after the other: each server's
 * ports are picked while the earlier ones hold theirs, so two can never be
 * handed the same port. `onStarted` sees every server as it comes up, so a
 * failure halfway can still stop what did start.
 */
export const startServers = async (
  hubVars: Record<string, string | number>,
  shippedVars: Record<string, string> | null,
  onStarted: (s: DevServer) => void,
  resumeOffVars: Record<string, string | number> | null = null,
): Promise<{ hub: DevServer; baseline: DevServer; shipped?: DevServer; resumeOff?: DevServer }> => {
  const started = async (options: DevServerOptions) => {
    const s = await startWithRetry(options);
    onStarted(s);
    return s;
  };
  const hub = await started({ vars: hubVars });
  const baseline = await started({ config: BASELINE_CONFIG });
  const shipped = shippedVars ? await started({ vars: { ...shippedVars } }) : undefined;
  const resumeOff = resumeOffVars ? await started({ vars: { ...hubVars, ...resumeOffVars } }) : undefined;
  return { hub, baseline, ...(shipped ? { shipped } : {}), ...(resumeOff ? { resumeOff } : {}) };
};
