import { DurableObject } from 'cloudflare:workers';
import type { HubConfig } from './config';
import { inspectorCredentials } from './core/inspection';
import type { HubCore } from './core/hub';
import type { HubHost } from './core/turn';
import { SqlKvStore } from './storage/sql-kv-store';
import { SqlRegistryStore } from './storage/sql-registry-store';
import { PING_FRAME, PONG_FRAME } from './protocol/ping';
import { ConfigGuard } from './ops/config-guard';
import { ensureListed, HUB_NAME_HEADER } from './ops/directory';
import { handleOps, isOpsPath } from './ops/object-ops';
import { recordShellEvent } from './ops/snapshot';
import { RuntimeAdapter, type RuntimePlugin } from './runtime/adapter';
import { randomIds, writeLog } from './runtime/console-log';
import { DurableAlarm, HibernatingConnections, systemClock } from './runtime/hibernating';
import { InspectorPlugin } from './runtime/inspector';
import type { CloseInfo, ConnectClaim, ConnectRefusal, HubConnection, RuntimeHooks } from './runtime/hooks';
import type { Envelope } from './protocol/envelope';

export { writeLog };

export interface Env {
  SIGNAL_HUB: DurableObjectNamespace<SignalHub>;
  [key: string]: unknown;
}

/** What onConnect learns about a new socket. */
export interface ConnectContext {
  /** The WebSocket upgrade request (headers, URL, cf properties). */
  request: Request;
}

/**
 * The Durable Object shell: the runtime adapter (src/runtime/adapter.ts) over
 * hibernatable sockets (src/runtime/hibernating.ts), plus what only a Durable
 * Object does: the ping auto-response, the config guard, the operator
 * requests and the hub directory. It holds no protocol logic.
 *
 * Subclass it to add hooks (like partyserver's `Server`), export the
 * subclass from your Worker, bind it as SIGNAL_HUB and route requests with
 * `routeSignalHubRequest` (README, "Mounting the hub in your own Worker"):
 *
 * - `onConnect(conn, ctx)`: a socket was accepted (before any hub:connect).
 * - `authorize(claim)`: decides a hub:connect after the hub's own checks;
 *   return `{ reason }` to refuse it with the contract's `unauthorized`.
 * - `onMessage(conn, message)`: application message types (outside `hub:`)
 *   from connected sessions; without it they get `unknown_type`.
 * - `onClose(conn, info)`: a session's socket closed or failed.
 *
 * Hooks that throw are logged (`hook.failed`) and never break the hub; a
 * throwing `authorize` refuses. Only hooks a subclass defines cost anything.
 */
export class SignalHub extends DurableObject<Env> implements RuntimeHooks {
  onConnect?(conn: HubConnection, ctx: ConnectContext): void | Promise<void>;
  authorize?(claim: ConnectClaim): ConnectRefusal | undefined | void | Promise<ConnectRefusal | undefined | void>;
  onMessage?(conn: HubConnection, message: Envelope): void | Promise<void>;
  onClose?(conn: HubConnection, info: CloseInfo): void | Promise<void>;

