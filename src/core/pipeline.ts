import type { SessionEvent } from '../../machines/session';
import type { HubConfig } from '../config';
import { envelopeSchema, issuesOf, type Envelope } from '../protocol/envelope';
import { fastEnvelope, fastPayloads } from '../protocol/fast-parse';
import { FORWARDING_TYPES, IDEMPOTENT_TYPES, isRequestType, requestSchemas, type RequestType } from '../protocol/messages';
import { byteLength, echoable, illFormedError, illFormedIssue, sniffId } from '../protocol/strings';
import type { SeenSet } from './dedup';
import { once } from './idempotency';
import { connectHandler } from './lifecycle';
import { UNKNOWN_ADDRESS } from './machine-effects';
import { countRequest } from './ops-stats';
import { refuseEarly, spendToken } from './rate-gate';
import { HubRequest, type Handler, type HandlerTable, type HubOps } from './request';
import { refuseReservedSender } from './reserved';
import { isLive, stateOf, type Session } from './session';
import type { Turn } from './turn';

/** What the frame pipeline needs of the hub: its operations, its config and its handler table. */
export interface PipelineHub extends HubOps {
  readonly config: HubConfig;
  readonly handlers: HandlerTable;
  /** Request ids already answered (idempotent requests, dedup.ts). */
  readonly seen: SeenSet;
  /** Whether types outside hub: go to the runtime's onMessage hook (an `app` effect) rather than unknown_type. */
  readonly appMessages: boolean;
}

const decoder = new TextDecoder();

/**
 * One inbound frame, from raw text to its handler. The order is the
 * contract's: size guard → early refusal of an empty bucket → JSON.parse →
 * FRAME machine step → token bucket → well-formed strings → envelope → ttl
 * → connect gate → sender check → type → payload → handler. Each refusal
 * answers with the error the contract names and keeps the connection.
 */
export const handleFrame = (hub: PipelineHub, turn: Turn, session: Session, raw: string | ArrayBuffer): void => {
  const { config } = hub;
  const sessionId = session.snapshot.context.sessionId;
  const replyTo = session.snapshot.context.identity ?? UNKNOWN_ADDRESS;
  const text = typeof raw === 'string' ? raw : decoder.decode(raw);
  const size = byteLength(text, config.maxMessageSize);

  // Raw size guard before any parse: a huge frame is never handed to JSON.parse.
  if (size > config.maxMessageSize) {
    hub.drive(turn, session, { type: 'FRAME', now: turn.now });
    if (isLive(session) && !spendToken(hub, turn, session, null, replyTo, null)) return;
    turn.error(
      session.connId,
      replyTo,
      sniffId(text),
      {
        code: 'message_too_large',
        message: `The frame is ${size} bytes; the limit is ${config.maxMessageSize}.`,
        extra: { messageSize: size, maxSize: config.maxMessageSize },
      },
      sessionId,
    );
    return;
  }

  // An empty bucket is answered before any parsing (rate-gate.ts).
  if (isLive(session) && refuseEarly(hub, turn, session, text, replyTo)) return;

  let json: unknown;
  let parseError: string | null = null;
  try {
    json = JSON.parse(text);
  } catch (err) {
    parseError = err instanceof Error ? err.message : String(err);
  }
  const obj = json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : null;
  const rawId = typeof obj?.id === 'string' ? echoable(obj.id) : obj === null ? sniffId(text) : null;
  const rawType = typeof obj?.type === 'string' ? obj.type : null;

  hub.drive(turn, session, frameEvent(turn.now, rawType, rawId));
  if (isLive(session) && !spendToken(hub, turn, session, rawType, replyTo, rawId)) return;

  if (parseError !== null || obj === null) {
    turn.error(
      session.connId,
      replyTo,
      rawId,
      {
        code: 'invalid_message',
        message: parseError !== null ? 'The frame is not valid JSON.' : 'The frame must be a JSON object.',
        details: {
          issues: [{ path: '(root)', message: parseError ?? `expected an object, got ${Array.isArray(json) ? 'array' : typeof json}` }],
        },
      },
      sessionId,
    );
    return;
  }

  // Refused once, up front: a lone surrogate anywhere (payload data and metadata included) would be stored or echoed.
  const illFormed = illFormedIssue(text, obj);
  if (illFormed) return turn.error(session.connId, replyTo, rawId, illFormedError(illFormed), sessionId);

  // Every string is well-formed from here, which the hand-written check relies on; it answers for
  // valid frames of the usual shape, zod decides the rest (fast-parse.ts).
  const fast = fastEnvelope(obj);
  const parsed = fast !== undefined ? { success: true as const, data: fast } : envelopeSchema.safeParse(obj);
  if (!parsed.success) {
    const from = typeof obj.from === 'string' && /^@\([^)]+\)$/.test(obj.from) ? obj.from : replyTo;
    turn.error(
      session.connId,
      session.snapshot.context.identity ?? from,
      rawId,
      { code: 'invalid_message', message: 'The frame is not a valid envelope.', details: { issues: issuesOf(parsed.error) } },
      sessionId,
    );
    return;
  }
  const envelope = parsed.data;
  countRequest((session.stats.ops ??= {}), isRequestType(envelope.type) ? envelope.type : 'other');
  const req = new HubRequest(turn, hub, session, envelope);

  if (envelope.ttl !== null && envelope.timestamp + envelope.ttl < turn.now) {
    if (envelope.pattern === 'ask') {
      req.fail({ code: 'message_expired', message: `The message expired ${turn.now - envelope.timestamp - envelope.ttl} ms ago.` });
    }
    turn.log.log('debug', 'message.expired', { sessionId, traceId: req.traceId });
    return;
  }

  if (stateOf(session) === 'connecting') {
    if (envelope.type === 'hub:connect') connectHandler(req);
    else req.fail({ code: 'not_connected', message: `${envelope.type} was sent before a successful hub:connect.` });
    return;
  }

  // Other actors see the sender only on forwarded frames; there it must be
  // an address this session holds. Elsewhere `from` only addresses the reply.
  if (FORWARDING_TYPES.has(envelope.type) && !req.holds(envelope.from)) {
    req.fail({
      code: 'unauthorized',
      message: `This session may not send as ${envelope.from}.`,
      resolution: 'Send as the identity from hub:connected or an address this session registered.',
      extra: { action: envelope.type, reason: 'identity_mismatch' },
    });
    return;
  }

  dispatch(hub, req, envelope);
};

