import { prepareAuth } from '../auth/prepare';
import type { HubConfig } from '../config';
import type { AuthInput } from '../core/auth';
import type { Effect } from '../core/effects';
import { HubCore } from '../core/hub';
import { INSPECTOR_TAG } from '../core/inspection';
import type { LogEntry } from '../core/log';
import type { HubHost } from '../core/turn';
import type { ShellCounters } from '../ops/snapshot';
import type { AlarmPort, Clock, ConnectionManager } from './connections';
import { FairQueue, type FairQueueLimits, type Later } from './fair-queue';
import type { ConnectClaim, HubConnection, RuntimeHooks } from './hooks';
import { hookReplyFrame, internalErrorFrame } from './hub-frames';

/**
 * The one runtime adapter: it turns runtime events (a socket opened, a frame,
 * a close, an error, the alarm, a shutdown) into `HubCore` calls with the
 * current time and the runtime's facts as data (the JWT verdict, the last
 * auto-ping of each socket), and performs the effects the core returns. The
 * Durable Object (src/hub-object.ts), the harness's fake object, the trace
 * runner and the property tests all drive the hub through this class; only
 * the I/O behind it (a `ConnectionManager`, an alarm, a clock) differs.
 *
 * The core is built lazily, from the attachments of every socket the runtime
 * holds, on the first event after construction or after `evict()`, so a wake
 * from hibernation costs nothing until something happens.
 */

/** What the adapter needs from its runtime, besides the options. */
export interface RuntimeIO<S> {
  connections: ConnectionManager<S>;
  alarm: AlarmPort;
  clock: Clock;
  /** The durable ports and id source the core is built with. */
  host: HubHost;
  log(entry: LogEntry): void;
  /** Counts an event only the runtime sees, for /metrics; absent in the harness. */
  count?(event: keyof ShellCounters): void;
}

/** What the adapter tells its plugins (inspection is one). */
export type RuntimeEvent<S> =
  /** A core was built: on the first event, or the first after an eviction. */
  | { type: 'woke'; core: HubCore }
  /** A session socket was accepted and the core has its session. */
  | { type: 'opened'; core: HubCore; connId: string; now: number }
  /** A socket that is not a session's (an inspector, say) closed or failed. */
  | { type: 'left'; socket: S; tags: readonly string[] };

/** A capability the adapter is given (or not); it sees runtime events and may use the adapter's I/O. */
export interface RuntimePlugin<S> {
  onEvent(event: RuntimeEvent<S>, runtime: RuntimeAdapter<S>): void;
}

export interface RuntimeOptions<S> {
  config: HubConfig;
  /** The JWT secret auth preparation verifies with (auth on). */
  secret: string;
  plugins?: readonly RuntimePlugin<S>[];
  /** The embedding application's hooks (src/runtime/hooks.ts); none by default. */
  hooks?: RuntimeHooks;
  /** Sees every effect just before it is performed (the harness records sends and closes). */
  onEffect?: (effect: Effect) => void;
  /**
   * Sees an exception that escaped the core, after the adapter handled it
   * (logged, `internal_error` to the sender, core dropped). The harness
   * rethrows or records it; a throw from here propagates to the caller.
   */
  onFault?: (err: unknown, connId: string | undefined) => void;
  /**
   * Where the effect lists of the core go; by default straight to
   * `perform`. The harness routes them through a method of its own that
   * tests may override to count them, and which then calls `perform`.
   */
  dispatch?: (effects: Effect[]) => void;
  /**
   * Where frames past a burst wait, so the runtime reads the other sockets
   * and frames are handled in batches (src/runtime/fair-queue.ts): `later`
   * runs a callback on a later turn of the runtime. Absent, every frame is
   * handled as it comes (the harness, whose traces are replayed in order).
   * With auth on, a held frame joins the token-check queue when its turn
   * comes.
   */
  fairness?: { later: Later; limits?: FairQueueLimits };
}

type EffectKind = Effect['kind'];
type EffectOf<K extends EffectKind> = Extract<Effect, { kind: K }>;
/** One performer per effect kind: a new kind in src/core/effects.ts does not compile until it has one here. */
type Performers = { [K in EffectKind]: (effect: EffectOf<K>) => void };

