import type { HubConfig } from '../config';
import { byteLength } from '../protocol/strings';
import { UNKNOWN_ADDRESS } from './machine-effects';
import { contextOnly, stepMachine } from './machine-step';
import { rateLimitedFrame, rateSettingsOf, refusableId } from './rate-gate';
import { countFrame, hasToken, onlyCounts, take } from './rate-limit';
import type { Session } from './session';
import { countRefusal } from './totals';
import type { IdSource } from './turn';

/** Whether both of the lane's machine steps are context-only: read from the machine once, it cannot change. */
let contextOnlySteps: boolean | undefined;
const stepsAreContextOnly = (): boolean =>
  (contextOnlySteps ??= contextOnly('rate-limited', 'FRAME') && contextOnly('rate-limited', 'RATE_LIMIT_EXHAUSTED'));

/**
 * The refusal lane (issue 11): a frame from a session that is already
 * `rate-limited`, whose bucket is still empty, answered without a turn.
 *
 * A flooding client's frames are nearly all of this kind, and on the full
 * path each one built a Turn (two sets, an effect list, the error list),
 * went through handleFrame, refuseEarly, spendToken and preparedError, and
 * was finished by finish(), whose counters, soft-flush bookkeeping and alarm
 * check all came out the same every time. That path cost 15–20 µs of
 * runtime CPU per refused frame above the raw echo, where the shell writing
 * the same reply with no hub code costs 3–4 µs above it; with this lane the
 * bench read 7 and 14 (bench/README.md, seventh round). A tight loop of the
 * full path costs only ~3.5 µs a frame in workerd: what is dear is each
 * event touching that much code and that many objects, so the lane touches
 * as little as it can.
 *
 * It applies only where the full path provably reduces to the steps below,
 * in the same order, with the same results: the core checks that nothing
 * else would happen in the turn (HubCore.laneOpen: no inspector watching
 * transitions, no pending ask to settle, no lost sockets to recover, the
 * session's soft state already waiting for the armed flush, the alarm
 * already early enough, nothing unwritten in the stored totals), and this
 * checks the frame and the session: a text frame within the size limit, the
 * session in `rate-limited` with its bucket empty, the abuse window only
 * counting, an id readable without parsing, and both machine steps
 * context-only. Anything else returns null and takes the full path, which
 * refuses just the same. test/unit/refusal-lane.test.ts runs random traces
 * with the lane on and off and compares every frame, close, attachment and
 * alarm.
 *
 * Returns the refusal frame to send, or null.
 */
export const laneRefusal = (config: HubConfig, ids: IdSource, session: Session, text: string, now: number): string | null => {
  const snapshot = session.snapshot;
  if (snapshot.status !== 'active' || snapshot.value !== 'rate-limited') return null;
  if (!stepsAreContextOnly()) return null;
  if (byteLength(text, config.maxMessageSize) > config.maxMessageSize) return null;
  const settings = rateSettingsOf(config);
  if (hasToken(session.bucket, settings, now) || !onlyCounts(session.abuse, now)) return null;
  const id = refusableId(text);
  if (id === undefined) return null;
  // From here, the full path's steps in its order (HubCore.frame, handleFrame, refuseEarly, spendToken).
  const replyTo = snapshot.context.identity ?? UNKNOWN_ADDRESS;
  session.stats.received++;
  session.snapshot = stepMachine(session.snapshot, { type: 'FRAME', now })[0];
  countFrame(session.abuse, settings, now);
  const retryAfter = take(session.bucket, settings, now);
  session.snapshot = stepMachine(session.snapshot, { type: 'RATE_LIMIT_EXHAUSTED', now, retryAt: now + retryAfter })[0];
  const { frame } = rateLimitedFrame(settings, retryAfter, ids.messageId(), replyTo, id, now);
  // What finish() counts for it (Totals.attribute); the session is already due for the next flush.
  countRefusal(session.stats);
  return frame;
};
