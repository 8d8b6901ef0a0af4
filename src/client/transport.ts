import { createActor, type Actor } from 'xstate';
import { buildRequest } from '../protocol/build';
import { envelopeSchema, type Envelope } from '../protocol/envelope';
import { PING_FRAME } from '../protocol/ping';
import type { ConnectedPayload } from '../protocol/replies';
import {
  connectionMachine,
  type BackoffPolicy,
  type ClosedReason,
  type ConnectionState,
  type TerminalReason,
} from './connection-machine';
import {
  causeOfError,
  closeCause,
  errorOfCause,
  isTerminalCause,
  timeoutCause,
  watchUpgradeRefusal,
  type ConnectionCause,
} from './causes';
import type { Emitter } from './emitter';
import { HubError } from './errors';
import { closeGracefully, frameText, SOCKET_OPEN, type SocketLike, type WebSocketConstructor } from './socket';
import type { HubClientEvents } from './types';

const DISCONNECT_GRACE_MS = 2_000;

export type TokenSource = string | (() => string | Promise<string>);

export interface TransportOptions {
  url: string;
  WebSocket: WebSocketConstructor;
  nextId: () => string;
  identity: string;
  token: TokenSource | undefined;
  capabilities: string[] | undefined;
  protocolVersion: string;
  keepAlive: boolean;
  livenessTimeoutMs: number | undefined;
  reconnect: boolean | Partial<BackoffPolicy>;
  random: (() => number) | undefined;
  connectTimeoutMs: number | undefined;
}

/** What the transport tells the rest of the client. */
export interface TransportHooks {
  /** Every state the connection machine enters. */
  state(state: ConnectionState): void;
  /** hub:connected arrived, just before the machine moves to `connected`. */
  connected(info: ConnectedPayload, at: number): void;
  /** Any envelope other than the reply to hub:connect. */
  frame(frame: Envelope): void;
  /** A keep-alive tick, at the heartbeat interval while connected. */
  tick(now: number): void;
}

/**
 * The connection itself, as socket.io-client's Manager is: one WebSocket at
 * a time, the hub:connect handshake, keep-alive pings and liveness, and the
 * connection machine (src/client/connection-machine.ts) deciding when to
 * reconnect. It knows nothing of requests; frames go to `hooks.frame`.
 */
export class Transport {
  /** The session identity: the configured one, or the one the hub assigned from the token. */
  identity: string;
  /** The JWT for hub:connect; a refresh replaces a fixed one. */
  token: TokenSource | undefined;
  /** The latest hub:connected payload, while the session lasts. */
  info: ConnectedPayload | null = null;
  /**
   * The resume token of the latest session (docs/PROTOCOL.md "Session
   * resume"), kept across an unexpected drop so the next hub:connect can
   * continue that session; forgotten when this client ends it on purpose.
   */
  private resumeToken: string | null = null;
  /** Why the latest connect was refused, for the promise of connect(). */
  connectError: HubError | null = null;
  /** Why the latest attempt failed, since the last hub:connected; what connect() rejects with when retries run out. */
  lastFailure: HubError | null = null;

  private readonly actor: Actor<typeof connectionMachine>;
  private socket: SocketLike | null = null;
  private connectRequestId: string | null = null;
  private lastReceived = 0;
  /** A notice or refusal that rules out reconnecting, seen before the socket closed. */
  private pendingTerminal: { reason: TerminalReason; error: HubError } | null = null;
  private closeWaiters: (() => void)[] = [];
  /** What the platform said about the current socket (error event, refused upgrade), before its close. */
  private socketCause: ConnectionCause | null = null;
  private socketOpened = false;
  /** The machine state last seen, to notice the connect timeout, the one loss no socket event reports. */
  private seenState: ConnectionState = 'idle';
  /** True while this class itself reports a loss to the machine. */
  private reporting = false;

