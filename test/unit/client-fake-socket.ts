import { HUB_ADDRESS, type Envelope } from '../../src/protocol/envelope';
import type { SocketLike } from '../../src/client/socket';
import { PING_FRAME } from '../../src/protocol/ping';

export type Frame = Envelope & { payload: any; metadata: Record<string, any> };

/**
 * A WebSocket stand-in the client can be given as its WebSocket class. Each
 * instance records what the client writes; the test plays the hub with
 * `open`, `receive`, `reply` and `drop`.
 */
export class FakeSocket implements SocketLike {
  static instances: FakeSocket[] = [];
  static reset(): void {
    FakeSocket.instances = [];
  }
  static get last(): FakeSocket {
    const s = FakeSocket.instances[FakeSocket.instances.length - 1];
    if (!s) throw new Error('no socket was opened');
    return s;
  }

  readyState = 0;
  onopen: ((event: any) => void) | null = null;
  onmessage: ((event: any) => void) | null = null;
  onclose: ((event: any) => void) | null = null;
  onerror: ((event: any) => void) | null = null;
  /** Raw text of every frame the client wrote, pings included. */
  readonly written: string[] = [];
  /** The close the client asked for, if any. */
  closedByClient: { code: number | undefined; reason: string | undefined } | null = null;

  constructor(readonly url: string) {
    FakeSocket.instances.push(this);
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error(`send on a socket in state ${this.readyState}`);
    this.written.push(data);
  }

  close(code?: number, reason?: string): void {
    this.closedByClient = { code, reason };
    if (this.readyState >= 2) return;
    this.readyState = 2;
    // Like a browser: the close event comes later, with the code the hub echoes.
    queueMicrotask(() => this.finishClose(code ?? 1005, reason ?? ''));
  }

  // ---- The hub's side ----

  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  /** Every frame the client wrote that is an envelope (pings left out), parsed. */
  get requests(): Frame[] {
    return this.written.filter((t) => t !== PING_FRAME).map((t) => JSON.parse(t) as Frame);
  }

  get pings(): number {
    return this.written.filter((t) => t === PING_FRAME).length;
  }

  /** The latest request of `type`; throws if there is none. */
  request(type: string): Frame {
    const found = this.requests.filter((r) => r.type === type);
    const last = found[found.length - 1];
    if (!last) throw new Error(`no ${type} written; saw ${this.requests.map((r) => r.type).join(', ')}`);
    return last;
  }

  receive(frame: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  receiveText(text: string): void {
    this.onmessage?.({ data: text });
  }

  /** Sends a hub reply correlated with `request`. */
  reply(request: { id: string; from: string }, type: string, payload: unknown, metadata: Record<string, unknown> = {}): void {
    this.receive(hubFrame(type, payload, { to: request.from, correlationId: request.id, metadata }));
  }

  /** Completes hub:connect the way the hub does. */
  accept(
    overrides: Partial<{
      heartbeatInterval: number;
      identity: string;
      token: string;
      resumeToken: string;
      resumed: boolean;
      /** capabilities.idempotency of hub:connected (issue 14 B); absent by default, as from a hub without it. */
      idempotency: { windowMs: number; limit: number; scope: 'session' | 'identity' };
    }> = {},
  ): void {
    const connect = this.request('hub:connect');
    this.reply(
      connect,
      'hub:connected',
      {
        sessionId: `s-${FakeSocket.instances.indexOf(this)}`,
        serverVersion: '0.1.0',
        maxMessageSize: 1_048_576,
        heartbeatInterval: overrides.heartbeatInterval ?? 20_000,
        capabilities: {
          maxActorsPerInstance: 50_000,
          supportsBackpressure: true,
          supportedContentTypes: ['application/json'],
          ...(overrides.idempotency && { idempotency: overrides.idempotency }),
        },
        rateLimit: { perSecond: 10, burst: 20 },
        token: overrides.token ?? 'session-token-1',
        tokenExpiresAt: Date.now() + 3_600_000,
        // A hub with session resume on sends both (docs/PROTOCOL.md "Session resume").
        ...(overrides.resumeToken !== undefined && { resumeToken: overrides.resumeToken, resumed: overrides.resumed ?? false }),
      },
      { actorIdentity: overrides.identity ?? connect.from },
    );
  }

  /** The hub (or the network) closes the socket. */
  drop(code = 1006, reason = ''): void {
    this.finishClose(code, reason);
  }

  /** A connection that fails the way `ws` reports it: an error event carrying `error`, then a close with 1006. */
  fail(error: { code?: string; message: string }): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onerror?.({ error, message: error.message });
    this.onclose?.({ code: 1006, reason: '' });
  }

  private finishClose(code: number, reason: string): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code, reason });
  }
}

export const hubFrame = (
  type: string,
  payload: unknown,
  opts: { to?: string; correlationId?: string | null; metadata?: Record<string, unknown>; from?: string } = {},
): Record<string, unknown> => ({
  id: `hub-${Math.random().toString(36).slice(2)}`,
  from: opts.from ?? HUB_ADDRESS,
  to: opts.to ?? '@(unknown)',
  type,
  payload,
  pattern: 'tell',
  correlationId: opts.correlationId ?? null,
  timestamp: Date.now(),
  metadata: opts.metadata ?? {},
  ttl: null,
  signature: null,
});

/**
 * A FakeSocket with the part of `ws`'s API the client uses for a refused
 * upgrade: the `unexpected-response` event with the HTTP response, and
 * terminate(), after which ws emits an error and a 1006 close.
 */
export class FakeNodeSocket extends FakeSocket {
  private listeners: ((req: unknown, res: unknown) => void)[] = [];
  terminated = false;

  once(event: string, fn: (req: unknown, res: unknown) => void): void {
    if (event === 'unexpected-response') this.listeners.push(fn);
  }

  terminate(): void {
    this.terminated = true;
    this.fail({ message: 'WebSocket was closed before the connection was established' });
  }

  /**
   * The server answers the upgrade with `status` and `body`, sent in `chunks`
   * pieces. With no listener, ws fails with "Unexpected server response".
   */
  refuseUpgrade(status: number, body: string, chunks = 1): void {
    const listeners = this.listeners.splice(0);
    if (listeners.length === 0) {
      this.fail({ message: `Unexpected server response: ${status}` });
      return;
    }
    const handlers: Record<string, ((arg?: unknown) => void)[]> = {};
    const res = {
      statusCode: status,
      setEncoding: () => undefined,
      on: (event: string, fn: (arg?: unknown) => void) => (handlers[event] ??= []).push(fn),
    };
    for (const fn of listeners) fn({}, res);
    const size = Math.ceil(body.length / chunks);
    for (let i = 0; i < body.length && !this.terminated; i += size) for (const fn of handlers.data ?? []) fn(body.slice(i, i + size));
    if (!this.terminated) for (const fn of handlers.end ?? []) fn();
  }
}
