import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startChat, type Chat, type ChatLine } from '../../examples/node-chat';
import { bundleClient } from '../../scripts/build-client';
import { freePorts, startDevServer, type DevServer } from '../../harness/net/dev-server';

/**
 * The browser example (examples/chat) in headless Chromium: two tabs chat
 * through a real `wrangler dev` hub, and a Node client (examples/node-chat.ts)
 * joins the same room. The page is served as static files from 127.0.0.1,
 * with the client bundle built by esbuild for this run. Screenshots at
 * desktop and phone size go to test-artifacts/ (kept by CI) so a person can
 * look at the layout; the assertions check what can be measured.
 */

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(
    `browser-chat: ${CHROMIUM} not found, so the browser chat test is skipped. ` +
      'Install Debian\'s chromium package (apt-get install chromium) to run it; .ci/run does so.',
  );
}

const ROOT = resolve(import.meta.dirname, '../..');
const EXAMPLE = join(ROOT, 'examples/chat');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

let hub: DevServer;
let pages: Server;
let pagesUrl = '';
/** The same page without client.js, as before `npm run build:client`. */
let unbuilt: Server;
let unbuiltUrl = '';
let browser: BrowserContext;
let profileDir = '';
const chats: Chat[] = [];

/** Serves index.html and chat.js from examples/chat, and the client bundle from memory (none: 404, as if never built). */
const servePages = async (bundle: string | null): Promise<{ server: Server; url: string }> => {
  const files: Record<string, { type: string; body: () => string }> = {
    '/': { type: 'text/html', body: () => readFileSync(join(EXAMPLE, 'index.html'), 'utf8') },
    '/index.html': { type: 'text/html', body: () => readFileSync(join(EXAMPLE, 'index.html'), 'utf8') },
    '/chat.js': { type: 'text/javascript', body: () => readFileSync(join(EXAMPLE, 'chat.js'), 'utf8') },
  };
  if (bundle !== null) files['/client.js'] = { type: 'text/javascript', body: () => bundle };
  const server = createServer((req, res) => {
    const file = files[new URL(req.url ?? '/', 'http://x').pathname];
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': `${file.type}; charset=utf-8`, 'cache-control': 'no-store' }).end(file.body());
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
};

const openChat = async (name: string, room: string, viewport = DESKTOP): Promise<Page> => {
  const page = await browser.newPage();
  await page.setViewportSize(viewport);
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(err.message));
  const query = new URLSearchParams({ hub: `${hub.wsUrl}/ws/browser-chat`, name, room });
  await page.goto(`${pagesUrl}/?${query}`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 20_000 }).catch((err: Error) => {
    throw new Error(`${name} did not join: ${err.message}; page errors: ${problems.join(' | ')}`);
  });
  return page;
};

const say = async (page: Page, text: string) => {
  // A tab behind another gets no animation frames, which Playwright's clicks wait for.
  await page.bringToFront();
  await page.fill('#text', text);
  await page.click('#send');
};

/** Text of every chat line (system lines and times left out) the page shows. */
const lines = (page: Page) => page.$$eval('#messages li:not(.system) .text', (items) => items.map((i) => i.textContent ?? ''));

/** Names in the member list, in its order. */
const members = (page: Page) => page.$$eval('#member-list li', (items) => items.map((i) => i.textContent ?? ''));

const screenshot = async (page: Page, name: string) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, name) });
};

/** Where the fixed parts sit and whether anything but the message pane scrolls. */
const layout = (page: Page) =>
  page.evaluate(() => {
    // Runs in the page; the test's own TypeScript setup has no DOM types.
    const w = globalThis as unknown as { document: any; innerWidth: number; innerHeight: number };
    const box = (sel: string) => w.document.querySelector(sel).getBoundingClientRect();
    const pane = w.document.querySelector('#messages');
    return {
      viewport: { width: w.innerWidth, height: w.innerHeight },
      page: { scrollWidth: w.document.documentElement.scrollWidth as number, scrollHeight: w.document.documentElement.scrollHeight as number },
      header: box('header').toJSON() as DOMRectLike,
      composer: box('#compose').toJSON() as DOMRectLike,
      pane: { ...(pane.getBoundingClientRect().toJSON() as DOMRectLike), scrollHeight: pane.scrollHeight as number, clientHeight: pane.clientHeight as number },
      last: pane.lastElementChild.getBoundingClientRect().toJSON() as DOMRectLike,
      times: [...pane.querySelectorAll('li time')].map((t: { textContent: string | null }) => t.textContent ?? ''),
      lines: pane.children.length as number,
    };
  });

