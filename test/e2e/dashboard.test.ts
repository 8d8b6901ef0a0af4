import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startDevServer, type DevServer } from '../../harness/net/dev-server';
import { WsTestClient } from '../../harness/net/ws-client';
import { sessionMachine } from '../../machines/session';

/**
 * The operator dashboard in headless Chromium against `wrangler dev`: sign
 * in, drive two sessions from Node, and check what the page shows — each
 * session's state chart with its current state, its last machine events, the
 * registry and topics, and the throughput charts filling from /metrics. The
 * screenshot is kept in test-artifacts/ for CI to show.
 */

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(
    `dashboard: ${CHROMIUM} not found, so the dashboard test is skipped. ` +
      "Install Debian's chromium package (apt-get install chromium); .ci/run does so.",
  );
}

const ROOT = resolve(import.meta.dirname, '../..');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const TOKEN = 'dashboard-operator-token-0123456789';
const HUB = `dash-${process.pid}`;

let server: DevServer;
let browser: BrowserContext;
let profileDir = '';
const clients: WsTestClient[] = [];

const connect = async (identity: string): Promise<WsTestClient> => {
  const { client } = await WsTestClient.connected(`${server.wsUrl}/ws/${HUB}`, identity);
  clients.push(client);
  return client;
};

/** Text of the elements matching `selector`, in page order. */
const texts = (page: Page, selector: string) => page.$$eval(selector, (els) => els.map((e) => e.textContent ?? ''));

describe('operator dashboard', () => {
  beforeAll(async () => {
    if (!hasChromium) return;
    server = await startDevServer({ vars: { OPERATOR_TOKEN: TOKEN, INSPECT_ENABLED: true } });
    profileDir = mkdtempSync(join(tmpdir(), 'signal-hub-dashboard-'));
    browser = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 1100 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail' && server) console.error(`--- wrangler output (tail) ---\n${server.output().slice(-6_000)}`);
  });

  afterAll(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await browser?.close();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
    await server?.stop();
  });

  it.skipIf(!hasChromium)('shows live sessions as state charts, their events, registry, topics and traffic', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(err.message));
    let signedIn = false;
    // Before signing in, the 401s are the point; the browser's own favicon request is no page problem.
    page.on('console', (msg) => {
      if (msg.type() === 'error' && signedIn && !msg.location().url.endsWith('/favicon.ico')) problems.push(`${msg.text()} (${msg.location().url})`);
    });

    // Not signed in: the sign-in form, and no data.
    const first = await page.goto(`${server.baseUrl}/dashboard?hub=${HUB}`);
    expect(first?.status()).toBe(401);
    await page.fill('#token', 'not-the-token-at-all');
    await page.click('#sign-in');
    await page.waitForSelector('text=That is not the operator token.');
    await page.fill('#token', TOKEN);
    signedIn = true;
    await page.click('#sign-in');
    await page.waitForSelector('body[data-inspect="connected"]', { timeout: 20_000 });
    // The sign-in redirect lands on /dashboard; choose the hub the sessions will use.
    await page.goto(`${server.baseUrl}/dashboard?hub=${HUB}`);
    await page.waitForSelector('body[data-inspect="connected"]', { timeout: 20_000 });

    const ann = await connect('@(dash/ann)');
    const ben = await connect('@(dash/ben)');
    await ann.ask('hub:register', { actorAddress: '@(dash/ann)', capabilities: ['chat'] });
    await ben.ask('hub:register', { actorAddress: '@(dash/ben)', capabilities: ['chat', 'store'] });
    await ben.ask('hub:subscribe', { topic: 'room-1' });
    await ben.ask('hub:pause', null, { pattern: 'ask' });
    // Tells to a paused recipient go to its pause buffer; a heartbeat round trip shows they were handled.
    for (let i = 0; i < 5; i++) ann.request('hub:send', { to: '@(dash/ben)', type: 'hello', data: i });
    await ann.ask('hub:heartbeat', null);
    await ann.ask('hub:publish', { topic: 'room-1', type: 'news', data: 'x' });

    // Two session cards, each a state chart with its current state highlighted.
    await page.waitForSelector('.session[data-state="paused"] h3:has-text("@(dash/ben)")', { timeout: 15_000 });
    await page.waitForSelector('.session[data-state="registered"] h3:has-text("@(dash/ann)")', { timeout: 15_000 });
    const current = await page.$$eval('.session', (cards) =>
      cards.map((c) => ({
        title: c.querySelector('h3')?.textContent ?? '',
        highlighted: [...c.querySelectorAll('.state-node.current')].map((n) => n.getAttribute('data-state')),
        nodes: c.querySelectorAll('.state-node').length,
        edges: c.querySelectorAll('.edge').length,
      })),
    );
    expect(current).toHaveLength(2);
    for (const card of current) {
      // One node per state of the session machine (suspended joined them with session resume).
      expect(card.nodes).toBe(Object.keys(sessionMachine.config.states ?? {}).length);
      expect(card.nodes).toBe(7);
      expect(card.edges).toBeGreaterThanOrEqual(8);
      expect(card.highlighted).toEqual([card.title.includes('ben') ? 'paused' : 'registered']);
    }
    // The last events of each session, with the machine events the hub fed it.
    const benEvents = await texts(page, '.session[data-state="paused"] .events li');
    expect(benEvents.some((e) => e.endsWith('CONNECT_ACCEPTED'))).toBe(true);
    expect(benEvents.some((e) => e.endsWith('PAUSE'))).toBe(true);
    // Each FRAME event names the request it carried, so a subscribe can be told from a pause.
    expect(benEvents.some((e) => e.endsWith('FRAME hub:subscribe'))).toBe(true);
    expect(benEvents.some((e) => e.endsWith('FRAME hub:pause'))).toBe(true);

    // Registry and topics, from the hub's own storage.
    await expect.poll(() => texts(page, '#registry tbody tr'), { timeout: 10_000 }).toEqual([
      '@(dash/ann)chat',
      '@(dash/ben)chat, store',
    ]);
    await expect.poll(() => texts(page, '#topics tbody tr'), { timeout: 10_000 }).toEqual(['room-11']);

    // Throughput charts fill from successive /metrics scrapes while traffic flows.
    const polled = Number(await page.getAttribute('body', 'data-polled'));
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 5; i++) ann.request('hub:send', { to: '@(dash/ben)', type: 'more', data: i });
      await ann.ask('hub:heartbeat', null);
      await expect.poll(async () => Number(await page.getAttribute('body', 'data-polled')), { timeout: 10_000 }).toBeGreaterThan(polled + round);
    }
    expect(Number(await page.getAttribute('#chart-frames', 'data-points'))).toBeGreaterThanOrEqual(2);
    // 2 connects, 2 registers, a subscribe, a pause, 20 sends, a publication and 4 heartbeats.
    await expect.poll(async () => Number((await texts(page, '[data-gauge="frames in"] b'))[0]), { timeout: 10_000 }).toBe(31);
    expect(Number((await texts(page, '[data-gauge="sessions"] b'))[0])).toBe(2);
    const points = await page.$eval('#chart-frames polyline', (p) => p.getAttribute('points') ?? '');
    expect(points.split(' ').length).toBeGreaterThanOrEqual(2);

    // A session that ends is shown done, in its final state.
    ann.close(1000, 'bye');
    await page.waitForSelector('.session.done[data-state="closed"] h3:has-text("@(dash/ann)")', { timeout: 15_000 });

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    expect(problems.join("\n")).toBe("");
  });
});
