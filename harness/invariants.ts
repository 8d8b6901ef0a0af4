import { SEP } from '../src/core/kv-store';
import { NS } from '../src/core/namespaces';
import { attachmentSchema, type Attachment } from '../src/core/session';
import { clientBySocket, inForce, splitSubKey, subKey, type HubModel } from './model';
import type { TraceRunner } from './runner';

/**
 * Checks of the hub's durable state (socket attachments, registry, key-value
 * store) after a step. They read what a freshly woken hub would rebuild from,
 * never the in-memory core, so checking cannot wake or perturb the object.
 * The key-value namespaces come from src/core/namespaces.ts, which the core
 * stores through.
 */

export class InvariantViolation extends Error {
  constructor(
    readonly invariant: string,
    detail: string,
  ) {
    super(`[${invariant}] ${detail}`);
  }
}

export const violate = (invariant: string, detail: string): never => {
  throw new InvariantViolation(invariant, detail);
};

const LIVE = new Set(['registered', 'paused', 'rate-limited']);

interface Sub {
  subscriptionId: string;
  topic: string;
  address: string;
  connId: string;
}
interface Job {
  seq: number;
  senderConn: string;
  remaining: number;
  ack: { pending?: string } | null;
}

export const attachmentOf = (runner: TraceRunner, socket: string): Attachment | null => {
  const s = runner.socket(socket);
  if (!s) return null;
  const parsed = attachmentSchema.safeParse(s.attachment);
  return parsed.success ? parsed.data : null;
};

const isPausedAttachment = (a: Attachment): boolean =>
  a.machine.value === 'paused' || (a.machine.value === 'rate-limited' && a.machine.context.resumeTo === 'paused');

