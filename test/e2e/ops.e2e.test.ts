import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
// The source entry: the package directory resolves to its built dist.
import { HubClient } from '../../src/client/index';
import { startDevServer, type DevServer } from '../../harness/net/dev-server';
import { WsTestClient, type Frame } from '../../harness/net/ws-client';
import { tidyDevServerTests } from './support/tidy-dev-server';

/**
 * The operator surface against `wrangler dev`: /metrics scraped and parsed by
 * a real exposition-format parser (and linted by promtool when it is
 * installed), deep health, and shutdown of every session with the notice
 * before the 1001 close. A second server has no OPERATOR_TOKEN (everything
 * operational is absent) and a third has broken vars.
 */

const TOKEN = 'e2e-operator-token-0123456789';
const auth = { Authorization: `Bearer ${TOKEN}` };

let server: DevServer;
const open: WsTestClient[] = [];
let hubCounter = 0;
const freshHub = (label: string): string => `${label}-${process.pid}-${++hubCounter}`;

const connect = async (hub: string, identity: string): Promise<WsTestClient> => {
  const { client } = await WsTestClient.connected(`${server.wsUrl}/ws/${hub}`, identity);
  open.push(client);
  return client;
};

interface Family {
  name: string;
  type: string;
  metrics: { labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; count?: string; sum?: string }[];
}

const HISTOGRAM = 'signalhub_ask_ack_latency_seconds';

/**
 * The parser keeps labels on counters and gauges, but folds a histogram's
 * series into one, dropping the labels its _sum and _count carry. So the
 * histogram is parsed a second time without its TYPE line, which makes its
 * _bucket, _sum and _count lines plain samples with their labels intact.
 */
const scrape = async (path = '/metrics'): Promise<{ text: string; families: Map<string, Family> }> => {
  const res = await fetch(`${server.baseUrl}${path}`, { headers: auth });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const families = new Map((parsePrometheusTextFormat(text) as Family[]).map((f) => [f.name, f]));
  const untyped = text.replace(`# TYPE ${HISTOGRAM} histogram\n`, '');
  for (const f of parsePrometheusTextFormat(untyped) as Family[]) if (f.name.startsWith(`${HISTOGRAM}_`)) families.set(f.name, f);
  return { text, families };
};

/** The value of one sample of a hub; 0 when the sample is absent (a label value never counted yet). */
const value = (families: Map<string, Family>, name: string, hub: string, labels: Record<string, string> = {}): number => {
  const family = families.get(name);
  if (!family) throw new Error(`no family ${name}`);
  const sample = family.metrics.find(
    (m) => m.labels?.hub === hub && Object.entries(labels).every(([k, v]) => m.labels?.[k] === v),
  );
  return sample?.value === undefined ? 0 : Number(sample.value);
};

beforeAll(async () => {
  server = await startDevServer({ vars: { OPERATOR_TOKEN: TOKEN } });
});

tidyDevServerTests(open, () => server);

