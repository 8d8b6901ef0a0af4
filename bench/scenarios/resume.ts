/**
 * Scenario `resume` (issue 14): what session resume costs.
 *
 * 1. The cost of a resume. A receiver connects with the shipped resume
 *    settings (RESUME_GRACE_MS 30000, MAILBOX_LIMIT 1000) and registers; its
 *    TCP socket is destroyed under it (no close frame, the hub sees 1006).
 *    Once the hub has suspended the session, a sender sends it N messages,
 *    first as tells, in a second measurement as asks whose delivery acks
 *    only come when it resumes. Then the receiver opens a new socket and
 *    presents its resume token. Measured from the start of that socket: the
 *    `hub:connected`, the last mailbox message, and for asks the last ack at
 *    the sender; the runtime's CPU per message to queue it and to drain it
 *    at resume; and whether all N arrived exactly once, in order (a miss is
 *    counted, not thrown).
 *
 *    The raw object has no resume. Its column is the same N messages
 *    delivered live to a receiver that is connected (a fresh socket plus one
 *    echo round trip for `hub:connected`): what the messages cost when
 *    nothing went wrong, the floor a resume is compared with.
 *
 * 2. The normal path. The replay window (src/core/replay.ts) remembers every
 *    frame sent to a resumable session; the tell scenario is run on the hub
 *    with resume on (shipped), on a second hub with RESUME_GRACE_MS=0, and on
 *    the raw object, after one unmeasured warm-up run each, run by run in
 *    turn (a different side first each round), so drift in machine load hits
 *    all three alike.
 */
import { performance } from 'node:perf_hooks';
import { WsTestClient, type Frame } from '../../harness/net/ws-client';
import { PROTOCOL_VERSION } from '../../src/protocol/envelope';
import { cpuMs } from '../processes';
import { collect, type Runs, type Side } from '../report';
import { byeOf, drop, inTurn, leave, quiesce, room, sleep, waitUntil, type Peer, type Scenario, type Target } from '../targets';
import type { Options } from '../options';
import { tellRun } from './tell';

/** The [vars] of the hub with resume off. */
export const RESUME_OFF = { RESUME_GRACE_MS: 0 } as const;

const TYPE = 'bench.resume';

/** The bench message's sequence number in a frame: the hub forwards its own envelope, the raw object the sender's body. */
const seqOf = (side: Side, f: Frame): number | null => {
  const data = side === 'hub' ? (f.type === TYPE ? f.payload : null) : f.payload?.type === TYPE ? f.payload?.data : null;
  return typeof data?.m === 'number' ? data.m : null;
};

/** How many of 0..n-1 did not arrive exactly once in their place: misses, duplicates and reorderings all count. */
export const notExactlyOnce = (got: number[], n: number): number => {
  let wrong = Math.abs(got.length - n);
  for (let i = 0; i < Math.min(got.length, n); i++) if (got[i] !== i) wrong++;
  return Math.min(wrong, n);
};

/** Listens on a raw socket for the bench messages; the frames are parsed here, not queued, so 1000 of them stay cheap. */
const listen = (side: Side, client: WsTestClient) => {
  const state = { got: [] as number[], last: 0, connectedAt: 0, connected: null as Frame | null, acks: 0, ackErrors: 0, lastAck: 0 };
  client.ws.on('message', (data) => {
    let f: Frame;
    try {
      f = JSON.parse(String(data)) as Frame;
    } catch {
      return;
    }
    const m = seqOf(side, f);
    if (m !== null) {
      state.got.push(m);
      state.last = performance.now();
    } else if (f.type === 'hub:connected' && state.connected === null) {
      state.connected = f;
      state.connectedAt = performance.now();
    } else if (f.type === 'hub:delivery_ack') {
      state.acks++;
      state.lastAck = performance.now();
    } else if (f.type === 'hub:error') {
      state.ackErrors++;
      state.lastAck = performance.now();
    }
  });
  return state;
};

/** Sessions with a socket in the sender's hub; a suspended one has none (PROTOCOL.md "Session resume"). */
const liveSessions = async (sender: Peer): Promise<number> => {
  const reply = await sender.client.ask('hub:metrics', null);
  if (reply.type !== 'hub:metrics_response') throw new Error(`hub:metrics failed: ${JSON.stringify(reply).slice(0, 300)}`);
  return reply.payload.currentSessions as number;
};

/** Generous: the cap only bounds a run whose deliveries stopped. */
const capMs = (n: number) => 20_000 + n * 20;

