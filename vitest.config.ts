import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';

// Two cores: keep workers few. Each workerd project runs its files one at a time.
export default defineConfig({
  test: {
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        plugins: [
          cloudflareTest({ wrangler: { configPath: './wrangler.toml' }, miniflare: { bindings: { LOG_LEVEL: 'warn' } } }),
        ],
        test: {
          name: 'workerd',
          include: ['test/workerd/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        // Short timeouts so connect and heartbeat expiry can be observed in real workerd.
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                CONNECT_TIMEOUT_MS: 1500,
                HB_INTERVAL_SECONDS: 1,
                HEARTBEAT_TIMEOUT_MS: 2500,
                DEFAULT_ACTOR_TTL: 2,
                CLEANUP_INTERVAL_MS: 1000,
                LOG_LEVEL: 'warn',
              },
            },
          }),
        ],
        test: {
          name: 'workerd-timeouts',
          include: ['test/workerd-timeouts/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 90_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
