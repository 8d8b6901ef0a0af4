import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';
import { unstable_readConfig } from 'wrangler';

/**
 * The vars a workerd project runs with: every [vars] default of wrangler.toml,
 * no secret, then the project's own overrides. The pool also reads the
 * developer's `.dev.vars` and `.env` next to wrangler.toml, and its bindings
 * win only key by key, so pinning every key the worker reads is what keeps a
 * local `AUTH_ENABLED=true` (or any other local value) out of the tests.
 * test/e2e/local-config.e2e.test.ts checks this.
 */
const REPO_VARS = unstable_readConfig({ config: './wrangler.toml' }).vars;
const pinned = (overrides: Record<string, string | number | boolean>) => ({
  ...REPO_VARS,
  JWT_SECRET: '',
  LOG_LEVEL: 'warn',
  ...overrides,
});

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
        // Model-based protocol fuzzing on the simulated clock; FC_SEED and FC_RUNS widen it.
        test: {
          name: 'fuzz',
          include: ['test/fuzz/**/*.test.ts'],
          environment: 'node',
          testTimeout: 110_000,
        },
      },
      {
        plugins: [
          cloudflareTest({ wrangler: { configPath: './wrangler.toml' }, miniflare: { bindings: pinned({}) } }),
        ],
        test: {
          name: 'workerd',
          include: ['test/workerd/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        // Short timeouts so connect and heartbeat expiry can be observed in real workerd,
        // a tiny registry so its capacity can be reached, and a low rate limit so that
        // abuse (10x the limit for 10 s) is a rate a busy two-core machine can sustain.
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: pinned({
                CONNECT_TIMEOUT_MS: 1500,
                HB_INTERVAL_SECONDS: 1,
                HEARTBEAT_TIMEOUT_MS: 2500,
                DEFAULT_ACTOR_TTL: 2,
                CLEANUP_INTERVAL_MS: 1000,
                ACTOR_REGISTRY_LIMIT: 5,
                RATE_LIMIT_PER_SECOND: 2,
                // Session resume: a short grace so a timed-out session's release is observable too.
                RESUME_GRACE_MS: 1000,
              }),
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
        // JWT auth on, with a secret the tests sign their own tokens with. Token
        // expiry is driven by the token's exp, so no timing var needs shortening.
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: pinned({
                AUTH_ENABLED: true,
                JWT_SECRET: 'test-secret-for-workerd-auth',
              }),
            },
          }),
        ],
        test: {
          name: 'workerd-auth',
          include: ['test/workerd-auth/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        // Small delivery limits so the broadcast cap, batching and pause-buffer
        // overflow are reachable with a handful of actors, and a rate limit high
        // enough that long ordered streams are not throttled.
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: pinned({
                MAX_BROADCAST_RECIPIENTS: 10,
                BROADCAST_SYNC_THRESHOLD: 4,
                PAUSE_BUFFER_LIMIT: 3,
                QUEUE_PAUSE_THRESHOLD: 12,
                QUEUE_RESUME_THRESHOLD: 4,
                RATE_LIMIT_PER_SECOND: 100000,
                RATE_LIMIT_BURST: 100000,
                // Fair shares small enough to reach (test/workerd-limits/fair-shares.test.ts).
                MAX_REGISTRATIONS_PER_SESSION: 12,
                MAX_SUBSCRIPTIONS_PER_SESSION: 3,
                MAX_PENDING_ASKS_PER_SESSION: 4,
              }),
            },
          }),
        ],
        test: {
          name: 'workerd-limits',
          include: ['test/workerd-limits/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        // The /inspect endpoint on; its token guard is exercised by calling the
        // worker's handler with auth switched on in the env it is given.
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: { bindings: pinned({ INSPECT_ENABLED: true }) },
          }),
        ],
        test: {
          name: 'workerd-inspect',
          include: ['test/workerd-inspect/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        // The differential check (core in the fake object vs the real object) with session
        // resume off: the fuzz model releases a dropped session at once, as the hub does
        // without resume. Resume has its own property (test/fuzz/resume.test.ts) and
        // real-object tests (test/workerd/resume.test.ts).
        plugins: [
          cloudflareTest({ wrangler: { configPath: './wrangler.toml' }, miniflare: { bindings: pinned({ RESUME_GRACE_MS: 0 }) } }),
        ],
        test: {
          name: 'workerd-differential',
          include: ['test/workerd-differential/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        // SignalHub mounted in a Worker of its own (test/workerd-mount/worker.ts): a subclass
        // with hooks, bound as SIGNAL_HUB, beside that Worker's own routes.
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './test/workerd-mount/wrangler.toml' },
            miniflare: { bindings: pinned({}) },
          }),
        ],
        test: {
          name: 'workerd-mount',
          include: ['test/workerd-mount/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'e2e',
          // test/compat/ plays the deployed 0.1.0 client libraries' flows. It runs in this
          // project because files here run one at a time: wrangler dev servers started
          // side by side from two projects could race for the same free port.
          include: ['test/e2e/**/*.test.ts', 'test/compat/**/*.test.ts'],
          // Stops the wrangler dev servers a file left running (a beforeAll that timed out while starting them).
          setupFiles: ['test/e2e/support/stop-dev-servers.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 90_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
