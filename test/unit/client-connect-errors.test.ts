import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ConnectionCause } from '../../src/client/causes';
import { HubClient, type HubClientOptions } from '../../src/client/client';
import { HubError } from '../../src/client/errors';
import type { HubClientEvents } from '../../src/client/types';
import { FakeNodeSocket, FakeSocket } from './client-fake-socket';

/**
 * Why the client cannot connect: each cause the platform reports reaches the
 * `disconnected` and `error` events, refusals that retrying cannot fix end
 * the client and reject connect() with what to fix, and the first connect()
 * settles even while the hub stays unreachable.
 */

const URL = 'ws://127.0.0.1:8787/ws/test';
const tick = () => vi.advanceTimersByTimeAsync(0);
const settle = <T>(p: Promise<T>) => p.then((value) => ({ value }), (error: unknown) => ({ error: error as HubError }));

const watch = (options: Partial<HubClientOptions> = {}) => {
  const client = new HubClient({ url: URL, identity: '@(test/me)', WebSocket: FakeSocket, random: () => 0.5, ...options });
  const disconnected: HubClientEvents['disconnected'][] = [];
  const errors: HubError[] = [];
  client.on('disconnected', (d) => disconnected.push(d));
  client.on('error', (e) => errors.push(e));
  return { client, disconnected, errors };
};

