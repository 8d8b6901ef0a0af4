/**
 * Fair turns between sockets (issue 11, fairness).
 *
 * The runtime reads a socket's next frame only after the handler of the
 * previous one has settled, and its event loop looks for other sockets'
 * input only when it has nothing else queued. A client whose frames are
 * already buffered therefore gets its next frame read at once, again and
 * again, as long as it sends faster than the object handles: every other
 * socket of the object waits, however cheap each frame is. Measured on this
 * hub under `wrangler dev`: askers starved (37 of ~167 asks answered) while
 * one client flooded at > 5 k frames/s, though the object used well under a
 * core.
 *
 * The cure is to make the runtime go round its event loop now and then while
 * one socket has the object to itself: after `every` consecutive frames from
 * the same connection, the shell's handler settles on a timer instead of at
 * once, and the runtime reads whatever else is waiting before that socket's
 * next frame. Frames of the same connection keep their order (they are read
 * one after another all the same); nothing is dropped or reordered between
 * connections beyond what arrival already decided. Traffic that interleaves
 * connections never waits.
 */
export class FairTurns {
  private conn: string | null = null;
  private run = 0;

  constructor(private readonly every = 8) {
    if (!Number.isInteger(every) || every < 1) throw new Error(`FairTurns needs a positive integer, got ${every}`);
  }

  /** Call after handling a frame of `connId`: true when the shell should yield before settling. */
  after(connId: string): boolean {
    if (connId !== this.conn) {
      this.conn = connId;
      this.run = 1;
      return this.every === 1;
    }
    if (++this.run < this.every) return false;
    this.run = 0;
    return true;
  }
}

