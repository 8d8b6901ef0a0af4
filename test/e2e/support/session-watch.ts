import WebSocket from 'ws';
import type { HubClient } from '../../../src/client/client';
import type { HubClientEvents, HubMessage } from '../../../src/client/types';

/**
 * What the resume and takeover e2e tests share: a `ws` class that keeps its
 * instances (so a test can cut or silence the TCP socket under the library),
 * a polling wait, and a record of what one client saw across its drops.
 */

/** The `ws` class the library uses, keeping each instance. */
export const trackedWebSocket = () => {
  const sockets: WebSocket[] = [];
  class Tracked extends WebSocket {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args);
      sockets.push(this);
    }
  }
  return { sockets, WebSocketClass: Tracked };
};

export const waitFor = async (probe: () => boolean, timeoutMs: number, what: string): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** Everything a client reports about its session: the stream messages it got, restores, drops, errors and session ids. */
export const watchSession = (client: HubClient, streamType = 'stream') => {
  const seen = {
    received: [] as HubMessage[],
    restored: [] as HubClientEvents['restored'][],
    disconnects: [] as HubClientEvents['disconnected'][],
    errors: [] as unknown[],
    sessionIds: [] as string[],
  };
  client.on('message', (m) => {
    if (m.type === streamType) seen.received.push(m);
  });
  client.on('restored', (r) => seen.restored.push(r));
  client.on('disconnected', (d) => seen.disconnects.push(d));
  client.on('error', (e) => seen.errors.push(e));
  client.on('connected', (c) => seen.sessionIds.push(c.info.sessionId));
  return seen;
};
