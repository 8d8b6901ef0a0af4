/**
 * Shows a running hub's session machines in the Stately inspector.
 *
 * Usage: npm run inspect -- [--hub <name>] [hub-inspect-url] [--port 8789] [--token <jwt>] [--no-open] [--quiet] [--exit-after <n>]
 *
 *   --hub            the hub to watch, by the name in its /ws/<name> URL (the README's
 *                    examples use demo and chat); without it, the default hub that /ws reaches.
 *   hub-inspect-url  the hub's /inspect WebSocket, for a hub elsewhere (default
 *                    ws://127.0.0.1:8787/inspect, or .../inspect/<name> with --hub). The hub
 *                    must run with INSPECT_ENABLED=true.
 *   --port           where @statelyai/inspect's inspector server listens (default 8789:
 *                    the hub is on 8787 and the README serves the chat page on 8788);
 *                    open http://localhost:<port> to see the inspector.
 *   --token          a JWT, needed when the hub has AUTH_ENABLED (or set INSPECT_TOKEN). It is
 *                    sent as a WebSocket subprotocol, so it never appears in a URL or a log.
 *   --no-open        do not open a browser.
 *   --quiet          do not print a line per frame.
 *   --exit-after     stop after forwarding this many frames (for scripted checks).
 *
 * The hub already speaks the inspector's frame format, so the relay only
 * moves frames: hub -> this process -> @statelyai/inspect's WebSocket
 * inspector -> its local server -> the browser page it serves, which embeds
 * the inspector UI from stately.ai (that page is the only part that needs
 * the internet). It reconnects when the hub restarts; every reconnect
 * starts with a snapshot of each live session, so nothing goes stale.
 */
import { connect as tcpConnect, createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { createWebSocketInspector, type StatelyInspectionEvent } from '@statelyai/inspect';
import { createInspectorServer } from '@statelyai/inspect/server';
import WebSocket from 'ws';
import { INSPECT_SUBPROTOCOL } from '../src/core/inspection';
import { describeFrame, inspectUrl, watchedHub } from './inspect-relay-lib';

const DEFAULT_PORT = 8789;
const USAGE = `npm run inspect -- [--hub <name>] [ws://127.0.0.1:8787/inspect] [--port ${DEFAULT_PORT}] [--token <jwt>] [--no-open] [--quiet] [--exit-after <n>]`;

/** Usage mistakes end with one line and exit code 2, not a stack trace. */
const usageError = (message: string): never => {
  console.error(`${message}\nusage: ${USAGE}`);
  process.exit(2);
};

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    hub: { type: 'string' },
    port: { type: 'string', default: String(DEFAULT_PORT) },
    token: { type: 'string' },
    'no-open': { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
    'exit-after': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

let hubUrl = '';
try {
  hubUrl = inspectUrl(positionals[0], values.hub);
} catch (err) {
  usageError((err as Error).message);
}
const port = Number(values.port);
const token = values.token ?? process.env.INSPECT_TOKEN ?? null;
const exitAfter = values['exit-after'] !== undefined ? Number(values['exit-after']) : null;
if (!Number.isInteger(port) || port <= 0 || port > 65_535) usageError(`--port must be a TCP port, got ${values.port}`);
if (exitAfter !== null && !(Number.isInteger(exitAfter) && exitAfter > 0)) usageError('--exit-after must be a positive integer');

const isFrame = (value: unknown): value is StatelyInspectionEvent =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { type?: unknown }).type === 'string' &&
  (value as { type: string }).type.startsWith('@xstate.') &&
  typeof (value as { sessionId?: unknown }).sessionId === 'string';

/** The inspector server's listen() is not awaitable; its port answering is the signal that it is up. */
const waitForPort = async (at: number, timeoutMs = 5_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = tcpConnect({ host: '127.0.0.1', port: at }, () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`the inspector server did not start on port ${at}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

/**
 * The inspector server reports a taken port as an uncaught EADDRINUSE stack
 * trace, so the port is tried first, on the same (all-interfaces) address.
 */
const portFree = (at: number): Promise<boolean> =>
  new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(at, () => probe.close(() => resolve(true)));
  });

if (!(await portFree(port))) {
  console.error(
    `port ${port} is already in use (another relay, or a server of yours?); pass --port <n> to run the inspector server elsewhere`,
  );
  process.exit(1);
}
console.log(`watching ${watchedHub(hubUrl)} at ${hubUrl}`);
const server = createInspectorServer({ port, autoOpen: !values['no-open'] });
await waitForPort(port);
const inspector = createWebSocketInspector({ url: `ws://127.0.0.1:${port}`, autoStart: false });
inspector.start();
console.log(`inspector server: http://localhost:${port} (the page loads the inspector UI from https://stately.ai/inspect)`);

let forwarded = 0;
let stopping = false;
let hub: WebSocket | null = null;
let retryMs = 500;

const stop = (code: number): void => {
  stopping = true;
  hub?.close(1000, 'relay stopping');
  // Let the inspector adapter flush what it was handed before its socket goes.
  setTimeout(() => {
    inspector.stop();
    server.stop();
    process.exit(code);
  }, 200);
};

const connectHub = (): void => {
  const ws = new WebSocket(hubUrl, token ? [INSPECT_SUBPROTOCOL, token] : []);
  hub = ws;
  ws.on('open', () => {
    retryMs = 500;
    console.log(`connected to ${hubUrl}`);
  });
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    let frame: unknown;
    try {
      frame = JSON.parse(data.toString());
    } catch {
      return; // not ours to interpret
    }
    if (!isFrame(frame)) return;
    inspector.adapter.send(frame);
    forwarded++;
    if (!values.quiet) console.log(`${new Date().toISOString()} ${describeFrame(frame)}`);
    if (exitAfter !== null && forwarded >= exitAfter) stop(0);
  });
  ws.on('unexpected-response', (_req, res) => {
    const hint =
      res.statusCode === 404
        ? 'is the hub running with INSPECT_ENABLED=true (npm start -- --var INSPECT_ENABLED:true)?'
        : res.statusCode === 401
          ? 'the hub has auth on: pass --token <jwt> (npm run token mints one)'
          : 'unexpected answer';
    console.error(`${hubUrl} answered ${res.statusCode}: ${hint}`);
    stop(1);
  });
  ws.on('error', (err) => {
    if (!stopping) console.error(`hub connection: ${err.message}`);
  });
  ws.on('close', () => {
    if (stopping) return;
    console.error(`disconnected from the hub; retrying in ${retryMs} ms`);
    setTimeout(connectHub, retryMs);
    retryMs = Math.min(retryMs * 2, 10_000);
  });
};

process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
connectHub();