  private readonly config: HubConfig;
  private readonly guard: ConfigGuard;
  /** Set once this instance has listed its hub in the directory (or found it listed). */
  private listed = false;
  private readonly kv: SqlKvStore;
  private readonly host: HubHost;
  private readonly runtime: RuntimeAdapter<WebSocket>;
  /** Only when INSPECT_ENABLED is on; otherwise no inspection code runs. */
  private readonly inspector: InspectorPlugin<WebSocket> | null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.guard = new ConfigGuard(env, writeLog);
    this.config = this.guard.config;
    this.kv = new SqlKvStore(ctx.storage.sql);
    this.host = { registry: new SqlRegistryStore(ctx.storage.sql), kv: this.kv, ids: randomIds };
    this.inspector = this.config.inspectEnabled ? new InspectorPlugin<WebSocket>(writeLog) : null;
    const plugins: RuntimePlugin<WebSocket>[] = this.inspector ? [this.inspector] : [];
    this.runtime = new RuntimeAdapter<WebSocket>(
      {
        connections: new HibernatingConnections(ctx),
        alarm: new DurableAlarm(ctx.storage),
        clock: systemClock,
        host: this.host,
        log: writeLog,
        count: (field) => this.countShellEvent(field),
      },
      {
        config: this.config,
        secret: typeof env.JWT_SECRET === 'string' ? env.JWT_SECRET : '',
        plugins,
        hooks: this,
        // Frames past a burst wait for the runtime's next turn, so it reads the other sockets first and a busy
        // object handles frames in batches (src/runtime/fair-queue.ts). A zero-delay timer is that turn; it is no
        // deadline: those live in the one alarm.
        fairness: { later: (run) => void setTimeout(run, 0) },
      },
    );
    // The runtime answers pings itself, so keep-alives never wake the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
  }

  /** The in-memory core, null while evicted; tests look at it through runInDurableObject. */
  private get core(): HubCore | null {
    return this.runtime.awake;
  }

  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (isOpsPath(url.pathname)) {
      return handleOps(
        {
          configIssues: this.guard.issues,
          hub: () => this.runtime.hub(),
          host: () => this.host,
          shutdown: () => this.runtime.shutdown(),
          flush: () => this.runtime.flush(),
        },
        request,
        url,
      );
    }
    if (request.headers.get('Upgrade')?.toLowerCase() !== 'websocket') {
      return new Response('Expected a WebSocket upgrade', { status: 426 });
    }
    if (this.guard.refuse('fetch')) {
      return Response.json({ status: 'error', error: 'invalid_configuration', issues: this.guard.issues }, { status: 500 });
    }
    const name = request.headers.get(HUB_NAME_HEADER);
    if (!this.listed && name) this.listed = await ensureListed(this.env, this.kv, name, writeLog);
    if (url.pathname === '/inspect' || url.pathname.startsWith('/inspect/')) {
      // The worker already refuses this when off; the object checks again so it never depends on the route alone.
      if (!this.inspector) return new Response('Not found', { status: 404 });
      const { protocol } = inspectorCredentials(url, request.headers.get('Sec-WebSocket-Protocol'));
      const pair = new WebSocketPair();
      this.inspector.join(pair[1], this.runtime);
      const headers = protocol !== null ? { 'Sec-WebSocket-Protocol': protocol } : undefined;
      return new Response(null, { status: 101, webSocket: pair[0], headers });
    }
    const pair = new WebSocketPair();
    const connId = crypto.randomUUID();
    this.runtime.open(pair[1], connId);
    if (this.onConnect) {
      const hook = this.onConnect;
      const done = this.runtime.runHook('onConnect', connId, () => hook.call(this, this.runtime.connection(connId), { request }));
      if (done) this.ctx.waitUntil(done);
    }
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  /**
   * Not async: with auth off a frame is handled synchronously and this
   * returns nothing, where an async handler made a promise per frame only to
   * await nothing. The adapter ignores an inspector's frames itself.
   */
  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> | undefined {
    if (this.guard.refuse('webSocketMessage')) {
      if (this.runtime.connOf(ws) !== undefined) this.safeClose(ws, 1011, 'config_invalid');
      return undefined;
    }
    return this.runtime.message(ws, message);
  }

  override async webSocketClose(ws: WebSocket, code: number, _reason: string, _wasClean: boolean): Promise<void> {
    await this.runtime.closed(ws, code);
  }

  override async webSocketError(ws: WebSocket, _error: unknown): Promise<void> {
    await this.runtime.errored(ws);
  }

  override async alarm(): Promise<void> {
    // Returning (not throwing) ends this alarm; a throw would be retried with a stack trace each time.
    if (this.guard.refuse('alarm')) return;
    this.runtime.alarm();
  }

  /** Counts for /metrics; a failing write must not turn a wake or an alarm into an error. */
  private countShellEvent(field: Parameters<typeof recordShellEvent>[1]): void {
    try {
      recordShellEvent(this.kv, field);
    } catch (err) {
      writeLog({ level: 'warn', event: 'ops.count_failed', field, error: String(err) });
    }
  }

  private safeClose(ws: WebSocket, code: number, reason: string): void {
    try {
      ws.close(code, reason);
    } catch {
      // Already closed.
    }
  }
}
