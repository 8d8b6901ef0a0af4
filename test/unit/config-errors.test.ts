import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, parseEnv } from '../../src/config';

/** Config errors a person can act on: the variable, the value given and what is allowed, all at once. */

const issuesOf = (parse: () => unknown) => {
  try {
    parse();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
};

describe('config errors', () => {
  it('name the variable, quote the value and say what is allowed', () => {
    const [issue] = issuesOf(() => parseConfig({ CONNECT_TIMEOUT_MS: 'soon' }));
    expect(issue).toEqual({
      path: 'CONNECT_TIMEOUT_MS',
      value: 'soon',
      allowed: 'a whole number of at least 100 (default 10000)',
      message: 'CONNECT_TIMEOUT_MS is "soon"; allowed: a whole number of at least 100 (default 10000)',
    });
    expect(issuesOf(() => parseConfig({ LOG_LEVEL: 'loud' }))[0]!.message).toBe(
      'LOG_LEVEL is "loud"; allowed: one of debug, info, warn, error (default info)',
    );
    expect(issuesOf(() => parseConfig({ AUTH_ENABLED: 'maybe' }))[0]!.allowed).toBe('true or false (default false)');
    expect(issuesOf(() => parseConfig({ RATE_LIMIT_BURST: Number.NaN }))[0]!.message).toMatch(/^RATE_LIMIT_BURST is NaN; allowed: /);
  });

  it('report cross-field problems together with field errors, not after they are fixed', () => {
    const issues = issuesOf(() =>
      parseConfig({ MAX_MESSAGE_SIZE: 'big', DEFAULT_ACTOR_TTL: 600, MAX_ACTOR_TTL: 300, QUEUE_PAUSE_THRESHOLD: 10, QUEUE_RESUME_THRESHOLD: 10 }),
    );
    expect(issues.map((i) => i.message)).toEqual([
      'MAX_MESSAGE_SIZE is "big"; allowed: a whole number of at least 1024 (default 1048576)',
      'DEFAULT_ACTOR_TTL is 600; allowed: at most MAX_ACTOR_TTL (300)',
      'QUEUE_RESUME_THRESHOLD is 10; allowed: below QUEUE_PAUSE_THRESHOLD (10)',
    ]);
  });

  it('skip a cross-field check whose other variable is itself invalid, rather than guess', () => {
    const issues = issuesOf(() => parseConfig({ DEFAULT_ACTOR_TTL: 600, MAX_ACTOR_TTL: 'long' }));
    expect(issues.map((i) => i.path)).toEqual(['MAX_ACTOR_TTL']);
  });

  it('a cross-field check against a default names the default', () => {
    const [issue] = issuesOf(() => parseConfig({ HB_INTERVAL_SECONDS: 30, HEARTBEAT_TIMEOUT_MS: 20_000 }));
    expect(issue!.message).toBe(
      'HEARTBEAT_TIMEOUT_MS is 20000; allowed: longer than the heartbeat interval, HB_INTERVAL_SECONDS × 1000 (30000 ms)',
    );
  });

  it('secrets are checked with the vars, and described, never quoted', () => {
    const issues = issuesOf(() => parseEnv({ AUTH_ENABLED: 'true', OPERATOR_TOKEN: 'hunter2', LOG_LEVEL: 'x' }));
    expect(issues.map((i) => i.path)).toEqual(['LOG_LEVEL', 'JWT_SECRET', 'OPERATOR_TOKEN']);
    expect(issues[1]!.message).toBe('JWT_SECRET is not set; allowed: a non-empty secret when AUTH_ENABLED is true (wrangler secret put JWT_SECRET)');
    expect(issues[2]!.message).toBe(
      'OPERATOR_TOKEN is set (7 characters); allowed: unset (operator endpoints off) or a secret of at least 16 characters',
    );
    expect(JSON.stringify(issues)).not.toContain('hunter2');
    expect(parseEnv({ OPERATOR_TOKEN: 'a-long-enough-operator-token', AUTH_ENABLED: true, JWT_SECRET: 's' }).authEnabled).toBe(true);
  });
});