/** The hub: drop the receiver's TCP connection, queue N while it is suspended, resume and drain. */
const hubResumeRun = async (t: Target, o: Options, pattern: 'tell' | 'ask'): Promise<Runs> => {
  const r = room('resume');
  const url = `${t.server.wsUrl}/ws/${r}`;
  const sender: Peer = await t.join(r, 'sender');
  const address = `@(bench/${r}/receiver)`;
  const first = await WsTestClient.connected(url, address);
  const token = first.connected.payload?.resumeToken as string | undefined;
  const peers: Peer[] = [sender];
  try {
    if (!token) throw new Error('hub:connected carried no resumeToken: is resume on (RESUME_GRACE_MS > 0)?');
    const registered = await first.client.ask('hub:register', { actorAddress: address, capabilities: [] });
    if (registered.type !== 'hub:registered') throw new Error(`hub:register failed: ${JSON.stringify(registered).slice(0, 300)}`);
    const before = await liveSessions(sender);
    // The TCP connection dies under the WebSocket: no close frame, as when a phone leaves the network.
    (first.client.ws as unknown as { _socket: { destroy(): void } })._socket.destroy();
    let suspended = false;
    const deadline = Date.now() + 15_000;
    while (!suspended && Date.now() < deadline) {
      suspended = (await liveSessions(sender)) < before;
      if (!suspended) await sleep(20);
    }
    if (!suspended) throw new Error('the hub did not suspend the dropped receiver within 15 s');

    const atSender = listen(t.side, sender.client);
    const queue0 = cpuMs(t.procs.runtime);
    for (let m = 0; m < o.queued; m++) sender.client.request('hub:send', { to: address, type: TYPE, data: { m } }, { pattern });
    // One socket's frames are handled in order: when this reply comes, all N are in the mailbox.
    await liveSessions(sender);
    drop(sender);
    // After the quiesce, so the storage work of the writes is in; its idle tail makes the figure an upper bound.
    await quiesce(t);
    const queueCpu = cpuMs(t.procs.runtime) - queue0;

    const cpu0 = cpuMs(t.procs.runtime);
    const t0 = performance.now();
    const again = await WsTestClient.open(url, address);
    const at = listen(t.side, again);
    peers.push({ client: again, address, bye: byeOf(again) });
    again.request('hub:connect', { resumeToken: token }, { metadata: { protocolVersion: PROTOCOL_VERSION } });
    await waitUntil(() => at.got.length >= o.queued && (pattern === 'tell' || atSender.acks + atSender.ackErrors >= o.queued), capMs(o.queued));
    const cpu = cpuMs(t.procs.runtime) - cpu0;
    // A duplicate would come in the same burst; a short wait lets it show.
    await sleep(100);
    if (at.connected?.payload?.resumed !== true) throw new Error(`the session did not resume: ${JSON.stringify(at.connected).slice(0, 300)}`);
    drop({ client: again, address });
    return {
      connectedMs: at.connectedAt - t0,
      drainedMs: (at.last || performance.now()) - t0,
      ...(pattern === 'ask' ? { ackedMs: (atSender.lastAck || performance.now()) - t0 } : {}),
      failures: notExactlyOnce(at.got, o.queued) + (pattern === 'ask' ? o.queued - atSender.acks : 0),
      queueCpuUsPerMsg: (queueCpu * 1000) / o.queued,
      cpuUsPerMsg: (cpu * 1000) / o.queued,
    };
  } finally {
    await leave(peers);
  }
};

/** The raw object: a fresh receiver socket and one echo round trip, then the same N delivered live. */
const baselineLiveRun = async (t: Target, o: Options, pattern: 'tell' | 'ask'): Promise<Runs> => {
  const r = room('resume');
  const sender = await t.join(r, 'sender');
  const peers: Peer[] = [sender];
  try {
    const t0 = performance.now();
    const receiver = await WsTestClient.open(`${t.server.wsUrl}/ws/${r}?id=receiver`, 'receiver');
    peers.push({ client: receiver, address: 'receiver' });
    const at = listen(t.side, receiver);
    // The raw object's stand-in for hub:connected: one echo round trip on the new socket.
    receiver.sendRaw('echo:{"type":"hub:connected"}');
    await waitUntil(() => at.connected !== null, 10_000);
    const connectedMs = at.connectedAt - t0;
    await quiesce(t);
    const peer = { client: receiver, address: 'receiver' };
    const cpu0 = cpuMs(t.procs.runtime);
    const t1 = performance.now();
    for (let m = 0; m < o.queued; m++) t.tell(sender, peer, TYPE, { m }, pattern === 'ask');
    await waitUntil(() => at.got.length >= o.queued, capMs(o.queued));
    const cpu = cpuMs(t.procs.runtime) - cpu0;
    await sleep(100);
    const drainedMs = (at.last || performance.now()) - t1;
    drop(peer);
    return {
      connectedMs,
      drainedMs,
      // The raw object has no acks: its figure is the live delivery again.
      ...(pattern === 'ask' ? { ackedMs: drainedMs } : {}),
      failures: notExactlyOnce(at.got, o.queued),
      // Nothing is queued: both CPU figures are the live delivery's.
      queueCpuUsPerMsg: (cpu * 1000) / o.queued,
      cpuUsPerMsg: (cpu * 1000) / o.queued,
    };
  } finally {
    await leave(peers);
  }
};

