import WebSocket from 'ws';
import { buildRequest, type BuildOptions } from '../../src/protocol/build';
import { PROTOCOL_VERSION } from '../../src/protocol/envelope';
import type { Requests, RequestType } from '../../src/protocol/messages';

export type Frame = Record<string, any>;

/** Everything the socket saw, in arrival order, so tests can check what came before a close. */
export type WireEvent = { kind: 'frame'; frame: Frame } | { kind: 'close'; code: number; reason: string };

// Generous: CI runs the workerd projects beside this one on two cores.
const DEFAULT_WAIT_MS = 10_000;

/**
 * A hub client over a real TCP WebSocket. Incoming frames are queued; `next`
 * takes the first unconsumed frame that matches, waiting up to a timeout and
 * failing with what did arrive, so a missing reply is easy to diagnose.
 */
export class WsTestClient {
  /** Frames not yet taken by `next`. */
  readonly pending: Frame[] = [];
  readonly events: WireEvent[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters = new Set<() => void>();

  private constructor(
    readonly ws: WebSocket,
    public identity: string,
  ) {
    ws.on('message', (data, isBinary) => {
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data as Buffer[]).toString('utf8');
      let frame: Frame;
      try {
        frame = JSON.parse(text) as Frame;
      } catch {
        // Kept rather than thrown: a non-JSON frame from the hub is itself a finding.
        frame = { unparsable: text, isBinary };
      }
      this.pending.push(frame);
      this.events.push({ kind: 'frame', frame });
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString('utf8') };
      this.events.push({ kind: 'close', ...this.closed });
      this.wake();
    });
    // Errors surface as a close; swallowing here keeps one bad socket from failing the process.
    ws.on('error', () => undefined);
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Waits until `ready()` holds or a wake-up happens, whichever is first; false on timeout. */
  private async until(ready: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.waiters.add(done);
      });
    }
    return true;
  }

  /** Opens a socket to `url` (e.g. ws://127.0.0.1:1234/ws/name) and waits until it is open. */
  static async open(url: string, identity: string, timeoutMs = DEFAULT_WAIT_MS): Promise<WsTestClient> {
    const ws = new WebSocket(url);
    const client = new WsTestClient(ws, identity);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`WebSocket to ${url} did not open within ${timeoutMs} ms`));
      }, timeoutMs);
      ws.once('open', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.once('unexpected-response', (req, res) => {
        clearTimeout(timer);
        // With this listener present, ws leaves the refused request to us.
        req.destroy();
        reject(new Error(`upgrade to ${url} refused with HTTP ${res.statusCode}`));
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    return client;
  }

  /** Opens a socket and completes hub:connect; resolves with the client and the hub:connected frame. */
  static async connected(
    url: string,
    identity: string,
    metadata: Record<string, unknown> = {},
  ): Promise<{ client: WsTestClient; connected: Frame }> {
    const client = await WsTestClient.open(url, identity);
    const connected = await client.ask('hub:connect', null, {
      metadata: { protocolVersion: PROTOCOL_VERSION, ...metadata },
    });
    if (connected.type !== 'hub:connected') {
      client.terminate();
      throw new Error(`hub:connect failed: ${JSON.stringify(connected)}`);
    }
    return { client, connected };
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** Sends a request built with the shared typed builder and returns its id. */
  request<K extends RequestType>(type: K, payload: Requests[K], opts: Partial<BuildOptions> = {}): string {
    const msg = buildRequest(type, payload, { from: this.identity, ...opts });
    this.ws.send(JSON.stringify(msg));
    return msg.id;
  }

  /** Sends a request and waits for the frame correlated with it. */
  async ask<K extends RequestType>(
    type: K,
    payload: Requests[K],
    opts: Partial<BuildOptions> = {},
    timeoutMs = DEFAULT_WAIT_MS,
  ): Promise<Frame> {
    const id = this.request(type, payload, opts);
    return this.next((f) => f.correlationId === id, timeoutMs);
  }

  /** Takes the first unconsumed frame matching `match`, waiting for it if needed. */
  async next(match: (f: Frame) => boolean = () => true, timeoutMs = DEFAULT_WAIT_MS): Promise<Frame> {
    let index = -1;
    const found = await this.until(() => {
      index = this.pending.findIndex(match);
      return index >= 0;
    }, timeoutMs);
    if (!found) {
      const seen = JSON.stringify(this.pending).slice(0, 2_000);
      const state = this.closed ? ` (socket closed ${this.closed.code})` : '';
      throw new Error(`no matching frame within ${timeoutMs} ms${state}; unconsumed: ${seen}`);
    }
    return this.pending.splice(index, 1)[0]!;
  }

  async waitClosed(timeoutMs = DEFAULT_WAIT_MS): Promise<{ code: number; reason: string }> {
    if (!(await this.until(() => this.closed !== null, timeoutMs))) {
      throw new Error(`socket did not close within ${timeoutMs} ms`);
    }
    return this.closed!;
  }

  close(code = 1000, reason = 'client'): void {
    this.ws.close(code, reason);
  }

  /** Drops the TCP connection without a close handshake; safe to call on a closed socket. */
  terminate(): void {
    this.ws.terminate();
  }
}