/** Close codes a server may put on the wire (1005/1006/1015 are reserved for observers). */
export const sendableCode = (code: number): number =>
  code === 1000 || (code >= 1001 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)
    ? code
    : 1000;

const decoder = new TextDecoder();
const errorText = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

export class RuntimeAdapter<S> {
  private core: HubCore | null = null;
  /** Whether a core was ever built in this instance: only a rebuild with open sessions is a wake. */
  private woken = false;
  /** With auth on, frames pass through one queue in arrival order (token checks are asynchronous). */
  private inbox: Promise<void> = Promise.resolve();
  private readonly performers: Performers;
  private readonly plugins: readonly RuntimePlugin<S>[];
  private readonly dispatch: (effects: Effect[]) => void;
  private readonly hooks: RuntimeHooks;
  /** Frames wait in the queue when a token check or an authorize hook may await. */
  private readonly queued: boolean;
  /** Promises of hooks started by the current event; the event's promise waits for them. */
  private pending: Promise<unknown>[] = [];
  /** Holds frames past a burst (options.fairness); null when every frame is handled as it comes. */
  private readonly fair: FairQueue | null;

  constructor(
    readonly io: RuntimeIO<S>,
    private readonly options: RuntimeOptions<S>,
  ) {
    this.plugins = options.plugins ?? [];
    this.hooks = options.hooks ?? {};
    this.queued = options.config.authEnabled || this.hooks.authorize !== undefined;
    this.dispatch = options.dispatch ?? ((effects) => this.perform(effects));
    const { fairness } = options;
    // A held frame's promise (hooks it started) has no caller left to wait for it; hooks log their own failures.
    const handleHeld = (connId: string, data: string | ArrayBuffer) => void this.frame(connId, data)?.catch(() => undefined);
    // Held frames are their sender's queued work: past QUEUE_PAUSE_THRESHOLD the core sends it hub:pause. A core not
    // built yet has no session to count them for; the next change after it is built reports the whole count.
    const countHeld = (connId: string, held: number): void => {
      const core = this.core;
      if (core === null) return;
      let effects: Effect[] | null;
      try {
        effects = core.held(connId, held, this.io.clock.now());
      } catch (err) {
        this.coreFailed(err, connId);
        return;
      }
      if (effects !== null) this.dispatch(effects);
    };
    this.fair = fairness ? new FairQueue(handleHeld, fairness.later, fairness.limits, countHeld) : null;
    const { connections } = io;
    this.performers = {
      send: (e) => {
        const socket = connections.get(e.conn);
        if (socket !== undefined) connections.send(socket, e.frame);
      },
      close: (e) => {
        const socket = connections.get(e.conn);
        if (socket !== undefined) connections.close(socket, e.code, e.reason);
      },
      persist: (e) => {
        const socket = connections.get(e.conn);
        if (socket === undefined) return;
        const refused = connections.writeAttachment(socket, e.attachment);
        if (refused !== null) io.log({ level: 'warn', event: 'session.persist_failed', connId: e.conn, error: refused });
      },
      alarm: (e) => io.alarm.set(e.at),
      log: (e) => io.log(e.entry),
      app: (e) => {
        const { hooks } = this;
        if (hooks.onMessage) this.hook('onMessage', e.conn, () => hooks.onMessage!(this.connection(e.conn), e.envelope));
      },
    };
  }

  get config(): HubConfig {
    return this.options.config;
  }

  /** Frames the fair queue has held in this instance (0 without one). */
  get heldFrames(): number {
    return this.fair?.heldTotal ?? 0;
  }

  /** The core if one is built (null after an eviction until the next event). */
  get awake(): HubCore | null {
    return this.core;
  }

