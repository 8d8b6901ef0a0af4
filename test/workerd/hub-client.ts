import { env, exports } from 'cloudflare:workers';
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { expect } from 'vitest';
import { buildRequest, type BuildOptions } from '../../src/protocol/build';
import type { Requests, RequestType } from '../../src/protocol/messages';
import { HUB_ADDRESS, PROTOCOL_VERSION } from '../../src/protocol/envelope';
import { hubFrameIssues } from '../../src/protocol/replies';

export type Frame = Record<string, any>;

/** Everything a socket saw, in arrival order, so tests can assert ordering (reply before close). */
export type WireEvent = { kind: 'frame'; frame: Frame } | { kind: 'close'; code: number; reason: string };

/**
 * A WebSocket client of the hub inside workerd: a real upgrade through the
 * worker's fetch handler, frames queued as they arrive, and waits that fail
 * loudly with what did arrive.
 */
export class WorkerdClient {
  /** Frames not yet consumed by `next`/`ask`. */
  readonly frames: Frame[] = [];
  /** Full history, never consumed. */
  readonly events: WireEvent[] = [];
  closed: { code: number; reason: string } | null = null;
  /** Frames from the hub that do not match their schema in src/protocol/replies.ts; the next wait throws on them. */
  readonly wireIssues: string[] = [];
  private waiters: (() => void)[] = [];

