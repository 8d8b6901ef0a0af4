import type { HubConfig } from '../config';
import { errorReply, type ErrorSpec } from '../protocol/errors';
import { RATE_LIMIT_EXEMPT } from '../protocol/messages';
import { HUB_ADDRESS } from '../protocol/envelope';
import { hubFrameText, jsonText, quote } from './json-text';
import { countFrame, hasToken, take, type RateLimitSettings } from './rate-limit';
import type { HubOps } from './request';
import { stateOf, type Session } from './session';
import type { PreparedError, Turn } from './turn';

/**
 * The rate limit at the door of the frame pipeline (contract §7): one token
 * per non-exempt frame, the abuse detector, and the refusal.
 */

const settingsOf = new WeakMap<Turn['config'], RateLimitSettings>();
/** One settings object per config, not one per call: this runs twice on every frame. */
export const rateSettings = (turn: Turn): RateLimitSettings => rateSettingsOf(turn.config);

export const rateSettingsOf = (config: HubConfig): RateLimitSettings => {
  let settings = settingsOf.get(config);
  if (settings === undefined) {
    settings = { perSecond: config.rateLimitPerSecond, burst: config.rateLimitBurst };
    settingsOf.set(config, settings);
  }
  return settings;
};

/**
 * Spends one token for a non-exempt frame. On an empty bucket the session
 * moves to (or stays in) `rate-limited` and the frame is answered, not
 * processed. Only the first refusal of a run is logged: a flooding client
 * draws thousands per second, and a log line each would cost more than the
 * refusal itself.
 */
export const spendToken = (
  hub: HubOps,
  turn: Turn,
  session: Session,
  type: string | null,
  replyTo: string,
  requestId: string | null,
): boolean => {
  if (type !== null && RATE_LIMIT_EXEMPT.has(type)) return true;
  const settings = rateSettings(turn);
  const abusive = countFrame(session.abuse, settings, turn.now);
  turn.soft.add(session);
  if (abusive) {
    turn.log.log('warn', 'session.rate_limit_abuse', { sessionId: session.snapshot.context.sessionId });
    hub.drive(turn, session, { type: 'RATE_LIMIT_ABUSE', now: turn.now });
    return false;
  }
  const retryAfter = take(session.bucket, settings, turn.now);
  if (retryAfter > 0) {
    const repeated = stateOf(session) === 'rate-limited';
    hub.drive(turn, session, { type: 'RATE_LIMIT_EXHAUSTED', now: turn.now, retryAt: turn.now + retryAfter });
    const refusal = rateLimitedFrame(settings, retryAfter, turn.host.ids.messageId(), replyTo, requestId, turn.now);
    turn.preparedError(session.connId, requestId, refusal, session.snapshot.context.sessionId, !repeated);
    return false;
  }
  if (stateOf(session) === 'rate-limited') hub.drive(turn, session, { type: 'RATE_LIMIT_REFILLED', now: turn.now });
  return true;
};

/** The rate_limited error as errorReply() writes it; only retryAfter differs between refusals. */
export const rateLimitedSpec = (settings: RateLimitSettings, retryAfter: number): ErrorSpec => ({
  code: 'rate_limited',
  message: `More than ${settings.perSecond} messages per second (burst ${settings.burst}).`,
  extra: { retryAfter },
});

/**
 * The whole refusal frame, cut once per settings object (one per config) from
 * what the general path writes for it: hubFrameText() around errorReply()'s
 * payload, with a marker in each of the five places that vary (the frame's
 * id, the recipient, retryAfter, the request id it answers, the timestamp).
 * A refused frame is then seven constant pieces and those five values: the
 * general path took two writers, an object spread and five escape tests per
 * refusal, about a fifth of a refused frame's time in the runtime (issue 11).
 * Cut from the general path's own output, the two cannot drift apart;
 * test/unit/rate-gate.test.ts compares them byte for byte on random input.
 */
interface RefusalText {
  /** Between the markers, in order: id, to, retryAfter, correlationId, timestamp. */
  pieces: [string, string, string, string, string, string];
  retryable: boolean;
}
/** null: these settings could not be cut (see below), so their refusals take the general writer. */
const refusals = new WeakMap<RateLimitSettings, RefusalText | null>();

/** Values no constant of the frame is expected to contain; the cut checks that each occurs exactly once. */
export const REFUSAL_MARKS = { id: 'MARK-ID-7f31', to: 'MARK-TO-7f31', correlation: 'MARK-CORRELATION-7f31', retryAfter: 987_654_321, timestamp: 1_234_567_890_123 } as const;