  /**
   * The live core, built from every socket's attachment when there is none.
   * `current` is the socket whose event wakes the hub: a socket that is
   * closing is no longer listed by the runtime, and without it a hub woken by
   * a close would not know the session and never release its registrations.
   */
  hub(current?: S): HubCore {
    if (this.core) return this.core;
    const { connections } = this.io;
    const restored: { connId: string; attachment: unknown }[] = [];
    const bySession = new Map<string, S>();
    for (const socket of connections.restorable(current)) {
      const connId = this.connOf(socket);
      if (connId === undefined) continue; // untagged, or an inspector: never a session
      connections.track(connId, socket);
      bySession.set(connId, socket);
      restored.push({ connId, attachment: connections.readAttachment(socket) });
    }
    const core = new HubCore(this.options.config, this.io.host, restored);
    core.appMessages = this.hooks.onMessage !== undefined;
    this.core = core;
    if (!this.woken && restored.length > 0) this.io.count?.('wakes');
    this.woken = true;
    // A socket whose state cannot be read back is closed rather than guessed at.
    for (const connId of HubCore.unreadable(restored)) {
      this.io.log({ level: 'error', event: 'session.unreadable_attachment', connId });
      this.io.count?.('unreadableAttachments');
      const socket = bySession.get(connId);
      if (socket !== undefined) connections.close(socket, 1011, 'session_state_unreadable');
      connections.release(connId);
    }
    this.emit({ type: 'woke', core });
    // A crash forgets held frames, so a sender paused for them would wait for a hub:resume no event brings.
    const owed = core.settleBackpressure(this.io.clock.now());
    if (owed !== null) this.dispatch(owed);
    return core;
  }

  /**
   * Drops the in-memory core, as an eviction does; sockets and storage stay.
   * Frames held for fairness go too, as frames still in a socket's buffer
   * would in a crash: none of them was answered. (The runtime does not
   * hibernate an object with a timer pending; `flush` handles them first.)
   */
  evict(): void {
    this.fair?.clear();
    this.core = null;
  }

  /**
   * The session's connection id: the socket's first tag; undefined for a
   * socket that is not a session's (an inspector), whose frames are never
   * the hub's business.
   */
  connOf(socket: S): string | undefined {
    const tag = this.io.connections.tags(socket)[0];
    return tag === undefined || tag === '' || tag === INSPECTOR_TAG ? undefined : tag;
  }

  // ---------------------------------------------------------------- runtime events

  /** A new session socket: the core is built from the others first, then this one joins them. */
  open(socket: S, connId: string): void {
    this.catchUp();
    const core = this.hub();
    this.io.connections.accept(socket, [connId]);
    const now = this.io.clock.now();
    this.run(() => core.open(connId, now));
    // A core that failed opening was dropped; there is no session to announce.
    if (this.core !== null) this.emit({ type: 'opened', core: this.core, connId, now });
  }

  /**
   * A frame from a client. With auth off this is synchronous and returns
   * undefined (the hot path allocates no closure). With auth on, frames pass
   * through one queue in arrival order, since the runtime may deliver the
   * next frame while a token check awaits; the promise settles when this
   * frame's effects are performed. A frame the fair queue holds is handled
   * on a later turn and returns undefined here.
   */
  message(socket: S, data: string | ArrayBuffer): Promise<void> | undefined {
    const connId = this.connOf(socket);
    if (connId === undefined) return undefined; // inspector frames are ignored
    this.io.connections.track(connId, socket);
    if (this.fair !== null && this.fair.hold(connId, data)) return undefined;
    return this.frame(connId, data);
  }

  /** One frame through the core: at once with auth off, behind the frames before it with auth on. */
  private frame(connId: string, data: string | ArrayBuffer): Promise<void> | undefined {
    if (!this.queued) {
      const core = this.hub();
      let effects: Effect[];
      try {
        effects = core.frame(connId, data, this.io.clock.now());
      } catch (err) {
        this.coreFailed(err, connId);
        return undefined;
      }
      this.dispatch(effects);
      return this.settle();
    }
    const turn = this.inbox.then(async () => {
      const text = typeof data === 'string' ? data : decoder.decode(data);
      let auth = this.options.config.authEnabled ? await this.prepare(connId, text) : undefined;
      if (this.hooks.authorize) {
        const claim = this.connectClaim(connId, text, auth);
        if (claim !== null) {
          const refusal = await this.authorize(claim);
          if (refusal) auth = { ...auth, refusal };
        }
      }
      this.run(() => this.hub().frame(connId, data, this.io.clock.now(), auth), connId);
      await this.settle();
    });
    // A failed step must not stall every later frame behind it.
    this.inbox = turn.catch(() => undefined);
    return turn;
  }

