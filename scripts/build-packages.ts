/**
 * Builds the installable packages into each package's dist/:
 *
 * - signal-hub-protocol (src/protocol): dist/index.js, one ES module with
 *   zod left as a dependency, and its .d.ts files;
 * - signal-hub-client (src/client): dist/index.js, one ES module that imports
 *   signal-hub-protocol and xstate as dependencies, dist/browser.js, the
 *   self-contained minified bundle of scripts/build-client.ts, and its .d.ts.
 * - signal-hub-server (src/hub): dist/index.js, the Durable Object and its
 *   router as one ES module for a Worker's bundler, importing
 *   signal-hub-protocol, jose, xstate, zod and cloudflare:workers; its
 *   declarations keep the repository's tree under dist/types/, since they
 *   reach into the core, the machines and the runtime adapter.
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
  /** Declarations of the whole source tree the entry reaches, under dist/types/ (server code reaches outside its folder). */
  declarationTree?: boolean;
}

export const PACKAGES: Record<string, PackageSpec> = {
  [PROTOCOL_PACKAGE]: { dir: 'src/protocol', external: ['zod'], protocolAsPackage: false, browserBundle: false },
  'signal-hub-client': { dir: 'src/client', external: ['xstate'], protocolAsPackage: true, browserBundle: true },
  'signal-hub-server': {
    dir: 'src/hub',
    // node:crypto (resume-token hashing) comes from the runtime: the hub needs the nodejs_compat flag.
    external: ['cloudflare:workers', 'node:crypto', 'jose', 'xstate', 'zod'],
    protocolAsPackage: true,
    browserBundle: false,
    declarationTree: true,
  },
};

/** The protocol modules the signal-hub-protocol package exports (src/protocol/index.ts); the rest are bundled. */
const PROTOCOL_ROOT = join(ROOT, 'src/protocol');
const PACKAGED_PROTOCOL = new Set(['index', 'build', 'envelope', 'errors', 'messages', 'ping', 'replies']);

const PROTOCOL_IMPORT = /^\.\.\/protocol(\/[A-Za-z0-9_-]+)?$/;

/**
 * Turns relative imports of the protocol's exported modules, from any depth,
 * into imports of the protocol package; its internal modules (fast-parse,
 * strings, limits) are bundled like any other source.
 */
const protocolPackage: Plugin = {
  name: 'protocol-package',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      const target = resolve(args.resolveDir, args.path);
      if (dirname(target) !== PROTOCOL_ROOT && target !== PROTOCOL_ROOT) return undefined;
      const name = target === PROTOCOL_ROOT ? 'index' : target.slice(PROTOCOL_ROOT.length + 1).replace(/\.ts$/, '');
      return PACKAGED_PROTOCOL.has(name) ? { path: PROTOCOL_PACKAGE, external: true } : undefined;
    });
  },
};

/** Rewrites the import specifiers of one emitted declaration file for nodenext consumers. */
const rewriteDeclaration = (text: string, spec: PackageSpec): string =>
  text.replace(/(from\s+|import\()(['"])(\.{1,2}\/[^'"]+)\2/g, (_all, lead: string, quote: string, path: string) => {
    if (spec.protocolAsPackage && PROTOCOL_IMPORT.test(path)) return `${lead}${quote}${PROTOCOL_PACKAGE}${quote}`;
    if (path.startsWith('../')) throw new Error(`a declaration of ${spec.dir} imports ${path}, outside its package`);
    return `${lead}${quote}${path}.js${quote}`;
  });

/** Adds the `.js` extension nodenext needs to the relative imports of one declaration file of a tree. */
const rewriteTreeDeclaration = (text: string): string =>
  text.replace(/(from\s+|import\()(['"])(\.{1,2}\/[^'"]+)\2/g, (_all, lead: string, quote: string, path: string) =>
    path.endsWith('.js') ? `${lead}${quote}${path}${quote}` : `${lead}${quote}${path}.js${quote}`,
  );

const copyTree = (from: string, to: string): void => {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    if (entry.isDirectory()) copyTree(source, join(to, entry.name));
    else if (entry.name.endsWith('.d.ts')) writeFileSync(join(to, entry.name), rewriteTreeDeclaration(readFileSync(source, 'utf8')));
  }
};

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
          rootDir: spec.declarationTree ? ROOT : join(ROOT, 'src'),
          outDir: join(work, 'out'),
          // What a browser or Node consumer has; the Workers and Node typings of the repository stay out.
          // The server is for Workers: its consumer has the Workers typings.
          lib: spec.declarationTree ? ['ES2023'] : ['ES2023', 'DOM'],
          types: spec.declarationTree ? [join(ROOT, 'node_modules/@cloudflare/workers-types/2023-07-01')] : [],
          // The repository's own `tsc --noEmit` checks the server (with its Node typings for the tests); here it is only emitted.
          ...(spec.declarationTree ? { noCheck: true } : {}),
        },
        include: [],
        files: [join(ROOT, spec.dir, 'index.ts')],
      }),
    );
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', config], { stdio: 'inherit' });
    if (spec.declarationTree) {
      copyTree(join(work, 'out'), join(dist, 'types'));
      return;
    }
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
