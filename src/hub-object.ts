import { DurableObject } from 'cloudflare:workers';
import type { HubConfig } from './config';
import { prepareAuth } from './auth/prepare';
import type { AuthInput } from './core/auth';
import type { Effect } from './core/effects';
import { HUB_ADDRESS } from './protocol/envelope';
import { errorReply } from './protocol/errors';
import { HubCore } from './core/hub';
import { INSPECTOR_TAG, SessionInspection, inspectorCredentials, joinFrames, type InspectionFrame } from './core/inspection';
import type { LogEntry } from './core/log';
import type { HubHost, IdSource } from './core/turn';
import { SqlKvStore } from './storage/sql-kv-store';
import { SqlRegistryStore } from './storage/sql-registry-store';
import { PING_FRAME, PONG_FRAME } from './protocol/ping';
import { ConfigGuard } from './ops/config-guard';
import { ensureListed, HUB_NAME_HEADER } from './ops/directory';
import { handleOps, isOpsPath } from './ops/object-ops';
import { recordShellEvent } from './ops/snapshot';

export interface Env {
  SIGNAL_HUB: DurableObjectNamespace<SignalHub>;
  [key: string]: unknown;
}


const randomIds: IdSource = {
  id: () => crypto.randomUUID(),
  token: () => {
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  },
};

export const writeLog = (entry: LogEntry): void => {
  const line = JSON.stringify({ time: new Date().toISOString(), ...entry });
  if (entry.level === 'error') console.error(line);
  else if (entry.level === 'warn') console.warn(line);
  else console.log(line);
};

/** Close codes a server may put on the wire (1005/1006/1015 are reserved for observers). */
const sendableCode = (code: number): number =>
  code === 1000 || (code >= 1001 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)
    ? code
    : 1000;

/**
 * The Durable Object shell: it decodes runtime events, hands them to the hub
 * core with the current time, and performs the effects the core returns. It
 * holds no protocol logic. The core is built lazily on the first event after
 * construction, from the socket attachments, so a wake from hibernation
 * costs nothing until something actually happens.
 */
