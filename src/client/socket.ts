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
