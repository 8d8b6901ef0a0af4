/**
 * Bundles the client (src/client) for browsers with esbuild, which comes with
 * wrangler.
 *
 *   npm run build:client            → examples/chat/client.js
 *   npm run build:client -- out.js  → out.js
 *
 * The bundle is one ES module that exports everything src/client/index.ts
 * exports (HubClient, HubError, ...); zod and xstate are bundled in.
 */
import { build, type Plugin } from 'esbuild';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * zod's namespace re-exports every error-message locale (about half of the
 * bundle), although only English, which zod installs by itself, is ever used
 * here. Each other locale is replaced by a stub with the same export shape.
 */
const englishOnlyZod: Plugin = {
  name: 'english-only-zod',
  setup(b) {
    b.onResolve({ filter: /^\.\/[a-zA-Z-]+\.js$/ }, (args) => {
      if (!/[\\/]zod[\\/]v4[\\/]locales$/.test(args.resolveDir) || args.path === './en.js') return undefined;
      return { path: args.path, namespace: 'zod-locale-stub' };
    });
    b.onLoad({ filter: /.*/, namespace: 'zod-locale-stub' }, () => ({
      contents: 'export default function locale() { return {}; }',
      loader: 'js',
    }));
  },
};

export const bundleClient = async (): Promise<string> => {
  const result = await build({
    entryPoints: [join(ROOT, 'src/client/index.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    legalComments: 'none',
    logLevel: 'warning',
    plugins: [englishOnlyZod],
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error('esbuild produced no output');
  return file.text;
};

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = resolve(process.argv[2] ?? join(ROOT, 'examples/chat/client.js'));
  const code = await bundleClient();
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, code);
  console.log(`wrote ${out} (${Math.round(code.length / 1024)} KiB)`);
}