interface DOMRectLike {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

describe('browser chat example', () => {
  beforeAll(async () => {
    if (!hasChromium) return;
    const [server, bundle] = await Promise.all([startDevServer(), bundleClient()]);
    hub = server;
    ({ server: pages, url: pagesUrl } = await servePages(bundle));
    ({ server: unbuilt, url: unbuiltUrl } = await servePages(null));
    profileDir = mkdtempSync(join(tmpdir(), 'signal-hub-chromium-'));
    // A persistent context gets its own fresh profile directory: Playwright refuses --user-data-dir in args.
    browser = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        // Several tabs share one window here; a backgrounded tab's timers would otherwise be
        // throttled to once a second, and the client paces its sends with timers.
        '--disable-background-timer-throttling',
        '--disable-renderer-backgrounding',
        '--disable-backgrounding-occluded-windows',
      ],
    });
  });

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail' && hub) console.error(`--- wrangler output (tail) ---\n${hub.output().slice(-6_000)}`);
  });

  afterAll(async () => {
    await Promise.all(chats.splice(0).map((c) => c.leave().catch(() => undefined)));
    await browser?.close();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
    await new Promise<void>((done) => (pages ? pages.close(() => done()) : done()));
    await new Promise<void>((done) => (unbuilt ? unbuilt.close(() => done()) : done()));
    await hub?.stop();
  });

  it.skipIf(!hasChromium)('two tabs chat through the hub, and a Node client joins the same room', async () => {
    const room = `room-${process.pid}`;
    const ann = await openChat('ann', room);
    const ben = await openChat('ben', room);
    expect(await ann.textContent('#status')).toBe('connected');
    expect(await ben.textContent('#status')).toBe('connected');
    // ben joined second, so discover showed him ann; ann hears that ben joined.
    await ben.waitForSelector(`#messages li.system:has-text("you joined ${room}; here already: ann")`);
    await ann.waitForSelector('#messages li.system:has-text("ben joined")');
    await expect.poll(() => members(ann)).toEqual(['ann (you)', 'ben']);
    await expect.poll(() => members(ben)).toEqual(['ann', 'ben (you)']);

    await say(ann, 'hello from ann');
    await ben.waitForSelector('#messages li:has-text("ann: hello from ann")');
    await say(ben, 'hi ann, ben here');
    await ann.waitForSelector('#messages li:has-text("ben: hi ann, ben here")');
    // Each tab sees the whole conversation in the same order, its own lines included.
    await ann.waitForSelector('#messages li.mine:has-text("ann: hello from ann")');
    expect(await lines(ann)).toEqual(['ann: hello from ann', 'ben: hi ann, ben here']);
    expect(await lines(ben)).toEqual(['ann: hello from ann', 'ben: hi ann, ben here']);
    // Every line, system lines included, carries the time it was said.
    for (const t of (await layout(ann)).times) expect(t).toMatch(/\d{1,2}:\d{2}/);

    const heard: ChatLine[] = [];
    const node = await startChat({ url: `${hub.wsUrl}/ws/browser-chat`, name: 'ada', room, onLine: (l) => heard.push(l) });
    chats.push(node);
    await node.say('node says hi');
    await ann.waitForSelector('#messages li:has-text("ada: node says hi")');
    await ben.waitForSelector('#messages li:has-text("ada: node says hi")');
    // The Node client says nothing on joining; the member list finds it in the registry.
    await ben.waitForSelector('#messages li.system:has-text("ada joined")', { timeout: 10_000 });
    await expect.poll(() => members(ben), { timeout: 10_000 }).toEqual(['ada', 'ann', 'ben (you)']);
    await say(ben, 'welcome ada');
    await expect.poll(() => heard.map((l) => `${l.name}: ${l.text}`), { timeout: 10_000 }).toEqual([
      'ada: node says hi',
      'ben: welcome ada',
    ]);
    expect(heard[1]!.from).toMatch(/^@\(chat\/ben-/);

    // A tab that is closed leaves the hub (its registration goes away); the others go on.
    const present = async () =>
      (await node.client.discover('chat/*')).actors.map((a) => String(a.metadata.name)).sort();
    expect(await present()).toEqual(['ada', 'ann', 'ben']);
    await ann.close({ runBeforeUnload: true });
    await expect.poll(present, { timeout: 10_000 }).toEqual(['ada', 'ben']);
    await ben.waitForSelector('#messages li.system:has-text("ann left")', { timeout: 10_000 });
    await expect.poll(() => members(ben), { timeout: 10_000 }).toEqual(['ada', 'ben (you)']);
    await node.say('ann left');
    await ben.waitForSelector('#messages li:has-text("ada: ann left")');
    await ben.close();
  });

  for (const [label, viewport] of [
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ] as const) {
    it.skipIf(!hasChromium)(`${label} (${viewport.width} px): after 40 messages header and composer stay in view and only the pane scrolls`, async () => {
      const room = `layout-${label}-${process.pid}`;
      const kim = await openChat('kim', room, viewport);
      const lou = await openChat('lou', room, viewport);
      await kim.waitForSelector('#messages li.system:has-text("lou joined")');
      for (let i = 1; i <= 40; i++) await say(i % 3 === 0 ? lou : kim, `message ${i}: ${'a fairly long line of chat that wraps on a phone '.repeat(i % 4)}`);
      await kim.waitForSelector('#messages li:has-text("message 40:")', { timeout: 20_000 });
      const l = await layout(kim);
      expect(l.lines).toBeGreaterThanOrEqual(42);
      // The page itself neither scrolls nor overflows sideways; the pane does the scrolling.
      expect(l.page.scrollHeight).toBeLessThanOrEqual(l.viewport.height);
      expect(l.page.scrollWidth).toBeLessThanOrEqual(l.viewport.width);
      expect(l.pane.scrollHeight).toBeGreaterThan(l.pane.clientHeight);
      expect(l.header.top).toBeGreaterThanOrEqual(0);
      expect(l.composer.top).toBeGreaterThan(l.header.bottom);
      expect(l.composer.bottom).toBeLessThanOrEqual(l.viewport.height + 0.5);
      // The newest line is shown: the pane followed the conversation to its end.
      expect(l.last.bottom).toBeLessThanOrEqual(l.pane.bottom + 0.5);
      expect(await members(kim)).toEqual(['kim (you)', 'lou']);
      await screenshot(kim, `chat-${label}.png`);
      await kim.close();
      await lou.close();
    });
  }

  it.skipIf(!hasChromium)('a hub that does not answer shows "hub unreachable: <url>" and the cause in words', async () => {
    const [port] = (await freePorts(1)) as [number];
    const url = `ws://127.0.0.1:${port}/ws/chat`;
    const page = await browser.newPage();
    await page.setViewportSize(PHONE);
    await page.goto(`${pagesUrl}/?${new URLSearchParams({ hub: url, name: 'nora' })}`);
    await page.waitForSelector('body[data-problem="unreachable"]', { timeout: 20_000 });
    const text = await page.textContent('#notice');
    expect(text).toContain(`hub unreachable: ${url}`);
    // The client's cause, in words: a browser only ever sees a 1006 close, and the page says so.
    expect(text).toContain('the connection failed before the WebSocket opened (code 1006); the browser does not expose why');
    expect(text).toContain('Start it with npm start; retrying…');
    await screenshot(page, 'chat-hub-unreachable.png');
    await page.close();
  });

  it.skipIf(!hasChromium)('a page served without client.js says to run npm run build:client', async () => {
    const page = await browser.newPage();
    await page.setViewportSize(DESKTOP);
    await page.goto(`${unbuiltUrl}/?${new URLSearchParams({ hub: `${hub.wsUrl}/ws/browser-chat`, name: 'otto' })}`);
    await page.waitForSelector('body[data-problem="client-missing"]', { timeout: 20_000 });
    expect(await page.textContent('#notice')).toContain('client.js missing: run npm run build:client');
    await screenshot(page, 'chat-client-missing.png');
    await page.close();
  });
});
