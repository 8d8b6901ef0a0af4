/**
 * Messages this client received lately, to drop a second copy.
 *
 * After a resume the hub sends again the last frames it had sent to the old
 * connection, because it cannot know which of them the dropped socket read
 * (docs/PROTOCOL.md "Session resume"). A delivered message is identified by
 * its envelope id together with `to`: a broadcast or publication reaching
 * two addresses of this client carries one id twice, once per address.
 * The window is larger than the hub's replay window (64 frames).
 */
export class RecentIds {
  private readonly seen = new Set<string>();
  private readonly order: string[] = [];

  constructor(private readonly limit = 1024) {}

  /** Whether this message was seen before; records it if not. */
  repeat(id: string, to: string): boolean {
    const key = `${id}\n${to}`;
    if (this.seen.has(key)) return true;
    this.seen.add(key);
    this.order.push(key);
    if (this.order.length > this.limit) this.seen.delete(this.order.shift()!);
    return false;
  }
}