const refused = { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:8787' };
const configBody = JSON.stringify({
  status: 'error',
  error: 'invalid_configuration',
  issues: [{ path: ['RATE_LIMIT_BURST'], message: 'Expected number, received nan' }],
});

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('client connect errors: causes in events', () => {
  it('connection refused: disconnected and error carry kind "refused", and the client keeps retrying', async () => {
    const { client, disconnected, errors } = watch();
    void client.connect().catch(() => undefined);
    FakeSocket.last.fail(refused);
    expect(disconnected).toEqual([
      {
        code: 1006,
        reason: '',
        willReconnect: true,
        cause: { kind: 'refused', code: 'ECONNREFUSED', message: 'connection refused at ws://127.0.0.1:8787' },
      },
    ]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(HubError);
    expect(errors[0]).toMatchObject({
      code: 'connection_refused',
      retryable: true,
      resolution: 'Is the hub running at ws://127.0.0.1:8787? Start it with npm start.',
    });
    expect(errors[0]!.cause).toEqual(disconnected[0]!.cause);
    expect(client.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(100);
    expect(FakeSocket.instances).toHaveLength(2);
    await client.disconnect();
  });

  it('DNS failure: kind "dns" with the error code, retryable', async () => {
    const { client, disconnected, errors } = watch();
    void client.connect().catch(() => undefined);
    FakeSocket.last.fail({ code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND nohub.invalid' });
    expect(disconnected[0]!.cause).toMatchObject({ kind: 'dns', code: 'ENOTFOUND' });
    expect(errors[0]).toMatchObject({ code: 'dns_failure', retryable: true });
    expect(client.state).toBe('reconnecting');
    await client.disconnect();
  });

  it('a 1006 before the socket opened (all a browser tells) says the browser does not expose why', async () => {
    const { client, disconnected, errors } = watch();
    void client.connect().catch(() => undefined);
    FakeSocket.last.drop(1006, '');
    const cause = disconnected[0]!.cause as Extract<ConnectionCause, { kind: 'closed' }>;
    expect(cause).toMatchObject({ kind: 'closed', code: 1006, reason: '' });
    expect(cause.message).toContain('the browser does not expose why');
    expect(errors[0]).toMatchObject({ code: 'connection_failed', retryable: true });
    expect(errors[0]!.resolution).toContain('npm start');
    expect(client.state).toBe('reconnecting');
    await client.disconnect();
  });

  it('one error event per new cause, not one per retry; a success starts over', async () => {
    const { client, errors } = watch();
    void client.connect().catch(() => undefined);
    // Backoff 100, 200, 400, 800 ms (jitter off with random 0.5); 1 s is less than the 10 s connect timeout.
    for (let i = 0; i < 4; i++) {
      FakeSocket.last.fail(refused);
      await vi.advanceTimersByTimeAsync(1_000);
    }
    expect(FakeSocket.instances).toHaveLength(5);
    expect(errors.map((e) => e.code)).toEqual(['connection_refused']);
    FakeSocket.last.fail({ code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND' });
    expect(errors.map((e) => e.code)).toEqual(['connection_refused', 'dns_failure']);
    await vi.advanceTimersByTimeAsync(2_000);
    FakeSocket.last.open();
    await tick();
    FakeSocket.last.accept();
    await tick();
    expect(client.state).toBe('connected');
    FakeSocket.last.drop(1006, '');
    await vi.advanceTimersByTimeAsync(1_000);
    FakeSocket.last.fail(refused);
    expect(errors.map((e) => e.code)).toEqual(['connection_refused', 'dns_failure', 'connection_refused']);
    await client.disconnect();
  });

  it('the machine\'s connect timeout is reported as kind "timeout"', async () => {
    const { client, disconnected, errors } = watch({ connectTimeoutMs: 1_000 });
    void client.connect().catch(() => undefined);
    FakeSocket.last.open(); // opened, but hub:connected never comes
    await vi.advanceTimersByTimeAsync(1_000);
    expect(client.state).toBe('reconnecting');
    expect(disconnected).toEqual([
      {
        code: 1006,
        reason: 'connect_timeout',
        willReconnect: true,
        cause: { kind: 'timeout', message: 'no hub:connected within 1000 ms' },
      },
    ]);
    expect(errors[0]).toMatchObject({ code: 'connect_timeout', retryable: true });
    await client.disconnect();
  });
});

describe('client connect errors: refused upgrades (ws in Node)', () => {
  const node = (options: Partial<HubClientOptions> = {}) => watch({ WebSocket: FakeNodeSocket, ...options });
  const socket = () => FakeSocket.last as FakeNodeSocket;

  it('HTTP 404: connect() rejects with the status, the body and "check the URL path", and nothing is retried', async () => {
    const { client, disconnected } = node();
    const result = settle(client.connect());
    const body = JSON.stringify({ status: 'error', error: 'not_found', path: '/wx' });
    socket().refuseUpgrade(404, body);
    const { error } = (await result) as { error: HubError };
    expect(error).toBeInstanceOf(HubError);
    expect(error).toMatchObject({ code: 'upgrade_refused', retryable: false, resolution: 'Check the URL path: /ws or /ws/<hub>.' });
    expect(error.cause).toEqual({ kind: 'http', status: 404, body, message: `the hub refused the connection: HTTP 404 ${body}` });
    expect(error.message).toContain('HTTP 404');
    expect(socket().terminated).toBe(true);
    expect(client.state).toBe('closed');
    expect(client.closedReason).toBe('upgrade_refused');
    expect(disconnected).toEqual([{ code: 1006, reason: '', willReconnect: false, cause: error.cause }]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('HTTP 500 invalid_configuration: rejects with the issues from the body and "fix the [vars]"', async () => {
    const { client } = node();
    const result = settle(client.connect());
    socket().refuseUpgrade(500, configBody, 3);
    const { error } = (await result) as { error: HubError };
    expect(error).toMatchObject({ code: 'invalid_configuration', retryable: false });
    expect(error.resolution).toBe(
      "The hub's configuration is invalid: RATE_LIMIT_BURST: Expected number, received nan; fix the [vars] (wrangler.toml, --var or .dev.vars) and restart the hub.",
    );
    expect(error.cause).toMatchObject({ kind: 'http', status: 500, body: configBody });
    expect(client.closedReason).toBe('upgrade_refused');
  });

  it.each([
    [500, '{"error":"internal"}'],
    [503, 'Service Unavailable'],
    [429, 'Too Many Requests'],
  ])('HTTP %i is retried with backoff', async (status, body) => {
    const { client, disconnected, errors } = node();
    void client.connect().catch(() => undefined);
    socket().refuseUpgrade(status, body);
    expect(disconnected[0]).toMatchObject({ willReconnect: true, cause: { kind: 'http', status, body } });
    expect(errors[0]).toMatchObject({ code: 'upgrade_refused', retryable: true });
    expect(client.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(100);
    expect(FakeSocket.instances).toHaveLength(2);
    await client.disconnect();
  });

  it('reads at most 2 KB of a large body, then terminates the socket', async () => {
    const { client } = node();
    const result = settle(client.connect());
    socket().refuseUpgrade(403, 'x'.repeat(10_000), 20);
    const { error } = (await result) as { error: HubError };
    const cause = error.cause as Extract<ConnectionCause, { kind: 'http' }>;
    expect(cause.status).toBe(403);
    expect(cause.body!.length).toBe(2048);
    expect(socket().terminated).toBe(true);
  });

  it('without the unexpected-response event, "Unexpected server response: 404" still names the status', async () => {
    const { client } = watch();
    const result = settle(client.connect());
    FakeSocket.last.fail({ message: 'Unexpected server response: 404' });
    const { error } = (await result) as { error: HubError };
    expect(error).toMatchObject({ code: 'upgrade_refused', resolution: 'Check the URL path: /ws or /ws/<hub>.' });
    expect(error.cause).toEqual({ kind: 'http', status: 404, message: 'the hub refused the connection: HTTP 404' });
  });
});

describe('client connect errors: the first connect() settles', () => {
  it('rejects with the last cause once reconnect.maxAttempts attempts failed', async () => {
    const { client } = watch({ reconnect: { maxAttempts: 2 } });
    const result = settle(client.connect());
    FakeSocket.last.fail(refused);
    await vi.advanceTimersByTimeAsync(1_000);
    FakeSocket.last.fail(refused);
    await vi.advanceTimersByTimeAsync(1_000);
    FakeSocket.last.fail({ code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND' });
    const { error } = (await result) as { error: HubError };
    expect(FakeSocket.instances).toHaveLength(3);
    expect(error).toMatchObject({ code: 'dns_failure', cause: { kind: 'dns' } });
    expect(client.closedReason).toBe('retries_exhausted');
  });

  it('connect({timeoutMs}) rejects with the last cause when the time is up, and the client stops trying', async () => {
    const { client } = watch();
    const result = settle(client.connect({ timeoutMs: 5_000 }));
    for (let i = 0; i < 3; i++) {
      FakeSocket.last.fail(refused);
      await vi.advanceTimersByTimeAsync(1_000);
    }
    await vi.advanceTimersByTimeAsync(2_000);
    const { error } = (await result) as { error: HubError };
    expect(error).toMatchObject({ code: 'connection_refused', cause: { kind: 'refused', code: 'ECONNREFUSED' } });
    await tick();
    expect(client.state).toBe('closed');
    const opened = FakeSocket.instances.length;
    await vi.advanceTimersByTimeAsync(120_000);
    expect(FakeSocket.instances).toHaveLength(opened);
  });

  it('connect({timeoutMs}) with no answer at all rejects with connect_timeout', async () => {
    const { client } = watch();
    const result = settle(client.connect({ timeoutMs: 3_000 }));
    await vi.advanceTimersByTimeAsync(3_000);
    const { error } = (await result) as { error: HubError };
    expect(error).toMatchObject({ code: 'connect_timeout', cause: { kind: 'timeout', message: 'no hub:connected within 3000 ms' } });
  });

  it('connect({timeoutMs}) that connects in time resolves and leaves no timer behind', async () => {
    const { client } = watch();
    const result = settle(client.connect({ timeoutMs: 3_000 }));
    FakeSocket.last.open();
    await tick();
    FakeSocket.last.accept();
    expect(await result).toMatchObject({ value: { sessionId: 's-0' } });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(client.state).toBe('connected');
  });

  it.each([
    [4400, 'version_mismatch', 'protocol version'],
    [4401, 'unauthorized', 'valid token'],
    [4409, 'duplicate_connection', 'Another connection'],
  ])('a close %i while connecting ends the client and rejects with what to fix', async (code, reason, fix) => {
    const { client, disconnected } = watch();
    const result = settle(client.connect());
    FakeSocket.last.open();
    await tick();
    FakeSocket.last.drop(code, reason);
    const { error } = (await result) as { error: HubError };
    expect(error).toMatchObject({ retryable: false, cause: { kind: 'closed', code, reason } });
    expect(error.resolution).toContain(fix);
    expect(disconnected[0]).toMatchObject({ code, willReconnect: false });
    expect(client.state).toBe('closed');
  });
});