describe('GET /metrics', () => {
  it('refuses a scrape without the operator token, or with a wrong one, with 401', async () => {
    const attempts: Record<string, string>[] = [{}, { Authorization: 'Bearer wrong-token-wrong-token' }, { Authorization: TOKEN }];
    for (const headers of attempts) {
      const res = await fetch(`${server.baseUrl}/metrics`, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await res.text()).not.toContain('signalhub_');
    }
  });

  it('a scrape parses, and the counters move as traffic flows', async () => {
    const hub = freshHub('metrics');
    const a = await connect(hub, '@(ops/a)');
    const b = await connect(hub, '@(ops/b)');
    expect((await a.ask('hub:register', { actorAddress: '@(ops/a)', capabilities: [] })).type).toBe('hub:registered');
    expect((await b.ask('hub:register', { actorAddress: '@(ops/b)', capabilities: [] })).type).toBe('hub:registered');
    expect((await b.ask('hub:subscribe', { topic: 'news' })).type).toBe('hub:subscribed');

    const before = (await scrape(`/metrics/${hub}`)).families;
    expect(value(before, 'signalhub_up', hub)).toBe(1);
    expect(value(before, 'signalhub_sessions', hub, { state: 'registered' })).toBe(2);
    expect(value(before, 'signalhub_registered_actors', hub)).toBe(2);
    expect(value(before, 'signalhub_topics', hub)).toBe(1);
    expect(before.get(HISTOGRAM)?.type).toBe('HISTOGRAM');
    // Far below the runtime's 16 KiB attachment limit that SignalHubAttachmentNearLimit watches.
    expect(value(before, 'signalhub_session_attachment_max_bytes', hub)).toBeGreaterThan(200);
    expect(value(before, 'signalhub_session_attachment_max_bytes', hub)).toBeLessThan(4096);

    // Three asks acknowledged, one refused (unknown actor), one publication.
    for (let i = 0; i < 3; i++) {
      expect((await a.ask('hub:send', { to: '@(ops/b)', type: 'ping', data: i }, { pattern: 'ask' })).type).toBe('hub:delivery_ack');
    }
    expect((await a.ask('hub:send', { to: '@(ops/nobody)', type: 'ping' }, { pattern: 'ask' })).payload.code).toBe('unknown_actor');
    expect((await a.ask('hub:publish', { topic: 'news', type: 'story', data: 'x' })).type).toBe('hub:published');
    await b.next((f: Frame) => f.type === 'story');

    const after = (await scrape(`/metrics/${hub}`)).families;
    const moved = (name: string, labels: Record<string, string> = {}) => value(after, name, hub, labels) - value(before, name, hub, labels);
    expect(moved('signalhub_messages_received_total', { type: 'hub:send' })).toBe(4);
    expect(moved('signalhub_messages_received_total', { type: 'hub:publish' })).toBe(1);
    expect(moved('signalhub_error_replies_total', { code: 'unknown_actor' })).toBe(1);
    expect(moved('signalhub_frames_refused_total')).toBe(1);
    expect(moved('signalhub_deliveries_total')).toBe(4);
    expect(moved('signalhub_frames_received_total')).toBe(5);
    expect(moved('signalhub_frames_sent_total')).toBeGreaterThanOrEqual(9);

    expect(moved(`${HISTOGRAM}_count`)).toBe(3);
    expect(moved(`${HISTOGRAM}_bucket`, { le: '+Inf' })).toBe(3);
    // Each ack went out in the same turn as its delivery, so all three are in the lowest bucket.
    expect(moved(`${HISTOGRAM}_bucket`, { le: '0.001' })).toBe(3);

    a.close(1000, 'done');
    await a.waitClosed();
    await expect.poll(async () => value((await scrape(`/metrics/${hub}`)).families, 'signalhub_connections_closed_total', hub, { reason: 'peer_closed' })).toBe(1);
    // The closed session's counts moved into the stored totals: nothing went backwards.
    const closed = (await scrape(`/metrics/${hub}`)).families;
    expect(value(closed, 'signalhub_messages_received_total', hub, { type: 'hub:send' })).toBe(
      value(after, 'signalhub_messages_received_total', hub, { type: 'hub:send' }),
    );
    expect(value(closed, 'signalhub_sessions', hub, { state: 'registered' })).toBe(1);
  });

  it('GET /metrics covers every hub a session was opened on, each under its hub label', async () => {
    const hubs = [freshHub('all-a'), freshHub('all-b')];
    for (const hub of hubs) await connect(hub, `@(ops/${hub})`);
    const { families } = await scrape('/metrics');
    const up = families.get('signalhub_up')!.metrics.map((m) => m.labels?.hub);
    for (const hub of hubs) {
      expect(up).toContain(hub);
      expect(value(families, 'signalhub_up', hub)).toBe(1);
      expect(value(families, 'signalhub_connections_opened_total', hub)).toBe(1);
    }
  });

  const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  it.skipIf(promtool.status !== 0)('passes promtool check metrics (names, units, _total suffixes)', async () => {
    await connect(freshHub('lint'), '@(ops/lint)');
    const { text } = await scrape('/metrics');
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${lint.stdout}${lint.stderr}`.trim()).toBe('');
    expect(lint.status).toBe(0);
  });
  if (promtool.status !== 0) console.warn('ops e2e: promtool not found, so the metrics lint is skipped (apt-get install prometheus; .ci/run does so)');
});

describe('GET /health/<hub>', () => {
  it('asks the hub object: 200 with its session count', async () => {
    const hub = freshHub('health');
    await connect(hub, '@(ops/h1)');
    await connect(hub, '@(ops/h2)');
    const res = await fetch(`${server.baseUrl}/health/${hub}`, { headers: auth });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, any>;
    expect(body).toMatchObject({ status: 'ok', hub, sessions: 2, checks: { config: { ok: true }, storage: { ok: true } } });
    expect((await fetch(`${server.baseUrl}/health/${hub}`)).status).toBe(401);
    // The plain /health stays cheap and open.
    expect((await fetch(`${server.baseUrl}/health`)).status).toBe(200);
  });
});

describe('POST /admin/shutdown', () => {
  it('tells every session hub:disconnect server_shutdown before closing it with 1001', async () => {
    const hub = freshHub('shutdown');
    const clients = await Promise.all(['@(ops/s1)', '@(ops/s2)', '@(ops/s3)'].map((id) => connect(hub, id)));
    const other = await connect(freshHub('bystander'), '@(ops/bystander)');

    expect((await fetch(`${server.baseUrl}/admin/shutdown/${hub}`, { method: 'POST' })).status).toBe(401);
    expect((await fetch(`${server.baseUrl}/admin/shutdown/${hub}`, { headers: auth })).status).toBe(405);

    const res = await fetch(`${server.baseUrl}/admin/shutdown/${hub}`, { method: 'POST', headers: auth });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', hubs: [{ hub, notified: 3 }] });

    for (const client of clients) {
      expect(await client.waitClosed()).toEqual({ code: 1001, reason: 'server_shutdown' });
      const notice = client.events.findIndex((e) => e.kind === 'frame' && e.frame.type === 'hub:disconnect');
      const close = client.events.findIndex((e) => e.kind === 'close');
      expect(notice, JSON.stringify(client.events)).toBeGreaterThanOrEqual(0);
      expect(notice).toBeLessThan(close);
      const frame = (client.events[notice] as { frame: Frame }).frame;
      expect(frame.payload).toMatchObject({ reason: 'server_shutdown' });
    }
    // Another hub is not touched.
    expect(other.closed).toBeNull();
    expect((await other.ask('hub:heartbeat', null)).type).toBe('hub:heartbeat_ack');

    const { families } = await scrape(`/metrics/${hub}`);
    expect(value(families, 'signalhub_connections_closed_total', hub, { reason: 'server_shutdown' })).toBe(3);
  });

  it('the client library takes 1001 as "reconnect": it comes back and restores its registration', async () => {
    const hub = freshHub('shutdown-client');
    const client = new HubClient({ url: `${server.wsUrl}/ws/${hub}`, identity: '@(ops/client)', WebSocket });
    const disconnects: { code: number; reason: string; willReconnect: boolean; cause?: unknown }[] = [];
    client.on('disconnected', (d) => disconnects.push(d));
    try {
      await client.connect();
      await client.register('@(ops/client)');
      const restored = new Promise<unknown>((resolve) => client.on('restored', resolve));
      expect((await fetch(`${server.baseUrl}/admin/shutdown/${hub}`, { method: 'POST', headers: auth })).status).toBe(200);
      // A shutdown closes sessions (it does not suspend them): the client rebuilds on a new one.
      expect(await restored).toEqual({ resumed: false, registrations: 1, subscriptions: 0, failed: 0, lostTopics: [] });
      expect(disconnects[0]).toEqual({
        code: 1001,
        reason: 'server_shutdown',
        willReconnect: true,
        cause: expect.objectContaining({ kind: 'closed', code: 1001, reason: 'server_shutdown' }),
      });
      expect(client.state).toBe('connected');
    } finally {
      await client.disconnect().catch(() => undefined);
    }
  });
});

describe('without OPERATOR_TOKEN', () => {
  let plain: DevServer;
  beforeAll(async () => {
    plain = await startDevServer();
  });
  afterAll(async () => {
    await plain?.stop();
  });

  it.each([
    ['GET', '/metrics'],
    ['GET', '/metrics/default'],
    ['GET', '/health/default'],
    ['GET', '/health?deep=1'],
    ['GET', '/dashboard'],
    ['POST', '/admin/shutdown'],
    ['POST', '/admin/shutdown/default'],
  ])('%s %s does not exist (404), token or not', async (method, path) => {
    for (const headers of [{}, auth] as Record<string, string>[]) {
      const res = await fetch(`${plain.baseUrl}${path}`, { method, headers });
      expect(res.status).toBe(404);
      expect(await res.text()).not.toContain('signalhub_');
    }
  });
});

/** The HTTP status a WebSocket upgrade request gets (fetch refuses to send Upgrade itself). */
const upgradeStatus = (url: string): Promise<number> =>
  new Promise((done, fail) => {
    const req = request(url, { headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
    req.on('response', (res) => {
      res.resume();
      done(res.statusCode ?? 0);
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      done(res.statusCode ?? 0);
    });
    req.on('error', fail);
    req.end();
  });

describe('with broken vars', () => {
  let broken: DevServer;
  beforeAll(async () => {
    broken = await startDevServer({
      readyStatus: 503,
      vars: { OPERATOR_TOKEN: TOKEN, RATE_LIMIT_BURST: 'lots', LOG_LEVEL: 'loud', QUEUE_RESUME_THRESHOLD: 2000 },
    });
  });
  afterAll(async () => {
    await broken?.stop();
  });

  it('/health and /health/<hub> answer 503 naming every bad var, its value and what is allowed, all at once', async () => {
    for (const path of ['/health', '/health/default']) {
      const res = await fetch(`${broken.baseUrl}${path}`, { headers: auth });
      expect(res.status).toBe(503);
      const body = (await res.json()) as { error: string; issues: { path: string; value: unknown; allowed: string; message: string }[] };
      expect(body.error).toBe('invalid_configuration');
      expect(body.issues.map((i) => i.path).sort()).toEqual(['LOG_LEVEL', 'QUEUE_RESUME_THRESHOLD', 'RATE_LIMIT_BURST']);
      const burst = body.issues.find((i) => i.path === 'RATE_LIMIT_BURST')!;
      expect(burst.value).toBe('lots');
      expect(burst.message).toBe('RATE_LIMIT_BURST is "lots"; allowed: a whole number of at least 1 (default 20)');
      // The cross-field check is reported next to the field errors, not after they are fixed.
      expect(body.issues.find((i) => i.path === 'QUEUE_RESUME_THRESHOLD')!.allowed).toBe('below QUEUE_PAUSE_THRESHOLD (1000)');
    }
    // Other paths are refused as before: the hub does not serve on a config it cannot read.
    expect(await upgradeStatus(`${broken.baseUrl}/ws`)).toBe(500);
    // One config.invalid line for the isolate, not one per request.
    await expect.poll(() => broken.output().match(/"event":"config\.invalid"/g)?.length ?? 0).toBe(1);
    expect(broken.output()).not.toMatch(/ZodError|at parseConfig/);
  });
});
