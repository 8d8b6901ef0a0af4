import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPackages } from '../../scripts/build-packages';
import { startDevServer, type DevServer } from '../../harness/net/dev-server';

/**
 * The client as another project gets it: built, packed with `npm pack`,
 * installed from the tarballs into a scratch project outside the repository,
 * type-checked with `moduleResolution: "nodenext"` and run against a real
 * `wrangler dev` hub.
 */

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
// The versions the repository itself uses, so the scratch install needs nothing new.
const NODE_WEBSOCKET = ['ws@8.23.0', '@types/ws@8.18.2', '@types/node@20.19.25'];

interface Packed {
  filename: string;
  files: { path: string }[];
}

let hub: DevServer;
let packDir = '';
let scratch = '';
const packed = new Map<string, Packed>();

beforeAll(async () => {
  await buildPackages();
  packDir = mkdtempSync(join(tmpdir(), 'signal-hub-pack-'));
  const { stdout } = await run(
    'npm',
    ['pack', '--json', '--pack-destination', packDir, '-w', 'signal-hub-protocol', '-w', 'signal-hub-client'],
    { cwd: ROOT },
  );
  for (const entry of JSON.parse(stdout) as (Packed & { name: string })[]) packed.set(entry.name, entry);
  hub = await startDevServer();
}, 180_000);

afterAll(async () => {
  await hub?.stop();
  for (const dir of [packDir, scratch]) if (dir) rmSync(dir, { recursive: true, force: true });
});

const PROGRAM = `import WebSocket from 'ws';
import { HubClient, HubError, type DeliveryAck, type HubMessage } from 'signal-hub-client';
import { PROTOCOL_VERSION, hubFrameSchema } from 'signal-hub-protocol';

const url = process.env.HUB_URL!;
const alice = new HubClient({ url, identity: '@(scratch/alice)', WebSocket });
const bob = new HubClient({ url, identity: '@(scratch/bob)', WebSocket });
const received = new Promise<HubMessage>((done) => bob.on('message', done));

await Promise.all([alice.connect(), bob.connect()]);
await bob.register('@(scratch/bob)', { capabilities: ['chat'] });
const ack: DeliveryAck = await alice.ask('@(scratch/bob)', 'chat.message', { text: 'hi' });
const message = await received;

let refused = '';
try {
  await alice.ask('@(scratch/nobody)', 'chat.message');
} catch (err) {
  if (err instanceof HubError) refused = err.code;
}

// Compiled, never called: if the package's types were lost, the expected error would be missing.
// @ts-expect-error an address is a string
const typesAreReal = () => alice.register(42);
void typesAreReal;

const browser = await import('signal-hub-client/browser');
console.log(JSON.stringify({
  status: ack.status,
  type: message.type,
  payload: message.payload,
  refused,
  protocol: PROTOCOL_VERSION,
  ackSchemaRefusesAnEmptyAck: !hubFrameSchema.safeParse({ type: 'hub:delivery_ack' }).success,
  browserBuild: typeof browser.HubClient,
}));
await Promise.all([alice.disconnect(), bob.disconnect()]);
`;

describe('the signal-hub-client package', () => {
  it('packs only its build: ESM, declarations and the browser bundle, with no server code', () => {
    const client = packed.get('signal-hub-client')!;
    const paths = client.files.map((f) => f.path).sort();
    expect(paths).toContain('dist/index.js');
    expect(paths).toContain('dist/index.d.ts');
    expect(paths).toContain('dist/browser.js');
    for (const path of paths) expect(path === 'package.json' || path === 'README.md' || path.startsWith('dist/'), path).toBe(true);
    expect(paths.filter((p) => p.endsWith('.ts') && !p.endsWith('.d.ts'))).toEqual([]);

    const manifest = JSON.parse(readFileSync(join(ROOT, 'src/client/package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(manifest.dependencies).sort()).toEqual(['signal-hub-protocol', 'xstate']);
    for (const file of ['index.js', 'browser.js']) {
      const code = readFileSync(join(ROOT, 'src/client/dist', file), 'utf8');
      // jose verifies tokens on the hub; the hub core and the Durable Object are server code.
      expect(code, file).not.toMatch(/\bjose\b|HubCore|DurableObject|cloudflare:workers/);
    }
  });

  it('installs from the tarballs outside the repo, type-checks with nodenext and talks to wrangler dev', async () => {
    scratch = mkdtempSync(join(tmpdir(), 'signal-hub-scratch-'));
    writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
    const tarballs = ['signal-hub-protocol', 'signal-hub-client'].map((name) => join(packDir, packed.get(name)!.filename));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', ...tarballs, ...NODE_WEBSOCKET], {
      cwd: scratch,
    });
    writeFileSync(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          strict: true,
          types: ['node'],
          outDir: 'out',
        },
        files: ['main.ts'],
      }),
    );
    writeFileSync(join(scratch, 'main.ts'), PROGRAM);
    await run(process.execPath, [TSC, '-p', scratch]).catch((err: { stdout?: string }) => {
      throw new Error(`tsc failed in the scratch project:\n${err.stdout ?? String(err)}`);
    });

    const { stdout } = await run(process.execPath, [join(scratch, 'out/main.js')], {
      cwd: scratch,
      env: { ...process.env, HUB_URL: `${hub.wsUrl}/ws/scratch-${Date.now().toString(36)}` },
    });
    expect(JSON.parse(stdout.trim())).toEqual({
      status: 'delivered',
      type: 'chat.message',
      payload: { text: 'hi' },
      refused: 'unknown_actor',
      protocol: '0.1.0',
      ackSchemaRefusesAnEmptyAck: true,
      browserBuild: 'function',
    });
  }, 240_000);
});
