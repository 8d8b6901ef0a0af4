import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';

/** Packing workspace packages the way a registry would receive them, for the package tests. */

export const run = promisify(execFile);
export const ROOT = resolve(import.meta.dirname, '../../..');
export const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

export interface Packed {
  name: string;
  filename: string;
  files: { path: string }[];
}

/** `npm pack` of the named workspaces into a fresh temporary folder; the caller removes it. */
export const packWorkspaces = async (names: string[]): Promise<{ dir: string; packed: Map<string, Packed> }> => {
  const dir = mkdtempSync(join(tmpdir(), 'signal-hub-pack-'));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir, ...names.flatMap((n) => ['-w', n])], { cwd: ROOT });
  const packed = new Map<string, Packed>();
  for (const entry of JSON.parse(stdout) as Packed[]) packed.set(entry.name, entry);
  return { dir, packed };
};

/** A packed package holds its manifest, its README and dist/, and no TypeScript source. */
export const expectOnlyBuild = (entry: Pick<Packed, 'files'>): string[] => {
  const paths = entry.files.map((f) => f.path).sort();
  for (const path of paths) expect(path === 'package.json' || path === 'README.md' || path.startsWith('dist/'), path).toBe(true);
  expect(paths.filter((p) => p.endsWith('.ts') && !p.endsWith('.d.ts'))).toEqual([]);
  return paths;
};

export interface ScratchSpec {
  /** Folder of the tarballs, and what packWorkspaces found in it. */
  packDir: string;
  packed: Map<string, Packed>;
  /** Workspace packages installed from their tarballs. */
  workspaces: string[];
  /** Registry packages installed beside them (pinned to what the repository uses, so the cache has them). */
  extra: string[];
  /** compilerOptions besides nodenext module resolution and strict mode. */
  compilerOptions: Record<string, unknown>;
  /** The one source file, and its text. */
  file: string;
  source: string;
}

/**
 * A project outside the repository that installs the packed packages as a
 * consumer would, and type-checks its one file with
 * `moduleResolution: "nodenext"`. Returns its folder; the caller removes it.
 */
export const scratchProject = async (spec: ScratchSpec): Promise<string> => {
  const dir = mkdtempSync(join(tmpdir(), 'signal-hub-scratch-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
  const tarballs = spec.workspaces.map((name) => join(spec.packDir, spec.packed.get(name)!.filename));
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', ...tarballs, ...spec.extra], { cwd: dir });
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, ...spec.compilerOptions },
      files: [spec.file],
    }),
  );
  writeFileSync(join(dir, spec.file), spec.source);
  await run(process.execPath, [TSC, '-p', dir]).catch((err: { stdout?: string }) => {
    throw new Error(`tsc failed in the scratch project:\n${err.stdout ?? String(err)}`);
  });
  return dir;
};
