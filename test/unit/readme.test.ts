import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config';

/**
 * The README is how a newcomer finds their way, so its tables must name what
 * the tree holds: every top-level folder, every test project folder and every
 * npm script. A new folder or script without a line in the README fails here.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  engines?: { node?: string };
};

/** Machine-local or generated folders that are not part of the repository. */
const NOT_IN_GIT = new Set(['.git', 'node_modules', '.wrangler', 'dist', '.mf']);
const dirs = (path: string): string[] =>
  readdirSync(path).filter((e) => !NOT_IN_GIT.has(e) && statSync(join(path, e)).isDirectory());

describe('README is true to the tree', () => {
  it('names every top-level folder', () => {
    const missing = dirs(ROOT).filter((d) => !README.includes(`\`${d}/`));
    expect(missing).toEqual([]);
  });

  it('has a project-table row and a layout entry for every test folder', () => {
    const folders = dirs(join(ROOT, 'test'));
    expect(folders.length).toBeGreaterThan(5);
    expect(folders.filter((d) => !README.includes(`| \`${d}\` |`))).toEqual([]);
    expect(folders.filter((d) => !README.includes(`\`${d}/\``))).toEqual([]);
  });

  it('shows how to run every npm script', () => {
    const shown = (name: string) => README.includes(`npm run ${name}`) || README.includes(`npm ${name}`);
    expect(Object.keys(pkg.scripts).filter((name) => !shown(name))).toEqual([]);
  });

  it('names every script file in scripts/', () => {
    const files = readdirSync(join(ROOT, 'scripts')).filter((f) => f.endsWith('.ts'));
    expect(files.filter((f) => !README.includes(`\`${f}\``))).toEqual([]);
  });

  it('asks for the Node version package.json and .nvmrc pin', () => {
    expect(pkg.engines?.node).toBe('>=20.3.0');
    expect(readFileSync(join(ROOT, '.nvmrc'), 'utf8').trim()).toBe('20');
    expect(README).toContain('Node 20 (20.3 or later');
  });

  it('the wscat walkthrough uses npx --yes and limits the hub accepts', () => {
    expect(README).not.toMatch(/npx wscat/);
    const start = README.match(/npm start -- ((?:--var [A-Z_]+:\d+ ?)+)/);
    expect(start, 'walkthrough start command').not.toBeNull();
    const vars = Object.fromEntries([...start![1]!.matchAll(/--var ([A-Z_]+):(\d+)/g)].map((m) => [m[1], m[2]]));
    // The timeouts the walkthrough relies on must parse, or the hub would answer 500 to everything.
    const config = parseConfig(vars);
    expect(config.connectTimeoutMs).toBeGreaterThanOrEqual(10 * 60_000);
    expect(config.heartbeatTimeoutMs).toBeGreaterThanOrEqual(10 * 60_000);
  });
});
