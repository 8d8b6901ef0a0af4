import { mintToken } from '../../src/auth/jwt';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildRequest } from '../../src/protocol/build';
import { startDevServer, type DevServer } from '../../harness/net/dev-server';
import { WsTestClient, type Frame } from '../../harness/net/ws-client';
import { tidyDevServerTests } from './support/tidy-dev-server';

/**
 * Idempotent resends (docs/PROTOCOL.md "Idempotent requests") as a real
 * client sees them: `wrangler dev --local`, `ws` over TCP, auth on so that
 * the scope is the verified identity and a resend survives a TCP drop and a
 * new session.
 */

const SECRET = 'e2e-idempotency-secret';
let server: DevServer;
const open: WsTestClient[] = [];
let hubCounter = 0;
const freshHub = (label: string): string => `${label}-${process.pid}-${++hubCounter}`;

/** A ten-minute token of ours for `actorId`, minted by the hub's own minting code. */
const tokenFor = (actorId: string): Promise<string> => mintToken(SECRET, { actorId, sub: `user:${actorId}`, lifetimeSeconds: 600 });

const connect = async (hub: string, actorId: string): Promise<{ client: WsTestClient; connected: Frame }> => {
  const result = await WsTestClient.connected(`${server.wsUrl}/ws/${hub}`, `@(${actorId})`, { authToken: await tokenFor(actorId) });
  open.push(result.client);
  return result;
};

const received = (client: WsTestClient, type: string): Frame[] =>
  client.events.flatMap((e) => (e.kind === 'frame' && e.frame.type === type ? [e.frame] : []));

/** A heartbeat round trip: whatever the hub sent this socket before it has arrived. */
const fence = async (client: WsTestClient): Promise<void> => {
  expect((await client.ask('hub:heartbeat', null)).type).toBe('hub:heartbeat_ack');
};

beforeAll(async () => {
  server = await startDevServer({
    vars: { AUTH_ENABLED: true, JWT_SECRET: SECRET, RATE_LIMIT_PER_SECOND: 100_000, RATE_LIMIT_BURST: 100_000 },
  });
});

tidyDevServerTests(open, () => server);

describe('idempotent resend over TCP', () => {
  it('the same frame sent twice on one connection is delivered once and answered twice with the same reply', async () => {
    const hub = freshHub('idem-same');
    const { client: a, connected } = await connect(hub, 'e2e-a');
    expect(connected.payload.capabilities.idempotency).toEqual({ windowMs: 60_000, limit: 1000, scope: 'identity' });
    const { client: b } = await connect(hub, 'e2e-b');
    expect((await b.ask('hub:register', { actorAddress: '@(e2e-b/inbox)', capabilities: [] })).type).toBe('hub:registered');

    const frame = JSON.stringify(buildRequest('hub:send', { to: '@(e2e-b/inbox)', type: 'e2e.note', data: { n: 1 } }, { from: '@(e2e-a)' }));
    const id = (JSON.parse(frame) as Frame).id as string;
    a.sendRaw(frame);
    const first = await a.next((f) => f.correlationId === id);
    a.sendRaw(frame);
    const second = await a.next((f) => f.correlationId === id);
    expect(first.type).toBe('hub:delivery_ack');
    expect(second).toEqual(first);
    await fence(b);
    expect(received(b, 'e2e.note')).toHaveLength(1);
  });

  it('after the TCP connection is destroyed, a new session of the same identity resending its ids gets the original replies and no duplicates', async () => {
    const hub = freshHub('idem-drop');
    const { client: b } = await connect(hub, 'e2e-b');
    expect((await b.ask('hub:register', { actorAddress: '@(e2e-b/inbox)', capabilities: [] })).type).toBe('hub:registered');
    const { client: a } = await connect(hub, 'e2e-a');

    const tell = JSON.stringify(buildRequest('hub:send', { to: '@(e2e-b/inbox)', type: 'e2e.tell', data: 1 }, { from: '@(e2e-a)', pattern: 'tell' }));
    const ask = JSON.stringify(buildRequest('hub:send', { to: '@(e2e-b/inbox)', type: 'e2e.ask', data: 2 }, { from: '@(e2e-a)' }));
    const publish = JSON.stringify(buildRequest('hub:publish', { topic: 'e2e.room', type: 'e2e.pub', data: 3 }, { from: '@(e2e-a)' }));
    expect((await b.ask('hub:subscribe', { topic: 'e2e.room' })).type).toBe('hub:subscribed');
    const askId = (JSON.parse(ask) as Frame).id as string;
    const pubId = (JSON.parse(publish) as Frame).id as string;
    a.sendRaw(tell);
    a.sendRaw(ask);
    a.sendRaw(publish);
    const ack = await a.next((f) => f.correlationId === askId);
    const published = await a.next((f) => f.correlationId === pubId);
    expect(ack.type).toBe('hub:delivery_ack');
    expect(published.type).toBe('hub:published');

    // The network goes away: no close handshake, the hub sees the socket die.
    a.terminate();
    const { client: again } = await connect(hub, 'e2e-a');
    again.sendRaw(tell);
    again.sendRaw(ask);
    again.sendRaw(publish);
    expect(await again.next((f) => f.correlationId === askId)).toEqual(ack);
    expect(await again.next((f) => f.correlationId === pubId)).toEqual(published);
    await fence(again);
    // The tell had no reply and gets none.
    expect(again.events.filter((e) => e.kind === 'frame' && e.frame.type === 'hub:delivery_ack')).toHaveLength(1);
    await fence(b);
    expect(received(b, 'e2e.tell')).toHaveLength(1);
    expect(received(b, 'e2e.ask')).toHaveLength(1);
    expect(received(b, 'e2e.pub')).toHaveLength(1);
  });
});