/** Structural consistency of registry, sessions, subscriptions, buffers and jobs, and their bounds. */
export const checkDurableState = (runner: TraceRunner): void => {
  const { fake, config } = runner;
  const now = runner.now;
  const live = new Map<string, Attachment>();
  for (const name of runner.socketNames()) {
    const socket = runner.socket(name)!;
    const a = attachmentOf(runner, name);
    if (socket.attachment !== null && !a) violate('sessions', `${name}: attachment does not parse: ${JSON.stringify(socket.attachment)}`);
    if (!a) continue;
    if (a.connId !== socket.connId) violate('sessions', `${name}: attachment names connection ${a.connId}`);
    if (a.bucket.tokens > config.rateLimitBurst + 1e-9 || a.bucket.tokens < -1e-9) {
      violate('rate-limit', `${name}: bucket holds ${a.bucket.tokens} tokens; burst is ${config.rateLimitBurst}`);
    }
    if (a.flow.buffered > config.pauseBufferLimit || a.flow.buffered < 0) {
      violate('pause-buffer', `${name}: ${a.flow.buffered} frames buffered; the limit is ${config.pauseBufferLimit}`);
    }
    if (socket.closed === null && LIVE.has(a.machine.value)) live.set(socket.connId, a);
    if (socket.closed !== null && socket.closed.by === 'client' && a.machine.value !== 'closed') {
      violate('sessions', `${name}: the client closed the socket but its session is ${a.machine.value}`);
    }
  }

  for (const row of fake.registry.all()) {
    const owner = live.get(row.connId);
    if (!owner) violate('registry', `${row.address} is stored for ${runner.nameOfConn(row.connId) ?? row.connId}, which has no live session`);
    if (owner && owner.machine.context.sessionId !== row.sessionId) {
      violate('registry', `${row.address} names session ${row.sessionId} but its connection runs ${owner.machine.context.sessionId}`);
    }
    if (row.expiresAt <= row.registeredAt && row.expiresAt > now) violate('registry', `${row.address} expires before it was registered`);
  }

  const byTopic = fake.kv.scan<Sub>(NS.subByTopic, '');
  const byId = new Map(fake.kv.scan<Sub>(NS.subById, ''));
  const byConn = new Map(fake.kv.scan<string>(NS.subByConn, ''));
  for (const [key, sub] of byTopic) {
    if (key !== subKey(sub.topic, sub.address)) violate('subscriptions', `topic index key ${JSON.stringify(key)} holds ${JSON.stringify(sub)}`);
    if (!live.has(sub.connId)) {
      violate('subscriptions', `${sub.topic} for ${sub.address} belongs to ${runner.nameOfConn(sub.connId) ?? sub.connId}, which has no live session`);
    }
    const indexed = byId.get(sub.subscriptionId);
    if (!indexed || JSON.stringify(indexed) !== JSON.stringify(sub)) violate('subscriptions', `id index disagrees for ${sub.subscriptionId}`);
    if (byConn.get([sub.connId, sub.topic, sub.address].join(SEP)) !== sub.subscriptionId) {
      violate('subscriptions', `connection index lacks ${sub.subscriptionId}`);
    }
  }
  if (byId.size !== byTopic.length || byConn.size !== byTopic.length) {
    violate('subscriptions', `index sizes differ: topic ${byTopic.length}, id ${byId.size}, connection ${byConn.size}`);
  }

  const buffered = new Map<string, number>();
  for (const [key] of fake.kv.scan(NS.buffer, '')) {
    const connId = key.slice(0, key.indexOf(SEP));
    buffered.set(connId, (buffered.get(connId) ?? 0) + 1);
  }
  for (const [connId, n] of buffered) {
    const a = live.get(connId);
    if (!a) violate('pause-buffer', `${n} buffered frames for ${runner.nameOfConn(connId) ?? connId}, which has no live session`);
    if (a && a.flow.buffered !== n) violate('pause-buffer', `${runner.nameOfConn(connId)}: attachment counts ${a.flow.buffered} buffered, storage holds ${n}`);
    if (n > config.pauseBufferLimit) violate('pause-buffer', `${n} frames buffered for ${runner.nameOfConn(connId)}; the limit is ${config.pauseBufferLimit}`);
  }
  for (const [connId, a] of live) {
    if (a.flow.buffered !== (buffered.get(connId) ?? 0)) {
      violate('pause-buffer', `${runner.nameOfConn(connId)}: attachment counts ${a.flow.buffered} buffered, storage holds ${buffered.get(connId) ?? 0}`);
    }
  }

  const queued = new Map<string, number>();
  for (const [key, job] of fake.kv.scan<Job>(NS.job, '')) {
    const recipients = fake.kv.count(NS.jobRecipient, key + SEP);
    if (recipients !== job.remaining) violate('queue', `job ${job.seq} says ${job.remaining} remaining but ${recipients} recipients are stored`);
    queued.set(job.senderConn, (queued.get(job.senderConn) ?? 0) + job.remaining);
  }
  for (const [connId, a] of live) {
    if (a.flow.queued !== (queued.get(connId) ?? 0)) {
      violate('queue', `${runner.nameOfConn(connId)}: attachment counts ${a.flow.queued} queued, jobs hold ${queued.get(connId) ?? 0}`);
    }
  }

  // The census of sessions that have not started closing (src/core/restart.ts) names exactly those.
  const counted = new Set<string>();
  for (const name of runner.socketNames()) {
    const socket = runner.socket(name)!;
    const a = attachmentOf(runner, name);
    if (a && a.machine.value !== 'closing' && a.machine.value !== 'closed') counted.add(socket.connId);
  }
  const census = fake.kv.scan(NS.census, '').map(([k]) => k);
  if (census.length !== counted.size || census.some((k) => !counted.has(k))) {
    violate('sessions', `census ${JSON.stringify(census)} differs from the open sessions ${JSON.stringify([...counted])}`);
  }

  // Every pending-ask row (the per-session cap's count) belongs to exactly one ask still waiting in a buffer or a job.
  const waiting = new Set<string>();
  for (const [, entry] of fake.kv.scan<{ ack: { pending?: string } | null }>('buf', '')) if (entry.ack?.pending) waiting.add(entry.ack.pending);
  for (const [, job] of fake.kv.scan<Job>('job', '')) if (job.ack?.pending) waiting.add(job.ack.pending);
  const rows = fake.kv.scan(NS.pendingAsk, '').map(([k]) => k);
  if (rows.length !== waiting.size || rows.some((k) => !waiting.has(k))) {
    violate('queue', `pending-ask rows ${JSON.stringify(rows)} differ from the asks waiting ${JSON.stringify([...waiting])}`);
  }
};

