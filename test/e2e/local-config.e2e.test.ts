import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeSnapshot, snapshotRepo, startDevServer } from '../../harness/net/dev-server';
import { WsTestClient } from '../../harness/net/ws-client';

/**
 * A developer who turns auth on locally, as the README shows, must still get
 * the same test results: every test project pins the vars it runs with. The
 * scratch copy holds a `.dev.vars` (and a `.env`) that would break most
 * tests if it leaked: auth on with a secret, and a 100 ms connect timeout.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const LOCAL_VARS = ['AUTH_ENABLED=true', 'JWT_SECRET=a-local-secret-no-test-may-see', 'CONNECT_TIMEOUT_MS=100', ''].join('\n');

let scratch: string;

beforeAll(() => {
  scratch = snapshotRepo(ROOT);
  writeFileSync(join(scratch, '.dev.vars'), LOCAL_VARS);
  writeFileSync(join(scratch, '.env'), LOCAL_VARS);
});

afterAll(() => {
  if (scratch) removeSnapshot(scratch);
});

/** Runs vitest in the scratch copy with a JSON report; resolves with its exit code and counts. */
const vitestIn = (dir: string, args: string[]): Promise<{ code: number | null; passed: number; failed: number; output: string }> => {
  const reportDir = mkdtempSync(join(tmpdir(), 'signal-hub-local-config-'));
  const report = join(reportDir, 'report.json');
  // The nested run must not think it is a worker of this one.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST')));
  return new Promise((done, fail) => {
    const child = spawn(join(dir, 'node_modules/.bin/vitest'), ['run', ...args, '--reporter=json', `--outputFile=${report}`], {
      cwd: dir,
      env: { ...env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-20_000)));
    child.stderr.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-20_000)));
    child.once('error', fail);
    child.once('exit', (code) => {
      try {
        const json = JSON.parse(readFileSync(report, 'utf8')) as { numPassedTests: number; numFailedTests: number };
        done({ code, passed: json.numPassedTests, failed: json.numFailedTests, output });
      } catch (err) {
        fail(new Error(`no vitest report (${String(err)})\n${output}`));
      } finally {
        rmSync(reportDir, { recursive: true, force: true });
      }
    });
  });
};

describe('tests are isolated from local .dev.vars and .env', () => {
  it('the workerd project passes in a checkout whose .dev.vars turns auth on', { timeout: 240_000 }, async () => {
    const run = await vitestIn(scratch, ['--project', 'workerd', 'test/workerd/lifecycle.test.ts']);
    expect(run.failed, run.output).toBe(0);
    expect(run.passed).toBeGreaterThan(20);
    expect(run.code).toBe(0);
  });

  it('wrangler dev for e2e starts with auth off and the default connect timeout in that checkout', { timeout: 120_000 }, async () => {
    const server = await startDevServer({ root: scratch });
    try {
      const client = await WsTestClient.open(`${server.wsUrl}/ws/local-config`, '@(e2e/local)');
      // With the local vars this would fail twice over: the socket would be closed after
      // 100 ms, and hub:connect without a token would be refused with missing_token.
      await new Promise((r) => setTimeout(r, 500));
      const connected = await client.ask('hub:connect', null, { metadata: { protocolVersion: '0.1.0' } });
      expect(connected.type).toBe('hub:connected');
      client.terminate();
    } finally {
      await server.stop();
    }
  });
});
