import type { HubConfig, LogLevel } from '../config';
import { HUB_ADDRESS } from '../protocol/envelope';
import { errorReply, type ErrorCode, type ErrorSpec } from '../protocol/errors';
import type { HubMessageType, HubPayloads, ReplyMetadata } from '../protocol/replies';
import type { Effect } from './effects';
import { hubFrameText } from './json-text';
import type { LogEntry } from './log';
import { Logger } from './log';
import type { AuthInput } from './auth';
import type { KvStore } from './kv-store';
import type { RegistryStore } from './registry-store';
import { countsTraffic, type Session } from './session';

/** Where ids and tokens come from: random in the Durable Object, seeded in the harness. */
export interface IdSource {
  /** A random unique id (sessions, subscriptions, topic epochs). */
  id(): string;
  /** A unique id for a frame the hub writes; it need not be unpredictable, only unique (see console-log.ts). */
  messageId(): string;
  token(): string;
}

export interface HubHost {
  registry: RegistryStore;
  kv: KvStore;
  ids: IdSource;
}

/** The answer of one idempotent request, collected while its handler runs. */
export interface ReplyCapture {
  conn: string;
  id: string;
  frames: string[];
  /** It was refused with a retryable error: nothing was done, so nothing is remembered. */
  retryable: boolean;
}

/** An error reply whose whole frame is written already (rate-gate.ts): what error() would send for it. */
export interface PreparedError {
  code: ErrorCode;
  frame: string;
  retryable: boolean;
}

export type ReplyTap = (conn: string, requestId: string, frame: string, retryable: boolean, now: number) => void;

/**
 * Everything one inbound event may produce. A turn collects effects in order,
 * tracks which sessions need their attachment rewritten and whether the
 * registry changed, so the core can finish the event in one place.
 */
export class Turn {
  readonly effects: Effect[] = [];
  /** Sessions whose durable state changed (machine state, identity, flow, tokens, mailbox): written this turn. */
  readonly dirty = new Set<Session>();
  /**
   * Sessions whose only changes are soft (traffic counters, the rate-limit
   * bucket and abuse window, `lastSeen`, a later `rateLimitedUntil`): written
   * within SESSION_FLUSH_MS, not per frame (docs/PROTOCOL.md §11).
   */
  readonly soft = new Set<Session>();
  /** Every session's soft state is written at the end of this turn (a flush, or a reply that shows the counters). */
  flushSessions = false;
  registryTouched = false;
  /**
   * Error replies sent this turn, as connection and error code, for the
   * counters; null until the first. Most turns send none, and each array
   * is one more allocation per frame.
   */
  errors: { conns: string[]; codes: string[] } | null = null;
  /** Asks whose hub:delivery_ack went out this turn: the asking connection and how long the ack took; null until the first. */
  ackLatencies: { conn: string; ms: number }[] | null = null;
  jobsAdded = false;
  /**
   * The session whose frame started this turn, if any. The turn's traffic
   * counters (deliveries, frames sent, errors) are kept in its stats while it
   * counts, whoever they went to: its counters changed this turn anyway,
   * so a delivery never makes the target's attachment due for a write.
   * Only the hub-wide totals are ever reported, and every count still lands
   * in exactly one place (an open session's stats or the stored base).
   */
  origin: Session | null = null;
  /** Token verdict for this frame, computed by the shell before the core runs (auth on only). */
  auth: AuthInput | undefined = undefined;
  private logger: Logger | null = null;
  /** Idempotent requests (src/core/dedup.ts): the request whose answer this turn records, while it is handled. */
  capture: ReplyCapture | null = null;
  /** Sees correlated frames sent for any other request: a pending ask's later answer (set by the core when any may be pending). */
  tap: ReplyTap | null = null;

  constructor(
    readonly now: number,
    readonly config: HubConfig,
    readonly host: HubHost,
  ) {}

  /** Built on first use: most turns log nothing, and a logger with its sink closure per frame is waste. */
  get log(): Logger {
    return (this.logger ??= new Logger(this.config.logLevel, (entry: LogEntry) => this.effects.push({ kind: 'log', entry })));
  }

