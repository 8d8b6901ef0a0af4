import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HubClient } from '../../src/client/client';
import { startDevServer, type DevServer } from '../../harness/net/dev-server';
import { trackedWebSocket, waitFor, watchSession } from './support/session-watch';

/**
 * Session resume end to end (issue 14): `wrangler dev`, the real client
 * library over `ws`, and a TCP connection that dies under the receiving
 * client while another client keeps sending, publishing and broadcasting to
 * it. The receiving application does nothing about the drop; the library
 * resumes the session, and every message the hub acknowledged to the sender
 * must arrive exactly once, in the order it was sent.
 */

const clients: HubClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.disconnect().catch(() => undefined)));
});

describe('session resume against wrangler dev', () => {
  let server: DevServer;
  beforeAll(async () => {
    // A rate limit the stream cannot reach: this test is about the drop, not about pacing.
    server = await startDevServer({ vars: { RATE_LIMIT_PER_SECOND: 1000, RATE_LIMIT_BURST: 1000 } });
  });
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') console.error(`--- wrangler output (tail) ---\n${server.output().slice(-6_000)}`);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('a receiver whose TCP connection is destroyed mid-stream gets every acknowledged send, publication and broadcast once, in order', async () => {
    const hub = `resume-${process.pid}`;
    const { sockets, WebSocketClass } = trackedWebSocket();
    const bob = new HubClient({ url: `${server.wsUrl}/ws/${hub}`, identity: '@(e2e/rbob)', WebSocket: WebSocketClass });
    const alice = new HubClient({ url: `${server.wsUrl}/ws/${hub}`, identity: '@(e2e/ralice)', WebSocket });
    clients.push(bob, alice);
    const { received, restored, disconnects, sessionIds } = watchSession(bob);

    const info = await bob.connect();
    await alice.connect();
    await bob.register('@(e2e/rbob)');
    await bob.subscribe('resume-news');

    // The stream: sends (asks), publications and broadcasts, in one order from one sender.
    const N = 90;
    const acked: number[] = [];
    const pending: Promise<void>[] = [];
    for (let i = 1; i <= N; i++) {
      const kind = i % 3;
      const sent =
        kind === 0
          ? alice.ask('@(e2e/rbob)', 'stream', i).then((ack) => expect(ack.status).toBe('delivered'))
          : kind === 1
            ? alice.publish('resume-news', 'stream', i).then((p) => expect(p.subscriberCount).toBe(1))
            : alice.broadcast('stream', i).then(() => undefined);
      pending.push(sent.then(() => void acked.push(i)));
      if (i === 30) {
        // Mid-stream: the TCP connection under bob's WebSocket dies without a close frame.
        await waitFor(() => received.length >= 10, 10_000, 'the first messages reaching bob');
        (sockets.at(-1) as unknown as { _socket: { destroy(): void } })._socket.destroy();
      }
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 15));
    }
    await Promise.all(pending);
    expect(acked.sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, k) => k + 1));

    await waitFor(() => received.length >= N, 15_000, 'every acknowledged message at bob').catch((err: Error) => {
      const got = new Set(received.map((m) => m.payload));
      err.message += `; missing ${JSON.stringify(Array.from({ length: N }, (_, k) => k + 1).filter((k) => !got.has(k)))}, restored ${JSON.stringify(restored)}, disconnects ${JSON.stringify(disconnects)}`;
      throw err;
    });
    await new Promise((r) => setTimeout(r, 300));
    // Exactly once, in the order sent, with no application code for the resume.
    expect(received.map((m) => m.payload)).toEqual(Array.from({ length: N }, (_, k) => k + 1));
    expect(disconnects.length).toBe(1);
    expect(disconnects[0]!.code).toBe(1006);
    expect(restored).toEqual([{ resumed: true, registrations: 1, subscriptions: 1, failed: 0, lostTopics: [] }]);
    expect(sockets.length).toBe(2);
    expect(bob.state).toBe('connected');
    // The same session on the new socket, still holding its registration.
    expect(sessionIds).toEqual([info.sessionId, info.sessionId]);
    const found = await alice.discover('e2e/rbob');
    expect(found.actors.map((a) => a.address)).toEqual(['@(e2e/rbob)']);
  }, 60_000);
});
