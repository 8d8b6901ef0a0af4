import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFrame, inspectUrl, watchedHub } from '../../scripts/inspect-relay-lib';
import { freePorts, startDevServer, type DevServer } from '../../harness/net/dev-server';
import { WsTestClient } from '../../harness/net/ws-client';

/**
 * `npm run inspect` against a real hub: it says which hub it watches, names
 * each frame's request, and refuses a taken port with one readable line.
 */

const ROOT = resolve(import.meta.dirname, '../..');
let server: DevServer;

/** Runs the relay until it exits; `whenRunning` is called once it prints its first line. */
const relay = (args: string[], whenRunning?: () => Promise<void>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((done, fail) => {
    const child = spawn(resolve(ROOT, 'node_modules/.bin/tsx'), ['scripts/inspect-relay.ts', '--no-open', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let started = false;
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      if (!started && stdout.includes('connected to ')) {
        started = true;
        whenRunning?.().catch(fail);
      }
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', fail);
    child.once('exit', (code) => {
      clearTimeout(killer);
      done({ code, stdout, stderr });
    });
  });

beforeAll(async () => {
  server = await startDevServer({ vars: { INSPECT_ENABLED: true } });
});

afterAll(async () => {
  await server?.stop();
});

describe('inspect relay', () => {
  it('watches the hub its /inspect/<name> URL names, says so, and prints FRAME events with request type and id', { timeout: 90_000 }, async () => {
    const [port] = await freePorts(1);
    const url = `${server.wsUrl}/inspect/demo`;
    let requestIds: string[] = [];
    // actor + snapshot of the new session, then FRAME/snapshot, CONNECT_ACCEPTED/snapshot, FRAME/snapshot.
    const run = await relay([url, '--port', String(port), '--exit-after', '8'], async () => {
      const { client } = await WsTestClient.connected(`${server.wsUrl}/ws/demo`, '@(demo/alice)');
      const reg = await client.ask('hub:register', { actorAddress: '@(demo/alice)', capabilities: ['chat'] });
      requestIds = [reg.correlationId as string];
      client.terminate();
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`watching hub "demo" (the one /ws/demo reaches) at ${url}`);
    expect(run.stdout).toMatch(/@xstate\.event\s+\S+\s+FRAME hub:connect [0-9a-f-]{36}/);
    expect(run.stdout).toContain(`FRAME hub:register ${requestIds[0]}`);
    expect(run.stderr).not.toMatch(/EADDRINUSE/);
  });

  it('a taken port ends with one line that says what to do, not an EADDRINUSE stack', { timeout: 60_000 }, async () => {
    const [port] = (await freePorts(1)) as [number];
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(port, () => r()));
    try {
      const run = await relay(['--hub', 'demo', '--port', String(port)]);
      expect(run.code).toBe(1);
      expect(run.stderr.trim()).toBe(
        `port ${port} is already in use (another relay, or a server of yours?); pass --port <n> to run the inspector server elsewhere`,
      );
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });

  it('builds the URL from --hub and describes the default hub', () => {
    expect(inspectUrl(undefined, undefined)).toBe('ws://127.0.0.1:8787/inspect');
    expect(inspectUrl(undefined, 'chat')).toBe('ws://127.0.0.1:8787/inspect/chat');
    expect(() => inspectUrl('ws://h/inspect', 'chat')).toThrow(/not both/);
    expect(watchedHub('ws://127.0.0.1:8787/inspect')).toBe('the default hub (the one /ws reaches)');
    const frame = { type: '@xstate.event', sessionId: '1d2fc643-aaaa', event: { type: 'FRAME', now: 1, request: 'hub:publish', id: 'p2' } };
    expect(describeFrame(frame as never)).toBe('@xstate.event    1d2fc643  FRAME hub:publish p2');
  });
});
