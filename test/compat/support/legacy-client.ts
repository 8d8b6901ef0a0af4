import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

/**
 * Stand-ins for the two deployed Signal Hub 0.1.0 client libraries (the Node
 * client and the browser client), written from what they put on the wire and
 * how they react to what comes back (docs/PROTOCOL.md, "0.1.0 client
 * compatibility"). They are deliberately as strict and as quirky as the
 * originals: the Node client disconnects itself on any `hub:unauthorized`,
 * reads registration fields from the reply's metadata, sends its heartbeat
 * from a fixed address with a null payload and renews with a null payload
 * and the first token it ever got; the browser client connects from a
 * throw-away address and unsubscribes by passing the topic as the id.
 */

export type Msg = Record<string, any>;

const HUB = '@(cloudflare/signal-hub)';
/** The Node client's fixed sender for heartbeats (and, in older releases, for everything). */
export const NODE_FIXED_FROM = '@(local/signal-hub-client)';

export type Flavour = 'node' | 'browser';

export interface LegacyOptions {
  url: string;
  flavour: Flavour;
  /** Bare JWT in metadata.authToken; the old test suite always passes one, even with auth off. */
  jwt?: string;
  /** Heartbeat period when the hub does not advertise one (Node) or always (browser). */
  heartbeatMs?: number;
  /** Send no heartbeats and no renewals at all (an idle client). */
  silent?: boolean;
}

interface Pending {
  resolve: (m: Msg) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

const ERROR_TYPES = new Set(['hub:error', 'hub:unknown_actor', 'hub:unauthorized']);

export class LegacyClient {
  /** Every frame received, in order (hub frames included, as the old test wrappers record them). */
  readonly received: Msg[] = [];
  readonly errors: string[] = [];
  state: 'idle' | 'connecting' | 'connected' | 'disconnected' = 'idle';
  sessionId: string | null = null;
  identity: string | null = null;
  heartbeatInterval: number | null = null;
  /** Set when the client dropped its own session because the hub sent hub:unauthorized. */
  selfDisconnected: string | null = null;
  closeEvent: { code: number; reason: string } | null = null;
  /** Heartbeats and renewals sent, for tests that check the timer really ran. */
  heartbeatsSent = 0;
  renewsSent = 0;

  /** The throw-away connect address, fixed per instance and reused on reconnect. */
  readonly tmp: string;
  private ws: WebSocket | null = null;
  private readonly pending = new Map<string, Pending>();
  private readonly actors = new Map<string, { capabilities: string[]; renewalToken: unknown }>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private waiters = new Set<() => void>();

  constructor(readonly opts: LegacyOptions) {
    this.tmp = opts.flavour === 'node' ? `@(local/client-${randomUUID()})` : `@(browser/actor-${randomUUID()})`;
  }

  // ------------------------------------------------------------------ transport

  async connect(): Promise<Msg> {
    this.state = 'connecting';
    const ws = new WebSocket(this.opts.url);
    this.ws = ws;
    await new Promise<void>((done, fail) => {
      ws.once('open', () => done());
      ws.once('error', (err) => fail(err));
    });
    ws.on('message', (data) => this.onFrame(data.toString()));
    ws.on('close', (code, reason) => {
      if (ws !== this.ws) return;
      this.closeEvent = { code, reason: reason.toString() };
      this.stopTimer();
      if (this.state !== 'connecting') this.state = 'disconnected';
      this.wake();
    });
    const capabilities = this.opts.flavour === 'node' ? ['send', 'broadcast', 'register'] : ['send', 'receive'];
    const reply = await this.ask({
      from: this.tmp,
      type: 'hub:connect',
      payload: null,
      ttl: 5000,
      metadata: {
        protocolVersion: '0.1.0',
        authToken: this.opts.jwt,
        capabilities,
        clientMetadata: { userAgent: 'SignalHubClient/0.1.0', platform: this.opts.flavour },
      },
    });
    if (reply.type !== 'hub:connected') throw new Error(`Unexpected response to hub:connect: ${reply.type} ${JSON.stringify(reply.payload)}`);
    this.sessionId = reply.payload.sessionId;
    // Both clients read it; a missing metadata object would throw here, as it did in theirs.
    this.identity = reply.metadata.actorIdentity ?? null;
    this.heartbeatInterval = reply.payload.heartbeatInterval;
    this.state = 'connected';
    this.startTimer();
    return reply;
  }

