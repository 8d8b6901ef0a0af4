import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HubClient } from '../../src/client/client';
import { startDevServer, type DevServer } from '../../harness/net/dev-server';
import { trackedWebSocket, waitFor, watchSession } from './support/session-watch';

/**
 * Session takeover end to end (issue 14 follow-up): `wrangler dev`, the real
 * client library over `ws`. The receiving client's network goes silent both
 * ways (its TCP connection stays open, nothing is read from it and nothing
 * written to it reaches the hub), the way a phone that lost its radio looks
 * to a server. The hub's heartbeat timeout is far away, so the hub still
 * counts the old socket as live when the client, having noticed the silence
 * itself, reconnects with its resume token. Meanwhile another client keeps
 * sending; every message the hub acknowledged must arrive exactly once, in
 * order, with no application code for the reconnect.
 */

interface RawSocket {
  pause(): void;
  write: (...args: unknown[]) => boolean;
}

/** The network under this socket goes dark: it reads nothing more, and what it writes goes nowhere. */
const blackhole = (ws: WebSocket): void => {
  const raw = (ws as unknown as { _socket: RawSocket })._socket;
  raw.pause();
  raw.write = () => true;
};

const clients: HubClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.disconnect().catch(() => undefined)));
});

describe('session takeover against wrangler dev', () => {
  let server: DevServer;
  beforeAll(async () => {
    // The hub would notice the silent socket only after 2 minutes: far beyond this test, as in production.
    server = await startDevServer({
      vars: { RATE_LIMIT_PER_SECOND: 1000, RATE_LIMIT_BURST: 1000, HB_INTERVAL_SECONDS: 1, HEARTBEAT_TIMEOUT_MS: 120_000 },
    });
  });
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') console.error(`--- wrangler output (tail) ---\n${server.output().slice(-6_000)}`);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('a client whose old connection went silent but stays open resumes at once; every acknowledged message arrives once, in order', async () => {
    const hub = `takeover-${process.pid}`;
    const { sockets, WebSocketClass } = trackedWebSocket();
    // The client presumes its socket dead after 2.5 s of silence (the hub's interval is 1 s).
    const bob = new HubClient({ url: `${server.wsUrl}/ws/${hub}`, identity: '@(e2e/tbob)', WebSocket: WebSocketClass, livenessTimeoutMs: 2_500 });
    const alice = new HubClient({ url: `${server.wsUrl}/ws/${hub}`, identity: '@(e2e/talice)', WebSocket });
    clients.push(bob, alice);
    const { received, restored, disconnects, errors, sessionIds } = watchSession(bob);

    const info = await bob.connect();
    await alice.connect();
    await bob.register('@(e2e/tbob)');
    await bob.subscribe('takeover-news');

    // One sender, one order: asks, publications and broadcasts every 100 ms until 20 have followed the takeover.
    const acked: number[] = [];
    const pending: Promise<void>[] = [];
    let sent = 0;
    let resumedAt: number | null = null;
    const sendOne = (i: number): void => {
      const kind = i % 3;
      const p =
        kind === 0
          ? alice.ask('@(e2e/tbob)', 'stream', i).then((ack) => expect(ack.status).toBe('delivered'))
          : kind === 1
            ? alice.publish('takeover-news', 'stream', i).then((r) => expect(r.subscriberCount).toBe(1))
            : alice.broadcast('stream', i).then(() => undefined);
      pending.push(p.then(() => void acked.push(i)));
    };
    const deadline = Date.now() + 30_000;
    while (resumedAt === null || sent < resumedAt + 20) {
      if (Date.now() > deadline) throw new Error(`no takeover within 30 s (sent ${sent}, restored ${JSON.stringify(restored)})`);
      sendOne(++sent);
      if (sent === 15) {
        await waitFor(() => received.length >= 10, 10_000, 'the first messages reaching bob');
        // From here on the old connection is silent both ways; the hub keeps writing to it.
        blackhole(sockets.at(-1)!);
      }
      if (resumedAt === null && restored.length > 0) resumedAt = sent;
      await new Promise((r) => setTimeout(r, 100));
    }
    await Promise.all(pending);
    const all = Array.from({ length: sent }, (_, k) => k + 1);
    expect(acked.sort((a, b) => a - b)).toEqual(all);

    await waitFor(() => received.length >= sent, 15_000, 'every acknowledged message at bob').catch((err: Error) => {
      const got = new Set(received.map((m) => m.payload));
      err.message += `; missing ${JSON.stringify(all.filter((k) => !got.has(k)))}, restored ${JSON.stringify(restored)}, disconnects ${JSON.stringify(disconnects)}`;
      throw err;
    });
    await new Promise((r) => setTimeout(r, 300));
    // Exactly once, in the order sent, though the hub had written part of it to the silent socket.
    expect(received.map((m) => m.payload)).toEqual(all);
    // The client noticed first (its own liveness timeout); the hub's notice to the old socket never surfaced as an error.
    expect(disconnects.map((d) => d.reason)).toEqual(['liveness_lost']);
    expect(errors).toEqual([]);
    // Taken over, not a new session: same id, registration and subscription kept by the hub.
    expect(restored).toEqual([{ resumed: true, registrations: 1, subscriptions: 1, failed: 0, lostTopics: [] }]);
    expect(sessionIds).toEqual([info.sessionId, info.sessionId]);
    expect(sockets.length).toBe(2);
    expect(bob.state).toBe('connected');
    const found = await alice.discover('e2e/tbob');
    expect(found.actors.map((a) => a.address)).toEqual(['@(e2e/tbob)']);
    // The hub holds one live session for bob: a new message reaches the new socket once.
    await alice.ask('@(e2e/tbob)', 'stream', sent + 1);
    await waitFor(() => received.length === sent + 1, 5_000, 'a message after the takeover');
  }, 90_000);
});
