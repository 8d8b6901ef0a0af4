import { DEFAULT_CONFIG, type HubConfig } from '../src/config';
import type { Effect } from '../src/core/effects';
import { HubCore } from '../src/core/hub';
import type { LogEntry } from '../src/core/log';
import { SeededIds, SimClock } from './clock';
import { MemoryKvStore } from './memory-kv-store';
import { MemoryRegistryStore } from './memory-registry-store';
import { PING_FRAME, PONG_FRAME } from '../src/protocol/ping';

/** The runtime's limit on a socket attachment. */
export const ATTACHMENT_LIMIT = 16 * 1024;

export interface FakeSocket {
  readonly connId: string;
  /** Every frame the hub sent to this socket, raw, in order. */
  readonly received: string[];
  attachment: unknown;
  /** Set once the hub closed the socket (or the client did). */
  closed: { code: number; reason: string; by: 'hub' | 'client' } | null;
  /** Last time the runtime auto-answered a ping on this socket. */
  pingAt: number | null;
}

/**
 * A stand-in for the Durable Object runtime around the hub core: sockets
 * with attachments and tags, the ping auto-response, one alarm, durable
 * storage, and `hibernate()`, which throws the core away exactly as an
 * eviction does while sockets and storage stay. It performs effects in the
 * same order and with the same meaning as src/hub-object.ts.
 */
export class FakeHubObject {
  readonly clock: SimClock;
  readonly ids: SeededIds;
  readonly registry = new MemoryRegistryStore();
  readonly kv = new MemoryKvStore();
  readonly sockets = new Map<string, FakeSocket>();
  readonly logs: LogEntry[] = [];
  alarmAt: number | null = null;
  hibernations = 0;
  private core: HubCore | null = null;
  private nextConn = 0;

  constructor(
    readonly config: HubConfig = DEFAULT_CONFIG,
    opts: { clock?: SimClock; seed?: number } = {},
  ) {
    this.clock = opts.clock ?? new SimClock();
    this.ids = new SeededIds(opts.seed ?? 1);
  }

  /**
   * The live core, built from the attachments if the object was evicted.
   * `current` is the socket whose event wakes the object: like hub(ws) in
   * hub-object.ts, it is restored even when it is already closing.
   */
  hub(current?: FakeSocket): HubCore {
    if (this.core) return this.core;
    const restored = [...this.sockets.values()]
      .filter((s) => s.closed === null || s === current)
      .map((s) => ({ connId: s.connId, attachment: structuredClone(s.attachment) }));
    this.core = new HubCore(
      this.config,
      {
        registry: this.registry,
        kv: this.kv,
        ids: this.ids,
        pingAt: (connId) => this.sockets.get(connId)?.pingAt ?? null,
      },
      restored,
    );
    for (const connId of HubCore.unreadable(restored)) this.closeSocket(connId, 1011, 'session_state_unreadable', 'hub');
    return this.core;
  }

  /** Drop every in-memory structure, as an eviction with open sockets does. */
  hibernate(): void {
    this.core = null;
    this.hibernations++;
  }

  get awake(): boolean {
    return this.core !== null;
  }

  open(): FakeSocket {
    const hub = this.hub();
    this.nextConn++;
    const socket: FakeSocket = { connId: `conn-${this.nextConn}`, received: [], attachment: null, closed: null, pingAt: null };
    this.sockets.set(socket.connId, socket);
    this.perform(hub.open(socket.connId, this.clock.now()));
    return socket;
  }

  /** A frame from the client. Pings are answered by the "runtime" without waking the hub. */
  send(socket: FakeSocket, frame: string | ArrayBuffer): void {
    if (socket.closed) throw new Error(`${socket.connId} is closed`);
    if (frame === PING_FRAME) {
      socket.received.push(PONG_FRAME);
      socket.pingAt = this.clock.now();
      return;
    }
    this.perform(this.hub().frame(socket.connId, frame, this.clock.now()));
  }

  /** The client closes its socket; the runtime reports it to the hub. */
  clientClose(socket: FakeSocket, code = 1000): void {
    if (socket.closed) return;
    // Wake with the closing socket still known, as hub-object.ts does with hub(ws):
    // a core rebuilt without it would never release the session's registrations.
    const hub = this.hub();
    socket.closed = { code, reason: 'client', by: 'client' };
    this.perform(hub.closed(socket.connId, code, this.clock.now()));
  }

  /** Fire the alarm now, whether or not it is due (alarms may fire early or twice). */
  fireAlarm(): void {
    this.alarmAt = null;
    this.perform(this.hub().tick(this.clock.now()));
  }

  /** Move the clock forward, firing the alarm at each time it was set for. */
  advance(ms: number): void {
    const target = this.clock.now() + ms;
    let guard = 0;
    while (this.alarmAt !== null && this.alarmAt <= target) {
      if (++guard > 10_000) throw new Error('alarm loop did not settle');
      this.clock.set(Math.max(this.alarmAt, this.clock.now()));
      this.fireAlarm();
    }
    this.clock.set(target);
  }

  /** Frames a socket received, parsed (pongs included). */
  messages(socket: FakeSocket): Record<string, any>[] {
    return socket.received.map((f) => JSON.parse(f) as Record<string, any>);
  }

  private closeSocket(connId: string, code: number, reason: string, by: 'hub' | 'client'): void {
    const socket = this.sockets.get(connId);
    if (socket && !socket.closed) socket.closed = { code, reason, by };
  }

  perform(effects: Effect[]): void {
    for (const effect of effects) {
      const socket = 'conn' in effect ? this.sockets.get(effect.conn) : undefined;
      switch (effect.kind) {
        case 'send':
          if (socket && !socket.closed) socket.received.push(effect.frame);
          break;
        case 'close':
          this.closeSocket(effect.conn, effect.code, effect.reason, 'hub');
          break;
        case 'persist': {
          if (!socket) break;
          const size = JSON.stringify(effect.attachment).length;
          if (size > ATTACHMENT_LIMIT) throw new Error(`attachment of ${effect.conn} is ${size} bytes`);
          socket.attachment = structuredClone(effect.attachment);
          break;
        }
        case 'alarm':
          this.alarmAt = effect.at;
          break;
        case 'log':
          this.logs.push(effect.entry);
          break;
      }
    }
  }

  /**
   * The hub's close reaches the client, whose close frame comes back: the
   * runtime then reports the close to the hub, as workerd does.
   */
  completeCloses(): void {
    for (const socket of this.sockets.values()) {
      if (socket.closed?.by === 'hub' && this.core?.session(socket.connId)) {
        this.perform(this.hub().closed(socket.connId, socket.closed.code, this.clock.now()));
      }
    }
  }
}

export const configWith = (overrides: Partial<HubConfig>): HubConfig => ({ ...DEFAULT_CONFIG, ...overrides });
