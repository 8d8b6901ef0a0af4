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
 * So once `streak` frames came in back to back, the frames after them are
 * held here and handled `slice` at a time on the runtime's next turns
 * (`later`: a zero-delay timer in the Durable Object, which local workerd
 * runs once no socket has input waiting). Back to back means either of two
 * things: from any sockets with no turn of the runtime between them (a busy
 * object), or from one socket with no other socket's frame between them (a
 * flood, even where the runtime runs its timers between frames, as the
 * test pool's does). Each socket with frames held gives one in turn, so a
 * socket with one frame held waits for at most a turn, however many a
 * flooder holds. Once a socket has frames held, all its frames queue
 * behind them until none is left, so its own order never changes; frames
 * of different sockets may overtake each other, as if they had come in in
 * another order. Nothing is answered before it is handled, so a held frame
 * is never one the client was told about.
 *
 * Handling frames in batches is also what makes a busy hub cheap: a frame
 * handled right after another finds the code and the hub's state still in
 * the processor's caches. With ten senders streaming tells, the runtime's
 * CPU per tell fell from about 90 to about 75 µs, the raw object's 64
 * (bench/README.md, ninth round). A lone frame, as from a quiet session, is
 * still handled at once.
 *
 * The queue holds at most `maxChars` characters of frames. A frame that
 * would go over first has held frames handled at once, in turn, until it
 * fits: memory stays bounded, and a flood the object cannot keep up with at
 * all is handled inline as before.
 */

/** Runs a callback on a later turn of the runtime, after it has read its other sockets. */
export type Later = (run: () => void) => void;

/** Told how many frames of a socket are held whenever that changes (the hub counts them as the sender's queued work). */
export type HeldCount = (connId: string, held: number) => void;

export interface FairQueueLimits {
  /** Frames handled back to back (any sockets with no turn between, or one socket with no other's between) before the next ones are held. */
  streak: number;
  /** Held frames handled per turn. */
  slice: number;
  /** Characters (string length or bytes) held at most, over all sockets. */
  maxChars: number;
}

/**
 * Eight frames in a row are handled as they come, so a short burst waits
 * for nothing; 32 frames per turn is about a millisecond of hub work, well
 * under what an asker notices; 1 M characters is some thousands of usual
 * frames.
 */
export const FAIR_QUEUE_LIMITS: FairQueueLimits = { streak: 8, slice: 32, maxChars: 1 << 20 };

/** One socket's held frames, from index `head` on: no shift per frame. */
interface Backlog {
  frames: (string | ArrayBuffer | undefined)[];
  head: number;
}

/** Past this many handed-on slots at the front, a backlog is compacted, so one that never empties does not grow without end. */
const COMPACT_AT = 1024;

const sizeOf = (data: string | ArrayBuffer): number => (typeof data === 'string' ? data.length : data.byteLength);

export class FairQueue {
  /** Frames handled inline since the runtime last ran a turn of this queue. */
  private burst = 0;
  /** The socket of the last frame, and how many of its frames came in a row (held or not). */
  private last: string | undefined;
  private run = 0;
  /**
   * connId -> its held frames. The map's order is the order of service:
   * the socket at the front gives one frame and goes to the back, so each
   * socket with frames held gets one in turn, whatever the others hold.
   */
  private readonly backlogs = new Map<string, Backlog>();
  private count = 0;
  private chars = 0;
  private scheduled = false;
  /** Frames ever held by this instance (tests and profiles read it). */
  heldTotal = 0;

  constructor(
    private readonly handle: (connId: string, data: string | ArrayBuffer) => void,
    private readonly later: Later,
    private readonly limits: FairQueueLimits = FAIR_QUEUE_LIMITS,
    private readonly counted: HeldCount = () => undefined,
  ) {}

  /** Frames held now. */
  get size(): number {
    return this.count;
  }

  /** Whether this frame is held (true) or is the caller's to handle now (false). */
  hold(connId: string, data: string | ArrayBuffer): boolean {
    if (connId === this.last) this.run++;
    else {
      this.last = connId;
      this.run = 1;
    }
    let backlog = this.backlogs.get(connId);
    if (backlog === undefined && this.burst < this.limits.streak && this.run <= this.limits.streak) {
      this.burst++;
      // The turn marks the end of the burst: the runtime runs it once no socket has input waiting.
      this.schedule();
      return false;
    }
    const chars = sizeOf(data);
    while (this.count > 0 && this.chars + chars > this.limits.maxChars) this.next();
    // Alone above the bound: everything before it was just handed on, so handling it now keeps the order.
    if (chars > this.limits.maxChars) return false;
    // Looked up again: handing frames on above may have emptied this socket's backlog and dropped it.
    backlog = this.backlogs.get(connId);
    if (backlog === undefined) {
      backlog = { frames: [], head: 0 };
      this.backlogs.set(connId, backlog);
    }
    backlog.frames.push(data);
    this.count++;
    this.heldTotal++;
    this.chars += chars;
    this.schedule();
    this.counted(connId, backlog.frames.length - backlog.head);
    return true;
  }

  /**
   * Handles every held frame now, each socket's in arrival order. Called
   * before any other runtime event (open, close, alarm, flush, shutdown), so
   * that a close or an alarm never overtakes a frame that came in before it.
   */
  drain(): void {
    while (this.count > 0) this.next();
  }

  /**
   * Forgets every held frame, as a crash does; none of them was answered.
   * Not reported to `counted`: the hub that counted them is dropped too.
   */
  clear(): void {
    this.backlogs.clear();
    this.count = 0;
    this.chars = 0;
    this.burst = 0;
    this.last = undefined;
    this.run = 0;
  }

  private readonly turn = (): void => {
    this.scheduled = false;
    this.burst = 0;
    try {
      for (let i = 0; i < this.limits.slice && this.count > 0; i++) this.next();
    } finally {
      // Even if a handler threw, the frames behind it get their turn.
      if (this.count > 0) this.schedule();
    }
  };

  /** One pending turn at a time, however many frames wait. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.later(this.turn);
  }

  /** The oldest held frame of the socket whose turn it is; that socket then goes to the back. */
  private next(): void {
    const [connId, backlog] = this.backlogs.entries().next().value as [string, Backlog];
    const data = backlog.frames[backlog.head]!;
    backlog.frames[backlog.head++] = undefined;
    this.backlogs.delete(connId);
    if (backlog.head < backlog.frames.length) {
      if (backlog.head >= COMPACT_AT && backlog.head * 2 >= backlog.frames.length) {
        backlog.frames = backlog.frames.slice(backlog.head);
        backlog.head = 0;
      }
      this.backlogs.set(connId, backlog);
    }
    this.count--;
    this.chars -= sizeOf(data);
    // Before the frame is handled: its own reply then sees the count without it.
    this.counted(connId, backlog.frames.length - backlog.head);
    this.handle(connId, data);
  }
}
