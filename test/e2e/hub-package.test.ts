import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPackages } from '../../scripts/build-packages';

/**
 * The hub as another project gets it: signal-hub-server built and packed,
 * installed from the tarball into a scratch Worker project outside the
 * repository, type-checked with `moduleResolution: "nodenext"` against the
 * Workers typings, and bundled the way a Worker's bundler would (every
 * import resolved from the scratch project's node_modules). Running it is
 * test/workerd-mount's job, against the same entry point.
 */

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
// The version the repository itself uses, so the scratch install needs nothing new.
const WORKERS_TYPES = '@cloudflare/workers-types@4.20260702.1';

interface Packed {
  name: string;
  filename: string;
  files: { path: string }[];
}

let packDir = '';
let scratch = '';
const packed = new Map<string, Packed>();

beforeAll(async () => {
  await buildPackages();
  packDir = mkdtempSync(join(tmpdir(), 'signal-hub-server-pack-'));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', packDir, '-w', 'signal-hub-protocol', '-w', 'signal-hub-server'], {
    cwd: ROOT,
  });
  for (const entry of JSON.parse(stdout) as Packed[]) packed.set(entry.name, entry);
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
    const server = packed.get('signal-hub-server')!;
    const paths = server.files.map((f) => f.path).sort();
    expect(paths).toContain('dist/index.js');
    expect(paths).toContain('dist/types/src/hub/index.d.ts');
    expect(paths).toContain('README.md');
    for (const path of paths) expect(path === 'package.json' || path === 'README.md' || path.startsWith('dist/'), path).toBe(true);
    expect(paths.filter((p) => p.endsWith('.ts') && !p.endsWith('.d.ts'))).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(ROOT, 'src/hub/package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(manifest.dependencies['signal-hub-protocol']).toBe('0.1.0');
    // The protocol is the package's, not a second copy inside the bundle.
    const code = readFileSync(join(ROOT, 'src/hub/dist/index.js'), 'utf8');
    expect(code).toMatch(/from "signal-hub-protocol"/);
    expect(code).not.toMatch(/hubFrameSchemas\s*=/);
  });

  it('installs outside the repo, type-checks with nodenext and bundles as a Worker', async () => {
    scratch = mkdtempSync(join(tmpdir(), 'signal-hub-server-scratch-'));
    writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'scratch-worker', private: true, type: 'module' }));
    const tarballs = ['signal-hub-protocol', 'signal-hub-server'].map((name) => join(packDir, packed.get(name)!.filename));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', ...tarballs, WORKERS_TYPES], { cwd: scratch });
    writeFileSync(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          lib: ['es2023'],
          strict: true,
          noImplicitOverride: true,
          noEmit: true,
          types: ['@cloudflare/workers-types/2023-07-01'],
        },
        files: ['worker.ts'],
      }),
    );
    writeFileSync(join(scratch, 'worker.ts'), WORKER);
    await run(process.execPath, [TSC, '-p', scratch]).catch((err: { stdout?: string }) => {
      throw new Error(`tsc failed in the scratch project:\n${err.stdout ?? String(err)}`);
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
      external: ['cloudflare:workers'],
      logLevel: 'silent',
    });
    const text = bundle.outputFiles[0]!.text;
    // The subclass, and the hub itself resolved from the installed package.
    expect(text).toContain('class extends SignalHub');
    expect(text).toMatch(/var SignalHub = class extends DurableObject/);
    expect(text).toContain('var routeSignalHubRequest =');
  }, 240_000);
});
