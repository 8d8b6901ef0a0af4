import type { AlarmPort, Clock, ConnectionManager } from './connections';

/**
 * The connection manager of a hibernating Durable Object: sockets accepted
 * through `DurableObjectState.acceptWebSocket`, so the runtime keeps them
 * open (and answers pings) while the object is evicted, and hands back new
 * socket objects after a wake.
 */
export class HibernatingConnections implements ConnectionManager<WebSocket> {
  /** connId -> socket: getWebSockets(tag) asks the runtime, this asks a map. */
  private readonly byId = new Map<string, WebSocket>();
  /**
   * A socket's tags never change, and asking the runtime for them was ~3 % of
   * a frame (issue 11), so the answer is remembered per socket object (new
   * objects after a wake, new map too).
   */
  private readonly tagsOf = new WeakMap<WebSocket, readonly string[]>();

  constructor(private readonly ctx: DurableObjectState) {}

  accept(socket: WebSocket, tags: readonly string[]): void {
    this.ctx.acceptWebSocket(socket, [...tags]);
    this.tagsOf.set(socket, tags);
    if (tags[0] !== undefined) this.byId.set(tags[0], socket);
  }

  list(tag: string): WebSocket[] {
    return this.ctx.getWebSockets(tag);
  }

  restorable(current?: WebSocket): WebSocket[] {
    const sockets = this.ctx.getWebSockets();
    if (current && !sockets.includes(current)) sockets.push(current);
    return sockets;
  }

  get(connId: string): WebSocket | undefined {
    let ws = this.byId.get(connId);
    if (!ws) {
      ws = this.ctx.getWebSockets(connId)[0];
      if (ws) this.byId.set(connId, ws);
    }
    return ws;
  }

  tags(socket: WebSocket): readonly string[] {
    let tags = this.tagsOf.get(socket);
    if (tags === undefined) {
      tags = this.ctx.getTags(socket);
      this.tagsOf.set(socket, tags);
    }
    return tags;
  }

  track(connId: string, socket: WebSocket): void {
    if (this.byId.get(connId) !== socket) this.byId.set(connId, socket);
  }

  release(connId: string): void {
    this.byId.delete(connId);
  }

  readAttachment(socket: WebSocket): unknown {
    return socket.deserializeAttachment();
  }

  writeAttachment(socket: WebSocket, value: unknown): string | null {
    try {
      socket.serializeAttachment(value);
      return null;
    } catch (err) {
      return String(err);
    }
  }

  send(socket: WebSocket, frame: string): void {
    try {
      socket.send(frame);
    } catch {
      // The socket is already closing; its close event releases the session.
    }
  }

  close(socket: WebSocket, code: number, reason: string): void {
    try {
      socket.close(code, reason);
    } catch {
      // Already closed.
    }
  }

  pingAt(socket: WebSocket): number | null {
    const at = this.ctx.getWebSocketAutoResponseTimestamp(socket);
    return at ? at.getTime() : null;
  }
}

/** The object's one alarm, in its durable storage. */
export class DurableAlarm implements AlarmPort {
  constructor(private readonly storage: DurableObjectStorage) {}

  set(at: number | null): void {
    if (at === null) void this.storage.deleteAlarm();
    else void this.storage.setAlarm(at);
  }
}

export const systemClock: Clock = { now: () => Date.now() };