  private send(frame: Msg): string {
    const id = randomUUID();
    const envelope = {
      id,
      from: frame.from,
      to: HUB,
      type: frame.type,
      payload: frame.payload,
      pattern: frame.pattern ?? 'tell',
      correlationId: null,
      timestamp: Date.now(),
      metadata: frame.metadata ?? {},
      ttl: frame.ttl ?? null,
      signature: null,
    };
    this.ws!.send(JSON.stringify(envelope));
    return id;
  }

  /** An ask: resolves with the correlated reply; like the Node client, error replies reject. */
  private ask(frame: Msg, timeoutMs = frame.ttl ?? 10_000): Promise<Msg> {
    const id = this.send({ ...frame, pattern: 'ask' });
    return new Promise<Msg>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`Request timeout: ${frame.type}`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  private onFrame(text: string): void {
    const msg = JSON.parse(text) as Msg;
    this.received.push(msg);
    this.wake();
    const waiting = msg.correlationId ? this.pending.get(msg.correlationId) : undefined;
    if (waiting) {
      clearTimeout(waiting.timer);
      this.pending.delete(msg.correlationId);
      if (ERROR_TYPES.has(msg.type)) waiting.reject(Object.assign(new Error(`${msg.type}: ${JSON.stringify(msg.payload)}`), { reply: msg }));
      else waiting.resolve(msg);
    }
    if (msg.type === 'hub:unauthorized') {
      this.errors.push(`Unauthorized: ${JSON.stringify(msg.payload)}`);
      // The Node client treats any hub:unauthorized as fatal and drops its own session.
      if (this.opts.flavour === 'node' && this.state === 'connected') {
        this.selfDisconnected = JSON.stringify(msg.payload);
        void this.disconnect();
      }
    } else if (msg.type === 'hub:error' || msg.type === 'hub:unknown_actor') {
      this.errors.push(`${msg.type}: ${JSON.stringify(msg.payload)}`);
    }
  }

  // ------------------------------------------------------------------ timers

  private startTimer(): void {
    if (this.opts.silent) return;
    // The Node client takes the hub's advertised interval (ms); the browser client its own 25 s.
    const every =
      this.opts.flavour === 'node' ? (this.heartbeatInterval ?? this.opts.heartbeatMs ?? 25_000) : (this.opts.heartbeatMs ?? 25_000);
    this.timer = setInterval(() => this.beat(), every);
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private beat(): void {
    if (this.state !== 'connected') return;
    if (this.opts.flavour === 'node') {
      this.send({ from: NODE_FIXED_FROM, type: 'hub:heartbeat', payload: null });
      this.heartbeatsSent++;
      // One renew per actor, always with the token of its first registration.
      for (const [address, actor] of this.actors) {
        this.send({ from: address, type: 'hub:renew', payload: null, metadata: { renewalToken: actor.renewalToken } });
        this.renewsSent++;
      }
    } else {
      this.send({ from: this.identity ?? this.tmp, type: 'hub:heartbeat', payload: { timestamp: Date.now() } });
      this.heartbeatsSent++;
    }
  }

  // ------------------------------------------------------------------ API (as the old wrappers use it)

  async register(actorAddress: string, capabilities: string[], metadata: Record<string, unknown> = {}): Promise<Msg> {
    const payload: Msg = { actorAddress, capabilities, metadata };
    if (this.opts.flavour === 'node') payload.ttlSeconds = 300;
    const reply = await this.ask({ from: actorAddress, type: 'hub:register', payload, ttl: 5000 });
    if (reply.type !== 'hub:registered') throw new Error(`Unexpected response to hub:register: ${reply.type}`);
    // The Node client keeps what it reads from metadata, and nothing else.
    this.actors.set(actorAddress, { capabilities, renewalToken: reply.metadata.renewalToken });
    return reply;
  }

  unregister(actorAddress: string): void {
    this.send({ from: actorAddress, type: 'hub:unregister', payload: this.opts.flavour === 'node' ? null : { actorAddress } });
    this.actors.delete(actorAddress);
  }

  tell(from: string, to: string, type: string, data: unknown, metadata: Record<string, unknown> = {}): void {
    const meta = this.opts.flavour === 'node' ? { via: HUB, ...metadata } : { priority: 1, ...metadata };
    this.send({ from, type: 'hub:send', payload: { to, type, data }, metadata: meta, ttl: this.opts.flavour === 'browser' ? 30_000 : null });
  }

  sendWithAck(from: string, to: string, type: string, data: unknown): Promise<Msg> {
    const meta = this.opts.flavour === 'node' ? { via: HUB } : { priority: 1 };
    const ttl = this.opts.flavour === 'node' ? 10_000 : 30_000;
    return this.ask({ from, type: 'hub:send', payload: { to, type, data }, metadata: meta, ttl });
  }

  broadcast(from: string, type: string, data: unknown, opts: { excludeSelf?: boolean; targetCapability?: string } = {}): void {
    this.send({
      from,
      type: 'hub:broadcast',
      payload: { type, data, excludeSelf: opts.excludeSelf ?? false },
      metadata: opts.targetCapability !== undefined ? { targetCapability: opts.targetCapability } : {},
    });
  }

  publish(from: string, topic: string, type: string, data: unknown): void {
    this.send({ from, type: 'hub:publish', payload: { topic, type, data } });
  }

  async subscribe(from: string, topic: string): Promise<string> {
    const reply = await this.ask({ from, type: 'hub:subscribe', payload: { topic, durable: false }, ttl: 5000 });
    if (reply.type !== 'hub:subscribed') throw new Error(`Unexpected response to hub:subscribe: ${reply.type}`);
    return reply.payload.subscriptionId as string;
  }

  unsubscribe(from: string, subscriptionId: string): void {
    this.send({ from, type: 'hub:unsubscribe', payload: { subscriptionId } });
  }

  async discover(from: string, capability?: string, limit = 50): Promise<Array<{ address: string; capabilities: string[] }>> {
    const payload: Msg = { pattern: '*', limit: Math.min(limit, 100) };
    if (capability !== undefined) payload.capability = capability;
    const reply = await this.ask({ from, type: 'hub:discover', payload, ttl: 5000 });
    if (reply.type !== 'hub:discovered') throw new Error(`Unexpected response to hub:discover: ${reply.type}`);
    return reply.payload.actors;
  }

  /** Node: an ask with a 500 ms ttl, then close 1000. Browser: a tell, then close at once. */
  async disconnect(): Promise<Msg | null> {
    this.stopTimer();
    const ws = this.ws;
    if (!ws || this.state !== 'connected') return null;
    let ack: Msg | null = null;
    if (this.opts.flavour === 'node') {
      ack = await this.ask({ from: this.tmp, type: 'hub:disconnect', payload: null, ttl: 500 }).catch(() => null);
    } else {
      this.send({ from: this.identity ?? this.tmp, type: 'hub:disconnect', payload: null });
    }
    ws.close(1000, 'Client disconnect');
    this.state = 'disconnected';
    this.sessionId = null;
    return ack;
  }

  /** Drops the TCP connection without any close handshake (a crash or network loss). */
  kill(): void {
    this.stopTimer();
    this.ws?.terminate();
    this.state = 'disconnected';
  }

  // ------------------------------------------------------------------ waiting

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** The first received frame matching `match` (already received ones count), within `timeoutMs`. */
  async waitFor(match: (m: Msg) => boolean, timeoutMs = 5_000): Promise<Msg> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`no matching message within ${timeoutMs} ms; received: ${JSON.stringify(this.received.map((m) => m.type))}`);
      }
      await new Promise<void>((done) => {
        const timer = setTimeout(finish, left);
        function finish() {
          clearTimeout(timer);
          waiters.delete(finish);
          done();
        }
        const waiters = this.waiters;
        waiters.add(finish);
      });
    }
  }

  /** Waits until the socket closed (by either side); returns the close event. */
  async waitClosed(timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closeEvent) {
      if (Date.now() > deadline) throw new Error(`socket still open after ${timeoutMs} ms`);
      await new Promise((done) => setTimeout(done, 20));
    }
    return this.closeEvent;
  }

  /** Application messages (not hub:*) received so far. */
  messages(type?: string): Msg[] {
    return this.received.filter((m) => !String(m.type).startsWith('hub:') && (type === undefined || m.type === type));
  }
}
