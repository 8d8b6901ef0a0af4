import type { Session } from './session';

/**
 * The frames a session's socket may not have read when it dropped.
 *
 * "Sent" is not "received": when a connection dies (a TCP reset, a phone
 * leaving the network), the frames the hub wrote during its last moments
 * sat in kernel buffers or in flight and are gone, and the hub learns of the
 * drop only afterwards. So the hub keeps, in memory only, the last frames it
 * delivered to each resumable session; when the session is suspended they go
 * to the head of its mailbox, and the resumed client receives them again.
 * The client drops the ones it had already received: a delivered message is
 * identified by its envelope id and `to` (src/client/recent-ids.ts).
 *
 * In memory on purpose: the hot path must not gain a storage write. The cost
 * is that a window is lost if the object is evicted between those sends and
 * the drop; the runtime evicts only an object idle for several seconds, by
 * which time a healthy connection has read what was sent to it.
 */

/** At most this many frames, and this many characters, per session. */
export const REPLAY_FRAMES = 64;
export const REPLAY_CHARS = 256 * 1024;

/** A frame went to the session's socket. */
export const rememberSent = (session: Session, frame: string): void => {
  if (session.snapshot.context.resumeGraceMs === 0) return;
  const recent = (session.recent ??= { frames: [], chars: 0 });
  recent.frames.push(frame);
  recent.chars += frame.length;
  while (recent.frames.length > REPLAY_FRAMES || (recent.chars > REPLAY_CHARS && recent.frames.length > 1)) {
    recent.chars -= recent.frames.shift()!.length;
  }
};

/** The remembered frames, oldest first, and forgets them. */
export const takeRecent = (session: Session): string[] => {
  const frames = session.recent?.frames ?? [];
  session.recent = undefined;
  return frames;
};
