/**
 * The part of the WebSocket API the client uses. Both the browser's
 * WebSocket and the `ws` package's WebSocket satisfy it, so the client needs
 * neither the DOM typings nor `ws` itself; the event parameters are `any`
 * because the two disagree on their event classes.
 */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
}

export type WebSocketConstructor = new (url: string) => SocketLike;

/** readyState of an open socket, the same in every implementation. */
export const SOCKET_OPEN = 1;

/** Text of a message event's data; binary frames are decoded as UTF-8 like the hub does. */
export const frameText = (data: unknown): string | null => {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new TextDecoder().decode(data);
  if (ArrayBuffer.isView(data)) return new TextDecoder().decode(data);
  return null;
};

/** The browser's WebSocket, when there is one. */
export const globalWebSocket = (): WebSocketConstructor | undefined =>
  (globalThis as unknown as { WebSocket?: WebSocketConstructor }).WebSocket;

/**
 * Closes `socket` on purpose and calls `done` once it is closed: after
 * sending `goodbye` (if any) the close is left to the other side, and after
 * `graceMs` without a close event the socket is closed from here.
 */
export const closeGracefully = (socket: SocketLike | null, goodbye: string | null, graceMs: number, done: () => void): void => {
  if (!socket) {
    done();
    return;
  }
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    clearTimeout(grace);
    socket.onclose = () => undefined;
    done();
  };
  socket.onopen = () => undefined;
  socket.onmessage = () => undefined;
  socket.onerror = () => undefined;
  socket.onclose = finish;
  const grace = setTimeout(() => {
    try {
      socket.close(1000, 'client_disconnect');
    } catch {
      // Ignored: the socket is being torn down anyway.
    }
    finish();
  }, graceMs);
  if (goodbye !== null) {
    try {
      socket.send(goodbye);
      return;
    } catch {
      // Fall through to a plain close.
    }
  }
  try {
    socket.close(1000, 'client_disconnect');
  } catch {
    finish();
  }
};
