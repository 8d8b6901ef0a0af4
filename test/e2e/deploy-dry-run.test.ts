import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Keeps the deploy path of docs/OPERATIONS.md honest: `wrangler deploy
 * --dry-run` bundles the Worker and checks wrangler.toml (bindings,
 * migrations, [observability]) the way a real deploy would, without an
 * account or a network.
 */

const ROOT = resolve(import.meta.dirname, '../..');

describe('wrangler deploy --dry-run', () => {
  it('bundles the Worker with both Durable Object bindings, offline', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'signal-hub-dry-run-'));
    try {
      const run = spawnSync(join(ROOT, 'node_modules/.bin/wrangler'), ['deploy', '--dry-run', '--outdir', outdir], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', CLOUDFLARE_API_TOKEN: '', CLOUDFLARE_ACCOUNT_ID: '' },
      });
      const output = `${run.stdout}\n${run.stderr}`;
      expect(run.status, output).toBe(0);
      expect(output).toContain('--dry-run: exiting now.');
      expect(output).toMatch(/env\.SIGNAL_HUB \(SignalHub\)\s+Durable Object/);
      expect(output).toMatch(/env\.HUB_DIRECTORY \(HubDirectory\)\s+Durable Object/);
      expect(existsSync(join(outdir, 'index.js'))).toBe(true);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
