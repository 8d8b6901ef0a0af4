import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPackages } from '../../scripts/build-packages';
import { ROOT, expectOnlyBuild, packWorkspaces, scratchProject, type Packed } from './support/packages';

/**
 * The hub as another project gets it: signal-hub-server built and packed,
 * installed from the tarball into a scratch Worker project outside the
 * repository, type-checked with `moduleResolution: "nodenext"` against the
 * Workers typings, and bundled the way a Worker's bundler would (every
 * import resolved from the scratch project's node_modules). Running it is
 * test/workerd-mount's job, against the same entry point.
 */

// The version the repository itself uses, so the scratch install needs nothing new.
const WORKERS_TYPES = '@cloudflare/workers-types@4.20260702.1';

let packDir = '';
let scratch = '';
let packed = new Map<string, Packed>();

beforeAll(async () => {
  await buildPackages();
  ({ dir: packDir, packed } = await packWorkspaces(['signal-hub-protocol', 'signal-hub-server']));
}, 180_000);

afterAll(() => {
  for (const dir of [packDir, scratch]) if (dir) rmSync(dir, { recursive: true, force: true });
});

const WORKER = `import { HubDirectory, SignalHub, routeSignalHubRequest, type ConnectClaim, type Env, type Envelope, type HubConnection } from 'signal-hub-server';

export class Hub extends SignalHub {
  override authorize(claim: ConnectClaim) {
    return claim.identity === '@(nobody)' ? { reason: 'not_here' } : undefined;
  }
  override onMessage(conn: HubConnection, message: Envelope): void {
    conn.reply(message, 'app:pong', { seen: message.type });
  }
}
export { HubDirectory };

// Compiled, never called: if the package's types were lost, the expected error would be missing.
// @ts-expect-error operatorRoutes is a boolean
const typesAreReal = (): Parameters<typeof routeSignalHubRequest>[2] => ({ operatorRoutes: 'yes' });
void typesAreReal;

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    return (await routeSignalHubRequest(request, env)) ?? new Response('mine');
  },
} satisfies ExportedHandler<Env>;
`;

describe('the signal-hub-server package', () => {
  it('packs only its build: the ES module, declarations and README, no sources or tests', () => {
    const paths = expectOnlyBuild(packed.get('signal-hub-server')!);
    expect(paths).toContain('dist/index.js');
    expect(paths).toContain('dist/types/src/hub/index.d.ts');
    expect(paths).toContain('README.md');
    const manifest = JSON.parse(readFileSync(join(ROOT, 'src/hub/package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(manifest.dependencies['signal-hub-protocol']).toBe('0.1.0');
    // The protocol is the package's, not a second copy inside the bundle.
    const code = readFileSync(join(ROOT, 'src/hub/dist/index.js'), 'utf8');
    expect(code).toMatch(/from "signal-hub-protocol"/);
    expect(code).not.toMatch(/hubFrameSchemas\s*=/);
  });

  it('installs outside the repo, type-checks with nodenext and bundles as a Worker', async () => {
    scratch = await scratchProject({
      packDir,
      packed,
      workspaces: ['signal-hub-protocol', 'signal-hub-server'],
      extra: [WORKERS_TYPES],
      compilerOptions: { lib: ['es2023'], noImplicitOverride: true, noEmit: true, types: ['@cloudflare/workers-types/2023-07-01'] },
      file: 'worker.ts',
      source: WORKER,
    });
    const bundle = await build({
      entryPoints: [join(scratch, 'worker.ts')],
      absWorkingDir: scratch,
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'neutral',
      conditions: ['workerd', 'worker', 'import'],
      mainFields: ['module', 'main'],
      // As wrangler bundles a Worker with the nodejs_compat flag: node:* comes from the runtime.
      external: ['cloudflare:workers', 'node:*'],
      logLevel: 'silent',
    });
    const text = bundle.outputFiles[0]!.text;
    // The subclass, and the hub itself resolved from the installed package.
    expect(text).toContain('class extends SignalHub');
    expect(text).toMatch(/var SignalHub = class extends DurableObject/);
    expect(text).toContain('var routeSignalHubRequest =');
  }, 240_000);
});