const refusalText = (settings: RateLimitSettings): RefusalText | null => {
  const known = refusals.get(settings);
  if (known !== undefined) return known;
  const M = REFUSAL_MARKS;
  const reply = errorReply(rateLimitedSpec(settings, M.retryAfter));
  const text = hubFrameText(M.id, HUB_ADDRESS, M.to, reply.type, reply.payload, M.correlation, M.timestamp, {});
  const pieces: string[] = [];
  let rest = text;
  for (const mark of [quote(M.id), quote(M.to), String(M.retryAfter), quote(M.correlation), String(M.timestamp)]) {
    const at = rest.indexOf(mark);
    // A configured limit that happens to print as a marker would make the cut ambiguous: no shortcut then.
    if (at < 0 || text.indexOf(mark) !== text.length - rest.length + at || rest.indexOf(mark, at + 1) >= 0) {
      refusals.set(settings, null);
      return null;
    }
    pieces.push(rest.slice(0, at));
    rest = rest.slice(at + mark.length);
  }
  pieces.push(rest);
  const cut: RefusalText = { pieces: pieces as RefusalText['pieces'], retryable: reply.payload.retryable === true };
  refusals.set(settings, cut);
  return cut;
};

/**
 * The hub:rate_limited frame for one refusal: byte for byte what
 * hubFrameText(id, HUB_ADDRESS, to, …, errorReply(rateLimitedSpec(…)).payload,
 * correlationId, now, {}) writes.
 */
export const rateLimitedFrame = (settings: RateLimitSettings, retryAfter: number, id: string, to: string, correlationId: string | null, now: number): PreparedError => {
  const cut = refusalText(settings);
  if (cut === null) {
    const reply = errorReply(rateLimitedSpec(settings, retryAfter));
    return { code: 'rate_limited', retryable: reply.payload.retryable === true, frame: hubFrameText(id, HUB_ADDRESS, to, reply.type, reply.payload, correlationId, now, {}) };
  }
  const { pieces: p, retryable } = cut;
  return {
    code: 'rate_limited',
    retryable,
    frame:
      p[0] + quote(id) + p[1] + quote(to) + p[2] + jsonText(retryAfter) + p[3] +
      (correlationId === null ? 'null' : quote(correlationId)) + p[4] + jsonText(now) + p[5],
  };
};

const MAX_SNIFFED_ID = 256;
const LEADING_ID = '{"id":"';
/**
 * After the leading id: a backslash, a second key "id", or an exempt type as
 * it appears in a frame without escapes. One scan of the rest of the text
 * instead of one per literal (the refusal runs per frame of a flood); the id
 * itself is checked for a backslash on its own. Global, so that the scan can
 * start where the id ends (lastIndex).
 */
const UNDECIDABLE = new RegExp(`\\\\|"id"|${[...RATE_LIMIT_EXEMPT].map((t) => `"${t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`).join('|')}`, 'g');

/**
 * The id of a frame that will certainly be refused, read without parsing, or
 * undefined when that cannot be decided cheaply (the frame then takes the
 * normal path, which refuses it just the same after JSON.parse).
 *
 * It answers only for frames that start with `{"id":"`, contain no backslash
 * at all (so every string in them is literal), name the key `"id"` only once,
 * and contain none of the exempt types literally after the id (an id that
 * reads like a type is still only an id). For those the answer is
 * exactly what the normal path would use: a valid object's `id`, or for
 * invalid JSON the sniffed id, which is this same leading id. What the
 * refusal does after that (abuse window, bucket, machine, reply) is the same
 * code as the normal path.
 */
export const refusableId = (text: string): string | undefined => {
  if (!text.startsWith(LEADING_ID)) return undefined;
  const end = text.indexOf('"', LEADING_ID.length);
  if (end < 0 || end - LEADING_ID.length > MAX_SNIFFED_ID || end === LEADING_ID.length) return undefined;
  const id = text.slice(LEADING_ID.length, end);
  if (id.includes('\\')) return undefined;
  UNDECIDABLE.lastIndex = end;
  return UNDECIDABLE.test(text) ? undefined : id;
};

/**
 * The cheap refusal (issue 11): a live session whose bucket is empty has its
 * frame answered `hub:rate_limited` before JSON.parse, zod or any handler,
 * with no machine step beyond those the state change needs (FRAME, then
 * RATE_LIMIT_EXHAUSTED). Returns whether the frame was dealt with.
 */
export const refuseEarly = (hub: HubOps, turn: Turn, session: Session, text: string, replyTo: string): boolean => {
  if (hasToken(session.bucket, rateSettings(turn), turn.now)) return false;
  const id = refusableId(text);
  if (id === undefined) return false;
  hub.drive(turn, session, { type: 'FRAME', now: turn.now });
  spendToken(hub, turn, session, null, replyTo, id);
  return true;
};
