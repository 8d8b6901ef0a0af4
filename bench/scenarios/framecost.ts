/** Scenario `framecost`: F frames of one kind pipelined on one socket, then sent one at a time. */
import { performance } from 'node:perf_hooks';
import { buildRequest } from '../../src/protocol/build';
import { HUB_ADDRESS } from '../../src/protocol/envelope';
import { cpuMs } from '../processes';
import { median, type FrameCost } from '../report';
import { PING, baselineBody, drop, leave, quiesce, room, waitUntil, type Peer, type Scenario, type Target } from '../targets';
import type { Options } from '../options';

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

export const framecost: Scenario = async ({ targets, o, report }) => {
  for (const t of targets) {
    await quiesce(t);
    report.frameCost.push(...(await frameCost(t, o)));
  }
};