  /** Frames held for fairness are handled before any other event, so nothing overtakes a frame that came in first. */
  private catchUp(): void {
    this.fair?.drain();
  }

  /** The runtime reports a close. The close handshake is completed at once so the client is not left in CLOSING. */
  closed(socket: S, code: number): Promise<void> | undefined {
    // Before the close handshake: a held frame's reply goes out while the socket still takes it.
    this.catchUp();
    this.io.connections.close(socket, sendableCode(code), 'closed');
    return this.ended(socket, code);
  }

  /** The socket failed; the hub sees it as an abnormal close. */
  errored(socket: S): Promise<void> | undefined {
    this.catchUp();
    return this.ended(socket, 1006);
  }

  alarm(): void {
    this.catchUp();
    this.io.count?.('alarmRuns');
    this.run(() => {
      const core = this.hub();
      const now = this.io.clock.now();
      return core.tick(now, this.pingTimes(core, now));
    });
  }

  shutdown(): void {
    this.catchUp();
    this.run(() => this.hub().shutdown(this.io.clock.now()));
  }

  /**
   * Writes what the core holds for a batched write (HubCore.flush), if a
   * core is awake; an evicted one holds nothing unwritten.
   */
  flush(): void {
    this.catchUp();
    const core = this.core;
    if (core) this.run(() => core.flush(this.io.clock.now()));
  }

  // ---------------------------------------------------------------- internals

  private ended(socket: S, code: number): Promise<void> | undefined {
    const connId = this.connOf(socket);
    if (connId === undefined) {
      this.emit({ type: 'left', socket, tags: this.io.connections.tags(socket) });
      return undefined;
    }
    const { onClose } = this.hooks;
    // Who the session was, read before the core forgets it.
    const conn = onClose ? this.connection(connId, this.hub(socket)) : null;
    this.run(() => this.hub(socket).closed(connId, code, this.io.clock.now()), undefined);
    this.io.connections.release(connId);
    if (onClose && conn) this.hook('onClose', connId, () => onClose.call(this.hooks, conn, { code }));
    return this.settle();
  }

  /** The verdict on the JWT a frame carries (hub:connect and hub:refresh_token only); the core checks the rest. */
  private async prepare(connId: string, text: string): Promise<AuthInput | undefined> {
    try {
      return await prepareAuth(text, this.options.secret, this.io.clock.now(), this.options.config.maxMessageSize);
    } catch (err) {
      this.io.log({ level: 'error', event: 'auth.verify_failed', connId, error: String(err) });
      return undefined;
    }
  }

  /**
   * Who a hub:connect frame would connect as, for the authorize hook; null
   * when the frame is no hub:connect, the session is past connecting, or the
   * core will refuse it anyway (oversized, no valid token with auth on).
   */
  private connectClaim(connId: string, text: string, auth: AuthInput | undefined): ConnectClaim | null {
    if (text.length > this.options.config.maxMessageSize || !text.includes('hub:connect')) return null;
    if (this.hub().session(connId)?.snapshot.value !== 'connecting') return null;
    let frame: { type?: unknown; from?: unknown; metadata?: unknown };
    try {
      frame = JSON.parse(text) as typeof frame;
    } catch {
      return null;
    }
    if (frame === null || typeof frame !== 'object' || frame.type !== 'hub:connect') return null;
    const metadata = frame.metadata !== null && typeof frame.metadata === 'object' ? (frame.metadata as Record<string, unknown>) : {};
    if (this.options.config.authEnabled) {
      const verdict = auth?.verdict;
      return verdict?.ok ? { connId, identity: verdict.identity, capabilities: verdict.capabilities, metadata } : null;
    }
    if (typeof frame.from !== 'string') return null;
    const claimed = Array.isArray(metadata.capabilities) ? metadata.capabilities.filter((c): c is string => typeof c === 'string') : [];
    return { connId, identity: frame.from, capabilities: claimed, metadata };
  }