  private constructor(
    readonly ws: WebSocket,
    public identity: string,
    /** False for an inspector socket, which carries inspection events rather than hub frames. */
    private readonly hubFrames = true,
  ) {
    ws.addEventListener('message', (e) => {
      const text = typeof e.data === 'string' ? e.data : new TextDecoder().decode(e.data as ArrayBuffer);
      const frame = JSON.parse(text) as Frame;
      if (this.hubFrames && frame.type !== 'pong') {
        const issues = hubFrameIssues(frame);
        if (issues) this.wireIssues.push(issues);
      }
      this.frames.push(frame);
      this.events.push({ kind: 'frame', frame });
      this.wake();
    });
    ws.addEventListener('close', (e) => {
      this.closed = { code: e.code, reason: e.reason };
      this.events.push({ kind: 'close', code: e.code, reason: e.reason });
      this.wake();
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves on the next frame or close, or after `ms`. */
  private settle(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Opens a socket through the worker's router; `path` defaults to the named hub's path. */
  static async open(hub: string, identity: string, path = `/ws/${hub}`): Promise<WorkerdClient> {
    const res = await exports.default.fetch(`http://hub.test${path}`, { headers: { Upgrade: 'websocket' } });
    if (res.status !== 101 || !res.webSocket) throw new Error(`upgrade failed: ${res.status}`);
    res.webSocket.accept();
    return new WorkerdClient(res.webSocket, identity, !path.startsWith('/inspect/'));
  }

  /** Opens a socket and completes hub:connect. */
  static async connected(
    hub: string,
    identity: string,
    metadata: Record<string, unknown> = {},
    path?: string,
  ): Promise<WorkerdClient> {
    const client = await WorkerdClient.open(hub, identity, path);
    await client.connect(metadata);
    return client;
  }

  async connect(metadata: Record<string, unknown> = {}): Promise<Frame> {
    const reply = await this.ask('hub:connect', null, { metadata: { protocolVersion: PROTOCOL_VERSION, ...metadata } });
    if (reply.type !== 'hub:connected') throw new Error(`connect failed: ${JSON.stringify(reply)}`);
    return reply;
  }

  sendRaw(data: string | ArrayBuffer): void {
    this.ws.send(data);
  }

  /** Sends any JSON value as a text frame (for deliberately malformed envelopes). */
  sendJson(value: unknown): void {
    this.ws.send(JSON.stringify(value));
  }

  /** A well-formed request envelope, for tests that then break one field of it. */
  build<K extends RequestType>(type: K, payload: Requests[K], opts: Partial<BuildOptions> = {}) {
    return buildRequest(type, payload, { from: this.identity, ...opts });
  }

  /** Sends a request and returns its id. */
  request<K extends RequestType>(type: K, payload: Requests[K], opts: Partial<BuildOptions> = {}): string {
    const msg = this.build(type, payload, opts);
    this.ws.send(JSON.stringify(msg));
    return msg.id;
  }

  /** Sends a request and waits for the frame correlated with it. */
  async ask<K extends RequestType>(type: K, payload: Requests[K], opts: Partial<BuildOptions> = {}): Promise<Frame> {
    const id = this.request(type, payload, opts);
    return this.reply(id);
  }

  /** Waits for the frame correlated with request `id`. */
  reply(id: string, timeoutMs?: number): Promise<Frame> {
    return this.next((f) => f.correlationId === id, timeoutMs);
  }

  /** Waits for the next not-yet-consumed frame matching `match`. */
  async next(match: (f: Frame) => boolean = () => true, timeoutMs = 5_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.checkWire();
      const i = this.frames.findIndex(match);
      if (i >= 0) return this.frames.splice(i, 1)[0]!;
      // A closed socket will deliver nothing more.
      const left = deadline - Date.now();
      if (this.closed || left <= 0) break;
      await this.settle(left);
    }
    throw new Error(
      `no matching frame within ${timeoutMs} ms (closed: ${JSON.stringify(this.closed)}); received: ${JSON.stringify(this.frames).slice(0, 2000)}`,
    );
  }

  async waitClosed(timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      this.checkWire();
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`socket did not close within ${timeoutMs} ms`);
      await this.settle(left);
    }
    this.checkWire();
    return this.closed;
  }

  /** Fails the test on the first frame the hub sent that its schema refuses. */
  checkWire(): void {
    if (this.wireIssues.length > 0) throw new Error(`the hub sent a frame outside its schema: ${this.wireIssues[0]}`);
  }

  /** Asserts the session still answers a heartbeat (the connection survived whatever came before). */
  async expectAlive(): Promise<void> {
    const ack = await this.ask('hub:heartbeat', { timestamp: Date.now() });
    expect(ack.type).toBe('hub:heartbeat_ack');
  }

  close(code = 1000): void {
    this.ws.close(code, 'client');
  }
}

/**
 * Asserts a frame is a hub error reply of the contract's shape (§2, §3):
 * a full envelope from the hub, correlated with the request when its id was
 * readable, carrying code, message, resolution and retryable.
 */
export const expectError = (
  frame: Frame,
  type: string,
  code: string,
  correlationId: string | null,
): Record<string, any> => {
  expect(frame).toMatchObject({ type, from: HUB_ADDRESS, pattern: 'tell', correlationId });
  expect(typeof frame.id).toBe('string');
  expect(typeof frame.to).toBe('string');
  expect(typeof frame.timestamp).toBe('number');
  expect(frame.metadata).toBeTypeOf('object');
  expect(frame.metadata).not.toBeNull();
  const p = frame.payload as Record<string, any>;
  expect(p.code).toBe(code);
  expect(typeof p.message).toBe('string');
  expect(p.message.length).toBeGreaterThan(0);
  expect(typeof p.resolution).toBe('string');
  expect(p.resolution.length).toBeGreaterThan(0);
  expect(typeof p.retryable).toBe('boolean');
  return p;
};

/** Polls `probe` until it returns true; for effects of socket closes and alarms, which land asynchronously. */
export const eventually = async (probe: () => Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const stubFor = (hub: string) => env.SIGNAL_HUB.get(env.SIGNAL_HUB.idFromName(hub));

/**
 * Evicts the hub's object from memory while its sockets stay open, as the
 * runtime does when idle. The runtime hibernates an object only after seconds
 * of idleness, by when the flush alarm (the seen-set's and the sessions'
 * batched writes, docs/PROTOCOL.md §11) has run; evictDurableObject alone is
 * abrupt, so that flush runs first, as the fake object's hibernate() does.
 * `crash` is the abrupt kind.
 */
export const hibernate = async (hub: string): Promise<void> => {
  await runInDurableObject(stubFor(hub), (instance) => {
    (instance as unknown as { runtime: { flush(): void } }).runtime.flush();
  });
  await crash(hub);
};

/** Evicts the hub's object with no flush first: what a crash or a deploy does to memory. */
export const crash = async (hub: string): Promise<void> => {
  await evictDurableObject(stubFor(hub), { webSockets: 'hibernate' });
};

/**
 * Evicts the hub if it is in memory and reports whether it was. A hub that
 * only saw runtime-answered pings is already out of memory, which is the state
 * the caller wants, so the runtime's refusal to evict it is not an error.
 */
export const hibernateIfAwake = async (hub: string): Promise<boolean> => {
  try {
    await hibernate(hub);
    return true;
  } catch (err) {
    if (err instanceof Error && /not currently running/.test(err.message)) return false;
    throw err;
  }
};

/** Rows physically present in the hub's actor table, expired or not. */
export const storedActorCount = (hub: string): Promise<number> =>
  runInDurableObject(stubFor(hub), (_instance, state) =>
    Number(state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM actors').one().n),
  );

/** Session states as persisted in the socket attachments (what a woken hub rebuilds from). */
export const persistedStates = (hub: string): Promise<string[]> =>
  runInDurableObject(stubFor(hub), (_instance, state) =>
    state
      .getWebSockets()
      .map((ws) => (ws.deserializeAttachment() as { machine?: { value?: string } } | null)?.machine?.value ?? 'none'),
  );

/** Connection ids (socket tags) of the hub's sockets, to prove they never leak to clients. */
export const connectionIds = (hub: string): Promise<string[]> =>
  runInDurableObject(stubFor(hub), (_instance, state) => state.getWebSockets().flatMap((ws) => state.getTags(ws)));

let counter = 0;
/** A hub name of its own per test, so tests never share registry or sessions. */
export const freshHub = (label: string): string => `${label}-${Date.now().toString(36)}-${++counter}`;

/** Each stateful rule runs twice: in memory, and with the object evicted between steps. */
export const MODES = [
  { mode: 'in memory', between: async (_hub: string): Promise<void> => {} },
  { mode: 'across hibernation', between: hibernate },
] as const;
