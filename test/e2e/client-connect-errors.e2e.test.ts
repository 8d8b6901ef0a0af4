import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HubClient, type HubClientOptions } from '../../src/client/client';
import { HubError } from '../../src/client/errors';
import type { HubClientEvents } from '../../src/client/types';
import { freePorts, startDevServer, type DevServer } from '../../harness/net/dev-server';

/**
 * Why the client cannot connect, against real servers with the `ws`
 * package: a wrong path on a running hub (404), a port nobody listens on,
 * and a hub whose vars do not parse (500 invalid_configuration). Each must
 * settle connect() with a HubError that says what to fix.
 */

const clients: HubClient[] = [];

const make = (url: string, extra: Partial<HubClientOptions> = {}) => {
  const client = new HubClient({ url, identity: '@(e2e/why)', WebSocket, ...extra });
  clients.push(client);
  const disconnected: HubClientEvents['disconnected'][] = [];
  client.on('disconnected', (d) => disconnected.push(d));
  return { client, disconnected };
};

const rejection = (p: Promise<unknown>): Promise<HubError> =>
  p.then(
    () => {
      throw new Error('connect() resolved; it should have been refused');
    },
    (err: unknown) => err as HubError,
  );

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.disconnect().catch(() => undefined)));
});

describe('client connect errors against wrangler dev', () => {
  let server: DevServer;
  beforeAll(async () => {
    server = await startDevServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('a wrong path (404) rejects with "check the URL path" and the body, and stops reconnecting', async () => {
    const { client, disconnected } = make(`${server.wsUrl}/wrong/path`);
    const error = await rejection(client.connect());
    expect(error).toBeInstanceOf(HubError);
    expect(error).toMatchObject({ code: 'upgrade_refused', retryable: false, resolution: 'Check the URL path: /ws or /ws/<hub>.' });
    expect(error.cause).toMatchObject({ kind: 'http', status: 404 });
    expect(JSON.parse((error.cause as { body: string }).body)).toMatchObject({ error: 'not_found', path: '/wrong/path' });
    expect(client.state).toBe('closed');
    expect(client.closedReason).toBe('upgrade_refused');
    // Long enough for several backoff attempts (100 ms, 200 ms, ...) had it kept trying.
    await sleep(1_000);
    expect(disconnected).toHaveLength(1);
    expect(disconnected[0]).toMatchObject({ willReconnect: false, cause: { kind: 'http', status: 404 } });
  });
});

describe('client connect errors: nothing listening', () => {
  let origin = '';
  let url = '';
  beforeAll(async () => {
    const [port] = (await freePorts(1)) as [number];
    origin = `ws://127.0.0.1:${port}`;
    url = `${origin}/ws/nobody`;
  });

  it('rejects with cause "refused" after reconnect.maxAttempts attempts', async () => {
    const { client, disconnected } = make(url, { reconnect: { maxAttempts: 2, initialDelayMs: 50 } });
    const error = await rejection(client.connect());
    expect(error).toMatchObject({ code: 'connection_refused', retryable: true, cause: { kind: 'refused', code: 'ECONNREFUSED' } });
    expect(error.resolution).toBe(`Is the hub running at ${origin}? Start it with npm start.`);
    expect(disconnected).toHaveLength(3);
    expect(disconnected.map((d) => d.willReconnect)).toEqual([true, true, false]);
    expect(client.closedReason).toBe('retries_exhausted');
  });

  it('connect({timeoutMs}) rejects with cause "refused" once the time is up, and the client stops', async () => {
    const { client, disconnected } = make(url, { reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
    const error = await rejection(client.connect({ timeoutMs: 1_500 }));
    expect(error).toMatchObject({ code: 'connection_refused', cause: { kind: 'refused' } });
    expect(disconnected.length).toBeGreaterThan(1);
    await sleep(50);
    expect(client.state).toBe('closed');
    const seen = disconnected.length;
    await sleep(600);
    expect(disconnected).toHaveLength(seen);
  });
});

describe('client connect errors: a hub with an invalid configuration', () => {
  let server: DevServer;
  beforeAll(async () => {
    // /health answers 503 with broken vars; the WebSocket path answers 500 invalid_configuration.
    server = await startDevServer({ vars: { RATE_LIMIT_BURST: 'notanumber' }, readyStatus: 503 });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('rejects with invalid_configuration, naming the var to fix, and does not retry', async () => {
    const { client, disconnected } = make(`${server.wsUrl}/ws/broken`);
    const error = await rejection(client.connect());
    expect(error).toMatchObject({ code: 'invalid_configuration', retryable: false, cause: { kind: 'http', status: 500 } });
    expect(error.resolution).toMatch(/^The hub's configuration is invalid: RATE_LIMIT_BURST: .+; fix the \[vars\]/);
    expect(client.closedReason).toBe('upgrade_refused');
    await sleep(500);
    expect(disconnected).toHaveLength(1);
  });
});
