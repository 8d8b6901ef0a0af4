import { expect, it } from 'vitest';
import { DEFAULT_CONFIG, type HubConfig } from '../../src/config';
import type { Effect } from '../../src/core/effects';
import { buildRequest, type BuildOptions } from '../../src/protocol/build';
import { HUB_ADDRESS, envelopeSchema } from '../../src/protocol/envelope';
import type { Requests, RequestType } from '../../src/protocol/messages';
import { PONG_FRAME } from '../../src/protocol/ping';
import { hubFrameIssues } from '../../src/protocol/replies';
import { FakeHubObject, type FakeSocket } from '../../harness/fake-object';

/**
 * Drives HubCore through the fake Durable Object. A scenario is written once
 * and run in two modes: awake (one core instance throughout) and hibernating
 * (the core is thrown away before every step and before every alarm, as an
 * eviction with open sockets does). Both runs must make the same assertions
 * pass and must leave an identical transcript on the wire.
 */

export type Mode = 'awake' | 'hibernating';
export type Msg = Record<string, any>;

/** The fake object, also recording the raw effect list so order across sends and closes is visible. */
export class RecordingFake extends FakeHubObject {
  readonly effects: Effect[] = [];
  override perform(effects: Effect[]): void {
    this.effects.push(...effects);
    super.perform(effects);
  }
}

import { PROTOCOL_VERSION } from '../../src/protocol/envelope';
export { PROTOCOL_VERSION };

export class Scenario {
  readonly fake: RecordingFake;
  private readonly peers: Peer[] = [];

  constructor(
    readonly mode: Mode,
    readonly config: HubConfig = DEFAULT_CONFIG,
  ) {
    this.fake = new RecordingFake(config);
  }

  /** Called before anything that reaches the hub: in hibernating mode the core is evicted first. */
  private step(): void {
    if (this.mode === 'hibernating' && this.fake.awake) this.fake.hibernate();
  }

  now(): number {
    return this.fake.clock.now();
  }

  /** Opens a socket; nothing is sent on it yet. */
  open(address: string): Peer {
    this.step();
    const peer = new Peer(this, this.fake.open(), address, this.peers.length + 1);
    this.peers.push(peer);
    return peer;
  }

  /** Opens a socket and completes hub:connect as `address`; returns the peer and the hub:connected reply. */
  connect(address: string, metadata: Record<string, unknown> = {}): Peer {
    const peer = this.open(address);
    const reply = peer.ask('hub:connect', null, { metadata: { protocolVersion: PROTOCOL_VERSION, ...metadata } });
    expect(reply.type, JSON.stringify(reply.payload)).toBe('hub:connected');
    peer.connected = reply;
    return peer;
  }

  /** A raw frame from a socket, through the fake runtime (pings never reach the hub). */
  deliver(socket: FakeSocket, frame: string | ArrayBuffer): void {
    this.step();
    this.fake.send(socket, frame);
  }

  /** Moves the simulated clock, firing the alarm at each time it was armed for. */
  advance(ms: number): void {
    this.fake.advance(ms, () => {
      this.step();
      this.fake.fireAlarm();
    });
  }

  /** Moves the clock without letting the alarm fire (an alarm that is late). */
  skip(ms: number): void {
    this.fake.clock.advance(ms);
  }

  fireAlarm(): void {
    this.step();
    this.fake.fireAlarm();
  }

  clientClose(peer: Peer, code = 1000): void {
    this.step();
    this.fake.clientClose(peer.socket, code);
  }

  /** The close frames the hub sent come back from the clients. */
  completeCloses(): void {
    this.step();
    this.fake.hub(); // completeCloses only acts on a core that is awake
    this.fake.completeCloses();
  }

  shutdown(): void {
    this.step();
    this.fake.perform(this.fake.hub().shutdown(this.now()));
  }

  /** The state of a socket's session machine, or undefined once the session is gone. */
  state(peer: Peer): string | undefined {
    const session = this.fake.hub().session(peer.socket.connId);
    return session ? String(session.snapshot.value) : undefined;
  }

  /** Everything observable from outside: frames, closes, stored registry rows. */
  transcript(): unknown {
    return {
      sockets: [...this.fake.sockets.values()].map((s) => ({ connId: s.connId, received: s.received, closed: s.closed })),
      registry: this.fake.registry.all().sort((a, b) => (a.address < b.address ? -1 : 1)),
    };
  }
}

export class Peer {
  private seq = 0;
  private cursor = 0;
  connected: Msg | null = null;

  constructor(
    readonly sc: Scenario,
    readonly socket: FakeSocket,
    public address: string,
    private readonly peerNo: number,
  ) {}

  get connId(): string {
    return this.socket.connId;
  }

  nextId(): string {
    this.seq++;
    // Deliberately unlike connection ids, so a leak of one cannot hide behind the other.
    return `msg-${this.peerNo}-${this.seq}`;
  }

  /** Builds a request with the shared typed builder; ids and timestamps are deterministic. */
  build<K extends RequestType>(type: K, payload: Requests[K], opts: Partial<BuildOptions> = {}) {
    return buildRequest(type, payload, {
      from: this.address,
      id: this.nextId(),
      timestamp: this.sc.now(),
      ...opts,
    });
  }

  /** Sends a request and returns its id. */
  request<K extends RequestType>(type: K, payload: Requests[K], opts: Partial<BuildOptions> = {}): string {
    const envelope = this.build(type, payload, opts);
    this.raw(JSON.stringify(envelope));
    return envelope.id;
  }

