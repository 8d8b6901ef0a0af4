/**
 * Builds the installable packages into each package's dist/:
 *
 * - signal-hub-protocol (src/protocol): dist/index.js, one ES module with
 *   zod left as a dependency, and its .d.ts files;
 * - signal-hub-client (src/client): dist/index.js, one ES module that imports
 *   signal-hub-protocol and xstate as dependencies, dist/browser.js, the
 *   self-contained minified bundle of scripts/build-client.ts, and its .d.ts.
 *
 * Usage: npm run build:packages
 *
 * The sources keep their extensionless relative imports, which the repo's
 * bundler-style tools resolve. esbuild bundles the JavaScript, so no import
 * path survives in it; tsc writes the declarations, and their relative
 * imports get the `.js` extension that `moduleResolution: "nodenext"`
 * consumers need, while the client's imports of ../protocol become imports of
 * the signal-hub-protocol package.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { bundleClient } from './build-client';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PROTOCOL_PACKAGE = 'signal-hub-protocol';

interface PackageSpec {
  /** Source folder, relative to the repository root; it holds the package.json. */
  dir: string;
  /** Imports left to the consumer's node_modules: the package's dependencies. */
  external: string[];
  /** The client reaches the protocol through ../protocol in the repository and through the package once built. */
  protocolAsPackage: boolean;
  browserBundle: boolean;
}

export const PACKAGES: Record<string, PackageSpec> = {
  [PROTOCOL_PACKAGE]: { dir: 'src/protocol', external: ['zod'], protocolAsPackage: false, browserBundle: false },
  'signal-hub-client': { dir: 'src/client', external: ['xstate'], protocolAsPackage: true, browserBundle: true },
};

const PROTOCOL_IMPORT = /^\.\.\/protocol(\/[A-Za-z0-9_-]+)?$/;

/** Turns the client's relative imports of the protocol into imports of the protocol package. */
const protocolPackage: Plugin = {
  name: 'protocol-package',
  setup(b) {
    b.onResolve({ filter: PROTOCOL_IMPORT }, () => ({ path: PROTOCOL_PACKAGE, external: true }));
  },
};

/** Rewrites the import specifiers of one emitted declaration file for nodenext consumers. */
const rewriteDeclaration = (text: string, spec: PackageSpec): string =>
  text.replace(/(from\s+|import\()(['"])(\.{1,2}\/[^'"]+)\2/g, (_all, lead: string, quote: string, path: string) => {
    if (spec.protocolAsPackage && PROTOCOL_IMPORT.test(path)) return `${lead}${quote}${PROTOCOL_PACKAGE}${quote}`;
    if (path.startsWith('../')) throw new Error(`a declaration of ${spec.dir} imports ${path}, outside its package`);
    return `${lead}${quote}${path}.js${quote}`;
  });

const declarations = (spec: PackageSpec, dist: string): void => {
  const work = mkdtempSync(join(tmpdir(), 'signal-hub-dts-'));
  try {
    const config = join(work, 'tsconfig.json');
    writeFileSync(
      config,
      JSON.stringify({
        extends: join(ROOT, 'tsconfig.json'),
        compilerOptions: {
          noEmit: false,
          declaration: true,
          emitDeclarationOnly: true,
          rootDir: join(ROOT, 'src'),
          outDir: join(work, 'out'),
          // What a browser or Node consumer has; the Workers and Node typings of the repository stay out.
          lib: ['ES2023', 'DOM'],
          types: [],
        },
        include: [],
        files: [join(ROOT, spec.dir, 'index.ts')],
      }),
    );
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', config], { stdio: 'inherit' });
    const emitted = join(work, 'out', relative(join(ROOT, 'src'), join(ROOT, spec.dir)));
    for (const name of readdirSync(emitted)) {
      if (!name.endsWith('.d.ts')) continue;
      writeFileSync(join(dist, name), rewriteDeclaration(readFileSync(join(emitted, name), 'utf8'), spec));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
};

export const buildPackage = async (name: string): Promise<string> => {
  const spec = PACKAGES[name];
  if (!spec) throw new Error(`unknown package ${name}`);
  const dir = join(ROOT, spec.dir);
  const dist = join(dir, 'dist');
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(dist, { recursive: true });
  await build({
    entryPoints: [join(dir, 'index.ts')],
    outfile: join(dist, 'index.js'),
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    external: spec.external,
    plugins: spec.protocolAsPackage ? [protocolPackage] : [],
    logLevel: 'warning',
  });
  if (spec.browserBundle) writeFileSync(join(dist, 'browser.js'), await bundleClient());
  declarations(spec, dist);
  return dist;
};

export const buildPackages = async (): Promise<void> => {
  for (const name of Object.keys(PACKAGES)) {
    const dist = await buildPackage(name);
    console.log(`built ${name} in ${relative(process.cwd(), dist)}`);
  }
};

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await buildPackages();
