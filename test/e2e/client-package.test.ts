import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPackages } from '../../scripts/build-packages';
import { PROTOCOL_VERSION } from '../../src/protocol/envelope';
import { startDevServer, type DevServer } from '../../harness/net/dev-server';
import { ROOT, expectOnlyBuild, packWorkspaces, run, scratchProject, type Packed } from './support/packages';

/**
 * The client as another project gets it: built, packed with `npm pack`,
 * installed from the tarballs into a scratch project outside the repository,
 * type-checked with `moduleResolution: "nodenext"` and run against a real
 * `wrangler dev` hub.
 */

// The versions the repository itself uses, so the scratch install needs nothing new.
const NODE_WEBSOCKET = ['ws@8.23.0', '@types/ws@8.18.2', '@types/node@20.19.25'];

let hub: DevServer;
let packDir = '';
let scratch = '';
let packed = new Map<string, Packed>();

beforeAll(async () => {
  await buildPackages();
  ({ dir: packDir, packed } = await packWorkspaces(['signal-hub-protocol', 'signal-hub-client']));
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
    const paths = expectOnlyBuild(packed.get('signal-hub-client')!);
    expect(paths).toContain('dist/index.js');
    expect(paths).toContain('dist/index.d.ts');
    expect(paths).toContain('dist/browser.js');

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
    scratch = await scratchProject({
      packDir,
      packed,
      workspaces: ['signal-hub-protocol', 'signal-hub-client'],
      extra: NODE_WEBSOCKET,
      compilerOptions: { types: ['node'], outDir: 'out' },
      file: 'main.ts',
      source: PROGRAM,
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
      protocol: PROTOCOL_VERSION,
      ackSchemaRefusesAnEmptyAck: true,
      browserBuild: 'function',
    });
  }, 240_000);
});
