import { DEFAULT_CONFIG, type HubConfig } from '../src/config';
import type { Effect } from '../src/core/effects';
import type { HubCore } from '../src/core/hub';
import type { LogEntry } from '../src/core/log';
import { RuntimeAdapter, type RuntimeOptions, type RuntimePlugin } from '../src/runtime/adapter';
import type { RuntimeHooks } from '../src/runtime/hooks';
import { MemoryConnections, memorySocket, type MemorySocket } from '../src/runtime/memory';
import { SeededIds, SimClock } from './clock';
import { MemoryKvStore } from './memory-kv-store';
import { MemoryRegistryStore } from './memory-registry-store';
import { PING_FRAME, PONG_FRAME } from '../src/protocol/ping';

export { ATTACHMENT_LIMIT } from '../src/runtime/memory';

/** A socket of the fake runtime (the in-memory connection manager's socket). */
export type FakeSocket = MemorySocket;

export interface FakeOptions {
  clock?: SimClock;
  seed?: number;
  /** JWT secret for auth preparation (auth on). */
  secret?: string;
  plugins?: readonly RuntimePlugin<MemorySocket>[];
  /** An embedding application's hooks, as a SignalHub subclass would give them. */
  hooks?: RuntimeHooks;
  /**
   * An exception escaped the core. The adapter has already done what the
   * Durable Object does (logged it, answered internal_error, dropped the
   * core); by default the fake then rethrows, so a test never passes over a
   * core bug. The trace runner records it instead.
   */
  onFault?: (err: unknown, connId: string | undefined) => void;
  /** Sees every effect just before it is performed. */
  onEffect?: (effect: Effect) => void;
  /** Hold a flooding socket's frames for later turns, as the Durable Object does (src/runtime/fair-queue.ts). */
  fairness?: RuntimeOptions<MemorySocket>['fairness'];
}

const rethrow = (err: unknown): never => {
  throw err;
};

/**
 * The Durable Object runtime around the hub core, in memory: the same
 * runtime adapter as src/hub-object.ts over the in-memory connection manager
 * (src/runtime/memory.ts), the ping auto-response, one alarm, durable
 * storage, and `hibernate()`, which throws the core away exactly as an
 * eviction does while sockets and storage stay.
 */
export class FakeHubObject {
  readonly clock: SimClock;
  readonly ids: SeededIds;
  readonly registry = new MemoryRegistryStore();
  readonly kv = new MemoryKvStore();
  readonly connections = new MemoryConnections();
  readonly logs: LogEntry[] = [];
  alarmAt: number | null = null;
  hibernations = 0;
  readonly runtime: RuntimeAdapter<MemorySocket>;
  private nextConn = 0;

  constructor(
    readonly config: HubConfig = DEFAULT_CONFIG,
    opts: FakeOptions = {},
  ) {
    this.clock = opts.clock ?? new SimClock();
    this.ids = new SeededIds(opts.seed ?? 1);
    this.runtime = new RuntimeAdapter<MemorySocket>(
      {
        connections: this.connections,
        alarm: { set: (at) => (this.alarmAt = at) },
        clock: this.clock,
        host: { registry: this.registry, kv: this.kv, ids: this.ids },
        log: (entry) => this.logs.push(entry),
      },
      {
        config,
        secret: opts.secret ?? '',
        plugins: opts.plugins,
        hooks: opts.hooks,
        onEffect: opts.onEffect,
        fairness: opts.fairness,
        // Through perform(), so a test's subclass sees every effect list the core returns.
        dispatch: (effects) => this.perform(effects),
        onFault: opts.onFault ?? rethrow,
      },
    );
  }

  /** Every session socket ever opened, by connection id, in opening order. */
  get sockets(): Map<string, FakeSocket> {
    return this.connections.sockets;
  }

  /**
   * The live core, built from the attachments if the object was evicted.
   * `current` is the socket whose event wakes the object: it is restored
   * even when it is already closing.
   */
  hub(current?: FakeSocket): HubCore {
    return this.runtime.hub(current);
  }