  /** A reply from the hub to `to`, correlated with `requestId` (contract §2); its payload as src/protocol/replies.ts defines it. */
  reply<K extends HubMessageType>(
    conn: string,
    to: string,
    requestId: string | null,
    type: K,
    payload: HubPayloads[K],
    metadata?: ReplyMetadata<K>,
  ): void {
    this.hubFrame(conn, to, requestId, type, payload, metadata ?? {});
  }

  private hubFrame(
    conn: string,
    to: string,
    requestId: string | null,
    type: string,
    payload: unknown,
    metadata: Record<string, unknown>,
    retryable = false,
  ): void {
    this.sendFrame(conn, hubFrameText(this.host.ids.messageId(), HUB_ADDRESS, to, type, payload, requestId, this.now, metadata), requestId, retryable);
  }

  private sendFrame(conn: string, frame: string, requestId: string | null, retryable: boolean): void {
    this.effects.push({ kind: 'send', conn, frame });
    if (requestId !== null && (this.capture !== null || this.tap !== null)) this.noteAnswer(conn, requestId, retryable);
  }

  /** The frame just sent answers `requestId`: it is kept as that request's answer (dedup.ts). */
  private noteAnswer(conn: string, requestId: string, retryable: boolean): void {
    const effect = this.effects[this.effects.length - 1] as Extract<Effect, { kind: 'send' }>;
    const capture = this.capture;
    if (capture !== null && capture.conn === conn && capture.id === requestId) {
      capture.frames.push(effect.frame);
      if (retryable) capture.retryable = true;
    } else {
      this.tap?.(conn, requestId, effect.frame, retryable, this.now);
    }
  }

  /** `log` false: a refusal that repeats one just logged (rate limiting), counted but not written again. */
  error(conn: string, to: string, requestId: string | null, spec: ErrorSpec, sessionId?: string, traceId?: string, log = true): void {
    const { type, payload } = errorReply(spec);
    // errorReply builds the payload from the catalogue; replies.ts pins its shape per reply type.
    this.errorFrame(conn, to, requestId, spec.code, type, payload, payload.retryable === true, sessionId, traceId, log);
  }

  /** Sends `prepared`, an error whose frame is written already (rate-gate.ts), as error() sends its own. */
  preparedError(conn: string, requestId: string | null, prepared: PreparedError, sessionId?: string, log = true): void {
    this.noteError(conn, prepared.code);
    this.sendFrame(conn, prepared.frame, requestId, prepared.retryable);
    if (log) this.logRefusal(prepared.code, sessionId, undefined, requestId);
  }

  private errorFrame(
    conn: string,
    to: string,
    requestId: string | null,
    code: ErrorCode,
    type: string,
    payload: unknown,
    retryable: boolean,
    sessionId: string | undefined,
    traceId: string | undefined,
    log: boolean,
  ): void {
    this.noteError(conn, code);
    this.hubFrame(conn, to, requestId, type, payload, {}, retryable);
    if (log) this.logRefusal(code, sessionId, traceId, requestId);
  }

  private noteError(conn: string, code: ErrorCode): void {
    const errors = (this.errors ??= { conns: [], codes: [] });
    errors.conns.push(conn);
    errors.codes.push(code);
  }

  /** An ask's hub:delivery_ack went to `conn`, `ms` after the ask arrived. */
  ackLatency(conn: string, ms: number): void {
    (this.ackLatencies ??= []).push({ conn, ms });
  }

  private logRefusal(code: ErrorCode, sessionId: string | undefined, traceId: string | undefined, requestId: string | null): void {
    const level: LogLevel = code === 'internal_error' ? 'error' : 'debug';
    this.log.log(level, 'request.refused', { sessionId, traceId: traceId ?? requestId ?? undefined, code });
  }

  /** The session whose stats count traffic this turn caused for `fallback` (see `origin`). */
  statsHolder(fallback: Session): Session {
    return this.origin !== null && countsTraffic(this.origin) ? this.origin : fallback;
  }

  close(conn: string, code: number, reason: string): void {
    this.effects.push({ kind: 'close', conn, code, reason });
  }
}
