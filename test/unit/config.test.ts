import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG, parseConfig } from '../../src/config';

/** Every limit and interval is a validated [vars] entry with the contract's default (§10). */

/** The defaults written in the contract, by config field. */
const CONTRACT_DEFAULTS = {
  maxMessageSize: 1_048_576,
  connectTimeoutMs: 10_000,
  heartbeatIntervalMs: 20_000,
  heartbeatTimeoutMs: 60_000,
  defaultActorTtlSeconds: 300,
  maxActorTtlSeconds: 3_600,
  registryLimit: 50_000,
  cleanupIntervalMs: 300_000,
  rateLimitPerSecond: 10,
  rateLimitBurst: 20,
  broadcastSyncThreshold: 100,
  maxBroadcastRecipients: 10_000,
  pauseBufferLimit: 1_000,
  logLevel: 'info',
};

/** The [vars] names of the contract with their defaults. */
const CONTRACT_VARS: Record<string, number | string> = {
  MAX_MESSAGE_SIZE: 1_048_576,
  CONNECT_TIMEOUT_MS: 10_000,
  HB_INTERVAL_SECONDS: 20,
  HEARTBEAT_TIMEOUT_MS: 60_000,
  DEFAULT_ACTOR_TTL: 300,
  MAX_ACTOR_TTL: 3_600,
  ACTOR_REGISTRY_LIMIT: 50_000,
  CLEANUP_INTERVAL_MS: 300_000,
  RATE_LIMIT_PER_SECOND: 10,
  RATE_LIMIT_BURST: 20,
  BROADCAST_SYNC_THRESHOLD: 100,
  MAX_BROADCAST_RECIPIENTS: 10_000,
  PAUSE_BUFFER_LIMIT: 1_000,
  LOG_LEVEL: 'info',
};