  constructor(
    private readonly options: TransportOptions,
    private readonly events: Emitter<HubClientEvents>,
    private readonly hooks: TransportHooks,
  ) {
    this.identity = options.identity;
    this.token = options.token;
    const machine = connectionMachine.provide({
      actions: {
        openSocket: () => this.openSocket(),
        dropSocket: () => this.dropSocket(),
        closeSocket: () => this.closeSocketDeliberately(),
        sendPing: () => this.ping(),
      },
    });
    const { reconnect, random, connectTimeoutMs } = options;
    this.actor = createActor(machine, {
      input: {
        reconnect: reconnect !== false,
        ...(typeof reconnect === 'object' ? { backoff: reconnect } : {}),
        ...(random ? { random } : {}),
        ...(connectTimeoutMs !== undefined ? { connectTimeoutMs } : {}),
      },
    });
    this.actor.subscribe((snapshot) => {
      const state = snapshot.value as ConnectionState;
      const previous = this.seenState;
      this.seenState = state;
      // Leaving `connecting` without a socket event or a deliberate end: the machine's connect timeout fired.
      const timedOut =
        previous === 'connecting' &&
        (state === 'reconnecting' || state === 'closed') &&
        !this.reporting &&
        snapshot.context.closedReason !== 'client';
      const cause = timedOut ? timeoutCause(snapshot.context.connectTimeoutMs) : null;
      if (cause) this.failed(cause);
      this.hooks.state(state);
      if (cause) this.events.emit('disconnected', { code: 1006, reason: 'connect_timeout', willReconnect: state === 'reconnecting', cause });
    });
  }

  /** Sends a loss to the machine, marked as reported by a socket event. */
  private report(event: Parameters<Actor<typeof connectionMachine>['send']>[0]): void {
    this.reporting = true;
    try {
      this.actor.send(event);
    } finally {
      this.reporting = false;
    }
  }

  /** An attempt failed before hub:connected: keep its error for connect(), and tell listeners when the cause changed. */
  private failed(cause: ConnectionCause): HubError {
    const error = errorOfCause(cause, this.options.url);
    const repeated = this.lastFailure?.message === error.message;
    this.lastFailure = error;
    // One error event per new cause: a hub that stays down for an hour does not produce an error per retry.
    if (!repeated) this.events.emit('error', error);
    return error;
  }

  start(): void {
    this.actor.start();
  }

  get state(): ConnectionState {
    return this.actor.getSnapshot().value as ConnectionState;
  }

  get closedReason(): ClosedReason | null {
    return this.actor.getSnapshot().context.closedReason;
  }

  /** Failed reconnect attempts since the last successful connect. */
  get attempt(): number {
    return this.actor.getSnapshot().context.attempt;
  }

  /** Successful connects so far; more than one means the latest was a reconnect. */
  get connects(): number {
    return this.actor.getSnapshot().context.connects;
  }

  connect(): void {
    this.connectError = null;
    if (this.state === 'closed' || this.state === 'idle') this.lastFailure = null;
    this.actor.send({ type: 'CONNECT' });
  }

  /** Ends the connection for good; resolves once the socket is closed. */
  disconnect(): Promise<void> {
    // A session this client ends on purpose is not to be resumed.
    this.resumeToken = null;
    // Between attempts there is no socket to close: the machine goes to `closed` at once.
    if (this.state === 'reconnecting') {
      this.actor.send({ type: 'DISCONNECT' });
      return Promise.resolve();
    }
    const closed = new Promise<void>((resolve) => this.closeWaiters.push(resolve));
    this.actor.send({ type: 'DISCONNECT' });
    return closed;
  }

  /** Leaves `idle` for `closed` without a socket ever having opened. */
  abandon(): void {
    this.actor.send({ type: 'DISCONNECT' });
  }

  get writable(): boolean {
    return this.state === 'connected' && this.socket !== null && this.socket.readyState === SOCKET_OPEN;
  }

  send(text: string): void {
    this.socket!.send(text);
  }