/**
 * The hub's durable state against what it acknowledged to each client (the
 * model learned that from the replies): nothing acknowledged is forgotten,
 * nothing unacknowledged appears, and each session is in the phase its
 * client was told about.
 */
export const checkAgainstModel = (runner: TraceRunner, m: HubModel): void => {
  const { fake } = runner;
  const now = runner.now;
  for (const c of m.slots) {
    if (!c) continue;
    const socket = runner.socket(c.socket);
    if (!socket) violate('model', `${c.socket} is in the model but was never opened`);
    const a = attachmentOf(runner, c.socket);
    const state = a?.machine.value ?? null;
    if (c.phase === 'connecting' && state !== 'connecting') violate('model', `${c.socket} was never told it is connected but its session is ${state}`);
    if (c.phase === 'live') {
      if (!state || !LIVE.has(state)) violate('model', `${c.socket} was told it is connected but its session is ${state}`);
      if (a && a.machine.context.identity !== c.identity) {
        violate('model', `${c.socket} was told its identity is ${c.identity}; the session says ${a.machine.context.identity}`);
      }
      if (a && isPausedAttachment(a) !== c.paused) {
        violate('model', `${c.socket} ${c.paused ? 'was paused' : 'was not paused'} by its own requests; the session is ${state}`);
      }
      for (const [address, reg] of c.registrations) {
        if (!inForce(reg, now)) continue;
        const row = fake.registry.get(address);
        if (!row || row.connId !== socket!.connId || row.renewalToken !== reg.renewalToken || row.expiresAt !== reg.expiresAt) {
          violate(
            'registry',
            `${c.socket} was granted ${address} (token ${reg.renewalToken}, expires ${reg.expiresAt}) but storage holds ${JSON.stringify(row)}`,
          );
        }
      }
      for (const [key, id] of c.subscriptions) {
        const sub = fake.kv.get<Sub>(NS.subByTopic, key);
        if (!sub || sub.subscriptionId !== id || sub.connId !== socket!.connId) {
          const { topic, address } = splitSubKey(key);
          violate('subscriptions', `${c.socket} was subscribed to ${topic} as ${address} (${id}) but storage holds ${JSON.stringify(sub)}`);
        }
      }
    }
    if (c.phase === 'closing' && state !== 'closing' && state !== 'closed') {
      violate('model', `the hub closed ${c.socket} but its session is ${state}`);
    }
    if (c.phase === 'closed' && socket && socket.closed === null) violate('model', `${c.socket} should be closed`);
  }
  for (const row of fake.registry.all()) {
    if (row.expiresAt <= now) continue;
    const name = runner.nameOfConn(row.connId);
    const c = name ? clientBySocket(m, name) : null;
    const reg = c?.registrations.get(row.address);
    if (!c || c.phase !== 'live' || !reg || !inForce(reg, now)) {
      violate('registry', `${row.address} is live in storage for ${name ?? row.connId} though the hub never acknowledged that (or released it)`);
    }
  }
  for (const [key, sub] of fake.kv.scan<Sub>(NS.subByTopic, '')) {
    const name = runner.nameOfConn(sub.connId);
    const c = name ? clientBySocket(m, name) : null;
    if (!c || c.subscriptions.get(key) !== sub.subscriptionId) {
      violate('subscriptions', `${sub.topic} for ${sub.address} (${sub.subscriptionId}) is stored for ${name} though its client does not hold it`);
    }
  }
};