  /**
   * Drop every in-memory structure, as hibernation with open sockets does.
   * The runtime hibernates an object only after seconds of idleness, by when
   * the flush alarm (DEDUP_FLUSH_MS after the seen-set's first unwritten id,
   * SESSION_FLUSH_MS after a session's first unwritten counter) has run, so
   * that flush is done first (docs/PROTOCOL.md §11 and "Idempotent
   * requests"). `crash()` is the abrupt kind.
   */
  hibernate(): void {
    this.runtime.flush();
    this.crash();
  }

  /** Drop every in-memory structure at once (a crash, a deploy, an eviction with no idle time before it). */
  crash(): void {
    this.runtime.evict();
    this.hibernations++;
  }

  get awake(): boolean {
    return this.runtime.awake !== null;
  }

  open(): FakeSocket {
    this.nextConn++;
    const socket = memorySocket(`conn-${this.nextConn}`);
    this.runtime.open(socket, socket.connId);
    return socket;
  }

  /**
   * A frame from the client. Pings are answered by the "runtime" without
   * waking the hub. With auth on the frame's token is checked first, which is
   * asynchronous: the promise settles once the hub handled the frame.
   */
  send(socket: FakeSocket, frame: string | ArrayBuffer): Promise<void> | undefined {
    if (socket.closed) throw new Error(`${socket.connId} is closed`);
    if (frame === PING_FRAME) {
      socket.received.push(PONG_FRAME);
      socket.pingAt = this.clock.now();
      return undefined;
    }
    return this.runtime.message(socket, frame);
  }

  /** The client closes its socket; the runtime reports it to the hub. */
  clientClose(socket: FakeSocket, code = 1000): void {
    if (socket.closed) return;
    socket.closed = { code, reason: 'client', by: 'client' };
    this.runtime.closed(socket, code);
  }

  /** The runtime reports a close of `socket` (the client's, or its answer to the hub's). */
  reportClose(socket: FakeSocket, code: number): void {
    this.runtime.closed(socket, code);
  }

  /** Fire the alarm now, whether or not it is due (alarms may fire early or twice). */
  fireAlarm(): void {
    this.alarmAt = null;
    this.runtime.alarm();
  }

  shutdown(): void {
    this.runtime.shutdown();
  }

  /**
   * Move the clock forward, firing the alarm at each time it was set for.
   * `fire` is what firing means (the trace runner and the scenarios add their
   * own bookkeeping around it); this is the harness's one alarm loop.
   */
  advance(ms: number, fire: () => void = () => this.fireAlarm(), runaway: (message: string) => Error = (m) => new Error(m)): void {
    const target = this.clock.now() + ms;
    let guard = 0;
    while (this.alarmAt !== null && this.alarmAt <= target) {
      if (++guard > 100_000) throw runaway('the alarm kept re-arming without time passing');
      this.clock.set(Math.max(this.alarmAt, this.clock.now()));
      fire();
    }
    this.clock.set(target);
  }

  /** Frames a socket received, parsed (pongs included). */
  messages(socket: FakeSocket): Record<string, any>[] {
    return socket.received.map((f) => JSON.parse(f) as Record<string, any>);
  }

  /** Performs effects as the runtime does; every effect list the core returns passes here. */
  perform(effects: Effect[]): void {
    this.runtime.perform(effects);
  }


  /**
   * The hub's close reaches the client, whose close frame comes back: the
   * runtime then reports the close to the hub, as workerd does.
   */
  completeCloses(): void {
    for (const socket of this.sockets.values()) {
      if (socket.closed?.by === 'hub' && this.runtime.awake?.session(socket.connId)) this.runtime.closed(socket, socket.closed.code);
    }
  }
}

export const configWith = (overrides: Partial<HubConfig>): HubConfig => ({ ...DEFAULT_CONFIG, ...overrides });