const configError = (vars: Record<string, unknown>): ConfigError => {
  try {
    parseConfig(vars);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected ${JSON.stringify(vars)} to be refused`);
};

describe('config', () => {
  it('defaults equal the contract defaults', () => {
    expect(parseConfig({})).toMatchObject(CONTRACT_DEFAULTS);
    expect(DEFAULT_CONFIG).toEqual(parseConfig({}));
  });

  it('wrangler.toml lists every contract var with its default, and they parse to the same config', () => {
    const toml = readFileSync(new URL('../../wrangler.toml', import.meta.url), 'utf8');
    const section = toml.split(/^\[vars\]\s*$/m)[1]?.split(/^\[/m)[0] ?? '';
    const vars: Record<string, unknown> = {};
    for (const line of section.split('\n')) {
      const m = /^([A-Z_]+)\s*=\s*(.+?)\s*$/.exec(line);
      if (!m) continue;
      const raw = m[2]!;
      vars[m[1]!] = raw.startsWith('"') ? raw.slice(1, -1) : raw === 'true' || raw === 'false' ? raw === 'true' : Number(raw);
    }
    for (const [name, value] of Object.entries(CONTRACT_VARS)) expect(vars[name], name).toBe(value);
    expect(parseConfig(vars)).toEqual(DEFAULT_CONFIG);
  });

  it('accepts numbers as strings (from --var and .dev.vars) and treats an empty string as unset', () => {
    const c = parseConfig({ MAX_MESSAGE_SIZE: '2048', RATE_LIMIT_BURST: '5', CONNECT_TIMEOUT_MS: '' });
    expect(c.maxMessageSize).toBe(2048);
    expect(c.rateLimitBurst).toBe(5);
    expect(c.connectTimeoutMs).toBe(10_000);
  });

  it('the heartbeat timeout defaults to three intervals and may be set explicitly', () => {
    expect(parseConfig({ HB_INTERVAL_SECONDS: 5 })).toMatchObject({ heartbeatIntervalMs: 5_000, heartbeatTimeoutMs: 15_000 });
    expect(parseConfig({ HB_INTERVAL_SECONDS: 1, HEARTBEAT_TIMEOUT_MS: 2_500 })).toMatchObject({
      heartbeatIntervalMs: 1_000,
      heartbeatTimeoutMs: 2_500,
    });
  });

  it('reads LOG_LEVEL and AUTH_ENABLED', () => {
    expect(parseConfig({ LOG_LEVEL: 'debug' }).logLevel).toBe('debug');
    expect(parseConfig({ AUTH_ENABLED: 'true' }).authEnabled).toBe(true);
    expect(parseConfig({ AUTH_ENABLED: false }).authEnabled).toBe(false);
  });

  it.each([
    ['a non-number', { MAX_MESSAGE_SIZE: 'lots' }, 'MAX_MESSAGE_SIZE'],
    ['a fraction', { RATE_LIMIT_BURST: 2.5 }, 'RATE_LIMIT_BURST'],
    ['zero', { RATE_LIMIT_PER_SECOND: 0 }, 'RATE_LIMIT_PER_SECOND'],
    ['a negative value', { ACTOR_REGISTRY_LIMIT: -1 }, 'ACTOR_REGISTRY_LIMIT'],
    ['a message size below 1 KiB', { MAX_MESSAGE_SIZE: 100 }, 'MAX_MESSAGE_SIZE'],
    ['an unknown log level', { LOG_LEVEL: 'verbose' }, 'LOG_LEVEL'],
    ['a non-boolean flag', { AUTH_ENABLED: 'maybe' }, 'AUTH_ENABLED'],
    ['NaN', { CONNECT_TIMEOUT_MS: Number.NaN }, 'CONNECT_TIMEOUT_MS'],
  ])('refuses %s with a ConfigError naming the var', (_label, vars, name) => {
    const err = configError(vars);
    expect(err.issues.map((i) => i.path)).toContain(name);
    expect(err.message).toContain(name);
  });

  it('refuses a default TTL above the maximum', () => {
    const err = configError({ DEFAULT_ACTOR_TTL: 600, MAX_ACTOR_TTL: 300 });
    expect(err.message).toMatch(/DEFAULT_ACTOR_TTL/);
  });

  it('refuses a heartbeat timeout not longer than the interval', () => {
    configError({ HB_INTERVAL_SECONDS: 10, HEARTBEAT_TIMEOUT_MS: 10_000 });
    configError({ HB_INTERVAL_SECONDS: 10, HEARTBEAT_TIMEOUT_MS: 5_000 });
  });

  it('reports every invalid var at once', () => {
    const err = configError({ MAX_MESSAGE_SIZE: 'x', LOG_LEVEL: 'loud' });
    expect(err.issues.map((i) => i.path).sort()).toEqual(['LOG_LEVEL', 'MAX_MESSAGE_SIZE']);
  });

  it('ignores bindings and secrets, and never puts them in an error', () => {
    const env = { JWT_SECRET: 'hunter2-very-secret', SIGNAL_HUB: {}, MAX_MESSAGE_SIZE: 'bad' };
    const err = configError(env);
    expect(err.message).not.toContain('hunter2');
    expect(JSON.stringify(err.issues)).not.toContain('hunter2');
    expect(parseConfig({ JWT_SECRET: 'hunter2-very-secret', SIGNAL_HUB: {} })).toEqual(DEFAULT_CONFIG);
  });
});

describe('fair-share vars (issue 12 §4)', () => {
  it('default to 1000 each and are read from wrangler.toml', () => {
    expect(parseConfig({})).toMatchObject({ maxRegistrationsPerSession: 1000, maxSubscriptionsPerSession: 1000, maxPendingAsksPerSession: 1000 });
    const toml = readFileSync(new URL('../../wrangler.toml', import.meta.url), 'utf8');
    for (const name of ['MAX_REGISTRATIONS_PER_SESSION', 'MAX_SUBSCRIPTIONS_PER_SESSION', 'MAX_PENDING_ASKS_PER_SESSION']) {
      expect(toml).toMatch(new RegExp(`^${name} = 1000$`, 'm'));
      expect(parseConfig({ [name]: '7' })).not.toEqual(parseConfig({}));
      expect(configError({ [name]: 0 }).issues.map((i) => i.path)).toEqual([name]);
      expect(configError({ [name]: 'many' }).issues.map((i) => i.path)).toEqual([name]);
    }
  });
});