/** The request's handler, after its type and payload are known good. */
const dispatch = (hub: PipelineHub, req: HubRequest, envelope: Envelope): void => {
  const type = envelope.type;
  if (!isRequestType(type) || !hub.handlers[type]) {
    if (hub.appMessages && !type.startsWith('hub:')) {
      req.turn.effects.push({ kind: 'app', conn: req.session.connId, envelope });
      return;
    }
    req.fail({
      code: 'unknown_type',
      message: type.startsWith('hub:')
        ? `The hub does not know the message type ${type}.`
        : `${type} is not a hub message; wrap application messages in hub:send.`,
    });
    return;
  }
  if (refuseReservedSender(req)) return;
  const fast = fastPayloads[type]?.(envelope.payload);
  const payload = fast !== undefined ? { success: true as const, data: fast } : requestSchemas[type].safeParse(envelope.payload);
  if (!payload.success) {
    req.fail({
      code: 'invalid_message',
      message: `The payload of ${type} is invalid.`,
      details: { issues: issuesOf(payload.error, 'payload') },
    });
    return;
  }
  const handler = hub.handlers[type] as Handler<RequestType>;
  if (IDEMPOTENT_TYPES.has(type) && hub.seen.enabled) return once(hub.seen, req, handler, payload.data as never);
  handler(req, payload.data as never);
};

/** Longest request type or id an inspection event carries; both are client-chosen strings. */
const NAME_LIMIT = 128;
const clip = (s: string): string => (s.length > NAME_LIMIT ? `${s.slice(0, NAME_LIMIT)}…` : s);

/** The FRAME event, naming the request so an inspector can tell a register from a publish. */
const frameEvent = (now: number, request: string | null, id: string | null): SessionEvent => {
  const event: { type: 'FRAME'; now: number; request?: string; id?: string } = { type: 'FRAME', now };
  if (request !== null) event.request = clip(request);
  if (id !== null) event.id = clip(id);
  return event;
};