export class SignalHub extends DurableObject<Env> {
  private readonly config: HubConfig;
  private readonly guard: ConfigGuard;
  /** Set once this instance has listed its hub in the directory (or found it listed). */
  private listed = false;
  private woken = false;
  private readonly registry: SqlRegistryStore;
  private readonly kv: SqlKvStore;
  private core: HubCore | null = null;
  private inbox: Promise<void> = Promise.resolve();
  private readonly secret: string;
  private readonly sockets = new Map<string, WebSocket>();
  private readonly tags = new WeakMap<WebSocket, string>();
  /** Open /inspect sockets; only ever filled when INSPECT_ENABLED is on. */
  private inspectors = new Set<WebSocket>();
  private inspection: SessionInspection | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.guard = new ConfigGuard(env, writeLog);
    this.config = this.guard.config;
    this.secret = typeof env.JWT_SECRET === 'string' ? env.JWT_SECRET : '';
    this.registry = new SqlRegistryStore(ctx.storage.sql);
    this.kv = new SqlKvStore(ctx.storage.sql);
    // The runtime answers pings itself, so keep-alives never wake the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
  }

  private host(): HubHost {
    return {
      registry: this.registry,
      kv: this.kv,
      ids: randomIds,
      pingAt: (connId) => {
        const ws = this.socket(connId);
        if (!ws) return null;
        const at = this.ctx.getWebSocketAutoResponseTimestamp(ws);
        return at ? at.getTime() : null;
      },
    };
  }

  /**
   * `current` is the socket whose event woke us. A socket that is closing or
   * errored is no longer listed by getWebSockets(), so without it a hub woken
   * by a close would not know the session and never release its registrations.
   */
  private hub(current?: WebSocket): HubCore {
    if (this.core) return this.core;
    const restored: { connId: string; attachment: unknown }[] = [];
    const sockets = this.ctx.getWebSockets();
    if (current && !sockets.includes(current)) sockets.push(current);
    for (const ws of sockets) {
      const connId = this.connOf(ws);
      if (!connId) continue; // untagged, or an inspector: never a session
      this.sockets.set(connId, ws);
      restored.push({ connId, attachment: ws.deserializeAttachment() });
    }
    this.core = new HubCore(this.config, this.host(), restored);
    if (!this.woken && restored.length > 0) this.countShellEvent('wakes');
    this.woken = true;
    // A socket whose state cannot be read back is closed rather than guessed at.
    for (const connId of HubCore.unreadable(restored)) {
      writeLog({ level: 'error', event: 'session.unreadable_attachment', connId });
      this.countShellEvent('unreadableAttachments');
      this.safeClose(this.sockets.get(connId), 1011, 'session_state_unreadable');
      this.sockets.delete(connId);
    }
    if (this.config.inspectEnabled) this.resumeInspection(this.core);
    return this.core;
  }

  private socket(connId: string): WebSocket | undefined {
    let ws = this.sockets.get(connId);
    if (!ws) {
      ws = this.ctx.getWebSockets(connId)[0];
      if (ws) this.sockets.set(connId, ws);
    }
    return ws;
  }

  /**
   * The session's connection id; undefined for an inspector socket, whose
   * frames are never the hub's business. A socket's tags never change, and
   * asking the runtime for them was ~3 % of a frame (issue 11), so the answer
   * is remembered per socket object (new objects after a wake, new map too).
   */
  private connOf(ws: WebSocket): string | undefined {
    let tag = this.tags.get(ws);
    if (tag === undefined) {
      tag = this.ctx.getTags(ws)[0] ?? '';
      this.tags.set(ws, tag);
    }
    return tag === INSPECTOR_TAG || tag === '' ? undefined : tag;
  }

  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (isOpsPath(url.pathname)) {
      return handleOps(
        {
          configIssues: this.guard.issues,
          hub: () => this.hub(),
          host: () => this.host(),
          shutdown: (now) => this.run(() => this.hub().shutdown(now)),
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
      if (!this.config.inspectEnabled) return new Response('Not found', { status: 404 });
      return this.joinInspector(request, url);
    }
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    const connId = crypto.randomUUID();
    // Build the core from the existing sockets before this one joins them.
    const hub = this.hub();
    this.ctx.acceptWebSocket(server, [connId]);
    this.sockets.set(connId, server);
    const now = Date.now();
    this.run(() => hub.open(connId, now));
    if (this.inspectors.size > 0) this.inspection?.opened(this.core?.session(connId), now);
    return new Response(null, { status: 101, webSocket: client });
  }

  // ---------------------------------------------------------------- inspection

  /**
   * An inspector joins: it gets an actor and a snapshot frame for every
   * session the hub knows (restored ones included, since hub() rebuilds from
   * the attachments), then every step live. Its socket is tagged so that it
   * is never restored as a session.
   */
  private joinInspector(request: Request, url: URL): Response {
    const { protocol } = inspectorCredentials(url, request.headers.get('Sec-WebSocket-Protocol'));
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    const hub = this.hub();
    this.ctx.acceptWebSocket(server, [INSPECTOR_TAG]);
    this.inspectors.add(server);
    try {
      for (const frame of joinFrames(hub.allSessions(), Date.now())) this.safeSend(server, JSON.stringify(frame));
    } catch (err) {
      this.inspectionFault(err);
    }
    this.inspectionOf().install(hub);
    const headers = protocol !== null ? { 'Sec-WebSocket-Protocol': protocol } : undefined;
    return new Response(null, { status: 101, webSocket: client, headers });
  }

  private inspectionOf(): SessionInspection {
    this.inspection ??= new SessionInspection(
      (frame) => this.sendInspection(frame),
      (err) => this.inspectionFault(err),
    );
    return this.inspection;
  }

  /** After a wake the in-memory list is gone: the runtime still knows the inspector sockets by their tag. */
  private resumeInspection(core: HubCore): void {
    this.inspectors = new Set(this.ctx.getWebSockets(INSPECTOR_TAG));
    if (this.inspectors.size > 0) this.inspectionOf().install(core);
  }

  private sendInspection(frame: InspectionFrame): void {
    if (this.inspectors.size === 0) return;
    const text = JSON.stringify(frame);
    for (const ws of this.inspectors) this.safeSend(ws, text);
  }

  private inspectorLeft(ws: WebSocket): void {
    this.inspectors.delete(ws);
    // The last inspector gone: the core goes back to doing no inspection work at all.
    if (this.inspectors.size === 0 && this.core && this.inspection) this.inspection.uninstall(this.core);
  }

  private inspectionFault(err: unknown): void {
    writeLog({ level: 'warn', event: 'inspect.failed', error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  }

  private isInspector(ws: WebSocket): boolean {
    return this.config.inspectEnabled && this.ctx.getTags(ws)[0] === INSPECTOR_TAG;
  }

  // ---------------------------------------------------------------- sessions

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const connId = this.connOf(ws);
    if (!connId) return; // inspector frames are ignored
    if (this.guard.refuse('webSocketMessage')) return this.safeClose(ws, 1011, 'config_invalid');
    if (this.sockets.get(connId) !== ws) this.sockets.set(connId, ws);
    if (!this.config.authEnabled) {
      // The hot path: no closure per frame (run() would need one), same handling otherwise.
      const hub = this.hub();
      let effects: Effect[];
      try {
        effects = hub.frame(connId, message, Date.now());
      } catch (err) {
        this.coreFailed(err, connId);
        return;
      }
      this.perform(effects);
      return;
    }
    // Token checks are asynchronous and the runtime may deliver the next frame
    // while one awaits, so with auth on frames pass through one queue in
    // arrival order.
    const turn = this.inbox.then(async () => {
      const text = typeof message === 'string' ? message : new TextDecoder().decode(message);
      let auth: AuthInput | undefined;
      try {
        auth = await prepareAuth(text, this.secret, Date.now(), this.config.maxMessageSize);
      } catch (err) {
        writeLog({ level: 'error', event: 'auth.verify_failed', connId, error: String(err) });
      }
      this.run(() => this.hub().frame(connId, message, Date.now(), auth), connId);
    });
    // A failed step must not stall every later frame behind it.
    this.inbox = turn.catch(() => undefined);
    await turn;
  }

  override async webSocketClose(ws: WebSocket, code: number, _reason: string, _wasClean: boolean): Promise<void> {
    // Complete the close handshake at once so the client is not left in CLOSING.
    this.safeClose(ws, sendableCode(code), 'closed');
    if (this.isInspector(ws)) return this.inspectorLeft(ws);
    const connId = this.connOf(ws);
    if (!connId) return;
    this.run(() => this.hub(ws).closed(connId, code, Date.now()));
    this.sockets.delete(connId);
  }

  override async webSocketError(ws: WebSocket, _error: unknown): Promise<void> {
    if (this.isInspector(ws)) return this.inspectorLeft(ws);
    const connId = this.connOf(ws);
    if (!connId) return;
    this.run(() => this.hub(ws).closed(connId, 1006, Date.now()));
    this.sockets.delete(connId);
  }

  override async alarm(): Promise<void> {
    // Returning (not throwing) ends this alarm; a throw would be retried with a stack trace each time.
    if (this.guard.refuse('alarm')) return;
    this.countShellEvent('alarmRuns');
    this.run(() => this.hub().tick(Date.now()));
  }

  /** Counts for /metrics; a failing write must not turn a wake or an alarm into an error. */
  private countShellEvent(field: Parameters<typeof recordShellEvent>[1]): void {
    try {
      recordShellEvent(this.kv, field);
    } catch (err) {
      writeLog({ level: 'warn', event: 'ops.count_failed', field, error: String(err) });
    }
  }

  /**
   * Runs one core entry point and performs its effects. Anything thrown out of
   * the core is a bug: it is logged, the sender gets `internal_error`, and the
   * in-memory core is dropped so the next event rebuilds it from durable
   * state instead of trusting a cache that may be half-updated.
   */
  private run(step: () => Effect[], connId?: string): void {
    let effects: Effect[];
    try {
      effects = step();
    } catch (err) {
      this.coreFailed(err, connId);
      return;
    }
    this.perform(effects);
  }

  /** See run(): log, answer the sender, drop the in-memory core. */
  private coreFailed(err: unknown, connId: string | undefined): void {
    this.core = null;
    this.countShellEvent('internalErrors');
    writeLog({
      level: 'error',
      event: 'hub.internal_error',
      connId,
      error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    });
    if (connId) {
      this.safeSend(
        this.socket(connId),
        JSON.stringify({
          id: crypto.randomUUID(),
          from: HUB_ADDRESS,
          to: '@(unknown)',
          ...errorReply({
            code: 'internal_error',
            message: 'The hub failed while handling this message.',
            // No request id is known here, unlike the core's own internal_error.
            resolution: 'Retry the request; if it keeps failing, report the time to the hub operator.',
          }),
          pattern: 'tell',
          correlationId: null,
          timestamp: Date.now(),
          metadata: {},
          ttl: null,
          signature: null,
        }),
      );
    }
  }

  private perform(effects: Effect[]): void {
    for (let i = 0; i < effects.length; i++) {
      const effect = effects[i]!;
      switch (effect.kind) {
        case 'send':
          this.safeSend(this.socket(effect.conn), effect.frame);
          break;
        case 'close':
          this.safeClose(this.socket(effect.conn), effect.code, effect.reason);
          break;
        case 'persist': {
          const ws = this.socket(effect.conn);
          try {
            ws?.serializeAttachment(effect.attachment);
          } catch (err) {
            writeLog({ level: 'warn', event: 'session.persist_failed', connId: effect.conn, error: String(err) });
          }
          break;
        }
        case 'alarm':
          if (effect.at === null) void this.ctx.storage.deleteAlarm();
          else void this.ctx.storage.setAlarm(effect.at);
          break;
        case 'log':
          writeLog(effect.entry);
          break;
      }
    }
  }

  private safeSend(ws: WebSocket | undefined, frame: string): void {
    if (!ws) return;
    try {
      ws.send(frame);
    } catch {
      // The socket is already closing; its close event releases the session.
    }
  }

  private safeClose(ws: WebSocket | undefined, code: number, reason: string): void {
    if (!ws) return;
    try {
      ws.close(code, reason);
    } catch {
      // Already closed.
    }
  }
}