const resumeRows = (pattern: 'tell' | 'ask') => [
  { key: 'connectedMs', metric: 'new socket -> hub:connected ms', unit: 'ms', better: 'lower' as const },
  { key: 'drainedMs', metric: 'new socket -> last mailbox msg ms', unit: 'ms', better: 'lower' as const },
  ...(pattern === 'ask' ? [{ key: 'ackedMs', metric: 'new socket -> last ack at sender ms', unit: 'ms', better: 'lower' as const }] : []),
  { key: 'failures', metric: 'msgs not exactly once in order', unit: '', better: 'lower' as const },
  { key: 'queueCpuUsPerMsg', metric: 'runtime CPU us/msg to queue it (raw: live)', unit: 'us', better: 'lower' as const },
  { key: 'cpuUsPerMsg', metric: 'runtime CPU us/mailbox msg at resume (raw: live)', unit: 'us', better: 'lower' as const },
];

export const resume: Scenario = async ({ name, targets, o, report, resumeOff }) => {
  const hub = targets.find((t) => t.side === 'hub')!;
  const raw = targets.find((t) => t.side === 'baseline')!;
  for (const pattern of ['tell', 'ask'] as const) {
    const runs: Record<Side, Runs[]> = { hub: [], baseline: [] };
    for (let i = 0; i < o.repeat; i++) {
      await quiesce(hub);
      runs.hub.push(await hubResumeRun(hub, o, pattern));
      await quiesce(raw);
      runs.baseline.push(await baselineLiveRun(raw, o, pattern));
    }
    const label = `resume, ${o.queued} ${pattern}s queued (raw: same ${o.queued} delivered live)`;
    report.metrics.push(...collect(name, label, resumeRows(pattern), runs));
  }

  if (!resumeOff) throw new Error('the resume scenario needs the hub with resume off (run.ts starts it)');
  // The comparison is only worth something if the second hub really runs without resume: it hands out no token.
  const probe = await WsTestClient.connected(`${resumeOff.server.wsUrl}/ws/${room('resume-off')}`, '@(bench/resume-off/probe)');
  probe.client.close(1000, 'probe done');
  if (probe.connected.payload?.resumeToken !== undefined) throw new Error('the hub started with RESUME_GRACE_MS=0 still hands out resume tokens');
  // inTurn's unmeasured first round matters most here: the hub with resume off has run no code
  // yet, and a cold isolate (JIT, first storage) would be billed to resume being off.
  const [on, off, base] = (await inTurn([hub, resumeOff, raw], o, (t) => tellRun(t, o), (t) => quiesce(t))) as [Runs[], Runs[], Runs[]];
  const size = `${o.pairs} pairs x ${o.messages} msgs`;
  const normal = [
    { key: 'throughput', metric: 'delivered msgs/s', unit: '1/s', better: 'higher' as const },
    { key: 'cpuUsPerMsg', metric: 'runtime CPU us/msg', unit: 'us', better: 'lower' as const },
  ];
  report.metrics.push(
    ...collect(name, `normal path: tell, ${size}, resume on (shipped)`, [...normal, { key: 'lossPct', metric: 'loss %', unit: '%', better: 'lower' }], { hub: on, baseline: base }),
    ...collect(name, `normal path: tell, ${size}, resume off (RESUME_GRACE_MS=0)`, [...normal, { key: 'lossPct', metric: 'loss %', unit: '%', better: 'lower' }], { hub: off, baseline: base }),
    // The comparison the issue asks for: the baseline column is the hub with resume off here.
    ...collect(name, `normal path: resume on vs off (raw column = hub, resume off)`, normal, { hub: on, baseline: off }),
  );
};