  /** Asks the authorize hook; one that throws refuses (fail closed). */
  private async authorize(claim: ConnectClaim) {
    try {
      return (await this.hooks.authorize!(claim)) ?? undefined;
    } catch (err) {
      this.io.log({ level: 'error', event: 'hook.failed', hook: 'authorize', connId: claim.connId, error: errorText(err) });
      return {
        reason: 'authorize_failed',
        message: 'The hub could not decide whether to admit this identity.',
        resolution: 'Try again later; if it keeps failing, tell the hub operator the time.',
      };
    }
  }

  /** A connection as hooks see it; `core` is the one that knows the session (default: the live one). */
  connection(connId: string, core: HubCore | null = this.core): HubConnection {
    const { connections } = this.io;
    const identity = core?.session(connId)?.snapshot.context.identity ?? null;
    const send = (frame: string): void => {
      const socket = connections.get(connId);
      if (socket !== undefined) connections.send(socket, frame);
    };
    return {
      id: connId,
      identity,
      send,
      reply: (message, type, payload) => send(hookReplyFrame(this.io.host.ids.messageId(), this.io.clock.now(), message, type, payload)),
      close: (code, reason) => {
        const socket = connections.get(connId);
        if (socket !== undefined) connections.close(socket, code, reason);
      },
    };
  }

  /** Runs a hook now; returns a promise if it (or another hook of this event) is still running. */
  runHook(name: string, connId: string, call: () => unknown): Promise<void> | undefined {
    this.hook(name, connId, call);
    return this.settle();
  }

  /** Runs a hook; a throw or a rejection is logged, never passed on. */
  private hook(name: string, connId: string, call: () => unknown): void {
    const failed = (err: unknown): void =>
      this.io.log({ level: 'error', event: 'hook.failed', hook: name, connId, error: errorText(err) });
    try {
      const result = call();
      if (result instanceof Promise) this.pending.push(result.catch(failed));
    } catch (err) {
      failed(err);
    }
  }

  /** A promise for the hooks the current event started, or undefined when none is pending. */
  private settle(): Promise<void> | undefined {
    if (this.pending.length === 0) return undefined;
    const pending = this.pending;
    this.pending = [];
    return Promise.all(pending).then(() => undefined);
  }

  /** The runtime's last auto-ping of each session whose deadline has passed, handed to `tick` as data like `now`. */
  private pingTimes(core: HubCore, now: number): Map<string, number> {
    const { connections } = this.io;
    const pings = new Map<string, number>();
    for (const connId of core.dueConnections(now)) {
      const socket = connections.get(connId);
      const at = socket === undefined ? null : connections.pingAt(socket);
      if (at !== null) pings.set(connId, at);
    }
    return pings;
  }

  /** Runs one core entry point and performs its effects. */
  private run(step: () => Effect[], connId?: string): void {
    let effects: Effect[];
    try {
      effects = step();
    } catch (err) {
      this.coreFailed(err, connId);
      return;
    }
    this.dispatch(effects);
  }

  /**
   * Anything thrown out of the core is a bug: it is logged, the sender gets
   * `internal_error`, and the in-memory core is dropped so the next event
   * rebuilds it from durable state instead of trusting a cache that may be
   * half-updated.
   */
  private coreFailed(err: unknown, connId: string | undefined): void {
    this.core = null;
    this.io.count?.('internalErrors');
    this.io.log({ level: 'error', event: 'hub.internal_error', connId, error: errorText(err) });
    if (connId !== undefined) {
      const socket = this.io.connections.get(connId);
      if (socket !== undefined) this.io.connections.send(socket, internalErrorFrame(this.io.host.ids.messageId(), this.io.clock.now()));
    }
    this.options.onFault?.(err, connId);
  }

  /** Performs effects in the order the core listed them: that order is the order on the wire. */
  perform(effects: readonly Effect[]): void {
    const observe = this.options.onEffect;
    const performers = this.performers as { [K in EffectKind]: (effect: Effect) => void };
    for (let i = 0; i < effects.length; i++) {
      const effect = effects[i]!;
      if (observe !== undefined) observe(effect);
      performers[effect.kind](effect);
    }
  }

  private emit(event: RuntimeEvent<S>): void {
    for (const plugin of this.plugins) plugin.onEvent(event, this);
  }
}
