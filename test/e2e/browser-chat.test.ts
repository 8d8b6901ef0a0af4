import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startChat, type Chat, type ChatLine } from '../../examples/node-chat';
import { bundleClient } from '../../scripts/build-client';
import { startDevServer, type DevServer } from './support/dev-server';

/**
 * The browser example (examples/chat) in headless Chromium: two tabs chat
 * through a real `wrangler dev` hub, and a Node client (examples/node-chat.ts)
 * joins the same room. The page is served as static files from 127.0.0.1,
 * with the client bundle built by esbuild for this run.
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

let hub: DevServer;
let pages: Server;
let pagesUrl = '';
let browser: BrowserContext;
let profileDir = '';
const chats: Chat[] = [];

/** Serves index.html and chat.js from examples/chat, and the client bundle from memory. */
const servePages = async (bundle: string): Promise<{ server: Server; url: string }> => {
  const files: Record<string, { type: string; body: () => string }> = {
    '/': { type: 'text/html', body: () => readFileSync(join(EXAMPLE, 'index.html'), 'utf8') },
    '/index.html': { type: 'text/html', body: () => readFileSync(join(EXAMPLE, 'index.html'), 'utf8') },
    '/chat.js': { type: 'text/javascript', body: () => readFileSync(join(EXAMPLE, 'chat.js'), 'utf8') },
    '/client.js': { type: 'text/javascript', body: () => bundle },
  };
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

const openChat = async (name: string, room: string): Promise<Page> => {
  const page = await browser.newPage();
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
  await page.fill('#text', text);
  await page.click('#send');
};

/** Text of every chat line (system lines left out) the page shows. */
const lines = (page: Page) => page.$$eval('#messages li:not(.system)', (items) => items.map((i) => i.textContent ?? ''));

describe('browser chat example', () => {
  beforeAll(async () => {
    if (!hasChromium) return;
    const [server, bundle] = await Promise.all([startDevServer(), bundleClient()]);
    hub = server;
    ({ server: pages, url: pagesUrl } = await servePages(bundle));
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
    await hub?.stop();
  });

  it.skipIf(!hasChromium)('two tabs chat through the hub, and a Node client joins the same room', async () => {
    const room = `room-${process.pid}`;
    const ann = await openChat('ann', room);
    const ben = await openChat('ben', room);
    expect(await ann.textContent('#status')).toBe('connected');
    expect(await ben.textContent('#status')).toBe('connected');
    // ben joined second, so discover showed him ann.
    await ben.waitForSelector('#messages li.system:has-text("here already: ann")');

    await say(ann, 'hello from ann');
    await ben.waitForSelector('#messages li:has-text("ann: hello from ann")');
    await say(ben, 'hi ann, ben here');
    await ann.waitForSelector('#messages li:has-text("ben: hi ann, ben here")');
    // Each tab sees the whole conversation in the same order, its own lines included.
    await ann.waitForSelector('#messages li.mine:has-text("ann: hello from ann")');
    expect(await lines(ann)).toEqual(['ann: hello from ann', 'ben: hi ann, ben here']);
    expect(await lines(ben)).toEqual(['ann: hello from ann', 'ben: hi ann, ben here']);

    const heard: ChatLine[] = [];
    const node = await startChat({ url: `${hub.wsUrl}/ws/browser-chat`, name: 'ada', room, onLine: (l) => heard.push(l) });
    chats.push(node);
    await node.say('node says hi');
    await ann.waitForSelector('#messages li:has-text("ada: node says hi")');
    await ben.waitForSelector('#messages li:has-text("ada: node says hi")');
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
    await node.say('ann left');
    await ben.waitForSelector('#messages li:has-text("ada: ann left")');
    await ben.close();
  });
});
