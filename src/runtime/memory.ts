import type { ConnectionManager } from './connections';

/** The runtime's limit on a socket attachment. */
export const ATTACHMENT_LIMIT = 16 * 1024;

/** A socket in memory: what the hub sent it, its attachment, how it closed. */
export interface MemorySocket {
  readonly connId: string;
  tags: readonly string[];
  /** Every frame the hub sent to this socket, raw, in order. */
  readonly received: string[];
  attachment: unknown;
  /** Set once the hub closed the socket (or the client did). */
  closed: { code: number; reason: string; by: 'hub' | 'client' } | null;
  /** Last time the runtime auto-answered a ping on this socket. */
  pingAt: number | null;
}

export const memorySocket = (connId: string): MemorySocket => ({
  connId,
  tags: [],
  received: [],
  attachment: null,
  closed: null,
  pingAt: null,
});

/**
 * The connection manager of the harness and the property tests. It behaves
 * as the hibernating runtime does where the hub can tell: a closed socket is
 * no longer listed, sends to it are dropped, attachments are copied in and
 * out (so nothing is shared with a core that is thrown away). It is stricter
 * in one place: an attachment over the runtime's limit throws, because the
 * core promises to stay within its budget (src/core/session-budget.ts) and a
 * run that breaks the promise should fail loudly, not log and go on.
 */
export class MemoryConnections implements ConnectionManager<MemorySocket> {
  /** Every session socket ever accepted, by connection id, in opening order (closed ones too). */
  readonly sockets = new Map<string, MemorySocket>();
  private readonly others: MemorySocket[] = [];

  accept(socket: MemorySocket, tags: readonly string[]): void {
    socket.tags = tags;
    if (tags[0] === socket.connId) this.sockets.set(socket.connId, socket);
    else this.others.push(socket);
  }

  list(tag: string): MemorySocket[] {
    return [...this.sockets.values(), ...this.others].filter((s) => s.closed === null && s.tags.includes(tag));
  }

  /** In opening order, `current` in its own place. */
  restorable(current?: MemorySocket): MemorySocket[] {
    return [...this.sockets.values(), ...this.others].filter((s) => s.closed === null || s === current);
  }

  get(connId: string): MemorySocket | undefined {
    return this.sockets.get(connId);
  }

  tags(socket: MemorySocket): readonly string[] {
    return socket.tags;
  }

  track(): void {
    // One object per socket for its whole life: nothing to remember.
  }

  release(): void {
    // Closed sockets stay listed in `sockets` for the tests to look at.
  }

  readAttachment(socket: MemorySocket): unknown {
    return structuredClone(socket.attachment);
  }

  writeAttachment(socket: MemorySocket, value: unknown): string | null {
    const size = JSON.stringify(value).length;
    if (size > ATTACHMENT_LIMIT) throw new Error(`attachment of ${socket.connId} is ${size} bytes`);
    socket.attachment = structuredClone(value);
    return null;
  }

  send(socket: MemorySocket, frame: string): void {
    if (socket.closed === null) socket.received.push(frame);
  }

  close(socket: MemorySocket, code: number, reason: string): void {
    if (socket.closed === null) socket.closed = { code, reason, by: 'hub' };
  }

  pingAt(socket: MemorySocket): number | null {
    return socket.pingAt;
  }
}
