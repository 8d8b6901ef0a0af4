/**
 * Keeps one flooding socket from starving the others (issue 11).
 *
 * Local workerd reads a socket's next frame as soon as the last one was
 * handed to the object, and only looks at its other sockets once no socket
 * has input buffered. A client that sends faster than the object handles its
 * frames therefore keeps its buffer full, and every other session waits
 * until it stops. Settling the handler later does not help (the runtime
 * does not wait for it); handling the frame later does: a frame that only
 * joins a queue costs the object almost nothing, the flooder's buffer
 * drains, the runtime reads the other sockets, and their frames are handled
 * at once, ahead of the queued flood.
 *
 * So a socket whose frames arrive back to back, with no other socket's
 * frame between them, has every frame after the first `streak` held here,
 * in arrival order, and handled `slice` at a time on the runtime's next
 * turn (`later`: a zero-delay timer in the Durable Object). Once a socket
 * has frames held, all its frames queue behind them until none is left, so
 * its own order never changes; other sockets only ever overtake it, as if
 * their frames had come in first. Nothing is answered before it is handled,
 * so a held frame is never one the client was told about.
 *
 * The queue holds at most `maxChars` characters of frames. A frame that
 * would go over first has the oldest held frames handled at once: memory
 * stays bounded, and a flood the object cannot keep up with at all is
 * handled inline as before.
 */

/** Runs a callback on a later turn of the runtime, after it has read its other sockets. */
export type Later = (run: () => void) => void;

export interface FairQueueLimits {
  /** Frames of one socket handled inline back to back before its next ones are held. */
  streak: number;
  /** Held frames handled per turn. */
  slice: number;
  /** Characters (string length or bytes) held at most, over all sockets. */
  maxChars: number;
}

/**
 * Eight frames in a row is a burst, not yet a flood; 32 frames per turn is
 * about a millisecond of hub work, well under what an asker notices; 1 M
 * characters is some thousands of usual frames.
 */
export const FAIR_QUEUE_LIMITS: FairQueueLimits = { streak: 8, slice: 32, maxChars: 1 << 20 };

interface Held {
  connId: string;
  data: string | ArrayBuffer;
}

/** Past this many handed-on slots at the front, the array is compacted, so a backlog that never empties does not grow it. */
const COMPACT_AT = 1024;

const sizeOf = (data: string | ArrayBuffer): number => (typeof data === 'string' ? data.length : data.byteLength);

export class FairQueue {
  private last: string | undefined;
  private run = 0;
  /** Held frames from index `head` on: no shift per frame; reset once empty, compacted past COMPACT_AT. */
  private held: (Held | undefined)[] = [];
  private head = 0;
  /** connId -> frames it has held. */
  private readonly heldBy = new Map<string, number>();
  private chars = 0;
  private scheduled = false;
  /** Frames ever held by this instance (tests and profiles read it). */
  heldTotal = 0;

  constructor(
    private readonly handle: (connId: string, data: string | ArrayBuffer) => void,
    private readonly later: Later,
    private readonly limits: FairQueueLimits = FAIR_QUEUE_LIMITS,
  ) {}

  /** Frames held now. */
  get size(): number {
    return this.held.length - this.head;
  }

  /** Whether this frame is held (true) or is the caller's to handle now (false). */
  hold(connId: string, data: string | ArrayBuffer): boolean {
    if (connId === this.last) this.run++;
    else {
      this.last = connId;
      this.run = 1;
    }
    if (this.run <= this.limits.streak && !this.heldBy.has(connId)) return false;
    const chars = sizeOf(data);
    while (this.size > 0 && this.chars + chars > this.limits.maxChars) this.next();
    // Alone above the bound: everything before it was just handed on, so handling it now keeps the order.
    if (chars > this.limits.maxChars) return false;
    this.held.push({ connId, data });
    this.heldTotal++;
    this.heldBy.set(connId, (this.heldBy.get(connId) ?? 0) + 1);
    this.chars += chars;
    this.schedule();
    return true;
  }

  /**
   * Handles every held frame now, in arrival order. Called before any other
   * runtime event (open, close, alarm, flush, shutdown), so that a close or
   * an alarm never overtakes a frame that came in before it.
   */
  drain(): void {
    while (this.size > 0) this.next();
  }

  /** Forgets every held frame, as a crash does; none of them was answered. */
  clear(): void {
    this.held = [];
    this.head = 0;
    this.heldBy.clear();
    this.chars = 0;
    this.last = undefined;
    this.run = 0;
  }

  private readonly turn = (): void => {
    this.scheduled = false;
    try {
      for (let i = 0; i < this.limits.slice && this.size > 0; i++) this.next();
    } finally {
      // Even if a handler threw, the frames behind it get their turn.
      if (this.size > 0) this.schedule();
    }
  };

  /** One pending turn at a time, however many frames wait. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.later(this.turn);
  }

  private next(): void {
    const frame = this.held[this.head]!;
    this.held[this.head++] = undefined;
    if (this.head === this.held.length) {
      this.held = [];
      this.head = 0;
    } else if (this.head >= COMPACT_AT && this.head * 2 >= this.held.length) {
      this.held = this.held.slice(this.head);
      this.head = 0;
    }
    this.chars -= sizeOf(frame.data);
    const left = this.heldBy.get(frame.connId)! - 1;
    if (left === 0) this.heldBy.delete(frame.connId);
    else this.heldBy.set(frame.connId, left);
    this.handle(frame.connId, frame.data);
  }
}
