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

/**
 * The last frames sent to a session, oldest at `start`: a ring of
 * REPLAY_FRAMES slots rather than an array that shifts. This runs for every
 * frame a resumable session is sent, and push-then-shift moved the whole
 * window each time (issue 11).
 */
export interface RecentFrames {
  slots: (string | undefined)[];
  start: number;
  count: number;
  chars: number;
}

const dropOldest = (recent: RecentFrames): void => {
  recent.chars -= recent.slots[recent.start]!.length;
  recent.slots[recent.start] = undefined;
  recent.start = (recent.start + 1) % REPLAY_FRAMES;
  recent.count--;
};

/** A frame went to the session's socket. */
export const rememberSent = (session: Session, frame: string): void => {
  if (session.snapshot.context.resumeGraceMs === 0) return;
  const recent = (session.recent ??= { slots: new Array<string | undefined>(REPLAY_FRAMES).fill(undefined), start: 0, count: 0, chars: 0 });
  if (recent.count === REPLAY_FRAMES) dropOldest(recent);
  recent.slots[(recent.start + recent.count) % REPLAY_FRAMES] = frame;
  recent.count++;
  recent.chars += frame.length;
  while (recent.chars > REPLAY_CHARS && recent.count > 1) dropOldest(recent);
};

/** The remembered frames, oldest first, and forgets them. */
export const takeRecent = (session: Session): string[] => {
  const recent = session.recent;
  session.recent = undefined;
  if (!recent) return [];
  const frames: string[] = [];
  for (let i = 0; i < recent.count; i++) frames.push(recent.slots[(recent.start + i) % REPLAY_FRAMES]!);
  return frames;
};
