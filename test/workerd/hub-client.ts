import { env, exports } from 'cloudflare:workers';
import { evictDurableObject } from 'cloudflare:test';
import { buildRequest, type BuildOptions } from '../../src/protocol/build';
import type { Requests, RequestType } from '../../src/protocol/messages';
import { PROTOCOL_VERSION } from '../../src/protocol/envelope';

export type Frame = Record<string, any>;

/**
 * A WebSocket client of the hub inside workerd: a real upgrade through the
 * worker's fetch handler, frames queued as they arrive, and waits that fail
 * loudly with what did arrive.
 */
export class HubClient {
  readonly frames: Frame[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: (() => void)[] = [];
  private cursor = 0;

  private constructor(
    readonly ws: WebSocket,
    public identity: string,
  ) {
    ws.addEventListener('message', (e) => {
      this.frames.push(JSON.parse(typeof e.data === 'string' ? e.data : new TextDecoder().decode(e.data as ArrayBuffer)));
      this.wake();
    });
    ws.addEventListener('close', (e) => {
      this.closed = { code: e.code, reason: e.reason };
      this.wake();
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  static async open(hub: string, identity: string, path = `/ws/${hub}`): Promise<HubClient> {
    const res = await exports.default.fetch(`http://hub.test${path}`, { headers: { Upgrade: 'websocket' } });
    if (res.status !== 101 || !res.webSocket) throw new Error(`upgrade failed: ${res.status}`);
    res.webSocket.accept();
    return new HubClient(res.webSocket, identity);
  }

  /** Opens a socket and completes hub:connect. */
  static async connected(hub: string, identity: string, metadata: Record<string, unknown> = {}): Promise<HubClient> {
    const client = await HubClient.open(hub, identity);
    const reply = await client.ask('hub:connect', null, { metadata: { protocolVersion: PROTOCOL_VERSION, ...metadata } });
    if (reply.type !== 'hub:connected') throw new Error(`connect failed: ${JSON.stringify(reply)}`);
    return client;
  }

  sendRaw(data: string | ArrayBuffer): void {
    this.ws.send(data);
  }

  /** Sends a request and returns its id. */
  request<K extends RequestType>(type: K, payload: Requests[K], opts: Partial<BuildOptions> = {}): string {
    const msg = buildRequest(type, payload, { from: this.identity, ...opts });
    this.ws.send(JSON.stringify(msg));
    return msg.id;
  }

  /** Sends a request and waits for the frame correlated with it. */
  async ask<K extends RequestType>(type: K, payload: Requests[K], opts: Partial<BuildOptions> = {}): Promise<Frame> {
    const id = this.request(type, payload, opts);
    return this.next((f) => f.correlationId === id);
  }

  /** Waits for the next not-yet-consumed frame matching `match`. */
  async next(match: (f: Frame) => boolean = () => true, timeoutMs = 5_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = this.cursor; i < this.frames.length; i++) {
        const f = this.frames[i]!;
        if (match(f)) {
          this.frames.splice(i, 1);
          return f;
        }
      }
      if (this.closed && this.waiters.length === 0 && Date.now() > deadline) break;
      const left = deadline - Date.now();
      if (left <= 0) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    throw new Error(`no matching frame within ${timeoutMs} ms; received: ${JSON.stringify(this.frames).slice(0, 2000)}`);
  }

  async waitClosed(timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('socket did not close');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.closed;
  }

  close(code = 1000): void {
    this.ws.close(code, 'client');
  }
}

export const stubFor = (hub: string) => env.SIGNAL_HUB.get(env.SIGNAL_HUB.idFromName(hub));

/** Evicts the hub's object from memory while its sockets stay open, as the runtime does when idle. */
export const hibernate = async (hub: string): Promise<void> => {
  await evictDurableObject(stubFor(hub), { webSockets: 'hibernate' });
};

let counter = 0;
/** A hub name of its own per test, so tests never share registry or sessions. */
export const freshHub = (label: string): string => `${label}-${Date.now().toString(36)}-${++counter}`;
