/**
 * The two sides every scenario drives alike: the hub (a registered session
 * per peer, requests per the protocol) and the raw baseline object (the same
 * bytes, no protocol), plus the small helpers the scenarios share.
 */
import { performance } from 'node:perf_hooks';
import type { DevServer } from '../harness/net/dev-server';
import { WsTestClient } from '../harness/net/ws-client';
import { buildRequest } from '../src/protocol/build';
import { HUB_ADDRESS } from '../src/protocol/envelope';
import type { Options, ScenarioName } from './options';
import { cpuMs, type Workerd } from './processes';
import type { Report, Runs, Side } from './report';

export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** One connected client of either target, with its address on that target. */
export interface Peer {
  client: WsTestClient;
  /** Hub: the registered address; baseline: the socket tag. */
  address: string;
  /**
   * Hub: the goodbye of a client that is done, `hub:disconnect`, after which
   * the hub closes the socket. A socket closed without it leaves its session
   * suspended for RESUME_GRACE_MS (30 s), to be released by an alarm then,
   * which would bill the releases of one scenario's sessions to whatever
   * scenario runs 30 s later. Baseline: none; the client closes.
   */
  bye?: () => void;
}

/** A hub peer's goodbye (Peer.bye): `hub:disconnect`, after which the hub closes the socket. */
export const byeOf = (client: WsTestClient) => (): void => {
  client.request('hub:disconnect', { reason: 'bench done' });
};

/**
 * A body shaped and sized like the hub's own frames, so the baseline moves
 * the same bytes as the hub; only the protocol work differs.
 */
export const baselineBody = (type: string, from: string, to: string, data: unknown): string =>
  JSON.stringify(
    buildRequest('hub:send', { to, type, data }, { from, pattern: 'tell', metadata: {} }),
  );

export interface Target {
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

export const TOPIC = 'bench/topic';
/** The hub's runtime answers exactly this text itself; the baseline ignores it. */
export const PING = '{"type":"ping"}';

export const addressOf = (room: string, name: string) => `@(bench/${room}/${name})`;

/** A hub session of `room`: connected, registered as addressOf(room, name), leaving with its goodbye. */
export const joinHub = async (server: DevServer, room: string, name: string): Promise<Peer> => {
  const address = addressOf(room, name);
  const { client } = await WsTestClient.connected(`${server.wsUrl}/ws/${room}`, address);
  const reply = await client.ask('hub:register', { actorAddress: address, capabilities: [] });
  if (reply.type !== 'hub:registered') throw new Error(`hub:register failed: ${JSON.stringify(reply).slice(0, 300)}`);
  return { client, address, bye: byeOf(client) };
};

export const hubTarget = (server: DevServer, procs: Workerd): Target => ({
  side: 'hub',
  server,
  procs,
  join: (room, name) => joinHub(server, room, name),
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

export const baselineTarget = (server: DevServer, procs: Workerd): Target => ({
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
export const drop = (peer: Peer) => {
  peer.client.pending.length = 0;
  peer.client.events.length = 0;
};

/** Runs `jobs` with at most `limit` in flight; collects failures instead of throwing. */
export const pool = async <T>(count: number, limit: number, job: (i: number) => Promise<T>) => {
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
export const leave = async (peers: Peer[], timeoutMs = 15_000) => {
  for (const p of peers) {
    if (p.client.closed) continue;
    if (p.bye) p.bye();
    else p.client.close(1000, 'bench done');
  }
  const deadline = Date.now() + timeoutMs;
  await Promise.all(
    peers.map((p) => p.client.waitClosed(Math.max(1, deadline - Date.now())).catch(() => p.client.terminate())),
  );
};

/** Counts frames whose text contains `marker` on each peer; remembers when the last one came. */
export const counter = (peers: Peer[], marker: string) => {
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

export const waitUntil = async (probe: () => boolean, timeoutMs: number): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) return false;
    await sleep(2);
  }
  return true;
};

/** Sessions that are only set up, not measured, connect with more in flight. */
export const setupConcurrency = (o: Options) => Math.max(o.concurrency, 50);

/**
 * Waits (bounded) until the runtime is idle: closes and releases of the
 * previous run are still being processed after the client saw its close, and
 * they would be billed to the next measurement otherwise.
 */
export const quiesce = async (t: Target, capMs = 10_000) => {
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
export const room = (scenario: string) => `bench-${scenario}-${process.pid}-${++roomCounter}`;

/**
 * `repeat` measured runs of each side, taken in turn: each round starts with
 * another side, so drift in machine load hits every side alike. One
 * unmeasured run of each side comes first (not with --smoke): a side's first
 * run of a scenario also pays for its isolate compiling that code path and
 * for its first storage, which is not what a message costs a running hub,
 * and the hub, having far more code than the raw object, would be billed
 * most for it. `before` runs ahead of every run (e.g. waiting for quiet).
 */
export const inTurn = async <S, R>(
  sides: readonly S[],
  o: Pick<Options, 'repeat' | 'smoke'>,
  run: (side: S) => Promise<R>,
  before: (side: S) => Promise<void> = async () => {},
): Promise<R[][]> => {
  const out = sides.map((): R[] => []);
  if (!o.smoke) {
    for (const side of sides) {
      await before(side);
      await run(side);
    }
  }
  for (let i = 0; i < o.repeat; i++) {
    for (let k = 0; k < sides.length; k++) {
      const j = (i + k) % sides.length;
      await before(sides[j]!);
      out[j]!.push(await run(sides[j]!));
    }
  }
  return out;
};

/** Hub and baseline in turn (inTurn), each run starting from a quiet runtime. */
export const alternate = async (targets: Target[], o: Pick<Options, 'repeat' | 'smoke'>, run: (t: Target) => Promise<Runs>): Promise<Record<Side, Runs[]>> => {
  const runs = await inTurn(targets, o, run, (t) => quiesce(t));
  const out: Record<Side, Runs[]> = { hub: [], baseline: [] };
  targets.forEach((t, i) => out[t.side].push(...runs[i]!));
  return out;
};

/** A set of connected sessions in one hub (or baseline object): recipients plus one sender. */
export interface Room {
  sender: Peer;
  recipients: Peer[];
}

/** What a scenario gets: both sides, the options, the report to add its rows to. */
export interface ScenarioContext {
  name: ScenarioName;
  targets: Target[];
  o: Options;
  report: Report;
  /** Rooms a scenario left open for a later one (the memory room, for the fan-out of the same size). */
  kept: Map<Side, Room>;
  /** The hub with its shipped limits; started only when a scenario that needs it runs. */
  shipped?: DevServer;
  /** The hub (limits raised) with resume off, RESUME_GRACE_MS=0; started only for the resume scenario. */
  resumeOff?: Target;
}

export type Scenario = (ctx: ScenarioContext) => Promise<void>;