  /** The hub announced an end that must not be followed by a reconnect; the close that follows applies it. */
  endsForGood(reason: TerminalReason, error: HubError): void {
    this.pendingTerminal = { reason, error };
  }

  /** The session ended: the next hub:connect starts a new one. */
  sessionEnded(): void {
    this.info = null;
    this.connectRequestId = null;
  }

  // ---- Socket ----

  private openSocket(): void {
    this.pendingTerminal = null;
    this.socketCause = null;
    this.socketOpened = false;
    let socket: SocketLike;
    try {
      socket = new this.options.WebSocket(this.options.url);
    } catch (err) {
      // Refused synchronously (bad URL for this runtime, blocked port): treat it like a failed attempt.
      const reason = err instanceof Error ? err.message : String(err);
      this.socketCause = causeOfError(err, this.options.url) ?? { kind: 'refused', code: 'constructor', message: reason };
      queueMicrotask(() => {
        if (this.state === 'connecting' && this.socket === null) this.onSocketLost(1006, reason);
      });
      return;
    }
    this.socket = socket;
    this.lastReceived = Date.now();
    watchUpgradeRefusal(socket, (cause) => {
      if (this.socket === socket) this.socketCause = cause;
    });
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.socketOpened = true;
      void this.handshake(socket);
    };
    socket.onmessage = (event: { data: unknown }) => {
      if (this.socket !== socket) return;
      this.lastReceived = Date.now();
      const text = frameText(event.data);
      if (text !== null) this.onText(text);
    };
    socket.onclose = (event: { code?: number; reason?: string }) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.onSocketLost(event.code ?? 1006, event.reason ?? '');
    };
    // A close event always follows an error event; the close decides what happens, the error only says why.
    socket.onerror = (event: { error?: unknown; message?: unknown } | undefined) => {
      if (this.socket !== socket || this.socketCause) return;
      this.socketCause = causeOfError(event?.error ?? event, this.options.url);
    };
  }

  private async handshake(socket: SocketLike): Promise<void> {
    let token: string | undefined;
    try {
      token = typeof this.token === 'function' ? await this.token() : this.token;
    } catch (err) {
      this.events.emit(
        'error',
        new HubError({
          code: 'unauthorized',
          message: `The token provider failed: ${err instanceof Error ? err.message : String(err)}`,
          resolution: 'Fix the token option.',
          retryable: true,
        }),
      );
      token = undefined;
    }
    if (this.socket !== socket || socket.readyState !== SOCKET_OPEN) return;
    const id = this.options.nextId();
    this.connectRequestId = id;
    const metadata: Record<string, unknown> = { protocolVersion: this.options.protocolVersion };
    if (this.options.capabilities) metadata.capabilities = this.options.capabilities;
    if (token !== undefined) metadata.authToken = token;
    const payload = this.resumeToken !== null ? { resumeToken: this.resumeToken } : null;
    socket.send(JSON.stringify(buildRequest('hub:connect', payload, { id, from: this.identity, metadata })));
  }

  private onSocketLost(code: number, reason: string): void {
    const cause = this.socketCause ?? closeCause(code, reason, this.socketOpened);
    const terminal = this.pendingTerminal;
    // A refusal the hub already explained (hub:unauthorized, ...) is not reported a second time.
    const error = this.state === 'connecting' && !terminal ? this.failed(cause) : null;
    if (terminal) {
      if (!this.connectError) this.connectError = terminal.error;
      this.report({ type: 'FATAL', reason: terminal.reason });
    } else if (error && isTerminalCause(cause)) {
      // A wrong path or a broken hub configuration answers the same way every time: retrying cannot help.
      this.connectError = error;
      this.report({ type: 'FATAL', reason: 'upgrade_refused' });
    } else {
      this.report({ type: 'SOCKET_CLOSED', code, reason });
    }
    this.events.emit('disconnected', { code, reason, willReconnect: this.state === 'reconnecting', cause });
  }

  /** Forgets the current socket at once; its late events are ignored. */
  private dropSocket(): void {
    const socket = this.socket;
    this.socket = null;
    if (!socket) return;
    socket.onopen = () => undefined;
    socket.onmessage = () => undefined;
    socket.onclose = () => undefined;
    socket.onerror = () => undefined;
    try {
      // Not 1000: the hub releases a session closed normally, and this one is meant to be resumed.
      socket.close(4000, 'client reconnecting');
    } catch {
      // Already closing or never opened; nothing more to do.
    }
  }

  private closeSocketDeliberately(): void {
    const socket = this.socket;
    this.socket = null;
    // With a session, the hub acknowledges hub:disconnect and closes with 1000; the close event ends the wait.
    const goodbye =
      socket && socket.readyState === SOCKET_OPEN && this.connectRequestId !== null && this.info
        ? JSON.stringify(
            buildRequest('hub:disconnect', { reason: 'client_disconnect' }, {
              id: this.options.nextId(),
              from: this.identity,
              pattern: 'tell',
            }),
          )
        : null;
    closeGracefully(socket, goodbye, DISCONNECT_GRACE_MS, () => {
      for (const waiter of this.closeWaiters.splice(0)) waiter();
    });
  }

  private ping(): void {
    const now = Date.now();
    this.hooks.tick(now);
    if (!this.options.keepAlive || !this.socket || this.socket.readyState !== SOCKET_OPEN) return;
    const interval = this.actor.getSnapshot().context.heartbeatInterval;
    const limit = this.options.livenessTimeoutMs ?? 3 * interval + 5_000;
    if (now - this.lastReceived > limit) {
      queueMicrotask(() => {
        this.report({ type: 'LIVENESS_LOST' });
        this.events.emit('disconnected', {
          code: 1006,
          reason: 'liveness_lost',
          willReconnect: this.state === 'reconnecting',
          cause: { kind: 'timeout', message: `nothing from the hub for more than ${limit} ms` },
        });
      });
      return;
    }
    this.socket.send(PING_FRAME);
  }

  // ---- Inbound frames ----

  private onText(text: string): void {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      this.events.emit('error', HubError.client('invalid_reply', `The hub sent a frame that is not JSON: ${text.slice(0, 200)}`));
      return;
    }
    if (raw && typeof raw === 'object' && (raw as { type?: unknown }).type === 'pong') return;
    const parsed = envelopeSchema.safeParse(raw);
    if (!parsed.success) {
      this.events.emit('error', HubError.client('invalid_reply', `The hub sent a frame that is not an envelope: ${text.slice(0, 200)}`));
      return;
    }
    const frame = parsed.data;
    if (frame.correlationId !== null && frame.correlationId === this.connectRequestId && !this.info) {
      this.onConnectReply(frame);
      return;
    }
    this.hooks.frame(frame);
  }

  private onConnectReply(frame: Envelope): void {
    if (frame.type === 'hub:connected') {
      const info = frame.payload as ConnectedPayload;
      const identity = frame.metadata.actorIdentity;
      if (typeof identity === 'string') this.identity = identity;
      this.info = info;
      // A hub without resume (or an older one) sends none: then there is nothing to resume.
      this.resumeToken = typeof info.resumeToken === 'string' ? info.resumeToken : null;
      this.lastFailure = null;
      this.hooks.connected(info, Date.now());
      this.actor.send({ type: 'CONNECTED', heartbeatInterval: info.heartbeatInterval });
      return;
    }
    const error = HubError.fromReply(frame.type, frame.payload, frame.correlationId);
    this.connectError = error;
    if (frame.type === 'hub:version_mismatch') {
      this.pendingTerminal = { reason: 'version_mismatch', error };
    } else if (frame.type === 'hub:unauthorized') {
      this.pendingTerminal = { reason: 'unauthorized', error };
    } else {
      // The hub keeps the socket open after other refusals (for example invalid metadata); retrying the same
      // hub:connect would be refused again, so the client stops here.
      this.report({ type: 'FATAL', reason: 'connect_refused' });
    }
  }
}
