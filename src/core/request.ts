import type { SessionEvent } from '../../machines/session';
import type { Envelope } from '../protocol/envelope';
import type { Permissions } from './auth';
import type { ErrorSpec } from '../protocol/errors';
import type { ParsedRequests, RequestType } from '../protocol/messages';
import type { HubMessageType, HubPayloads, Metrics, ReplyMetadata } from '../protocol/replies';
import type { Session } from './session';
import type { TopicHistory } from './topic-history';
import type { Turn } from './turn';

/** What request handlers may ask of the hub beyond the turn itself. */
export interface HubOps {
  session(connId: string): Session | undefined;
  /** Feed an event to a session's machine and perform the actions it returns. */
  drive(turn: Turn, session: Session, event: SessionEvent): void;
  /** The session an address reaches (live, or suspended: see mailbox.ts): its registration, else a session with that identity. */
  resolve(address: string, now: number): Session | null;
  /** The session (live or suspended) connected with this identity, if any. */
  resolveIdentity(identity: string): Session | null;
  /** The suspended session a hub:connect with this resume token and identity resumes now, if any (src/core/resume.ts). */
  resumable(token: string | undefined, identity: string, now: number): Session | null;
  /** Continues `suspended` on the connection of `placeholder` (a connecting session), which it replaces; returns the session. */
  adopt(turn: Turn, placeholder: Session, suspended: Session): Session;
  checkBackpressure(turn: Turn, sender: Session): void;
  /** Deliveries per second over the last full second. */
  processingRate(now: number): number;
  metrics(turn: Turn): Metrics;
  /** Each topic's recent publications, for recovery (topic-history.ts). */
  readonly history: TopicHistory;
}

/** One validated request from one session, with reply helpers bound to it. */
export class HubRequest {
  constructor(
    readonly turn: Turn,
    readonly hub: HubOps,
    readonly session: Session,
    readonly envelope: Envelope,
  ) {}

  get sessionId(): string {
    return this.session.snapshot.context.sessionId;
  }

  get traceId(): string {
    const t = this.envelope.metadata.traceId;
    return typeof t === 'string' ? t : this.envelope.id;
  }

  reply<K extends HubMessageType>(type: K, payload: HubPayloads[K], metadata?: ReplyMetadata<K>): void {
    this.turn.reply(this.session.connId, this.envelope.from, this.envelope.id, type, payload, metadata);
  }

  fail(spec: ErrorSpec): void {
    this.turn.error(this.session.connId, this.envelope.from, this.envelope.id, spec, this.sessionId, this.traceId);
  }

  /** Permissions in force: the token's claim, else the configured defaults. */
  get permissions(): Permissions {
    return this.session.permissions ?? this.turn.config.defaultPermissions;
  }

  /** Refuses with hub:unauthorized (permission_denied) and returns false when not allowed. */
  allowed(action: string, ok: boolean, subject: string): boolean {
    if (ok) return true;
    this.fail({
      code: 'unauthorized',
      message: `This session may not ${action} ${subject}.`,
      resolution: 'Ask the token issuer for a permissions claim that covers this action.',
      extra: { action, reason: 'permission_denied' },
    });
    return false;
  }

  /** Whether this session holds `address` now: its identity, or a live registration of its own. */
  holds(address: string): boolean {
    if (address === this.session.snapshot.context.identity) return true;
    const row = this.turn.host.registry.get(address);
    return row !== null && row.expiresAt > this.turn.now && row.connId === this.session.connId;
  }

  /**
   * The address this request acts as where the hub keeps it (a subscription's
   * delivery address): the envelope's `from` when the session holds it, else
   * the session identity. A hub-only request may carry any `from`, and that
   * must never let it act for an address another session holds.
   */
  get actingAddress(): string {
    const from = this.envelope.from;
    return this.holds(from) ? from : (this.session.snapshot.context.identity ?? from);
  }

  get isAsk(): boolean {
    return this.envelope.pattern === 'ask';
  }
}

export type Handler<K extends RequestType> = (req: HubRequest, payload: ParsedRequests[K]) => void;
export type HandlerTable = { [K in RequestType]?: Handler<K> };