  /** Sends an ask and returns the single reply correlated with it. */
  ask<K extends RequestType>(type: K, payload: Requests[K], opts: Partial<BuildOptions> = {}): Msg {
    const id = this.request(type, payload, { ...opts, pattern: 'ask' });
    return this.replyTo(id);
  }

  /** The one frame received since the last read that is correlated with `id`. */
  replyTo(id: string): Msg {
    const replies = this.inbox().filter((m) => m.correlationId === id);
    expect(replies, `replies to ${id}`).toHaveLength(1);
    return replies[0]!;
  }

  raw(frame: string | ArrayBuffer): void {
    this.sc.deliver(this.socket, frame);
  }

  /** Frames received since the previous call. */
  inbox(): Msg[] {
    const all = this.sc.fake.messages(this.socket);
    const fresh = all.slice(this.cursor);
    this.cursor = all.length;
    return fresh;
  }

  all(): Msg[] {
    return this.sc.fake.messages(this.socket);
  }

  /** A heartbeat round trip: proves the connection still works. */
  heartbeatOk(): void {
    const ack = this.ask('hub:heartbeat', { timestamp: 42 });
    expect(ack.type).toBe('hub:heartbeat_ack');
    expect(ack.payload.timestamp).toBe(42);
    expect(this.socket.closed).toBeNull();
  }
}

// ---------------------------------------------------------------- wire checks

/** Reply type and retryability per error code, written from the contract's table (§3). */
export const CONTRACT_ERRORS: Record<string, string> = {
  invalid_message: 'hub:error',
  unknown_type: 'hub:error',
  not_connected: 'hub:error',
  message_expired: 'hub:error',
  ambiguous_target: 'hub:error',
  broadcast_limit_exceeded: 'hub:error',
  registry_full: 'hub:error',
  invalid_token: 'hub:error',
  internal_error: 'hub:error',
  resume_expired: 'hub:error',
  mailbox_full: 'hub:error',
  unknown_actor: 'hub:unknown_actor',
  unauthorized: 'hub:unauthorized',
  rate_limited: 'hub:rate_limited',
  version_mismatch: 'hub:version_mismatch',
  message_too_large: 'hub:message_too_large',
};
const ERROR_REPLY_TYPES = new Set(Object.values(CONTRACT_ERRORS));

/** Asserts the contract's error payload shape (§3) on one reply. */
export const expectError = (msg: Msg, code: string): void => {
  expect(msg.type).toBe(CONTRACT_ERRORS[code]);
  expect(msg.payload.code).toBe(code);
  expect(typeof msg.payload.message).toBe('string');
  expect(msg.payload.message.length).toBeGreaterThan(0);
  expect(typeof msg.payload.resolution).toBe('string');
  expect(msg.payload.resolution.length).toBeGreaterThan(0);
  expect(typeof msg.payload.retryable).toBe('boolean');
};

/**
 * Every frame the hub sent in a scenario must be a full envelope from the hub
 * (§2) whose payload and metadata parse with the schema of its type in
 * src/protocol/replies.ts, and every error must carry the §3 fields under the
 * right reply type.
 */
export const checkWire = (sc: Scenario): void => {
  for (const socket of sc.fake.sockets.values()) {
    for (const frame of socket.received) {
      if (frame === PONG_FRAME) continue;
      const msg = JSON.parse(frame) as Msg;
      const parsed = envelopeSchema.safeParse(msg);
      expect(parsed.success, frame.slice(0, 300)).toBe(true);
      if (msg.metadata?.forwarded === true) {
        // A delivery from another actor (§6): never mistakable for a reply.
        expect(msg.correlationId).toBeNull();
        expect(msg.from).not.toBe(HUB_ADDRESS);
        continue;
      }
      expect(msg.from).toBe(HUB_ADDRESS);
      expect(msg.pattern).toBe('tell');
      expect(msg.metadata !== null && typeof msg.metadata === 'object' && !Array.isArray(msg.metadata)).toBe(true);
      expect('correlationId' in msg).toBe(true);
      expect(hubFrameIssues(msg)).toBeNull();
      if (ERROR_REPLY_TYPES.has(msg.type) || msg.type === 'hub:error') {
        expectError(msg, msg.payload.code);
      }
    }
  }
};

/**
 * Runs a scenario awake and again with hibernation before every step; both
 * runs must pass and must produce the same frames, closes and registry.
 */
export const bothWays = (name: string, body: (sc: Scenario) => void, config: HubConfig = DEFAULT_CONFIG): void => {
  it(name, () => {
    const runs = (['awake', 'hibernating'] as const).map((mode) => {
      const sc = new Scenario(mode, config);
      try {
        body(sc);
        checkWire(sc);
      } catch (err) {
        if (err instanceof Error) err.message = `[${mode}] ${err.message}`;
        throw err;
      }
      return sc;
    });
    const [awake, hibernating] = runs as [Scenario, Scenario];
    expect(hibernating.fake.hibernations).toBeGreaterThan(0);
    expect(hibernating.transcript()).toEqual(awake.transcript());
  }, 30_000); // two full runs through zod-validated frames; generous for a busy two-core machine
};

export const utf8 = (text: string): ArrayBuffer => {
  const bytes = new TextEncoder().encode(text);
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
};
